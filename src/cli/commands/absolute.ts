/**
 * `diffract absolute MERGED.h5 --out ABS.h5 (--composition "…" | --sequence FILE|SEQ --copies N --solvent F)`:
 * puts the merged diffuse and Bragg tables of a 'merge' stage file on an
 * absolute scale (electron units per unit cell, Compton subtracted) by the
 * Krogh-Moe / mdx-lib sum rule, and writes an 'absolute' stage file
 * (docs/absolute.md).
 */
import { UsageError } from '../../errors.ts';
import { Engine } from '../../host/engine.ts';
import { readStageFile, writeStageFile } from '../../io/observation-file.ts';
import { ABSOLUTE_DEFAULTS, absoluteStage, validateAbsoluteSettings, type AbsoluteSettings, type CompositionSettings } from '../../stages/absolute.ts';
import type { CommandSpec } from '../command-spec.ts';
import { checkAsFlags, flagNumber, type FlagNames } from '../settings-flags.ts';
import { cliContext } from '../stage-context.ts';

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

const ABSOLUTE_FLAGS: FlagNames = {
  composition: '--composition',
  'composition.copies': '--copies',
  'composition.solvent': '--solvent',
  'composition.disulfides': '--disulfides',
  cutoff: '--cutoff',
  shells: '--shells',
  spacing: '--spacing',
  minCompleteness: '--min-completeness',
};

function compositionSettings(o: AbsoluteCliOptions): CompositionSettings {
  if ((o.composition === undefined) === (o.sequence === undefined)) throw new UsageError('give exactly one of --composition and --sequence', { field: '--composition' });
  if (o.composition !== undefined) {
    if (o.copies !== undefined || o.solvent !== undefined || o.disulfides !== undefined) throw new UsageError('--copies, --solvent and --disulfides go with --sequence', { field: '--copies' });
    // extra ions add to the formula (a composition sums its terms)
    return { kind: 'formula', formula: o.ions === undefined ? o.composition : `${o.composition} + ${o.ions}` };
  }
  const d = ABSOLUTE_DEFAULTS.sequence;
  return {
    kind: 'sequence',
    sequence: o.sequence as string,
    copies: o.copies !== undefined ? flagNumber(o.copies, '--copies') : d.copies,
    solvent: o.solvent !== undefined ? flagNumber(o.solvent, '--solvent') : d.solvent,
    disulfides: o.disulfides !== undefined ? flagNumber(o.disulfides, '--disulfides') : d.disulfides,
    ions: o.ions ?? d.ions,
  };
}

/** The absolute settings of the command line (checked; errors name the flags). */
export function absoluteSettings(o: AbsoluteCliOptions): AbsoluteSettings {
  const s: AbsoluteSettings = {
    composition: compositionSettings(o),
    shells: flagNumber(o.shells, '--shells'),
    cutoff: o.cutoff !== undefined ? flagNumber(o.cutoff, '--cutoff') : null,
    minCompleteness: flagNumber(o.minCompleteness, '--min-completeness'),
    spacing: o.spacing as AbsoluteSettings['spacing'],
  };
  checkAsFlags(ABSOLUTE_FLAGS, () => validateAbsoluteSettings(s));
  return s;
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
      .option('--copies <n>', `molecules per unit cell (with --sequence; default ${ABSOLUTE_DEFAULTS.sequence.copies})`)
      .option('--solvent <f>', `bulk-solvent fraction of the cell, filled with water at 0.0334 /Å³ (with --sequence; default ${ABSOLUTE_DEFAULTS.sequence.solvent})`)
      .option('--disulfides <n>', `disulfide bonds per molecule, 2 H each (with --sequence; default ${ABSOLUTE_DEFAULTS.sequence.disulfides})`)
      .option('--ions <atoms>', 'extra atoms per cell, e.g. "Na8 Cl8"')
      .option('--cutoff <s>', '|s| (1/Å) of the scale factor, snapped to a shell edge (default: the data’s largest |s|)')
      .option('--shells <n>', 'radial shells', String(ABSOLUTE_DEFAULTS.shells))
      .option('--spacing <kind>', 'shell spacing: width | volume', ABSOLUTE_DEFAULTS.spacing)
      .option('--min-completeness <f>', 'shells measured below this fraction are interpolated', String(ABSOLUTE_DEFAULTS.minCompleteness))
      .option('--json', 'print the summary as JSON')
      .action(async (merged: string, o: AbsoluteCliOptions) => {
        const settings = absoluteSettings(o);
        // the absolute scale computes on the CPU: no device is opened
        const res = await absoluteStage.run(cliContext(Engine.cpu()), { file: await readStageFile(merged), path: merged }, settings);
        await writeStageFile(o.out, res.content);
        const summary = { out: o.out, ...res.summary };
        const r = res.scaled;
        if (o.json) {
          process.stdout.write(`${JSON.stringify(summary)}\n`);
          return;
        }
        const lines = [
          `composition ${r.composition} (N_e = ${r.electrons.toFixed(1)}, V_cell = ${r.cellVolume.toFixed(1)} Å³, N_e²/V = ${r.forward.toPrecision(5)})`,
          `rows: diffuse ${summary.diffuseRows}, bragg ${!res.hasBragg ? 'none (no table)' : summary.braggRows}`,
          `scale factor K = ${r.scale.toPrecision(6)} at cut-off |s| = ${r.cutoff.toFixed(4)} Å⁻¹`,
          '   |s|    complete   T/O',
          ...summary.ratioAt.map((p) => `  ${p.s.toFixed(4)}  ${p.completeness.toFixed(3).padStart(6)}  ${p.ratio.toPrecision(5)}`),
          `wrote ${o.out}`,
        ];
        process.stdout.write(`${lines.join('\n')}\n`);
      });
  },
};
