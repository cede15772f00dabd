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
import { Engine } from '../../host/engine.ts';
import { readStageFile, writeStageFile } from '../../io/observation-file.ts';
import { SCALE_STAGES, type ScaleStage } from '../../scaling/index.ts';
import { SCALE_DEFAULTS, scaleStage, scalingOptions, type ScaleSettings } from '../../stages/scale.ts';
import type { CommandSpec } from '../command-spec.ts';
import { globalOptions } from '../engine-options.ts';
import { checkAsFlags, flagNumber, flagNumbers, type FlagNames } from '../settings-flags.ts';
import { cliContext } from '../stage-context.ts';

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

const SCALE_FLAGS: FlagNames = {
  table: '--table',
  stages: '--stages',
  bStepDeg: '--b-step-deg',
  aGrid: '--a-grid',
  cGrid: '--c-grid',
  dMode: '--d-mode',
  dGrid: '--d-grid',
  outlier: '--outlier',
  maxIterations: '--max-iterations',
  tolerance: '--tolerance',
};

/** The scale settings of the command line (checked; errors name the flags). */
export function scaleSettings(o: ScaleCliOptions): ScaleSettings {
  const s: ScaleSettings = {
    ...SCALE_DEFAULTS,
    table: o.table,
    stages: o.stages.split(',').map((t) => t.trim()) as ScaleStage[],
    bStepDeg: flagNumber(o.bStepDeg, '--b-step-deg'),
    dMode: o.dMode as ScaleSettings['dMode'],
    outlier: flagNumbers(o.outlier, '--outlier'),
    maxIterations: flagNumber(o.maxIterations, '--max-iterations'),
    tolerance: flagNumber(o.tolerance, '--tolerance'),
    aGrid: o.aGrid !== undefined ? (flagNumbers(o.aGrid, '--a-grid', 3) as [number, number, number]) : null,
    cGrid: o.cGrid !== undefined ? (flagNumbers(o.cGrid, '--c-grid', 2) as [number, number]) : null,
    dGrid: o.dGrid !== undefined ? (flagNumbers(o.dGrid, '--d-grid', 2) as [number, number]) : null,
  };
  checkAsFlags(SCALE_FLAGS, () => scalingOptions(s));
  return s;
}

export const scaleCommand: CommandSpec = {
  name: 'scale',
  register(program) {
    program
      .command('scale')
      .description('relative scaling (mdx2 model a(x,y,phi)·d·(b(phi)·I_v + c(|s|,phi))) of a corrected stage file; writes stage `scale`')
      .argument('<corrected>', "stage file of 'diffract correct' (observation tables diffuse and bragg)")
      .requiredOption('--out <file>', 'output stage file (written atomically)')
      .option('--table <name>', 'observation table the model is fitted on', SCALE_DEFAULTS.table)
      .option('--b-step-deg <deg>', 'spacing of the b(phi) control points', String(SCALE_DEFAULTS.bStepDeg))
      .option('--a-grid <nx,ny,nphi>', 'a(x, y, phi) nodes along x, y and phi (default 9,9 and one every 15 deg)')
      .option('--c-grid <ns,nphi>', 'c(|s|, phi) nodes along |s| and phi (default 12 and one every 15 deg)')
      .option('--d-mode <mode>', 'd: panel (one factor per panel) | map (a smooth x, y map per panel)', SCALE_DEFAULTS.dMode)
      .option('--d-grid <nx,ny>', 'd map nodes per panel (with --d-mode map; default 9,9)')
      .option('--stages <list>', `refinement stages in order (${SCALE_STAGES.join(', ')})`, SCALE_DEFAULTS.stages.join(','))
      .option('--outlier <list>', 'outlier cut-offs in sigma after each stage; the last repeats', SCALE_DEFAULTS.outlier.join(','))
      .option('--max-iterations <n>', 'merge/fit iterations per stage at most', String(SCALE_DEFAULTS.maxIterations))
      .option('--tolerance <x>', 'a stage ends when the reduced chi2 falls by less than this', String(SCALE_DEFAULTS.tolerance))
      .option('--json', 'print the summary as JSON')
      .action(async (input: string, o: ScaleCliOptions, cmd: Command) => {
        globalOptions(cmd);
        const settings = scaleSettings(o);
        // scaling computes on the CPU: no device is opened
        const r = await scaleStage.run(cliContext(Engine.cpu()), { file: await readStageFile(input), path: input }, settings);
        await writeStageFile(o.out, r.content);
        const summary = { out: o.out, ...r.summary };
        const h = r.history;
        process.stdout.write(
          o.json
            ? `${JSON.stringify({ ...summary, history: h })}\n`
            : `scaled ${summary.observations} observations in ${summary.voxels} voxels (${h.length} iterations, chi2 ${summary.chi2?.toFixed(4) ?? '-'}, ${summary.rejected} outliers) in ${summary.seconds.toFixed(1)} s; tables ${summary.scaledTables.join(', ')}\nwrote ${o.out}\n`,
        );
      });
  },
};
