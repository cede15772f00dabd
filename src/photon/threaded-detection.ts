/**
 * CPU photon detection of a batch of frames, on this thread (one thread) or
 * on a pool of worker threads (src/host/cpu-threads.ts), one frame per
 * request. The merge is exact and in frame order: hits concatenated frame by
 * frame, histograms and candidate counts summed as integers, so the result is
 * the same for every thread count (and the same as the CPU twin's).
 *
 * Frames go to the workers in SharedArrayBuffers: a frame not already in one
 * is copied once, and the frame event's `data` is replaced by the shared copy
 * (so the original can be freed and nothing holds both).
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

/** One frame's detection (hit frame numbers 0). */
export interface DetectAnswer {
  hits: PhotonHits;
  maxEnergy: number;
  histogram: Uint32Array;
  candidates: number;
}

/** A batch's photon detection (hit frame = index in the batch; crop coordinates). */
export type BatchDetection = Omit<PhotonDetectResult, 'clean'>;

type ArrayCtor = new (buffer: SharedArrayBuffer) => FrameArray;

/** `data` in a SharedArrayBuffer (itself when it already is). */
export function sharedFrame(data: FrameArray): FrameArray {
  if (data.buffer instanceof SharedArrayBuffer) return data;
  const out = new (data.constructor as ArrayCtor)(new SharedArrayBuffer(data.byteLength));
  out.set(data as ArrayLike<number> & Uint8Array);
  return out;
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
   * On the pool, every frame's data must be shared (`sharedFrame`).
   */
  async detect(frames: readonly FrameArray[], setup: FrameDetectorSetup, place: CropPlacement): Promise<BatchDetection> {
    const key = JSON.stringify(setup);
    const pool = this.pool;
    if (pool === null) return this.detectHere(frames, setup, key, place);
    const answers = await Promise.all(frames.map((data, k) => pool.run({ key, setup, data, place }, [], k % pool.size)));
    const histogram = new Uint32Array(answers[0]?.histogram.length ?? 0);
    let candidates = 0;
    const maxEnergy = new Float32Array(frames.length);
    for (const [k, a] of answers.entries()) {
      a.hits.frame.fill(k);
      for (let b = 0; b < histogram.length; b++) histogram[b] = (histogram[b] as number) + (a.histogram[b] as number);
      candidates += a.candidates;
      maxEnergy[k] = a.maxEnergy;
    }
    return { hits: concatHits(answers.map((a) => a.hits)), maxEnergy, histogram, candidates };
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
