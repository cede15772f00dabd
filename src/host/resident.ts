/**
 * Resident arrays by owner: the per-series inputs of a job (per-pixel vectors,
 * channels, valid bits) uploaded once and reused by every kernel of the job.
 *
 * `get(owner, name, data)` uploads `data` the first time and returns the same
 * device array afterwards, while `data` is the same object (a new object under
 * the same name replaces the old upload). A registered host array is PINNED: a
 * kernel that is handed that very array (`GpuContext.input`) binds the
 * resident copy instead of uploading it again. Pinned arrays must not change
 * while their owner lives (a setup's arrays never do).
 *
 * Entries go with their owner (`release(owner)`, or when the owner is garbage
 * collected) and with the device (the pool destroys every buffer).
 */
import type { GpuContext } from './context.ts';
import { DeviceArray } from './device-array.ts';

type Typed = Uint32Array | Int32Array | Float32Array;

interface Entry {
  data: Typed;
  array: DeviceArray;
}

export class ResidentStore {
  private readonly byOwner = new WeakMap<object, Map<string, Entry>>();
  private readonly byData = new WeakMap<Typed, DeviceArray>();
  private readonly finalizer = new FinalizationRegistry<Map<string, Entry>>((entries) => {
    for (const e of entries.values()) e.array.destroy();
  });

  constructor(private readonly ctx: GpuContext) {}

  get(owner: object, name: string, data: Typed, label = name): DeviceArray {
    let entries = this.byOwner.get(owner);
    if (entries === undefined) {
      entries = new Map();
      this.byOwner.set(owner, entries);
      this.finalizer.register(owner, entries, owner);
    }
    const e = entries.get(name);
    if (e !== undefined && e.data === data && e.array.usableOn(this.ctx)) return e.array;
    if (e !== undefined) {
      e.array.destroy();
      this.byData.delete(e.data);
    }
    const array = DeviceArray.upload(this.ctx, label, data);
    entries.set(name, { data, array });
    this.byData.set(data, array);
    return array;
  }

  /** The resident copy of a pinned host array, if any. */
  lookup(data: ArrayBufferView): DeviceArray | undefined {
    const a = this.byData.get(data as Typed);
    return a !== undefined && a.usableOn(this.ctx) ? a : undefined;
  }

  /** Releases every array of `owner`. */
  release(owner: object): void {
    const entries = this.byOwner.get(owner);
    if (entries === undefined) return;
    for (const e of entries.values()) {
      e.array.destroy();
      this.byData.delete(e.data);
    }
    this.byOwner.delete(owner);
    this.finalizer.unregister(owner);
  }
}
