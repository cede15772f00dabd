/**
 * The merged table (one row per reciprocal-space ASU subvoxel) expanded by the
 * Laue group into a dense 3-D grid over the full sphere, the form map export
 * writes (NeXus, CCP4/MRC, PNG slices).
 *
 * Indices. The grid is indexed by the *fine index* f = (H·n1 + dh, K·n2 + dk,
 * L·n3 + dl) of src/pipeline/observations.ts; fractional hkl = f / ndiv. Grid
 * point (i, j, k) holds f = origin + (i, j, k), and the arrays are in C order
 * [h][k][l] with l fastest:
 *
 *     index = (i·nk + j)·nl + k,   shape = [nh, nk, nl]
 *
 * Symmetry. An operator is a row-major 3×3 integer matrix R acting on Miller
 * indices as row vectors, h' = h·R (h'_j = Σ_i h_i R[3i + j]); the fine index
 * transforms the same way (it is hkl scaled per axis, and operators only mix
 * axes with equal n — checked). The op list is the caller's: pass the Laue
 * group (Friedel inversion included) so the map covers the full sphere. Every
 * ASU row is written to each *distinct* image of its fine index, so a point on
 * a mirror plane is written once, not twice.
 *
 * Unmeasured points are `fill` (NaN by default) in `data` and `sigma`, and 0 in
 * `count`. When two different ASU rows land on the same point (an ASU with
 * overlapping edges), they are combined by inverse-variance weighting and
 * counted in `collisions`.
 */
import { InvalidValueError } from '../errors.ts';
import { fineKey, type MergedTable, type Ndiv } from '../pipeline/observations.ts';

/** A row-major 3×3 integer matrix acting on row vectors (h' = h·R). */
export type SymOp = ArrayLike<number>;

/** Fine-index bounds, inclusive at both ends. */
export interface FineBox {
  min: readonly [number, number, number];
  max: readonly [number, number, number];
}

export interface DenseGridOptions {
  /** the box to fill (default: symmetric ±max |fine| per axis over the expanded set) */
  range?: FineBox;
  /** value of unmeasured points in `data` and `sigma` (default NaN) */
  fill?: number;
  /** refuse grids whose arrays (10 bytes per point) would exceed this (default DEFAULT_MAX_GRID_BYTES) */
  maxBytes?: number;
}

export interface DenseGrid {
  /** intensity, C order [h][k][l], l fastest */
  data: Float32Array;
  /** standard error, same layout */
  sigma: Float32Array;
  /** ASU rows that landed on the point (0: unmeasured) */
  count: Uint16Array;
  shape: [number, number, number];
  /** fine index of grid point (0, 0, 0) */
  origin: [number, number, number];
  ndiv: Ndiv;
  fill: number;
  /** grid points with count > 0 */
  measured: number;
  /** merged rows expanded (finite I) and skipped (non-finite I) */
  rowsUsed: number;
  rowsSkipped: number;
  /** symmetry images that fell outside `range` */
  outside: number;
  /** grid points reached by more than one ASU row */
  collisions: number;
}

/** data + sigma (float32) + count (uint16) per grid point */
export const GRID_BYTES_PER_POINT = 10;
/** 2 GiB */
export const DEFAULT_MAX_GRID_BYTES = 2 * 1024 ** 3;
/** typed arrays longer than this are not portable */
const MAX_POINTS = 2 ** 31 - 1;

/** Checks that every op is an integer 3×3 matrix with determinant ±1 that only mixes axes with equal ndiv. */
export function validateOps(ops: readonly SymOp[], ndiv: Ndiv): void {
  if (ops.length === 0) throw new InvalidValueError('no symmetry operators given (pass at least the identity)', { field: 'ops' });
  ops.forEach((r, n) => {
    if (r.length !== 9) throw new InvalidValueError(`operator ${n} has ${r.length} elements, not 9`, { field: 'ops' });
    for (let e = 0; e < 9; e++) {
      if (!Number.isInteger(r[e])) throw new InvalidValueError(`operator ${n} is not an integer matrix`, { field: 'ops' });
    }
    const m = (i: number, j: number): number => r[3 * i + j] as number;
    const det = m(0, 0) * (m(1, 1) * m(2, 2) - m(1, 2) * m(2, 1)) - m(0, 1) * (m(1, 0) * m(2, 2) - m(1, 2) * m(2, 0)) + m(0, 2) * (m(1, 0) * m(2, 1) - m(1, 1) * m(2, 0));
    if (Math.abs(det) !== 1) throw new InvalidValueError(`operator ${n} has determinant ${det}, not ±1`, { field: 'ops' });
    for (let i = 0; i < 3; i++) {
      for (let j = 0; j < 3; j++) {
        if (i !== j && m(i, j) !== 0 && ndiv[i] !== ndiv[j]) {
          throw new InvalidValueError(`operator ${n} mixes axes ${'hkl'[i]} and ${'hkl'[j]}, whose subdivisions differ (ndiv ${ndiv.join('×')})`, { field: 'ndiv' });
        }
      }
    }
  });
}

/** The distinct images f·R of a fine index under `ops`, in op order (first occurrence kept). */
export function expandFine(ops: readonly SymOp[], fh: number, fk: number, fl: number): [number, number, number][] {
  const out: [number, number, number][] = [];
  const seen = new Set<number>();
  for (const r of ops) {
    const h = fh * (r[0] as number) + fk * (r[3] as number) + fl * (r[6] as number);
    const k = fh * (r[1] as number) + fk * (r[4] as number) + fl * (r[7] as number);
    const l = fh * (r[2] as number) + fk * (r[5] as number) + fl * (r[8] as number);
    const key = fineKey(h, k, l);
    if (seen.has(key)) continue;
    seen.add(key);
    out.push([h + 0, k + 0, l + 0]); // + 0: no negative zeros
  }
  return out;
}

function rowFine(m: MergedTable, ndiv: Ndiv, i: number): [number, number, number] {
  return [(m.H[i] as number) * ndiv[0] + (m.dh[i] as number), (m.K[i] as number) * ndiv[1] + (m.dk[i] as number), (m.L[i] as number) * ndiv[2] + (m.dl[i] as number)];
}

/** 1536 → '1.5 KiB' */
export function formatBytes(n: number): string {
  const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${Math.round(v)} bytes` : `${v.toFixed(1)} ${units[u]}`;
}

/** Grid points of a box, and the bytes its arrays take. */
export function gridSize(shape: readonly [number, number, number]): { points: number; bytes: number } {
  const points = shape[0] * shape[1] * shape[2];
  return { points, bytes: points * GRID_BYTES_PER_POINT };
}

/** Expands a merged table by `ops` into a dense grid (layout in the module comment). */
export function denseGrid(merged: MergedTable, ndiv: Ndiv, ops: readonly SymOp[], options: DenseGridOptions = {}): DenseGrid {
  validateOps(ops, ndiv);
  for (const n of ndiv) {
    if (!(Number.isInteger(n) && n >= 1 && n % 2 === 1)) throw new InvalidValueError(`ndiv must be odd positive integers, got ${ndiv.join('×')}`, { field: 'ndiv' });
  }
  const fill = options.fill ?? NaN;
  const rows = merged.I.length;

  let origin: [number, number, number];
  let shape: [number, number, number];
  if (options.range !== undefined) {
    const { min, max } = options.range;
    for (let a = 0; a < 3; a++) {
      if (!(Number.isInteger(min[a]) && Number.isInteger(max[a]) && (max[a] as number) >= (min[a] as number))) {
        throw new InvalidValueError(`grid range along ${'hkl'[a]} is empty or not integer (${min[a]} … ${max[a]})`, { field: 'range' });
      }
    }
    origin = [min[0], min[1], min[2]];
    shape = [max[0] - min[0] + 1, max[1] - min[1] + 1, max[2] - min[2] + 1];
  } else {
    const ext = [0, 0, 0];
    for (let i = 0; i < rows; i++) {
      if (!Number.isFinite(merged.I[i] as number)) continue;
      const [fh, fk, fl] = rowFine(merged, ndiv, i);
      for (const r of ops) {
        ext[0] = Math.max(ext[0] as number, Math.abs(fh * (r[0] as number) + fk * (r[3] as number) + fl * (r[6] as number)));
        ext[1] = Math.max(ext[1] as number, Math.abs(fh * (r[1] as number) + fk * (r[4] as number) + fl * (r[7] as number)));
        ext[2] = Math.max(ext[2] as number, Math.abs(fh * (r[2] as number) + fk * (r[5] as number) + fl * (r[8] as number)));
      }
    }
    const [eh, ek, el] = ext as [number, number, number];
    origin = [-eh, -ek, -el];
    shape = [2 * eh + 1, 2 * ek + 1, 2 * el + 1];
  }

  const { points, bytes } = gridSize(shape);
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_GRID_BYTES;
  if (bytes > maxBytes || points > MAX_POINTS) {
    throw new InvalidValueError(
      `the dense grid ${shape.join('×')} (${points} points, ${formatBytes(bytes)}) exceeds the limit of ${formatBytes(Math.min(maxBytes, MAX_POINTS * GRID_BYTES_PER_POINT))}; raise the limit (diffract export --max-memory-mb) or export a smaller range`,
      { field: 'grid' },
    );
  }

  const data = new Float32Array(points).fill(fill);
  const sigma = new Float32Array(points).fill(fill);
  const count = new Uint16Array(points);
  const [nh, nk, nl] = shape;
  const [oh, ok, ol] = origin;
  let rowsUsed = 0;
  let outside = 0;
  let collisions = 0;
  let measured = 0;
  for (let i = 0; i < rows; i++) {
    const I = merged.I[i] as number;
    if (!Number.isFinite(I)) continue;
    rowsUsed++;
    const s = merged.sigma[i] as number;
    const [fh, fk, fl] = rowFine(merged, ndiv, i);
    for (const [h, k, l] of expandFine(ops, fh, fk, fl)) {
      const a = h - oh;
      const b = k - ok;
      const c = l - ol;
      if (a < 0 || a >= nh || b < 0 || b >= nk || c < 0 || c >= nl) {
        outside++;
        continue;
      }
      const p = (a * nk + b) * nl + c;
      const n = count[p] as number;
      if (n === 0) {
        data[p] = I;
        sigma[p] = s;
        measured++;
      } else {
        if (n === 1) collisions++;
        const I0 = data[p] as number;
        const s0 = sigma[p] as number;
        if (s0 > 0 && s > 0 && Number.isFinite(s0) && Number.isFinite(s)) {
          const w0 = 1 / (s0 * s0);
          const w = 1 / (s * s);
          data[p] = (w0 * I0 + w * I) / (w0 + w);
          sigma[p] = 1 / Math.sqrt(w0 + w);
        } else {
          data[p] = (I0 * n + I) / (n + 1);
          sigma[p] = NaN;
        }
      }
      if (n < 0xffff) count[p] = n + 1;
    }
  }
  return { data, sigma, count, shape, origin, ndiv, fill, measured, rowsUsed, rowsSkipped: rows - rowsUsed, outside, collisions };
}

/** Linear index of fine index (fh, fk, fl) in the grid, or −1 when outside. */
export function gridIndex(grid: Pick<DenseGrid, 'shape' | 'origin'>, fh: number, fk: number, fl: number): number {
  const a = fh - grid.origin[0];
  const b = fk - grid.origin[1];
  const c = fl - grid.origin[2];
  const [nh, nk, nl] = grid.shape;
  if (a < 0 || a >= nh || b < 0 || b >= nk || c < 0 || c >= nl) return -1;
  return (a * nk + b) * nl + c;
}

/** Fine index of linear grid index p. */
export function gridFine(grid: Pick<DenseGrid, 'shape' | 'origin'>, p: number): [number, number, number] {
  const [, nk, nl] = grid.shape;
  const c = p % nl;
  const rest = (p - c) / nl;
  const b = rest % nk;
  const a = (rest - b) / nk;
  return [grid.origin[0] + a, grid.origin[1] + b, grid.origin[2] + c];
}

/** Fractional coordinates (r.l.u.) along axis 0 (h), 1 (k) or 2 (l): (origin + i) / n. */
export function gridAxis(grid: Pick<DenseGrid, 'shape' | 'origin' | 'ndiv'>, axis: 0 | 1 | 2): Float64Array {
  const n = grid.ndiv[axis];
  const o = grid.origin[axis];
  return Float64Array.from({ length: grid.shape[axis] }, (_v, i) => (o + i) / n);
}
