/**
 * The fast CPU path of photon-detect, one frame at a time: the same hits,
 * energies, positions, histogram and maxima as the CPU twin
 * (`photonDetectCpu`, src/kernels/photon-detect.ts, the specification), bit
 * for bit, with memory that does not grow with the frame size beyond a bit
 * set and the hit list.
 *
 * How it differs from the twin (not in what it computes):
 * - no per-pixel ff array: for integer frames (uint8/uint16) ff = max(x − T, 0)
 *   comes from a 65,536-entry table indexed by the raw value, and the seed
 *   test is one integer compare (x ≥ the first value with ff > 0); float and
 *   other frames are converted once into a reused crop-sized f32 ff buffer
 *   (non-finite values read as 0, as the session masks them for the twin);
 * - it reads the crop in place from the full frame (no cropped copy);
 * - the hottest pixels are marked in a bit set and listed, then sorted, so
 *   only the ~2 % of pixels above the threshold are visited twice;
 * - hits go into growable typed columns (`HitColumns`), not an array of tuples.
 * Every f32 step (Math.fround) is the twin's, in the twin's order.
 */
import { InvalidValueError } from '../errors.ts';
import type { FrameArray } from '../io/stream1.ts';
// types only: worker threads load this module, and the kernel module pulls in the GPU host code
import type { PhotonHistogramSpec, PhotonHits, PhotonMode } from '../kernels/photon-detect.ts';

/** As the kernel's parameters, every one given (the kernel's PHOTON_DEFAULTS are the caller's to apply). */
export interface FrameDetectorSetup {
  /** crop size */
  width: number;
  height: number;
  threshold: number;
  emin: number;
  mode: PhotonMode;
  histogram: PhotonHistogramSpec;
}

/** Where the crop lies in a frame: element index of crop (0, 0) and the frame's row length. */
export interface CropPlacement {
  offset: number;
  stride: number;
}

const f = Math.fround;

/** Growable hit columns (frame, row, col, energy, position), appended in order. */
export class HitColumns {
  count = 0;
  frame = new Uint32Array(1024);
  row = new Uint32Array(1024);
  col = new Uint32Array(1024);
  energy = new Float32Array(1024);
  posRow = new Float32Array(1024);
  posCol = new Float32Array(1024);

  push(frame: number, row: number, col: number, energy: number, posRow: number, posCol: number): void {
    if (this.count === this.frame.length) this.grow();
    const k = this.count++;
    this.frame[k] = frame;
    this.row[k] = row;
    this.col[k] = col;
    this.energy[k] = energy;
    this.posRow[k] = posRow;
    this.posCol[k] = posCol;
  }

  /** The hits so far as exact-length columns (copies), then empty. */
  take(): PhotonHits {
    const n = this.count;
    const out: PhotonHits = {
      count: n,
      frame: this.frame.slice(0, n),
      row: this.row.slice(0, n),
      col: this.col.slice(0, n),
      energy: this.energy.slice(0, n),
      posRow: this.posRow.slice(0, n),
      posCol: this.posCol.slice(0, n),
    };
    this.count = 0;
    return out;
  }

  private grow(): void {
    const cap = 2 * this.frame.length;
    const g = <T extends Uint32Array | Float32Array>(a: T, make: (n: number) => T): T => {
      const b = make(cap);
      b.set(a);
      return b;
    };
    this.frame = g(this.frame, (n) => new Uint32Array(n));
    this.row = g(this.row, (n) => new Uint32Array(n));
    this.col = g(this.col, (n) => new Uint32Array(n));
    this.energy = g(this.energy, (n) => new Float32Array(n));
    this.posRow = g(this.posRow, (n) => new Float32Array(n));
    this.posCol = g(this.posCol, (n) => new Float32Array(n));
  }
}

/**
 * Detects photons frame by frame into a hit list, summing the candidate
 * histogram and count across frames. Not for concurrent use (one per thread).
 */
export class FrameDetector {
  readonly width: number;
  readonly height: number;
  readonly histogram: Uint32Array;
  candidates = 0;
  private readonly T: number;
  private readonly emin: number;
  private readonly reference: boolean;
  private readonly histMin: number;
  private readonly histInvWidth: number;
  /** ff of every uint16 value */
  private readonly lut: Float32Array;
  /** the smallest uint16 value with ff > 0 (65,536: none) */
  private readonly firstHot: number;
  /** one bit per crop pixel: already listed as a hottest pixel */
  private readonly marked: Uint32Array;
  private listed = new Int32Array(4096);
  /** crop-sized ff of non-integer frames (made on first use) */
  private ffScratch: Float32Array | null = null;

  constructor(setup: FrameDetectorSetup) {
    const { width: w, height: h } = setup;
    if (!Number.isInteger(w) || !Number.isInteger(h) || w < 1 || h < 1) throw new InvalidValueError(`photon-detect: crop size ${w}×${h} is not positive integers`, { field: 'width' });
    this.width = w;
    this.height = h;
    this.T = f(setup.threshold);
    this.emin = f(setup.emin);
    if (!Number.isFinite(this.T)) throw new InvalidValueError('photon-detect: threshold is not finite', { field: 'threshold' });
    if (!Number.isFinite(this.emin)) throw new InvalidValueError('photon-detect: emin is not finite', { field: 'emin' });
    const mode = setup.mode;
    if (mode !== 'reference' && mode !== 'local-max') throw new InvalidValueError(`photon-detect: mode '${String(mode)}' is not reference or local-max`, { field: 'mode' });
    this.reference = mode === 'reference';
    const hist = setup.histogram;
    if (!Number.isInteger(hist.bins) || hist.bins < 0 || !(hist.max > hist.min)) throw new InvalidValueError('photon-detect: histogram needs integer bins ≥ 0 and max > min', { field: 'histogram' });
    this.histogram = new Uint32Array(hist.bins);
    this.histMin = f(hist.min);
    this.histInvWidth = f(hist.bins / (hist.max - hist.min));
    this.lut = new Float32Array(65536);
    let first = 65536;
    for (let x = 65535; x >= 0; x--) {
      const v = Math.max(f(x - this.T), 0);
      this.lut[x] = v;
      if (v > 0) first = x;
    }
    this.firstHot = first;
    this.marked = new Uint32Array(Math.ceil((w * h) / 32));
  }

  /**
   * Detects the photons of one frame's crop: hits (crop coordinates, frame
   * number `frameNumber`) are appended to `out`; the histogram and candidate
   * count grow; returns the largest accepted energy (0 when none).
   */
  detect(data: FrameArray, place: CropPlacement, frameNumber: number, out: HitColumns): number {
    const { width: w, height: h } = this;
    if (place.offset < 0 || place.stride < w || place.offset + (h - 1) * place.stride + w > data.length) {
      throw new InvalidValueError(`photon-detect: a ${h}×${w} crop at element ${place.offset} (row length ${place.stride}) does not fit a frame of ${data.length} values`, { field: 'roi' });
    }
    if (data instanceof Uint16Array || data instanceof Uint8Array) {
      const n = this.list(data, place.offset, place.stride, this.lut, this.firstHot);
      return this.measure(data, place.offset, place.stride, this.lut, n, frameNumber, out);
    }
    const ff = (this.ffScratch ??= new Float32Array(w * h));
    for (let r = 0; r < h; r++) {
      const src = place.offset + r * place.stride;
      for (let c = 0; c < w; c++) {
        // non-finite values count as 0, as the session masks them
        const x = f(data[src + c] as number);
        ff[r * w + c] = Math.max(f((Number.isFinite(x) ? x : 0) - this.T), 0);
      }
    }
    const n = this.list(ff, 0, w, null, Number.MIN_VALUE);
    return this.measure(ff, 0, w, null, n, frameNumber, out);
  }

  /**
   * Lists the hit pixels (crop-linear indices, ascending): in reference mode
   * the hottest pixel of every seed, in local-max mode every pixel that is the
   * first maximum of its own window. `lut` null: `src` already holds ff.
   */
  private list(src: Uint16Array | Uint8Array | Float32Array, offset: number, stride: number, lut: Float32Array | null, hotFrom: number): number {
    const { width: w, height: h, marked } = this;
    const ref = this.reference;
    let n = 0;
    const r0 = ref ? 1 : 0;
    const c0 = ref ? 1 : 0;
    for (let r = r0; r < h; r++) {
      const rowAt = offset + r * stride;
      const rLo = r > 0 ? -1 : 0;
      const rHi = r < h - 1 ? 1 : 0;
      for (let c = c0; c < w; c++) {
        if ((src[rowAt + c] as number) < hotFrom) continue;
        // first maximum (row-major) of the window, truncated at the crop edges
        let best = -2;
        let ar = -1;
        let ac = -1;
        const cLo = c > 0 ? -1 : 0;
        const cHi = c < w - 1 ? 1 : 0;
        for (let dr = rLo; dr <= rHi; dr++) {
          const at = rowAt + dr * stride + c;
          for (let dc = cLo; dc <= cHi; dc++) {
            const raw = src[at + dc] as number;
            const v = lut === null ? raw : (lut[raw] as number);
            if (v > best) {
              best = v;
              ar = r + dr;
              ac = c + dc;
            }
          }
        }
        if (ref ? ar < 1 || ac < 1 : ar !== r || ac !== c) continue;
        const k = ar * w + ac;
        const bit = 1 << (k & 31);
        const word = k >>> 5;
        if (((marked[word] as number) & bit) !== 0) continue;
        marked[word] = (marked[word] as number) | bit;
        if (n === this.listed.length) {
          const grown = new Int32Array(2 * n);
          grown.set(this.listed);
          this.listed = grown;
        }
        this.listed[n++] = k;
      }
    }
    return n;
  }

  /** Energy, position, histogram and acceptance of the `n` listed pixels, in row-major order; clears their marks. */
  private measure(src: Uint16Array | Uint8Array | Float32Array, offset: number, stride: number, lut: Float32Array | null, n: number, frameNumber: number, out: HitColumns): number {
    const { width: w, height: h, marked, histogram } = this;
    const list = this.listed.subarray(0, n);
    // a seed's hottest pixel lies at most one row above it: the list is almost sorted
    if (this.reference) list.sort();
    let frameMax = 0;
    for (let j = 0; j < n; j++) {
      const k = list[j] as number;
      marked[k >>> 5] = 0;
      const r = (k / w) | 0;
      const c = k - r * w;
      let e = 0;
      let sr = 0;
      let sc = 0;
      for (let dr = -1; dr <= 1; dr++) {
        for (let dc = -1; dc <= 1; dc++) {
          const rr = r + dr;
          const cc = c + dc;
          let v = 0;
          if (rr >= 0 && rr < h && cc >= 0 && cc < w) {
            const raw = src[offset + rr * stride + cc] as number;
            v = lut === null ? raw : (lut[raw] as number);
          }
          e = f(e + v);
          sr = f(sr + v * dr);
          sc = f(sc + v * dc);
        }
      }
      const posR = f(r + f(sr / e));
      const posC = f(c + f(sc / e));
      this.candidates++;
      if (histogram.length > 0) {
        const x = f(f(e - this.histMin) * this.histInvWidth);
        if (x >= 0 && x < histogram.length) histogram[Math.floor(x)]! += 1;
      }
      if (!(e > this.emin)) continue;
      out.push(frameNumber, r, c, e, posR, posC);
      if (e > frameMax) frameMax = e;
    }
    return frameMax;
  }
}

/** One frame's detection on its own: hits (frame number 0), its maximum, histogram and candidate count. */
export interface SingleFrameDetection {
  hits: PhotonHits;
  maxEnergy: number;
  histogram: Uint32Array;
  candidates: number;
}

/** Detects single frames, keeping one detector while the setup (named by `key`) stays the same. */
export class SingleFrameDetector {
  private cached: { key: string; det: FrameDetector; hits: HitColumns } | null = null;

  detect(key: string, setup: FrameDetectorSetup, data: FrameArray, place: CropPlacement): SingleFrameDetection {
    if (this.cached === null || this.cached.key !== key) this.cached = { key, det: new FrameDetector(setup), hits: new HitColumns() };
    const { det, hits } = this.cached;
    det.histogram.fill(0);
    det.candidates = 0;
    const maxEnergy = det.detect(data, place, 0, hits);
    return { hits: hits.take(), maxEnergy, histogram: det.histogram.slice(), candidates: det.candidates };
  }
}
