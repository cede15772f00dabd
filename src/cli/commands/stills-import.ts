/** `diffract stills-import`: read a DIALS stills `.expt` (+ `.refl`) or a CrystFEL `.stream` and summarize it. */
import { UsageError } from '../../errors.ts';
import { readCrystfelStills } from '../../stills/crystfel.ts';
import { readDialsStills } from '../../stills/dials.ts';
import { STILLS_MASK_DEFAULTS, type StillsMaskSettings } from '../../stills/mask.ts';
import { formatMaskRows, maskedFractions } from '../../stills/mask-report.ts';
import { formatStillsSummary, summarizeStills } from '../../stills/summary.ts';
import type { CommandSpec } from '../command-spec.ts';

export const stillsImportCommand: CommandSpec = {
  name: 'stills-import',
  register(program) {
    program
      .command('stills-import')
      .description('read serial stills (a DIALS stills .expt with its .refl, or a CrystFEL .stream) and print shots, crystals, cells and reflection counts (docs/stills.md)')
      .argument('<file>', 'a DIALS stills ExperimentList (.expt/.json) or a CrystFEL stream (.stream)')
      .argument('[refl]', 'the DIALS reflection table (.refl) that goes with the .expt')
      .option('--summary', 'print the summary (the default)')
      .option('--json', 'print the summary as JSON')
      .option('--mask', 'also read every shot\'s image, build its 2D Bragg mask and print the masked fraction per shot')
      .option('--mask-radius <invA>', `lattice-point radius (Å⁻¹) for shots without a spot model (default ${STILLS_MASK_DEFAULTS.fallbackRadius})`, Number)
      .option('--mask-margin <invA>', `added to every spot's radius, Å⁻¹ (default ${STILLS_MASK_DEFAULTS.margin})`, Number)
      .option('--gain <adu>', `ADU per photon of an integrating detector, for the outlier test (default ${STILLS_MASK_DEFAULTS.gain})`, Number)
      .option('--image-root <dir>', 'folder that relative image paths (CrystFEL streams) are resolved against')
      .action(async (file: string, refl: string | undefined, opts: { summary?: boolean; json?: boolean; mask?: boolean; maskRadius?: number; maskMargin?: number; gain?: number; imageRoot?: string }) => {
        const isStream = file.endsWith('.stream');
        if (isStream && refl !== undefined) throw new UsageError(`a CrystFEL stream carries its reflections; drop '${refl}'`, { file });
        const data = isStream ? await readCrystfelStills(file) : await readDialsStills(file, refl);
        const summary = summarizeStills(data);
        if (opts.mask !== true) {
          process.stdout.write(opts.json === true ? `${JSON.stringify(summary, null, 2)}\n` : `${formatStillsSummary(summary)}\n`);
          return;
        }
        const settings: StillsMaskSettings = { ...STILLS_MASK_DEFAULTS };
        if (opts.maskRadius !== undefined) settings.fallbackRadius = opts.maskRadius;
        if (opts.maskMargin !== undefined) settings.margin = opts.maskMargin;
        if (opts.gain !== undefined) settings.gain = opts.gain;
        const masks = await maskedFractions(data, settings, opts.imageRoot !== undefined ? { imageRoot: opts.imageRoot } : {});
        process.stdout.write(opts.json === true ? `${JSON.stringify({ ...summary, masks }, null, 2)}\n` : `${formatStillsSummary(summary)}\n\n${formatMaskRows(masks)}\n`);
      });
  },
};
