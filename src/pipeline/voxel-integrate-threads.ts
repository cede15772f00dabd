/**
 * The CPU engine's threaded accumulation of a wedge's sample frames
 * (`integrateWedge`'s `sample` hook): the frames go to the voxel-accumulate
 * workers (src/kernels/cpu/voxel-accumulate-threads.ts) as decode tasks where
 * the source has them (CBF/SMV: read and decoded in the workers), else decoded
 * here and handed over. At most one frame per worker is in flight (and no
 * more than `framesInBudget` allows). The
 * result is bit-identical to the single-thread path (integer sums).
 */
import { InvalidValueError, invariant } from '../errors.ts';
import type { CellTable } from '../grid/cell-table.ts';
import type { FrameSource, SourcedFrame } from '../io/sources/frame-source.ts';
import { AccumulatorThreads, shared, type FrameDone } from '../kernels/cpu/voxel-accumulate-threads.ts';
import { totalAccumulatorWords, type VoxelAccumulators } from '../kernels/voxel-accumulate.ts';
import { framesInBudget } from './batch-budget.ts';
import type { IntegrationSetup, SampleAccumulation, WedgeRange } from './voxel-integrate.ts';

/** Puts the setup's per-pixel arrays (vectors, valid bits, channels) in shared memory, once per series (in place; a no-op the second time). */
export function shareSetup(setup: IntegrationSetup): void {
  setup.vectors = shared(setup.vectors);
  setup.valid = shared(setup.valid);
  setup.channels = { count: setup.channels.count, values: shared(setup.channels.values) };
}

export interface ThreadedWedgeOptions {
  threads: AccumulatorThreads;
  /** the series the wedge's frames come from (offset o = frame o of the source) */
  source: FrameSource;
  budgetBytes: number;
  /** thread seconds spent reading + decoding, and binning (added to) */
  times?: { decode: number; bin: number };
  /** called after each frame is binned, with the number binned so far in this wedge */
  onFrame?: (done: number) => void;
}

/** Accumulates the sample frames of `wedge` on the worker threads (see the module comment). */
export async function accumulateWedgeThreaded(setup: IntegrationSetup, table: CellTable, wedge: WedgeRange, rows: Float32Array, o: ThreadedWedgeOptions): Promise<SampleAccumulation> {
  const n = setup.nPixels;
  shareSetup(setup);
  // one frame per worker: the next is posted as soon as one is binned (a message round trip, far below a frame's time)
  const inFlightMax = Math.min(
    o.threads.threads,
    framesInBudget({
      budgetBytes: o.budgetBytes,
      nPixels: n,
      channels: setup.channels.count,
      accumulatorBytes: 4 * totalAccumulatorWords(table, setup.maxCount, setup.channels.count),
      accumulatorSets: o.threads.threads,
    }),
  );
  await o.threads.open({ table, maxCount: setup.maxCount, vectors: setup.vectors, valid: setup.valid, counting: setup.counting.params, channels: setup.channels });
  const inFlight = new Set<Promise<void>>();
  let frameSum = 0;
  let done = 0;
  let failure: { error: unknown } | null = null;
  let local: AsyncIterator<SourcedFrame> | null = null;
  try {
    for (let k = 0; k < wedge.count && failure === null; k++) {
      const offset = wedge.first + k;
      const row = rows.slice(12 * k, 12 * k + 12);
      const task = o.source.decodeTask?.(offset) ?? null;
      let job: Promise<FrameDone>;
      if (task !== null) {
        job = o.threads.add({ row, offset, task });
      } else {
        local ??= o.source.range(wedge.first + k, wedge.count - k)[Symbol.asyncIterator]();
        const r = await local.next();
        invariant(r.done !== true && r.value.offset === offset, `the frame source gives frame ${offset} of wedge ${wedge.index}`);
        const img = r.value.image;
        if (img.pixels.length !== n) throw new InvalidValueError(`frame has ${img.width}×${img.height} pixels but the detector model has ${n}`, { file: img.source.file, frame: img.source.frame });
        // handed over, not copied (a view into a larger buffer is copied first)
        const px = img.pixels.byteOffset === 0 && img.pixels.byteLength === img.pixels.buffer.byteLength && !(img.pixels.buffer instanceof SharedArrayBuffer) ? img.pixels : img.pixels.slice();
        job = o.threads.add({ row, offset, pixels: px });
      }
      const p: Promise<void> = job.then(
        (r) => {
          frameSum += r.frameSum;
          if (o.times !== undefined) {
            o.times.decode += r.decodeSeconds;
            o.times.bin += r.binSeconds;
          }
          done++;
          o.onFrame?.(done);
        },
        (error: unknown) => {
          failure ??= { error };
        },
      );
      const tracked = p.finally(() => inFlight.delete(tracked));
      inFlight.add(tracked);
      if (inFlight.size >= inFlightMax) await Promise.race(inFlight);
    }
    await Promise.all(inFlight);
    if (failure !== null) throw (failure as { error: unknown }).error;
    const acc: VoxelAccumulators = await o.threads.finish();
    invariant(acc.lost === 0, `voxel-accumulate lost ${acc.lost} valid pixel·frames outside the cell table`);
    return { acc, frameSum, backend: 'cpu' };
  } finally {
    await Promise.allSettled(inFlight);
    await local?.return?.();
  }
}
