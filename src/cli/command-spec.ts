/** What every subcommand module exports (src/cli/registry.ts lists them). */
import type { Command } from 'commander';

export interface CommandSpec {
  /** the subcommand's name as typed by the user */
  name: string;
  /** adds the subcommand, its help text and options to the program */
  register(program: Command): void;
}
