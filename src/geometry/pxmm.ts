/**
 * Pixel ↔ millimetre conversion on a detector panel, and pixel lab positions.
 *
 * Pixel coordinates have pixel corners at integers (pixel (i, j) spans
 * [i, i+1) × [j, j+1), centre at (i + 0.5, j + 0.5)); millimetre coordinates are
 * measured from the panel origin along the fast and slow axes.
 *
 * Two strategies, as in dxtbx:
 *
 * **simple** (`SimplePxMmStrategy`): x_mm = x · pixel_size_fast, y_mm = y · pixel_size_slow.
 *
 * **parallax** (`ParallaxCorrectedPxMmStrategy`): a photon that enters a thick
 * sensor at the point P (mm) is absorbed some way along its path, so the charge
 * is recorded displaced from P, along the projection of the ray onto the panel.
 * Let u be the unit ray direction from the sample to the point (lab frame),
 * n the panel normal (fast × slow, flipped if needed so that it points away from
 * the sample: origin·n > 0), cos θ = u·n, t₀ the sensor thickness and μ its linear
 * attenuation coefficient. The path length through the sensor is L = t₀ / cos θ,
 * and dxtbx takes the mean depth of absorption along the ray as
 *
 *     ℓ = ∫₀ᴸ s · μ e^(−μ s) ds = 1/μ − (L + 1/μ) · e^(−μ L)
 *
 * (photons that traverse the sensor unabsorbed count with depth 0; the integral
 * is not renormalised by the absorbed fraction). The recorded point is the entry
 * point moved by ℓ·u, whose in-plane components are ℓ·(u·fast), ℓ·(u·slow):
 *
 *     recorded = entry + ℓ(u) · (u·fast, u·slow)
 *
 * - `mmToPixel` (dxtbx `to_pixel`) applies this forward shift, with u taken at
 *   the entry point, then divides by the pixel size.
 * - `pixelToMm` (dxtbx `to_millimeter`) undoes it approximately: it evaluates u
 *   and ℓ at the *recorded* point (pixel · pixel size) and subtracts the shift.
 *   This is dxtbx's own approximation (not an exact inverse; the round trip
 *   px → mm → px is off by the change of ℓ·u over one parallax shift, far below a
 *   pixel for usual geometries). Keeping the same approximation keeps our
 *   millimetre coordinates identical to DIALS `xyzcal.mm`.
 *
 * dxtbx only builds the parallax strategy when μ > 0 and t₀ > 0 (otherwise it
 * falls back to the simple one); the readers enforce that, and these functions
 * also fall back to the simple conversion when μ or t₀ is not positive, or when
 * the ray does not reach the panel's front face (cos θ ≤ 0, where dxtbx asserts).
 */
import type { Panel, Vec3 } from './model.ts';

/** Unit normal of the panel, pointing away from the sample (origin·n ≥ 0). */
function outwardNormal(panel: Panel): Vec3 {
  const f = panel.fastAxis;
  const s = panel.slowAxis;
  let nx = f[1] * s[2] - f[2] * s[1];
  let ny = f[2] * s[0] - f[0] * s[2];
  let nz = f[0] * s[1] - f[1] * s[0];
  const len = Math.hypot(nx, ny, nz);
  nx /= len;
  ny /= len;
  nz /= len;
  const o = panel.origin;
  if (o[0] * nx + o[1] * ny + o[2] * nz < 0) return [-nx, -ny, -nz];
  return [nx, ny, nz];
}

function usesParallax(panel: Panel): boolean {
  return panel.pxMmStrategy === 'parallax' && panel.mu > 0 && panel.thickness > 0;
}

/**
 * The parallax shift (mm, along fast and slow) for a ray through panel point
 * (xmm, ymm): ℓ(u)·(u·fast, u·slow) with ℓ the mean absorption depth (see the
 * module comment). [0, 0] when the ray does not enter the front face.
 */
export function parallaxShift(panel: Panel, xmm: number, ymm: number): [number, number] {
  const o = panel.origin;
  const f = panel.fastAxis;
  const s = panel.slowAxis;
  let ux = o[0] + xmm * f[0] + ymm * s[0];
  let uy = o[1] + xmm * f[1] + ymm * s[1];
  let uz = o[2] + xmm * f[2] + ymm * s[2];
  const r = Math.hypot(ux, uy, uz);
  ux /= r;
  uy /= r;
  uz /= r;
  const n = outwardNormal(panel);
  const cosT = ux * n[0] + uy * n[1] + uz * n[2];
  if (!(cosT > 0)) return [0, 0];
  const mu = panel.mu;
  const path = panel.thickness / cosT;
  const depth = 1 / mu - (path + 1 / mu) * Math.exp(-mu * path);
  return [depth * (ux * f[0] + uy * f[1] + uz * f[2]), depth * (ux * s[0] + uy * s[1] + uz * s[2])];
}

/** Pixel coordinates → millimetres on the panel (dxtbx `pixel_to_millimeter`). */
export function pixelToMm(panel: Panel, x: number, y: number): [number, number] {
  const xmm = x * panel.pixelSize[0];
  const ymm = y * panel.pixelSize[1];
  if (!usesParallax(panel)) return [xmm, ymm];
  const [dx, dy] = parallaxShift(panel, xmm, ymm);
  return [xmm - dx, ymm - dy];
}

/** Millimetres on the panel → pixel coordinates (dxtbx `millimeter_to_pixel`). */
export function mmToPixel(panel: Panel, xmm: number, ymm: number): [number, number] {
  if (!usesParallax(panel)) return [xmm / panel.pixelSize[0], ymm / panel.pixelSize[1]];
  const [dx, dy] = parallaxShift(panel, xmm, ymm);
  return [(xmm + dx) / panel.pixelSize[0], (ymm + dy) / panel.pixelSize[1]];
}

/** Lab position (mm) of pixel coordinate (x, y): origin + x_mm·fast + y_mm·slow, (x_mm, y_mm) = pixelToMm(x, y). */
export function labPosition(panel: Panel, x: number, y: number): Vec3 {
  const [xmm, ymm] = pixelToMm(panel, x, y);
  const o = panel.origin;
  const f = panel.fastAxis;
  const s = panel.slowAxis;
  return [o[0] + xmm * f[0] + ymm * s[0], o[1] + xmm * f[1] + ymm * s[1], o[2] + xmm * f[2] + ymm * s[2]];
}
