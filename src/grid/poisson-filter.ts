/**
 * The greedy removal of the Poisson outlier filter (mdx-lib's
 * `maskPoissonOutliers`, re-derived), run on the CPU for both backends from
 * the statistics of the filter-stats kernel.
 *
 * Subvoxels that take part (pixel·frames > 0, no count above maxCount) are
 * visited in ascending ΔD (ties: ascending voxel index). For each, the change
 * of the summed divergences Σ_j D_j over the neighbourhoods j that still hold
 * it is computed with the current pooled histograms and the fixed λ_j; when
 * the change is negative the subvoxel is removed from those neighbourhoods
 * (histograms, pixel totals and divergences updated) and marked an outlier;
 * the first subvoxel whose removal does not lower the total ends the pass.
 *
 * The visit order comes from the kernel's deterministic-f32 ΔD (the same bits
 * on GPU and CPU); the accept/reject tests recompute the divergences in f64
 * here, so both backends give the same mask.
 *
 * The end of the pass when every subvoxel is accepted: the reference sets
 * its count of outliers only when it meets a subvoxel it keeps, so a pass that
 * accepts every one leaves it undefined (a MATLAB error). Here the pass then
 * simply ends with every taking-part subvoxel removed, and `exhausted` says
 * so (with a warning from the pipeline): the data have no Poisson-like
 * background for the filter to measure against.
 */
import { subvoxelsPerCell } from './subvoxel.ts';
import { ballOffsets } from './subvoxel.ts';
import { neighbourVoxels, type FilterStats } from '../kernels/filter-stats.ts';
import type { VoxelAccumulators } from '../kernels/voxel-accumulate.ts';

/** Why a subvoxel is excluded. */
export const ExclusionReason = {
  included: 0,
  outlier: 1,
  overflow: 2,
} as const;

export interface FilterMask {
  /** per voxel: ExclusionReason (0 also for voxels without pixel·frames) */
  reason: Uint8Array;
  /** subvoxels with pixel·frames */
  occupied: number;
  /** subvoxels that took part in the filter */
  participants: number;
  outliers: number;
  overflow: number;
  /** Σ_j D_j over the neighbourhoods before and after the removals (f64) */
  divergenceBefore: number;
  divergenceAfter: number;
  /** every taking-part subvoxel was removed (see the module comment) */
  exhausted: boolean;
}

function logFactorials64(k: number): Float64Array {
  const out = new Float64Array(k + 1);
  for (let c = 1; c <= k; c++) out[c] = (out[c - 1] as number) + Math.log(c);
  return out;
}

/**
 * The greedy pass. `stats` from filter-stats over the same accumulators and
 * window.
 */
export function greedyPoissonFilter(a: VoxelAccumulators, stats: FilterStats, window: number): FilterMask {
  const K = a.maxCount;
  const nb = K + 1;
  const stride = a.stride;
  const acc = a.acc;
  const voxels = a.table.cells * subvoxelsPerCell(a.table.ndiv);
  const ball = ballOffsets(window);
  const B = ball.length / 3;
  const lf = logFactorials64(K);
  const reason = new Uint8Array(voxels);
  const pix = new Float64Array(voxels);
  let occupied = 0;
  let overflow = 0;
  const parts: number[] = [];
  for (let v = 0; v < voxels; v++) {
    const b = v * stride;
    let p = 0;
    for (let c = 0; c <= K + 1; c++) p += acc[b + c] as number;
    pix[v] = p;
    if (p === 0) continue;
    occupied++;
    if ((acc[b + K + 1] as number) > 0) {
      reason[v] = ExclusionReason.overflow;
      overflow++;
    } else {
      parts.push(v);
    }
  }

  // working copies: pooled histograms, totals, divergences (f64, lazily)
  const ch = stats.chtot.slice();
  const ntot = new Float64Array(voxels);
  const d64 = new Float64Array(voxels).fill(Number.NaN);
  for (const v of parts) ntot[v] = stats.n[v] as number;
  const logLam = new Float64Array(voxels);
  for (const v of parts) logLam[v] = Math.log(stats.lambda[v] as number);

  /** D of neighbourhood j's pooled histogram minus h (h = null: as it is). */
  const divergence = (j: number, hBase: number, n: number): number => {
    if (n <= 0) return 0;
    const lam = stats.lambda[j] as number;
    const ll = logLam[j] as number;
    const cb = j * nb;
    let d = 0;
    for (let c = 0; c <= K; c++) {
      const nc = (ch[cb + c] as number) - (hBase >= 0 ? (acc[hBase + c] as number) : 0);
      if (nc <= 0) continue;
      const p = nc / n;
      d += p * (Math.log(p) - (-lam + c * ll - (lf[c] as number)));
    }
    return d;
  };
  const current = (j: number): number => {
    let d = d64[j] as number;
    if (Number.isNaN(d)) {
      d = divergence(j, -1, ntot[j] as number);
      d64[j] = d;
    }
    return d;
  };

  let before = 0;
  for (const v of parts) before += current(v);

  const delta = stats.delta;
  const byDelta = (x: number, y: number): number => (delta[x] as number) - (delta[y] as number) || x - y;
  const negative = parts.filter((v) => (delta[v] as number) < 0).sort(byDelta);
  const rest = parts.filter((v) => !((delta[v] as number) < 0));
  const nbr = new Int32Array(B);
  const newD = new Float64Array(B);
  let outliers = 0;
  let stopped = false;
  let after = before;

  const visit = (v: number): boolean => {
    neighbourVoxels(a.table, ball, v, nbr);
    const hb = v * stride;
    const p = pix[v] as number;
    let change = 0;
    for (let k = 0; k < B; k++) {
      const j = nbr[k] as number;
      if (j < 0 || (stats.n[j] as number) === 0) continue;
      const d = divergence(j, hb, (ntot[j] as number) - p);
      newD[k] = d;
      change += d - current(j);
    }
    if (!(change < 0)) return false;
    for (let k = 0; k < B; k++) {
      const j = nbr[k] as number;
      if (j < 0 || (stats.n[j] as number) === 0) continue;
      const cb = j * nb;
      for (let c = 0; c <= K; c++) ch[cb + c] = (ch[cb + c] as number) - (acc[hb + c] as number);
      ntot[j] = (ntot[j] as number) - p;
      d64[j] = newD[k] as number;
    }
    after += change;
    reason[v] = ExclusionReason.outlier;
    outliers++;
    return true;
  };

  for (const v of negative) {
    if (!visit(v)) {
      stopped = true;
      break;
    }
  }
  if (!stopped && rest.length > 0) {
    rest.sort(byDelta);
    for (const v of rest) {
      if (!visit(v)) {
        stopped = true;
        break;
      }
    }
  }
  return {
    reason,
    occupied,
    participants: parts.length,
    outliers,
    overflow,
    divergenceBefore: before,
    divergenceAfter: after,
    exhausted: !stopped && parts.length > 0,
  };
}
