/**
 * `diffract correct INTEGRATED.h5 --expt EXPT --out CORRECTED.h5`: corrected
 * voxel observations from the tables of `diffract integrate` (formulas in
 * src/pipeline/correct.ts, layout in docs/correct.md). `included` becomes the
 * observation group `diffuse`, `excluded` (the Bragg subvoxels) `bragg`.
 */
import type { Command } from 'commander';
import { UsageError } from '../../errors.ts';
import { loadExperiments, pickExperiment } from '../../geometry/load.ts';
import { writeStageFile } from '../../io/observation-file.ts';
import { readVoxelTables } from '../../io/voxel-tables.ts';
import type { CorrectStats } from '../../pipeline/correct.ts';
import { CORRECT_DEFAULTS, correctStage, validateCorrectSettings, type CorrectSettings, type CorrectSummary } from '../../stages/correct.ts';
import type { CommandSpec } from '../command-spec.ts';
import { checkAsFlags, flagNumber, type FlagNames } from '../settings-flags.ts';
import { cliContext } from '../stage-context.ts';
import { Engine } from '../../host/engine.ts';

export interface CorrectCliOptions {
  expt?: string;
  out: string;
  experiment: string;
  exposure?: string;
  backgroundExposure?: string;
  spaceGroup?: string;
  sweep: string;
  json?: boolean;
}

const CORRECT_FLAGS: FlagNames = { exposure: '--exposure', backgroundExposure: '--background-exposure', spaceGroup: '--space-group', sweep: '--sweep' };

/** The correct settings of the command line (checked; errors name the flags). */
export function correctSettings(o: CorrectCliOptions): CorrectSettings {
  const s: CorrectSettings = {
    ...CORRECT_DEFAULTS,
    sweep: flagNumber(o.sweep, '--sweep'),
    ...(o.exposure !== undefined ? { exposure: flagNumber(o.exposure, '--exposure') } : {}),
    ...(o.backgroundExposure !== undefined ? { backgroundExposure: flagNumber(o.backgroundExposure, '--background-exposure') } : {}),
    ...(o.spaceGroup !== undefined ? { spaceGroup: o.spaceGroup } : {}),
  };
  checkAsFlags(CORRECT_FLAGS, () => validateCorrectSettings(s));
  return s;
}

/** Runs the correct stage on an integrate file and writes the stage file (no printing). */
async function runCorrect(input: string, o: CorrectCliOptions): Promise<CorrectSummary & { out: string }> {
  const settings = correctSettings(o);
  const vt = await readVoxelTables(input);
  const exptPath = o.expt ?? (typeof vt.attrs.expt === 'string' ? vt.attrs.expt : undefined);
  if (exptPath === undefined) throw new UsageError('give the experiment with --expt EXPT', { field: '--expt' });
  if (!/^\d+$/.test(o.experiment.trim()) || Number(o.experiment) > 1e6) throw new UsageError(`--experiment must be an integer 0…1000000, got '${o.experiment}'`, { field: '--experiment' });
  const exp = pickExperiment(await loadExperiments(exptPath), Number(o.experiment));
  // correct computes on the CPU: no device is opened
  const r = await correctStage.run(cliContext(Engine.cpu()), { integrated: vt, integratedPath: input, experiment: exp, exptPath }, settings);
  await writeStageFile(o.out, r.content);
  return { out: o.out, ...r.summary };
}

function statLine(name: string, s: CorrectStats): string {
  const dropped = s.droppedNoPixels + s.droppedNoKappa + s.droppedNoBackground;
  const why = [
    s.droppedNoPixels > 0 ? `${s.droppedNoPixels} without pixels` : '',
    s.droppedNoKappa > 0 ? `${s.droppedNoKappa} with zero correction sum` : '',
    s.droppedNoBackground > 0 ? `${s.droppedNoBackground} without background pixels` : '',
  ].filter((x) => x !== '');
  return `  ${name}: ${s.kept} observations from ${s.rows} subvoxels${dropped > 0 ? ` (dropped ${why.join(', ')})` : ''}`;
}

export const correctCommand: CommandSpec = {
  name: 'correct',
  register(program) {
    program
      .command('correct')
      .description('corrected voxel observations (I, σ, ASU fine index, s, φ, fraction) from an integrate file (groups diffuse, bragg)')
      .argument('<integrated>', 'HDF5 file written by diffract integrate (with the per-subvoxel correction sums)')
      .option('--expt <file>', "the experiment (.expt or XDS files); default: the integrate file's 'expt' attribute")
      .requiredOption('--out <file>', 'output HDF5 stage file (written atomically)')
      .option('--experiment <n>', 'experiment index in the list', '0')
      .option('--exposure <seconds>', "exposure time per frame (default: the scan's exposure_time)")
      .option('--background-exposure <seconds>', 'exposure time per background frame (default: --exposure)')
      .option('--space-group <symbol>', "space group for the ASU mapping: number, Hermann–Mauguin or Hall symbol (default: the crystal's)")
      .option('--sweep <n>', 'sweep number written to every observation', String(CORRECT_DEFAULTS.sweep))
      .option('--json', 'print the summary as JSON')
      .action(async (input: string, o: CorrectCliOptions, _cmd: Command) => {
        const r = await runCorrect(input, o);
        if (o.json) {
          process.stdout.write(`${JSON.stringify(r)}\n`);
          return;
        }
        const lines = [
          `space group ${r.hall.trim()}, exposure ${r.exposure} s${r.backgroundExposure !== null ? `, background subtracted (exposure ${r.backgroundExposure} s)` : ''}, sweep ${r.sweep}`,
          statLine('diffuse', r.diffuse),
          statLine('bragg', r.bragg),
          `wrote ${r.out}`,
        ];
        process.stdout.write(`${lines.join('\n')}\n`);
      });
  },
};
