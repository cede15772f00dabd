/**
 * The `./browser` entry and the code it stands on (src/kernels/**, the host
 * core in src/host) must bundle for a browser: no `node:` module, no Node
 * builtin, no Dawn (`webgpu`), no `h5wasm`, and no Node-side host module.
 * esbuild walks the import graph (static imports and literal dynamic imports;
 * type-only imports vanish) from src/browser.ts and from every kernel and
 * host-core file; a plugin records every specifier, resolvable or not.
 */
import { readdirSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join, relative } from 'node:path';
import { build, type Metafile, type Plugin } from 'esbuild';
import { beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../helpers/paths.ts';

/**
 * Modules that belong to the Node side: host modules for Dawn, the environment,
 * shader files on disk, worker threads, memory and adapters (src/host/dawn.ts,
 * src/host/node-*.ts), and the CPU twins' worker-thread runners (src/kernels/cpu/).
 */
const NODE_SIDE = /^src\/(host\/(dawn|node-[\w-]+)\.ts|kernels\/cpu\/[\w-]+\.ts)$/;
const FORBIDDEN_PACKAGES = new Set(['webgpu', 'h5wasm', 'h5wasm-plugins']);
const BUILTINS = new Set(builtinModules);

function tsFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(join(REPO_ROOT, dir), { withFileTypes: true })) {
    const rel = `${dir}/${e.name}`;
    if (e.isDirectory()) out.push(...tsFiles(rel));
    else if (e.name.endsWith('.ts')) out.push(rel);
  }
  return out.sort();
}

/** Why `specifier` may not reach a browser bundle, or null. */
function forbidden(specifier: string): string | null {
  if (specifier.startsWith('node:')) return 'a node: module';
  const pkg = specifier.startsWith('@') ? specifier.split('/').slice(0, 2).join('/') : (specifier.split('/')[0] as string);
  if (BUILTINS.has(pkg)) return 'a Node builtin';
  if (FORBIDDEN_PACKAGES.has(pkg)) return `the Node-only package ${pkg}`;
  return null;
}

interface Edge {
  importer: string;
  specifier: string;
  kind: string;
}

describe('browser import graph', () => {
  const entries = ['src/browser.ts', ...tsFiles('src/kernels').filter((f) => !NODE_SIDE.test(f)), ...tsFiles('src/host').filter((f) => !NODE_SIDE.test(f))];
  const edges: Edge[] = [];
  let metafile: Metafile;
  let bundle = '';

  beforeAll(async () => {
    const recorder: Plugin = {
      name: 'record-imports',
      setup(b) {
        b.onResolve({ filter: /.*/ }, (args) => {
          if (args.kind !== 'entry-point') edges.push({ importer: relative(REPO_ROOT, args.importer), specifier: args.path, kind: args.kind });
          // keep forbidden ones out of the build so that the walk goes on and reports them all
          return forbidden(args.path) !== null ? { path: args.path, external: true } : undefined;
        });
      },
    };
    const result = await build({
      entryPoints: entries.map((e) => join(REPO_ROOT, e)),
      absWorkingDir: REPO_ROOT,
      bundle: true,
      format: 'esm',
      platform: 'browser',
      outdir: join(REPO_ROOT, 'out-not-written'),
      write: false,
      metafile: true,
      logLevel: 'silent',
      plugins: [recorder],
    });
    metafile = result.metafile;
    bundle = result.outputFiles.find((f) => f.path.endsWith(`${join('out-not-written', 'browser.js')}`))?.text ?? '';
  });

  it('walks the kernels and the host core from src/browser.ts', () => {
    const inputs = Object.keys(metafile.inputs);
    for (const f of ['src/browser.ts', 'src/host/context.ts', 'src/host/engine.ts', 'src/host/shader-source.ts', 'src/kernels/shaders.generated.ts', 'src/kernels/hkl-map.ts', 'src/kernels/azimuthal-integrate.ts', 'src/geometry/setting.ts', 'src/photon/geometry.ts']) {
      expect(inputs).toContain(f);
    }
    expect(entries.length).toBeGreaterThan(12);
    expect(edges.length).toBeGreaterThan(30);
    expect(bundle.length).toBeGreaterThan(50_000);
  });

  it('reaches no node: module, Node builtin, webgpu or h5wasm', () => {
    const bad = edges.filter((e) => forbidden(e.specifier) !== null).map((e) => `${e.importer} imports '${e.specifier}' (${forbidden(e.specifier)}, ${e.kind})`);
    expect(bad).toEqual([]);
  });

  it('holds no Node-side host module and reads no process.env', () => {
    const nodeSide = Object.keys(metafile.inputs).filter((f) => NODE_SIDE.test(f));
    expect(nodeSide).toEqual([]);
    const lines = bundle.split('\n');
    expect(lines.filter((l) => /process\.env/.test(l)).map((l) => l.trim())).toEqual([]);
    expect(lines.filter((l) => /\brequire\(/.test(l)).map((l) => l.trim())).toEqual([]);
  });

  it('the check itself flags what a browser cannot load', () => {
    expect(forbidden('node:fs')).toBe('a node: module');
    expect(forbidden('fs/promises')).toBe('a Node builtin');
    expect(forbidden('webgpu')).toMatch(/webgpu/);
    expect(forbidden('h5wasm/node')).toMatch(/h5wasm/);
    expect(forbidden('wgsl-preprocessor/wgsl-preprocessor.js')).toBeNull();
    expect(forbidden('../errors.ts')).toBeNull();
  });
});
