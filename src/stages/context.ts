/**
 * What a stage gets from its caller: the engine it computes on, a logger and
 * a progress sink. Stages never write to the console themselves: the CLI
 * passes a context that logs through src/util/log.ts and draws progress bars
 * (src/cli/stage-context.ts); a library user passes `silentContext(engine)`
 * or its own logger and sink.
 */
import type { Engine } from '../host/engine.ts';
import type { LogLevel } from '../util/log.ts';

export interface StageLogger {
  log(level: LogLevel, message: string, fields?: Record<string, unknown>): void;
}

/** One piece of long work: `update` with the number done so far, `stop` at the end (also after an error). */
export interface ProgressTask {
  update(done: number): void;
  stop(): void;
}

export interface ProgressSink {
  /** starts a task of `total` units (default unit: frames) */
  start(label: string, total: number, unit?: string): ProgressTask;
}

export interface StageContext {
  engine: Engine;
  log: StageLogger;
  progress: ProgressSink;
}

const NO_TASK: ProgressTask = { update: () => undefined, stop: () => undefined };

/** A logger that drops every line. */
export const SILENT_LOGGER: StageLogger = { log: () => undefined };

/** A progress sink that reports nothing. */
export const SILENT_PROGRESS: ProgressSink = { start: () => NO_TASK };

/** A context with no console output at all (library use); give `log` to receive the stage's messages. */
export function silentContext(engine: Engine, log: StageLogger = SILENT_LOGGER): StageContext {
  return { engine, log, progress: SILENT_PROGRESS };
}
