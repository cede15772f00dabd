/**
 * The observation table: one row per voxel observation, columnar typed arrays.
 * It is the common input of relative scaling and merging — for rotation data
 * (`diffract correct` builds it from the integrated voxel tables) and for
 * stills later. The merged table is what merging produces and what absolute
 * scaling and map export read.
 *
 * Indices. A subvoxel of the grid with `ndiv` = (n1, n2, n3) subvoxels per
 * cell (odd n) sits at the fractional index
 *     h = H + dh/n1,  k = K + dk/n2,  l = L + dl/n3,
 * with the cell (H, K, L) and the offset dh ∈ −(n1−1)/2 … (n1−1)/2 from the
 * cell centre (`dh = ix − (n1+1)/2` for the 1-based subvoxel ix of
 * docs/tables.md). The *fine index* (H·n1 + dh, K·n2 + dk, L·n3 + dl) is an
 * integer triple; symmetry operators act on it directly (they map subvoxel
 * centres to subvoxel centres when the n's of related axes agree).
 * Observation rows carry the index already mapped into the reciprocal-space
 * asymmetric unit, with the operator used.
 *
 * Intensities are corrected intensities: counts / (exposure · Σκ) where Σκ is
 * the per-voxel sum, over its pixel·frames, of the per-pixel correction factor
 * (solid angle × polarization × efficiency × air attenuation, see
 * src/corrections/), background subtracted when a background run was given,
 * σ from Poisson statistics propagated through the same operations.
 */
import { invariant } from '../errors.ts';

export type Ndiv = readonly [number, number, number];

export interface ObservationTable {
  /** ASU cell indices */
  H: Int32Array;
  K: Int32Array;
  L: Int32Array;
  /** ASU subvoxel offsets from the cell centre, units of 1/ndiv */
  dh: Int8Array;
  dk: Int8Array;
  dl: Int8Array;
  /** index of the symmetry operator that took the observed index into the ASU (src/symmetry) */
  op: Int16Array;
  /** corrected intensity and its standard error */
  I: Float32Array;
  sigma: Float32Array;
  /** |s| = 1/d (Å⁻¹) of the subvoxel centre */
  s: Float32Array;
  /** mean detector position of the pixel·frames (panel pixel coordinates, corners at integers) */
  x: Float32Array;
  y: Float32Array;
  /** mean rotation angle (degrees) of the pixel·frames; stills: 0 */
  phi: Float32Array;
  panel: Uint16Array;
  /** scaling batch: the wedge number (rotation) or the still index */
  batch: Uint32Array;
  /** sweep (or run) the observation came from */
  sweep: Uint16Array;
  /** fraction of the subvoxel's reciprocal-space volume measured (Σ d³s / volume) */
  fraction: Float32Array;
}

export type ObservationColumn = keyof ObservationTable;

/** Column constructors, in the order they are written to HDF5. */
export const OBSERVATION_COLUMNS = {
  H: Int32Array,
  K: Int32Array,
  L: Int32Array,
  dh: Int8Array,
  dk: Int8Array,
  dl: Int8Array,
  op: Int16Array,
  I: Float32Array,
  sigma: Float32Array,
  s: Float32Array,
  x: Float32Array,
  y: Float32Array,
  phi: Float32Array,
  panel: Uint16Array,
  batch: Uint32Array,
  sweep: Uint16Array,
  fraction: Float32Array,
} as const satisfies Record<ObservationColumn, unknown>;

/** Everything scaling, merging, absolute scaling and export need besides the rows. */
export interface ObservationMeta {
  ndiv: Ndiv;
  /** Hall symbol of the space group used for the ASU mapping */
  hall: string;
  /** a, b, c (Å), α, β, γ (degrees) */
  cell: readonly [number, number, number, number, number, number];
  /** Å */
  wavelength: number;
}

/** A table with zero-filled columns. */
export function emptyObservations(rows: number): ObservationTable {
  const t: Partial<Record<ObservationColumn, unknown>> = {};
  for (const [name, Ctor] of Object.entries(OBSERVATION_COLUMNS)) t[name as ObservationColumn] = new Ctor(rows);
  return t as ObservationTable;
}

export function observationCount(t: ObservationTable): number {
  return t.I.length;
}

/** Concatenates tables column by column. */
export function concatObservations(parts: readonly ObservationTable[]): ObservationTable {
  const total = parts.reduce((n, p) => n + observationCount(p), 0);
  const out = emptyObservations(total);
  let o = 0;
  for (const p of parts) {
    for (const name of Object.keys(OBSERVATION_COLUMNS) as ObservationColumn[]) {
      (out[name] as { set(a: ArrayLike<number>, o: number): void }).set(p[name], o);
    }
    o += observationCount(p);
  }
  return out;
}

/** The rows `index` of a table, in that order. */
export function selectObservations(t: ObservationTable, index: ArrayLike<number>): ObservationTable {
  const out = emptyObservations(index.length);
  for (const name of Object.keys(OBSERVATION_COLUMNS) as ObservationColumn[]) {
    const src = t[name] as ArrayLike<number>;
    const dst = out[name] as { [i: number]: number };
    for (let i = 0; i < index.length; i++) dst[i] = src[index[i] as number] as number;
  }
  return out;
}

/** The fine index (H·n1 + dh, K·n2 + dk, L·n3 + dl) of row i. */
export function fineIndex(t: ObservationTable, ndiv: Ndiv, i: number): [number, number, number] {
  return [
    (t.H[i] as number) * ndiv[0] + (t.dh[i] as number),
    (t.K[i] as number) * ndiv[1] + (t.dk[i] as number),
    (t.L[i] as number) * ndiv[2] + (t.dl[i] as number),
  ];
}

/** Cell and offset of a fine index along one axis with n (odd) subvoxels per cell. */
export function splitFine(f: number, n: number): [number, number] {
  invariant(n % 2 === 1, `ndiv must be odd, got ${n}`);
  const half = (n - 1) / 2;
  const cell = Math.floor((f + half) / n);
  return [cell, f - cell * n];
}

const KEY_BIAS = 2 ** 16;
const KEY_SPAN = 2 ** 17;

/**
 * An exact numeric key for a fine index (|component| < 2^16), ordered by h,
 * then k, then l: sort rows by it to make merge segments.
 */
export function fineKey(fh: number, fk: number, fl: number): number {
  invariant(Math.abs(fh) < KEY_BIAS && Math.abs(fk) < KEY_BIAS && Math.abs(fl) < KEY_BIAS, `fine index (${fh}, ${fk}, ${fl}) out of range`);
  return ((fh + KEY_BIAS) * KEY_SPAN + (fk + KEY_BIAS)) * KEY_SPAN + (fl + KEY_BIAS);
}

export function unpackFineKey(key: number): [number, number, number] {
  const fl = (key % KEY_SPAN) - KEY_BIAS;
  const rest = Math.floor(key / KEY_SPAN);
  const fk = (rest % KEY_SPAN) - KEY_BIAS;
  const fh = Math.floor(rest / KEY_SPAN) - KEY_BIAS;
  return [fh, fk, fl];
}

/**
 * One row per ASU subvoxel: the inverse-variance weighted mean of the
 * (scaled) observations mapped to it.
 */
export interface MergedTable {
  H: Int32Array;
  K: Int32Array;
  L: Int32Array;
  dh: Int8Array;
  dk: Int8Array;
  dl: Int8Array;
  I: Float64Array;
  sigma: Float64Array;
  /** observations merged (after outlier rejection) */
  n: Uint32Array;
  /** observations rejected as outliers */
  rejected: Uint32Array;
  /** |s| (Å⁻¹) */
  s: Float32Array;
  /** distinct symmetry equivalents of the point in the full sphere (Friedel mates included) */
  multiplicity: Uint16Array;
  /** Σ fraction of the merged observations */
  fraction: Float32Array;
}

export type MergedColumn = keyof MergedTable;

export const MERGED_COLUMNS = {
  H: Int32Array,
  K: Int32Array,
  L: Int32Array,
  dh: Int8Array,
  dk: Int8Array,
  dl: Int8Array,
  I: Float64Array,
  sigma: Float64Array,
  n: Uint32Array,
  rejected: Uint32Array,
  s: Float32Array,
  multiplicity: Uint16Array,
  fraction: Float32Array,
} as const satisfies Record<MergedColumn, unknown>;

export function emptyMerged(rows: number): MergedTable {
  const t: Partial<Record<MergedColumn, unknown>> = {};
  for (const [name, Ctor] of Object.entries(MERGED_COLUMNS)) t[name as MergedColumn] = new Ctor(rows);
  return t as MergedTable;
}
