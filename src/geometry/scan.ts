/**
 * Rotation angle and scan-varying models along a scan.
 *
 * The scan-frame coordinate z is continuous: z = 0 at the start of the scan's
 * first image (`imageRange[0]`), z = k at the boundary between the k-th and
 * (k+1)-th image (0-based), z = k + 0.5 at the middle of the k-th image. The
 * rotation angle is linear in z:
 *
 *     φ(z) = oscillation[0] + z · oscillation[1]      (degrees)
 *
 * Relation to DIALS: DIALS reflection tables give z (`xyzcal.px`, `xyzobs.px.value`)
 * as an *array index*, which starts at imageRange[0] − 1 (dxtbx
 * `Scan::get_array_range`). For a scan that starts at image 1 the two agree; for
 * a scan starting at image N, z here = z_DIALS − (N − 1).
 *
 * Scan points (crystal `A_at_scan_points`, goniometer
 * `setting_rotation_at_scan_points`) sit at the image boundaries z = 0, 1, …,
 * n_images; between them a model is interpolated linearly, element by element,
 * and it is clamped to the first/last point outside [0, n_points − 1].
 */
import type { Crystal, Mat3, Scan } from './model.ts';

/** Rotation angle (degrees) at scan-frame z: oscillation start + z · width. */
export function angleAtZ(scan: Scan, z: number): number {
  return scan.oscillation[0] + z * scan.oscillation[1];
}

/** z at the middle of the image with 0-based offset `imageOffset` inside the scan: offset + 0.5. */
export function frameMidZ(imageOffset: number): number {
  return imageOffset + 0.5;
}

/**
 * Matrix at scan-frame z from per-scan-point matrices (point k at z = k): linear
 * interpolation of the nine elements between the two neighbouring points,
 * clamped to the ends.
 */
export function matrixAtScanPoint(points: readonly Mat3[], z: number): Mat3 {
  const n = points.length;
  const first = points[0];
  if (first === undefined) throw new Error('internal invariant failed: no scan points');
  if (n === 1 || !(z > 0)) return first;
  if (z >= n - 1) return points[n - 1] as Mat3;
  const i = Math.floor(z);
  const t = z - i;
  const a = points[i] as Mat3;
  const b = points[i + 1] as Mat3;
  const r = new Array<number>(9);
  for (let k = 0; k < 9; k++) r[k] = (a[k] as number) * (1 - t) + (b[k] as number) * t;
  return r as unknown as Mat3;
}

/** The crystal setting A at scan-frame z: interpolated from `AAtScanPoints` when present, else the static A. */
export function crystalAAtZ(crystal: Crystal, z: number): Mat3 {
  const pts = crystal.AAtScanPoints;
  if (pts === undefined || pts.length === 0) return crystal.A;
  return matrixAtScanPoint(pts, z);
}
