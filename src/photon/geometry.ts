/**
 * Azimuthal-integration geometry from a pyFAI PONI (see src/io/poni.ts for the
 * file and its conventions). Computed once per (PONI, image shape, binning) on
 * the host in f64, like pyFAI's cached pixel arrays; the per-image work is the
 * `azimuthal-integrate` kernel.
 *
 * pyFAI's pixel position, for pixel (row i, column j):
 *
 *   p1 = (i + ½)·pixel1 − poni1,  p2 = (j + ½)·pixel2 − poni2,  L = dist
 *   t1 = p1·c2·c3 + p2·(c3·s1·s2 − c1·s3) − L·(c1·c3·s2 + s1·s3)
 *   t2 = p1·c2·s3 + p2·(c1·c3 + s1·s2·s3) − L·(c1·s2·s3 − c3·s1)
 *   t3 = p1·s2 − p2·c2·s1 + L·c1·c2
 *   2θ = atan2(√(t1² + t2²), t3),  χ = atan2(t1, t2),  q = 4π/λ · sin θ
 *
 * with cK = cos(rotK), sK = sin(rotK). q is in Å⁻¹ here (pyFAI's default unit
 * is nm⁻¹). Solid angle, relative to the PONI pixel, is cos³α with
 * cos α = L / √(p1² + p2² + L²) (pyFAI's default order 3).
 */
import { InvalidValueError } from '../errors.ts';
import type { PoniGeometry } from '../io/poni.ts';

export type RadialUnit = 'q_A^-1' | '2th_deg';

export interface BinMapOptions {
  bins: number;
  unit?: RadialUnit;
  /** [min, max] in `unit`; default: the extent of the unmasked pixel centres */
  range?: [number, number];
  /** 1 = usable (same layout as the image); absent = all usable */
  mask?: Uint8Array;
  /** divide by the relative solid angle (default true) */
  solidAngle?: boolean;
  /** pyFAI polarization factor in [−1, 1]; absent = no polarization correction */
  polarizationFactor?: number;
}

/** Which bin each pixel falls in, and each pixel's normalization. */
export interface BinMap {
  width: number;
  height: number;
  unit: RadialUnit;
  bins: number;
  /** bin edges (bins + 1), in `unit` */
  edges: Float64Array;
  /** bin centres, in `unit` */
  centers: Float64Array;
  /** per pixel: bin, or −1 when masked or out of range */
  binIndex: Int32Array;
  /** per pixel: solid angle × polarization (1 when neither is applied) */
  normalization: Float32Array;
}

interface Trig {
  c1: number;
  s1: number;
  c2: number;
  s2: number;
  c3: number;
  s3: number;
}

function trig(g: PoniGeometry): Trig {
  return { c1: Math.cos(g.rot1), s1: Math.sin(g.rot1), c2: Math.cos(g.rot2), s2: Math.sin(g.rot2), c3: Math.cos(g.rot3), s3: Math.sin(g.rot3) };
}

/** (t1, t2, t3) of a detector point at p1, p2 (m, relative to the PONI). */
function lab(g: PoniGeometry, t: Trig, p1: number, p2: number): [number, number, number] {
  const L = g.dist;
  const { c1, s1, c2, s2, c3, s3 } = t;
  const t1 = p1 * c2 * c3 + p2 * (c3 * s1 * s2 - c1 * s3) - L * (c1 * c3 * s2 + s1 * s3);
  const t2 = p1 * c2 * s3 + p2 * (c1 * c3 + s1 * s2 * s3) - L * (c1 * s2 * s3 - c3 * s1);
  const t3 = p1 * s2 - p2 * c2 * s1 + L * c1 * c2;
  return [t1, t2, t3];
}

/** 2θ (rad) at fractional pixel coordinates (row, col), pixel corners at integers. */
export function tthAt(g: PoniGeometry, row: number, col: number, t: Trig = trig(g)): number {
  const [t1, t2, t3] = lab(g, t, row * g.pixel1 - g.poni1, col * g.pixel2 - g.poni2);
  return Math.atan2(Math.hypot(t1, t2), t3);
}

/** χ (rad) at fractional pixel coordinates. */
export function chiAt(g: PoniGeometry, row: number, col: number, t: Trig = trig(g)): number {
  const [t1, t2] = lab(g, t, row * g.pixel1 - g.poni1, col * g.pixel2 - g.poni2);
  return Math.atan2(t1, t2);
}

/** 2θ (rad) → the radial unit. */
export function radialFromTth(tth: number, unit: RadialUnit, wavelengthM: number): number {
  if (unit === '2th_deg') return (tth * 180) / Math.PI;
  return ((4 * Math.PI) / (wavelengthM * 1e10)) * Math.sin(tth / 2);
}

/** The radial unit → 2θ (rad). */
export function tthFromRadial(x: number, unit: RadialUnit, wavelengthM: number): number {
  if (unit === '2th_deg') return (x * Math.PI) / 180;
  return 2 * Math.asin((x * wavelengthM * 1e10) / (4 * Math.PI));
}

/** Per-pixel-centre 2θ (rad), height × width. */
export function tthArray(g: PoniGeometry, height: number, width: number): Float64Array {
  const t = trig(g);
  const out = new Float64Array(height * width);
  for (let i = 0; i < height; i++) for (let j = 0; j < width; j++) out[i * width + j] = tthAt(g, i + 0.5, j + 0.5, t);
  return out;
}

export function buildBinMap(g: PoniGeometry, height: number, width: number, opts: BinMapOptions): BinMap {
  const bins = opts.bins;
  const unit = opts.unit ?? 'q_A^-1';
  if (!Number.isInteger(bins) || bins < 1) throw new InvalidValueError(`azimuthal integration needs a positive integer number of bins, got ${bins}`, { field: 'bins' });
  const n = height * width;
  if (opts.mask !== undefined && opts.mask.length !== n) throw new InvalidValueError(`mask has ${opts.mask.length} pixels for a ${height}×${width} image`, { field: 'mask' });
  const t = trig(g);
  const x = new Float64Array(n);
  const normalization = new Float32Array(n);
  const solid = opts.solidAngle ?? true;
  const P = opts.polarizationFactor;
  let lo = Infinity;
  let hi = -Infinity;
  const L = g.dist;
  for (let i = 0; i < height; i++) {
    const p1 = (i + 0.5) * g.pixel1 - g.poni1;
    for (let j = 0; j < width; j++) {
      const k = i * width + j;
      const p2 = (j + 0.5) * g.pixel2 - g.poni2;
      const [t1, t2, t3] = lab(g, t, p1, p2);
      const tth = Math.atan2(Math.hypot(t1, t2), t3);
      const v = radialFromTth(tth, unit, g.wavelength);
      x[k] = v;
      let norm = 1;
      if (solid) {
        const cosA = L / Math.sqrt(p1 * p1 + p2 * p2 + L * L);
        norm *= cosA * cosA * cosA;
      }
      if (P !== undefined) {
        const chi = Math.atan2(t1, t2);
        const c2t = Math.cos(tth);
        const s2t = Math.sin(tth);
        norm *= 0.5 * (1 + c2t * c2t - P * Math.cos(2 * chi) * s2t * s2t);
      }
      normalization[k] = norm;
      if (opts.mask === undefined || opts.mask[k] === 1) {
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
    }
  }
  const [rmin, rmax] = opts.range ?? [lo, hi];
  if (!(rmax > rmin)) throw new InvalidValueError(`radial range [${rmin}, ${rmax}] is empty`, { field: 'range' });
  const edges = Float64Array.from({ length: bins + 1 }, (_v, k) => rmin + ((rmax - rmin) * k) / bins);
  const centers = Float64Array.from({ length: bins }, (_v, k) => rmin + ((rmax - rmin) * (k + 0.5)) / bins);
  const binIndex = new Int32Array(n);
  const scale = bins / (rmax - rmin);
  for (let k = 0; k < n; k++) {
    const v = x[k] as number;
    if ((opts.mask !== undefined && opts.mask[k] !== 1) || !(v >= rmin && v <= rmax)) {
      binIndex[k] = -1;
      continue;
    }
    binIndex[k] = Math.min(bins - 1, Math.floor((v - rmin) * scale));
  }
  return { width, height, unit, bins, edges, centers, binIndex, normalization };
}

/**
 * The q-ring overlay: pixel k holds r + 1 when ring r (q in Å⁻¹, or 2θ in
 * degrees for unit '2th_deg') passes through it — its value lies between the
 * smallest and largest value at the pixel's four corners — else 0.
 */
export function ringOverlay(g: PoniGeometry, height: number, width: number, values: readonly number[], unit: RadialUnit = 'q_A^-1'): Uint8Array {
  const t = trig(g);
  const W1 = width + 1;
  const corner = new Float64Array((height + 1) * W1);
  for (let i = 0; i <= height; i++) for (let j = 0; j <= width; j++) corner[i * W1 + j] = radialFromTth(tthAt(g, i, j, t), unit, g.wavelength);
  const out = new Uint8Array(height * width);
  for (let i = 0; i < height; i++) {
    for (let j = 0; j < width; j++) {
      const a = corner[i * W1 + j] as number;
      const b = corner[i * W1 + j + 1] as number;
      const c = corner[(i + 1) * W1 + j] as number;
      const d = corner[(i + 1) * W1 + j + 1] as number;
      const lo = Math.min(a, b, c, d);
      const hi = Math.max(a, b, c, d);
      for (let r = 0; r < values.length && r < 255; r++) {
        const v = values[r] as number;
        if (v >= lo && v <= hi) {
          out[i * width + j] = r + 1;
          break;
        }
      }
    }
  }
  return out;
}
