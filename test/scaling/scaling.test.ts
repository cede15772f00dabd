/**
 * Relative scaling on simulated observations with a known model: recovery
 * of b(φ), a(x, y, φ) and d, the merged map, outlier rejection, the gauge,
 * determinism, and the size of the sparse normal equations.
 */
import { describe, expect, it } from 'vitest';
import { fineKey, observationCount, type ObservationTable } from '../../src/pipeline/observations.ts';
import {
  applyScaleModel,
  evaluateScale,
  indexVoxels,
  mergeObservations,
  scaleFactors,
  scaleObservations,
  type ScalingResult,
} from '../../src/scaling/index.ts';
import { simulateScalingData, type SyntheticScaling } from '../../src/scaling/synthetic.ts';

/** RMS of fit/truth − 1 over the rows after dividing out the mean ratio (the overall scale). */
function rmsRelative(fit: Float64Array, truth: (i: number) => number, rows?: ArrayLike<number>): number {
  const n = rows?.length ?? fit.length;
  const row = (k: number): number => (rows === undefined ? k : rows[k]!);
  let m = 0;
  for (let k = 0; k < n; k++) m += fit[row(k)]! / truth(row(k));
  m /= n;
  let s = 0;
  for (let k = 0; k < n; k++) s += (fit[row(k)]! / truth(row(k)) / m - 1) ** 2;
  return Math.sqrt(s / n);
}

function pearson(x: ArrayLike<number>, y: ArrayLike<number>): number {
  const n = x.length;
  let sx = 0, sy = 0;
  for (let i = 0; i < n; i++) {
    sx += x[i]!;
    sy += y[i]!;
  }
  const mx = sx / n, my = sy / n;
  let cxy = 0, cxx = 0, cyy = 0;
  for (let i = 0; i < n; i++) {
    cxy += (x[i]! - mx) * (y[i]! - my);
    cxx += (x[i]! - mx) ** 2;
    cyy += (y[i]! - my) ** 2;
  }
  return cxy / Math.sqrt(cxx * cyy);
}

function meanOf(a: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]!;
  return s / a.length;
}

describe('scaleObservations on simulated data (4000 voxels, multiplicity 4–10, 0.5 % outliers)', () => {
  const sim: SyntheticScaling = simulateScalingData({ voxels: 4000, seed: 7, outlierFraction: 0.005 });
  const { obs, truth } = sim;
  const n = observationCount(obs);
  const result: ScalingResult = scaleObservations(obs, sim.meta);
  const f = scaleFactors(result.model, obs);

  it('starts far from the truth (the test can fail)', () => {
    const ones = new Float64Array(n).fill(1);
    expect(rmsRelative(ones, (i) => truth.b(obs.phi[i]!))).toBeGreaterThan(0.08);
    expect(rmsRelative(ones, (i) => truth.a(obs.x[i]!, obs.y[i]!, obs.phi[i]!))).toBeGreaterThan(0.03);
  });

  it('recovers b(φ) and a(x, y, φ) to ≤ 2 % RMS and d per panel to ≤ 1 %', () => {
    const eb = rmsRelative(f.b, (i) => truth.b(obs.phi[i]!));
    const ea = rmsRelative(f.a, (i) => truth.a(obs.x[i]!, obs.y[i]!, obs.phi[i]!));
    const ed = rmsRelative(f.d, (i) => truth.d(obs.panel[i]!));
    console.log(`recovery RMS: b ${(100 * eb).toFixed(2)} %, a ${(100 * ea).toFixed(2)} %, d ${(100 * ed).toFixed(2)} %`);
    expect(eb).toBeLessThan(0.02);
    expect(ea).toBeLessThan(0.02);
    expect(ed).toBeLessThan(0.01);
  });

  it('merged map correlates with the true voxel intensities (r ≥ 0.99)', () => {
    const merged = mergeObservations(applyScaleModel(obs, result.model), sim.meta.ndiv, result.rejected);
    const byKey = new Map<number, number>();
    truth.voxelKey.forEach((k, v) => byKey.set(k, truth.voxelI[v]!));
    const est: number[] = [];
    const tru: number[] = [];
    for (let v = 0; v < merged.keys.length; v++) {
      if (!Number.isFinite(merged.I[v]!)) continue;
      est.push(merged.I[v]!);
      tru.push(byKey.get(merged.keys[v]!)!);
    }
    expect(est.length).toBe(4000);
    const r = pearson(est, tru);
    console.log(`merged map vs truth: r = ${r.toFixed(5)}`);
    expect(r).toBeGreaterThanOrEqual(0.99);
  });

  it('rejects the injected outliers (both signs) and little else', () => {
    let injected = 0, caught = 0, falseRejected = 0;
    for (let i = 0; i < n; i++) {
      if (truth.outlier[i] === 1) {
        injected++;
        caught += result.rejected[i]!;
      } else falseRejected += result.rejected[i]!;
    }
    console.log(`outliers: ${caught}/${injected} rejected, ${falseRejected} clean rows rejected of ${n - injected}`);
    expect(injected).toBeGreaterThan(100);
    expect(caught / injected).toBeGreaterThanOrEqual(0.98);
    expect(falseRejected / (n - injected)).toBeLessThan(0.002);
  });

  it('converges: χ² falls stage by stage to about the noise level', () => {
    const h = result.history;
    expect(h[0]!.stage).toBe('b');
    expect(h[h.length - 1]!.stage).toBe('a');
    const final = h[h.length - 1]!.chi2;
    expect(final).toBeLessThan(h[0]!.chi2 / 3);
    // merged from the same rows, the expected reduced χ² is about (m−1)/m ≈ 0.85
    expect(final).toBeGreaterThan(0.6);
    expect(final).toBeLessThan(1.2);
    for (const stage of ['b', 'bc', 'c', 'd', 'a'] as const) expect(h.some((e) => e.stage === stage)).toBe(true);
  });

  it('fixes the gauge: mean a = mean b = mean d = 1 over the observations, c ≥ 0', () => {
    expect(meanOf(f.a)).toBeCloseTo(1, 10);
    expect(meanOf(f.b)).toBeCloseTo(1, 10);
    expect(meanOf(f.d)).toBeCloseTo(1, 10);
    for (const g of result.model.c.grids) for (const v of g.values) expect(v).toBeGreaterThanOrEqual(0);
  });

  it('applyScaleModel divides out the model row by row', () => {
    const scaled = applyScaleModel(obs, result.model);
    for (const i of [0, 17, 1234, n - 1]) {
      const e = evaluateScale(result.model, obs, i);
      expect(scaled.I[i]).toBeCloseTo(Math.fround((obs.I[i]! / (e.a * e.d) - e.c) / e.b), 3);
      expect(scaled.sigma[i]).toBeCloseTo(Math.fround(obs.sigma[i]! / (e.a * e.d * e.b)), 4);
      expect(scaled.H[i]).toBe(obs.H[i]);
      expect(scaled.phi[i]).toBe(obs.phi[i]);
    }
  });
});

describe('scaling internals', () => {
  it('voxel keys are fineKey of the fine index', () => {
    const sim = simulateScalingData({ voxels: 300, seed: 3 });
    const vi = indexVoxels(sim.obs, sim.meta.ndiv);
    expect(vi.keys.length).toBe(300);
    for (const i of [0, 5, 99, observationCount(sim.obs) - 1]) {
      const o = sim.obs;
      const key = fineKey(o.H[i]! * 3 + o.dh[i]!, o.K[i]! * 3 + o.dk[i]!, o.L[i]! * 3 + o.dl[i]!);
      expect(vi.keys[vi.voxelOf[i]!]).toBe(key);
    }
  });

  it('is deterministic: two runs give bit-identical models, flags and history', () => {
    const sim = simulateScalingData({ voxels: 1500, seed: 11, outlierFraction: 0.01 });
    const opts = { maxIterations: 4 };
    const r1 = scaleObservations(sim.obs, sim.meta, opts);
    const r2 = scaleObservations(sim.obs, sim.meta, opts);
    for (const name of ['a', 'b', 'c', 'd'] as const) {
      const g1 = r1.model[name].grids;
      const g2 = r2.model[name].grids;
      expect(g1.length).toBe(g2.length);
      g1.forEach((g, k) => {
        expect(Buffer.from(g.values.buffer).equals(Buffer.from(g2[k]!.values.buffer))).toBe(true);
        g.axes.forEach((ax, j) => expect(Buffer.from(ax.buffer).equals(Buffer.from(g2[k]!.axes[j]!.buffer))).toBe(true));
      });
    }
    expect(Buffer.from(r1.rejected).equals(Buffer.from(r2.rejected))).toBe(true);
    expect(r1.history).toEqual(r2.history);
    const s1 = applyScaleModel(sim.obs, r1.model);
    const s2 = applyScaleModel(sim.obs, r2.model);
    expect(Buffer.from(s1.I.buffer).equals(Buffer.from(s2.I.buffer))).toBe(true);
  });

  it('normal matrices scale with the parameters, not the observations', () => {
    const opts = { a: { nx: 7, ny: 6, nphi: 10 }, c: { ns: 8, nphi: 5 }, maxIterations: 2 };
    const small = scaleObservations(simulateScalingData({ voxels: 600, seed: 5 }).obs, simulateScalingData({ voxels: 1, seed: 5 }).meta, opts);
    const big = scaleObservations(simulateScalingData({ voxels: 3000, seed: 6 }).obs, simulateScalingData({ voxels: 1, seed: 6 }).meta, opts);
    expect(big.stats.observations).toBeGreaterThan(4 * small.stats.observations);
    expect(big.stats.parameters).toEqual(small.stats.parameters);
    expect(big.stats.nnz).toEqual(small.stats.nnz);
    // exact structure: per node, the offsets in {−1,0,1}^D and ±2 along one axis that stay on the grid
    const expected = (dims: number[]): number => {
      const D = dims.length;
      const offsets: number[][] = [];
      for (let c = 0; c < 3 ** D; c++) offsets.push(dims.map((_d, k) => (Math.floor(c / 3 ** k) % 3) - 1));
      for (let k = 0; k < D; k++) for (const s of [-2, 2]) offsets.push(dims.map((_d, j) => (j === k ? s : 0)));
      let nnz = 0;
      const size = dims.reduce((p, v) => p * v, 1);
      for (let j = 0; j < size; j++) {
        const m = dims.map((_d, k) => Math.floor(j / dims.slice(0, k).reduce((p, v) => p * v, 1)) % dims[k]!);
        for (const o of offsets) if (o.every((ok, k) => m[k]! + ok >= 0 && m[k]! + ok < dims[k]!)) nnz++;
      }
      return nnz;
    };
    expect(big.stats.parameters.a).toBe(7 * 6 * 10);
    expect(big.stats.nnz.a).toBe(expected([7, 6, 10]));
    expect(big.stats.nnz.c).toBe(expected([8, 5]));
    const nb = big.stats.parameters.b;
    expect(big.stats.nnz.b).toBe(expected([nb]));
    expect(big.stats.nnz.d).toBe(4);
    expect(big.stats.nnz.a).toBeLessThanOrEqual(33 * big.stats.parameters.a);
  });

  it('scales several sweeps against each other', () => {
    const sim = simulateScalingData({ voxels: 2500, seed: 21 });
    const o: ObservationTable = sim.obs;
    const n = observationCount(o);
    // every third row from sweep 1, measured 1.3× brighter
    for (let i = 0; i < n; i += 3) {
      o.sweep[i] = 1;
      o.I[i]! *= 1.3;
      o.sigma[i]! *= 1.3;
    }
    const r = scaleObservations(o, sim.meta, { maxIterations: 5 });
    expect(r.model.b.grids.map((g) => g.key)).toEqual([0, 1]);
    const f = scaleFactors(r.model, o);
    let s0 = 0, n0 = 0, s1 = 0, n1 = 0;
    for (let i = 0; i < n; i++) {
      const ratio = (f.a[i]! * f.b[i]! * f.d[i]!) / (sim.truth.a(o.x[i]!, o.y[i]!, o.phi[i]!) * sim.truth.b(o.phi[i]!) * sim.truth.d(o.panel[i]!));
      if (o.sweep[i] === 1) {
        s1 += ratio;
        n1++;
      } else {
        s0 += ratio;
        n0++;
      }
    }
    expect(s1 / n1 / (s0 / n0)).toBeCloseTo(1.3, 1);
    expect(Math.abs(s1 / n1 / (s0 / n0) - 1.3)).toBeLessThan(0.02);
  });

  it('rejects bad options with a typed error', () => {
    const sim = simulateScalingData({ voxels: 50, seed: 1 });
    expect(() => scaleObservations(sim.obs, sim.meta, { stages: ['b', 'x' as 'b'] })).toThrow(/unknown stage 'x'/);
    expect(() => scaleObservations(sim.obs, sim.meta, { outlier: [0] })).toThrow(/outlier/);
    expect(() => scaleObservations(sim.obs, sim.meta, { a: { nx: 1 } })).toThrow(/a\.nx/);
  });
});
