/**
 * `stills-run-memory` (issue 15, "Bounded memory"): the whole stills pipeline
 * as a user runs it, at 500 and 5,000 synthetic shots of 256². Each data set is
 * simulated once (`diffract simulate --stills --shots N --seed 1`, itself
 * measured: wall and peak RSS) and cached under
 * `bench/.cache/stills-run-memory/` (`DIFFRACT_BENCH_CACHE` moves it; a set is
 * complete once its truth.json, written last, exists). Each is then run
 * through the whole `diffract --backend cpu --memory-mb M run diffract.yaml`
 * process, with the config `diffract demo --kind stills` writes
 * (stillsDemoConfig, ndiv 1,1,1; its `data/` a link to the cached set) and the
 * same budgets for both counts: the merge's `--memory-mb` (default 256) and
 * the scale fit's `stills.scaling.row_budget` (default here 500,000 rows,
 * below the ~0.9 M rows of 500 shots, so that both counts fit a voxel subset
 * of the same size; with the config's default of 2 M rows the fit, and the
 * peak, grow with the shot count up to ~1,100 shots of this kind). The peak
 * RSS (VmHWM polled from outside, bench/measure-process.ts), the rows and
 * voxels (the run's summary), wall time and per-shot time are printed side by
 * side with the thread count, then the ratio of the peaks, which should be ≈ 1
 * (memory bounded by the grid, not by the shot count).
 *
 * `--size S` scales the shot counts (at least 50 and 100); `--memory-mb M`
 * and `--row-budget R` set the budgets; `--threads T` the threads of the child (default: all).
 * The simulation of 5,000 shots takes minutes (~4–5 on a quiet core), the run
 * a few more.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, stringify } from 'yaml';
import { stillsDemoConfig } from '../../src/cli/commands/demo-stills.ts';
import { STILLS_FILES } from '../../src/sim/stills/simulate.ts';
import { benchArg, type BenchRow, type BenchSection } from '../harness.ts';
import { measureProcess, type ProcessMeasurement } from '../measure-process.ts';

const SECTION = 'stills-run-memory';
const REPO = fileURLToPath(new URL('../../', import.meta.url));
const CACHE = process.env.DIFFRACT_BENCH_CACHE ?? join(REPO, 'bench', '.cache', SECTION);
const ENTRY = join(REPO, 'bin', 'diffract.js');
const SEED = 1;
const MIB = 2 ** 20;

const log = (line: string): void => console.error(`bench: ${SECTION}: ${line}`);
const mib = (b: number | null): string => (b === null ? '–' : `${(b / MIB).toFixed(0)} MiB`);

const childEnv = (): NodeJS.ProcessEnv => {
  const env: NodeJS.ProcessEnv = { ...process.env };
  // DIFFRACT_BACKEND would override the child's --backend
  delete env.DIFFRACT_BACKEND;
  return env;
};

const failure = (what: string, m: ProcessMeasurement): Error => new Error(`${SECTION}: ${what} failed with code ${m.code}: ${m.stderr.trim().split('\n').at(-1) ?? ''}`);

/** The cached data set of `shots` shots (simulated now when absent); its simulation's measurement when made now. */
async function ensureShots(shots: number): Promise<{ dir: string; simulated: ProcessMeasurement | null }> {
  const dir = join(CACHE, `n${shots}-seed${SEED}`);
  if (existsSync(join(dir, STILLS_FILES.truth))) return { dir, simulated: null };
  mkdirSync(CACHE, { recursive: true });
  const tmp = `${dir}.tmp`;
  rmSync(tmp, { recursive: true, force: true });
  log(`simulating ${shots} stills of 256² into ${tmp} …`);
  const m = await measureProcess(process.execPath, [ENTRY, '-q', 'simulate', '--stills', '--shots', String(shots), '--seed', String(SEED), '--out', tmp], { env: childEnv() });
  if (m.code !== 0) throw failure(`simulate --stills --shots ${shots}`, m);
  rmSync(dir, { recursive: true, force: true });
  renameSync(tmp, dir);
  return { dir, simulated: m };
}

interface RunFigures {
  shots: number;
  m: ProcessMeasurement;
  observations: number;
  voxels: number;
  used: number;
  rejected: number;
  skipped: number;
  chunks: number;
}

/** `diffract --backend cpu run` of the demo's config on the cached set, in a fresh folder. */
async function runShots(shots: number, dir: string, memoryMb: number, rowBudget: number, threads: number): Promise<RunFigures> {
  const work = mkdtempSync(join(tmpdir(), 'diffract-bench-stills-run-'));
  try {
    symlinkSync(dir, join(work, 'data'), 'dir');
    const config = join(work, 'diffract.yaml');
    // the demo's config, with the fit's row budget fixed for both counts
    const doc = parse(stillsDemoConfig([1, 1, 1])) as { stills: Record<string, unknown> };
    doc.stills.scaling = { row_budget: rowBudget };
    writeFileSync(config, stringify(doc));
    log(`diffract run, ${shots} shots, --memory-mb ${memoryMb}, row_budget ${rowBudget}, ${threads} threads …`);
    const m = await measureProcess(process.execPath, [ENTRY, '--backend', 'cpu', '--threads', String(threads), '--memory-mb', String(memoryMb), '-q', 'run', config], { env: childEnv(), cwd: work });
    if (m.code !== 0) throw failure(`diffract run (${shots} shots)`, m);
    const s = JSON.parse(readFileSync(join(work, 'summary.json'), 'utf8')) as { observations: number; voxels: number; stills: { used: number; rejected: number; skipped: number; chunks: number } };
    return { shots, m, observations: s.observations, voxels: s.voxels, used: s.stills.used, rejected: s.stills.rejected, skipped: s.stills.skipped, chunks: s.stills.chunks };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

export const stillsRunMemorySection: BenchSection = {
  name: SECTION,
  async cpu(size: number): Promise<BenchRow[]> {
    const counts = [Math.max(50, Math.round(500 * size)), Math.max(100, Math.round(5000 * size))];
    const memoryMb = Number(benchArg('--memory-mb') ?? '256');
    const rowBudget = Number(benchArg('--row-budget') ?? '500000');
    const threads = Number(benchArg('--threads') ?? String(availableParallelism()));
    const machine = `${cpus()[0]?.model ?? '?'} × ${cpus().length}, ${threads} thread${threads === 1 ? '' : 's'}`;
    const rows: BenchRow[] = [{ section: SECTION, name: `load average before the runs (${availableParallelism()} cores)`, backend: 'host', value: loadavg()[0] ?? 0, unit: '', note: machine }];
    const runs: RunFigures[] = [];
    for (const shots of counts) {
      const { dir, simulated } = await ensureShots(shots);
      if (simulated !== null) {
        rows.push({ section: SECTION, name: `peak RSS, diffract simulate --stills --shots ${shots} (256²)`, backend: 'cpu', value: (simulated.peakRssBytes ?? Number.NaN) / MIB, unit: 'MiB', note: `${simulated.wallSeconds.toFixed(0)} s, ${((simulated.wallSeconds * 1000) / shots).toFixed(0)} ms/shot` });
      }
      runs.push(await runShots(shots, dir, memoryMb, rowBudget, threads));
    }
    for (const r of runs) {
      rows.push({
        section: SECTION,
        name: `peak RSS, diffract run, ${r.shots} shots of 256², --memory-mb ${memoryMb}, row_budget ${rowBudget}`,
        backend: 'cpu',
        value: (r.m.peakRssBytes ?? Number.NaN) / MIB,
        unit: 'MiB',
        note: `${(r.observations / 1e6).toFixed(2)} M rows, ${r.voxels} voxels, ${r.chunks} chunks, shots used/rejected/skipped ${r.used}/${r.rejected}/${r.skipped}; wall ${r.m.wallSeconds.toFixed(0)} s, ${((r.m.wallSeconds * 1000) / r.shots).toFixed(0)} ms/shot, CPU ${r.m.cpuSeconds?.toFixed(0) ?? '–'} s; ${machine}`,
      });
    }
    const [a, b] = runs;
    if (a?.m.peakRssBytes != null && b?.m.peakRssBytes != null) {
      rows.push({ section: SECTION, name: `peak RSS ${b.shots} shots / ${a.shots} shots (diffract run)`, backend: 'host', value: b.m.peakRssBytes / a.m.peakRssBytes, unit: '×', note: `flat in the shot count: ≈ 1 (${mib(a.m.peakRssBytes)} → ${mib(b.m.peakRssBytes)})` });
    }
    return rows;
  },
};
