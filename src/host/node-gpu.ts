/**
 * The Node side of the host: opens a Dawn device (npm `webgpu`, see dawn.ts)
 * and reads the host's environment variables, which the core never reads:
 *
 * - DIFFRACT_GPU_DEBUG=1       error scopes around each dispatch (debug)
 * - DIFFRACT_GPU_MEMORY_MB=N   the device memory budget (default 4096 MiB)
 * - DIFFRACT_DAWN_FLAGS='a b'  toggles handed to Dawn's `create`
 * - DIFFRACT_BACKEND           read by Engine.create through `nodeEnvironment`
 *
 * `GpuContext.create` and `Engine.create` load this module on demand under
 * Node; a browser bundle never contains it.
 */
import { GpuError, UsageError } from '../errors.ts';
import { log } from '../util/log.ts';
import { GpuContext, MIB, refuseSoftwareAdapter, type GpuContextOptions } from './context.ts';
import { loadDawn } from './dawn.ts';
import { softwareVulkanOnly } from './node-vulkan.ts';
import type { Environment } from './platform.ts';

export const GPU_DEBUG_ENV = 'DIFFRACT_GPU_DEBUG';
export const GPU_MEMORY_ENV = 'DIFFRACT_GPU_MEMORY_MB';
export const DAWN_FLAGS_ENV = 'DIFFRACT_DAWN_FLAGS';

export interface NodeContextOptions extends GpuContextOptions {
  /** where unset options come from (default `process.env`) */
  env?: Environment;
  /** refuse a software adapter (see GpuCreateOptions.skipSoftware) */
  skipSoftware?: boolean;
}

/** This process's environment. */
export function nodeEnvironment(): Environment {
  return process.env;
}

/** `opts` with `debug` and `memoryBudgetBytes` filled from the environment where unset. */
export function contextOptionsFromEnv(opts: GpuContextOptions, env: Environment): GpuContextOptions {
  const out: GpuContextOptions = { ...opts };
  if (out.debug === undefined && env[GPU_DEBUG_ENV] !== undefined) out.debug = env[GPU_DEBUG_ENV] === '1';
  const mb = env[GPU_MEMORY_ENV];
  if (out.memoryBudgetBytes === undefined && mb !== undefined && mb.trim() !== '') {
    const v = Number(mb);
    if (!Number.isFinite(v) || v <= 0) throw new UsageError(`expected a positive number of MiB, got '${mb}'`, { field: GPU_MEMORY_ENV });
    out.memoryBudgetBytes = v * MIB;
  }
  return out;
}

/** The Dawn toggles in DIFFRACT_DAWN_FLAGS (blank-separated). */
export function dawnFlags(env: Environment): string[] {
  return (env[DAWN_FLAGS_ENV] ?? '').split(/\s+/).filter((s) => s.length > 0);
}

/** One Dawn adapter request; null when there is none (no driver, no Vulkan ICD, bindings absent). */
export async function requestNodeAdapter(env: Environment = process.env): Promise<GPUAdapter | null> {
  const gpu = await loadDawn(dawnFlags(env));
  if (gpu === null) return null;
  try {
    return await gpu.requestAdapter({ powerPreference: 'high-performance' });
  } catch (err) {
    log('debug', `requestAdapter failed: ${err instanceof Error ? err.message : String(err)}`);
    return null;
  }
}

/** A context on a new Dawn device; options unset in `opts` come from `opts.env` (default `process.env`). */
export async function createNodeContext(opts: NodeContextOptions = {}): Promise<GpuContext> {
  const env = opts.env ?? process.env;
  const { env: _env, skipSoftware, ...rest } = opts;
  const ctxOpts = contextOptionsFromEnv(rest, env);
  if (skipSoftware === true) {
    // only CPU Vulkan drivers installed: say so without loading Dawn (which prints native warnings for lavapipe)
    const soft = softwareVulkanOnly(env);
    if (soft !== null) throw new GpuError(`${soft}, slower than the CPU path; --backend gpu uses them`);
  }
  const adapter = await requestNodeAdapter(env);
  if (adapter === null) throw new GpuError('no WebGPU adapter found (no GPU driver or Vulkan ICD on this machine)');
  refuseSoftwareAdapter(adapter, skipSoftware);
  return GpuContext.fromAdapter(adapter, ctxOpts);
}
