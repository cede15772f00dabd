/**
 * `diffract scale CORRECTED.h5 --out SCALED.h5`: relative scaling of the
 * corrected voxel observations (mdx2 model a·d·(b·I_v + c), docs/scale.md).
 * The model is fitted on one observation table (`--table`, default
 * `diffuse`) and the same model is applied to it and to the `bragg` table.
 * Writes a stage file (stage `scale`): the scaled tables, the model groups
 * `scale_a`, `scale_b`, `scale_c`, `scale_d`, the `history` of the refinement
 * and `scale_rejected` (the outlier flags of the fitted table's rows).
 */
import type { Command } from 'commander';
import { UsageError } from '../../errors.ts';
import { observationsOf, readStageFile, writeStageFile } from '../../io/observation-file.ts';
import type { ObservationTable } from '../../pipeline/observations.ts';
import { applyScaleModel, scaleModelGroups, scaleObservations, SCALE_STAGES, type ScaleStage, type ScalingOptions } from '../../scaling/index.ts';
import { log } from '../../util/log.ts';
import { globalOptions } from '../engine-options.ts';
import type { CommandSpec } from '../registry.ts';

export interface ScaleCliOptions {
  out: string;
  table: string;
  bStepDeg: string;
  aGrid?: string;
  cGrid?: string;
  dMode: string;
  dGrid?: string;
  stages: string;
  outlier: string;
  maxIterations: string;
  tolerance: string;
  json?: boolean;
}

function integers(text: string, count: number, field: string, min: number): number[] {
  const parts = text.split(',').map((s) => s.trim());
  if (parts.length !== count || parts.some((p) => !/^\d+$/.test(p) || Number(p) < min)) {
    throw new UsageError(`${field} expects ${count} comma-separated integers ≥ ${min}, got '${text}'`, { field });
  }
  return parts.map(Number);
}

function positiveNumber(text: string, field: string): number {
  const v = Number(text);
  if (text.trim() === '' || !Number.isFinite(v) || v <= 0) throw new UsageError(`${field} must be a positive number, got '${text}'`, { field });
  return v;
}

/** The scaling options from the command line (validated). */
export function scalingOptionsFromCli(o: ScaleCliOptions): ScalingOptions {
  const stages = o.stages.split(',').map((s) => s.trim()) as ScaleStage[];
  for (const s of stages) if (!SCALE_STAGES.includes(s)) throw new UsageError(`--stages takes ${SCALE_STAGES.join(', ')} (comma-separated), got '${s}'`, { field: '--stages' });
  const outlier = o.outlier.split(',').map((s) => positiveNumber(s, '--outlier'));
  if (o.dMode !== 'panel' && o.dMode !== 'map') throw new UsageError(`--d-mode must be panel or map, got '${o.dMode}'`, { field: '--d-mode' });
  const maxIterations = integers(o.maxIterations, 1, '--max-iterations', 1)[0]!;
  const tolerance = Number(o.tolerance);
  if (!Number.isFinite(tolerance) || tolerance < 0) throw new UsageError(`--tolerance must be a number ≥ 0, got '${o.tolerance}'`, { field: '--tolerance' });
  const opts: ScalingOptions = { stages, outlier, maxIterations, tolerance, b: { stepDeg: positiveNumber(o.bStepDeg, '--b-step-deg') }, d: { mode: o.dMode } };
  if (o.aGrid !== undefined) {
    const [nx, ny, nphi] = integers(o.aGrid, 3, '--a-grid', 2) as [number, number, number];
    opts.a = { nx, ny, nphi };
  }
  if (o.cGrid !== undefined) {
    const [ns, nphi] = integers(o.cGrid, 2, '--c-grid', 2) as [number, number];
    opts.c = { ns, nphi };
  }
  if (o.dGrid !== undefined) {
    const [nx, ny] = integers(o.dGrid, 2, '--d-grid', 2) as [number, number];
    opts.d = { mode: o.dMode, nx, ny };
  }
  return opts;
}

/** Runs `diffract scale` on a stage file (no printing); the summary and the refinement history. */
export async function runScale(input: string, o: ScaleCliOptions) {
  const opts = scalingOptionsFromCli(o);
  const sf = await readStageFile(input);
  if (sf.stage !== 'correct' && sf.stage !== 'combine') log('warn', `${input} is a '${sf.stage}' stage file, not 'correct'; scaling its table '${o.table}' anyway`);
  const obs = observationsOf(sf, o.table, input);
  const others: Record<string, ObservationTable> = {};
  for (const name of ['diffuse', 'bragg']) if (name !== o.table && sf.groups.has(name)) others[name] = observationsOf(sf, name, input);
  const t0 = performance.now();
  const result = scaleObservations(obs, sf.meta, opts, {
    onIteration: (it) =>
      log(
        'info',
        `scale: stage ${it.stage} iteration ${it.iteration}: chi2 ${it.chi2.toFixed(5)}, ${it.used} observations used, ${it.rejected} rejected (${it.fits.map((f) => `${f.name} ${f.seconds.toFixed(2)} s`).join(', ')})`,
        { stage: it.stage, iteration: it.iteration, chi2: it.chi2, rejected: it.rejected, used: it.used },
      ),
    onStage: (s) => log('info', `scale: stage ${s.stage}: ${s.rejected} outliers beyond ${s.cutoff} sigma`, { stage: s.stage, rejected: s.rejected, cutoff: s.cutoff }),
  });
  const seconds = (performance.now() - t0) / 1000;
  const scaled: Record<string, ObservationTable> = { [o.table]: applyScaleModel(obs, result.model) };
  for (const [name, t] of Object.entries(others)) scaled[name] = applyScaleModel(t, result.model);
  const stageCode = (s: ScaleStage): number => SCALE_STAGES.indexOf(s);
  const h = result.history;
  const last = h[h.length - 1];
  let rejected = 0;
  for (let i = 0; i < result.rejected.length; i++) rejected += result.rejected[i]!;
  await writeStageFile(o.out, {
    stage: 'scale',
    meta: sf.meta,
    attrs: {
      command: 'scale',
      input,
      table: o.table,
      stages: (opts.stages ?? SCALE_STAGES).join(','),
      outlier: (opts.outlier ?? []).join(','),
      d_mode: o.dMode,
      iterations: h.length,
      chi2: last?.chi2 ?? Number.NaN,
      rejected,
      observations: result.stats.observations,
      voxels: result.stats.voxels,
      scaled: 'I = (I_obs/(a*d) - c)/b, sigma = sigma_obs/|a*d*b| (docs/scale.md)',
    },
    observations: scaled,
    groups: {
      ...scaleModelGroups(result.model),
      history: {
        columns: {
          stage: Uint8Array.from(h, (e) => stageCode(e.stage)),
          iteration: Uint16Array.from(h, (e) => e.iteration),
          chi2: Float64Array.from(h, (e) => e.chi2),
          rejected: Uint32Array.from(h, (e) => e.rejected),
        },
        attrs: { stage_names: SCALE_STAGES.join(','), chi2: 'reduced chi2 per observation used, after the fit', rejected: 'rows rejected before this iteration' },
      },
      scale_rejected: { columns: { rejected: result.rejected }, attrs: { table: o.table, meaning: '1 = rejected as an outlier by the last stage' } },
    },
  });
  const summary = {
    out: o.out,
    table: o.table,
    observations: result.stats.observations,
    voxels: result.stats.voxels,
    rejected,
    chi2: last?.chi2 ?? null,
    iterations: h.length,
    parameters: result.stats.parameters,
    seconds,
    scaledTables: Object.keys(scaled),
  };
  return { summary, history: h };
}

export const scaleCommand: CommandSpec = {
  name: 'scale',
  register(program) {
    program
      .command('scale')
      .description('relative scaling (mdx2 model a(x,y,phi)·d·(b(phi)·I_v + c(|s|,phi))) of a corrected stage file; writes stage `scale`')
      .argument('<corrected>', "stage file of 'diffract correct' (observation tables diffuse and bragg)")
      .requiredOption('--out <file>', 'output stage file (written atomically)')
      .option('--table <name>', 'observation table the model is fitted on', 'diffuse')
      .option('--b-step-deg <deg>', 'spacing of the b(phi) control points', '1')
      .option('--a-grid <nx,ny,nphi>', 'a(x, y, phi) nodes along x, y and phi (default 9,9 and one every 15 deg)')
      .option('--c-grid <ns,nphi>', 'c(|s|, phi) nodes along |s| and phi (default 12 and one every 15 deg)')
      .option('--d-mode <mode>', 'd: panel (one factor per panel) | map (a smooth x, y map per panel)', 'panel')
      .option('--d-grid <nx,ny>', 'd map nodes per panel (with --d-mode map; default 9,9)')
      .option('--stages <list>', `refinement stages in order (${SCALE_STAGES.join(', ')})`, SCALE_STAGES.join(','))
      .option('--outlier <list>', 'outlier cut-offs in sigma after each stage; the last repeats', '10,5')
      .option('--max-iterations <n>', 'merge/fit iterations per stage at most', '10')
      .option('--tolerance <x>', 'a stage ends when the reduced chi2 falls by less than this', '1e-4')
      .option('--json', 'print the summary as JSON')
      .action(async (input: string, o: ScaleCliOptions, cmd: Command) => {
        globalOptions(cmd);
        const { summary, history: h } = await runScale(input, o);
        process.stdout.write(
          o.json
            ? `${JSON.stringify({ ...summary, history: h })}\n`
            : `scaled ${summary.observations} observations in ${summary.voxels} voxels (${h.length} iterations, chi2 ${summary.chi2?.toFixed(4) ?? '-'}, ${summary.rejected} outliers) in ${summary.seconds.toFixed(1)} s; tables ${summary.scaledTables.join(', ')}\nwrote ${o.out}\n`,
        );
      });
  },
};
