/**
 * The reciprocal cell of a direct cell (a, b, c in Å, α, β, γ in degrees),
 * used by map export to give grid steps in Å⁻¹:
 *
 *   V  = abc·√(1 − cos²α − cos²β − cos²γ + 2 cosα cosβ cosγ)
 *   a* = bc·sinα / V,  b* = ca·sinβ / V,  c* = ab·sinγ / V
 *   cos α* = (cosβ cosγ − cosα) / (sinβ sinγ)   (and cyclically)
 */
import { InvalidValueError } from '../errors.ts';

export type Cell6 = readonly [number, number, number, number, number, number];

const RAD = Math.PI / 180;

/** a*, b*, c* (Å⁻¹), α*, β*, γ* (degrees). */
export function reciprocalCell(cell: Cell6): [number, number, number, number, number, number] {
  const [a, b, c, al, be, ga] = cell;
  const ca = Math.cos(al * RAD);
  const cb = Math.cos(be * RAD);
  const cg = Math.cos(ga * RAD);
  const sa = Math.sin(al * RAD);
  const sb = Math.sin(be * RAD);
  const sg = Math.sin(ga * RAD);
  const q = 1 - ca * ca - cb * cb - cg * cg + 2 * ca * cb * cg;
  if (!(a > 0 && b > 0 && c > 0) || !(q > 0)) throw new InvalidValueError(`unit cell (${cell.join(', ')}) has no volume`, { field: 'cell' });
  const v = a * b * c * Math.sqrt(q);
  const acosDeg = (x: number): number => Math.acos(Math.max(-1, Math.min(1, x))) / RAD;
  return [
    (b * c * sa) / v,
    (c * a * sb) / v,
    (a * b * sg) / v,
    acosDeg((cb * cg - ca) / (sb * sg)),
    acosDeg((cg * ca - cb) / (sg * sa)),
    acosDeg((ca * cb - cg) / (sa * sb)),
  ];
}

/** Volume (Å³) of the direct cell. */
export function directVolume(cell: Cell6): number {
  const r = Math.PI / 180;
  const [a, b, c, al, be, ga] = cell;
  const ca = Math.cos(al * r);
  const cb = Math.cos(be * r);
  const cg = Math.cos(ga * r);
  return a * b * c * Math.sqrt(Math.max(0, 1 - ca * ca - cb * cb - cg * cg + 2 * ca * cb * cg));
}
