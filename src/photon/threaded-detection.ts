/**
 * CPU photon detection of a batch of frames, on this thread and `threads` − 1
 * worker threads (src/host/node-threads.ts), one frame per request. The merge is exact and in frame order: hits concatenated frame by
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
import { WorkerPool, workerUrl } from '../host/node-threads.ts';
import type { FrameArray } from '../io/stream1.ts';
import { invariant } from '../errors.ts';
import { concatHits, type PhotonDetectResult } from '../kernels/photon-detect.ts';
import { SingleFrameDetector, type CropPlacement, type FrameDetectorSetup, type SingleFrameDetection } from './frame-detector.ts';

/** One frame for a worker, or a ping (answered null once the worker is up). */
export type WorkerRequest = DetectRequest | { ping: true };

/** One frame for a worker. */
export interface DetectRequest {
  /** names the setup: the worker keeps its detector while this stays the same */
  key: string;
  setup: FrameDetectorSetup;
  data: FrameArray;
  place: CropPlacement;
}

/** One frame's detection (hit frame numbers 0), and the frame handed back. */
export interface DetectAnswer extends SingleFrameDetection {
  data: FrameArray;
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

/**
 * The CPU photon detection of a session: `threads` − 1 worker threads and
 * this thread, which detects its share of every batch after handing the rest
 * out (one thread: no workers at all).
 */
export class CpuPhotonDetection {
  private readonly here = new SingleFrameDetector();
  private pool: WorkerPool<WorkerRequest, DetectAnswer | null> | null = null;
  /** whether every worker has answered its first ping (until then this thread detects every frame itself) */
  private ready = false;
  /** resolves once the workers are up (at once without workers; tests wait on it to exercise them) */
  readonly started: Promise<void>;

  /**
   * `threads` ≥ 2 starts the worker pool at once: its start-up (seconds under
   * tsx) overlaps the reading of the first frames, which this thread detects
   * itself until the workers are up.
   */
  constructor(readonly threads: number) {
    if (threads > 1) {
      const pool = new WorkerPool<WorkerRequest, DetectAnswer | null>(workerUrl(import.meta.url, 'detect-worker'), { size: threads - 1, name: 'photon detection' });
      this.pool = pool;
      this.started = pool.broadcast({ ping: true }).then(
        () => {
          this.ready = true;
        },
        () => undefined, // a failed pool fails the next batch sent to it
      );
    } else {
      this.started = Promise.resolve();
    }
  }

  /**
   * Detects the photons of `frames` (each a whole frame; the crop at `place`):
   * frame k goes to worker k mod `threads` (the last share stays here; all
   * of them while the workers are starting).
   * `visit(k, data)` runs once per frame, in order, before the frame is
   * detected (for a worker's frame: before it leaves this thread). Use the
   * returned frames afterwards, not the owned ones passed in (those are
   * detached).
   */
  async detect(frames: readonly FrameArray[], owned: readonly boolean[], setup: FrameDetectorSetup, place: CropPlacement, visit: (k: number, data: FrameArray) => void = () => undefined): Promise<BatchOutcome> {
    const key = JSON.stringify(setup);
    const pool = this.ready ? this.pool : null;
    const mine: number[] = [];
    const sent = frames.map((data, k): Promise<DetectAnswer | null> | null => {
      visit(k, data);
      if (pool === null || k % this.threads === this.threads - 1) {
        mine.push(k);
        return null;
      }
      const m = movable(data, owned[k] === true);
      return pool.run({ key, setup, data: m.data, place }, m.transfer, k % this.threads);
    });
    const answers: Array<DetectAnswer | null> = frames.map(() => null);
    for (const k of mine) {
      const data = frames[k] as FrameArray;
      answers[k] = { ...this.here.detect(key, setup, data, place), data };
    }
    for (const [k, p] of sent.entries()) if (p !== null) answers[k] = await p;
    const done = answers.map((a) => {
      invariant(a !== null, 'every frame of the batch is detected');
      return a;
    });
    const histogram = new Uint32Array(done[0]?.histogram.length ?? 0);
    let candidates = 0;
    const maxEnergy = new Float32Array(frames.length);
    for (const [k, a] of done.entries()) {
      a.hits.frame.fill(k);
      for (let b = 0; b < histogram.length; b++) histogram[b] = (histogram[b] as number) + (a.histogram[b] as number);
      candidates += a.candidates;
      maxEnergy[k] = a.maxEnergy;
    }
    return { detection: { hits: concatHits(done.map((a) => a.hits)), maxEnergy, histogram, candidates }, frames: done.map((a) => a.data) };
  }

  /** Ends the worker threads (safe twice). */
  async close(): Promise<void> {
    const p = this.pool;
    this.pool = null;
    await p?.destroy();
  }
}
