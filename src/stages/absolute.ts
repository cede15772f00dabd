/**
 * Stage `absolute`: the merged diffuse and Bragg tables of a 'merge' stage
 * file on an absolute scale (electron units per unit cell, Compton
 * subtracted) by the Krogh-Moe / mdx-lib sum rule (src/pipeline/absolute.ts,
 * docs/absolute.md); the stage file (stage 'absolute') holds the scaled
 * tables and the `curves` group.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { FileAccessError, InvalidValueError } from '../errors.ts';
import { mergedOf, type StageFile, type StageFileContent } from '../io/observation-file.ts';
import { absoluteScale, type AbsoluteScaleResult, type ShellSpacing } from '../pipeline/absolute.ts';
import type { MergedTable } from '../pipeline/observations.ts';
import { compositionFromSequence, parseComposition, type Composition } from '../scattering/composition.ts';
import { cellVolume } from '../scattering/model.ts';
import type { StageContext } from './context.ts';
import { checkInt, checkOneOf, checkPositive, checkRange, SettingError } from './settings-check.ts';
import type { Stage } from './stage.ts';

/** Unit-cell contents: a formula, or a protein sequence with copies and solvent. */
export type CompositionSettings =
  | { kind: 'formula'; formula: string }
  | {
      kind: 'sequence';
      /** a FASTA file or the one-letter sequence itself */
      sequence: string;
      /** molecules per unit cell */
      copies: number;
      /** bulk-solvent fraction of the cell */
      solvent: number;
      /** disulfide bonds per molecule */
      disulfides: number;
      /** extra atoms per cell, e.g. "Na8 Cl8" */
      ions: string | null;
    };

export interface AbsoluteSettings {
  /** the cell contents; required to run the stage (the runner skips the stage when null) */
  composition: CompositionSettings | null;
  /** |s| (1/Å) of the scale factor, snapped to a shell edge; null: the data's largest |s| */
  cutoff: number | null;
  /** radial shells */
  shells: number;
  spacing: ShellSpacing;
  /** shells measured below this fraction are interpolated */
  minCompleteness: number;
}

/** The defaults; `sequence` holds those of a sequence composition's fields. */
export const ABSOLUTE_DEFAULTS: AbsoluteSettings & { sequence: { copies: number; solvent: number; disulfides: number; ions: string | null } } = {
  composition: null,
  cutoff: null,
  shells: 50,
  spacing: 'width',
  minCompleteness: 0.02,
  sequence: { copies: 1, solvent: 0.5, disulfides: 0, ions: null },
};

export interface AbsoluteInputs {
  /** a stage file of stage 'merge' */
  file: StageFile;
  /** its path (messages and the `source` attribute) */
  path: string;
}

export interface AbsoluteSummary {
  scale: number;
  cutoff: number;
  electrons: number;
  cellVolume: number;
  forward: number;
  composition: string;
  diffuseRows: number;
  braggRows: number;
  /** the ratio curve at about ten shells */
  ratioAt: { s: number; ratio: number; completeness: number }[];
}

export interface AbsoluteResult {
  content: StageFileContent;
  scaled: AbsoluteScaleResult;
  /** whether the input had a bragg table */
  hasBragg: boolean;
  summary: AbsoluteSummary;
}

export function validateAbsoluteSettings(s: AbsoluteSettings): void {
  checkInt(s.shells, 'shells', 2);
  if (s.cutoff !== null) checkPositive(s.cutoff, 'cutoff');
  checkRange(s.minCompleteness, 'minCompleteness', 0, 1, 'a fraction in [0, 1)', true);
  checkOneOf(s.spacing, 'spacing', ['width', 'volume'] as const);
  const c = s.composition;
  if (c === null) throw new SettingError('composition', 'must be given (a formula, or a sequence)', 'none');
  if (c.kind === 'sequence') {
    checkPositive(c.copies, 'composition.copies');
    checkRange(c.solvent, 'composition.solvent', 0, 1, 'a fraction in [0, 1)', true);
    checkInt(c.disulfides, 'composition.disulfides', 0);
  }
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

/** The composition of the settings (a sequence file read). */
export function compositionOf(c: CompositionSettings, volume: number): Composition {
  if (c.kind === 'formula') return parseComposition(c.formula);
  const ions = c.ions === null ? undefined : parseComposition(c.ions);
  return compositionFromSequence(readSequence(c.sequence), { copiesPerCell: c.copies, solventFraction: c.solvent, cellVolume: volume, disulfides: c.disulfides, ...(ions === undefined ? {} : { ions }) });
}

async function run(_ctx: StageContext, inputs: AbsoluteInputs, s: AbsoluteSettings): Promise<AbsoluteResult> {
  validateAbsoluteSettings(s);
  const { file: sf, path: merged } = inputs;
  if (sf.stage !== 'merge') throw new InvalidValueError(`expected a 'merge' stage file, this one is stage '${sf.stage}'`, { file: merged, field: 'stage' });
  const volume = cellVolume(sf.meta.cell);
  const comp = compositionOf(s.composition!, volume);
  const diffuse = mergedOf(sf, 'diffuse', merged);
  const bragg: MergedTable | undefined = sf.groups.has('bragg') ? mergedOf(sf, 'bragg', merged) : undefined;
  // a stills merge (src/stills/merge.ts, input 'stills'): its Bragg rows are lattice-point densities the diffuse table's subvoxels also hold
  const fold = bragg !== undefined && sf.attrs.input === 'stills';
  const r = absoluteScale(diffuse, bragg, sf.meta, comp, { shells: s.shells, spacing: s.spacing, minCompleteness: s.minCompleteness, foldBragg: fold, ...(s.cutoff === null ? {} : { cutoff: s.cutoff }) });
  const c = r.curves;
  const content: StageFileContent = {
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
      shells: s.shells,
      shell_spacing: s.spacing,
      units: 'electron units per unit cell (e.u. = Thomson scattering of one electron); integral over a region of reciprocal space: e.u. per cell x A^-3',
      compton_subtracted: bragg === undefined || fold ? 'diffuse' : 'diffuse,bragg',
      bragg_in_sum_rule: bragg === undefined ? 'none' : fold ? 'folded into the lattice-point subvoxels (stills)' : 'subvoxels of their own',
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
  };
  const summary: AbsoluteSummary = {
    scale: r.scale,
    cutoff: r.cutoff,
    electrons: r.electrons,
    cellVolume: r.cellVolume,
    forward: r.forward,
    composition: r.composition,
    diffuseRows: r.diffuse.I.length,
    braggRows: r.bragg?.I.length ?? 0,
    ratioAt: Array.from(c.s, (sv, k) => ({ s: sv, ratio: c.ratio[k] as number, completeness: c.completeness[k] as number })).filter((_, k) => k % Math.max(1, Math.floor(s.shells / 10)) === 0 || k === s.shells - 1),
  };
  return { content, scaled: r, hasBragg: bragg !== undefined, summary };
}

export const absoluteStage: Stage<AbsoluteInputs, AbsoluteSettings, AbsoluteResult> = { name: 'absolute', defaults: ABSOLUTE_DEFAULTS, run };
