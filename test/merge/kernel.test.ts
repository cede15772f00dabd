/**
 * merge-weighted: one case table through the CPU twin and the WGSL kernel.
 * The twin is checked against plain f64 sums (its accuracy), the GPU against
 * the twin word for word (identical f32 bits: S, C of the three compensated
 * sums, n, K), across reruns and GPU batch sizes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidValueError } from '../../src/errors.ts';
import type { GpuContext } from '../../src/host/context.ts';
import { MERGE_CHUNK, mergeWeightedCpu, mergeWeightedGpu, type MergeWeightedParams } from '../../src/kernels/merge-weighted.ts';
import { mulberry32, normal } from '../../src/util/random.ts';
import { gpuTestsDisabled, openTestGpu } from '../helpers/gpu.ts';

function offsetsOf(sizes: readonly number[]): Uint32Array {
  const o = new Uint32Array(sizes.length + 1);
  for (let i = 0; i < sizes.length; i++) o[i + 1] = (o[i] as number) + (sizes[i] as number);
  return o;
}

interface CaseSpec {
  sizes: readonly number[];
  seed: number;
  /** I = scale·(base + spread·N(0,1)), σ = scale·sigma·U(0.5, 2) */
  scale?: number;
  base?: number;
  spread?: number;
  sigma?: number;
  includeFraction?: number;
}

function makeCase(c: CaseSpec): MergeWeightedParams {
  const u = mulberry32(c.seed);
  const offsets = offsetsOf(c.sizes);
  const n = offsets[c.sizes.length] as number;
  const scale = c.scale ?? 1;
  const values = new Float32Array(n);
  const sigmas = new Float32Array(n);
  const include = new Uint8Array(n);
  for (let s = 0; s < c.sizes.length; s++) {
    const centre = (c.base ?? 100) * (0.2 + 2 * u()) * (u() < 0.2 ? -1 : 1);
    for (let i = offsets[s] as number; i < (offsets[s + 1] as number); i++) {
      values[i] = scale * (centre + (c.spread ?? 10) * normal(u));
      sigmas[i] = scale * (c.sigma ?? 3) * (0.5 + 1.5 * u());
      include[i] = u() < (c.includeFraction ?? 0.9) ? 1 : 0;
    }
  }
  return { values, sigmas, include, offsets };
}

function randomSizes(seed: number, count: number, max: number): number[] {
  const u = mulberry32(seed);
  return Array.from({ length: count }, () => 1 + Math.floor(u() ** 3 * max));
}

/** Rows with zero or infinite weight, or a NaN I, excluded upstream. */
function withRejectedRows(): MergeWeightedParams {
  const p = makeCase({ sizes: [4, 6, 3], seed: 9 });
  const bad = [[0, 0], [1, Infinity], [2, NaN], [5, 0], [9, 1e-30]] as const;
  for (const [i, sg] of bad) {
    p.sigmas[i] = sg;
    p.include[i] = 0;
  }
  p.values[7] = NaN;
  p.include[7] = 0;
  p.values[10] = Infinity;
  p.include[10] = 0;
  return p;
}

/** I around the smallest normal f32 (half of them subnormal): exercises the flush to zero. */
function tinyValues(): MergeWeightedParams {
  const p = makeCase({ sizes: randomSizes(10, 100, 20), seed: 10 });
  const u = mulberry32(10);
  for (let i = 0; i < p.values.length; i++) {
    p.values[i] = (u() - 0.3) * 2e-38;
    p.sigmas[i] = 1e-14 * (0.5 + u());
  }
  return p;
}

const HUGE = [3, 5000, 1, 12000, 7, MERGE_CHUNK, MERGE_CHUNK + 1, 2 * MERGE_CHUNK, 2];

const CASES: Array<{ name: string; params: MergeWeightedParams }> = [
  { name: 'random segment sizes (1…40 rows, 2000 segments)', params: makeCase({ sizes: randomSizes(1, 2000, 40), seed: 1 }) },
  { name: 'empty table', params: { values: new Float32Array(0), sigmas: new Float32Array(0), include: new Uint8Array(0), offsets: new Uint32Array([0]) } },
  { name: 'single-row segments', params: makeCase({ sizes: new Array<number>(3000).fill(1), seed: 2 }) },
  { name: 'huge segments among small ones (5000, 12000 rows; chunk edges)', params: makeCase({ sizes: HUGE, seed: 3 }) },
  { name: 'empty and fully excluded segments', params: { ...makeCase({ sizes: [0, 3, 0, 0, 5, 2, 0], seed: 4 }), include: Uint8Array.from([1, 0, 1, 0, 0, 0, 0, 0, 1, 1]) } },
  { name: 'zero/infinite weights and NaN rows rejected upstream', params: withRejectedRows() },
  { name: 'high signal-to-noise (I ≈ 10⁶, σ ≈ 3)', params: makeCase({ sizes: randomSizes(5, 300, 200), seed: 5, base: 1e6, spread: 3 }) },
  { name: 'small scale (I ≈ 10⁻¹¹, σ ≈ 10⁻¹³)', params: makeCase({ sizes: randomSizes(6, 200, 30), seed: 6, scale: 1e-13 }) },
  { name: 'subnormal and tiny I (≈ 10⁻³⁸, flushed on load), σ ≈ 10⁻¹⁴', params: tinyValues() },
  { name: 'large scale (I ≈ 10¹⁴, σ ≈ 10¹²)', params: makeCase({ sizes: randomSizes(7, 200, 30), seed: 7, scale: 1e12 }) },
  { name: 'include mask as Uint32Array', params: { ...makeCase({ sizes: randomSizes(8, 100, 80), seed: 8 }), include: Uint32Array.from(makeCase({ sizes: randomSizes(8, 100, 80), seed: 8 }).include) } },
];

/** Plain f64 sums over the included rows, around the same shift as the kernel (its first included row). */
function reference(p: MergeWeightedParams): { sumW: number[]; mean: number[]; chi2: number[]; n: number[] } {
  const out = { sumW: [] as number[], mean: [] as number[], chi2: [] as number[], n: [] as number[] };
  for (let s = 0; s + 1 < p.offsets.length; s++) {
    let w = 0;
    let wi = 0;
    let n = 0;
    for (let i = p.offsets[s] as number; i < (p.offsets[s + 1] as number); i++) {
      if (p.include[i] === 0) continue;
      const wt = 1 / (p.sigmas[i] as number) ** 2;
      w += wt;
      wi += wt * (p.values[i] as number);
      n++;
    }
    const mean = wi / w;
    let chi2 = 0;
    for (let i = p.offsets[s] as number; i < (p.offsets[s + 1] as number); i++) {
      if (p.include[i] !== 0) chi2 += ((p.values[i] as number) - mean) ** 2 / (p.sigmas[i] as number) ** 2;
    }
    out.sumW.push(w);
    out.mean.push(mean);
    out.chi2.push(chi2);
    out.n.push(n);
  }
  return out;
}

describe('merge-weighted CPU twin', () => {
  for (const c of CASES) {
    it(`${c.name}: Σw, mean and χ² agree with f64 sums`, () => {
      const r = mergeWeightedCpu(c.params);
      const ref = reference(c.params);
      expect(Array.from(r.n)).toEqual(ref.n);
      for (let s = 0; s < ref.n.length; s++) {
        if (ref.n[s] === 0) {
          expect([r.sumW[s], r.sumWD[s], r.sumWD2[s], r.shift[s]]).toEqual([0, 0, 0, 0]);
          continue;
        }
        const w = r.sumW[s] as number;
        expect(Math.abs(w - (ref.sumW[s] as number))).toBeLessThanOrEqual(1e-6 * (ref.sumW[s] as number));
        const mean = (r.shift[s] as number) + (r.sumWD[s] as number) / w;
        // error of the mean: f32 rounding of each I and d, relative to the spread of the segment
        const sigmaMean = 1 / Math.sqrt(w);
        expect(Math.abs(mean - (ref.mean[s] as number))).toBeLessThanOrEqual(1e-6 * Math.abs(ref.mean[s] as number) + 1e-5 * sigmaMean);
        const chi2 = (r.sumWD2[s] as number) - (r.sumWD[s] as number) ** 2 / w;
        expect(Math.abs(chi2 - (ref.chi2[s] as number))).toBeLessThanOrEqual(1e-4 * (ref.chi2[s] as number) + 1e-4 * (ref.n[s] as number));
      }
    });
  }

  it('known values: two rows (4 ± 1, 8 ± 2)', () => {
    const r = mergeWeightedCpu({ values: new Float32Array([4, 8]), sigmas: new Float32Array([1, 2]), include: new Uint8Array([1, 1]), offsets: new Uint32Array([0, 2]) });
    // the Newton reciprocal is within 2 ulp of 1/σ²
    const close = (x: number | undefined, y: number): void => expect(Math.abs((x as number) - y)).toBeLessThanOrEqual(3e-7 * y);
    close(r.sumW[0], 1.25);
    expect(r.shift[0]).toBe(4);
    close(r.sumWD[0], 1); // 0.25 · 4
    close(r.sumWD2[0], 4); // 0.25 · 16
    close((r.shift[0] as number) + (r.sumWD[0] as number) / (r.sumW[0] as number), 4.8);
    expect(r.n[0]).toBe(2);
  });

  it('compensation: 12000 rows of weight 1/σ² = 0.1 sum to 1200 within 1e-6 relative (plain f32 sums drift)', () => {
    const n = 12000;
    const sigmas = new Float32Array(n).fill(Math.sqrt(10));
    const values = Float32Array.from({ length: n }, (_v, i) => 1000 + (i % 7));
    const r = mergeWeightedCpu({ values, sigmas, include: new Uint8Array(n).fill(1), offsets: new Uint32Array([0, n]) });
    const w = Math.fround(1 / Math.fround(Math.fround(Math.sqrt(10)) ** 2));
    expect(Math.abs((r.sumW[0] as number) - n * w)).toBeLessThanOrEqual(1e-9 * n * w);
    let plain = 0;
    for (let i = 0; i < n; i++) plain = Math.fround(plain + w);
    expect(Math.abs(plain - n * w)).toBeGreaterThan(1e-6 * n * w);
  });

  it('rejects bad input with one clear error', () => {
    const base = makeCase({ sizes: [2, 3], seed: 11 });
    const badSigma = { ...base, sigmas: base.sigmas.slice() };
    badSigma.sigmas[1] = 0;
    expect(() => mergeWeightedCpu(badSigma)).toThrow(InvalidValueError);
    expect(() => mergeWeightedCpu(badSigma)).toThrow(/included row 1/);
    expect(() => mergeWeightedCpu({ ...base, offsets: new Uint32Array([0, 2, 4]) })).toThrow(/offsets must run from 0 to the row count 5/);
    expect(() => mergeWeightedCpu({ ...base, offsets: new Uint32Array([0, 3, 2, 5]) })).toThrow(/offsets decrease/);
    expect(() => mergeWeightedCpu({ ...base, include: new Uint8Array(3) })).toThrow(/one entry per row/);
    const overflow = { ...base, values: Float32Array.from([1, 3e38, 2, 2, 2]), sigmas: Float32Array.from([1e-10, 1e-10, 1, 1, 1]) };
    expect(() => mergeWeightedCpu(overflow)).toThrow(/overflow/);
  });
});

describe.skipIf(gpuTestsDisabled())('merge-weighted GPU = CPU twin', () => {
  let ctx: GpuContext;
  beforeAll(async () => {
    ctx = await openTestGpu();
  });
  afterAll(() => ctx?.destroy());

  for (const c of CASES) {
    it(`${c.name}: identical words, reruns and batch sizes`, async () => {
      const cpu = mergeWeightedCpu(c.params);
      const gpu = await mergeWeightedGpu(ctx, c.params);
      expect(gpu.words.length).toBe(cpu.words.length);
      expect(Array.from(gpu.words)).toEqual(Array.from(cpu.words));
      // the acceptance criterion, stated on the values
      for (let s = 0; s < cpu.n.length; s++) {
        for (const k of ['sumW', 'sumWD', 'sumWD2'] as const) {
          const a = cpu[k][s] as number;
          const b = gpu[k][s] as number;
          expect(Math.abs(a - b)).toBeLessThanOrEqual(1e-6 * Math.abs(a));
        }
      }
      const again = await mergeWeightedGpu(ctx, c.params);
      expect(Array.from(again.words)).toEqual(Array.from(gpu.words));
      const batched = await mergeWeightedGpu(ctx, { ...c.params, maxBatchRows: 12000 });
      expect(Array.from(batched.words)).toEqual(Array.from(cpu.words));
    });
  }

  it('many small batches give the same words', async () => {
    const p = CASES[0]?.params as MergeWeightedParams;
    const small = await mergeWeightedGpu(ctx, { ...p, maxBatchRows: 97 });
    expect(Array.from(small.words)).toEqual(Array.from(mergeWeightedCpu(p).words));
  });

  it('a segment larger than one batch is refused', async () => {
    const p = makeCase({ sizes: [10, 300, 10], seed: 12 });
    await expect(mergeWeightedGpu(ctx, { ...p, maxBatchRows: 100 })).rejects.toThrow(/segment 1 has 300 rows, more than one GPU batch holds \(100\)/);
  });
});
