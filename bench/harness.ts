/**
 * The benchmark harness behind `npm run bench`. A section measures one workload
 * on the CPU and, where it has a kernel, on the GPU; `bench/main.ts` runs every
 * section's GPU parts first, destroys the device (dawn.node busy-polls a core
 * while a device lives), then runs the CPU parts, and prints ratios side by side.
 * Speed claims come only from this output. Timed assertions do not belong in tests.
 */
import { Bench } from 'tinybench';
import type { GpuContext } from '../src/host/context.ts';

/** The value after `name` on the bench's command line (`npm run bench -- --size 0.2`), if given. */
export function benchArg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

export interface BenchRow {
  section: string;
  /** what was measured, e.g. 'hkl mapping 2M pixels x 8 frames' */
  name: string;
  backend: 'cpu' | 'gpu' | 'host';
  /** the figure, in `unit` (higher is better for rates) */
  value: number;
  unit: string;
  note?: string;
}

export interface BenchSection {
  name: string;
  /** runs while the device lives; absent when the section has no GPU path */
  gpu?(ctx: GpuContext, size: number): Promise<BenchRow[]>;
  /** runs after the device is destroyed */
  cpu(size: number): Promise<BenchRow[]>;
}

/**
 * Median wall time in ms of `fn`, measured with tinybench (async-aware, so GPU
 * work is timed to its completion when `fn` awaits it): at least `iterations`
 * runs and `timeMs` of sampling after a short warm-up.
 */
export async function timeMedian(name: string, fn: () => Promise<void> | void, opts: { iterations?: number; timeMs?: number } = {}): Promise<number> {
  const bench = new Bench({ iterations: opts.iterations ?? 5, time: opts.timeMs ?? 300, warmupIterations: 1, warmupTime: 0 });
  bench.add(name, fn);
  await bench.run();
  const task = bench.tasks[0];
  const p50 = task?.result?.latency.p50;
  if (p50 === undefined) throw new Error(`benchmark '${name}' produced no samples${task?.result?.error ? `: ${String(task.result.error)}` : ''}`);
  return p50;
}
