/**
 * The GPU context: the one object that owns the Dawn device.
 *
 * - asks the adapter for its largest buffer and binding limits;
 * - labels every resource (buffers through the pool, shader modules and
 *   pipelines by kernel name);
 * - in debug mode wraps each dispatch in validation and out-of-memory error
 *   scopes and names the kernel in the error;
 * - watches `device.lost`: once lost, every call throws DeviceLostError and the
 *   engine continues on the CPU path;
 * - owns the buffer pool and the pipeline cache; `destroy()` releases it all and
 *   is safe to call twice. dawn.node busy-polls a CPU core while a device lives,
 *   so destroy the context as soon as GPU work is done.
 */
import { DeviceLostError, GpuError } from '../errors.ts';
import { log } from '../util/log.ts';
import { BufferPool, type PoolStats } from './buffer-pool.ts';
import { loadDawn } from './dawn.ts';
import { PipelineCache } from './pipeline-cache.ts';
import { loadShader, type ShaderDefines } from './shader-source.ts';

export interface AdapterDescription {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
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
  /** wrap each dispatch in error scopes that name the kernel (env DIFFRACT_GPU_DEBUG=1) */
  debug?: boolean;
  /** bytes the context may allocate on the device (env DIFFRACT_GPU_MEMORY_MB; default 4096 MiB, capped by the adapter) */
  memoryBudgetBytes?: number;
}

export const MIB = 1024 * 1024;
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

/** One adapter request; null when there is none (no driver, no Vulkan ICD, bindings absent). */
export async function requestAdapter(): Promise<GPUAdapter | null> {
  const gpu = await loadDawn();
  if (gpu === null) return null;
  try {
    return await gpu.requestAdapter({ powerPreference: 'high-performance' });
  } catch (err) {
    log('debug', `requestAdapter failed: ${err instanceof Error ? err.message : String(err)}`);
    return null;
  }
}

export function describeAdapter(adapter: GPUAdapter): AdapterDescription {
  const info = adapter.info;
  return {
    vendor: info.vendor || 'unknown vendor',
    architecture: info.architecture || '',
    device: info.device || '',
    description: info.description || '',
  };
}

export function adapterName(a: AdapterDescription): string {
  return a.description || [a.vendor, a.architecture, a.device].filter((s) => s).join(' ');
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

  private constructor(device: GPUDevice, adapter: AdapterDescription, limits: GpuLimitsSummary, opts: GpuContextOptions) {
    this.device = device;
    this.adapter = adapter;
    this.limits = limits;
    this.debug = opts.debug ?? process.env.DIFFRACT_GPU_DEBUG === '1';
    const envBudget = Number(process.env.DIFFRACT_GPU_MEMORY_MB);
    const budget = opts.memoryBudgetBytes ?? (Number.isFinite(envBudget) && envBudget > 0 ? envBudget * MIB : 4096 * MIB);
    this.memoryBudgetBytes = budget;
    this.pool = new BufferPool(device, budget, limits.maxBufferSize);
    void device.lost.then((info) => {
      if (this.destroyed) return;
      this.markLost(`${info.reason}: ${info.message}`);
    });
    device.onuncapturederror = (ev: GPUUncapturedErrorEvent) => {
      log('warn', `GPU error outside an error scope: ${ev.error.message}`);
    };
  }

  /** Opens the adapter and device with the adapter's largest buffer and binding limits. */
  static async create(opts: GpuContextOptions = {}): Promise<GpuContext> {
    const adapter = await requestAdapter();
    if (adapter === null) throw new GpuError('no WebGPU adapter found (no GPU driver or Vulkan ICD on this machine)');
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
    return new GpuContext(device, describeAdapter(adapter), limits, opts);
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

  /** The compiled pipeline of kernel `name` for these compile-time defines (cached). */
  pipeline(name: string, defines: ShaderDefines = {}): GPUComputePipeline {
    this.ensureAlive(name);
    return this.pipelines.get(name, defines, () => {
      const code = loadShader(name, defines);
      const module = this.device.createShaderModule({ label: `${name}.wgsl`, code });
      return this.device.createComputePipeline({
        label: `${name} pipeline`,
        layout: 'auto',
        compute: { module, entryPoint: 'main' },
      });
    });
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
    return buf;
  }

  /** A pooled uniform buffer filled with `data` (byte length padded to 16). */
  uniform(label: string, data: ArrayBufferView): GPUBuffer {
    return this.upload(label, data, GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST);
  }

  /** Fills `bytes` bytes of `buffer` with zeros. */
  clear(buffer: GPUBuffer, bytes: number = buffer.size): void {
    this.ensureAlive();
    const enc = this.device.createCommandEncoder({ label: `clear ${buffer.label}` });
    enc.clearBuffer(buffer, 0, Math.ceil(bytes / 4) * 4);
    this.device.queue.submit([enc.finish()]);
  }

  release(...buffers: GPUBuffer[]): void {
    for (const b of buffers) this.pool.release(b);
  }

  /**
   * Runs kernel `name`: binds `bindings[i]` at @group(0) @binding(i) and
   * dispatches `workgroups`. In debug mode, a validation error in this dispatch
   * becomes a GpuError naming the kernel.
   */
  async dispatch(name: string, pipeline: GPUComputePipeline, bindings: readonly GPUBuffer[], workgroups: readonly [number, number, number]): Promise<void> {
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
      entries: bindings.map((buffer, binding) => ({ binding, resource: { buffer } })),
    });
    const encoder = this.device.createCommandEncoder({ label: `${name} encoder` });
    const pass = encoder.beginComputePass({ label: `${name} pass` });
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(workgroups[0], workgroups[1], workgroups[2]);
    pass.end();
    this.device.queue.submit([encoder.finish()]);
    if (this.debug) {
      const validation = await this.device.popErrorScope();
      const oom = await this.device.popErrorScope();
      const err = validation ?? oom;
      if (err) throw new GpuError(`kernel ${name}: ${err.message}`, { field: name });
    }
  }

  /** Copies `bytes` bytes of `buffer` back to the host. */
  async read(buffer: GPUBuffer, bytes: number, offset = 0): Promise<ArrayBuffer> {
    this.ensureAlive();
    const size = Math.ceil(bytes / 4) * 4;
    const staging = this.pool.acquire(`readback of ${buffer.label}`, size, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST);
    try {
      const enc = this.device.createCommandEncoder({ label: `readback ${buffer.label}` });
      enc.copyBufferToBuffer(buffer, offset, staging, 0, size);
      this.device.queue.submit([enc.finish()]);
      try {
        await staging.mapAsync(GPUMapMode.READ, 0, size);
      } catch (err) {
        this.ensureAlive();
        throw new GpuError(`reading back ${buffer.label} failed: ${err instanceof Error ? err.message : String(err)}`, {}, { cause: err });
      }
      const copy = staging.getMappedRange(0, size).slice(0, bytes);
      staging.unmap();
      return copy;
    } finally {
      this.pool.release(staging);
    }
  }

  /** Waits until the queue has finished the work submitted so far. */
  async finish(): Promise<void> {
    this.ensureAlive();
    await this.device.queue.onSubmittedWorkDone();
    this.ensureAlive();
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
    this.device.destroy();
  }

  private markLost(message: string): void {
    if (this.lostMessage !== undefined) return;
    this.lostMessage = message;
    for (const l of this.lostListeners) l(message);
  }
}
