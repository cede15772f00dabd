/**
 * Progress for long work: a cli-progress bar (frames/s and ETA) on an
 * interactive terminal, otherwise a log line every 10% (so CI logs and
 * `--json` logs stay readable); nothing in quiet mode.
 */
import { SingleBar, Presets } from 'cli-progress';
import { getLogMode, log } from '../util/log.ts';

export interface Progress {
  update(done: number): void;
  stop(): void;
}

export function startProgress(label: string, total: number, unit = 'frames'): Progress {
  const mode = getLogMode();
  if (mode === 'quiet' || total <= 0) return { update: () => undefined, stop: () => undefined };
  if (mode === 'human' && process.stderr.isTTY) {
    const bar = new SingleBar(
      { format: `${label} [{bar}] {value}/{total} ${unit} | {speed} ${unit}/s | ETA {eta_formatted}`, stream: process.stderr, hideCursor: true },
      Presets.shades_classic,
    );
    const t0 = performance.now();
    bar.start(total, 0, { speed: '0.0' });
    return {
      update: (done) => bar.update(done, { speed: (done / Math.max(1e-3, (performance.now() - t0) / 1000)).toFixed(1) }),
      stop: () => bar.stop(),
    };
  }
  let nextTenth = 1;
  const t0 = performance.now();
  return {
    update(done) {
      if (done * 10 < nextTenth * total && done !== total) return;
      while (nextTenth * total <= done * 10) nextTenth++;
      const s = (performance.now() - t0) / 1000;
      log('info', `${label}: ${done}/${total} ${unit} (${(done / Math.max(s, 1e-3)).toFixed(1)} ${unit}/s)`, { stage: label, done, total });
    },
    stop: () => undefined,
  };
}
