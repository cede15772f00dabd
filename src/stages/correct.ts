/**
 * Stage `correct`: corrected voxel observations from the tables of the
 * integrate stage (formulas in src/pipeline/correct.ts, layout in
 * docs/correct.md). `included` becomes the observation group `diffuse`,
 * `excluded` (the Bragg subvoxels) `bragg`. `run` returns the stage file's
 * content (tables, attributes) and a summary; `writeStageFile` writes it.
 */
import { InvalidValueError, MissingFieldError } from '../errors.ts';
import type { Experiment } from '../geometry/model.ts';
import type { StageFileContent } from '../io/observation-file.ts';
import type { VoxelTablesFile } from '../io/voxel-tables.ts';
import { correctVoxels, observationMeta, scanExposure, spaceGroupAsu, type CorrectStats } from '../pipeline/correct.ts';
import type { Ndiv, ObservationTable } from '../pipeline/observations.ts';
import type { StageContext } from './context.ts';
import { checkInt, checkPositive, SettingError } from './settings-check.ts';
import type { Stage } from './stage.ts';
import { spaceGroup } from '../symmetry/index.ts';

export interface CorrectSettings {
  /** seconds per frame; null: the scan's exposure time */
  exposure: number | null;
  /** seconds per background frame; null: `exposure` */
  backgroundExposure: number | null;
  /** space group for the ASU mapping (number, Hermann–Mauguin or Hall); null: the crystal's */
  spaceGroup: string | null;
  /** sweep number written to every observation */
  sweep: number;
}

export const CORRECT_DEFAULTS: CorrectSettings = { exposure: null, backgroundExposure: null, spaceGroup: null, sweep: 0 };

export interface CorrectInputs {
  /** the integrate file's tables and attributes (readVoxelTables) */
  integrated: VoxelTablesFile;
  /** its path (messages and the `source` attribute) */
  integratedPath: string;
  experiment: Experiment;
  exptPath: string;
}

export interface CorrectSummary {
  hall: string;
  exposure: number;
  backgroundExposure: number | null;
  sweep: number;
  diffuse: CorrectStats;
  bragg: CorrectStats;
}

export interface CorrectResult {
  /** the stage file (stage 'correct'): observation tables diffuse, bragg */
  content: StageFileContent;
  diffuse: ObservationTable;
  bragg: ObservationTable;
  summary: CorrectSummary;
}

export function validateCorrectSettings(s: CorrectSettings): void {
  if (s.exposure !== null) checkPositive(s.exposure, 'exposure');
  if (s.backgroundExposure !== null) checkPositive(s.backgroundExposure, 'backgroundExposure');
  if (s.spaceGroup !== null) {
    if (s.spaceGroup.trim() === '') throw new SettingError('spaceGroup', 'must be a space group symbol or number', s.spaceGroup);
    // checked here, before any work: an unknown symbol failed only when the ASU mapping was built
    try {
      spaceGroup(s.spaceGroup);
    } catch (err) {
      if (!(err instanceof InvalidValueError)) throw err;
      throw new SettingError('spaceGroup', `is not a space group: ${err.message}`, s.spaceGroup);
    }
  }
  checkInt(s.sweep, 'sweep', 0, 65535);
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

async function run(_ctx: StageContext, inputs: CorrectInputs, s: CorrectSettings): Promise<CorrectResult> {
  validateCorrectSettings(s);
  const { integrated: vt, integratedPath: input, experiment: exp, exptPath } = inputs;
  if (vt.attrs.command !== 'integrate') {
    throw new InvalidValueError(`written by 'diffract ${String(vt.attrs.command)}', not 'diffract integrate'`, { file: input, field: 'command' });
  }
  const ndiv = ndivOf(vt.attrs, input);
  const symbol = s.spaceGroup ?? exp.crystal?.spaceGroupHall;
  if (symbol === undefined || symbol.trim() === '') throw new MissingFieldError('the crystal has no space group: give the space group setting', { file: exptPath, field: 'space_group_hall_symbol' });
  const { hall, asu } = spaceGroupAsu(symbol, ndiv);
  const meta = observationMeta(exp, ndiv, hall);
  const exposure = s.exposure ?? scanExposure(exp, exptPath);
  const backgroundExposure = s.backgroundExposure ?? undefined;
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
      sweep: s.sweep,
      unitCell,
      ...(exp.scan !== undefined ? { scan: exp.scan } : {}),
      file: input,
      group,
    });
  }
  const diffuse = results.diffuse as { observations: ObservationTable; stats: CorrectStats };
  const bragg = results.bragg as { observations: ObservationTable; stats: CorrectStats };
  const bg = diffuse.stats.backgroundSubtracted;
  const content: StageFileContent = {
    stage: 'correct',
    meta,
    attrs: {
      source: input,
      expt: exptPath,
      exposure,
      background_exposure: bg ? (backgroundExposure ?? exposure) : 0,
      background_subtracted: bg ? 1 : 0,
      sweep: s.sweep,
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
  };
  return {
    content,
    diffuse: diffuse.observations,
    bragg: bragg.observations,
    summary: { hall, exposure, backgroundExposure: bg ? (backgroundExposure ?? exposure) : null, sweep: s.sweep, diffuse: diffuse.stats, bragg: bragg.stats },
  };
}

export const correctStage: Stage<CorrectInputs, CorrectSettings, CorrectResult> = { name: 'correct', defaults: CORRECT_DEFAULTS, run };
