/**
 * The stage context of the CLI (and of `diffract run`, `diffract demo`): log
 * lines through src/util/log.ts (human, JSON or quiet), progress as bars on a
 * terminal or log lines (src/cli/progress.ts).
 */
import type { Engine } from '../host/engine.ts';
import type { ProgressSink, StageContext, StageLogger } from '../stages/context.ts';
import { log } from '../util/log.ts';
import { startProgress } from './progress.ts';

export const CLI_LOGGER: StageLogger = { log: (level, message, fields) => log(level, message, fields) };

export const CLI_PROGRESS: ProgressSink = { start: (label, total, unit) => startProgress(label, total, unit) };

export function cliContext(engine: Engine): StageContext {
  return { engine, log: CLI_LOGGER, progress: CLI_PROGRESS };
}
