/**
 * The GPU context: the one object that owns the device.
 *
 * Three ways in: `GpuContext.create()` opens a device where the runtime has one
 * (`navigator.gpu` in a browser; Dawn under Node, through node-gpu.ts, loaded on
 * demand), `GpuContext.fromAdapter(adapter)` opens one on a given adapter, and
 * `GpuContext.wrap(device)` adopts a device the caller made (a page's
 * `navigator.gpu` device). This module is host core: nothing from `node:`, no
 * static import of the Dawn path, no environment reads (node-gpu.ts turns
 * DIFFRACT_GPU_DEBUG and DIFFRACT_GPU_MEMORY_MB into options).
 *
 * - asks the adapter for its largest buffer and binding limits;
 * - labels every resource (buffers through the pool, shader modules and
 *   pipelines by kernel name);
 * - in debug mode wraps each dispatch in validation and out-of-memory error
 *   scopes and names the kernel in the error;
 * - watches `device.lost`: once lost, every call throws DeviceLostError and the
 *   engine continues on the CPU path;
 * - builds pipelines from kernel programs (src/host/program.ts: explicit
 *   layouts, uniforms packed and buffers bound by name) and runs them (`run`);
 * - holds resident arrays by owner (`resident`; kernels bind a pinned input
 *   through `input` instead of uploading it) and counts uploads per label
 *   (`uploadStats`, for tests and benches);
 * - owns the buffer pool and the pipeline cache; `destroy()` releases it all and
 *   is safe to call twice (a wrapped device stays alive unless the wrap said
 *   `destroyDevice: true`). dawn.node busy-polls a CPU core while a device
 *   lives, so destroy the context as soon as GPU work is done.
 */
import { DeviceLostError, GpuError, UsageError } from '../errors.ts';
import { log } from '../util/log.ts';
import { adapterIsFallback, softwareAdapterReason } from './adapter-kind.ts';
import { BufferPool, type PoolStats } from './buffer-pool.ts';
import type { DeviceArray } from './device-array.ts';
import { PipelineCache } from './pipeline-cache.ts';
import { browserGpu, loadNodeHost, type Environment } from './platform.ts';
import type { BindingBuffers, BindingDecl, BufferLike, Program, UniformType, UniformValues } from './program.ts';
import { ResidentStore } from './resident.ts';
import type { ShaderDefines } from './shader-source.ts';

export interface AdapterDescription {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** the adapter says it is a fallback adapter (`GPUAdapterInfo.isFallbackAdapter`) */
  fallback?: boolean;
}

export interface GpuLimitsSummary {
  maxBufferSize: number;
  maxStorageBufferBindingSize: number;
  maxComputeWorkgroupsPerDimension: number;
  maxComputeInvocationsPerWorkgroup: number;
  maxComputeWorkgroupSizeX: number;
  maxComputeWorkgroupStorageSize: number;
  maxStorageBuffersPerShaderStage: number;
  maxUniformBufferBindingSize: number;
}

export interface GpuContextOptions {
  /** wrap each dispatch in error scopes that name the kernel (default false; under Node env DIFFRACT_GPU_DEBUG=1) */
  debug?: boolean;
  /** bytes the context may allocate on the device (default 4096 MiB; under Node env DIFFRACT_GPU_MEMORY_MB) */
  memoryBudgetBytes?: number;
}

export interface GpuCreateOptions extends GpuContextOptions {
  /** under Node: where unset options and DIFFRACT_DAWN_FLAGS come from (default `process.env`); unused in a browser */
  env?: Environment;
  /**
   * refuse a software adapter (llvmpipe, SwiftShader, a fallback adapter: see
   * adapter-kind.ts) with a GpuError before any device is made; `--backend
   * auto` asks this, since the CPU path is faster (default false)
   */
  skipSoftware?: boolean;
}

export interface GpuWrapOptions extends GpuContextOptions {
  /** the adapter the device came from, for the context's name (default: the device's `adapterInfo`) */
  adapter?: GPUAdapter | AdapterDescription;
  /** `destroy()` destroys the device too (default false: the caller owns it) */
  destroyDevice?: boolean;
}

export const MIB = 1024 * 1024;
export const DEFAULT_MEMORY_BUDGET_BYTES = 4096 * MIB;

/** Host → device copies under one label. */
export interface UploadCount {
  bytes: number;
  calls: number;
}

/** One dispatch of a program: defines, uniforms by field name, buffers by binding name. */
export interface ProgramCall<B extends Record<string, BindingDecl>, U extends Record<string, UniformType>> {
  defines?: ShaderDefines;
  uniforms: UniformValues<U>;
  bindings: BindingBuffers<B>;
  workgroups: readonly [number, number, number];
  /** dispatch label (default: the program name) */
  label?: string;
}
const LIMIT_NAMES: readonly (keyof GpuLimitsSummary)[] = [
  'maxBufferSize',
  'maxStorageBufferBindingSize',
  'maxComputeWorkgroupsPerDimension',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupStorageSize',
  'maxStorageBuffersPerShaderStage',
  'maxUniformBufferBindingSize',
];

export function describeAdapter(adapter: GPUAdapter): AdapterDescription {
  const d = describeAdapterInfo(adapter.info);
  return adapterIsFallback(adapter) ? { ...d, fallback: true } : d;
}

/**
 * A GpuError when `skipSoftware` is asked and `adapter` is a software adapter
 * (the caller then runs on the CPU path); nothing otherwise.
 */
export function refuseSoftwareAdapter(adapter: GPUAdapter, skipSoftware: boolean | undefined): void {
  if (skipSoftware !== true) return;
  const a = describeAdapter(adapter);
  const why = softwareAdapterReason(a);
  if (why !== null) throw new GpuError(`the WebGPU adapter ${adapterName(a)} is a software renderer (${why}), slower than the CPU path; --backend gpu uses it`);
}

/** An adapter description from a `GPUAdapterInfo` (`adapter.info`, `device.adapterInfo`); blank when absent. */
export function describeAdapterInfo(info: GPUAdapterInfo | undefined): AdapterDescription {
  if (info === undefined) return { vendor: 'unknown vendor', architecture: '', device: '', description: '' };
  const d: AdapterDescription = {
    vendor: info.vendor || 'unknown vendor',
    architecture: info.architecture || '',
    device: info.device || '',
    description: info.description || '',
  };
  return (info as Partial<GPUAdapterInfo>).isFallbackAdapter === true ? { ...d, fallback: true } : d;
}

export function adapterName(a: AdapterDescription): string {
  return a.description || [a.vendor, a.architecture, a.device].filter((s) => s).join(' ');
}

/** The memory budget of `opts` (default 4096 MiB); a UsageError unless positive and finite. */
function memoryBudget(opts: GpuContextOptions): number {
  const budget = opts.memoryBudgetBytes ?? DEFAULT_MEMORY_BUDGET_BYTES;
  if (!Number.isFinite(budget) || budget <= 0) throw new UsageError(`expected a positive number of bytes, got ${budget}`, { field: 'memoryBudgetBytes' });
  return budget;
}

export class GpuContext {
  readonly device: GPUDevice;
  readonly adapter: AdapterDescription;
  readonly limits: GpuLimitsSummary;
  readonly debug: boolean;
  readonly memoryBudgetBytes: number;
  private readonly pool: BufferPool;
  private readonly pipelines = new PipelineCache();
  private lostMessage: string | undefined;
  private destroyed = false;
  private readonly lostListeners: Array<(message: string) => void> = [];
  /** false for a wrapped device that its caller keeps */
  private readonly ownsDevice: boolean;
  private readonly uploadCounts = new Map<string, UploadCount>();
  /** buffers owned by device arrays: `release` leaves them alone */
  private readonly residentBuffers = new Set<GPUBuffer>();
  private readonly residents = new ResidentStore(this);
  /** the open command batch (`batch`): one encoder for its clears, dispatches and readback copies */
  private recording: { label: string; encoder: GPUCommandEncoder | null; deferred: GPUBuffer[] } | null = null;
  private submits = 0;

  private constructor(device: GPUDevice, adapter: AdapterDescription, limits: GpuLimitsSummary, opts: GpuContextOptions, ownsDevice: boolean) {
    this.device = device;
    this.adapter = adapter;
    this.limits = limits;
    this.ownsDevice = ownsDevice;
    this.debug = opts.debug ?? false;
    const budget = memoryBudget(opts);
    this.memoryBudgetBytes = budget;
    this.pool = new BufferPool(device, budget, limits.maxBufferSize);
    void device.lost.then((info) => {
      if (this.destroyed) return;
      this.markLost(`${info.reason}: ${info.message}`);
    });
    const onError = (ev: GPUUncapturedErrorEvent): void => {
      log('warn', `GPU error outside an error scope: ${ev.error.message}`);
    };
    // a wrapped device may have its owner's handler: listen beside it
    if (ownsDevice || typeof device.addEventListener !== 'function') device.onuncapturederror = onError;
    else device.addEventListener('uncapturederror', onError);
  }

  /**
   * Opens a device where the runtime has one: `navigator.gpu` in a browser,
   * Dawn under Node (options unset here come from the environment there, see
   * node-gpu.ts). A GpuError when there is no adapter.
   */
  static async create(opts: GpuCreateOptions = {}): Promise<GpuContext> {
    const gpu = browserGpu();
    if (gpu === null) return (await loadNodeHost()).createNodeContext(opts);
    let adapter: GPUAdapter | null;
    try {
      adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
    } catch (err) {
      throw new GpuError(`requestAdapter failed: ${err instanceof Error ? err.message : String(err)}`, {}, { cause: err });
    }
    if (adapter === null) throw new GpuError('navigator.gpu has no adapter');
    refuseSoftwareAdapter(adapter, opts.skipSoftware);
    const { env: _env, skipSoftware: _skip, ...ctxOpts } = opts;
    return GpuContext.fromAdapter(adapter, ctxOpts);
  }

  /** Opens a device on `adapter` with the adapter's largest buffer and binding limits. */
  static async fromAdapter(adapter: GPUAdapter, opts: GpuContextOptions = {}): Promise<GpuContext> {
    memoryBudget(opts); // a bad option fails before a device exists
    const requiredLimits: Record<string, number> = {};
    const limits = {} as Record<keyof GpuLimitsSummary, number>;
    for (const name of LIMIT_NAMES) {
      const v = adapter.limits[name];
      limits[name] = v;
      requiredLimits[name] = v;
    }
    let device: GPUDevice;
    try {
      device = await adapter.requestDevice({ label: 'diffract', requiredLimits });
    } catch (err) {
      throw new GpuError(`the adapter refused a device: ${err instanceof Error ? err.message : String(err)}`, {}, { cause: err });
    }
    return new GpuContext(device, describeAdapter(adapter), limits, opts, true);
  }

  /**
   * Adopts a device the caller made (a page's `navigator.gpu` device, or any
   * GPUDevice): the limits are those the device was granted. `destroy()` then
   * releases the context's buffers and leaves the device to its owner, unless
   * `destroyDevice` is set.
   */
  static wrap(device: GPUDevice, opts: GpuWrapOptions = {}): GpuContext {
    const limits = {} as Record<keyof GpuLimitsSummary, number>;
    for (const name of LIMIT_NAMES) limits[name] = device.limits[name];
    const given = opts.adapter;
    const adapter =
      given === undefined ? describeAdapterInfo(device.adapterInfo) : 'info' in given ? describeAdapter(given) : given;
    const { adapter: _a, destroyDevice, ...ctxOpts } = opts;
    return new GpuContext(device, adapter, limits, ctxOpts, destroyDevice === true);
  }

  get name(): string {
    return adapterName(this.adapter);
  }
  get isLost(): boolean {
    return this.lostMessage !== undefined;
  }
  get isDestroyed(): boolean {
    return this.destroyed;
  }
  onLost(listener: (message: string) => void): void {
    this.lostListeners.push(listener);
  }

  /** Throws DeviceLostError when the device is gone. */
  ensureAlive(kernel?: string): void {
    if (this.lostMessage !== undefined) {
      throw new DeviceLostError(`GPU device lost (${this.lostMessage})${kernel ? ` before kernel ${kernel}` : ''}`);
    }
    if (this.destroyed) throw new DeviceLostError('GPU context already destroyed');
  }

  /** The compiled pipeline of `program` for these compile-time defines (cached; explicit layout). */
  pipeline<B extends Record<string, BindingDecl>, U extends Record<string, UniformType>>(program: Program<B, U>, defines: ShaderDefines = {}): GPUComputePipeline {
    this.ensureAlive(program.name);
    const all = program.resolveDefines(defines);
    return this.pipelines.get(program.name, all, () => program.build(this.device, all));
  }

  /** A pooled storage buffer of at least `bytes`, labelled. */
  buffer(label: string, bytes: number, usage: GPUBufferUsageFlags = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST): GPUBuffer {
    this.ensureAlive();
    return this.pool.acquire(label, bytes, usage);
  }

  /** A pooled storage buffer filled with `data`. */
  upload(label: string, data: ArrayBufferView, usage: GPUBufferUsageFlags = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC): GPUBuffer {
    const buf = this.buffer(label, data.byteLength, usage | GPUBufferUsage.COPY_DST);
    this.device.queue.writeBuffer(buf, 0, data.buffer, data.byteOffset, data.byteLength);
    const c = this.uploadCounts.get(label);
    if (c === undefined) this.uploadCounts.set(label, { bytes: data.byteLength, calls: 1 });
    else {
      c.bytes += data.byteLength;
      c.calls++;
    }
    return buf;
  }

  /**
   * A read-only kernel input: the resident copy when `data` is pinned
   * (`resident`), else a pooled upload. `release` it like any buffer (a
   * resident one stays).
   */
  input(label: string, data: ArrayBufferView): GPUBuffer {
    return this.residents.lookup(data)?.buffer ?? this.upload(label, data);
  }

  /** `data` uploaded once for `owner` under `name`, and pinned (see src/host/resident.ts). */
  resident(owner: object, name: string, data: Uint32Array | Int32Array | Float32Array, label = name): DeviceArray {
    this.ensureAlive();
    return this.residents.get(owner, name, data, label);
  }

  /** Releases the resident arrays of `owner`. */
  releaseResident(owner: object): void {
    this.residents.release(owner);
  }

  /** Bytes and calls of host → device copies by label, since creation or the last reset. */
  uploadStats(): ReadonlyMap<string, Readonly<UploadCount>> {
    return new Map([...this.uploadCounts].map(([k, v]) => [k, { ...v }]));
  }
  resetUploadStats(): void {
    this.uploadCounts.clear();
  }

  /** A buffer owned by a device array: `release` leaves it alone. */
  markResident(buffer: GPUBuffer): void {
    this.residentBuffers.add(buffer);
  }
  unmarkResident(buffer: GPUBuffer): void {
    this.residentBuffers.delete(buffer);
  }

  /** A pooled uniform buffer filled with `data` (byte length padded to 16). */
  uniform(label: string, data: ArrayBufferView): GPUBuffer {
    return this.upload(label, data, GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST);
  }

  /** Fills `bytes` bytes of `buffer` with zeros (recorded into the open batch, if any). */
  clear(buffer: GPUBuffer, bytes: number = buffer.size): void {
    this.ensureAlive();
    const rec = this.recording;
    const enc = rec !== null ? this.batchEncoder(rec) : this.device.createCommandEncoder({ label: `clear ${buffer.label}` });
    enc.clearBuffer(buffer, 0, Math.ceil(bytes / 4) * 4);
    if (rec === null) this.submit(enc);
  }

  /**
   * Returns pooled buffers (device arrays' buffers are left to their
   * `destroy`). Inside a batch they go back to the pool when it is submitted:
   * a buffer a recorded command still reads must not be handed out and
   * rewritten before that.
   */
  release(...buffers: GPUBuffer[]): void {
    for (const b of buffers) {
      if (this.residentBuffers.has(b)) continue;
      if (this.recording !== null) this.recording.deferred.push(b);
      else this.pool.release(b);
    }
  }

  /**
   * Runs `fn` with the GPU work it asks for recorded into ONE command encoder
   * and submitted once: every `clear`, dispatch (`run`) and readback copy
   * (`read`, `readMany`) in it, in call order. A read submits what was
   * recorded so far together with its copy (then waits for it); the rest is
   * submitted when `fn` ends. Uploads (`upload`, `uniform`) take fresh pooled
   * buffers and are written at once, which is safe because buffers released
   * inside the batch return to the pool only after its submit. A batch inside
   * a batch joins the outer one. In debug mode every dispatch keeps its own
   * submit, so that an error scope can name its kernel.
   */
  async batch<T>(label: string, fn: () => Promise<T>): Promise<T> {
    if (this.debug || this.recording !== null) return fn();
    const rec = { label, encoder: null, deferred: [] };
    this.recording = rec;
    try {
      return await fn();
    } finally {
      if (this.recording === rec) this.recording = null;
      this.flushBatch(rec);
    }
  }

  /** Command buffers submitted since creation (tests and benches: `batch` makes fewer). */
  get submitCount(): number {
    return this.submits;
  }

  /**
   * Runs `program` once: packs its uniforms by field name into a pooled
   * uniform buffer, binds the buffers by binding name (a missing or extra one
   * is a GpuError naming it) and dispatches `workgroups`.
   */
  async run<B extends Record<string, BindingDecl>, U extends Record<string, UniformType>>(program: Program<B, U>, call: ProgramCall<B, U>): Promise<void> {
    const name = call.label ?? program.name;
    this.ensureAlive(name);
    const defines = program.resolveDefines(call.defines);
    const pipeline = this.pipeline(program, call.defines);
    const uniform = program.uniformBinding !== null ? this.uniform(`${program.name} params`, program.pack(call.uniforms)) : null;
    try {
      const entries = program.bindEntries(defines, call.bindings as Readonly<Record<string, BufferLike | undefined>>, uniform);
      await this.dispatch(name, pipeline, entries, call.workgroups);
    } finally {
      // queue order makes reuse safe: a later writeBuffer into it runs after this dispatch
      if (uniform !== null) this.release(uniform);
    }
  }

  /**
   * Dispatches `pipeline` with these bind-group entries over `workgroups`. In
   * debug mode, a validation error in this dispatch becomes a GpuError naming
   * the kernel.
   */
  async dispatch(name: string, pipeline: GPUComputePipeline, entries: readonly GPUBindGroupEntry[], workgroups: readonly [number, number, number]): Promise<void> {
    this.ensureAlive(name);
    const max = this.limits.maxComputeWorkgroupsPerDimension;
    if (workgroups.some((w) => w > max)) throw new GpuError(`kernel ${name}: dispatch ${workgroups.join('x')} over the limit ${max} per dimension`);
    if (workgroups.some((w) => w === 0)) return;
    if (this.debug) {
      this.device.pushErrorScope('out-of-memory');
      this.device.pushErrorScope('validation');
    }
    const bindGroup = this.device.createBindGroup({
      label: `${name} bindings`,
      layout: pipeline.getBindGroupLayout(0),
      entries,
    });
    const rec = this.recording;
    const encoder = rec !== null ? this.batchEncoder(rec) : this.device.createCommandEncoder({ label: `${name} encoder` });
    const pass = encoder.beginComputePass({ label: `${name} pass` });
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(workgroups[0], workgroups[1], workgroups[2]);
    pass.end();
    if (rec === null) this.submit(encoder);
    if (this.debug) {
      const validation = await this.device.popErrorScope();
      const oom = await this.device.popErrorScope();
      const err = validation ?? oom;
      if (err) throw new GpuError(`kernel ${name}: ${err.message}`, { field: name });
    }
  }

  /** Copies `bytes` bytes of `buffer` back to the host. */
  async read(buffer: GPUBuffer, bytes: number, offset = 0): Promise<ArrayBuffer> {
    const [out] = await this.readMany([{ buffer, bytes, offset }]);
    return out as ArrayBuffer;
  }

  /**
   * Copies several buffer ranges back to the host with one submit and one
   * map (a wedge's results at once); with an open batch, its recorded work
   * goes in the same submit, before the copies.
   */
  async readMany(parts: ReadonlyArray<{ buffer: GPUBuffer; bytes: number; offset?: number }>): Promise<ArrayBuffer[]> {
    this.ensureAlive();
    const sizes = parts.map((p) => Math.ceil(p.bytes / 4) * 4);
    const at: number[] = [];
    let total = 0;
    for (const sz of sizes) {
      at.push(total);
      total += sz;
    }
    if (total === 0) return parts.map(() => new ArrayBuffer(0));
    const names = parts.map((p) => p.buffer.label).join(', ');
    const staging = this.pool.acquire(`readback of ${names}`, total, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST);
    try {
      const rec = this.recording;
      const enc = rec !== null ? this.batchEncoder(rec) : this.device.createCommandEncoder({ label: `readback ${names}` });
      parts.forEach((p, k) => {
        if ((sizes[k] as number) > 0) enc.copyBufferToBuffer(p.buffer, p.offset ?? 0, staging, at[k] as number, sizes[k] as number);
      });
      if (rec !== null) this.flushBatch(rec);
      else this.submit(enc);
      try {
        await staging.mapAsync(GPUMapMode.READ, 0, total);
      } catch (err) {
        this.ensureAlive();
        throw new GpuError(`reading back ${names} failed: ${err instanceof Error ? err.message : String(err)}`, {}, { cause: err });
      }
      const mapped = staging.getMappedRange(0, total);
      const out = parts.map((p, k) => mapped.slice(at[k] as number, (at[k] as number) + p.bytes));
      staging.unmap();
      return out;
    } finally {
      this.pool.release(staging);
    }
  }

  /** Waits until the queue has finished the work submitted so far (an open batch's recorded work is submitted first). */
  async finish(): Promise<void> {
    this.ensureAlive();
    if (this.recording !== null) this.flushBatch(this.recording);
    await this.device.queue.onSubmittedWorkDone();
    this.ensureAlive();
  }

  /** The open batch's encoder (made on first use). */
  private batchEncoder(rec: { label: string; encoder: GPUCommandEncoder | null }): GPUCommandEncoder {
    rec.encoder ??= this.device.createCommandEncoder({ label: `${rec.label} encoder` });
    return rec.encoder;
  }

  /** Submits what the batch recorded so far and returns its released buffers to the pool; it stays open. */
  private flushBatch(rec: { encoder: GPUCommandEncoder | null; deferred: GPUBuffer[] }): void {
    const enc = rec.encoder;
    rec.encoder = null;
    const deferred = rec.deferred.splice(0);
    if (this.destroyed || this.lostMessage !== undefined) return;
    if (enc !== null) this.submit(enc);
    for (const b of deferred) this.pool.release(b);
  }

  private submit(enc: GPUCommandEncoder): void {
    this.device.queue.submit([enc.finish()]);
    this.submits++;
  }

  /** Workgroup counts covering `n` invocations of `wgSize`, folded into y when x would pass the limit. */
  grid(n: number, wgSize: number): [number, number, number] {
    const groups = Math.ceil(n / wgSize);
    const max = this.limits.maxComputeWorkgroupsPerDimension;
    if (groups <= max) return [groups, 1, 1];
    const y = Math.ceil(groups / max);
    return [Math.ceil(groups / y), y, 1];
  }

  poolStats(): PoolStats {
    return this.pool.stats();
  }
  get pipelineCount(): number {
    return this.pipelines.size;
  }
  get pipelineCompiles(): number {
    return this.pipelines.compileCount;
  }

  /** Test hook: behave as if the driver lost the device. */
  simulateDeviceLoss(reason = 'simulated device loss'): void {
    this.markLost(reason);
    this.releaseDevice();
  }

  /** Releases every buffer and the device. Safe to call twice. */
  destroy(): void {
    if (this.destroyed) return;
    this.releaseDevice();
  }

  private releaseDevice(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    try {
      this.pool.destroy();
    } catch {
      // buffers of a lost device may already be gone
    }
    this.pipelines.clear();
    if (this.ownsDevice) this.device.destroy();
  }

  private markLost(message: string): void {
    if (this.lostMessage !== undefined) return;
    this.lostMessage = message;
    for (const l of this.lostListeners) l(message);
  }
}
