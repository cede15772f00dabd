/**
 * Worker entry of the threaded CPU photon detection (src/photon/
 * threaded-detection.ts): detects one frame per request with the fast detector
 * (kept between requests while the setup stays the same) and hands back that
 * frame's hits, maximum, histogram and candidate count, and the frame itself
 * (buffers transferred).
 */
import { serveWorker } from '../host/cpu-threads.ts';
import { FrameDetector, HitColumns } from './frame-detector.ts';
import type { DetectAnswer, DetectRequest } from './threaded-detection.ts';

let cached: { key: string; det: FrameDetector; hits: HitColumns } | null = null;

serveWorker<DetectRequest, DetectAnswer>((req) => {
  if (cached === null || cached.key !== req.key) cached = { key: req.key, det: new FrameDetector(req.setup), hits: new HitColumns() };
  const { det, hits } = cached;
  det.histogram.fill(0);
  det.candidates = 0;
  const maxEnergy = det.detect(req.data, req.place, 0, hits);
  const h = hits.take();
  const histogram = det.histogram.slice();
  return {
    value: { data: req.data, hits: h, maxEnergy, histogram, candidates: det.candidates },
    // fresh copies (HitColumns.take, slice): plain ArrayBuffers; the frame goes back unless it is shared memory
    transfer: [h.frame, h.row, h.col, h.energy, h.posRow, h.posCol, histogram, ...(req.data.buffer instanceof SharedArrayBuffer ? [] : [req.data])].map((a) => a.buffer as ArrayBuffer),
  };
});
