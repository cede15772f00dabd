/**
 * `diffract export IN.h5 --out DIR_OR_PREFIX`: the merged diffuse map of a
 * stage file (stage 'merge' or 'absolute') expanded by its Laue group into a
 * dense grid and written as NeXus (`<prefix>.nxs`), CCP4/MRC (`<prefix>.ccp4`)
 * and PNG slices through h = 0, k = 0, l = 0 (`<prefix>_h0.png` …). Layouts:
 * docs/export.md. All files are written under temporary names and renamed into
 * place only when every one of them is complete.
 */
import { statSync } from 'node:fs';
import type { Command } from 'commander';
import { UsageError } from '../../errors.ts';
import { EXPORT_FORMATS, type ExportFormat, type ExportResult } from '../../export/export-map.ts';
import type { Colormap } from '../../export/slices.ts';
import { Engine } from '../../host/engine.ts';
import { EXPORT_DEFAULTS, exportStage, validateExportSettings, type ExportSettings } from '../../stages/export.ts';
import type { CommandSpec } from '../command-spec.ts';
import { globalOptions } from '../engine-options.ts';
import { checkAsFlags, flagNumber, type FlagNames } from '../settings-flags.ts';
import { cliContext } from '../stage-context.ts';
import { sourceDate } from '../../util/source-date.ts';

export interface ExportCliOptions {
  out: string;
  table: string;
  format: string;
  fill: string;
  maxMemoryMb: string;
  colormap: string;
  ccp4Stats: string;
  json?: boolean;
}

const EXPORT_FLAGS: FlagNames = { table: '--table', formats: '--format', fill: '--fill', maxMemoryMb: '--max-memory-mb', colormap: '--colormap', ccp4Stats: '--ccp4-stats' };

/** The export settings of the command line (checked; errors name the flags). */
export function exportSettings(o: ExportCliOptions): ExportSettings {
  const s: ExportSettings = {
    table: o.table,
    formats: parseFormats(o.format),
    fill: flagNumber(o.fill, '--fill'),
    maxMemoryMb: flagNumber(o.maxMemoryMb, '--max-memory-mb'),
    colormap: o.colormap as Colormap,
    ccp4Stats: o.ccp4Stats as ExportSettings['ccp4Stats'],
  };
  checkAsFlags(EXPORT_FLAGS, () => validateExportSettings(s));
  return s;
}

/** The date the map files carry: the input's (SOURCE_DATE_EPOCH or its mtime), so two exports of one file are identical; none for a missing input (the stage reports it). */
function inputDate(input: string): { date?: string } {
  const st = statSync(input, { throwIfNoEntry: false });
  return st === undefined ? {} : { date: sourceDate(st.mtimeMs) };
}

/** Parses `--format nexus,ccp4,png` (aliases: nxs, h5, mrc, map). */
export function parseFormats(text: string): ExportFormat[] {
  const alias: Record<string, ExportFormat> = { nexus: 'nexus', nxs: 'nexus', h5: 'nexus', ccp4: 'ccp4', mrc: 'ccp4', map: 'ccp4', png: 'png' };
  const out: ExportFormat[] = [];
  for (const part of text.split(',').map((s) => s.trim().toLowerCase()).filter((s) => s !== '')) {
    const f = alias[part];
    if (f === undefined) throw new UsageError(`unknown format '${part}' (choose from ${EXPORT_FORMATS.join(', ')})`, { field: '--format' });
    if (!out.includes(f)) out.push(f);
  }
  if (out.length === 0) throw new UsageError('--format needs at least one format', { field: '--format' });
  return out;
}

/** The human summary of an export. */
export function exportSummary(r: ExportResult): string[] {
  const pct = (100 * r.fractionMeasured).toFixed(1);
  return [
    `${r.input}: stage '${r.stage}', table '${r.table}', ${r.rows} merged rows${r.rowsSkipped > 0 ? ` (${r.rowsSkipped} without a finite intensity skipped)` : ''}`,
    `space group ${r.spaceGroup}: ${r.symmetryOps} reciprocal-space operators; ndiv ${r.ndiv.join('×')}`,
    `grid ${r.shape.join('×')} (h×k×l, fine index from ${r.origin.join(', ')}): ${r.measured} of ${r.points} points measured (${pct}%)${r.collisions > 0 ? `, ${r.collisions} reached by more than one ASU row` : ''}`,
    ...r.files.map((f) => `wrote ${f.path} (${f.format}, ${f.bytes} bytes)`),
  ];
}

export const exportCommand: CommandSpec = {
  name: 'export',
  register(program) {
    program
      .command('export')
      .description('expand a merged diffuse map (stage merge/absolute) to the full sphere and write NeXus, CCP4/MRC and PNG slices (docs/export.md)')
      .argument('<in>', 'stage file (HDF5) of stage merge or absolute')
      .requiredOption('--out <dir-or-prefix>', "output folder (file names from the input's stem; a trailing '/' creates it) or path prefix")
      .option('--table <name>', 'merged table to export', EXPORT_DEFAULTS.table)
      .option('--format <list>', 'comma-separated: nexus, ccp4, png', EXPORT_DEFAULTS.formats.join(','))
      .option('--fill <value>', 'CCP4 value of unmeasured points (NeXus keeps NaN)', String(EXPORT_DEFAULTS.fill))
      .option('--max-memory-mb <n>', 'refuse dense grids larger than this (MiB)', String(EXPORT_DEFAULTS.maxMemoryMb))
      .option('--colormap <name>', 'PNG colour map: viridis | diverging', EXPORT_DEFAULTS.colormap)
      .option('--ccp4-stats <what>', 'CCP4 DMIN/DMAX/DMEAN/RMS over: measured (points) | written (values, fill included)', EXPORT_DEFAULTS.ccp4Stats)
      .option('--json', 'print the summary as JSON')
      .action(async (input: string, o: ExportCliOptions, cmd: Command) => {
        globalOptions(cmd);
        const settings = exportSettings(o);
        // the export computes on the CPU: no device is opened
        const result = await exportStage.run(cliContext(Engine.cpu()), { input, out: o.out, ...inputDate(input) }, settings);
        process.stdout.write(o.json ? `${JSON.stringify(result)}\n` : `${exportSummary(result).join('\n')}\n`);
      });
  },
};
