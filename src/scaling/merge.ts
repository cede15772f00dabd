/**
 * Voxel bookkeeping for scaling: which ASU voxel each observation belongs to
 * (the voxel key is `fineKey` of observations.ts on the fine index), and the
 * inverse-variance weighted merge of observations corrected by the current
 * scale model, on the CPU.
 *
 * The voxels are found once: the keys are sorted (typed-array numeric sort)
 * and deduplicated, and each observation gets the rank of its key by binary
 * search. A merge is then one pass of segment sums indexed by voxel, in
 * observation order, so it is bit-reproducible.
 */
import { InvalidValueError } from '../errors.ts';
import { observationCount, unpackFineKey, type Ndiv, type ObservationTable } from '../pipeline/observations.ts';

// The key layout of fineKey() in observations.ts, inlined for the per-row loop
// (fineKey builds its range message eagerly); test/scaling checks they agree.
const KEY_BIAS = 2 ** 16;
const KEY_SPAN = 2 ** 17;

export interface VoxelIndex {
  /** voxel (rank of its key) of every observation */
  voxelOf: Uint32Array;
  /** the distinct voxel keys, increasing */
  keys: Float64Array;
}

/** Voxel index of every observation. */
export function indexVoxels(obs: ObservationTable, ndiv: Ndiv): VoxelIndex {
  const n = observationCount(obs);
  const rowKeys = new Float64Array(n);
  const [n1, n2, n3] = ndiv;
  for (let i = 0; i < n; i++) {
    const fh = obs.H[i]! * n1 + obs.dh[i]!;
    const fk = obs.K[i]! * n2 + obs.dk[i]!;
    const fl = obs.L[i]! * n3 + obs.dl[i]!;
    if (Math.abs(fh) >= KEY_BIAS || Math.abs(fk) >= KEY_BIAS || Math.abs(fl) >= KEY_BIAS) {
      throw new InvalidValueError(`row ${i}: fine index (${fh}, ${fk}, ${fl}) is out of range (|component| < 65536)`, { field: 'H/K/L' });
    }
    rowKeys[i] = ((fh + KEY_BIAS) * KEY_SPAN + (fk + KEY_BIAS)) * KEY_SPAN + (fl + KEY_BIAS);
  }
  const sorted = Float64Array.from(rowKeys).sort();
  let m = 0;
  for (let i = 0; i < n; i++) if (i === 0 || sorted[i] !== sorted[m - 1]) sorted[m++] = sorted[i]!;
  const keys = sorted.slice(0, m);
  const voxelOf = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    const k = rowKeys[i]!;
    let lo = 0;
    let hi = m - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (keys[mid]! < k) lo = mid + 1;
      else hi = mid;
    }
    voxelOf[i] = lo;
  }
  return { voxelOf, keys };
}

/** Per-voxel sums of one merge. */
export interface VoxelSums {
  /** Σ w (w = 1/σ'² of the corrected observations) */
  W: Float64Array;
  /** Σ w·y */
  WY: Float64Array;
  /** observations merged */
  n: Uint32Array;
}

export function allocVoxelSums(voxels: number): VoxelSums {
  return { W: new Float64Array(voxels), WY: new Float64Array(voxels), n: new Uint32Array(voxels) };
}

/**
 * Merges the observations with use[i] = 1 corrected by the model values
 * (a, b, c, d per observation): y = (I/(a·d) − c)/b, σ' = σ/|a·d·b|.
 */
export function mergeInto(
  sums: VoxelSums,
  voxelOf: Uint32Array,
  I: Float32Array,
  sigma: Float32Array,
  model: { a: Float64Array; b: Float64Array; c: Float64Array; d: Float64Array },
  use: Uint8Array,
): void {
  sums.W.fill(0);
  sums.WY.fill(0);
  sums.n.fill(0);
  const { a, b, c, d } = model;
  for (let i = 0; i < voxelOf.length; i++) {
    if (use[i] === 0) continue;
    const ad = a[i]! * d[i]!;
    const bi = b[i]!;
    const g = ad * bi;
    if (g === 0) continue;
    const y = (I[i]! / ad - c[i]!) / bi;
    const s = sigma[i]! / g;
    const w = 1 / (s * s);
    const v = voxelOf[i]!;
    sums.W[v]! += w;
    sums.WY[v]! += w * y;
    sums.n[v]! += 1;
  }
}

export interface MergedVoxels {
  /** fine index of each voxel */
  fh: Int32Array;
  fk: Int32Array;
  fl: Int32Array;
  keys: Float64Array;
  I: Float64Array;
  sigma: Float64Array;
  n: Uint32Array;
}

/**
 * Inverse-variance weighted mean per voxel of a (scaled) table, rows with
 * exclude[i] ≠ 0 or σ ≤ 0 left out; voxels with no row kept get NaN.
 */
export function mergeObservations(obs: ObservationTable, ndiv: Ndiv, exclude?: Uint8Array): MergedVoxels {
  const { voxelOf, keys } = indexVoxels(obs, ndiv);
  const n = observationCount(obs);
  const use = new Uint8Array(n);
  for (let i = 0; i < n; i++) use[i] = (exclude === undefined || exclude[i] === 0) && obs.sigma[i]! > 0 && Number.isFinite(obs.I[i]!) ? 1 : 0;
  const sums = allocVoxelSums(keys.length);
  const one = new Float64Array(n).fill(1);
  mergeInto(sums, voxelOf, obs.I, obs.sigma, { a: one, b: one, c: new Float64Array(n), d: one }, use);
  const m = keys.length;
  const out: MergedVoxels = { fh: new Int32Array(m), fk: new Int32Array(m), fl: new Int32Array(m), keys, I: new Float64Array(m), sigma: new Float64Array(m), n: sums.n };
  for (let v = 0; v < m; v++) {
    const [h, k, l] = unpackFineKey(keys[v]!);
    out.fh[v] = h;
    out.fk[v] = k;
    out.fl[v] = l;
    const W = sums.W[v]!;
    out.I[v] = W > 0 ? sums.WY[v]! / W : Number.NaN;
    out.sigma[v] = W > 0 ? 1 / Math.sqrt(W) : Number.NaN;
  }
  return out;
}
