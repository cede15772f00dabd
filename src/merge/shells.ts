/**
 * Resolution-shell statistics of a merge: CC½ between the two half-dataset
 * merges, mean I and σ, completeness.
 *
 * - Shells have equal volume in reciprocal space between the smallest and the
 *   largest |s| of the merged voxels: edges s_k = (s_min³ + k/N·(s_max³ −
 *   s_min³))^(1/3); a voxel at s belongs to the shell whose [s_k, s_k+1)
 *   holds it (the last shell includes s_max).
 * - CC½ is Pearson's correlation of I_A and I_B over the voxels merged in
 *   both halves (`n` counts them); NaN with fewer than 3 voxels or no spread.
 * - meanI, meanSigma: over every merged voxel of the shell (`nMerged`).
 * - completeness: Σ multiplicity of the merged voxels (the full-sphere grid
 *   points they stand for, Friedel mates included) over the grid points in the
 *   shell's volume, (4π/3)(s_max³ − s_min³)·V_cell·n1·n2·n3 — an estimate
 *   from the volume, not a count; NaN when the multiplicities are unknown (0).
 */
import { fineKey, type MergedTable, type Ndiv } from '../pipeline/observations.ts';

export interface ShellStats {
  sMin: number;
  sMax: number;
  /** voxels merged in both halves (the CC½ sample) */
  n: number;
  cchalf: number;
  /** voxels merged (full data set) */
  nMerged: number;
  meanI: number;
  meanSigma: number;
  completeness: number;
}

import { pearson } from '../util/stats.ts';

export { pearson };

function keysOf(t: MergedTable, ndiv: Ndiv): Map<number, number> {
  const m = new Map<number, number>();
  for (let i = 0; i < t.I.length; i++) {
    m.set(fineKey((t.H[i] as number) * ndiv[0] + (t.dh[i] as number), (t.K[i] as number) * ndiv[1] + (t.dk[i] as number), (t.L[i] as number) * ndiv[2] + (t.dl[i] as number)), i);
  }
  return m;
}

export interface ShellOptions {
  shells: number;
  ndiv: Ndiv;
  /** direct cell volume (Å³), for completeness */
  cellVolume: number;
}

/** Per-shell and overall statistics of `merged` and its halves `a`, `b`. */
export function shellStatistics(merged: MergedTable, a: MergedTable, b: MergedTable, opts: ShellOptions): { shells: ShellStats[]; overall: ShellStats } {
  const nv = merged.I.length;
  const nShells = Math.max(1, Math.floor(opts.shells));
  let sLo = Infinity;
  let sHi = -Infinity;
  for (let i = 0; i < nv; i++) {
    const s = merged.s[i] as number;
    if (s < sLo) sLo = s;
    if (s > sHi) sHi = s;
  }
  if (nv === 0) {
    sLo = 0;
    sHi = 0;
  }
  const c0 = sLo ** 3;
  const c1 = sHi ** 3;
  const edges = Array.from({ length: nShells + 1 }, (_v, k) => (k === 0 ? sLo : k === nShells ? sHi : Math.cbrt(c0 + (k / nShells) * (c1 - c0))));
  const shellOf = (s: number): number => (c1 > c0 ? Math.min(nShells - 1, Math.max(0, Math.floor((nShells * (s ** 3 - c0)) / (c1 - c0)))) : 0);
  const ka = keysOf(a, opts.ndiv);
  const kb = keysOf(b, opts.ndiv);
  const xs: number[][] = Array.from({ length: nShells }, () => []);
  const ys: number[][] = Array.from({ length: nShells }, () => []);
  const sumI = new Float64Array(nShells);
  const sumS = new Float64Array(nShells);
  const count = new Float64Array(nShells);
  const mult = new Float64Array(nShells);
  let multKnown = nv > 0;
  const allX: number[] = [];
  const allY: number[] = [];
  const [n1, n2, n3] = opts.ndiv;
  for (let i = 0; i < nv; i++) {
    const sh = shellOf(merged.s[i] as number);
    sumI[sh] = (sumI[sh] as number) + (merged.I[i] as number);
    sumS[sh] = (sumS[sh] as number) + (merged.sigma[i] as number);
    count[sh] = (count[sh] as number) + 1;
    const m = merged.multiplicity[i] as number;
    if (m === 0) multKnown = false;
    mult[sh] = (mult[sh] as number) + m;
    const key = fineKey((merged.H[i] as number) * n1 + (merged.dh[i] as number), (merged.K[i] as number) * n2 + (merged.dk[i] as number), (merged.L[i] as number) * n3 + (merged.dl[i] as number));
    const ia = ka.get(key);
    const ib = kb.get(key);
    if (ia === undefined || ib === undefined) continue;
    (xs[sh] as number[]).push(a.I[ia] as number);
    (ys[sh] as number[]).push(b.I[ib] as number);
    allX.push(a.I[ia] as number);
    allY.push(b.I[ib] as number);
  }
  const pointsPerVolume = opts.cellVolume * n1 * n2 * n3;
  const completeness = (lo: number, hi: number, m: number): number => {
    const expected = ((4 * Math.PI) / 3) * (hi ** 3 - lo ** 3) * pointsPerVolume;
    return multKnown && expected > 0 ? m / expected : NaN;
  };
  const shells: ShellStats[] = [];
  for (let k = 0; k < nShells; k++) {
    const cnt = count[k] as number;
    shells.push({
      sMin: edges[k] as number,
      sMax: edges[k + 1] as number,
      n: (xs[k] as number[]).length,
      cchalf: pearson(xs[k] as number[], ys[k] as number[]),
      nMerged: cnt,
      meanI: cnt > 0 ? (sumI[k] as number) / cnt : NaN,
      meanSigma: cnt > 0 ? (sumS[k] as number) / cnt : NaN,
      completeness: completeness(edges[k] as number, edges[k + 1] as number, mult[k] as number),
    });
  }
  let tI = 0;
  let tS = 0;
  let tM = 0;
  for (let k = 0; k < nShells; k++) {
    tI += sumI[k] as number;
    tS += sumS[k] as number;
    tM += mult[k] as number;
  }
  const overall: ShellStats = {
    sMin: sLo,
    sMax: sHi,
    n: allX.length,
    cchalf: pearson(allX, allY),
    nMerged: nv,
    meanI: nv > 0 ? tI / nv : NaN,
    meanSigma: nv > 0 ? tS / nv : NaN,
    completeness: completeness(sLo, sHi, tM),
  };
  return { shells, overall };
}
