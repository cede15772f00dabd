/**
 * The shape every stage module exports: a name, ONE defaults object for its
 * typed settings, and `run(ctx, inputs, settings)`, which returns typed
 * tables plus a summary. The CLI (src/cli/commands) and the runner
 * (src/run/runner.ts) both call stages through this; stages import neither.
 */
import type { StageContext } from './context.ts';

export interface Stage<Inputs, Settings, Result> {
  /** the stage's name (the subcommand of the same name runs it alone) */
  readonly name: string;
  /** the settings used where a caller gives none (CLI option defaults and config-schema defaults come from here) */
  readonly defaults: Readonly<Settings>;
  /** validates `settings` (errors name the setting, not a CLI flag) and runs the stage */
  run(ctx: StageContext, inputs: Inputs, settings: Settings): Promise<Result>;
}
