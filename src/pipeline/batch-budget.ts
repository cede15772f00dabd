/**
 * Frame batches from a memory budget (`--memory-mb`): how many frames a wedge
 * may hold at once after the per-pixel arrays and the accumulators (one set
 * per CPU thread, the merged set included in the first) are counted.
 * Results never depend on it (integer sums); memory does. No `node:` imports.
 */
import { UsageError } from '../errors.ts';

const MIB = 2 ** 20;

/** Host bytes per pixel held for the whole series: d (3 f32), channels (C u32), mask bytes and bits, the κ/d³s weights (2 f64). */
export function perPixelBytes(channels: number): number {
  return 12 + 4 * channels + 2 + 16;
}

/** Host bytes per frame in flight: the decoded i32 pixels, its file bytes (at most as many again) while it decodes. */
export function perFrameBytes(nPixels: number): number {
  return 8 * nPixels;
}

export interface BudgetInput {
  budgetBytes: number;
  nPixels: number;
  channels: number;
  /** bytes of one set of the wedge's accumulators */
  accumulatorBytes: number;
  /** sets of accumulators alive at once (threads; +1 for a GPU read-back) */
  accumulatorSets: number;
}

/**
 * Frames the budget holds in flight (≥ 1), or a one-line UsageError naming
 * --memory-mb when it cannot hold one frame with the arrays and accumulators.
 */
export function framesInBudget(b: BudgetInput): number {
  const fixed = perPixelBytes(b.channels) * b.nPixels + b.accumulatorSets * b.accumulatorBytes;
  const frame = perFrameBytes(b.nPixels);
  const frames = Math.floor((b.budgetBytes - fixed) / Math.max(1, frame));
  if (frames < 1) {
    const mib = (x: number): string => `${Math.ceil(x / MIB)} MiB`;
    throw new UsageError(
      `the memory budget of ${mib(b.budgetBytes)} cannot hold one frame (${mib(frame)}) with the per-pixel arrays (${mib(perPixelBytes(b.channels) * b.nPixels)}) ` +
        `and ${b.accumulatorSets} × ${mib(b.accumulatorBytes)} of accumulators: raise it to at least ${mib(fixed + frame)}, or use fewer threads or a smaller wedge`,
      { field: '--memory-mb' },
    );
  }
  return frames;
}
