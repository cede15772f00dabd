/**
 * The `map` stage end to end: stream an experiment's frames, mask them, map
 * every pixel to hkl on the chosen backend, and summarize each frame.
 */
import type { Experiment } from '../geometry/model.ts';
import type { Engine } from '../host/engine.ts';
import type { FrameSource } from '../io/sources/frame-source.ts';
import { buildPixelMask } from '../io/pixel-mask.ts';
import { summarizeFrameHkl, type FrameHklSummary } from './hkl-summary.ts';
import { mapSeries } from './map-series.ts';

export interface SeriesMapReport {
  frames: number;
  pixelFrames: number;
  backend: string;
  device: string;
  perFrame: (FrameHklSummary & { offset: number; file: string })[];
  /** mean over frames */
  strongNearInteger: number;
  allNearInteger: number;
  seconds: number;
}

export async function mapSeriesReport(
  engine: Engine,
  exp: Experiment,
  series: Pick<FrameSource, 'length' | typeof Symbol.asyncIterator>,
  opts: { batchFrames?: number; strongCount?: number; tol?: number; onFrame?: (done: number, total: number) => void } = {},
): Promise<SeriesMapReport> {
  const t0 = performance.now();
  const panel = exp.detector.panels.length === 1 ? exp.detector.panels[0] : undefined;
  const perFrame: SeriesMapReport['perFrame'] = [];
  let pixelFrames = 0;
  const mapOpts = opts.batchFrames !== undefined ? { batchFrames: opts.batchFrames } : {};
  for await (const f of mapSeries(engine, exp, series, mapOpts)) {
    const mask = buildPixelMask(f.image, panel);
    const sumOpts: { strongCount?: number; tol?: number } = {};
    if (opts.strongCount !== undefined) sumOpts.strongCount = opts.strongCount;
    if (opts.tol !== undefined) sumOpts.tol = opts.tol;
    perFrame.push({ offset: f.offset, file: f.image.source.file, ...summarizeFrameHkl(f.image.pixels, mask, f.hkl, sumOpts) });
    pixelFrames += f.image.pixels.length;
    opts.onFrame?.(perFrame.length, series.length);
  }
  const mean = (k: 'strongNearInteger' | 'allNearInteger'): number => perFrame.reduce((s, r) => s + r[k], 0) / Math.max(1, perFrame.length);
  return {
    frames: perFrame.length,
    pixelFrames,
    backend: engine.backend,
    device: engine.deviceName,
    perFrame,
    strongNearInteger: mean('strongNearInteger'),
    allNearInteger: mean('allNearInteger'),
    seconds: (performance.now() - t0) / 1000,
  };
}
