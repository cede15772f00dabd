/**
 * CPU photon detection of a batch of frames, on this thread (one thread) or
 * on a pool of worker threads (src/host/cpu-threads.ts), one frame per
 * request. The merge is exact and in frame order: hits concatenated frame by
 * frame, histograms and candidate counts summed as integers, so the result is
 * the same for every thread count (and the same as the CPU twin's).
 *
 * Frames the caller owns (`owned[k]`: read fresh from a file, held by
 * nothing else) go to the workers by transfer, not by copy: the caller's
 * `visit` sees each frame just before it leaves this thread (the session
 * adds it to the accumulation there), and the worker hands the buffer back
 * with its answer. Other frames (the caller's own arrays, views into a
 * message) are copied first, so memory someone else holds is never moved.
 */
import { WorkerPool, workerUrl } from '../host/cpu-threads.ts';
import type { FrameArray } from '../io/stream1.ts';
import { concatHits, type PhotonDetectResult, type PhotonHits } from '../kernels/photon-detect.ts';
import { FrameDetector, HitColumns, type CropPlacement, type FrameDetectorSetup } from './frame-detector.ts';

/** One frame for a worker. */
export interface DetectRequest {
  /** names the setup: the worker keeps its detector while this stays the same */
  key: string;
  setup: FrameDetectorSetup;
  data: FrameArray;
  place: CropPlacement;
}

/** One frame's detection (hit frame numbers 0), and the frame handed back. */
export interface DetectAnswer {
  data: FrameArray;
  hits: PhotonHits;
  maxEnergy: number;
  histogram: Uint32Array;
  candidates: number;
}

/** A batch's photon detection (hit frame = index in the batch; crop coordinates). */
export type BatchDetection = Omit<PhotonDetectResult, 'clean'>;

/** `data` over a buffer that may be moved (itself when `owned` and alone on its buffer, or shared memory; else a copy), and what to transfer. */
function movable(data: FrameArray, owned: boolean): { data: FrameArray; transfer: ArrayBuffer[] } {
  if (data.buffer instanceof SharedArrayBuffer) return { data, transfer: [] };
  const own = owned && data.byteOffset === 0 && data.byteLength === data.buffer.byteLength ? data : data.slice();
  return { data: own, transfer: [own.buffer as ArrayBuffer] };
}

/** A batch's detection and its frames (the same values; after a round trip through a worker, new views). */
export interface BatchOutcome {
  detection: BatchDetection;
  frames: FrameArray[];
}

export class CpuPhotonDetection {
  private local: { key: string; det: FrameDetector; hits: HitColumns } | null = null;
  private pool: WorkerPool<DetectRequest, DetectAnswer> | null = null;

  /** `threads` ≥ 2 starts the worker pool at once (its start-up overlaps the reading of the first frames). */
  constructor(readonly threads: number) {
    if (threads > 1) this.pool = new WorkerPool<DetectRequest, DetectAnswer>(workerUrl(import.meta.url, 'detect-worker'), { size: threads, name: 'photon detection' });
  }

  /**
   * Detects the photons of `frames` (each a whole frame; the crop at `place`).
   * `visit(k, data)` runs once per frame, in order, before the frame is
   * detected (on the pool: before it leaves this thread). Use the returned
   * frames afterwards, not the owned ones passed in (those are detached).
   */
  async detect(frames: readonly FrameArray[], owned: readonly boolean[], setup: FrameDetectorSetup, place: CropPlacement, visit: (k: number, data: FrameArray) => void = () => undefined): Promise<BatchOutcome> {
    const key = JSON.stringify(setup);
    const pool = this.pool;
    if (pool === null) {
      frames.forEach((data, k) => visit(k, data));
      return { detection: this.detectHere(frames, setup, key, place), frames: [...frames] };
    }
    const sent = frames.map((data, k) => {
      visit(k, data);
      const m = movable(data, owned[k] === true);
      return pool.run({ key, setup, data: m.data, place }, m.transfer, k % pool.size);
    });
    const answers = await Promise.all(sent);
    const histogram = new Uint32Array(answers[0]?.histogram.length ?? 0);
    let candidates = 0;
    const maxEnergy = new Float32Array(frames.length);
    for (const [k, a] of answers.entries()) {
      a.hits.frame.fill(k);
      for (let b = 0; b < histogram.length; b++) histogram[b] = (histogram[b] as number) + (a.histogram[b] as number);
      candidates += a.candidates;
      maxEnergy[k] = a.maxEnergy;
    }
    return { detection: { hits: concatHits(answers.map((a) => a.hits)), maxEnergy, histogram, candidates }, frames: answers.map((a) => a.data) };
  }

  /** Ends the worker threads (safe twice). */
  async close(): Promise<void> {
    const p = this.pool;
    this.pool = null;
    await p?.destroy();
  }

  private detectHere(frames: readonly FrameArray[], setup: FrameDetectorSetup, key: string, place: CropPlacement): BatchDetection {
    if (this.local === null || this.local.key !== key) this.local = { key, det: new FrameDetector(setup), hits: new HitColumns() };
    const { det, hits } = this.local;
    det.histogram.fill(0);
    det.candidates = 0;
    const maxEnergy = new Float32Array(frames.length);
    for (const [k, data] of frames.entries()) maxEnergy[k] = det.detect(data, place, k, hits);
    return { hits: hits.take(), maxEnergy, histogram: det.histogram.slice(), candidates: det.candidates };
  }
}
