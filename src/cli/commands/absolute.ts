/**
 * `diffract absolute MERGED.h5 --out ABS.h5 (--composition "…" | --sequence FILE|SEQ --copies N --solvent F)`:
 * puts the merged diffuse and Bragg tables of a 'merge' stage file on an
 * absolute scale (electron units per unit cell, Compton subtracted) by the
 * Krogh-Moe / mdx-lib sum rule, and writes an 'absolute' stage file
 * (docs/absolute.md).
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { FileAccessError, InvalidValueError, UsageError } from '../../errors.ts';
import { mergedOf, readStageFile, writeStageFile } from '../../io/observation-file.ts';
import { absoluteScale, type ShellSpacing } from '../../pipeline/absolute.ts';
import type { MergedTable } from '../../pipeline/observations.ts';
import { addCompositions, compositionFromSequence, parseComposition, type Composition } from '../../scattering/composition.ts';
import { cellVolume } from '../../scattering/model.ts';
import type { CommandSpec } from '../registry.ts';

export interface AbsoluteCliOptions {
  out: string;
  composition?: string;
  sequence?: string;
  copies?: string;
  solvent?: string;
  disulfides?: string;
  ions?: string;
  cutoff?: string;
  shells: string;
  spacing: string;
  minCompleteness: string;
  json?: boolean;
}

function numberOption(text: string | undefined, name: string, check: (v: number) => boolean, want: string): number | undefined {
  if (text === undefined) return undefined;
  const v = Number(text);
  if (text.trim() === '' || !Number.isFinite(v) || !check(v)) throw new UsageError(`${name} must be ${want}, got '${text}'`, { field: name });
  return v;
}

/** The sequence text: the file's contents when the argument names a file, else the argument itself. */
function readSequence(arg: string): string {
  if (existsSync(arg) && statSync(arg).isFile()) {
    try {
      return readFileSync(arg, 'utf8');
    } catch (err) {
      throw new FileAccessError(`cannot read sequence: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { file: arg });
    }
  }
  if (/[/\\]|\.(fasta|fa|seq|txt)$/i.test(arg)) throw new FileAccessError('no such sequence file', { file: arg });
  return arg;
}

function compositionOf(o: AbsoluteCliOptions, volume: number): Composition {
  if ((o.composition === undefined) === (o.sequence === undefined)) throw new UsageError('give exactly one of --composition and --sequence', { field: '--composition' });
  const ions = o.ions === undefined ? undefined : parseComposition(o.ions);
  if (o.composition !== undefined) {
    if (o.copies !== undefined || o.solvent !== undefined || o.disulfides !== undefined) throw new UsageError('--copies, --solvent and --disulfides go with --sequence', { field: '--copies' });
    const c = parseComposition(o.composition);
    return ions === undefined ? c : addCompositions(c, ions);
  }
  const copies = numberOption(o.copies ?? '1', '--copies', (v) => v > 0, 'a number > 0') as number;
  const solvent = numberOption(o.solvent ?? '0.5', '--solvent', (v) => v >= 0 && v < 1, 'a fraction in [0, 1)') as number;
  const disulfides = numberOption(o.disulfides ?? '0', '--disulfides', (v) => Number.isInteger(v) && v >= 0, 'an integer ≥ 0') as number;
  const seq = readSequence(o.sequence as string);
  return compositionFromSequence(seq, { copiesPerCell: copies, solventFraction: solvent, cellVolume: volume, disulfides, ...(ions === undefined ? {} : { ions }) });
}

/** Runs `diffract absolute` on a merge stage file (no printing). */
export async function runAbsolute(merged: string, o: AbsoluteCliOptions) {
  const shells = numberOption(o.shells, '--shells', (v) => Number.isInteger(v) && v >= 2, 'an integer ≥ 2') as number;
  const cutoff = numberOption(o.cutoff, '--cutoff', (v) => v > 0, 'a number > 0');
  const minCompleteness = numberOption(o.minCompleteness, '--min-completeness', (v) => v >= 0 && v < 1, 'a fraction in [0, 1)') as number;
  if (o.spacing !== 'width' && o.spacing !== 'volume') throw new UsageError(`--spacing must be width or volume, got '${o.spacing}'`, { field: '--spacing' });
  const spacing: ShellSpacing = o.spacing;

  const sf = await readStageFile(merged);
  if (sf.stage !== 'merge') throw new InvalidValueError(`expected a 'merge' stage file, this one is stage '${sf.stage}'`, { file: merged, field: 'stage' });
  const volume = cellVolume(sf.meta.cell);
  const comp = compositionOf(o, volume);
  const diffuse = mergedOf(sf, 'diffuse', merged);
  const bragg: MergedTable | undefined = sf.groups.has('bragg') ? mergedOf(sf, 'bragg', merged) : undefined;
  const r = absoluteScale(diffuse, bragg, sf.meta, comp, { shells, spacing, minCompleteness, ...(cutoff === undefined ? {} : { cutoff }) });

  const c = r.curves;
  await writeStageFile(o.out, {
    stage: 'absolute',
    meta: sf.meta,
    attrs: {
      source: merged,
      scale_factor: r.scale,
      cutoff: r.cutoff,
      electrons: r.electrons,
      cell_volume: r.cellVolume,
      forward_term: r.forward,
      composition: r.composition,
      shells,
      shell_spacing: spacing,
      units: 'electron units per unit cell (e.u. = Thomson scattering of one electron); integral over a region of reciprocal space: e.u. per cell x A^-3',
      compton_subtracted: bragg === undefined ? 'diffuse' : 'diffuse,bragg',
    },
    merged: bragg === undefined ? { diffuse: r.diffuse } : { diffuse: r.diffuse, bragg: r.bragg as MergedTable },
    groups: {
      curves: {
        columns: {
          s_low: c.sLow,
          s: c.s,
          completeness: c.completeness,
          observed: c.observed,
          theory: c.theory,
          ratio: c.ratio,
          shell_observed: c.shellObserved,
          shell_theory: c.shellTheory,
        },
        attrs: { observed_units: 'input intensity x A^-3 (cumulative, completeness-corrected)', theory_units: 'e.u. per cell x A^-3 (cumulative, F000 term subtracted)' },
      },
    },
  });

  const summary = {
    out: o.out,
    scale: r.scale,
    cutoff: r.cutoff,
    electrons: r.electrons,
    cellVolume: r.cellVolume,
    forward: r.forward,
    composition: r.composition,
    diffuseRows: r.diffuse.I.length,
    braggRows: r.bragg?.I.length ?? 0,
    ratioAt: Array.from(c.s, (s, k) => ({ s, ratio: c.ratio[k] as number, completeness: c.completeness[k] as number })).filter((_, k) => k % Math.max(1, Math.floor(shells / 10)) === 0 || k === shells - 1),
  };
  return { summary, r, bragg };
}

export const absoluteCommand: CommandSpec = {
  name: 'absolute',
  register(program) {
    program
      .command('absolute')
      .description('put merged diffuse and Bragg tables on an absolute scale (electron units per unit cell, Compton subtracted) by the Krogh-Moe sum rule (docs/absolute.md)')
      .argument('<merged>', "stage file of 'diffract merge' (tables 'diffuse' and, when present, 'bragg')")
      .requiredOption('--out <file>', "output stage file ('absolute')")
      .option('--composition <atoms>', 'unit-cell contents, e.g. "C2000 H3100 N540 O610 S12" or "8*C613H959N193O185S10 + 9000 H2O"')
      .option('--sequence <file|seq>', 'protein sequence (FASTA file or one-letter string); records are the chains of one molecule')
      .option('--copies <n>', 'molecules per unit cell (with --sequence; default 1)')
      .option('--solvent <f>', 'bulk-solvent fraction of the cell, filled with water at 0.0334 /Å³ (with --sequence; default 0.5)')
      .option('--disulfides <n>', 'disulfide bonds per molecule, 2 H each (with --sequence; default 0)')
      .option('--ions <atoms>', 'extra atoms per cell, e.g. "Na8 Cl8"')
      .option('--cutoff <s>', '|s| (1/Å) of the scale factor, snapped to a shell edge (default: the data’s largest |s|)')
      .option('--shells <n>', 'radial shells', '50')
      .option('--spacing <kind>', 'shell spacing: width | volume', 'width')
      .option('--min-completeness <f>', 'shells measured below this fraction are interpolated', '0.02')
      .option('--json', 'print the summary as JSON')
      .action(async (merged: string, o: AbsoluteCliOptions) => {
        const { summary, r, bragg } = await runAbsolute(merged, o);
        if (o.json) {
          process.stdout.write(`${JSON.stringify(summary)}\n`);
          return;
        }
        const lines = [
          `composition ${r.composition} (N_e = ${r.electrons.toFixed(1)}, V_cell = ${r.cellVolume.toFixed(1)} Å³, N_e²/V = ${r.forward.toPrecision(5)})`,
          `rows: diffuse ${summary.diffuseRows}, bragg ${bragg === undefined ? 'none (no table)' : summary.braggRows}`,
          `scale factor K = ${r.scale.toPrecision(6)} at cut-off |s| = ${r.cutoff.toFixed(4)} Å⁻¹`,
          '   |s|    complete   T/O',
          ...summary.ratioAt.map((p) => `  ${p.s.toFixed(4)}  ${p.completeness.toFixed(3).padStart(6)}  ${p.ratio.toPrecision(5)}`),
          `wrote ${o.out}`,
        ];
        process.stdout.write(`${lines.join('\n')}\n`);
      });
  },
};
