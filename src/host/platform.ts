/**
 * Where the host runs: a browser (or any runtime with `navigator.gpu`), or
 * Node with Dawn's bindings. Part of the host core, so it imports nothing from
 * `node:` and never imports the Node side statically: the Node host
 * (src/host/node-gpu.ts: Dawn, the environment variables) is loaded on demand
 * through a computed specifier that bundlers do not follow, so a browser bundle
 * of the core never contains it.
 */
import { GpuError } from '../errors.ts';

/** Environment variables as the Node side reads them (`process.env`); a browser has none. */
export type Environment = Readonly<Record<string, string | undefined>>;

/** The Node-side host module (src/host/node-gpu.ts). */
export type NodeHost = typeof import('./node-gpu.ts');

/** `navigator.gpu` where the runtime has one (browsers, Deno); null elsewhere, Node included. */
export function browserGpu(): GPU | null {
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  return nav?.gpu ?? null;
}

/** True under Node, where the Dawn bindings and `process.env` exist. */
export function isNodeRuntime(): boolean {
  const proc = (globalThis as { process?: { versions?: { node?: unknown } } }).process;
  return typeof proc?.versions?.node === 'string';
}

let nodeHost: Promise<NodeHost> | null = null;

/**
 * Gives the Node host module directly (a Node program that imports
 * node-gpu.ts statically, e.g. a single-file bundle, where the computed import
 * below would find no file beside it).
 */
export function provideNodeHost(host: NodeHost): void {
  nodeHost = Promise.resolve(host);
}

/** Loads src/host/node-gpu.ts (Node only; a GpuError elsewhere). */
export function loadNodeHost(): Promise<NodeHost> {
  if (!isNodeRuntime()) return Promise.reject(new GpuError('the Dawn host needs Node: in a browser, wrap a navigator.gpu device with GpuContext.wrap'));
  nodeHost ??= (async () => {
    // Built at run time so that bundlers (esbuild, Vite) leave it alone; the
    // extension follows this module's own, .ts from source and .js when compiled.
    const ext = import.meta.url.endsWith('.ts') ? 'ts' : 'js';
    const specifier = ['.', `node-gpu.${ext}`].join('/');
    return (await import(/* @vite-ignore */ specifier)) as NodeHost;
  })();
  return nodeHost;
}

/** The environment the host reads its settings from: `process.env` under Node, none in a browser. */
export async function hostEnvironment(): Promise<Environment> {
  return isNodeRuntime() ? (await loadNodeHost()).nodeEnvironment() : {};
}
