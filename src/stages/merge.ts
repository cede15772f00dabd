/**
 * Stage `merge`: weighted merging of scaled (or corrected) voxel observations
 * into one value per ASU subvoxel, with outlier rejection and CC½ between
 * random half data sets (docs/merge.md). Reads the observation tables
 * `diffuse` and (when present) `bragg` of a stage file of stage `scale`,
 * `correct` or `combine`; the stage file (stage `merge`) holds the merged
 * tables `diffuse`, `bragg` and the shell statistics `cchalf` (diffuse) and
 * `cchalf_bragg`.
 */
import { InvalidValueError } from '../errors.ts';
import { observationsOf, type StageFile, type StageFileContent } from '../io/observation-file.ts';
import { mergeObservations, MERGE_DEFAULTS, type HalfSplit, type MergeOptions, type MergeResult, type ShellStats } from '../merge/index.ts';
import type { MergedTable } from '../pipeline/observations.ts';
import type { StageContext } from './context.ts';
import { checkInt, checkOneOf, checkRange, SettingError } from './settings-check.ts';
import type { Stage } from './stage.ts';

export interface MergeSettings {
  /** reject the worst row of a voxel while its leave-one-out deviation exceeds this many σ (0: no rejection) */
  outlierSigma: number;
  /** rejection rounds (one row per voxel each) */
  rounds: number;
  /** seed of the random half-data-set split */
  halfSeed: number;
  halfSplit: HalfSplit;
  /** resolution shells (equal volume) for CC½ */
  shells: number;
  /** scale each merged σ by √(reduced χ²) where that exceeds 1 */
  inflateSigma: boolean;
}

/** The merge stage's defaults: the merging library's (src/merge/merge.ts). */
export { MERGE_DEFAULTS };

export interface MergeInputs {
  /** a stage file of stage 'scale', 'correct' or 'combine' */
  file: StageFile;
  /** its path (messages and the `input` attribute) */
  path: string;
}

export interface MergeStageResult {
  content: StageFileContent;
  /** the tables merged, in order (diffuse, then bragg when present) */
  names: string[];
  results: MergeResult[];
  backend: string;
  adapter: string;
}

const TABLES = ['diffuse', 'bragg'] as const;

export function validateMergeSettings(s: MergeSettings): void {
  checkRange(s.outlierSigma, 'outlierSigma', 0, Number.MAX_VALUE, 'a number ≥ 0');
  checkInt(s.rounds, 'rounds', 0);
  if (!Number.isSafeInteger(s.halfSeed)) throw new SettingError('halfSeed', 'must be an integer', s.halfSeed);
  checkInt(s.shells, 'shells', 1, 1000);
  checkOneOf(s.halfSplit, 'halfSplit', ['observation', 'batch'] as const);
}

function shellColumns(shells: readonly ShellStats[]): Record<string, Float64Array | Uint32Array> {
  return {
    s_min: Float64Array.from(shells, (s) => s.sMin),
    s_max: Float64Array.from(shells, (s) => s.sMax),
    n: Uint32Array.from(shells, (s) => s.n),
    cchalf: Float64Array.from(shells, (s) => s.cchalf),
    n_merged: Uint32Array.from(shells, (s) => s.nMerged),
    mean_i: Float64Array.from(shells, (s) => s.meanI),
    mean_sigma: Float64Array.from(shells, (s) => s.meanSigma),
    completeness: Float64Array.from(shells, (s) => s.completeness),
  };
}

/** The merging library's options from the settings. */
export function mergeOptions(s: MergeSettings): MergeOptions {
  return { outlierSigma: s.outlierSigma, rounds: s.rounds, halfSeed: s.halfSeed, halfSplit: s.halfSplit, shells: s.shells, inflateSigma: s.inflateSigma };
}

/** The root attributes of a merge stage file that describe the settings and the engine. */
export function mergeSettingsAttrs(s: MergeSettings, backend: string, adapter: string): Record<string, string | number> {
  return {
    backend,
    adapter,
    outlier_sigma: s.outlierSigma,
    rounds: s.rounds,
    half_seed: s.halfSeed,
    half_split: s.halfSplit,
    shells: s.shells,
    sigma: s.inflateSigma ? 'sigma = max(1, sqrt(chi2_nu)) / sqrt(sum w)' : 'sigma = 1 / sqrt(sum w)',
  };
}

/** Adds one merged table of a merge stage file: the table, its `cchalf` group (`cchalf_<name>` but for diffuse) and its counts in `attrs`. */
export function addMergedTable(
  name: string,
  r: Pick<MergeResult, 'merged' | 'shells' | 'overall' | 'stats'>,
  merged: Record<string, MergedTable>,
  groups: NonNullable<StageFileContent['groups']>,
  attrs: Record<string, string | number>,
): void {
  merged[name] = r.merged;
  groups[name === 'diffuse' ? 'cchalf' : `cchalf_${name}`] = {
    columns: shellColumns(r.shells),
    attrs: { table: name, cchalf_overall: r.overall.cchalf, n_overall: r.overall.n, completeness_overall: r.overall.completeness },
  };
  attrs[`${name}_observations`] = r.stats.observations;
  attrs[`${name}_invalid`] = r.stats.invalid;
  attrs[`${name}_rejected`] = r.stats.rejected;
  attrs[`${name}_voxels`] = r.stats.voxels;
  attrs[`${name}_cchalf`] = r.overall.cchalf;
}

async function run(ctx: StageContext, inputs: MergeInputs, s: MergeSettings): Promise<MergeStageResult> {
  validateMergeSettings(s);
  const { file: sf, path: input } = inputs;
  if (sf.stage !== 'scale' && sf.stage !== 'correct' && sf.stage !== 'combine') {
    throw new InvalidValueError(`is a '${sf.stage}' stage file; merge reads the output of 'scale' (or 'correct')`, { file: input, field: 'stage' });
  }
  const names = TABLES.filter((n) => n === 'diffuse' || sf.groups.has(n));
  const tables = names.map((n) => observationsOf(sf, n, input));
  const opts = mergeOptions(s);
  const results: MergeResult[] = [];
  for (let i = 0; i < names.length; i++) {
    const t0 = performance.now();
    const r = await mergeObservations(ctx.engine, tables[i]!, sf.meta, opts);
    ctx.log.log('info', `merge: ${names[i]}: ${r.stats.voxels} voxels from ${r.stats.observations} observations in ${((performance.now() - t0) / 1000).toFixed(2)} s (${r.stats.backend})`);
    results.push(r);
  }
  const backend = ctx.engine.backend;
  const adapter = ctx.engine.deviceName;
  const merged: Record<string, MergedTable> = {};
  const groups: NonNullable<StageFileContent['groups']> = {};
  const attrs: Record<string, string | number> = { command: 'merge', input, input_stage: sf.stage, ...mergeSettingsAttrs(s, backend, adapter) };
  names.forEach((name, i) => addMergedTable(name, results[i]!, merged, groups, attrs));
  return { content: { stage: 'merge', meta: sf.meta, attrs, merged, groups }, names: [...names], results, backend, adapter };
}

export const mergeStage: Stage<MergeInputs, MergeSettings, MergeStageResult> = { name: 'merge', defaults: MERGE_DEFAULTS, run };
