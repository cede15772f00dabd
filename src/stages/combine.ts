/**
 * Stage `combine`: the corrected observations of several sweeps of one
 * crystal form in one stage file (stage 'combine'), the tables concatenated
 * in sweep order. The sweeps must agree on cell, space group, ndiv and
 * wavelength.
 */
import { InvalidValueError } from '../errors.ts';
import { observationsOf, type StageFile, type StageFileContent } from '../io/observation-file.ts';
import { concatObservations, type ObservationMeta, type ObservationTable } from '../pipeline/observations.ts';
import type { StageContext } from './context.ts';
import type { Stage } from './stage.ts';

/** Combine has nothing to set; the attributes name the run's command. */
export interface CombineSettings {
  /** the `command` attribute written */
  command: string;
}

export const COMBINE_DEFAULTS: CombineSettings = { command: 'run' };

export interface CombineSweep {
  /** the sweep's label */
  name: string;
  /** the corrected stage file's path (messages, the `sources` attribute) */
  path: string;
  file: StageFile;
}

export interface CombineInputs {
  sweeps: CombineSweep[];
}

export interface CombineResult {
  content: StageFileContent;
  diffuse: ObservationTable;
  bragg: ObservationTable;
  summary: { diffuse: number; bragg: number };
}

/** Whether two sweeps share one crystal form (cell within 2 % + 0.5, same space group, ndiv, wavelength within 0.1 %). */
export function sameCrystalForm(a: ObservationMeta, b: ObservationMeta): boolean {
  return a.hall.trim() === b.hall.trim() && a.ndiv.every((v, i) => v === b.ndiv[i]) && a.cell.every((v, i) => Math.abs(v - (b.cell[i] as number)) <= 0.02 * Math.abs(v) + 0.5) && Math.abs(a.wavelength - b.wavelength) < 1e-3 * a.wavelength;
}

const baseName = (p: string): string => p.slice(p.lastIndexOf('/') + 1);

async function run(_ctx: StageContext, inputs: CombineInputs, s: CombineSettings): Promise<CombineResult> {
  const first = inputs.sweeps[0];
  if (first === undefined) throw new InvalidValueError('combine needs at least one sweep', { field: 'sweeps' });
  const meta = first.file.meta;
  for (const sw of inputs.sweeps) {
    if (!sameCrystalForm(meta, sw.file.meta)) {
      throw new InvalidValueError(`sweep ${sw.name} has cell/space group/ndiv/wavelength ${JSON.stringify(sw.file.meta)}, unlike ${first.name} ${JSON.stringify(meta)}: sweeps combined must share one crystal form`, { file: sw.path });
    }
  }
  const diffuse = concatObservations(inputs.sweeps.map((sw) => observationsOf(sw.file, 'diffuse', sw.path)));
  const bragg = concatObservations(inputs.sweeps.map((sw) => observationsOf(sw.file, 'bragg', sw.path)));
  const content: StageFileContent = {
    stage: 'combine',
    meta,
    attrs: { command: s.command, sweeps: inputs.sweeps.map((sw) => sw.name).join(','), sources: inputs.sweeps.map((sw) => baseName(sw.path)).join(',') },
    observations: { diffuse, bragg },
  };
  return { content, diffuse, bragg, summary: { diffuse: diffuse.I.length, bragg: bragg.I.length } };
}

export const combineStage: Stage<CombineInputs, CombineSettings, CombineResult> = { name: 'combine', defaults: COMBINE_DEFAULTS, run };
