import { describe, expect, it } from 'vitest';
import { InvalidValueError } from '../../src/errors.ts';
import { denseGrid, expandFine, gridAxis, gridFine, gridIndex, validateOps } from '../../src/export/dense-grid.ts';
import type { Ndiv } from '../../src/pipeline/observations.ts';
import { apply, BAR1, FOUR_M, MMM, mergedFrom, type Point } from './helpers.ts';

const NDIV: Ndiv = [3, 3, 3];

const POINTS: Point[] = [
  { fine: [3, 2, 1], I: 10, sigma: 1 }, // general position: 8 images
  { fine: [2, 1, 0], I: 20, sigma: 2 }, // on the l = 0 mirror: 4 images
  { fine: [0, 0, 2], I: 30, sigma: 3 }, // on the c axis: 2 images (Friedel pair)
  { fine: [0, 0, 0], I: 40, sigma: 4 }, // origin: 1
];

function at(g: ReturnType<typeof denseGrid>, f: readonly [number, number, number]): { I: number; s: number; n: number } {
  const p = gridIndex(g, f[0], f[1], f[2]);
  expect(p).toBeGreaterThanOrEqual(0);
  return { I: g.data[p]!, s: g.sigma[p]!, n: g.count[p]! };
}

describe('denseGrid symmetry expansion', () => {
  it('puts a general mmm point at all 8 sign combinations, mirror-plane and axis points once each', () => {
    const g = denseGrid(mergedFrom(POINTS, NDIV), NDIV, MMM);
    // default box: ±max |fine| per axis over the expanded set
    expect(g.origin).toEqual([-3, -2, -2]);
    expect(g.shape).toEqual([7, 5, 5]);
    for (const a of [1, -1]) {
      for (const b of [1, -1]) {
        for (const c of [1, -1]) expect(at(g, [3 * a, 2 * b, c])).toEqual({ I: 10, s: 1, n: 1 });
      }
    }
    for (const a of [1, -1]) for (const b of [1, -1]) expect(at(g, [2 * a, b, 0])).toEqual({ I: 20, s: 2, n: 1 });
    expect(at(g, [0, 0, 2])).toEqual({ I: 30, s: 3, n: 1 });
    expect(at(g, [0, 0, -2])).toEqual({ I: 30, s: 3, n: 1 });
    expect(at(g, [0, 0, 0])).toEqual({ I: 40, s: 4, n: 1 });
    expect(g.measured).toBe(8 + 4 + 2 + 1);
    expect(g.collisions).toBe(0);
    expect(g.rowsUsed).toBe(4);
    // everything else is unmeasured (NaN, count 0)
    let nan = 0;
    for (let p = 0; p < g.data.length; p++) {
      if (g.count[p] === 0) {
        expect(Number.isNaN(g.data[p]!)).toBe(true);
        expect(Number.isNaN(g.sigma[p]!)).toBe(true);
        nan++;
      }
    }
    expect(nan).toBe(7 * 5 * 5 - 15);
  });

  it('with -1 only writes the Friedel mate', () => {
    const g = denseGrid(mergedFrom([{ fine: [3, 2, 1], I: 5, sigma: 0.5 }], NDIV), NDIV, BAR1);
    expect(g.shape).toEqual([7, 5, 3]);
    expect(g.measured).toBe(2);
    expect(at(g, [3, 2, 1]).I).toBe(5);
    expect(at(g, [-3, -2, -1]).I).toBe(5);
    expect(at(g, [-3, 2, 1]).n).toBe(0);
  });

  it('4/m: 8 images of a general point, 2 on the 4-fold axis; mixed axes need equal ndiv', () => {
    const ndiv: Ndiv = [3, 3, 5];
    const imgs = expandFine(FOUR_M, 2, 1, 1);
    expect(imgs).toHaveLength(8);
    expect(new Set(imgs.map((f) => f.join(',')))).toEqual(new Set(['2,1,1', '-1,2,1', '-2,-1,1', '1,-2,1', '-2,-1,-1', '1,-2,-1', '2,1,-1', '-1,2,-1']));
    expect(expandFine(FOUR_M, 0, 0, 4)).toEqual([
      [0, 0, 4],
      [0, 0, -4],
    ]);
    const g = denseGrid(mergedFrom([{ fine: [2, 1, 1], I: 1, sigma: 1 }], ndiv), ndiv, FOUR_M);
    expect(g.measured).toBe(8);
    expect(() => validateOps(FOUR_M, [3, 5, 3])).toThrow(InvalidValueError);
    expect(() => validateOps(FOUR_M, [3, 5, 3])).toThrow(/mixes axes h and k/);
    expect(() => validateOps([[2, 0, 0, 0, 1, 0, 0, 0, 1]], NDIV)).toThrow(/determinant 2/);
  });

  it('combines two ASU rows that land on the same point by inverse-variance weighting', () => {
    // (1,0,0) and (-1,0,0) are Friedel mates: with -1 both rows reach both points
    const g = denseGrid(
      mergedFrom(
        [
          { fine: [1, 0, 0], I: 10, sigma: 1 },
          { fine: [-1, 0, 0], I: 20, sigma: 2 },
        ],
        NDIV,
      ),
      NDIV,
      BAR1,
    );
    const w1 = 1;
    const w2 = 1 / 4;
    const mean = (10 * w1 + 20 * w2) / (w1 + w2);
    for (const f of [
      [1, 0, 0],
      [-1, 0, 0],
    ] as const) {
      const v = at(g, f);
      expect(v.n).toBe(2);
      expect(v.I).toBeCloseTo(mean, 5);
      expect(v.s).toBeCloseTo(1 / Math.sqrt(w1 + w2), 6);
    }
    expect(g.collisions).toBe(2);
  });

  it('skips rows with non-finite I, honours a range and a fill value, and refuses oversized grids', () => {
    const pts: Point[] = [...POINTS, { fine: [1, 1, 1], I: NaN, sigma: NaN }];
    const g = denseGrid(mergedFrom(pts, NDIV), NDIV, MMM, { range: { min: [0, 0, 0], max: [3, 2, 2] }, fill: -1 });
    expect(g.rowsSkipped).toBe(1);
    expect(g.origin).toEqual([0, 0, 0]);
    expect(g.shape).toEqual([4, 3, 3]);
    // only the non-negative octant stays: 1 + 1 + 1 + 1 points
    expect(g.measured).toBe(4);
    expect(g.outside).toBe(7 + 3 + 1);
    expect(g.data[gridIndex(g, 1, 1, 1)]).toBe(-1);
    expect(() => denseGrid(mergedFrom(POINTS, NDIV), NDIV, MMM, { maxBytes: 1000 })).toThrow('the dense grid 7×5×5 (175 points, 1.7 KiB) exceeds the limit of 1000 bytes');
    expect(() => denseGrid(mergedFrom(POINTS, NDIV), NDIV, MMM, { maxBytes: 1750 })).not.toThrow();
  });
});

describe('dense-grid index arithmetic', () => {
  it('grid index → fine index → merged row round trip', () => {
    const merged = mergedFrom(POINTS, NDIV);
    const g = denseGrid(merged, NDIV, MMM);
    const rowOf = new Map<string, number>();
    for (let i = 0; i < merged.I.length; i++) {
      rowOf.set([merged.H[i]! * 3 + merged.dh[i]!, merged.K[i]! * 3 + merged.dk[i]!, merged.L[i]! * 3 + merged.dl[i]!].join(','), i);
    }
    let checked = 0;
    for (let p = 0; p < g.data.length; p++) {
      const f = gridFine(g, p);
      expect(gridIndex(g, ...f)).toBe(p);
      if (g.count[p] === 0) continue;
      // some operator takes the point back to exactly one ASU row, whose I is the grid value
      const rows = new Set(MMM.map((r) => rowOf.get(apply(r, f).join(','))).filter((x) => x !== undefined));
      expect(rows.size).toBe(1);
      const row = [...rows][0]!;
      expect(g.data[p]).toBe(merged.I[row]);
      checked++;
    }
    expect(checked).toBe(15);
    expect(Array.from(gridAxis(g, 0))).toEqual([-1, -2 / 3, -1 / 3, 0, 1 / 3, 2 / 3, 1]);
    expect(gridAxis(g, 2)[0]).toBeCloseTo(-2 / 3, 12);
    expect(gridIndex(g, 4, 0, 0)).toBe(-1);
    // C order, l fastest
    expect(gridIndex(g, -3, -2, -1) - gridIndex(g, -3, -2, -2)).toBe(1);
    expect(gridIndex(g, -3, -1, -2) - gridIndex(g, -3, -2, -2)).toBe(5);
    expect(gridIndex(g, -2, -2, -2) - gridIndex(g, -3, -2, -2)).toBe(25);
  });
});
