/**
 * merge-weighted: inverse-variance weighted sums per segment, a segmented
 * reduction over rows sorted by key (segments = runs of equal key).
 *
 * For the included rows i of segment s, with w = 1/σ² and the shift K = I of
 * the segment's first included row:
 *
 *   Σw,  Σw·d,  Σw·d²  (d = I − K),  n = #included,
 *
 * from which the merged mean is K + Σwd/Σw, its σ 1/√Σw, and the weighted sum
 * of squared deviations χ² = Σwd² − (Σwd)²/Σw (no cancellation of Σw·I²).
 *
 * Determinism: the CPU twin and the shader compute the same f32 words. A
 * segment is cut into chunks of CHUNK rows; each chunk sums its rows in order
 * and the chunk partials are combined in chunk order, every sum compensated
 * (TwoSum into an f32 correction, see the shader), with only + − × and the
 * Newton reciprocal of exact-f32 (no fma: products are hidden from the
 * compiler), and every result flushed: subnormals and −0 become +0 (`fz`), so
 * the flush-to-zero mode of the device does not matter. Batching (by whole
 * segments, to stay within one storage binding) does not change any word.
 *
 * Domain (checked; an InvalidValueError names the row or segment): included
 * rows have a finite I and a σ whose f32 square lies in [2^−100, 2^100]; a
 * segment's Σw, Σ|w·d| and Σw·d² stay below 2^120 (no f32 overflow). Rows
 * with zero or infinite weight are for the caller to exclude.
 */
import { InvalidValueError } from '../errors.ts';
import { recip } from '../grid/exact-f32.ts';
import type { GpuContext } from '../host/context.ts';
import { defineProgram } from '../host/program.ts';
import type { Kernel } from './kernel.ts';

export interface MergeWeightedParams {
  /** I per row (rows sorted by key) */
  values: Float32Array;
  /** σ per row */
  sigmas: Float32Array;
  /** per row, non-zero = merged (0: rejected as outlier, or not in this half) */
  include: Uint8Array | Uint32Array;
  /** segment s = rows offsets[s] … offsets[s+1]−1; offsets[0] = 0, offsets[n_seg] = n_rows */
  offsets: Uint32Array;
  /** GPU: rows per batch (default: 2^21, and what one storage binding holds); results do not depend on it */
  maxBatchRows?: number;
}

export interface MergeWeightedResult {
  /** 8 words per segment: S_w, C_w, S_wd, C_wd, S_wd2, C_wd2 (f32 bits), n, K (f32 bits) */
  words: Uint32Array;
  /** Σw = S_w + C_w */
  sumW: Float64Array;
  /** Σw·(I − K) */
  sumWD: Float64Array;
  /** Σw·(I − K)² */
  sumWD2: Float64Array;
  /** K: I of the segment's first included row (0 when none is included) */
  shift: Float32Array;
  /** included rows */
  n: Uint32Array;
}

/** Rows per chunk (pass 1 of the shader); fixes the summation order. */
export const MERGE_CHUNK = 64;
const WG = 64;
const DEFAULT_BATCH_ROWS = 1 << 21;
const MIN_NORMAL = 2 ** -126;
const SIGMA2_MIN = 2 ** -100;
const SIGMA2_MAX = 2 ** 100;
const SUM_MAX = 2 ** 120;

const fr = Math.fround;

/** As the shader's fz: f32 rounding, subnormals and −0 → +0 (NaN stays). */
function fz(x: number): number {
  const y = fr(x);
  return y < MIN_NORMAL && y > -MIN_NORMAL ? 0 : y;
}
const fadd = (a: number, b: number): number => fz(a + b);
const fsub = (a: number, b: number): number => fz(a - b);
const fmul = (a: number, b: number): number => fz(a * b);

/** The f32 weight 1/σ² of a row, exactly as the kernel forms it. */
export function mergeWeight(sigma: number): number {
  const sg = fz(sigma);
  return fz(recip(fmul(sg, sg)));
}

/** The f32 deviation I − K of a row, exactly as the kernel forms it. */
export function mergeDeviation(value: number, shift: number): number {
  return fsub(fz(value), fz(shift));
}

/** True when a row with this I and σ may be included (finite, σ² in range). */
export function mergeableRow(value: number, sigma: number): boolean {
  if (!Number.isFinite(value) || !Number.isFinite(sigma)) return false;
  const sg = fz(sigma);
  const s2 = fmul(sg, sg);
  return s2 >= SIGMA2_MIN && s2 <= SIGMA2_MAX;
}

/** A compensated f32 sum: [s, c]. */
type Acc = [number, number];

/** TwoSum of (s, x); the exact error goes into c (the shader's acc_add). */
function accAdd(a: Acc, x: number): void {
  const s = a[0];
  const t = fadd(s, x);
  const bb = fsub(t, s);
  const e = fadd(fsub(s, fsub(t, bb)), fsub(x, bb));
  a[0] = t;
  a[1] = fadd(a[1], e);
}

/** Folds a chunk partial (s, c) into a (the shader's acc_merge). */
function accMerge(a: Acc, s: number, c: number): void {
  accAdd(a, s);
  a[1] = fadd(a[1], c);
}

const scratchF = new Float32Array(1);
const scratchU = new Uint32Array(scratchF.buffer);
function bits(x: number): number {
  scratchF[0] = x;
  return scratchU[0] as number;
}
function fromBits(u: number): number {
  scratchU[0] = u;
  return scratchF[0] as number;
}

interface Layout {
  nRows: number;
  nSeg: number;
  /** chunks of segment s: segChunks[s] … segChunks[s+1]−1 (global chunk numbers) */
  segChunks: Uint32Array;
  /** the row of K per segment: its first included row, −1 when none */
  segShift: Int32Array;
}

/** Checks the params and builds the chunk layout. */
function resolve(p: MergeWeightedParams): Layout {
  const nRows = p.values.length;
  if (p.sigmas.length !== nRows || p.include.length !== nRows) {
    throw new InvalidValueError('merge-weighted: values, sigmas and include must have one entry per row', { field: 'values' });
  }
  if (p.offsets.length < 1) throw new InvalidValueError('merge-weighted: offsets needs n_segments + 1 entries', { field: 'offsets' });
  const nSeg = p.offsets.length - 1;
  if (p.offsets[0] !== 0 || p.offsets[nSeg] !== nRows) {
    throw new InvalidValueError(`merge-weighted: offsets must run from 0 to the row count ${nRows}`, { field: 'offsets' });
  }
  const segChunks = new Uint32Array(nSeg + 1);
  const segShift = new Int32Array(nSeg).fill(-1);
  let chunks = 0;
  for (let s = 0; s < nSeg; s++) {
    const a = p.offsets[s] as number;
    const b = p.offsets[s + 1] as number;
    if (b < a) throw new InvalidValueError(`merge-weighted: offsets decrease at segment ${s}`, { field: 'offsets' });
    chunks += Math.ceil((b - a) / MERGE_CHUNK);
    segChunks[s + 1] = chunks;
    if (b === a) continue;
    // domain check in f64: the f32 sums of this segment cannot overflow
    let k = NaN;
    let sw = 0;
    let swd = 0;
    let swd2 = 0;
    for (let i = a; i < b; i++) {
      if (p.include[i] === 0) continue;
      const v = p.values[i] as number;
      const sg = p.sigmas[i] as number;
      if (!mergeableRow(v, sg)) {
        throw new InvalidValueError(`merge-weighted: included row ${i} has I = ${v}, σ = ${sg} (need a finite I and σ² in [2^-100, 2^100])`, { field: 'sigmas' });
      }
      if (segShift[s] === -1) {
        segShift[s] = i;
        k = v;
      }
      const w = 1 / (sg * sg);
      const d = v - k;
      sw += w;
      swd += Math.abs(w * d);
      swd2 += w * d * d;
    }
    if (!(sw < SUM_MAX && swd < SUM_MAX && swd2 < SUM_MAX)) {
      throw new InvalidValueError(`merge-weighted: the sums of segment ${s} (rows ${a}…${b - 1}) would overflow f32; rescale the intensities`, { field: 'values' });
    }
  }
  return { nRows, nSeg, segChunks, segShift };
}

/** Pass 1 of the shader: the partial sums of rows first … last−1 with shift k, into 8 words at out[o]. */
function chunkPartial(p: MergeWeightedParams, first: number, last: number, k: number, out: Uint32Array, o: number): void {
  const sw: Acc = [0, 0];
  const swd: Acc = [0, 0];
  const swd2: Acc = [0, 0];
  let n = 0;
  for (let i = first; i < last; i++) {
    if (p.include[i] === 0) continue;
    const sg = fz(p.sigmas[i] as number);
    const w = fz(recip(fmul(sg, sg)));
    const d = fsub(fz(p.values[i] as number), k);
    const wd = fmul(w, d);
    const wd2 = fmul(wd, d);
    accAdd(sw, w);
    accAdd(swd, wd);
    accAdd(swd2, wd2);
    n++;
  }
  out[o] = bits(sw[0]);
  out[o + 1] = bits(sw[1]);
  out[o + 2] = bits(swd[0]);
  out[o + 3] = bits(swd[1]);
  out[o + 4] = bits(swd2[0]);
  out[o + 5] = bits(swd2[1]);
  out[o + 6] = n;
  out[o + 7] = 0;
}

function finish(words: Uint32Array, nSeg: number): MergeWeightedResult {
  const r: MergeWeightedResult = {
    words,
    sumW: new Float64Array(nSeg),
    sumWD: new Float64Array(nSeg),
    sumWD2: new Float64Array(nSeg),
    shift: new Float32Array(nSeg),
    n: new Uint32Array(nSeg),
  };
  for (let s = 0; s < nSeg; s++) {
    const o = 8 * s;
    r.sumW[s] = fromBits(words[o] as number) + fromBits(words[o + 1] as number);
    r.sumWD[s] = fromBits(words[o + 2] as number) + fromBits(words[o + 3] as number);
    r.sumWD2[s] = fromBits(words[o + 4] as number) + fromBits(words[o + 5] as number);
    r.n[s] = words[o + 6] as number;
    r.shift[s] = fromBits(words[o + 7] as number);
  }
  return r;
}

/** The CPU twin: the shader's two passes, word for word. */
export function mergeWeightedCpu(p: MergeWeightedParams): MergeWeightedResult {
  const { nSeg, segChunks, segShift } = resolve(p);
  const words = new Uint32Array(8 * nSeg);
  const part = new Uint32Array(8);
  for (let s = 0; s < nSeg; s++) {
    const a = p.offsets[s] as number;
    const b = p.offsets[s + 1] as number;
    const kr = segShift[s] as number;
    const k = kr >= 0 ? fz(p.values[kr] as number) : 0;
    const sw: Acc = [0, 0];
    const swd: Acc = [0, 0];
    const swd2: Acc = [0, 0];
    let n = 0;
    for (let c = 0; c < (segChunks[s + 1] as number) - (segChunks[s] as number); c++) {
      const first = a + c * MERGE_CHUNK;
      chunkPartial(p, first, Math.min(b, first + MERGE_CHUNK), k, part, 0);
      accMerge(sw, fromBits(part[0] as number), fromBits(part[1] as number));
      accMerge(swd, fromBits(part[2] as number), fromBits(part[3] as number));
      accMerge(swd2, fromBits(part[4] as number), fromBits(part[5] as number));
      n += part[6] as number;
    }
    const o = 8 * s;
    words[o] = bits(sw[0]);
    words[o + 1] = bits(sw[1]);
    words[o + 2] = bits(swd[0]);
    words[o + 3] = bits(swd[1]);
    words[o + 4] = bits(swd2[0]);
    words[o + 5] = bits(swd2[1]);
    words[o + 6] = n;
    words[o + 7] = bits(k);
  }
  return finish(words, nSeg);
}

/** Batches of whole segments [s0, s1) with at most `rows` rows and `rows` segments each. */
function batches(offsets: Uint32Array, nSeg: number, rows: number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  let s0 = 0;
  while (s0 < nSeg) {
    const r0 = offsets[s0] as number;
    let s1 = s0;
    while (s1 < nSeg && s1 - s0 < rows && (offsets[s1 + 1] as number) - r0 <= rows) s1++;
    if (s1 === s0) {
      throw new InvalidValueError(`merge-weighted: segment ${s0} has ${(offsets[s0 + 1] as number) - r0} rows, more than one GPU batch holds (${rows})`, { field: 'offsets' });
    }
    out.push([s0, s1]);
    s0 = s1;
  }
  return out;
}

const MERGE_UNIFORMS = { n_items: 'u32', row_threads: 'u32', zero: 'u32', _pad: 'u32' } as const;

/** Pass 1: the partial sums of each chunk. */
export const mergePass1Program = defineProgram({
  name: 'merge-weighted pass 1',
  shader: 'merge-weighted',
  defines: { WG: 'number' },
  fixed: { PASS1: true },
  bindings: { params: 'uniform', values: 'read', sigmas: 'read', include_bits: 'read', chunk_rows: 'read', chunk_shift: 'read', partial: 'read_write' },
  uniforms: MERGE_UNIFORMS,
});

/** Pass 2: each segment's chunks combined in order. */
export const mergePass2Program = defineProgram({
  name: 'merge-weighted pass 2',
  shader: 'merge-weighted',
  defines: { WG: 'number' },
  fixed: { PASS1: false },
  bindings: { params: 'uniform', partial: 'read', seg_chunks: 'read', values: 'read', seg_shift: 'read', result: 'read_write' },
  uniforms: MERGE_UNIFORMS,
});

export async function mergeWeightedGpu(ctx: GpuContext, p: MergeWeightedParams): Promise<MergeWeightedResult> {
  const { nSeg, segChunks, segShift } = resolve(p);
  const words = new Uint32Array(8 * nSeg);
  const maxBinding = Math.min(ctx.limits.maxStorageBufferBindingSize, ctx.limits.maxBufferSize);
  // partial sums take 32 bytes per chunk (≤ 1 per row) and results 32 per segment
  const cap = Math.floor(maxBinding / 32) - 1;
  const rows = Math.max(1, Math.min(cap, Math.floor(p.maxBatchRows ?? DEFAULT_BATCH_ROWS)));
  for (const [s0, s1] of batches(p.offsets, nSeg, rows)) {
    const r0 = p.offsets[s0] as number;
    const r1 = p.offsets[s1] as number;
    const c0 = segChunks[s0] as number;
    const nChunks = (segChunks[s1] as number) - c0;
    const nS = s1 - s0;
    if (nChunks === 0) continue; // only empty segments: zero words
    const nR = r1 - r0;
    const chunkRows = new Uint32Array(nChunks + 1);
    const chunkShift = new Uint32Array(nChunks);
    const segK = new Uint32Array(nS);
    const segCh = new Uint32Array(nS + 1);
    for (let s = s0; s < s1; s++) {
      const a = (p.offsets[s] as number) - r0;
      const kr = segShift[s] as number;
      segK[s - s0] = kr >= 0 ? kr - r0 : 0xffffffff;
      const ca = (segChunks[s] as number) - c0;
      const cb = (segChunks[s + 1] as number) - c0;
      segCh[s - s0 + 1] = cb;
      for (let c = ca; c < cb; c++) {
        chunkRows[c] = a + (c - ca) * MERGE_CHUNK;
        chunkShift[c] = kr >= 0 ? kr - r0 : a;
      }
    }
    chunkRows[nChunks] = nR;
    const packed = new Uint32Array(Math.ceil(nR / 32));
    for (let i = 0; i < nR; i++) {
      if (p.include[r0 + i] !== 0) packed[i >>> 5] = (packed[i >>> 5] as number) | (1 << (i & 31));
    }
    const [gx1, gy1] = ctx.grid(nChunks, WG);
    const [gx2, gy2] = ctx.grid(nS, WG);
    const vals = ctx.upload('merge-weighted values', p.values.subarray(r0, r1));
    const sigs = ctx.upload('merge-weighted sigmas', p.sigmas.subarray(r0, r1));
    const incl = ctx.upload('merge-weighted include', packed);
    const chr = ctx.upload('merge-weighted chunk rows', chunkRows);
    const chs = ctx.upload('merge-weighted chunk shift', chunkShift);
    const part = ctx.buffer('merge-weighted partial', 32 * nChunks);
    const sgc = ctx.upload('merge-weighted segment chunks', segCh);
    const sgr = ctx.upload('merge-weighted segment shift', segK);
    const res = ctx.buffer('merge-weighted result', 32 * nS);
    try {
      // both passes and the readback: one encoder, one submit
      const slab = await ctx.batch('merge-weighted', async () => {
        await ctx.run(mergePass1Program, {
          defines: { WG },
          uniforms: { n_items: nChunks, row_threads: gx1 * WG, zero: 0 },
          bindings: { values: vals, sigmas: sigs, include_bits: incl, chunk_rows: chr, chunk_shift: chs, partial: part },
          workgroups: [gx1, gy1, 1],
        });
        await ctx.run(mergePass2Program, {
          defines: { WG },
          uniforms: { n_items: nS, row_threads: gx2 * WG, zero: 0 },
          bindings: { partial: part, seg_chunks: sgc, values: vals, seg_shift: sgr, result: res },
          workgroups: [gx2, gy2, 1],
        });
        return ctx.read(res, 32 * nS);
      });
      words.set(new Uint32Array(slab), 8 * s0);
    } finally {
      ctx.release(vals, sigs, incl, chr, chs, part, sgc, sgr, res);
    }
  }
  return finish(words, nSeg);
}

export const mergeWeightedKernel: Kernel<MergeWeightedParams, MergeWeightedResult> = {
  name: 'merge-weighted',
  cpu: mergeWeightedCpu,
  gpu: mergeWeightedGpu,
};
