import { describe, expect, it } from 'vitest';
import { MissingFieldError } from '../../src/errors.ts';
import { cross, dot, norm } from '../../src/geometry/linalg.ts';
import type { UnitCell, Vec3 } from '../../src/geometry/model.ts';
import type { ReadTable } from '../../src/io/voxel-tables.ts';
import { correctVoxels, reciprocalMetric, scanExposure, spaceGroupAsu, type CorrectSettings } from '../../src/pipeline/correct.ts';
import type { Ndiv } from '../../src/pipeline/observations.ts';
import { reciprocalOps, spaceGroup } from '../../src/symmetry/index.ts';
import { mulberry32, poisson } from '../../src/util/random.ts';
import { makeExperiment } from './fixtures.ts';

type Row = Partial<Record<string, number>>;

/** A voxel table as readVoxelTables returns it, from row objects (u64 columns as Float64Array). */
function table(rows: readonly Row[], extra: readonly string[] = []): ReadTable {
  const t: ReadTable = new Map();
  const f64 = (name: string, def = 0): Float64Array => Float64Array.from(rows, (r) => r[name] ?? def);
  t.set('H', Int32Array.from(rows, (r) => r.H ?? 0));
  t.set('K', Int32Array.from(rows, (r) => r.K ?? 0));
  t.set('L', Int32Array.from(rows, (r) => r.L ?? 0));
  t.set('ix', Uint8Array.from(rows, (r) => r.ix ?? 1));
  t.set('iy', Uint8Array.from(rows, (r) => r.iy ?? 1));
  t.set('iz', Uint8Array.from(rows, (r) => r.iz ?? 1));
  for (const c of ['counts', 'pixels', 'frame_sum', 'x_sum', 'y_sum', 'panel_sum', 'kappa_sum', 'd3s_sum', ...extra]) t.set(c, f64(c));
  t.set('wedge', Uint32Array.from(rows, (r) => r.wedge ?? 0));
  return t;
}

const ORTHO: UnitCell = { a: 10, b: 20, c: 30, alpha: 90, beta: 90, gamma: 90 };

function settings(ndiv: Ndiv, symbol: string, extra: Partial<CorrectSettings> = {}): CorrectSettings {
  const exp = makeExperiment([], { oscillation: [10, 0.5] });
  return { ndiv, asu: spaceGroupAsu(symbol, ndiv).asu, exposure: 0.1, unitCell: ORTHO, ...(exp.scan !== undefined ? { scan: exp.scan } : {}), file: 'x.h5', group: 'included', ...extra };
}

describe('correctVoxels', () => {
  it('gives I, σ, the ASU fine index, s, x, y, panel, φ, batch and fraction of hand-built rows', () => {
    const ndiv: Ndiv = [3, 3, 5];
    const rows: Row[] = [
      // fine index (−2·3 + 1 − 2, 1·3 + 3 − 2, −3·5 + 5 − 3) = (−7, 4, −13)
      { H: -2, K: 1, L: -3, ix: 1, iy: 3, iz: 5, counts: 100, pixels: 50, kappa_sum: 1e-3, frame_sum: 50 * 12 + 10, x_sum: 6000, y_sum: 50 * 33 + 7, panel_sum: 50, d3s_sum: 1.5e-6, wedge: 3 },
      { H: 0, K: 0, L: 1, counts: 5, pixels: 0, kappa_sum: 0 },
      { H: 0, K: 0, L: 2, counts: 5, pixels: 10, kappa_sum: 0 },
      { H: 1, K: 2, L: 3, ix: 2, iy: 2, iz: 3, counts: 0, pixels: 4, kappa_sum: 2e-4, frame_sum: 0, x_sum: 4, y_sum: 8, panel_sum: 0, d3s_sum: 0, wedge: 0 },
    ];
    const { observations: o, stats } = correctVoxels(table(rows), settings(ndiv, ' P 2 2'));
    expect(stats).toEqual({ rows: 4, kept: 2, droppedNoPixels: 1, droppedNoKappa: 1, droppedNoBackground: 0, backgroundSubtracted: false });
    expect(o.I.length).toBe(2);
    // I = N / (T Σκ) = 100 / (0.1 · 1e−3), σ = sqrt(101) / (0.1 · 1e−3)
    expect(o.I[0]).toBeCloseTo(1e6, -1);
    expect(o.sigma[0]).toBeCloseTo(Math.fround(Math.sqrt(101) * 1e4), 0);
    // P 2 2 2 (Laue mmm, ASU h, k, l ≥ 0): (−7, 4, −13) → (7, 4, 13) = H 2 + 1/3, K 1 + 1/3, L 3 − 2/5
    expect([o.H[0], o.K[0], o.L[0], o.dh[0], o.dk[0], o.dl[0]]).toEqual([2, 1, 3, 1, 1, -2]);
    const R = reciprocalOps(spaceGroup(' P 2 2'))[o.op[0] as number];
    if (R === undefined) throw new Error('no operator');
    const f = [-7, 4, -13];
    const mapped = [0, 1, 2].map((j) => (f[0] as number) * (R[j] as number) + (f[1] as number) * (R[3 + j] as number) + (f[2] as number) * (R[6 + j] as number));
    expect(mapped).toEqual([7, 4, 13]);
    // s at the unmapped centre (−7/3, 4/3, −13/5) of the 10 × 20 × 30 Å cell
    expect(o.s[0]).toBeCloseTo(Math.hypot(-7 / 3 / 10, 4 / 3 / 20, -13 / 5 / 30), 6);
    // mean pixel centre, panel, φ = 10° + (610/50 + ½) · 0.5°
    expect(o.x[0]).toBeCloseTo(120.5, 4);
    expect(o.y[0]).toBeCloseTo(33 + 7 / 50 + 0.5, 4);
    expect(o.panel[0]).toBe(1);
    expect(o.phi[0]).toBeCloseTo(10 + (610 / 50 + 0.5) * 0.5, 4);
    expect(o.batch[0]).toBe(3);
    expect(o.sweep[0]).toBe(0);
    // fraction = d3s_sum / (V* / 45), V* = 1/6000 Å⁻³
    expect(o.fraction[0]).toBeCloseTo((1.5e-6 * 45) / (1 / 6000), 5);
    // zero counts: I = 0, σ = 1/(T Σκ), never 0
    expect(o.I[1]).toBe(0);
    expect(o.sigma[1]).toBeCloseTo(1 / (0.1 * 2e-4), 1);
    expect([o.H[1], o.K[1], o.L[1], o.dh[1], o.dk[1], o.dl[1]]).toEqual([1, 2, 3, 0, 0, 0]);
    expect(o.phi[1]).toBeCloseTo(10.25, 5);
    expect(o.x[1]).toBeCloseTo(1.5, 6);
    expect(o.y[1]).toBeCloseTo(2.5, 6);
  });

  it('maps into the ASU of a tetragonal group and keeps the operator that did it', () => {
    const ndiv: Ndiv = [3, 3, 1];
    const g = spaceGroup('P 4');
    const ops = reciprocalOps(g);
    const rows: Row[] = [];
    const fine: [number, number, number][] = [];
    for (const [h, k, l] of [
      [-4, 2, 1],
      [5, -7, -2],
      [-1, -1, 0],
      [2, 5, 3],
    ] as const) {
      // fine index h = H·3 + ix − 2 → H = round(h/3), ix = h − 3H + 2
      const H = Math.round(h / 3);
      const K = Math.round(k / 3);
      rows.push({ H, K, L: l, ix: h - 3 * H + 2, iy: k - 3 * K + 2, iz: 1, counts: 1, pixels: 1, kappa_sum: 1 });
      fine.push([h, k, l]);
    }
    const { observations: o } = correctVoxels(table(rows), settings(ndiv, 'P 4'));
    fine.forEach(([h, k, l], i) => {
      const R = ops[o.op[i] as number];
      if (R === undefined) throw new Error('no operator');
      const m = [0, 1, 2].map((j) => h * (R[j] as number) + k * (R[3 + j] as number) + l * (R[6 + j] as number));
      const got = [(o.H[i] as number) * 3 + (o.dh[i] as number), (o.K[i] as number) * 3 + (o.dk[i] as number), o.L[i] as number];
      expect(got).toEqual(m);
      // 4/m ASU (CCP4): l ≥ 0 and (h ≥ 0, k > 0, or h = k = 0)
      expect((got[2] as number) >= 0 && (((got[0] as number) >= 0 && (got[1] as number) > 0) || (got[0] === 0 && got[1] === 0))).toBe(true);
      // the same |s| for the original and the mapped index (tetragonal cell a = b)
    });
    // related axes with different subdivisions are refused
    expect(() => spaceGroupAsu('P 4', [3, 5, 1])).toThrow(/mixes axes h and k/);
  });

  it('computes s and V* from a triclinic cell as the reciprocal vectors do', () => {
    const cell: UnitCell = { a: 11, b: 13, c: 17, alpha: 80, beta: 100, gamma: 115 };
    const D = Math.PI / 180;
    // real-space vectors in a standard orientation, reciprocal vectors by cross products
    const a: Vec3 = [cell.a, 0, 0];
    const b: Vec3 = [cell.b * Math.cos(cell.gamma * D), cell.b * Math.sin(cell.gamma * D), 0];
    const cx = cell.c * Math.cos(cell.beta * D);
    const cy = (cell.c * (Math.cos(cell.alpha * D) - Math.cos(cell.beta * D) * Math.cos(cell.gamma * D))) / Math.sin(cell.gamma * D);
    const c: Vec3 = [cx, cy, Math.sqrt(cell.c * cell.c - cx * cx - cy * cy)];
    const V = dot(a, cross(b, c));
    const as = cross(b, c).map((v) => v / V) as unknown as Vec3;
    const bs = cross(c, a).map((v) => v / V) as unknown as Vec3;
    const cs = cross(a, b).map((v) => v / V) as unknown as Vec3;
    expect(reciprocalMetric(cell).vStar).toBeCloseTo(1 / V, 15);
    const ndiv: Ndiv = [3, 5, 7];
    const rows: Row[] = [{ H: 2, K: -3, L: 4, ix: 3, iy: 1, iz: 6, counts: 10, pixels: 2, kappa_sum: 1, d3s_sum: 1e-7 }];
    const { observations: o } = correctVoxels(table(rows), settings(ndiv, ' P 1', { unitCell: cell }));
    const h = (2 * 3 + 3 - 2) / 3;
    const k = (-3 * 5 + 1 - 3) / 5;
    const l = (4 * 7 + 6 - 4) / 7;
    const q = norm([0, 1, 2].map((i) => h * (as[i] as number) + k * (bs[i] as number) + l * (cs[i] as number)) as unknown as Vec3);
    expect(o.s[0]).toBeCloseTo(q, 6);
    expect(o.fraction[0]).toBeCloseTo((1e-7 * 105) * V, 5);
  });

  it('subtracts a background run with its own exposure and adds the variances', () => {
    const rows: Row[] = [
      { H: 1, K: 1, L: 1, ix: 2, iy: 2, iz: 2, counts: 400, pixels: 100, kappa_sum: 0.01, bg_counts: 50, bg_pixels: 80 },
      { H: 1, K: 1, L: 2, ix: 2, iy: 2, iz: 2, counts: 400, pixels: 100, kappa_sum: 0.01, bg_counts: 0, bg_pixels: 0 },
    ];
    const s = settings([3, 3, 3], ' P 1', { exposure: 0.2, backgroundExposure: 0.5 });
    const { observations: o, stats } = correctVoxels(table(rows, ['bg_counts', 'bg_pixels']), s);
    expect(stats.backgroundSubtracted).toBe(true);
    expect(stats.droppedNoBackground).toBe(1);
    expect(stats.kept).toBe(1);
    // I = 400/(0.2·0.01) − (100/80)·50/(0.5·0.01) = 200000 − 12500
    expect(o.I[0]).toBeCloseTo(187500, 0);
    // σ² = 401/(0.002)² + (1.25/0.005)²·51
    expect(o.sigma[0]).toBeCloseTo(Math.sqrt(401 / 0.002 ** 2 + (1.25 / 0.005) ** 2 * 51), 1);
  });

  it('propagates the background errors: σ matches the scatter of simulated Poisson counts', () => {
    // a weak sample signal over a strong background: the spread of I over many draws is the σ it reports
    const u = mulberry32(1234);
    const n = 4000;
    const rows: Row[] = [];
    const P = 100;
    const Pb = 60;
    const T = 0.5;
    const Tb = 2;
    const kappa = 0.02;
    const rateS = 90 / P; // photons per pixel·frame in the sample run (background included)
    const rateB = 240 / Pb; // photons per pixel·frame in the background run (its own exposure)
    for (let i = 0; i < n; i++) rows.push({ H: i, K: 0, L: 0, ix: 2, iy: 2, iz: 2, counts: poisson(u, rateS * P), pixels: P, kappa_sum: kappa, bg_counts: poisson(u, rateB * Pb), bg_pixels: Pb });
    const { observations: o } = correctVoxels(table(rows, ['bg_counts', 'bg_pixels']), settings([3, 3, 3], ' P 1', { exposure: T, backgroundExposure: Tb }));
    const I = Array.from(o.I);
    const mean = I.reduce((a, b) => a + b, 0) / n;
    const sd = Math.sqrt(I.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1));
    const meanSigma = Array.from(o.sigma).reduce((a, b) => a + b, 0) / n;
    // expected: (90 − (100/60)·240·(0.5/2))/(T·κ) ... in corrected units
    const expected = (rateS * P) / (T * kappa) - ((P / Pb) * rateB * Pb) / (Tb * kappa);
    expect(Math.abs(mean - expected)).toBeLessThan((4 * sd) / Math.sqrt(n));
    expect(rel(meanSigma, sd)).toBeLessThan(0.05);
    // without the background term σ would be far too small
    const sampleOnly = Math.sqrt(rateS * P) / (T * kappa);
    expect(sd / sampleOnly).toBeGreaterThan(1.1);
  });

  it('names the file and the column when a per-subvoxel sum is missing', () => {
    const t = table([{ counts: 1, pixels: 1, kappa_sum: 1 }]);
    t.delete('kappa_sum');
    let err: unknown;
    try {
      correctVoxels(t, settings([3, 3, 3], ' P 1'));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(MissingFieldError);
    expect((err as MissingFieldError).file).toBe('x.h5');
    expect((err as MissingFieldError).field).toBe('included/kappa_sum');
    expect((err as Error).message).toMatch(/no column 'kappa_sum'/);
  });

  it('takes the exposure from the scan, refusing a missing or varying one', () => {
    expect(scanExposure(makeExperiment([], { exposure: 0.25 }))).toBe(0.25);
    expect(() => scanExposure(makeExperiment([]), 'a.expt')).toThrow(/no exposure time: give --exposure/);
    const varying = makeExperiment([], { exposure: 0.25, nImages: 3 });
    const scan = varying.scan;
    if (scan === undefined) throw new Error('no scan');
    expect(() => scanExposure({ ...varying, scan: { ...scan, exposureTimes: [0.25, 0.3, 0.25] } })).toThrow(/not one positive value/);
  });
});

function rel(a: number, b: number): number {
  return Math.abs(a - b) / Math.abs(b);
}
