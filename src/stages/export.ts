/**
 * Stage `export`: a merged table of a stage file (stage 'merge' or
 * 'absolute') expanded by its Laue group into a dense grid and written as
 * NeXus, CCP4/MRC and PNG slices (src/export/export-map.ts, docs/export.md).
 * Writing the map files is this stage's result; they are published together
 * (temporary names, then renamed).
 */
import { EXPORT_FORMATS, exportMap, type ExportFormat, type ExportResult } from '../export/export-map.ts';
import type { Colormap } from '../export/slices.ts';
import type { StageContext } from './context.ts';
import { checkFinite, checkOneOf, checkPositive, SettingError } from './settings-check.ts';
import type { Stage } from './stage.ts';

export interface ExportSettings {
  /** merged table to export */
  table: string;
  formats: ExportFormat[];
  /** CCP4 value of unmeasured points (NeXus keeps NaN) */
  fill: number;
  /** refuse dense grids larger than this (MiB) */
  maxMemoryMb: number;
  colormap: Colormap;
  /** CCP4 DMIN/DMAX/DMEAN/RMS over the measured points or every written value */
  ccp4Stats: 'measured' | 'written';
}

export const EXPORT_DEFAULTS: ExportSettings = { table: 'diffuse', formats: [...EXPORT_FORMATS], fill: 0, maxMemoryMb: 2048, colormap: 'viridis', ccp4Stats: 'measured' };

export interface ExportInputs {
  /** the stage file (stage 'merge' or 'absolute') */
  input: string;
  /** an existing folder (or one ending in '/', created), or a path prefix whose folder exists */
  out: string;
  /** the date stamped into the files (ISO 8601); default: now */
  date?: string;
  /** how the map names `input` in its provenance (default: `input` as given) */
  inputName?: string;
}

export function validateExportSettings(s: ExportSettings): void {
  if (s.formats.length === 0) throw new SettingError('formats', 'needs at least one format', s.formats);
  for (const f of s.formats) checkOneOf(f, 'formats', EXPORT_FORMATS);
  checkFinite(s.fill, 'fill');
  checkPositive(s.maxMemoryMb, 'maxMemoryMb');
  checkOneOf(s.colormap, 'colormap', ['viridis', 'diverging'] as const);
  checkOneOf(s.ccp4Stats, 'ccp4Stats', ['measured', 'written'] as const);
}

async function run(_ctx: StageContext, inputs: ExportInputs, s: ExportSettings): Promise<ExportResult> {
  validateExportSettings(s);
  return exportMap({
    input: inputs.input,
    out: inputs.out,
    table: s.table,
    formats: s.formats,
    fill: s.fill,
    maxBytes: s.maxMemoryMb * 2 ** 20,
    colormap: s.colormap,
    ccp4Stats: s.ccp4Stats,
    ...(inputs.date !== undefined ? { date: inputs.date } : {}),
    ...(inputs.inputName !== undefined ? { inputName: inputs.inputName } : {}),
  });
}

export const exportStage: Stage<ExportInputs, ExportSettings, ExportResult> = { name: 'export', defaults: EXPORT_DEFAULTS, run };
