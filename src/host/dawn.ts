/**
 * Loads Dawn's Node bindings (npm `webgpu`) on first use. Node side of the
 * host: only src/host/node-gpu.ts imports it, never the core or a browser
 * bundle.
 *
 * The GPU object stays in this module: it is never put in
 * `globalThis.navigator`, because h5wasm misbehaves when a navigator exists.
 * Only the WebGPU constant/class globals (GPUBufferUsage, GPUMapMode, …) are
 * installed on globalThis, as the bindings expect.
 */
import { log } from '../util/log.ts';
import { vulkanDriverManifests } from './node-vulkan.ts';

let gpuPromise: Promise<GPU | null> | null = null;

/**
 * Dawn's GPU object, or null when the bindings cannot load on this platform.
 * `flags` (Dawn toggles) apply to the first call only: the object is made once
 * per process.
 */
export function loadDawn(flags: readonly string[] = []): Promise<GPU | null> {
  gpuPromise ??= (async () => {
    if (vulkanDriverManifests(process.env).length === 0) {
      log('debug', 'no Vulkan driver manifest (ICD) found: Dawn not loaded');
      return null;
    }
    try {
      const mod = (await import('webgpu')) as { create(flags: string[]): GPU; globals: Record<string, unknown> };
      for (const [k, v] of Object.entries(mod.globals)) {
        if (!(k in globalThis)) Object.defineProperty(globalThis, k, { value: v, configurable: true, writable: true });
      }
      return mod.create([...flags]);
    } catch (err) {
      log('debug', `Dawn bindings did not load: ${err instanceof Error ? err.message : String(err)}`);
      return null;
    }
  })();
  return gpuPromise;
}
