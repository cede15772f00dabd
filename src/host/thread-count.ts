/**
 * How many CPU threads the engine uses (host core: no `node:` imports).
 *
 * The `--threads N` flag (or a run config's `threads:`) when given, else the
 * environment variable DIFFRACT_THREADS, else the runtime's parallelism
 * (`navigator.hardwareConcurrency`; src/host/node-threads.ts passes Node's
 * `os.availableParallelism()`). A bad value is a one-line `UsageError` naming
 * `--threads` or `DIFFRACT_THREADS`.
 */
import { UsageError } from '../errors.ts';
import type { Environment } from './platform.ts';

export const THREADS_ENV = 'DIFFRACT_THREADS';
/** more threads than this is surely a typo */
export const MAX_THREADS = 1024;

function parseThreads(value: string | number, source: string): number {
  const n = typeof value === 'number' ? value : /^\s*\d+\s*$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < 1 || n > MAX_THREADS) {
    throw new UsageError(`threads must be an integer 1…${MAX_THREADS}, got '${String(value).trim()}'`, { field: source });
  }
  return n;
}

/** The runtime's parallelism where it tells (browsers, Node ≥ 21), else 1. */
export function runtimeParallelism(): number {
  const n = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency;
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 1 ? n : 1;
}

/**
 * The number of CPU threads: `flag` (validated, named `source` in errors),
 * else `env.DIFFRACT_THREADS`, else `parallelism`.
 */
export function threadCount(flag: number | string | undefined, env: Environment, parallelism: number = runtimeParallelism(), source = '--threads'): number {
  if (flag !== undefined) return parseThreads(flag, source);
  const fromEnv = env[THREADS_ENV];
  if (fromEnv !== undefined && fromEnv.trim() !== '') return parseThreads(fromEnv, THREADS_ENV);
  return Math.max(1, parallelism);
}
