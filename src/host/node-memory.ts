/**
 * The host memory budget (`--memory-mb`, run config `memory_mb`): what a
 * stage may hold in frames, per-thread accumulators and per-pixel arrays.
 * Default: a quarter of the machine's memory, at most 2 GiB. Stages size
 * their frame batches from it (src/pipeline/voxel-integrate-threads.ts) and
 * say in one line when it cannot hold even one frame.
 */
import { totalmem } from 'node:os';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { UsageError } from '../errors.ts';

export const MIB = 2 ** 20;

/** The default budget in MiB: min(¼ of the machine's memory, 2 GiB). */
export function defaultMemoryMb(): number {
  return Math.max(64, Math.min(Math.floor(totalmem() / 4 / MIB), 2048));
}

/** A budget given as a flag or config value (a positive integer of MiB); undefined stays undefined. */
export function parseMemoryMb(value: number | string | undefined, source = '--memory-mb'): number | undefined {
  if (value === undefined) return undefined;
  const n = typeof value === 'number' ? value : /^\s*\d+\s*$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < 1 || n > 2 ** 24) throw new UsageError(`the memory budget must be an integer 1…${2 ** 24} (MiB), got '${String(value).trim()}'`, { field: source });
  return n;
}

/** Peak resident set size of this process so far, in bytes. */
export function peakRssBytes(): number {
  return process.resourceUsage().maxRSS * 1024;
}

/** "412 MiB" */
export function formatMiB(bytes: number): string {
  return `${(bytes / MIB).toFixed(0)} MiB`;
}

let collector: (() => void) | null | undefined;

/**
 * A full garbage collection now (V8's `gc`, exposed for this call; the way
 * jest's leak detector reaches it), returning false where it is not
 * available. For the few points where a stage knows that large arrays just
 * died and that the thread will allocate too little to collect them soon:
 * after a series' per-pixel preparation, whose transient f64 weights (16 bytes
 * a pixel) would otherwise stay in the peak while the worker threads bin.
 */
export function collectGarbage(): boolean {
  if (collector === undefined) {
    const exposed = (globalThis as { gc?: unknown }).gc;
    if (typeof exposed === 'function') {
      collector = exposed as () => void;
    } else {
      try {
        setFlagsFromString('--expose-gc');
        const gc: unknown = runInNewContext('gc');
        collector = typeof gc === 'function' ? (gc as () => void) : null;
      } catch {
        collector = null;
      }
    }
  }
  collector?.();
  return collector !== null;
}
