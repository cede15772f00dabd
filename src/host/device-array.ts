/**
 * Resident device data: a labelled GPU buffer with an element type and a
 * length, uploaded once and bound by any number of kernels, readable back.
 * Its buffer comes from the context's pool, so it counts against the memory
 * budget; `destroy()` returns it (safe twice, and after the device is gone).
 */
import { invariant } from '../errors.ts';
import type { GpuContext } from './context.ts';

export type ElementType = 'u32' | 'i32' | 'f32';
export type HostArray<T extends ElementType> = T extends 'u32' ? Uint32Array : T extends 'i32' ? Int32Array : Float32Array;

export function elementTypeOf(data: Uint32Array | Int32Array | Float32Array): ElementType {
  return data instanceof Uint32Array ? 'u32' : data instanceof Int32Array ? 'i32' : 'f32';
}

export class DeviceArray<T extends ElementType = ElementType> {
  private gpuBuffer: GPUBuffer | null;

  private constructor(
    private readonly ctx: GpuContext,
    buffer: GPUBuffer,
    readonly label: string,
    readonly type: T,
    readonly length: number,
  ) {
    this.gpuBuffer = buffer;
  }

  /** Uploads `data` (one counted upload under `label`). */
  static upload(ctx: GpuContext, label: string, data: Uint32Array | Int32Array | Float32Array): DeviceArray {
    // a zero-length binding is invalid: an empty array still owns 4 bytes
    const buffer = ctx.upload(label, data.length > 0 ? data : new Uint32Array(1));
    ctx.markResident(buffer);
    return new DeviceArray(ctx, buffer, label, elementTypeOf(data), data.length);
  }

  /** A zero-filled array of `length` elements (written by kernels, not uploaded). */
  static zeros<E extends ElementType>(ctx: GpuContext, label: string, type: E, length: number): DeviceArray<E> {
    const bytes = Math.max(4, 4 * length);
    const buffer = ctx.buffer(label, bytes);
    ctx.clear(buffer, bytes);
    ctx.markResident(buffer);
    return new DeviceArray(ctx, buffer, label, type, length);
  }

  get buffer(): GPUBuffer {
    invariant(this.gpuBuffer !== null, `device array ${this.label} used after destroy()`);
    return this.gpuBuffer;
  }
  get byteLength(): number {
    return 4 * this.length;
  }
  get destroyed(): boolean {
    return this.gpuBuffer === null;
  }
  /** Whether kernels on `ctx` can bind it (same live context, not destroyed). */
  usableOn(ctx: GpuContext): boolean {
    return this.gpuBuffer !== null && this.ctx === ctx && !ctx.isLost && !ctx.isDestroyed;
  }

  /** Copies elements [first, first + count) back to the host. */
  async read(first = 0, count = this.length - first): Promise<HostArray<T>> {
    invariant(first >= 0 && count >= 0 && first + count <= this.length, `device array ${this.label}: read past its ${this.length} elements`);
    const bytes = count > 0 ? await this.ctx.read(this.buffer, 4 * count, 4 * first) : new ArrayBuffer(0);
    const out = this.type === 'u32' ? new Uint32Array(bytes) : this.type === 'i32' ? new Int32Array(bytes) : new Float32Array(bytes);
    return out as HostArray<T>;
  }

  /** Returns the buffer to the pool. Safe to call twice. */
  destroy(): void {
    const b = this.gpuBuffer;
    if (b === null) return;
    this.gpuBuffer = null;
    this.ctx.unmarkResident(b);
    this.ctx.release(b);
  }
}
