/**
 * A pool of GPU buffers, reused across batches so that a long series does not
 * allocate per frame. Sizes are rounded up to a size class (powers of two up
 * to 64 MiB, then multiples of 16 MiB) and buffers are keyed by (usage, class).
 * Every buffer carries a label naming its owner; the pool checks the memory
 * budget before it allocates, freeing idle buffers first.
 */
import { GpuError } from '../errors.ts';

const MIB = 1024 * 1024;

export function sizeClass(bytes: number): number {
  const b = Math.max(256, Math.ceil(bytes / 16) * 16);
  if (b <= 64 * MIB) return 2 ** Math.ceil(Math.log2(b));
  return Math.ceil(b / (16 * MIB)) * 16 * MIB;
}

export interface PoolStats {
  allocatedBytes: number;
  idleBytes: number;
  buffers: number;
  allocations: number;
  reuses: number;
}

export class BufferPool {
  private readonly idle = new Map<string, GPUBuffer[]>();
  private readonly live = new Map<GPUBuffer, string>();
  private allocated = 0;
  private idleBytes = 0;
  private allocations = 0;
  private reuses = 0;

  constructor(
    private readonly device: GPUDevice,
    private readonly budgetBytes: number,
    private readonly maxBufferSize: number,
  ) {}

  /** A buffer of at least `bytes` bytes with `usage`, labelled `label`. */
  acquire(label: string, bytes: number, usage: GPUBufferUsageFlags): GPUBuffer {
    const size = sizeClass(bytes);
    if (size > this.maxBufferSize) {
      throw new GpuError(`buffer '${label}' needs ${size} bytes, over the adapter's maxBufferSize ${this.maxBufferSize}`);
    }
    const key = `${usage}:${size}`;
    const list = this.idle.get(key);
    const reused = list?.pop();
    if (reused !== undefined) {
      this.idleBytes -= size;
      this.reuses++;
      reused.label = label;
      this.live.set(reused, key);
      return reused;
    }
    this.ensureRoom(size, label);
    const buffer = this.device.createBuffer({ label, size, usage });
    this.allocated += size;
    this.allocations++;
    this.live.set(buffer, key);
    return buffer;
  }

  /** Returns a buffer from `acquire` to the pool. Releasing twice is harmless. */
  release(buffer: GPUBuffer): void {
    const key = this.live.get(buffer);
    if (key === undefined) return;
    this.live.delete(buffer);
    let list = this.idle.get(key);
    if (list === undefined) {
      list = [];
      this.idle.set(key, list);
    }
    buffer.label = `${buffer.label} (idle)`;
    list.push(buffer);
    this.idleBytes += buffer.size;
  }

  /** Destroys idle buffers (live ones stay with their owners). */
  trim(): void {
    for (const list of this.idle.values()) {
      for (const b of list) {
        this.allocated -= b.size;
        b.destroy();
      }
    }
    this.idle.clear();
    this.idleBytes = 0;
  }

  /** Destroys every buffer, live or idle. Safe to call twice. */
  destroy(): void {
    this.trim();
    for (const b of this.live.keys()) b.destroy();
    this.live.clear();
    this.allocated = 0;
  }

  stats(): PoolStats {
    return {
      allocatedBytes: this.allocated,
      idleBytes: this.idleBytes,
      buffers: this.live.size,
      allocations: this.allocations,
      reuses: this.reuses,
    };
  }

  private ensureRoom(size: number, label: string): void {
    if (this.allocated + size <= this.budgetBytes) return;
    this.trim();
    if (this.allocated + size > this.budgetBytes) {
      throw new GpuError(
        `GPU memory budget exceeded allocating '${label}': ${(size / MIB).toFixed(1)} MiB requested, ` +
          `${(this.allocated / MIB).toFixed(1)} of ${(this.budgetBytes / MIB).toFixed(0)} MiB in use (set DIFFRACT_GPU_MEMORY_MB to raise it)`,
      );
    }
  }
}
