/**
 * The process-wide logger. Human lines go to stderr (stdout stays free for
 * results and `--json` output); `setLogMode('json')` turns every line into one
 * JSON object per line for machines; 'quiet' keeps warnings and errors only.
 *
 * It also runs in a browser bundle (the host core logs through it): there,
 * with no `process`, lines go to the console and DIFFRACT_DEBUG is not read.
 */
export type LogMode = 'human' | 'json' | 'quiet';
export type LogLevel = 'debug' | 'info' | 'notice' | 'warn' | 'error';

export interface LogSink {
  write(line: string): void;
}

/** Node's `process`, where there is one. */
const proc = (globalThis as { process?: { env?: Record<string, string | undefined>; stderr?: { write(text: string): unknown } } }).process;
const stderr = proc?.stderr;

/** Where lines go by default: stderr under Node, else the console (warnings and errors as such). */
function defaultSink(): LogSink {
  if (stderr !== undefined) return { write: (line) => void stderr.write(line) };
  return {
    write: (line) => {
      const text = line.replace(/\n$/, '');
      if (/^diffract: error: |"level":"error"/.test(text)) console.error(text);
      else if (/^diffract: warning: |"level":"warn"/.test(text)) console.warn(text);
      else console.info(text);
    },
  };
}

let mode: LogMode = 'human';
let debugEnabled = proc?.env?.DIFFRACT_DEBUG === '1';
let sink: LogSink = defaultSink();
const onceKeys = new Set<string>();

export function setLogMode(m: LogMode): void {
  mode = m;
}
export function getLogMode(): LogMode {
  return mode;
}
export function setDebug(on: boolean): void {
  debugEnabled = on;
}
/** Redirects log lines (tests capture them); returns the previous sink. */
export function setLogSink(s: LogSink): LogSink {
  const prev = sink;
  sink = s;
  return prev;
}

export function log(level: LogLevel, message: string, fields: Record<string, unknown> = {}): void {
  if (level === 'debug' && !debugEnabled) return;
  if (mode === 'quiet' && (level === 'debug' || level === 'info')) return;
  if (mode === 'json') {
    sink.write(`${JSON.stringify({ t: new Date().toISOString(), level, msg: message, ...fields })}\n`);
    return;
  }
  const prefix = level === 'warn' ? 'warning: ' : level === 'error' ? 'error: ' : level === 'notice' ? 'notice: ' : '';
  sink.write(`diffract: ${prefix}${message}\n`);
}

/** Logs a line only the first time `key` is seen in this process (one notice, not one per frame). */
export function logOnce(key: string, level: LogLevel, message: string, fields: Record<string, unknown> = {}): void {
  if (onceKeys.has(key)) return;
  onceKeys.add(key);
  log(level, message, fields);
}

/** Forget `logOnce` keys (tests). */
export function resetLogOnce(): void {
  onceKeys.clear();
}
