/**
 * mergeObservations on synthetic observations of a known map: calibrated
 * errors (pulls), outlier rejection, CC½, |s| and multiplicity, and
 * invariance to the row order, to the GPU batch size and to the backend.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../../src/host/engine.ts';
import { mergeObservations, type MergeResult } from '../../src/merge/index.ts';
import { fineKey, selectObservations, type MergedTable, type ObservationMeta } from '../../src/pipeline/observations.ts';
import { inAsu, multiplicity, spaceGroup } from '../../src/symmetry/index.ts';
import { mulberry32 } from '../../src/util/random.ts';
import { gpuTestsDisabled } from '../helpers/gpu.ts';
import { META, meanStd, synthetic } from './helpers.ts';

const cpu = Engine.cpu();

function keyOf(t: MergedTable, i: number, ndiv = META.ndiv): number {
  return fineKey((t.H[i] as number) * ndiv[0] + (t.dh[i] as number), (t.K[i] as number) * ndiv[1] + (t.dk[i] as number), (t.L[i] as number) * ndiv[2] + (t.dl[i] as number));
}

function pulls(t: MergedTable, truth: Map<number, number>): Float64Array {
  return Float64Array.from({ length: t.I.length }, (_v, i) => ((t.I[i] as number) - (truth.get(keyOf(t, i)) as number)) / (t.sigma[i] as number));
}

function expectSameTable(a: MergedTable, b: MergedTable): void {
  for (const col of Object.keys(a) as (keyof MergedTable)[]) expect(Array.from(b[col]), col).toEqual(Array.from(a[col]));
}

function expectSameResult(a: MergeResult, b: MergeResult): void {
  expectSameTable(a.merged, b.merged);
  expectSameTable(a.halves[0], b.halves[0]);
  expectSameTable(a.halves[1], b.halves[1]);
  expect(b.shells).toEqual(a.shells);
  expect(b.overall).toEqual(a.overall);
}

const smooth = (fh: number, fk: number, fl: number): number => 50 + 40 * Math.sin(fh / 3) * Math.cos(fk / 4) + fl;
const NOISY = synthetic({ voxels: 4000, perVoxel: [3, 12], seed: 1, truth: smooth, sigma: [2, 6] });

describe('mergeObservations (CPU engine)', () => {
  let r: MergeResult;
  beforeAll(async () => {
    r = await mergeObservations(cpu, NOISY.obs, META);
  });

  it('one row per voxel, every valid row merged, n adds up', () => {
    expect(r.merged.I.length).toBe(4000);
    expect(r.stats.invalid).toBe(0);
    expect(r.stats.observations).toBe(NOISY.obs.I.length);
    const n = r.merged.n.reduce((a, b) => a + b, 0);
    const rej = r.merged.rejected.reduce((a, b) => a + b, 0);
    expect(n + rej).toBe(NOISY.obs.I.length);
    expect(rej).toBe(r.stats.rejected);
    // Gaussian data, 5σ leave-one-out cutoff: false rejections are rare
    expect(rej).toBeLessThanOrEqual(3);
    // sorted by fine key
    for (let i = 1; i < r.merged.I.length; i++) expect(keyOf(r.merged, i)).toBeGreaterThan(keyOf(r.merged, i - 1));
  });

  it('merged I is the inverse-variance mean, σ = 1/√Σw (f64 reference, 1e-6)', () => {
    const byKey = new Map<number, { w: number; wi: number; f: number }>();
    for (let i = 0; i < NOISY.obs.I.length; i++) {
      const k = fineKey((NOISY.obs.H[i] as number) * 3 + (NOISY.obs.dh[i] as number), (NOISY.obs.K[i] as number) * 3 + (NOISY.obs.dk[i] as number), (NOISY.obs.L[i] as number) * 3 + (NOISY.obs.dl[i] as number));
      const e = byKey.get(k) ?? { w: 0, wi: 0, f: 0 };
      const w = 1 / (NOISY.obs.sigma[i] as number) ** 2;
      e.w += w;
      e.wi += w * (NOISY.obs.I[i] as number);
      e.f += NOISY.obs.fraction[i] as number;
      byKey.set(k, e);
    }
    let checked = 0;
    for (let i = 0; i < r.merged.I.length; i++) {
      if (r.merged.rejected[i] !== 0) continue;
      const e = byKey.get(keyOf(r.merged, i));
      if (e === undefined) throw new Error('voxel without observations');
      expect(Math.abs((r.merged.I[i] as number) - e.wi / e.w)).toBeLessThanOrEqual(1e-6 * Math.abs(e.wi / e.w) + 1e-6);
      expect(Math.abs((r.merged.sigma[i] as number) - 1 / Math.sqrt(e.w))).toBeLessThanOrEqual(1e-6 / Math.sqrt(e.w));
      expect(Math.abs((r.merged.fraction[i] as number) - e.f)).toBeLessThanOrEqual(1e-5 * e.f);
      checked++;
    }
    expect(checked).toBeGreaterThan(3990);
  });

  it('pulls (I − truth)/σ over 4000 voxels: mean ≈ 0, std ≈ 1', () => {
    const [m, s] = meanStd(pulls(r.merged, NOISY.truth));
    expect(Math.abs(m)).toBeLessThan(0.05);
    expect(Math.abs(s - 1)).toBeLessThan(0.04);
  });

  it('|s| from the reciprocal metric and the multiplicity of P1 (Friedel pairs)', () => {
    for (let i = 0; i < r.merged.I.length; i += 37) {
      const h = ((r.merged.H[i] as number) * 3 + (r.merged.dh[i] as number)) / 3;
      const k = ((r.merged.K[i] as number) * 3 + (r.merged.dk[i] as number)) / 3;
      const l = ((r.merged.L[i] as number) * 3 + (r.merged.dl[i] as number)) / 3;
      const s = Math.hypot(h / 40, k / 50, l / 60);
      expect(Math.abs((r.merged.s[i] as number) - s)).toBeLessThanOrEqual(1e-6 * s);
      expect(r.merged.multiplicity[i]).toBe(h === 0 && k === 0 && l === 0 ? 1 : 2);
    }
  });

  it('the halves partition the merged rows', () => {
    const [a, b] = r.halves;
    const sum = (t: MergedTable): number => t.n.reduce((x, y) => x + y, 0);
    expect(sum(a) + sum(b)).toBe(r.stats.merged);
    expect(Math.abs(sum(a) - sum(b))).toBeLessThan(0.05 * r.stats.merged);
    expect(r.overall.n).toBeGreaterThan(3500);
  });

  it('shells: equal volumes, every voxel counted once', () => {
    expect(r.shells.length).toBe(10);
    const vol = r.shells.map((s) => s.sMax ** 3 - s.sMin ** 3);
    for (const v of vol) expect(v).toBeCloseTo(vol[0] as number, 12);
    expect(r.shells.reduce((a, s) => a + s.nMerged, 0)).toBe(4000);
    expect(r.shells.reduce((a, s) => a + s.n, 0)).toBe(r.overall.n);
    for (let k = 1; k < r.shells.length; k++) expect(r.shells[k]?.sMin).toBe(r.shells[k - 1]?.sMax);
  });
});

describe('outlier rejection', () => {
  const bad = synthetic({ voxels: 3000, perVoxel: [3, 10], seed: 2, truth: smooth, sigma: [2, 6], outlierFraction: 0.1, outlierZ: 30 });

  it('rejects every injected outlier and the re-merge recovers the truth', async () => {
    const r = await mergeObservations(cpu, bad.obs, META);
    const outlierKeys = new Set<number>();
    for (const i of bad.outliers) outlierKeys.add(fineKey((bad.obs.H[i] as number) * 3 + (bad.obs.dh[i] as number), (bad.obs.K[i] as number) * 3 + (bad.obs.dk[i] as number), (bad.obs.L[i] as number) * 3 + (bad.obs.dl[i] as number)));
    expect(bad.outliers.size).toBeGreaterThan(250);
    let hit = 0;
    let falseRej = 0;
    for (let i = 0; i < r.merged.I.length; i++) {
      const isBad = outlierKeys.has(keyOf(r.merged, i));
      if (isBad && (r.merged.rejected[i] as number) >= 1) hit++;
      if (!isBad) falseRej += r.merged.rejected[i] as number;
    }
    expect(hit).toBe(bad.outliers.size);
    expect(falseRej).toBeLessThanOrEqual(3);
    const [m, s] = meanStd(pulls(r.merged, bad.truth));
    expect(Math.abs(m)).toBeLessThan(0.06);
    expect(Math.abs(s - 1)).toBeLessThan(0.05);
    const worst = pulls(r.merged, bad.truth).reduce((a, p) => Math.max(a, Math.abs(p)), 0);
    expect(worst).toBeLessThan(5);
  });

  it('without rejection the outliers spoil the pulls', async () => {
    const r = await mergeObservations(cpu, bad.obs, META, { outlierSigma: 0 });
    expect(r.stats.rejected).toBe(0);
    const [, s] = meanStd(pulls(r.merged, bad.truth));
    expect(s).toBeGreaterThan(1.5);
  });

  it('two outliers in one voxel need two rounds', async () => {
    const t = synthetic({ voxels: 1, perVoxel: [8, 8], seed: 3, truth: () => 100, sigma: [1, 1] });
    t.obs.I[2] = 160;
    t.obs.I[5] = 140;
    const one = await mergeObservations(cpu, t.obs, META, { rounds: 1 });
    expect(one.merged.rejected[0]).toBe(1);
    const two = await mergeObservations(cpu, t.obs, META, { rounds: 2 });
    expect(two.merged.rejected[0]).toBe(2);
    expect(two.merged.n[0]).toBe(6);
    expect(Math.abs((two.merged.I[0] as number) - 100)).toBeLessThan(2);
  });

  it('rows with zero, infinite or NaN σ or I are left out', async () => {
    const t = synthetic({ voxels: 20, perVoxel: [4, 4], seed: 4, truth: () => 10, sigma: [1, 2] });
    t.obs.sigma[0] = 0;
    t.obs.sigma[5] = Infinity;
    t.obs.I[9] = NaN;
    const r = await mergeObservations(cpu, t.obs, META);
    expect(r.stats.invalid).toBe(3);
    expect(r.merged.n.reduce((a, b) => a + b, 0) + r.stats.rejected).toBe(77);
  });
});

describe('CC½', () => {
  it('near 1 for low-noise data, in every shell', async () => {
    const t = synthetic({ voxels: 3000, perVoxel: [4, 8], seed: 5, truth: smooth, sigma: [0.2, 0.5] });
    const r = await mergeObservations(cpu, t.obs, META, { shells: 8 });
    expect(r.overall.cchalf).toBeGreaterThan(0.995);
    // the sample box leaves the outermost shell sparse
    expect(r.shells.filter((s) => s.n >= 100).length).toBeGreaterThanOrEqual(4);
    for (const s of r.shells) {
      expect(s.n).toBeGreaterThanOrEqual(3);
      expect(s.cchalf).toBeGreaterThan(0.98);
    }
  });

  it('near 0 for pure noise', async () => {
    const t = synthetic({ voxels: 3000, perVoxel: [4, 8], seed: 6, truth: () => 100, sigma: [3, 6] });
    const r = await mergeObservations(cpu, t.obs, META, { shells: 5 });
    // a voxel with 4…8 rows lands in both halves with probability ≥ 7/8
    expect(r.overall.n).toBeGreaterThan(2700);
    expect(Math.abs(r.overall.cchalf)).toBeLessThan(0.06);
    // each shell within 4 standard errors (1/√n) of 0
    for (const s of r.shells) expect(Math.abs(s.cchalf)).toBeLessThan(4 / Math.sqrt(s.n));
  });

  it('the split by batch keeps each batch in one half', async () => {
    const r = await mergeObservations(cpu, NOISY.obs, META, { halfSplit: 'batch', halfSeed: 7 });
    // halves made of whole batches: their row counts are sums of whole batch sizes
    const sizes = new Map<number, number>();
    for (let i = 0; i < NOISY.obs.I.length; i++) sizes.set(NOISY.obs.batch[i] as number, (sizes.get(NOISY.obs.batch[i] as number) ?? 0) + 1);
    const nA = r.halves[0].n.reduce((x, y) => x + y, 0) + r.halves[0].rejected.reduce((x, y) => x + y, 0);
    const subsetSums = new Set<number>([0]);
    for (const s of sizes.values()) for (const v of [...subsetSums]) subsetSums.add(v + s);
    expect(subsetSums.has(nA)).toBe(true);
    expect(r.overall.cchalf).toBeGreaterThan(0.5);
  });
});

describe('invariance', () => {
  it('a shuffled table merges to identical tables and statistics', async () => {
    const u = mulberry32(9);
    const n = NOISY.obs.I.length;
    const perm = Array.from({ length: n }, (_v, i) => i);
    for (let i = n - 1; i > 0; i--) {
      const j = Math.floor(u() * (i + 1));
      [perm[i], perm[j]] = [perm[j] as number, perm[i] as number];
    }
    const a = await mergeObservations(cpu, NOISY.obs, META);
    const b = await mergeObservations(cpu, selectObservations(NOISY.obs, perm), META);
    expectSameResult(a, b);
  });

  it('multiplicity follows the space group (-P 4 2 3, cubic cell)', async () => {
    const meta: ObservationMeta = { ...META, hall: '-P 4 2 3', cell: [50, 50, 50, 90, 90, 90] };
    const t = synthetic({ voxels: 500, perVoxel: [1, 2], seed: 10, truth: () => 5, sigma: [1, 1] });
    const r = await mergeObservations(cpu, t.obs, meta);
    const g = spaceGroup('-P 4 2 3');
    const seen = new Set<number>();
    for (let i = 0; i < r.merged.I.length; i++) {
      const f = [(r.merged.H[i] as number) * 3 + (r.merged.dh[i] as number), (r.merged.K[i] as number) * 3 + (r.merged.dk[i] as number), (r.merged.L[i] as number) * 3 + (r.merged.dl[i] as number)] as const;
      const m = multiplicity(g, ...f);
      expect(r.merged.multiplicity[i]).toBe(m);
      seen.add(m);
    }
    expect(seen.has(48)).toBe(true);
    expect(seen.size).toBeGreaterThan(2);
  });

  it('|s| for a monoclinic cell matches the B matrix', async () => {
    const meta: ObservationMeta = { ...META, hall: ' C 2y', cell: [60, 40, 30, 90, 105, 90] };
    const t = synthetic({ voxels: 200, perVoxel: [1, 1], seed: 11, truth: () => 5, sigma: [1, 1] });
    const r = await mergeObservations(cpu, t.obs, meta);
    // monoclinic b-unique: 1/d² = (h²/a² + l²/c² − 2hl cosβ/(ac))/sin²β + k²/b²
    const beta = (105 * Math.PI) / 180;
    for (let i = 0; i < r.merged.I.length; i++) {
      const h = ((r.merged.H[i] as number) * 3 + (r.merged.dh[i] as number)) / 3;
      const k = ((r.merged.K[i] as number) * 3 + (r.merged.dk[i] as number)) / 3;
      const l = ((r.merged.L[i] as number) * 3 + (r.merged.dl[i] as number)) / 3;
      const s2 = (h * h / 3600 + (l * l) / 900 - (2 * h * l * Math.cos(beta)) / 1800) / Math.sin(beta) ** 2 + (k * k) / 1600;
      expect(Math.abs((r.merged.s[i] as number) - Math.sqrt(s2))).toBeLessThanOrEqual(1e-6 * Math.sqrt(s2) + 1e-9);
    }
  });

  it('completeness ≈ 1 when every ASU subvoxel of a sphere is measured (P1)', async () => {
    const g = spaceGroup(' P 1');
    const rows: Array<[number, number, number]> = [];
    const sMax = 0.08;
    for (let fh = -30; fh <= 30; fh++) {
      for (let fk = -30; fk <= 30; fk++) {
        for (let fl = -30; fl <= 30; fl++) {
          const s = Math.hypot(fh / 120, fk / 150, fl / 180);
          if (s <= sMax && s > 0 && inAsu(g, fh, fk, fl)) rows.push([fh, fk, fl]);
        }
      }
    }
    const t = synthetic({ voxels: 0, perVoxel: [1, 1], seed: 12, truth: () => 1, sigma: [1, 1] });
    expect(t.obs.I.length).toBe(0);
    const { emptyObservations, splitFine } = await import('../../src/pipeline/observations.ts');
    const obs = emptyObservations(rows.length);
    rows.forEach(([fh, fk, fl], i) => {
      [obs.H[i], obs.dh[i]] = splitFine(fh, 3);
      [obs.K[i], obs.dk[i]] = splitFine(fk, 3);
      [obs.L[i], obs.dl[i]] = splitFine(fl, 3);
      obs.I[i] = 1;
      obs.sigma[i] = 1;
    });
    const r = await mergeObservations(cpu, obs, META, { shells: 4 });
    expect(r.merged.I.length).toBe(rows.length);
    expect(r.overall.completeness).toBeGreaterThan(0.95);
    expect(r.overall.completeness).toBeLessThan(1.05);
    for (const s of r.shells) expect(Math.abs(s.completeness - 1)).toBeLessThan(0.1);
  });
});

describe.skipIf(gpuTestsDisabled())('GPU engine = CPU engine', () => {
  let gpu: Engine;
  beforeAll(async () => {
    gpu = await Engine.create({ backend: 'gpu', debug: true, env: {} });
  });
  afterAll(() => gpu?.destroy());

  it('identical merged tables, halves and shells; any batch size', async () => {
    expect(gpu.backend).toBe('gpu');
    const bad = synthetic({ voxels: 2000, perVoxel: [1, 40], seed: 13, truth: smooth, sigma: [1, 6], outlierFraction: 0.1, outlierZ: 20 });
    const c = await mergeObservations(cpu, bad.obs, META);
    const g = await mergeObservations(gpu, bad.obs, META);
    expect(g.stats.backend).toBe('gpu');
    expect(c.stats.backend).toBe('cpu');
    expect(c.stats.rejected).toBeGreaterThan(100);
    expectSameResult(c, g);
    const small = await mergeObservations(gpu, bad.obs, META, { batchRows: 500 });
    expectSameResult(c, small);
    const again = await mergeObservations(gpu, bad.obs, META);
    expectSameResult(g, again);
    // outside debug mode both passes and the readback of a slab share one command encoder and one submit
    const plain = await Engine.create({ backend: 'gpu', env: {} });
    try {
      expectSameResult(c, await mergeObservations(plain, bad.obs, META, { batchRows: 500 }));
    } finally {
      plain.destroy();
    }
  });
});
