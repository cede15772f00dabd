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
import { readStageFile, writeStageFile } from '../../io/observation-file.ts';
import type { HalfSplit, MergeResult } from '../../merge/index.ts';
import { MERGE_DEFAULTS, mergeStage, validateMergeSettings, type MergeSettings } from '../../stages/merge.ts';
import type { CommandSpec } from '../command-spec.ts';
import { withEngine } from '../engine-options.ts';
import { checkAsFlags, flagNumber, type FlagNames } from '../settings-flags.ts';
import { cliContext } from '../stage-context.ts';

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

const MERGE_FLAGS: FlagNames = { outlierSigma: '--outlier', rounds: '--rounds', halfSeed: '--half-seed', halfSplit: '--half-split', shells: '--shells', inflateSigma: '--inflate-sigma' };

/** The merge settings of the command line (checked; errors name the flags). */
export function mergeSettings(o: MergeCliOptions): MergeSettings {
  const s: MergeSettings = {
    outlierSigma: flagNumber(o.outlier, '--outlier'),
    rounds: flagNumber(o.rounds, '--rounds'),
    halfSeed: flagNumber(o.halfSeed, '--half-seed'),
    halfSplit: o.halfSplit as HalfSplit,
    shells: flagNumber(o.shells, '--shells'),
    inflateSigma: o.inflateSigma === true,
  };
  checkAsFlags(MERGE_FLAGS, () => validateMergeSettings(s));
  return s;
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
        const settings = mergeSettings(o);
        // the input is read before a device is opened: bad input stays one line, with or without a GPU
        const file = await readStageFile(input);
        const { names, results, backend, adapter } = await withEngine(cmd, async (engine) => {
          const r = await mergeStage.run(cliContext(engine), { file, path: input }, settings);
          await writeStageFile(o.out, r.content);
          return r;
        });
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
