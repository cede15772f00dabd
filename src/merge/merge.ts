/**
 * Weighted merging of voxel observations into one value per ASU subvoxel
 * (the mdx2 `merge` step), used for both the diffuse and the Bragg tables.
 * The method and the file layout are described in docs/merge.md.
 *
 * 1. Rows with a non-finite I or σ, or σ² outside [2^−100, 2^100] (zero or
 *    infinite weight), are left out (`stats.invalid`).
 * 2. The rest are sorted once by fine key, then by content (./sort.ts): a
 *    segment per ASU subvoxel, and an order that does not depend on the input
 *    order.
 * 3. The merge-weighted kernel (GPU or CPU twin, the engine's choice; both give
 *    identical words) forms per segment Σw, Σw·d, Σw·d², n with w = 1/σ²,
 *    d = I − K. The merged I = K + Σwd/Σw, σ = 1/√Σw (option `inflateSigma`:
 *    times √χ²_ν when the reduced χ² of the segment exceeds 1).
 * 4. Outliers, worst first: in every segment with at least 3 merged rows, the
 *    row with the largest leave-one-out deviation
 *        z_i = |I_i − Î_(−i)| / √(σ_i² + σ̂_(−i)²)
 *    (Î_(−i), σ̂_(−i) = the merge without row i) is rejected when z_i >
 *    `outlierSigma`; then the table is merged again. Up to `rounds` rounds,
 *    so a segment loses at most `rounds` rows and keeps at least 2. Only the
 *    worst row goes per round because a strong outlier drags every other
 *    row's leave-one-out mean with it.
 * 5. Half data sets: every merged row (after rejection) goes to half A or B by
 *    a hash of the seed and its identity (./half.ts); both halves are merged
 *    with the same rejections, and CC½ is computed per equal-volume shell in
 *    |s| (./shells.ts).
 */
import type { Engine } from '../host/engine.ts';
import { mergeableRow, mergeDeviation, mergeWeight, mergeWeightedKernel, type MergeWeightedResult } from '../kernels/merge-weighted.ts';
import { emptyMerged, splitFine, unpackFineKey, type MergedTable, type ObservationMeta, type ObservationTable } from '../pipeline/observations.ts';
import { halfOf, type HalfSplit } from './half.ts';
import { reciprocalMetric, sLength } from './metric.ts';
import { multiplicityFunction } from './multiplicity.ts';
import { shellStatistics, type ShellStats } from './shells.ts';
import { sortByFineKey } from './sort.ts';

export interface MergeOptions {
  /** rejection cutoff on the leave-one-out z (default 5; 0 or Infinity: no rejection) */
  outlierSigma?: number;
  /** rejection rounds, one row per segment each (default 3; 0: no rejection) */
  rounds?: number;
  /** seed of the half-data-set hash (default 0) */
  halfSeed?: number;
  /** unit of the half split (default 'observation') */
  halfSplit?: HalfSplit;
  /** resolution shells for CC½ (default 10) */
  shells?: number;
  /** σ × √χ²_ν where the segment's reduced χ² exceeds 1 (default false) */
  inflateSigma?: boolean;
  /** GPU batch size in rows (results do not depend on it) */
  batchRows?: number;
}

export const MERGE_DEFAULTS = { outlierSigma: 5, rounds: 3, halfSeed: 0, halfSplit: 'observation', shells: 10, inflateSigma: false } as const;

/** What merging needs of an engine (an `Engine`; benches pass a wrapper of one GPU context). */
export type MergeEngine = Pick<Engine, 'run' | 'backend'>;

export interface MergeStats {
  /** rows of the input */
  observations: number;
  /** rows left out for a non-finite I or σ, or a σ out of range */
  invalid: number;
  /** rows merged (after rejection) */
  merged: number;
  /** rows rejected as outliers */
  rejected: number;
  /** rejection rounds that rejected something */
  rounds: number;
  voxels: number;
  /** backend of the last kernel run */
  backend: 'gpu' | 'cpu';
}

export interface MergeResult {
  merged: MergedTable;
  /** the merges of half A and half B (voxels with at least one row in that half) */
  halves: [MergedTable, MergedTable];
  shells: ShellStats[];
  /** the same statistics over all shells */
  overall: ShellStats;
  stats: MergeStats;
}

interface Prepared {
  order: Uint32Array;
  offsets: Uint32Array;
  keys: Float64Array;
  values: Float32Array;
  sigmas: Float32Array;
  weights: Float32Array;
}

function prepare(obs: ObservationTable, meta: ObservationMeta): Prepared & { invalid: number } {
  const n = obs.I.length;
  const valid = new Uint32Array(n);
  let m = 0;
  for (let i = 0; i < n; i++) if (mergeableRow(obs.I[i] as number, obs.sigma[i] as number)) valid[m++] = i;
  const { order, offsets, keys } = sortByFineKey(obs, meta.ndiv, valid.subarray(0, m));
  const values = new Float32Array(m);
  const sigmas = new Float32Array(m);
  const weights = new Float32Array(m);
  for (let j = 0; j < m; j++) {
    const i = order[j] as number;
    values[j] = obs.I[i] as number;
    sigmas[j] = obs.sigma[i] as number;
    weights[j] = mergeWeight(sigmas[j] as number);
  }
  return { order, offsets, keys, values, sigmas, weights, invalid: n - m };
}

/**
 * One rejection round: in every segment with ≥ 3 merged rows, the row of
 * largest leave-one-out z goes when z > cutoff. Returns the rows rejected.
 */
function rejectWorst(p: Prepared, include: Uint8Array, r: MergeWeightedResult, cutoff: number): number {
  let rejected = 0;
  const nSeg = p.offsets.length - 1;
  for (let s = 0; s < nSeg; s++) {
    if ((r.n[s] as number) < 3) continue;
    const W = r.sumW[s] as number;
    const D = r.sumWD[s] as number;
    const K = r.shift[s] as number;
    let worst = -1;
    let worstZ = cutoff;
    for (let j = p.offsets[s] as number; j < (p.offsets[s + 1] as number); j++) {
      if (include[j] === 0) continue;
      const w = p.weights[j] as number;
      const d = mergeDeviation(p.values[j] as number, K);
      const w1 = W - w;
      if (!(w1 > 1e-9 * W)) continue;
      const mean1 = (D - w * d) / w1;
      const z = Math.abs(d - mean1) / Math.sqrt(1 / w + 1 / w1);
      if (z > worstZ) {
        worstZ = z;
        worst = j;
      }
    }
    if (worst >= 0) {
      include[worst] = 0;
      rejected++;
    }
  }
  return rejected;
}

interface VoxelGeometry {
  s: Float32Array;
  multiplicity: Uint16Array;
}

function voxelGeometry(keys: Float64Array, meta: ObservationMeta): VoxelGeometry {
  const metric = reciprocalMetric(meta.cell);
  const mult = multiplicityFunction(meta.hall);
  const [n1, n2, n3] = meta.ndiv;
  const s = new Float32Array(keys.length);
  const multiplicity = new Uint16Array(keys.length);
  for (let v = 0; v < keys.length; v++) {
    const [fh, fk, fl] = unpackFineKey(keys[v] as number);
    s[v] = sLength(metric, fh / n1, fk / n2, fl / n3);
    multiplicity[v] = mult(fh, fk, fl);
  }
  return { s, multiplicity };
}

/** The merged table of the segments with n ≥ 1 under `include` (rows with excluded[j] count as rejected). */
function buildTable(p: Prepared, obs: ObservationTable, meta: ObservationMeta, geo: VoxelGeometry, r: MergeWeightedResult, include: Uint8Array, rejected: Uint8Array, inflate: boolean): MergedTable {
  const nSeg = p.offsets.length - 1;
  let rows = 0;
  for (let s = 0; s < nSeg; s++) if ((r.n[s] as number) > 0) rows++;
  const t = emptyMerged(rows);
  const [n1, n2, n3] = meta.ndiv;
  let o = 0;
  for (let s = 0; s < nSeg; s++) {
    const n = r.n[s] as number;
    if (n === 0) continue;
    const [fh, fk, fl] = unpackFineKey(p.keys[s] as number);
    const [H, dh] = splitFine(fh, n1);
    const [K, dk] = splitFine(fk, n2);
    const [L, dl] = splitFine(fl, n3);
    t.H[o] = H;
    t.K[o] = K;
    t.L[o] = L;
    t.dh[o] = dh;
    t.dk[o] = dk;
    t.dl[o] = dl;
    const W = r.sumW[s] as number;
    const D = r.sumWD[s] as number;
    t.I[o] = (r.shift[s] as number) + D / W;
    let sigma = 1 / Math.sqrt(W);
    if (inflate && n > 1) {
      const chi2 = Math.max(0, (r.sumWD2[s] as number) - (D * D) / W) / (n - 1);
      if (chi2 > 1) sigma *= Math.sqrt(chi2);
    }
    t.sigma[o] = sigma;
    t.n[o] = n;
    let rej = 0;
    let frac = 0;
    for (let j = p.offsets[s] as number; j < (p.offsets[s + 1] as number); j++) {
      if (include[j] !== 0) frac += obs.fraction[p.order[j] as number] as number;
      else if (rejected[j] !== 0) rej++;
    }
    t.rejected[o] = rej;
    t.fraction[o] = frac;
    t.s[o] = geo.s[s] as number;
    t.multiplicity[o] = geo.multiplicity[s] as number;
    o++;
  }
  return t;
}

/** Merges `obs` (see the module comment); the tables come out sorted by fine key. */
export async function mergeObservations(engine: MergeEngine, obs: ObservationTable, meta: ObservationMeta, options: MergeOptions = {}): Promise<MergeResult> {
  const cutoff = options.outlierSigma ?? MERGE_DEFAULTS.outlierSigma;
  const maxRounds = Math.max(0, Math.floor(options.rounds ?? MERGE_DEFAULTS.rounds));
  const seed = options.halfSeed ?? MERGE_DEFAULTS.halfSeed;
  const split = options.halfSplit ?? MERGE_DEFAULTS.halfSplit;
  const inflate = options.inflateSigma ?? MERGE_DEFAULTS.inflateSigma;
  const p = prepare(obs, meta);
  const m = p.values.length;
  const include = new Uint8Array(m).fill(1);
  const run = (incl: Uint8Array): Promise<MergeWeightedResult> =>
    engine.run(mergeWeightedKernel, { values: p.values, sigmas: p.sigmas, include: incl, offsets: p.offsets, maxBatchRows: options.batchRows });
  let r = await run(include);
  let rounds = 0;
  let rejected = 0;
  if (cutoff > 0 && Number.isFinite(cutoff)) {
    while (rounds < maxRounds) {
      const k = rejectWorst(p, include, r, cutoff);
      if (k === 0) break;
      rejected += k;
      rounds++;
      r = await run(include);
    }
  }
  const rejectedMask = Uint8Array.from(include, (v) => 1 - v);
  const inA = new Uint8Array(m);
  const inB = new Uint8Array(m);
  for (let j = 0; j < m; j++) {
    if (include[j] === 0) continue;
    if (halfOf(obs, meta.ndiv, p.order[j] as number, seed, split) === 0) inA[j] = 1;
    else inB[j] = 1;
  }
  const ra = await run(inA);
  const rb = await run(inB);
  const geo = voxelGeometry(p.keys, meta);
  const merged = buildTable(p, obs, meta, geo, r, include, rejectedMask, inflate);
  const a = buildTable(p, obs, meta, geo, ra, inA, rejectedMask, inflate);
  const b = buildTable(p, obs, meta, geo, rb, inB, rejectedMask, inflate);
  const { shells, overall } = shellStatistics(merged, a, b, {
    shells: options.shells ?? MERGE_DEFAULTS.shells,
    ndiv: meta.ndiv,
    cellVolume: reciprocalMetric(meta.cell).volume,
  });
  return {
    merged,
    halves: [a, b],
    shells,
    overall,
    stats: { observations: obs.I.length, invalid: p.invalid, merged: m - rejected, rejected, rounds, voxels: merged.I.length, backend: engine.backend },
  };
}
