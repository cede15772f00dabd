/** |s| = 1/d of fractional Miller indices from the unit cell (reciprocal metric tensor). */
import { InvalidValueError } from '../errors.ts';

export type Cell = readonly [number, number, number, number, number, number];

export interface ReciprocalMetric {
  /** G* (Å⁻²), row-major 3×3, symmetric */
  gstar: Float64Array;
  /** direct cell volume (Å³) */
  volume: number;
}

/** G* = G⁻¹ for the direct metric G of a, b, c (Å), α, β, γ (degrees). */
export function reciprocalMetric(cell: Cell): ReciprocalMetric {
  const [a, b, c, al, be, ga] = cell;
  const rad = Math.PI / 180;
  const ca = Math.cos(al * rad);
  const cb = Math.cos(be * rad);
  const cg = Math.cos(ga * rad);
  const g = [a * a, a * b * cg, a * c * cb, a * b * cg, b * b, b * c * ca, a * c * cb, b * c * ca, c * c];
  const [g00, g01, g02, , g11, g12, , , g22] = g as [number, number, number, number, number, number, number, number, number];
  const det = g00 * (g11 * g22 - g12 * g12) - g01 * (g01 * g22 - g12 * g02) + g02 * (g01 * g12 - g11 * g02);
  if (!(det > 0) || !(a > 0 && b > 0 && c > 0)) throw new InvalidValueError(`the cell ${cell.join(', ')} has no volume`, { field: 'cell' });
  const inv = new Float64Array([
    g11 * g22 - g12 * g12,
    g02 * g12 - g01 * g22,
    g01 * g12 - g02 * g11,
    g02 * g12 - g01 * g22,
    g00 * g22 - g02 * g02,
    g01 * g02 - g00 * g12,
    g01 * g12 - g02 * g11,
    g01 * g02 - g00 * g12,
    g00 * g11 - g01 * g01,
  ]).map((v) => v / det);
  return { gstar: inv, volume: Math.sqrt(det) };
}

/** |s| (Å⁻¹) of fractional (h, k, l). */
export function sLength(m: ReciprocalMetric, h: number, k: number, l: number): number {
  const q = m.gstar;
  const s2 =
    (q[0] as number) * h * h + (q[4] as number) * k * k + (q[8] as number) * l * l + 2 * ((q[1] as number) * h * k + (q[2] as number) * h * l + (q[5] as number) * k * l);
  return Math.sqrt(Math.max(0, s2));
}
