/**
 * `diffract demo --kind stills`: simulates a serial (stills) dataset with known
 * truth (`diffract simulate --stills`, src/sim/stills/), writes a stills run
 * config for it (`stills:` section, docs/run-config.md), runs it through
 * `runPipeline` (the engine of `diffract run`) and prints the recovery figures
 * (src/sim/stills-recovery.ts): map r against the truth, per-shot scale RMS
 * after the overall factor, absolute-scale error, Bragg photons removed by the
 * masks and the masked fraction per shot.
 *
 * Sizes (all 256² shots): tiny (500 shots, the acceptance test's size), small
 * (1000, the default), medium (3000), large (5000); `--shots` overrides the count.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { stringify } from 'yaml';
import { loadRunConfig } from '../../run/config.ts';
import { runPipeline, type RunSummary } from '../../run/runner.ts';
import { readStillsTruth, stillsRecoveryLines, stillsRunRecovery, type StillsRecovery } from '../../sim/stills-recovery.ts';
import { simulateStills, STILLS_FILES } from '../../sim/stills/simulate.ts';
import { stillsSpec } from '../../sim/stills/spec.ts';
import { compositionOf } from '../../sim/electron-units.ts';
import { formatComposition } from '../../scattering/composition.ts';
import { log } from '../../util/log.ts';
import type { GlobalOptions } from '../engine-options.ts';
import { CLI_LOGGER, CLI_PROGRESS } from '../stage-context.ts';
import { buildReport, summaryLines } from './run.ts';

export const STILLS_DEMO_SIZES = {
  tiny: { shots: 500, size: 256 },
  small: { shots: 1000, size: 256 },
  medium: { shots: 3000, size: 256 },
  large: { shots: 5000, size: 256 },
} as const;
export type StillsDemoSize = keyof typeof STILLS_DEMO_SIZES;

/** Shots whose masks the demo checks against the simulated Bragg photons. */
export const STILLS_DEMO_MASK_SHOTS = 50;

/** The composition of the simulated crystal (src/sim/spec.ts electronUnitSpec), as the absolute stage reads it. */
export const STILLS_DEMO_COMPOSITION = formatComposition(compositionOf(stillsSpec({ shots: 1 }).base.model.electronUnits!));

export interface StillsDemoSummary {
  kind: 'stills';
  outDir: string;
  size: StillsDemoSize;
  shots: number;
  pixels: number;
  simulateSeconds: number;
  run: RunSummary;
  recovery: StillsRecovery;
}

/** The run config of the stills demo (YAML text), paths relative to the output folder. */
export function stillsDemoConfig(ndiv: readonly [number, number, number]): string {
  const doc = {
    output: '.',
    stills: {
      expt: `data/${STILLS_FILES.expt}`,
      refl: `data/${STILLS_FILES.refl}`,
      p_order: { csv: `data/${STILLS_FILES.pulse}`, column: 'pulse_energy', key: 'shot' },
      partiality: { model: 'gaussian', threshold: 0.3 },
      bragg_intensity: 'sum',
    },
    grid: { ndiv: [...ndiv] },
    absolute: { composition: STILLS_DEMO_COMPOSITION },
  };
  return `# diffract run config written by 'diffract demo --kind stills' (see 'diffract init --stills' for every key)\n${stringify(doc)}`;
}

export async function runStillsDemo(opts: { outDir: string; size: StillsDemoSize; shots: number | null; seed: number; pinTimes: (dir: string) => void }, g: GlobalOptions): Promise<StillsDemoSummary> {
  const outDir = resolve(opts.outDir);
  const dataDir = join(outDir, 'data');
  mkdirSync(dataDir, { recursive: true });
  const size = STILLS_DEMO_SIZES[opts.size];
  const shots = opts.shots ?? size.shots;
  const spec = stillsSpec({ shots, size: size.size, seed: opts.seed });
  log('info', `demo: simulating ${shots} stills of ${size.size}×${size.size} px into ${dataDir}`);
  const t0 = performance.now();
  const sim = await simulateStills(spec, dataDir, {
    onShot: (shot) => {
      if ((shot.index + 1) % 100 === 0) log('info', `demo: ${shot.index + 1}/${shots} shots simulated`, { stage: 'simulate', done: shot.index + 1, total: shots });
    },
  });
  const simulateSeconds = (performance.now() - t0) / 1000;
  opts.pinTimes(dataDir);
  const configPath = join(outDir, 'diffract.yaml');
  writeFileSync(configPath, stillsDemoConfig([1, 1, 1]));
  const cfg = await loadRunConfig(configPath);
  log('info', `demo: running the stills pipeline (config ${configPath})`);
  const run = await runPipeline(cfg, { backend: g.backend, ...(g.debugGpu === true ? { debugGpu: true } : {}), report: buildReport, log: CLI_LOGGER, progress: CLI_PROGRESS });
  const truth = await readStillsTruth(sim.truth);
  const absolute = run.stageFiles.absolute;
  const merge = run.stageFiles.merge;
  if (merge === undefined && absolute === undefined) throw new Error('internal invariant failed: the stills run wrote no merge stage file');
  const recovery = await stillsRunRecovery(
    truth,
    { final: (absolute ?? merge) as string, absolute: absolute !== undefined, scale: run.stageFiles.scale ?? null },
    { expt: sim.expt, refl: sim.refl, maskShots: Math.min(shots, STILLS_DEMO_MASK_SHOTS) },
  );
  const summary: StillsDemoSummary = { kind: 'stills', outDir, size: opts.size, shots, pixels: size.size, simulateSeconds, run, recovery };
  writeFileSync(join(outDir, 'summary.json'), `${JSON.stringify(summary, null, 1)}\n`);
  return summary;
}

export function stillsDemoLines(s: StillsDemoSummary, seed: number): string[] {
  return [`diffract demo --kind stills (${s.size}, seed ${seed}): ${s.shots} stills of ${s.pixels}×${s.pixels} px simulated in ${s.simulateSeconds.toFixed(1)} s`, ...summaryLines(s.run), ...stillsRecoveryLines(s.recovery)];
}
