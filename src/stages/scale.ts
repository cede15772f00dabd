/**
 * Stage `scale`: relative scaling of corrected voxel observations (mdx2 model
 * a·d·(b·I_v + c), docs/scale.md). The model is fitted on one observation
 * table (`table`, default `diffuse`) and the same model is applied to it and
 * to the `bragg` table. The stage file (stage `scale`): the scaled tables,
 * the model groups `scale_a`, `scale_b`, `scale_c`, `scale_d`, the `history`
 * of the refinement and `scale_rejected` (the outlier flags of the fitted
 * table's rows).
 */
import { observationsOf, type StageFile, type StageFileContent } from '../io/observation-file.ts';
import type { ObservationTable } from '../pipeline/observations.ts';
import { historyGroup } from '../scaling/history.ts';
import { applyScaleModel, chi2ConcentrationWarning, scaleModelGroups, scaleObservations, SCALE_STAGES, type ScaleStage, type ScalingOptions } from '../scaling/index.ts';
import type { StageContext } from './context.ts';
import { checkInt, checkOneOf, checkPositive, checkRange, SettingError } from './settings-check.ts';
import type { Stage } from './stage.ts';

export interface ScaleSettings {
  /** observation table the model is fitted on */
  table: string;
  /** refinement stages in order, from SCALE_STAGES */
  stages: ScaleStage[];
  /** spacing of the b(φ) control points, degrees */
  bStepDeg: number;
  /** a(x, y, φ) nodes [nx, ny, nphi]; null: 9, 9 and one every 15° */
  aGrid: [number, number, number] | null;
  /** c(|s|, φ) nodes [ns, nphi]; null: 12 and one every 15° */
  cGrid: [number, number] | null;
  dMode: 'panel' | 'map';
  /** d map nodes per panel [nx, ny] (dMode map); null: 9, 9 */
  dGrid: [number, number] | null;
  /** outlier cut-offs in σ after each stage; the last repeats */
  outlier: number[];
  maxIterations: number;
  tolerance: number;
}

export const SCALE_DEFAULTS: ScaleSettings = {
  table: 'diffuse',
  stages: [...SCALE_STAGES],
  bStepDeg: 1,
  aGrid: null,
  cGrid: null,
  dMode: 'panel',
  dGrid: null,
  outlier: [10, 5],
  maxIterations: 10,
  tolerance: 1e-4,
};

export interface ScaleInputs {
  /** a stage file of stage 'correct' or 'combine' */
  file: StageFile;
  /** its path (messages and the `input` attribute) */
  path: string;
}

export interface ScaleSummary {
  table: string;
  observations: number;
  voxels: number;
  rejected: number;
  chi2: number | null;
  iterations: number;
  parameters: ReturnType<typeof scaleObservations>['stats']['parameters'];
  seconds: number;
  scaledTables: string[];
}

export type ScaleHistory = ReturnType<typeof scaleObservations>['history'];

export interface ScaleResult {
  content: StageFileContent;
  /** the scaled tables by name */
  scaled: Record<string, ObservationTable>;
  history: ScaleHistory;
  summary: ScaleSummary;
}

function gridCheck(v: readonly number[] | null, n: number, setting: string): void {
  if (v !== null && (v.length !== n || !v.every((x) => Number.isInteger(x) && x >= 2))) throw new SettingError(setting, `must be ${n} integers ≥ 2`, v);
}

/** The scaling library's options from the settings (checked; errors name the setting). */
export function scalingOptions(s: ScaleSettings): ScalingOptions {
  if (s.stages.length === 0) throw new SettingError('stages', `takes ${SCALE_STAGES.join(', ')}`, s.stages);
  for (const st of s.stages) checkOneOf(st, 'stages', SCALE_STAGES);
  if (s.outlier.length === 0) throw new SettingError('outlier', 'must be positive numbers', s.outlier);
  for (const o of s.outlier) checkPositive(o, 'outlier');
  checkOneOf(s.dMode, 'dMode', ['panel', 'map'] as const);
  checkInt(s.maxIterations, 'maxIterations', 1);
  checkRange(s.tolerance, 'tolerance', 0, Number.MAX_VALUE, 'a number ≥ 0');
  gridCheck(s.aGrid, 3, 'aGrid');
  gridCheck(s.cGrid, 2, 'cGrid');
  gridCheck(s.dGrid, 2, 'dGrid');
  const opts: ScalingOptions = { stages: s.stages, outlier: s.outlier, maxIterations: s.maxIterations, tolerance: s.tolerance, b: { stepDeg: checkPositive(s.bStepDeg, 'bStepDeg') }, d: { mode: s.dMode } };
  if (s.aGrid !== null) opts.a = { nx: s.aGrid[0], ny: s.aGrid[1], nphi: s.aGrid[2] };
  if (s.cGrid !== null) opts.c = { ns: s.cGrid[0], nphi: s.cGrid[1] };
  if (s.dGrid !== null) opts.d = { mode: s.dMode, nx: s.dGrid[0], ny: s.dGrid[1] };
  return opts;
}

async function run(ctx: StageContext, inputs: ScaleInputs, s: ScaleSettings): Promise<ScaleResult> {
  const opts = scalingOptions(s);
  const { file: sf, path: input } = inputs;
  if (sf.stage !== 'correct' && sf.stage !== 'combine') ctx.log.log('warn', `${input} is a '${sf.stage}' stage file, not 'correct'; scaling its table '${s.table}' anyway`);
  const obs = observationsOf(sf, s.table, input);
  const others: Record<string, ObservationTable> = {};
  for (const name of ['diffuse', 'bragg']) if (name !== s.table && sf.groups.has(name)) others[name] = observationsOf(sf, name, input);
  const t0 = performance.now();
  const result = scaleObservations(obs, sf.meta, opts, {
    onIteration: (it) =>
      ctx.log.log(
        'info',
        `scale: stage ${it.stage} iteration ${it.iteration}: chi2 ${it.chi2.toFixed(5)}, ${it.used} observations used, ${it.rejected} rejected (${it.fits.map((f) => `${f.name} ${f.seconds.toFixed(2)} s`).join(', ')})`,
        { stage: it.stage, iteration: it.iteration, chi2: it.chi2, rejected: it.rejected, used: it.used },
      ),
    onStage: (st) => ctx.log.log('info', `scale: stage ${st.stage}: ${st.rejected} outliers beyond ${st.cutoff} sigma`, { stage: st.stage, rejected: st.rejected, cutoff: st.cutoff }),
  });
  const seconds = (performance.now() - t0) / 1000;
  const concentration = result.stats.chi2Concentration;
  const warning = chi2ConcentrationWarning(concentration);
  if (warning !== null) ctx.log.log('warn', warning, { top: concentration.top, voxels: concentration.voxels, share: concentration.share });
  const scaled: Record<string, ObservationTable> = { [s.table]: applyScaleModel(obs, result.model) };
  for (const [name, t] of Object.entries(others)) scaled[name] = applyScaleModel(t, result.model);
  const h = result.history;
  const last = h[h.length - 1];
  let rejected = 0;
  for (let i = 0; i < result.rejected.length; i++) rejected += result.rejected[i]!;
  const content: StageFileContent = {
    stage: 'scale',
    meta: sf.meta,
    attrs: {
      command: 'scale',
      input,
      table: s.table,
      stages: (opts.stages ?? SCALE_STAGES).join(','),
      outlier: (opts.outlier ?? []).join(','),
      d_mode: s.dMode,
      iterations: h.length,
      chi2: last?.chi2 ?? Number.NaN,
      rejected,
      observations: result.stats.observations,
      voxels: result.stats.voxels,
      chi2_top1pct_share: concentration.share,
      scaled: 'I = (I_obs/(a*d) - c)/b, sigma = sigma_obs/|a*d*b| (docs/scale.md)',
    },
    observations: scaled,
    groups: {
      ...scaleModelGroups(result.model),
      history: historyGroup(h),
      scale_rejected: { columns: { rejected: result.rejected }, attrs: { table: s.table, meaning: '1 = rejected as an outlier by the last stage' } },
    },
  };
  const summary: ScaleSummary = {
    table: s.table,
    observations: result.stats.observations,
    voxels: result.stats.voxels,
    rejected,
    chi2: last?.chi2 ?? null,
    iterations: h.length,
    parameters: result.stats.parameters,
    seconds,
    scaledTables: Object.keys(scaled),
  };
  return { content, scaled, history: h, summary };
}

export const scaleStage: Stage<ScaleInputs, ScaleSettings, ScaleResult> = { name: 'scale', defaults: SCALE_DEFAULTS, run };
