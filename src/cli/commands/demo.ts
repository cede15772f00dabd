/**
 * `diffract demo`: the main job on embedded synthetic data. Simulates a
 * two-sweep rotation data set with known truth (the same crystal, remounted
 * 90° about the vertical axis between sweeps; intensities in electron units
 * with a frame drift b(φ), an absorption pattern a(x, y) and an offset c to
 * undo), writes a run config for it, runs the whole pipeline through
 * `runPipeline` (the engine of `diffract run`) and prints how well the result
 * recovers the truth: map correlation, scale-function errors and the error of
 * the absolute scale. Outputs: the simulated data under `data/`, the config
 * `diffract.yaml`, and the run's results (map.nxs, map.ccp4, PNG slices,
 * report.html) in the output folder.
 *
 * Sizes: small (default; 2 × 45 frames of 397 × 397 px, a few minutes on two
 * CPU cores), tiny (2 × 24 frames, for tests), medium and large (bigger
 * detectors and more frames, for benchmarks).
 *
 * `--kind stills` runs the serial-stills demo instead (demo-stills.ts).
 */
import { mkdirSync, readdirSync, utimesSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { stringify } from 'yaml';
import { UsageError } from '../../errors.ts';
import { rotationAbout, mulMM } from '../../geometry/linalg.ts';
import type { Mat3 } from '../../geometry/model.ts';
import { mergedOf, observationsOf, readStageFile } from '../../io/observation-file.ts';
import { selectObservations } from '../../pipeline/observations.ts';
import { readScaleModel } from '../../scaling/index.ts';
import { mapRecovery, scaleRecovery } from '../../sim/recovery.ts';
import { simulate } from '../../sim/simulate.ts';
import { electronUnitSpec, reciprocalMetric, type SimSize, type SimulationSpec } from '../../sim/spec.ts';
import { loadRunConfig } from '../../run/config.ts';
import { runPipeline, type RunSummary } from '../../run/runner.ts';
import { log, setLogMode } from '../../util/log.ts';
import { globalOptions } from '../engine-options.ts';
import { CLI_LOGGER, CLI_PROGRESS } from '../stage-context.ts';
import type { CommandSpec } from '../command-spec.ts';
import { buildReport, summaryLines } from './run.ts';
import { runStillsDemo, STILLS_DEMO_SIZES, stillsDemoLines, type StillsDemoSize } from './demo-stills.ts';
import { readFileSync } from 'node:fs';

export const DEMO_SIZES = ['tiny', 'small', 'medium', 'large'] as const;
export const DEMO_KINDS = ['rotation', 'stills'] as const;
export type DemoSize = (typeof DEMO_SIZES)[number];

/** The composition the electron-unit simulation uses (src/sim/spec.ts electronUnitSpec). */
export const DEMO_COMPOSITION = 'C1650 H5642 N450 O2021 S12';

/** The recovery figures against the truth. */
export interface DemoRecovery {
  /** Pearson r of the final map with the true diffuse map (voxels with ≥ 3 observations) */
  mapR: number;
  mapVoxels: number;
  /** Σ I·T / Σ T²: 1 when the absolute scale is exact */
  absoluteSlope: number;
  /** median I/T */
  absoluteMedianRatio: number;
  /** |slope − 1| */
  absoluteError: number;
  /** per sweep: RMS relative error of b(φ) and of a(x, y)·d */
  scale: { sweep: string; bRms: number; aRms: number; observations: number }[];
}

export interface DemoSummary {
  outDir: string;
  size: DemoSize;
  sweeps: number;
  framesPerSweep: number;
  simulateSeconds: number;
  run: RunSummary;
  recovery: DemoRecovery;
}

/** The specs of the demo's sweeps: one crystal, the second sweep remounted 90° about the lab y axis. */
/** The modification time given to the simulated files (2026-01-01T00:00:00Z + seed seconds). */
const DEMO_EPOCH_S = Date.UTC(2026, 0, 1) / 1000;

/**
 * Sets every file under `dir` to one modification time: the run's checkpoint
 * keys (file name, size, mtime) and the date stamped into the maps then depend
 * on the seed alone, so the same seed gives byte-identical map files.
 */
function pinTimes(dir: string, seconds: number): void {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) pinTimes(p, seconds);
    else utimesSync(p, seconds, seconds);
  }
}

export function demoSpecs(size: DemoSize, seed: number): SimulationSpec[] {
  const base = electronUnitSpec(size === 'tiny' ? 'small' : (size as SimSize), seed);
  const frames = size === 'tiny' ? 24 : Math.round(base.scan.frames / 2);
  const widthDeg = size === 'tiny' ? 3.75 : base.scan.widthDeg;
  const remount = rotationAbout([0, 1, 0], Math.PI / 2);
  return [0, 1].map((i) => ({
    ...base,
    prefix: 'sim',
    crystal: { ...base.crystal, U: i === 0 ? base.crystal.U : (mulMM(remount, base.crystal.U) as Mat3) },
    scan: { ...base.scan, frames, widthDeg, startDeg: 0 },
    model: {
      ...base.model,
      frameScale: { amplitude: base.model.frameScale.amplitude, periodFrames: Math.max(4, Math.round(frames * 1.6)), phaseDeg: i === 0 ? 30 : 150 },
    },
  }));
}

/** The run config of the demo (YAML text), paths relative to the output folder. */
export function demoConfig(sweeps: number): string {
  const doc = {
    output: '.',
    sweeps: Array.from({ length: sweeps }, (_v, i) => ({ name: `sweep${i + 1}`, expt: `data/sweep${i + 1}/sim.expt` })),
    filter: { max_count: 50 },
    absolute: { composition: DEMO_COMPOSITION },
  };
  return `# diffract run config written by 'diffract demo' (see 'diffract init' for every key)\n${stringify(doc)}`;
}

/** Compares the run's results with the truth of the simulation. */
export async function demoRecovery(specs: readonly SimulationSpec[], A: Mat3, run: RunSummary): Promise<DemoRecovery> {
  const spec = specs[0]!;
  const finalFile = run.stageFiles.absolute ?? run.stageFiles.merge!;
  const fin = await readStageFile(finalFile);
  const map = mapRecovery(spec, A, reciprocalMetric(A), mergedOf(fin, 'diffuse', finalFile), fin.meta.ndiv, 3);
  const scaled = await readStageFile(run.stageFiles.scale!);
  const combined = await readStageFile(run.stageFiles.combine!);
  const model = readScaleModel(scaled);
  const obs = observationsOf(combined, 'diffuse', run.stageFiles.combine!);
  const scale = specs.map((sp, i) => {
    const rows: number[] = [];
    for (let r = 0; r < obs.sweep.length; r++) if (obs.sweep[r] === i) rows.push(r);
    const rec = scaleRecovery(sp, model, selectObservations(obs, rows));
    return { sweep: `sweep${i + 1}`, bRms: rec.bRms, aRms: rec.aRms, observations: rec.observations };
  });
  return { mapR: map.r, mapVoxels: map.voxels, absoluteSlope: map.slope, absoluteMedianRatio: map.medianRatio, absoluteError: Math.abs(map.slope - 1), scale };
}

export function recoveryLines(r: DemoRecovery): string[] {
  const pct = (x: number): string => `${(100 * x).toFixed(2)} %`;
  return [
    'recovery against the truth:',
    `  map correlation with the true diffuse map: r = ${r.mapR.toFixed(4)} over ${r.mapVoxels} voxels`,
    `  absolute scale: slope ${r.absoluteSlope.toFixed(4)} (error ${pct(r.absoluteError)}), median ratio ${r.absoluteMedianRatio.toFixed(4)}`,
    ...r.scale.map((s) => `  ${s.sweep}: b(φ) RMS error ${pct(s.bRms)}, a(x, y) RMS error ${pct(s.aRms)} over ${s.observations} observations`),
  ];
}

export const demoCommand: CommandSpec = {
  name: 'demo',
  register(program) {
    program
      .command('demo')
      .description('simulate a two-sweep data set (or, with --kind stills, a serial stills data set) with known truth, run the whole pipeline on it, and print how well the map, the scales and the absolute scale are recovered')
      .option('--out <dir>', 'output folder', 'diffract-demo')
      .option('--size <size>', `dataset size: ${DEMO_SIZES.join(' | ')}`, 'small')
      .option('--seed <n>', 'random seed', '1')
      .option('--kind <kind>', `what to simulate and run: ${DEMO_KINDS.join(' | ')} (stills: serial stills, docs/simulate.md)`, 'rotation')
      .option('--shots <n>', `with --kind stills: number of shots (default: that of the size: ${Object.entries(STILLS_DEMO_SIZES).map(([k, v]) => `${k} ${v.shots}`).join(', ')})`)
      .option('--json', 'log lines as JSON on stderr, the summary as JSON on stdout')
      .action(async (opts: { out: string; size: string; seed: string; kind: string; shots?: string; json?: boolean }, cmd: Command) => {
        const g = globalOptions(cmd);
        if (opts.json === true && g.quiet !== true) setLogMode('json');
        if (!(DEMO_SIZES as readonly string[]).includes(opts.size)) throw new UsageError(`--size must be one of ${DEMO_SIZES.join(', ')}, got '${opts.size}'`, { field: '--size' });
        if (!/^\d+$/.test(opts.seed) || Number(opts.seed) > 0xffffffff) throw new UsageError(`--seed must be an integer in 0…4294967295, got '${opts.seed}'`, { field: '--seed' });
        if (!(DEMO_KINDS as readonly string[]).includes(opts.kind)) throw new UsageError(`--kind must be one of ${DEMO_KINDS.join(', ')}, got '${opts.kind}'`, { field: '--kind' });
        if (opts.kind === 'stills') {
          let shots: number | null = null;
          if (opts.shots !== undefined) {
            shots = Number(opts.shots);
            if (!/^\d+$/.test(opts.shots) || !(shots >= 2 && shots <= 999999)) throw new UsageError(`--shots must be an integer in 2…999999, got '${opts.shots}'`, { field: '--shots' });
          }
          const seed = Number(opts.seed);
          const summary = await runStillsDemo({ outDir: opts.out, size: opts.size as StillsDemoSize, shots, seed, pinTimes: (dir) => pinTimes(dir, DEMO_EPOCH_S + seed) }, g);
          process.stdout.write(opts.json === true ? `${JSON.stringify(summary)}\n` : `${stillsDemoLines(summary, seed).join('\n')}\n`);
          return;
        }
        if (opts.shots !== undefined) throw new UsageError('--shots needs --kind stills', { field: '--shots' });
        const size = opts.size as DemoSize;
        const outDir = resolve(opts.out);
        mkdirSync(join(outDir, 'data'), { recursive: true });
        const specs = demoSpecs(size, Number(opts.seed));
        const t0 = performance.now();
        let A: Mat3 | undefined;
        for (let i = 0; i < specs.length; i++) {
          const spec = specs[i]!;
          const dir = join(outDir, 'data', `sweep${i + 1}`);
          log('info', `demo: simulating sweep ${i + 1} of ${specs.length} (${spec.scan.frames} frames of ${spec.scan.widthDeg}°) into ${dir}`);
          const r = await simulate(spec, dir);
          if (i === 0) A = (JSON.parse(readFileSync(r.truth, 'utf8')) as { A: Mat3 }).A;
        }
        const simulateSeconds = (performance.now() - t0) / 1000;
        pinTimes(join(outDir, 'data'), DEMO_EPOCH_S + Number(opts.seed));
        const configPath = join(outDir, 'diffract.yaml');
        writeFileSync(configPath, demoConfig(specs.length));
        const cfg = await loadRunConfig(configPath);
        log('info', `demo: running the pipeline (config ${configPath})`);
        const run = await runPipeline(cfg, { backend: g.backend, ...(g.debugGpu === true ? { debugGpu: true } : {}), report: buildReport, log: CLI_LOGGER, progress: CLI_PROGRESS });
        const recovery = await demoRecovery(specs, A!, run);
        const summary: DemoSummary = { outDir, size, sweeps: specs.length, framesPerSweep: specs[0]!.scan.frames, simulateSeconds, run, recovery };
        writeFileSync(join(outDir, 'summary.json'), `${JSON.stringify(summary, null, 1)}\n`);
        if (opts.json === true) {
          process.stdout.write(`${JSON.stringify(summary)}\n`);
          return;
        }
        process.stdout.write(
          [
            `diffract demo (${size}, seed ${opts.seed}): ${specs.length} sweeps × ${specs[0]!.scan.frames} frames simulated in ${simulateSeconds.toFixed(1)} s`,
            ...summaryLines(run),
            ...recoveryLines(recovery),
          ].join('\n') + '\n',
        );
      });
  },
};
