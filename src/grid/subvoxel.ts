/**
 * The voxel grid of an integration: integer cells (H, K, L), each split into
 * ndiv = [n1, n2, n3] subvoxels.
 *
 *   H = ceil(h − ½),   ix = ceil(n1 · (h − H + ½)) ∈ 1…n1      (likewise k, l)
 *
 * so cell H spans h ∈ (H − ½, H + ½] and subvoxel ix spans
 * h − H + ½ ∈ ((ix − 1)/n1, ix/n1]. With odd n1 the central subvoxel
 * ix = (n1 + 1)/2 is centred on the Bragg position h = H.
 *
 * The global subvoxel index along an axis, g = n1·H + (ix − 1), numbers
 * subvoxels continuously across cell boundaries: the filter's neighbourhoods
 * are balls in g-space.
 *
 * All of it is evaluated in f32 with a fixed operation order, as the WGSL does
 * (shaders/lib/voxel-index.wgsl), so both backends put every pixel in the same
 * subvoxel:
 *
 *   h = (M00·d0 + M01·d1) + M02·d2          (each product rounded to f32)
 *   H = ceil(h − ½);  t = h − H;  ix = ceil(n1 · (t + ½))
 *
 * `h − H` is exact (Sterbenz), `t + ½` lies in (0, 1], so ix ∈ 1…n1 without
 * clamping; the code clamps anyway.
 */
import { InvalidValueError } from '../errors.ts';

const f = Math.fround;

export type Ndiv = readonly [number, number, number];

/** Checks ndiv: three integers 1…255. */
export function checkNdiv(ndiv: readonly number[], field = 'ndiv'): Ndiv {
  if (ndiv.length !== 3 || !ndiv.every((n) => Number.isInteger(n) && n >= 1 && n <= 255)) {
    throw new InvalidValueError(`ndiv must be three integers in 1…255, got [${ndiv.join(', ')}]`, { field });
  }
  return [ndiv[0] as number, ndiv[1] as number, ndiv[2] as number];
}

/** Subvoxels per cell. */
export function subvoxelsPerCell(ndiv: Ndiv): number {
  return ndiv[0] * ndiv[1] * ndiv[2];
}

/** The f32 fractional index of component r of M·d (M: 12 f32 per frame as 3 vec4 rows; d: 3 f32). */
export function hklComponentF32(rows: Float32Array, rowBase: number, d0: number, d1: number, d2: number): number {
  return f(f(f((rows[rowBase] as number) * d0) + f((rows[rowBase + 1] as number) * d1)) + f((rows[rowBase + 2] as number) * d2));
}

/** Cell index H = ceil(h − ½) of an f32 fractional index. */
export function cellOf(h: number): number {
  return Math.ceil(f(h - 0.5)) + 0; // + 0: no −0
}

/** Subvoxel index ix ∈ 1…n of f32 h in cell H (as the WGSL: ceil(n · ((h − H) + ½))). */
export function subOf(h: number, H: number, n: number): number {
  const t = f(h - H);
  const ix = Math.ceil(f(n * f(t + 0.5)));
  return ix < 1 ? 1 : ix > n ? n : ix;
}

/** The global subvoxel index g = n·H + ix − 1 of f32 h. */
export function globalSubOf(h: number, n: number): number {
  const H = cellOf(h);
  return n * H + subOf(h, H, n) - 1;
}

/** Cell and 1-based subvoxel of a global subvoxel index (floor division, negatives included). */
export function splitGlobal(g: number, n: number): [cell: number, sub: number] {
  const cell = Math.floor(g / n);
  return [cell, g - n * cell + 1];
}

/** Flat subvoxel index within a cell: ((ix−1)·n2 + (iy−1))·n3 + (iz−1). */
export function flatSub(ix: number, iy: number, iz: number, ndiv: Ndiv): number {
  return ((ix - 1) * ndiv[1] + (iy - 1)) * ndiv[2] + (iz - 1);
}

/** 1-based (ix, iy, iz) of a flat subvoxel index. */
export function unflatSub(s: number, ndiv: Ndiv): [number, number, number] {
  const iz = s % ndiv[2];
  const r = (s - iz) / ndiv[2];
  const iy = r % ndiv[1];
  const ix = (r - iy) / ndiv[1];
  return [ix + 1, iy + 1, iz + 1];
}

/** Fractional hkl of the centre of subvoxel ix of cell H: H − ½ + (ix − ½)/n. */
export function subvoxelCentre(H: number, ix: number, n: number): number {
  return H - 0.5 + (ix - 0.5) / n;
}

/**
 * The integer offsets of the filter's neighbourhood: every (Δ1, Δ2, Δ3) with
 * Δ1² + Δ2² + Δ3² ≤ window², in lexicographic order (Δ1, then Δ2, then Δ3).
 * The order is part of the specification: it fixes the order of sums and the
 * tie-break of equal count rates in the weighted median.
 */
export function ballOffsets(window: number): Int32Array {
  if (!Number.isInteger(window) || window < 0 || window > 4) {
    throw new InvalidValueError(`the filter window must be an integer 0…4, got ${window}`, { field: 'window' });
  }
  const out: number[] = [];
  const w2 = window * window;
  for (let a = -window; a <= window; a++) {
    for (let b = -window; b <= window; b++) {
      for (let c = -window; c <= window; c++) {
        if (a * a + b * b + c * c <= w2) out.push(a, b, c);
      }
    }
  }
  return Int32Array.from(out);
}
