/** Hand-built merged tables and symmetry operators for the export tests. */
import { emptyMerged, splitFine, type MergedTable, type Ndiv } from '../../src/pipeline/observations.ts';

export interface Point {
  fine: readonly [number, number, number];
  I: number;
  sigma: number;
}

/** A merged table with one row per point (cell + offset from the fine index). */
export function mergedFrom(points: readonly Point[], ndiv: Ndiv): MergedTable {
  const m = emptyMerged(points.length);
  points.forEach((p, i) => {
    const [H, dh] = splitFine(p.fine[0], ndiv[0]);
    const [K, dk] = splitFine(p.fine[1], ndiv[1]);
    const [L, dl] = splitFine(p.fine[2], ndiv[2]);
    m.H[i] = H;
    m.K[i] = K;
    m.L[i] = L;
    m.dh[i] = dh;
    m.dk[i] = dk;
    m.dl[i] = dl;
    m.I[i] = p.I;
    m.sigma[i] = p.sigma;
    m.n[i] = 3;
    m.multiplicity[i] = 1;
    m.fraction[i] = 1;
  });
  return m;
}

/** mmm: the 8 sign changes diag(±1, ±1, ±1). */
export const MMM: number[][] = [];
for (const a of [1, -1]) for (const b of [1, -1]) for (const c of [1, -1]) MMM.push([a, 0, 0, 0, b, 0, 0, 0, c]);

/** -1: identity and inversion. */
export const BAR1: number[][] = [
  [1, 0, 0, 0, 1, 0, 0, 0, 1],
  [-1, 0, 0, 0, -1, 0, 0, 0, -1],
];

/** 4/m, on row vectors: the 4-fold takes (h, k, l) to (−k, h, l); with inversion. */
const R4 = [0, 1, 0, -1, 0, 0, 0, 0, 1];
function mul(a: readonly number[], b: readonly number[]): number[] {
  const out: number[] = [];
  for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) out.push(a[3 * i]! * b[j]! + a[3 * i + 1]! * b[3 + j]! + a[3 * i + 2]! * b[6 + j]!);
  return out;
}
const I3 = [1, 0, 0, 0, 1, 0, 0, 0, 1];
const rot4 = [I3, R4, mul(R4, R4), mul(mul(R4, R4), R4)];
export const FOUR_M: number[][] = [...rot4, ...rot4.map((r) => r.map((x) => -x))];

/** h·R for a row vector h. */
export function apply(r: readonly number[], h: readonly [number, number, number]): [number, number, number] {
  return [0, 1, 2].map((j) => h[0] * r[j]! + h[1] * r[3 + j]! + h[2] * r[6 + j]!) as [number, number, number];
}
