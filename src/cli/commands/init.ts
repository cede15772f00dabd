/**
 * `diffract init [FILE] [--stills]`: writes the commented template of a run
 * configuration (default `diffract.yaml`; `--stills`: a serial-stills run),
 * every key with its default and meaning (src/run/config-template.ts, docs/run-config.md). It refuses to
 * replace an existing file unless `--force`; the file is written atomically.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { UsageError } from '../../errors.ts';
import { writeFileAtomic } from '../../io/atomic-file.ts';
import { DEFAULT_CONFIG_FILE } from '../../run/config.ts';
import { RUN_CONFIG_TEMPLATE, STILLS_CONFIG_TEMPLATE } from '../../run/config-template.ts';
import type { CommandSpec } from '../command-spec.ts';

interface InitCliOptions {
  force?: boolean;
  stills?: boolean;
}

/** Writes the template (rotation, or serial stills) to `file` (relative to the working folder); returns the absolute path. */
export async function writeRunConfigTemplate(file: string, force: boolean, kind: 'rotation' | 'stills' = 'rotation'): Promise<string> {
  const path = resolve(file);
  if (!force && existsSync(path)) throw new UsageError('the file exists; use --force to overwrite it', { file });
  await writeFileAtomic(path, kind === 'stills' ? STILLS_CONFIG_TEMPLATE : RUN_CONFIG_TEMPLATE);
  return path;
}

export const initCommand: CommandSpec = {
  name: 'init',
  register(program) {
    program
      .command('init')
      .description(`write a commented run configuration template (every key with its default) for 'diffract run'`)
      .argument('[file]', 'the file to write', DEFAULT_CONFIG_FILE)
      .option('--force', 'overwrite the file when it exists')
      .option('--stills', "the template of a serial-stills run (a 'stills:' section instead of 'sweeps:')")
      .action(async (file: string, o: InitCliOptions, _cmd: Command) => {
        const stills = o.stills === true;
        await writeRunConfigTemplate(file, o.force === true, stills ? 'stills' : 'rotation');
        const what = stills ? "the stills' expt (and refl), or a stream" : "the sweep's expt (and images)";
        process.stdout.write(`wrote ${file}: set ${what}, then run 'diffract run ${file}'\n`);
      });
  },
};
