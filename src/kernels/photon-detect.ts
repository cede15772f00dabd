/**
 * photon-detect: single-photon hits in CMOS frames, as the FemtoMAX pipeline's
 * `photonize` (maxiv-science/drp-femtomax, src/worker.py) finds them.
 *
 * On a rectangular crop (the analysis ROI; cropping is the caller's job, see
 * `cropFrames`):
 *
 *   ff = max(x − T, 0)     T = counting threshold on the raw values (default
 *                           108: the CMOS offset of 100 is still in them)
 *
 * Every pixel p with ff(p) > 0 points at the first maximum (row-major) of ff in
 * its 3×3 window, its hottest pixel h(p). Pixels with the same hottest pixel
 * form one hit. Energy = Σ ff over the 3×3 around h; position = ff-weighted
 * centre of gravity in that window, (row, col) as floats. Hits with energy >
 * E_min are accepted.
 *
 * Modes:
 * - `reference`: the original pipeline exactly, edge rules included. A seed in
 *   row 0 or column 0 of the crop yields nothing (its Python slice x−1:x+2
 *   starts at −1 and is empty); a hottest pixel in row 0 or column 0 has an
 *   empty window (energy 0), so it is never accepted; windows at the bottom and
 *   right edges are truncated.
 * - `local-max`: a hit must be the first maximum of its own 3×3 window, and
 *   windows are truncated at all four edges. Why: in `reference` mode an
 *   elongated charge cloud (a photon shared along a row, e.g. raw 800/600/300/150)
 *   gives one hit per "step down" — the seed at 300 points at 600, the seed at
 *   150 points at 300 — so one photon is counted up to three times with
 *   overlapping windows (energies 1184, 1376, 726). Requiring a local maximum
 *   keeps one hit per cloud (1184).
 *
 * Outputs: the accepted hits (frame, row, col of the hottest pixel, energy,
 * position), compacted on the GPU through an atomic counter and sorted by
 * (frame, row, col) after readback; the largest accepted energy per frame (0
 * when none: the pile-up monitor); the "clean" image, +1 at (floor(row),
 * floor(col)) of every accepted hit, summed over the frames; and a histogram of
 * the energies of ALL candidate hits, before the E_min cut, so that E_min can
 * be read off it (u32 atomics; bin = floor((E − min)/width), out of range
 * dropped).
 *
 * Arithmetic is f32 on both sides (the CPU twin rounds every step with
 * Math.fround in the shader's order), so hit sets, energies and histograms are
 * identical and positions agree to PHOTON_POSITION_TOLERANCE.
 */
import { InvalidValueError, invariant } from '../errors.ts';
import type { GpuContext } from '../host/context.ts';
import { defineProgram, type UniformValues } from '../host/program.ts';
import type { Kernel, KernelSession, StreamingKernel } from './kernel.ts';

export type PhotonMode = 'reference' | 'local-max';

export interface PhotonHistogramSpec {
  bins: number;
  /** lower edge of the first bin */
  min: number;
  /** upper edge of the last bin */
  max: number;
}

export interface PhotonDetectParams {
  /** n frames × height × width, row-major, already cropped to the ROI */
  frames: Float32Array | Uint16Array;
  width: number;
  height: number;
  /** counting threshold T on raw values (default 108) */
  threshold?: number;
  /** accept hits with energy > emin (default 1100) */
  emin?: number;
  mode?: PhotonMode;
  /** default 250 bins over [0, 5000) */
  histogram?: PhotonHistogramSpec;
  /** return the clean image (default true) */
  clean?: boolean;
  /** first hit-record capacity to try on the GPU (tests force re-runs with a small one) */
  initialCapacity?: number;
}

/** Accepted hits, one entry per hit, sorted by (frame, row, col); frame is the index in the batch. */
export interface PhotonHits {
  count: number;
  frame: Uint32Array;
  /** hottest pixel, crop coordinates */
  row: Uint32Array;
  col: Uint32Array;
  energy: Float32Array;
  /** centre of gravity, crop coordinates */
  posRow: Float32Array;
  posCol: Float32Array;
}

export interface PhotonDetectResult {
  hits: PhotonHits;
  /** per frame of the batch: the largest accepted energy, 0 when none */
  maxEnergy: Float32Array;
  /** height × width, summed over the batch (absent when `clean: false`) */
  clean?: Uint32Array;
  /** counts of all candidate hits' energies, before the E_min cut */
  histogram: Uint32Array;
  /** candidate hits (before the E_min cut) over the batch */
  candidates: number;
}

export const PHOTON_DEFAULTS = { threshold: 108, emin: 1100, mode: 'reference' as PhotonMode, histogram: { bins: 250, min: 0, max: 5000 } };
export const PHOTON_POSITION_TOLERANCE = 1e-5;
const HIT_BYTES = 24;

interface Resolved {
  n: number;
  w: number;
  h: number;
  T: number;
  emin: number;
  mode: PhotonMode;
  hist: PhotonHistogramSpec;
  histMin: number;
  histInvWidth: number;
  clean: boolean;
}

function resolve(p: PhotonDetectParams): Resolved {
  const { width: w, height: h } = p;
  if (!Number.isInteger(w) || !Number.isInteger(h) || w < 1 || h < 1) throw new InvalidValueError(`photon-detect: crop size ${w}×${h} is not positive integers`, { field: 'width' });
  if (p.frames.length % (w * h) !== 0) throw new InvalidValueError(`photon-detect: ${p.frames.length} values are not a whole number of ${h}×${w} frames`, { field: 'frames' });
  const T = Math.fround(p.threshold ?? PHOTON_DEFAULTS.threshold);
  const emin = Math.fround(p.emin ?? PHOTON_DEFAULTS.emin);
  if (!Number.isFinite(T)) throw new InvalidValueError('photon-detect: threshold is not finite', { field: 'threshold' });
  if (!Number.isFinite(emin)) throw new InvalidValueError('photon-detect: emin is not finite', { field: 'emin' });
  const mode = p.mode ?? PHOTON_DEFAULTS.mode;
  if (mode !== 'reference' && mode !== 'local-max') throw new InvalidValueError(`photon-detect: mode '${String(mode)}' is not reference or local-max`, { field: 'mode' });
  const hist = p.histogram ?? PHOTON_DEFAULTS.histogram;
  if (!Number.isInteger(hist.bins) || hist.bins < 0 || !(hist.max > hist.min)) throw new InvalidValueError('photon-detect: histogram needs integer bins ≥ 0 and max > min', { field: 'histogram' });
  return {
    n: p.frames.length / (w * h),
    w,
    h,
    T,
    emin,
    mode,
    hist,
    histMin: Math.fround(hist.min),
    histInvWidth: Math.fround(hist.bins / (hist.max - hist.min)),
    clean: p.clean ?? true,
  };
}

function emptyHits(n: number): PhotonHits {
  return { count: n, frame: new Uint32Array(n), row: new Uint32Array(n), col: new Uint32Array(n), energy: new Float32Array(n), posRow: new Float32Array(n), posCol: new Float32Array(n) };
}

const f = Math.fround;

/** The CPU twin: the readable specification. */
export function photonDetectCpu(p: PhotonDetectParams): PhotonDetectResult {
  const R = resolve(p);
  const { n, w, h, T, emin } = R;
  const ref = R.mode === 'reference';
  const histogram = new Uint32Array(Math.max(R.hist.bins, 0));
  const maxEnergy = new Float32Array(n);
  const clean = R.clean ? new Uint32Array(w * h) : undefined;
  const ff = new Float32Array(w * h);
  const flag = new Uint8Array(w * h);
  const out: Array<[number, number, number, number, number, number]> = [];
  let candidates = 0;
  // first maximum (row-major) of the window around (r, c), truncated at the crop edges
  const argmax = (r: number, c: number): number => {
    let best = -2;
    let at = -1;
    for (let dr = -1; dr <= 1; dr++) {
      const rr = r + dr;
      if (rr < 0 || rr >= h) continue;
      for (let dc = -1; dc <= 1; dc++) {
        const cc = c + dc;
        if (cc < 0 || cc >= w) continue;
        const v = ff[rr * w + cc] as number;
        if (v > best) {
          best = v;
          at = rr * w + cc;
        }
      }
    }
    return at;
  };
  for (let fr = 0; fr < n; fr++) {
    const base = fr * w * h;
    for (let i = 0; i < w * h; i++) ff[i] = Math.max(f((p.frames[base + i] as number) - T), 0);
    flag.fill(0);
    if (ref) {
      for (let r = 1; r < h; r++) {
        for (let c = 1; c < w; c++) {
          if ((ff[r * w + c] as number) <= 0) continue;
          const hp = argmax(r, c);
          const hr = Math.floor(hp / w);
          const hc = hp - hr * w;
          if (hr >= 1 && hc >= 1) flag[hp] = 1;
        }
      }
    } else {
      for (let i = 0; i < w * h; i++) {
        if ((ff[i] as number) > 0 && argmax(Math.floor(i / w), i % w) === i) flag[i] = 1;
      }
    }
    let frameMax = 0;
    for (let r = 0; r < h; r++) {
      for (let c = 0; c < w; c++) {
        if (flag[r * w + c] !== 1) continue;
        let e = 0;
        let sr = 0;
        let sc = 0;
        for (let dr = -1; dr <= 1; dr++) {
          for (let dc = -1; dc <= 1; dc++) {
            const rr = r + dr;
            const cc = c + dc;
            const v = rr >= 0 && rr < h && cc >= 0 && cc < w ? (ff[rr * w + cc] as number) : 0;
            e = f(e + v);
            sr = f(sr + v * dr);
            sc = f(sc + v * dc);
          }
        }
        const posR = f(r + f(sr / e));
        const posC = f(c + f(sc / e));
        candidates++;
        if (histogram.length > 0) {
          const x = f(f(e - R.histMin) * R.histInvWidth);
          if (x >= 0 && x < histogram.length) histogram[Math.floor(x)]! += 1;
        }
        if (!(e > emin)) continue;
        out.push([fr, r, c, e, posR, posC]);
        if (e > frameMax) frameMax = e;
        if (clean !== undefined) {
          const cr = Math.min(Math.floor(posR), h - 1);
          const cc = Math.min(Math.floor(posC), w - 1);
          clean[cr * w + cc]! += 1;
        }
      }
    }
    maxEnergy[fr] = frameMax;
  }
  const hits = emptyHits(out.length);
  out.forEach(([fr, r, c, e, pr, pc], k) => {
    hits.frame[k] = fr;
    hits.row[k] = r;
    hits.col[k] = c;
    hits.energy[k] = e;
    hits.posRow[k] = pr;
    hits.posCol[k] = pc;
  });
  const res: PhotonDetectResult = { hits, maxEnergy, histogram, candidates };
  if (clean !== undefined) res.clean = clean;
  return res;
}

export const photonDetectProgram = defineProgram({
  name: 'photon-detect',
  defines: { WG_X: 'number', WG_Y: 'number', REFERENCE: 'boolean', U16: 'boolean', CLEAN: 'boolean', STATS: 'boolean' },
  bindings: {
    params: 'uniform',
    frames: 'read',
    hits: 'read_write',
    stats: 'read_write',
    hist: { kind: 'read_write', when: 'STATS' },
    clean: { kind: 'read_write', when: 'CLEAN' },
  },
  uniforms: {
    width: 'u32',
    height: 'u32',
    n_frames: 'u32',
    capacity: 'u32',
    threshold: 'f32',
    emin: 'f32',
    hist_min: 'f32',
    hist_inv_width: 'f32',
    hist_bins: 'u32',
    _pad0: 'u32',
    _pad1: 'u32',
    _pad2: 'u32',
  },
});

function photonUniforms(R: Resolved, frames: number, capacity: number): UniformValues<typeof photonDetectProgram.spec.uniforms> {
  return { width: R.w, height: R.h, n_frames: frames, capacity, threshold: R.T, emin: R.emin, hist_min: R.histMin, hist_inv_width: R.histInvWidth, hist_bins: R.hist.bins };
}

/** Sorts hit records by (frame, row, col) into columns, adding `frameOffset`. */
function sortedHits(records: ArrayBuffer, count: number, frameOffset: number): PhotonHits {
  const u = new Uint32Array(records, 0, 6 * count);
  const fl = new Float32Array(records, 0, 6 * count);
  const order = Array.from({ length: count }, (_v, k) => k);
  order.sort((a, b) => (u[6 * a] as number) - (u[6 * b] as number) || (u[6 * a + 1] as number) - (u[6 * b + 1] as number) || (u[6 * a + 2] as number) - (u[6 * b + 2] as number));
  const hits = emptyHits(count);
  order.forEach((k, j) => {
    hits.frame[j] = (u[6 * k] as number) + frameOffset;
    hits.row[j] = u[6 * k + 1] as number;
    hits.col[j] = u[6 * k + 2] as number;
    hits.energy[j] = fl[6 * k + 3] as number;
    hits.posRow[j] = fl[6 * k + 4] as number;
    hits.posCol[j] = fl[6 * k + 5] as number;
  });
  return hits;
}

/** Concatenates hit columns (already sorted, in frame order). */
export function concatHits(parts: readonly PhotonHits[]): PhotonHits {
  const n = parts.reduce((s, x) => s + x.count, 0);
  const out = emptyHits(n);
  let o = 0;
  for (const x of parts) {
    out.frame.set(x.frame, o);
    out.row.set(x.row, o);
    out.col.set(x.col, o);
    out.energy.set(x.energy, o);
    out.posRow.set(x.posRow, o);
    out.posCol.set(x.posCol, o);
    o += x.count;
  }
  return out;
}

/** What a photon session is opened with: everything but the frames. */
export type PhotonSetup = Omit<PhotonDetectParams, 'frames'>;

/** The results of a session's batches merged in order (frames numbered across batches). */
class PhotonMerge {
  private readonly parts: PhotonHits[] = [];
  private readonly maxima: Float32Array[] = [];
  private candidates = 0;
  frames = 0;

  add(hits: PhotonHits, maxEnergy: Float32Array, candidates: number): void {
    this.parts.push(hits);
    this.maxima.push(maxEnergy);
    this.candidates += candidates;
    this.frames += maxEnergy.length;
  }

  result(histogram: Uint32Array, clean: Uint32Array | undefined): PhotonDetectResult {
    const maxEnergy = new Float32Array(this.frames);
    let o = 0;
    for (const m of this.maxima) {
      maxEnergy.set(m, o);
      o += m.length;
    }
    const res: PhotonDetectResult = { hits: concatHits(this.parts), maxEnergy, histogram, candidates: this.candidates };
    if (clean !== undefined) res.clean = clean;
    return res;
  }
}

class CpuPhotonSession implements KernelSession<Float32Array | Uint16Array, PhotonDetectResult> {
  readonly backend = 'cpu' as const;
  private readonly merged = new PhotonMerge();
  /** summed over the batches */
  private readonly histogram: Uint32Array;
  private readonly clean: Uint32Array | undefined;

  constructor(private readonly setup: PhotonSetup) {
    const { hist, clean, w, h } = resolve({ ...setup, frames: new Float32Array(0) });
    this.histogram = new Uint32Array(hist.bins);
    this.clean = clean ? new Uint32Array(w * h) : undefined;
  }

  async add(frames: Float32Array | Uint16Array): Promise<void> {
    const r = photonDetectCpu({ ...this.setup, frames });
    for (let k = 0; k < r.hits.count; k++) r.hits.frame[k] = (r.hits.frame[k] as number) + this.merged.frames;
    this.merged.add(r.hits, r.maxEnergy, r.candidates);
    for (let b = 0; b < this.histogram.length; b++) this.histogram[b] = (this.histogram[b] as number) + (r.histogram[b] as number);
    if (this.clean !== undefined && r.clean !== undefined) for (let i = 0; i < this.clean.length; i++) this.clean[i] = (this.clean[i] as number) + (r.clean[i] as number);
  }

  async finish(): Promise<PhotonDetectResult> {
    return this.merged.result(this.histogram, this.clean);
  }

  dispose(): void {
    // nothing held
  }
}

/**
 * The GPU session: the histogram and the clean image stay on the device
 * across batches and come back once, at `finish`. Each batch is split into
 * sub-batches that fit one storage binding.
 */
class GpuPhotonSession implements KernelSession<Float32Array | Uint16Array, PhotonDetectResult> {
  readonly backend = 'gpu' as const;
  private readonly merged = new PhotonMerge();
  private readonly R: Resolved;
  private readonly histBuf: GPUBuffer;
  private readonly cleanBuf: GPUBuffer | null;
  private readonly maxBinding: number;
  private capacity: number | undefined;
  private disposed = false;

  constructor(
    private readonly ctx: GpuContext,
    private readonly setup: PhotonSetup,
  ) {
    this.R = resolve({ ...setup, frames: new Float32Array(0) });
    const pix = this.R.w * this.R.h;
    this.maxBinding = Math.min(ctx.limits.maxStorageBufferBindingSize, ctx.limits.maxBufferSize);
    if (4 * pix > this.maxBinding) throw new InvalidValueError(`photon-detect: a ${this.R.h}×${this.R.w} crop exceeds one storage binding (${this.maxBinding} bytes); use a smaller ROI`, { field: 'roi' });
    this.histBuf = ctx.buffer('photon-detect histogram', 4 * Math.max(1, this.R.hist.bins));
    this.cleanBuf = this.R.clean ? ctx.buffer('photon-detect clean', 4 * pix) : null;
    ctx.clear(this.histBuf, 4 * Math.max(1, this.R.hist.bins));
    if (this.cleanBuf !== null) ctx.clear(this.cleanBuf, 4 * pix);
  }

  async add(frames: Float32Array | Uint16Array): Promise<void> {
    invariant(!this.disposed, 'photon-detect session used after finish');
    const { ctx, R } = this;
    const { n } = resolve({ ...this.setup, frames });
    const pix = R.w * R.h;
    const u16 = frames instanceof Uint16Array;
    const frameBytes = u16 ? 2 * pix : 4 * pix;
    const maxCapacity = Math.floor(this.maxBinding / HIT_BYTES);
    const perBatch = Math.max(1, Math.min(n, ctx.limits.maxComputeWorkgroupsPerDimension, Math.floor(this.maxBinding / frameBytes)));
    const defines = { WG_X: 16, WG_Y: 16, REFERENCE: R.mode === 'reference', U16: u16 };
    const grid: [number, number] = [Math.ceil(R.w / 16), Math.ceil(R.h / 16)];
    let capacity = (this.capacity ??= Math.min(maxCapacity, Math.max(1, this.setup.initialCapacity ?? Math.ceil((pix * perBatch) / 8) + 1024)));
    for (let first = 0; first < n; first += perBatch) {
      const count = Math.min(perBatch, n - first);
      const view = frames.subarray(first * pix, (first + count) * pix);
      // packed u16 needs a whole number of u32 words
      const data = u16 && view.length % 2 === 1 ? (() => {
        const padded = new Uint16Array(view.length + 1);
        padded.set(view);
        return padded;
      })() : view;
      const frameBuf = ctx.upload('photon-detect frames', data);
      const statsBuf = ctx.buffer('photon-detect stats', 4 * (2 + count));
      let hitBuf = ctx.buffer('photon-detect hits', HIT_BYTES * capacity);
      try {
        // clear, kernel and the stats' readback in one submit; the records' readback in a second
        await ctx.batch('photon-detect', async () => {
          ctx.clear(statsBuf, 4 * (2 + count));
          await ctx.run(photonDetectProgram, {
            defines: { ...defines, CLEAN: this.cleanBuf !== null, STATS: true },
            uniforms: photonUniforms(R, count, capacity),
            bindings: this.cleanBuf !== null ? { frames: frameBuf, hits: hitBuf, stats: statsBuf, hist: this.histBuf, clean: this.cleanBuf } : { frames: frameBuf, hits: hitBuf, stats: statsBuf, hist: this.histBuf },
            workgroups: [grid[0], grid[1], count],
          });
          const stats = new Uint32Array(await ctx.read(statsBuf, 4 * (2 + count)));
          const accepted = stats[0] as number;
          if (accepted > capacity) {
            // records past the capacity were dropped; histogram, maxima and clean
            // image are complete, so re-run for the records only
            if (accepted > maxCapacity) {
              throw new InvalidValueError(`photon-detect: ${accepted} hits in ${count} frame(s) exceed one storage binding; the frames are not sparse (check the threshold)`, { field: 'threshold' });
            }
            ctx.release(hitBuf);
            capacity = this.capacity = accepted;
            hitBuf = ctx.buffer('photon-detect hits', HIT_BYTES * capacity);
            ctx.clear(statsBuf, 4);
            await ctx.run(photonDetectProgram, {
              defines: { ...defines, CLEAN: false, STATS: false },
              uniforms: photonUniforms(R, count, capacity),
              bindings: { frames: frameBuf, hits: hitBuf, stats: statsBuf },
              workgroups: [grid[0], grid[1], count],
            });
            const again = new Uint32Array(await ctx.read(statsBuf, 4))[0] as number;
            invariant(again === accepted, 'photon-detect re-run finds the same number of hits');
          }
          const records = accepted > 0 ? await ctx.read(hitBuf, HIT_BYTES * accepted) : new ArrayBuffer(0);
          this.merged.add(sortedHits(records, accepted, this.merged.frames), new Float32Array(stats.buffer, 8, count).slice(), stats[1] as number);
        });
      } finally {
        ctx.release(frameBuf, statsBuf, hitBuf);
      }
    }
  }

  async finish(): Promise<PhotonDetectResult> {
    try {
      const bins = this.R.hist.bins;
      const histogram = bins > 0 ? new Uint32Array(await this.ctx.read(this.histBuf, 4 * bins)) : new Uint32Array(0);
      const clean = this.cleanBuf !== null ? new Uint32Array(await this.ctx.read(this.cleanBuf, 4 * this.R.w * this.R.h)) : undefined;
      return this.merged.result(histogram, clean);
    } finally {
      this.dispose();
    }
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.ctx.release(this.histBuf);
    if (this.cleanBuf !== null) this.ctx.release(this.cleanBuf);
  }
}

/**
 * The session form: batches of frames (each a whole number of crops) in,
 * one result out with frames numbered across the batches; the histogram and
 * clean image are summed over all of them. `Engine.open` adds the fall-back.
 */
export const photonDetectStream: StreamingKernel<PhotonSetup, Float32Array | Uint16Array, PhotonDetectResult> = {
  name: 'photon-detect',
  openCpu: (setup) => new CpuPhotonSession(setup),
  openGpu: (ctx, setup) => new GpuPhotonSession(ctx, setup),
};

/** The GPU path (one-shot: one session, one batch). */
export async function photonDetectGpu(ctx: GpuContext, p: PhotonDetectParams): Promise<PhotonDetectResult> {
  const { frames, ...setup } = p;
  const s = new GpuPhotonSession(ctx, setup);
  try {
    await s.add(frames);
    return await s.finish();
  } finally {
    s.dispose();
  }
}

export const photonDetectKernel: Kernel<PhotonDetectParams, PhotonDetectResult> = {
  name: 'photon-detect',
  cpu: photonDetectCpu,
  gpu: photonDetectGpu,
};

export interface CropRect {
  row0: number;
  row1: number;
  col0: number;
  col1: number;
}

/** Copies the rectangle [row0, row1) × [col0, col1) out of each of `n` frames (width × height). */
export function cropFrames<T extends Float32Array | Uint16Array>(frames: T, width: number, height: number, roi: CropRect): T {
  const n = frames.length / (width * height);
  const cw = roi.col1 - roi.col0;
  const ch = roi.row1 - roi.row0;
  if (roi.row0 === 0 && roi.col0 === 0 && cw === width && ch === height) return frames;
  const out = new (frames.constructor as new (len: number) => T)(n * cw * ch);
  for (let k = 0; k < n; k++) {
    for (let r = 0; r < ch; r++) {
      const src = k * width * height + (roi.row0 + r) * width + roi.col0;
      out.set(frames.subarray(src, src + cw), (k * ch + r) * cw);
    }
  }
  return out;
}
