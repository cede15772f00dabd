/**
 * The host memory budget (`--memory-mb`, run config `memory_mb`): what a
 * stage may hold in frames, per-thread accumulators and per-pixel arrays.
 * Default: a quarter of the machine's memory, at most 2 GiB. Stages size
 * their frame batches from it (src/pipeline/voxel-integrate-threads.ts) and
 * say in one line when it cannot hold even one frame.
 */
import { totalmem } from 'node:os';
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
