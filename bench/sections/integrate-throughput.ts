/**
 * `integrate-throughput`: the whole `diffract integrate` process on realistic
 * frames (issue 14), run as a child process (`diffract --backend cpu integrate
 * …`) so that start-up, decoding, binning, the filter and the HDF5 write all
 * count, as a user sees them. The command is the compiled one (dist/, as the
 * published package runs; built first when src/ is newer: `--cli dist`, the
 * default) or the checkout's `bin/diffract.js`, which runs the sources through
 * tsx (`--cli checkout`). A first row measures the start-up of both
 * (`diffract integrate --help`).
 *
 * Frame sets (generated once, cached under `bench/.cache/`, see
 * `bench/integrate-frames.ts`):
 * - 50 frames of 1024 × 1024 photon-counting frames;
 * - 20 frames of a Pilatus 6M (2463 × 2527, 5 × 12 modules, gaps at −1),
 *   a few % of the pixels above 20 counts.
 *
 * For `--no-filter` and the default filter, with 1, 2 and all threads
 * (`--threads N` and `DIFFRACT_THREADS`), it reports µs per pixel·frame
 * (all pixels of the panel × frames) of the whole process (wall; the CPU
 * seconds of all its threads in the note) and of each phase
 * (decode, bin, filter, write, from the child's `--timings FILE`; '–' where
 * this build does not write them; decode and bin are thread time summed over
 * the threads, filter and write main-thread wall time), the peak RSS (the larger of `VmHWM` polled
 * from outside and the child's own figure), speed-ups against the 1-thread
 * run of the same bench run, the filter / no-filter ratio, and GPU/CPU ratios
 * when the bench has an adapter (`--backend gpu` children; on a software
 * adapter only the 1024² set). The memory part runs the 1024² set at 20 and
 * 200 frames with 1 and all threads, in wedges of 10 frames (so that both
 * counts hold whole wedges: a wedge's accumulators grow with its frames up to
 * the wedge width), and prints each peak beside the output file's size (the
 * written rows may grow memory, nothing else should), and the 200/20 ratio.
 *
 * `--size S` below 1 shrinks the panels (side × √S, modules of the 6M layout
 * likewise) and the frame counts (× √S, at least 4), for a quick check;
 * above 1 it multiplies the frame counts. `--parts throughput,memory` picks
 * the parts (default both). Other processes on the machine slow the wall
 * times: the load average before the runs is printed.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { softwareAdapterReason } from '../../src/host/adapter-kind.ts';
import type { GpuContext } from '../../src/host/context.ts';
import { benchArg, type BenchRow, type BenchSection } from '../harness.ts';
import { ensureFrameSet, PILATUS_6M_MODULES, squareModules, type CachedFrameSet, type FrameSetLayout } from '../integrate-frames.ts';
import { measureProcess } from '../measure-process.ts';

const SECTION = 'integrate-throughput';
const REPO = fileURLToPath(new URL('../../', import.meta.url));
const CACHE = process.env.DIFFRACT_BENCH_CACHE ?? join(REPO, 'bench', '.cache', 'integrate-throughput');
const MIB = 1024 * 1024;

/** The timings file `diffract integrate --timings FILE` writes (issue 14's contract). */
interface IntegrateTimings {
  threads: number;
  pixelFrames: number;
  wall_s: number;
  phases: { decode_s: number; bin_s: number; filter_s: number; write_s: number };
  peakRssBytes: number;
}

const PHASES = ['decode_s', 'bin_s', 'filter_s', 'write_s'] as const;

function isTimings(v: unknown): v is IntegrateTimings {
  if (typeof v !== 'object' || v === null) return false;
  const o = v as Record<string, unknown>;
  const phases = o.phases;
  if (typeof phases !== 'object' || phases === null) return false;
  const p = phases as Record<string, unknown>;
  return typeof o.threads === 'number' && typeof o.peakRssBytes === 'number' && PHASES.every((k) => typeof p[k] === 'number');
}

interface Capabilities {
  /** node arguments that start the diffract command */
  entry: string[];
  threadsFlag: boolean;
  timingsFlag: boolean;
}

interface Run {
  set: string;
  filter: boolean;
  threads: number;
  backend: 'cpu' | 'gpu';
  frames: number;
  pixelFrames: number;
  wallSeconds: number;
  cpuSeconds: number | null;
  peakRssBytes: number | null;
  timings: IntegrateTimings | null;
  /** size of the integrate file written */
  outBytes: number | null;
  error?: string;
}

let adapter: { name: string; software: boolean } | null = null;

const childEnv = (threads: number): NodeJS.ProcessEnv => {
  const env: NodeJS.ProcessEnv = { ...process.env, DIFFRACT_THREADS: String(threads) };
  // DIFFRACT_BACKEND would override the child's --backend
  delete env.DIFFRACT_BACKEND;
  return env;
};

const CHECKOUT_ENTRY = [join(REPO, 'bin', 'diffract.js')];
const DIST_ENTRY = [join(REPO, 'bench', 'diffract-dist.mjs')];

/** Newest modification time (ms) of the files under `dir`. */
function newestMtime(dir: string): number {
  let newest = 0;
  for (const f of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (f.isFile()) newest = Math.max(newest, statSync(join(f.parentPath, f.name)).mtimeMs);
  }
  return newest;
}

/** Builds dist/ (`npm run build`) unless it is newer than every source file. */
async function ensureDist(): Promise<void> {
  const main = join(REPO, 'dist', 'cli', 'main.js');
  if (existsSync(main) && statSync(main).mtimeMs > newestMtime(join(REPO, 'src'))) return;
  log('building dist/ (npm run build) …');
  const r = await measureProcess(process.execPath, [join(REPO, 'scripts', 'build.mjs')], { cwd: REPO });
  if (r.code !== 0) throw new Error(`npm run build failed: ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`);
}

async function capabilities(cli: string): Promise<Capabilities> {
  if (cli !== 'dist' && cli !== 'checkout') throw new Error(`--cli must be dist or checkout, not '${cli}'`);
  if (cli === 'dist') await ensureDist();
  const entry = cli === 'dist' ? DIST_ENTRY : CHECKOUT_ENTRY;
  // --threads is a global option (beside --backend), --timings an integrate one
  const root = await measureProcess(process.execPath, [...entry, '--help'], { env: childEnv(1) });
  const integrate = await measureProcess(process.execPath, [...entry, 'integrate', '--help'], { env: childEnv(1) });
  return { entry, threadsFlag: /--threads\b/.test(root.stdout), timingsFlag: /--timings\b/.test(integrate.stdout) };
}

/** Start-up of both commands: `diffract integrate --help` (dist/ only when built). */
async function startupRows(): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const entries: [string, string[]][] = [['checkout (tsx)', CHECKOUT_ENTRY]];
  if (existsSync(join(REPO, 'dist', 'cli', 'main.js'))) entries.push(['dist', DIST_ENTRY]);
  for (const [label, entry] of entries) {
    const m = await measureProcess(process.execPath, [...entry, 'integrate', '--help'], { env: childEnv(1) });
    rows.push({ section: SECTION, name: `start-up: diffract integrate --help, ${label}`, backend: 'host', value: m.wallSeconds, unit: 's', note: `CPU ${cpuWord(m.cpuSeconds)}; peak RSS ${mib(m.peakRssBytes)}` });
  }
  return rows;
}

/** Reads every frame once so that no run pays for a cold page cache. */
function warmPageCache(set: CachedFrameSet): void {
  for (const f of readdirSync(set.dir)) if (f.endsWith('.cbf')) readFileSync(join(set.dir, f));
}

async function integrateOnce(caps: Capabilities, set: CachedFrameSet, label: string, frames: number, filter: boolean, threads: number, backend: 'cpu' | 'gpu', extra: string[] = []): Promise<Run> {
  const expt = await set.expt(frames);
  const work = mkdtempSync(join(tmpdir(), 'diffract-bench-integrate-'));
  const timingsFile = join(work, 'timings.json');
  const args = [...caps.entry, '--backend', backend, '-q'];
  if (caps.threadsFlag) args.push('--threads', String(threads));
  args.push('integrate', expt, '--out', join(work, 'out.h5'));
  if (!filter) args.push('--no-filter');
  if (caps.timingsFlag) args.push('--timings', timingsFile);
  args.push(...extra);
  const pixelFrames = set.width * set.height * frames;
  try {
    const m = await measureProcess(process.execPath, args, { env: childEnv(threads) });
    let timings: IntegrateTimings | null = null;
    try {
      const parsed: unknown = JSON.parse(readFileSync(timingsFile, 'utf8'));
      if (isTimings(parsed)) timings = parsed;
    } catch {
      // no timings file: this build has no --timings
    }
    const peaks = [m.peakRssBytes, timings?.peakRssBytes ?? null].filter((v): v is number => v !== null);
    const out = join(work, 'out.h5');
    const outBytes = existsSync(out) ? statSync(out).size : null;
    const run: Run = { set: label, filter, threads, backend, frames, pixelFrames, wallSeconds: m.wallSeconds, cpuSeconds: m.cpuSeconds, peakRssBytes: peaks.length > 0 ? Math.max(...peaks) : null, timings, outBytes };
    if (m.code !== 0) run.error = (m.stderr.trim().split('\n').pop() ?? '').slice(0, 200) || `exit code ${m.code}`;
    return run;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

const us = (seconds: number, pixelFrames: number): number => (seconds * 1e6) / pixelFrames;
const fmtUs = (v: number | undefined): string => (v === undefined ? '–' : v.toPrecision(2));
const mib = (b: number | null): string => (b === null ? '–' : `${(b / MIB).toFixed(0)} MiB`);
const cpuWord = (s: number | null): string => (s === null ? '–' : `${s.toFixed(1)} s`);
const threadWord = (n: number): string => `${n} thread${n === 1 ? '' : 's'}`;
const filterWord = (filter: boolean): string => (filter ? 'filter' : 'no filter');

function runRow(r: Run, baseline: Run | undefined): BenchRow {
  const phases = PHASES.map((k) => `${k.replace('_s', '')} ${fmtUs(r.timings === null ? undefined : us(r.timings.phases[k], r.pixelFrames))}`).join(' · ');
  const notes = [`${r.wallSeconds.toFixed(1)} s, CPU ${cpuWord(r.cpuSeconds)}`, phases, `peak RSS ${mib(r.peakRssBytes)}`];
  if (baseline !== undefined && baseline !== r && baseline.error === undefined) notes.push(`${(baseline.wallSeconds / r.wallSeconds).toFixed(2)}× the 1-thread speed`);
  if (r.timings !== null && r.timings.threads !== r.threads) notes.push(`the child ran ${threadWord(r.timings.threads)}`);
  if (r.error !== undefined) notes.push(`FAILED: ${r.error}`);
  return {
    section: SECTION,
    name: `${r.set} × ${r.frames}, ${filterWord(r.filter)}, ${threadWord(r.threads)}${r.backend === 'gpu' ? ', --backend gpu' : ''}`,
    backend: r.backend,
    value: r.error === undefined ? us(r.wallSeconds, r.pixelFrames) : Number.NaN,
    unit: 'µs/pixel·frame',
    note: notes.join('; '),
  };
}

/** √S scaling of a side below size 1 (multiples of 8), the side itself above. */
const scaledSide = (side: number, size: number): number => (size >= 1 ? side : Math.max(64, Math.round((side * Math.sqrt(size)) / 8) * 8));
const scaledFrames = (frames: number, size: number): number => Math.max(4, Math.round(frames * (size >= 1 ? size : Math.sqrt(size))));

function layouts(size: number): { square: FrameSetLayout; pilatus: FrameSetLayout } {
  const side = scaledSide(1024, size);
  const f = size >= 1 ? 1 : Math.sqrt(size);
  const modules = { ...PILATUS_6M_MODULES, nx: Math.max(1, Math.round(5 * f)), ny: Math.max(1, Math.round(12 * f)) };
  return {
    square: { name: `square${side}`, modules: squareModules(side), frames: scaledFrames(50, size), widthDeg: 0.1 },
    pilatus: { name: `pilatus${modules.nx}x${modules.ny}`, modules, frames: scaledFrames(20, size), widthDeg: 0.2 },
  };
}

const log = (line: string): void => console.error(`bench: ${SECTION}: ${line}`);

async function throughput(caps: Capabilities, size: number): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const all = availableParallelism();
  const threadCounts = [...new Set([1, 2, all])].sort((a, b) => a - b);
  const { square, pilatus } = layouts(size);
  for (const layout of [square, pilatus]) {
    const set = await ensureFrameSet(CACHE, layout, log);
    const label = layout === pilatus && layout.modules.nx === 5 && layout.modules.ny === 12 ? `Pilatus 6M ${set.width}×${set.height}` : `${set.width}×${set.height}`;
    if (set.generatedSeconds > 0) log(`generated in ${set.generatedSeconds.toFixed(1)} s`);
    warmPageCache(set);
    const wallAt = new Map<string, Run>();
    for (const filter of [false, true]) {
      let baseline: Run | undefined;
      for (const threads of threadCounts) {
        log(`${label} × ${layout.frames}, ${filterWord(filter)}, ${threadWord(threads)} …`);
        const r = await integrateOnce(caps, set, label, layout.frames, filter, threads, 'cpu');
        baseline ??= r;
        wallAt.set(`${filter}/${threads}`, r);
        rows.push(runRow(r, baseline));
      }
    }
    for (const threads of threadCounts) {
      const a = wallAt.get(`false/${threads}`);
      const b = wallAt.get(`true/${threads}`);
      if (a?.error === undefined && b?.error === undefined && a !== undefined && b !== undefined) {
        rows.push({ section: SECTION, name: `${label} × ${layout.frames}, ${threadWord(threads)}: filter / no filter`, backend: 'host', value: b.wallSeconds / a.wallSeconds, unit: '× time' });
      }
    }
    if (adapter !== null && !(adapter.software && layout === pilatus)) {
      for (const filter of [false, true]) {
        log(`${label} × ${layout.frames}, ${filterWord(filter)}, GPU …`);
        const g = await integrateOnce(caps, set, label, layout.frames, filter, all, 'gpu');
        rows.push(runRow(g, undefined));
        const c = wallAt.get(`${filter}/${all}`);
        if (g.error === undefined && c !== undefined && c.error === undefined) {
          rows.push({ section: SECTION, name: `${label} × ${layout.frames}, ${filterWord(filter)}: GPU / CPU speed (${threadWord(all)})`, backend: 'host', value: c.wallSeconds / g.wallSeconds, unit: '×', note: adapter.name });
        }
      }
    }
  }
  return rows;
}

/** Frames per wedge of the memory part: 20 frames are two whole wedges. */
const MEMORY_WEDGE_FRAMES = 10;

async function memory(caps: Capabilities, size: number): Promise<BenchRow[]> {
  const side = scaledSide(1024, size);
  const counts = [20, 200];
  const set = await ensureFrameSet(CACHE, { name: `square${side}`, modules: squareModules(side), frames: Math.max(...counts), widthDeg: 0.1 }, log);
  warmPageCache(set);
  const rows: BenchRow[] = [];
  for (const threads of [...new Set([1, availableParallelism()])]) {
    const runs: Run[] = [];
    for (const frames of counts) {
      log(`memory: ${side}×${side} × ${frames}, no filter, ${threadWord(threads)}, wedges of ${MEMORY_WEDGE_FRAMES} frames …`);
      runs.push(await integrateOnce(caps, set, `${side}×${side}`, frames, false, threads, 'cpu', ['--wedge-frames', String(MEMORY_WEDGE_FRAMES)]));
    }
    for (const r of runs) {
      rows.push({
        section: SECTION,
        name: `peak RSS, ${r.set} × ${r.frames}, no filter, ${threadWord(r.threads)}, wedges of ${MEMORY_WEDGE_FRAMES}`,
        backend: 'cpu',
        value: r.peakRssBytes === null || r.error !== undefined ? Number.NaN : r.peakRssBytes / MIB,
        unit: 'MiB',
        note: `output file ${r.outBytes === null ? '–' : `${(r.outBytes / MIB).toFixed(1)} MiB`}; ${r.wallSeconds.toFixed(1)} s, CPU ${cpuWord(r.cpuSeconds)}, ${fmtUs(us(r.wallSeconds, r.pixelFrames))} µs/pixel·frame${r.error !== undefined ? `; FAILED: ${r.error}` : ''}`,
      });
    }
    const [a, b] = runs;
    if (a?.peakRssBytes != null && b?.peakRssBytes != null && a.error === undefined && b.error === undefined) {
      const outGrowth = a.outBytes !== null && b.outBytes !== null ? `; peak grew ${((b.peakRssBytes - a.peakRssBytes) / MIB).toFixed(0)} MiB, the output ${((b.outBytes - a.outBytes) / MIB).toFixed(0)} MiB` : '';
      rows.push({ section: SECTION, name: `peak RSS ${b.frames} frames / ${a.frames} frames, ${threadWord(threads)}`, backend: 'host', value: b.peakRssBytes / a.peakRssBytes, unit: '×', note: `flat in the frame count: ≈ 1${outGrowth}` });
    }
  }
  return rows;
}

export const integrateThroughputSection: BenchSection = {
  name: SECTION,
  // the runs are child processes started after the bench's device is gone; here only the adapter is noted
  gpu(ctx: GpuContext) {
    adapter = { name: ctx.name, software: softwareAdapterReason(ctx.adapter) !== null };
    return Promise.resolve([]);
  },
  async cpu(size: number) {
    const parts = (benchArg('--parts') ?? 'throughput,memory').split(',');
    const load = loadavg()[0] ?? 0;
    const caps = await capabilities(benchArg('--cli') ?? 'dist');
    const rows: BenchRow[] = [
      { section: SECTION, name: `load average before the runs (${availableParallelism()} cores)`, backend: 'host', value: load, unit: '', note: `command: ${caps.entry.map((e) => e.replace(REPO, '')).join(' ')}${caps.threadsFlag ? '' : '; this build has no --threads: DIFFRACT_THREADS set'}${caps.timingsFlag ? '' : '; no --timings: phases –'}` },
      ...(await startupRows()),
    ];
    if (parts.includes('throughput')) rows.push(...(await throughput(caps, size)));
    if (parts.includes('memory')) rows.push(...(await memory(caps, size)));
    return rows;
  },
};
