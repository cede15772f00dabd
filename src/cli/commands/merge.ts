/**
 * `diffract merge SCALED.h5 --out MERGED.h5`: weighted merging of the scaled
 * (or corrected) voxel observations into one value per ASU subvoxel, with
 * outlier rejection and CC½ between random half data sets (docs/merge.md).
 * Reads the observation tables `diffuse` and (when present) `bragg` of a stage
 * file of stage `scale` or `correct`; writes a stage file (stage `merge`) with
 * the merged tables `diffuse`, `bragg` and the shell statistics `cchalf`
 * (diffuse) and `cchalf_bragg`.
 */
import type { Command } from 'commander';
import { InvalidValueError, UsageError } from '../../errors.ts';
import { observationsOf, readStageFile, writeStageFile } from '../../io/observation-file.ts';
import { mergeObservations, MERGE_DEFAULTS, type HalfSplit, type MergeResult, type ShellStats } from '../../merge/index.ts';
import type { MergedTable } from '../../pipeline/observations.ts';
import type { Engine } from '../../host/engine.ts';
import { log } from '../../util/log.ts';
import { withEngine } from '../engine-options.ts';
import type { CommandSpec } from '../registry.ts';

export interface MergeCliOptions {
  out: string;
  outlier: string;
  rounds: string;
  halfSeed: string;
  halfSplit: string;
  shells: string;
  inflateSigma?: boolean;
  json?: boolean;
}

const TABLES = ['diffuse', 'bragg'] as const;

function numberOption(text: string, field: string, want: string, ok: (v: number) => boolean): number {
  const v = Number(text);
  if (text.trim() === '' || !Number.isFinite(v) || !ok(v)) throw new UsageError(`${field} must be ${want}, got '${text}'`, { field });
  return v;
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

function fmt(x: number, digits: number): string {
  return Number.isFinite(x) ? x.toFixed(digits) : '—';
}

/** Five significant digits in at most 11 characters, whatever the magnitude. */
function sig(x: number): string {
  if (!Number.isFinite(x)) return '—';
  const a = Math.abs(x);
  return a !== 0 && (a >= 1e6 || a < 1e-3) ? x.toExponential(4) : x.toPrecision(5);
}

function summaryLines(name: string, r: MergeResult): string[] {
  const st = r.stats;
  const lines = [
    `${name}: ${st.observations} observations → ${st.voxels} voxels (${st.rejected} rejected as outliers, ${st.rounds} rejection round(s), ${st.invalid} invalid), overall CC½ ${fmt(r.overall.cchalf, 4)} over ${r.overall.n} voxels`,
    `  ${'s_min   s_max'.padEnd(14)}${'voxels'.padStart(8)}${'in both'.padStart(9)}  ${'CC½'.padStart(7)}${'<I>'.padStart(12)}${'<σ>'.padStart(12)}${'complete'.padStart(9)}`,
  ];
  for (const s of [...r.shells, r.overall]) {
    const label = s === r.overall ? 'overall' : `${fmt(s.sMin, 4)}  ${fmt(s.sMax, 4)}`;
    lines.push(
      `  ${label.padEnd(14)}${String(s.nMerged).padStart(8)}${String(s.n).padStart(9)}  ${fmt(s.cchalf, 4).padStart(7)} ${sig(s.meanI).padStart(11)} ${sig(s.meanSigma).padStart(11)}${fmt(s.completeness, 3).padStart(9)}`,
    );
  }
  return lines;
}

/** Runs `diffract merge` on a stage file with `engine` (no printing). */
export async function runMerge(input: string, o: MergeCliOptions, engine: Engine) {
  const outlierSigma = numberOption(o.outlier, '--outlier', 'a number ≥ 0', (v) => v >= 0);
  const rounds = numberOption(o.rounds, '--rounds', 'an integer ≥ 0', (v) => Number.isInteger(v) && v >= 0);
  const halfSeed = numberOption(o.halfSeed, '--half-seed', 'an integer', (v) => Number.isInteger(v));
  const shells = numberOption(o.shells, '--shells', 'an integer from 1 to 1000', (v) => Number.isInteger(v) && v >= 1 && v <= 1000);
  if (o.halfSplit !== 'observation' && o.halfSplit !== 'batch') throw new UsageError(`--half-split must be observation or batch, got '${o.halfSplit}'`, { field: '--half-split' });
  const halfSplit: HalfSplit = o.halfSplit;
  const sf = await readStageFile(input);
  if (sf.stage !== 'scale' && sf.stage !== 'correct' && sf.stage !== 'combine') {
    throw new InvalidValueError(`is a '${sf.stage}' stage file; merge reads the output of 'scale' (or 'correct')`, { file: input, field: 'stage' });
  }
  const names = TABLES.filter((n) => n === 'diffuse' || sf.groups.has(n));
  const tables = names.map((n) => observationsOf(sf, n, input));
  const opts = { outlierSigma, rounds, halfSeed, halfSplit, shells, inflateSigma: o.inflateSigma === true };
  const { results, backend, adapter } = await (async () => {
    const out: MergeResult[] = [];
    for (let i = 0; i < names.length; i++) {
      const t0 = performance.now();
      const r = await mergeObservations(engine, tables[i]!, sf.meta, opts);
      log('info', `merge: ${names[i]}: ${r.stats.voxels} voxels from ${r.stats.observations} observations in ${((performance.now() - t0) / 1000).toFixed(2)} s (${r.stats.backend})`);
      out.push(r);
    }
    return { results: out, backend: engine.backend, adapter: engine.deviceName };
  })();
  const merged: Record<string, MergedTable> = {};
  const groups: Record<string, { columns: Record<string, Float64Array | Uint32Array>; attrs: Record<string, string | number> }> = {};
  const attrs: Record<string, string | number> = {
    command: 'merge',
    input,
    input_stage: sf.stage,
    backend,
    adapter,
    outlier_sigma: outlierSigma,
    rounds,
    half_seed: halfSeed,
    half_split: halfSplit,
    shells,
    sigma: opts.inflateSigma ? 'sigma = max(1, sqrt(chi2_nu)) / sqrt(sum w)' : 'sigma = 1 / sqrt(sum w)',
  };
  names.forEach((name, i) => {
    const r = results[i]!;
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
  });
  await writeStageFile(o.out, { stage: 'merge', meta: sf.meta, attrs, merged, groups });
  return { names, results, backend, adapter };
}

export const mergeCommand: CommandSpec = {
  name: 'merge',
  register(program) {
    program
      .command('merge')
      .description('inverse-variance merge of scaled observations per ASU subvoxel, outlier rejection, CC½ per shell; writes stage `merge` (docs/merge.md)')
      .argument('<scaled>', "stage file of 'diffract scale' (or 'correct') with observation tables diffuse and bragg")
      .requiredOption('--out <file>', 'output stage file (written atomically)')
      .option('--outlier <sigma>', 'reject the worst row of a voxel while its leave-one-out deviation exceeds this many σ (0: no rejection)', String(MERGE_DEFAULTS.outlierSigma))
      .option('--rounds <n>', 'rejection rounds (one row per voxel each)', String(MERGE_DEFAULTS.rounds))
      .option('--half-seed <n>', 'seed of the random half-data-set split', String(MERGE_DEFAULTS.halfSeed))
      .option('--half-split <unit>', 'split unit: observation | batch', MERGE_DEFAULTS.halfSplit)
      .option('--shells <n>', 'resolution shells (equal volume) for CC½', String(MERGE_DEFAULTS.shells))
      .option('--inflate-sigma', 'scale each merged σ by √(reduced χ²) where that exceeds 1')
      .option('--json', 'print the summary as one JSON object')
      .action(async (input: string, o: MergeCliOptions, cmd: Command) => {
        const { names, results, backend, adapter } = await withEngine(cmd, (engine) => runMerge(input, o, engine));
        if (o.json) {
          const summary = {
            out: o.out,
            backend,
            adapter,
            tables: Object.fromEntries(names.map((n, i) => [n, { stats: results[i]!.stats, overall: results[i]!.overall, shells: results[i]!.shells }])),
          };
          process.stdout.write(`${JSON.stringify(summary)}\n`);
        } else {
          const lines = names.flatMap((n, i) => summaryLines(n, results[i]!));
          process.stdout.write(`${lines.join('\n')}\nbackend ${backend} (${adapter})\nwrote ${o.out}\n`);
        }
      });
  },
};
