/**
 * Worker entry of the threaded CPU photon detection (src/photon/
 * threaded-detection.ts): detects one frame per request with the fast detector
 * (kept between requests while the setup stays the same) and hands back that
 * frame's hits, maximum, histogram and candidate count, and the frame itself
 * (buffers transferred). A ping is answered null (the pool is up).
 */
import { serveWorker } from '../host/node-threads.ts';
import { SingleFrameDetector } from './frame-detector.ts';
import type { DetectAnswer, WorkerRequest } from './threaded-detection.ts';

const detector = new SingleFrameDetector();

serveWorker<WorkerRequest, DetectAnswer | null>((req) => {
  if ('ping' in req) return { value: null };
  const r = detector.detect(req.key, req.setup, req.data, req.place);
  const h = r.hits;
  return {
    value: { ...r, data: req.data },
    // fresh copies (HitColumns.take, slice): plain ArrayBuffers; the frame goes back unless it is shared memory
    transfer: [h.frame, h.row, h.col, h.energy, h.posRow, h.posCol, r.histogram, ...(req.data.buffer instanceof SharedArrayBuffer ? [] : [req.data])].map((a) => a.buffer as ArrayBuffer),
  };
});
