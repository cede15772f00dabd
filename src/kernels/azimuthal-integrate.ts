/**
 * azimuthal-integrate: per-bin sums for a 1-D azimuthal integration, kept
 * separate until the end as pyFAI does:
 *
 *   signal[b] = Σ v,  variance[b] = Σ σ²,  norm[b] = Σ n,  count[b] = #pixels
 *
 * over the pixels k with binIndex[k] = b that are not masked (v < 0 — the
 * Pilatus −1/−2 markers —, n ≤ 0, σ² < 0, binIndex −1). The caller forms
 * I = signal/norm and σ_I = √variance/norm (`finishIntegration`).
 *
 * Determinism: f32 atomics do not exist in WGSL and float sums depend on the
 * order anyway, so every value is quantized to a 64-bit fixed-point integer,
 * x = round(v·2^S) (S per quantity, chosen from the data so that no bin can
 * overflow 2^63), and added exactly with two u32 atomics (see the shader). GPU
 * and CPU produce identical words, hence identical results. Against the exact
 * f64 sum of the f32 inputs, each bin's sum is off by at most count·2^−(S+1)
 * (the rounding of each pixel) — reported as `quantum` = 2^−S per quantity
 * — plus one rounding when the 64-bit total is converted to f64.
 */
import { InvalidValueError } from '../errors.ts';
import type { GpuContext } from '../host/context.ts';
import { defineProgram } from '../host/program.ts';
import type { Kernel } from './kernel.ts';

export interface AzimuthalIntegrateParams {
  /** per pixel signal (f32); v < 0 is masked */
  image: Float32Array;
  /** per pixel bin, −1 = masked */
  binIndex: Int32Array;
  /** per pixel normalization (solid angle × polarization × exposures); ≤ 0 is masked */
  norm: Float32Array;
  /** per pixel variance; absent = Poisson (the signal itself) */
  variance?: Float32Array;
  bins: number;
}

export interface AzimuthalIntegrateResult {
  signal: Float64Array;
  variance: Float64Array;
  norm: Float64Array;
  count: Uint32Array;
  /** fixed-point resolution 2^−S of [signal, variance, norm] */
  quantum: [number, number, number];
}

const WG = 256;
const TWO32 = 4294967296;

/** Round half to even, as WGSL's round(). */
function roundEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** The exponent S such that n values ≤ max, times 2^S, sum below 2^62. */
function scaleBits(max: number, n: number): number {
  if (!(max > 0) || n === 0) return 0;
  const s = Math.floor(62 - Math.log2(max) - Math.log2(n));
  return Math.max(-100, Math.min(100, s));
}

interface Resolved {
  n: number;
  bits: [number, number, number];
}

function resolve(p: AzimuthalIntegrateParams): Resolved {
  const n = p.image.length;
  if (p.binIndex.length !== n || p.norm.length !== n || (p.variance !== undefined && p.variance.length !== n)) {
    throw new InvalidValueError('azimuthal-integrate: image, binIndex, norm (and variance) must have one entry per pixel', { field: 'image' });
  }
  if (!Number.isInteger(p.bins) || p.bins < 1) throw new InvalidValueError(`azimuthal-integrate: bins must be a positive integer, got ${p.bins}`, { field: 'bins' });
  let ms = 0;
  let mv = 0;
  let mn = 0;
  for (let k = 0; k < n; k++) {
    const v = p.image[k] as number;
    if (v > ms) ms = v;
    const nn = p.norm[k] as number;
    if (nn > mn) mn = nn;
    if (p.variance !== undefined) {
      const s2 = p.variance[k] as number;
      if (s2 > mv) mv = s2;
    }
  }
  if (p.variance === undefined) mv = ms;
  for (const [name, m] of [['image', ms], ['norm', mn], ['variance', mv]] as const) {
    if (!Number.isFinite(m)) throw new InvalidValueError(`azimuthal-integrate: ${name} holds a non-finite value`, { field: name });
  }
  return { n, bits: [scaleBits(ms, n), scaleBits(mv, n), scaleBits(mn, n)] };
}

function finish(words: Uint32Array | Float64Array, bins: number, bits: [number, number, number]): AzimuthalIntegrateResult {
  const out: AzimuthalIntegrateResult = {
    signal: new Float64Array(bins),
    variance: new Float64Array(bins),
    norm: new Float64Array(bins),
    count: new Uint32Array(bins),
    quantum: [2 ** -bits[0], 2 ** -bits[1], 2 ** -bits[2]],
  };
  const targets = [out.signal, out.variance, out.norm];
  for (let b = 0; b < bins; b++) {
    for (let q = 0; q < 3; q++) {
      const lo = words[7 * b + 2 * q] as number;
      const hi = words[7 * b + 2 * q + 1] as number;
      (targets[q] as Float64Array)[b] = (hi * TWO32 + lo) * 2 ** -(bits[q] as number);
    }
    out.count[b] = words[7 * b + 6] as number;
  }
  return out;
}

/** The CPU twin: the same integer arithmetic as the shader. */
export function azimuthalIntegrateCpu(p: AzimuthalIntegrateParams): AzimuthalIntegrateResult {
  const { n, bits } = resolve(p);
  const scales = bits.map((s) => 2 ** s) as [number, number, number];
  // lo words kept in [0, 2^32) with explicit carries; hi words mod 2^32
  const words = new Float64Array(7 * p.bins);
  const add = (w: number, x: number): void => {
    const hi = Math.floor(x / TWO32);
    const lo = x - hi * TWO32;
    let nl = (words[w] as number) + lo;
    let carry = 0;
    if (nl >= TWO32) {
      nl -= TWO32;
      carry = 1;
    }
    words[w] = nl;
    words[w + 1] = ((words[w + 1] as number) + hi + carry) % TWO32;
  };
  for (let k = 0; k < n; k++) {
    const b = p.binIndex[k] as number;
    if (b < 0 || b >= p.bins) continue;
    const v = p.image[k] as number;
    if (!(v >= 0)) continue;
    const nn = p.norm[k] as number;
    if (!(nn > 0)) continue;
    const s2 = p.variance !== undefined ? (p.variance[k] as number) : v;
    if (!(s2 >= 0)) continue;
    const w = 7 * b;
    add(w, roundEven(Math.fround(v * scales[0])));
    add(w + 2, roundEven(Math.fround(s2 * scales[1])));
    add(w + 4, roundEven(Math.fround(nn * scales[2])));
    words[w + 6] = (words[w + 6] as number) + 1;
  }
  return finish(words, p.bins, bits);
}

export const azimuthalIntegrateProgram = defineProgram({
  name: 'azimuthal-integrate',
  defines: { WG: 'number', VARIANCE: 'boolean' },
  bindings: { params: 'uniform', image: 'read', bin_index: 'read', norm: 'read', acc: 'read_write', variance: { kind: 'read', when: 'VARIANCE' } },
  uniforms: { n_pixels: 'u32', n_bins: 'u32', row_threads: 'u32', _pad: 'u32', scale_signal: 'f32', scale_variance: 'f32', scale_norm: 'f32', _pad2: 'f32' },
});

export async function azimuthalIntegrateGpu(ctx: GpuContext, p: AzimuthalIntegrateParams): Promise<AzimuthalIntegrateResult> {
  const { n, bits } = resolve(p);
  const maxBinding = Math.min(ctx.limits.maxStorageBufferBindingSize, ctx.limits.maxBufferSize);
  if (4 * n > maxBinding) throw new InvalidValueError(`azimuthal-integrate: ${n} pixels exceed one storage binding (${maxBinding} bytes)`, { field: 'image' });
  const accBytes = 28 * p.bins;
  if (accBytes > maxBinding) throw new InvalidValueError(`azimuthal-integrate: ${p.bins} bins exceed one storage binding`, { field: 'bins' });
  if (n === 0) return finish(new Uint32Array(7 * p.bins), p.bins, bits);
  const hasVar = p.variance !== undefined;
  const [gx, gy] = ctx.grid(n, WG);
  const img = ctx.input('azimuthal-integrate image', p.image);
  const idx = ctx.input('azimuthal-integrate bin index', p.binIndex);
  const nrm = ctx.input('azimuthal-integrate norm', p.norm);
  const acc = ctx.buffer('azimuthal-integrate accumulators', accBytes);
  const vr = p.variance !== undefined ? ctx.input('azimuthal-integrate variance', p.variance) : undefined;
  try {
    // clear, kernel and readback: one encoder, one submit
    const sums = await ctx.batch('azimuthal-integrate', async () => {
      ctx.clear(acc, accBytes);
      await ctx.run(azimuthalIntegrateProgram, {
        defines: { WG, VARIANCE: vr !== undefined },
        uniforms: { n_pixels: n, n_bins: p.bins, row_threads: gx * WG, scale_signal: 2 ** bits[0], scale_variance: 2 ** bits[1], scale_norm: 2 ** bits[2] },
        bindings: vr !== undefined ? { image: img, bin_index: idx, norm: nrm, acc, variance: vr } : { image: img, bin_index: idx, norm: nrm, acc },
        workgroups: [gx, gy, 1],
      });
      return ctx.read(acc, accBytes);
    });
    return finish(new Uint32Array(sums), p.bins, bits);
  } finally {
    ctx.release(img, idx, nrm, acc);
    if (vr !== undefined) ctx.release(vr);
  }
}

export const azimuthalIntegrateKernel: Kernel<AzimuthalIntegrateParams, AzimuthalIntegrateResult> = {
  name: 'azimuthal-integrate',
  cpu: azimuthalIntegrateCpu,
  gpu: azimuthalIntegrateGpu,
};

/** The 1-D pattern: I = Σsignal/Σnorm and σ = √Σvariance/Σnorm (NaN where no pixel). */
export function finishIntegration(r: AzimuthalIntegrateResult): { intensity: Float64Array; sigma: Float64Array } {
  const b = r.signal.length;
  const intensity = new Float64Array(b);
  const sigma = new Float64Array(b);
  for (let k = 0; k < b; k++) {
    const nn = r.norm[k] as number;
    intensity[k] = nn > 0 ? (r.signal[k] as number) / nn : NaN;
    sigma[k] = nn > 0 ? Math.sqrt(r.variance[k] as number) / nn : NaN;
  }
  return { intensity, sigma };
}
