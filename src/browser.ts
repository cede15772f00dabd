/**
 * The `./browser` entry: the GPU host and the kernels (each with its CPU twin),
 * with no `node:` imports and no Dawn, so that a bundler can ship it to a page.
 *
 *   const adapter = await navigator.gpu.requestAdapter();
 *   const device = await adapter.requestDevice({ requiredLimits: … });
 *   const ctx = GpuContext.wrap(device, { adapter });   // the page keeps the device
 *   const engine = Engine.onContext(ctx);                 // GPU, CPU twin on device loss
 *   const { hkl } = await engine.run(hklMapKernel, { vectors, matrices });
 *
 * `GpuContext.create()` opens a `navigator.gpu` device itself. The geometry
 * that feeds the kernels is here too: scattering vectors and hkl matrices from
 * a DIALS-convention experiment model (hkl-map), bin maps from a PONI geometry
 * (azimuthal-integrate). WGSL sources
 * come from src/kernels/shaders.generated.ts (strings), never from files.
 * test/browser/import-graph.test.ts keeps this entry free of `node:`, `webgpu`
 * and `h5wasm`; test/browser/chromium.test.ts runs it in Chromium.
 */
export {
  DeviceLostError,
  DiffractError,
  FormatError,
  GpuError,
  InvalidValueError,
  MissingFieldError,
  UsageError,
  type ErrorLocation,
} from './errors.ts';
export { getLogMode, log, setDebug, setLogMode, setLogSink, type LogLevel, type LogMode, type LogSink } from './util/log.ts';

export { parseBackendChoice, resolveBackendChoice, type BackendChoice } from './host/backend.ts';
export { sizeClass, type PoolStats } from './host/buffer-pool.ts';
export {
  adapterName,
  DEFAULT_MEMORY_BUDGET_BYTES,
  describeAdapter,
  describeAdapterInfo,
  GpuContext,
  MIB,
  type AdapterDescription,
  type GpuContextOptions,
  type GpuCreateOptions,
  type GpuLimitsSummary,
  type GpuWrapOptions,
} from './host/context.ts';
export { Engine, type EngineOptions } from './host/engine.ts';
export { browserGpu, type Environment } from './host/platform.ts';
export { loadShader, type ShaderDefines } from './host/shader-source.ts';

export type * from './geometry/model.ts';
export * from './geometry/pixel-vectors.ts';
export * from './geometry/setting.ts';
export type { PoniGeometry } from './io/poni.ts';
export * from './photon/geometry.ts';

export * from './kernels/index.ts';
