/** `diffract stills-import`: read a DIALS stills `.expt` (+ `.refl`) or a CrystFEL `.stream` and summarize it. */
import { UsageError } from '../../errors.ts';
import { readCrystfelStills } from '../../stills/crystfel.ts';
import { readDialsStills } from '../../stills/dials.ts';
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
      .option('--summary', 'print the summary (the default; the only output for now)')
      .option('--json', 'print the summary as JSON')
      .action(async (file: string, refl: string | undefined, opts: { summary?: boolean; json?: boolean }) => {
        const isStream = file.endsWith('.stream');
        if (isStream && refl !== undefined) throw new UsageError(`a CrystFEL stream carries its reflections; drop '${refl}'`, { file });
        const data = isStream ? await readCrystfelStills(file) : await readDialsStills(file, refl);
        const summary = summarizeStills(data);
        process.stdout.write(opts.json === true ? `${JSON.stringify(summary, null, 2)}\n` : `${formatStillsSummary(summary)}\n`);
      });
  },
};
