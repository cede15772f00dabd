/**
 * `diffract correct INTEGRATED.h5 --expt EXPT --out CORRECTED.h5`: corrected
 * voxel observations from the tables of `diffract integrate` (formulas in
 * src/pipeline/correct.ts, layout in docs/correct.md). `included` becomes the
 * observation group `diffuse`, `excluded` (the Bragg subvoxels) `bragg`.
 */
import type { Command } from 'commander';
import { InvalidValueError, MissingFieldError, UsageError } from '../../errors.ts';
import { loadExperiments, pickExperiment } from '../../geometry/load.ts';
import { writeStageFile } from '../../io/observation-file.ts';
import { readVoxelTables } from '../../io/voxel-tables.ts';
import { correctVoxels, observationMeta, scanExposure, spaceGroupAsu, type CorrectStats } from '../../pipeline/correct.ts';
import type { Ndiv, ObservationTable } from '../../pipeline/observations.ts';
import type { CommandSpec } from '../registry.ts';

interface CorrectCliOptions {
  expt?: string;
  out: string;
  experiment: string;
  exposure?: string;
  backgroundExposure?: string;
  spaceGroup?: string;
  sweep: string;
  json?: boolean;
}

function positive(text: string, field: string): number {
  const v = Number(text);
  if (!Number.isFinite(v) || v <= 0) throw new UsageError(`${field} must be a positive number, got '${text}'`, { field });
  return v;
}

function nonNegativeInt(text: string, field: string, max: number): number {
  if (!/^\d+$/.test(text.trim()) || Number(text) > max) throw new UsageError(`${field} must be an integer 0…${max}, got '${text}'`, { field });
  return Number(text);
}

/** The attribute `ndiv` of an integrate file: three odd integers. */
function ndivOf(attrs: Record<string, unknown>, file: string): Ndiv {
  const v = attrs.ndiv;
  const arr = ArrayBuffer.isView(v) ? Array.from(v as unknown as ArrayLike<number>, Number) : Array.isArray(v) ? v.map(Number) : [];
  if (arr.length !== 3) throw new MissingFieldError("attribute 'ndiv' must hold 3 integers", { file, field: 'ndiv' });
  if (!arr.every((n) => Number.isInteger(n) && n >= 1 && n % 2 === 1)) {
    throw new InvalidValueError(`ndiv ${arr.join(',')} is not three odd integers: the subvoxel centres must sit on the fine index grid (integrate with odd --ndiv)`, { file, field: 'ndiv' });
  }
  return arr as unknown as Ndiv;
}

export interface CorrectSummary {
  out: string;
  hall: string;
  exposure: number;
  backgroundExposure: number | null;
  sweep: number;
  diffuse: CorrectStats;
  bragg: CorrectStats;
}

/** Runs `diffract correct` (no printing). */
export async function runCorrect(input: string, o: CorrectCliOptions): Promise<CorrectSummary> {
  const vt = await readVoxelTables(input);
  if (vt.attrs.command !== 'integrate') {
    throw new InvalidValueError(`written by 'diffract ${String(vt.attrs.command)}', not 'diffract integrate'`, { file: input, field: 'command' });
  }
  const exptPath = o.expt ?? (typeof vt.attrs.expt === 'string' ? vt.attrs.expt : undefined);
  if (exptPath === undefined) throw new UsageError('give the experiment with --expt EXPT', { field: '--expt' });
  const exp = pickExperiment(await loadExperiments(exptPath), nonNegativeInt(o.experiment, '--experiment', 1e6));
  const ndiv = ndivOf(vt.attrs, input);
  const symbol = o.spaceGroup ?? exp.crystal?.spaceGroupHall;
  if (symbol === undefined || symbol.trim() === '') throw new MissingFieldError('the crystal has no space group: give --space-group SYMBOL', { file: exptPath, field: 'space_group_hall_symbol' });
  const { hall, asu } = spaceGroupAsu(symbol, ndiv);
  const meta = observationMeta(exp, ndiv, hall);
  const exposure = o.exposure !== undefined ? positive(o.exposure, '--exposure') : scanExposure(exp, exptPath);
  const backgroundExposure = o.backgroundExposure !== undefined ? positive(o.backgroundExposure, '--background-exposure') : undefined;
  const sweep = nonNegativeInt(o.sweep, '--sweep', 65535);
  const unitCell = exp.crystal?.unitCell;
  if (unitCell === undefined) throw new InvalidValueError('the experiment has no crystal model (not indexed)', { file: exptPath, field: 'crystal' });

  const results: Record<string, { observations: ObservationTable; stats: CorrectStats }> = {};
  for (const [group, name] of [
    ['included', 'diffuse'],
    ['excluded', 'bragg'],
  ] as const) {
    const table = vt.tables.get(group);
    if (table === undefined) throw new MissingFieldError(`no table '${group}'`, { file: input, field: group });
    results[name] = correctVoxels(table, {
      ndiv,
      asu,
      exposure,
      ...(backgroundExposure !== undefined ? { backgroundExposure } : {}),
      sweep,
      unitCell,
      ...(exp.scan !== undefined ? { scan: exp.scan } : {}),
      file: input,
      group,
    });
  }
  const diffuse = results.diffuse as { observations: ObservationTable; stats: CorrectStats };
  const bragg = results.bragg as { observations: ObservationTable; stats: CorrectStats };
  const bg = diffuse.stats.backgroundSubtracted;
  await writeStageFile(o.out, {
    stage: 'correct',
    meta,
    attrs: {
      source: input,
      expt: exptPath,
      exposure,
      background_exposure: bg ? (backgroundExposure ?? exposure) : 0,
      background_subtracted: bg ? 1 : 0,
      sweep,
      intensity: 'I = counts / (T * kappa_sum) - [background: (pixels/bg_pixels) * bg_counts / (T_bg * kappa_sum)]',
      sigma: 'sigma^2 = (counts + 1) / (T * kappa_sum)^2 + [background: ((pixels/bg_pixels) / (T_bg * kappa_sum))^2 * (bg_counts + 1)]',
      kappa: 'per-pixel solid angle (sr) * polarization * sensor efficiency * air transmission, summed over the pixel-frames of the subvoxel',
      fraction: 'd3s_sum * n1*n2*n3 / V* (V* the reciprocal cell volume, A^-3)',
      phi: 'oscillation start + (frame_sum/pixels + 0.5) * oscillation width (degrees)',
      dropped_diffuse_no_pixels: diffuse.stats.droppedNoPixels,
      dropped_diffuse_no_kappa: diffuse.stats.droppedNoKappa,
      dropped_diffuse_no_background: diffuse.stats.droppedNoBackground,
      dropped_bragg_no_pixels: bragg.stats.droppedNoPixels,
      dropped_bragg_no_kappa: bragg.stats.droppedNoKappa,
      dropped_bragg_no_background: bragg.stats.droppedNoBackground,
    },
    observations: { diffuse: diffuse.observations, bragg: bragg.observations },
  });
  return { out: o.out, hall, exposure, backgroundExposure: bg ? (backgroundExposure ?? exposure) : null, sweep, diffuse: diffuse.stats, bragg: bragg.stats };
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
      .option('--sweep <n>', 'sweep number written to every observation', '0')
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
