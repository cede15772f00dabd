/**
 * Entry point of the `diffract` command. Each subcommand lives in
 * `src/cli/commands/<name>.ts` as a help text, its options, the mapping of its
 * flags to a stage's typed settings (src/stages/) and the printing of the
 * stage's result; this file only wires them and turns errors into exit codes.
 *
 * Exit codes: 0 success, 1 user error (bad input or settings: one clear line, no
 * stack trace), 70 internal error (a bug: the stack is printed).
 */
import { Command, CommanderError } from 'commander';
import { DiffractError, UsageError } from '../errors.ts';
import { nearestName } from '../util/edit-distance.ts';
import { COMMANDS } from './registry.ts';

export const EXIT_USER_ERROR = 1;
export const EXIT_INTERNAL_ERROR = 70;

export function buildProgram(): Command {
  const program = new Command('diffract');
  program
    .description('X-ray diffraction image reduction on WebGPU, with a CPU path that gives the same answers')
    .option('--backend <name>', 'compute backend: auto | gpu | cpu (env DIFFRACT_BACKEND overrides)', 'auto')
    .option('--threads <n>', 'CPU threads (default: DIFFRACT_THREADS, else one per core)')
    .option('--memory-mb <n>', 'host memory budget in MiB for frame batches and per-thread accumulators (default: ¼ of the memory, at most 2048)')
    .option('--debug-gpu', 'wrap every GPU dispatch in a validation error scope that names the kernel')
    .option('-q, --quiet', 'no progress output')
    .showHelpAfterError()
    .exitOverride();
  for (const spec of COMMANDS) spec.register(program);
  // commander's own answer to an unknown command is the whole help text (and a
  // suggestion only when one is close): one line with the nearest command instead
  program.on('command:*', (operands: string[]) => {
    throw unknownCommand(operands[0] ?? '', program.commands.map((c) => c.name()));
  });
  return program;
}

export async function main(argv: readonly string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return 0;
  } catch (err) {
    return reportError(err);
  }
}

/** The error for a subcommand name that is not registered, naming the nearest one that is. */
export function unknownCommand(name: string, commands: readonly string[]): UsageError {
  const near = nearestName(name, commands);
  const hint = near === undefined ? '' : ` (did you mean '${near.name}'?)`;
  return new UsageError(`unknown command '${name}'${hint}; 'diffract --help' lists the commands`);
}

export function reportError(err: unknown): number {
  if (err instanceof CommanderError) {
    // commander already printed the message (or the help text)
    return err.exitCode === 0 ? 0 : EXIT_USER_ERROR;
  }
  if (err instanceof DiffractError) {
    process.stderr.write(`diffract: error: ${err.message}\n`);
    return EXIT_USER_ERROR;
  }
  process.stderr.write(`diffract: internal error (please report): ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  return EXIT_INTERNAL_ERROR;
}
