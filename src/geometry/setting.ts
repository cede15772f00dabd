/**
 * The crystal setting in the lab frame, and the pixel → fractional hkl mapping.
 *
 * DIALS conventions (dxtbx `Goniometer`, `Crystal`):
 *
 *     s0 = −unit(beam direction) / λ
 *     s1 = unit(lab position of the pixel) / λ
 *     s1 − s0 = M(z) · h,    M(z) = S · R(axis, φ(z)) · F · A(z)
 *     h = M(z)⁻¹ · (s1 − s0)
 *
 * with R(axis, φ) the right-handed rotation by φ about the goniometer's datum
 * rotation axis, F the fixed rotation (axes between the crystal and the scan
 * axis), S the setting rotation (axes between the scan axis and the base) and
 * A = U·B the reciprocal-space setting (columns a*, b*, c*). For an experiment
 * without goniometer or without scan (stills), M = A: DIALS' stills prediction
 * uses the crystal setting alone.
 */
import { InvalidValueError } from '../errors.ts';
import { cross, dot, inverse, mulMM, mulMV, norm, normalize, rotationAbout } from './linalg.ts';
import type { Beam, Crystal, Experiment, Goniometer, Mat3, UnitCell, Vec3 } from './model.ts';
import { labPosition } from './pxmm.ts';
import { angleAtZ, crystalAAtZ, matrixAtScanPoint } from './scan.ts';

const DEG = Math.PI / 180;

/** s0 = −unit(direction) / λ (Å⁻¹): the incident wave vector. */
export function s0Vector(beam: Beam): Vec3 {
  const d = normalize(beam.direction);
  const k = -1 / beam.wavelength;
  return [d[0] * k, d[1] * k, d[2] * k];
}

function requireCrystal(exp: Experiment): Crystal {
  if (exp.crystal === undefined) {
    throw new InvalidValueError(`experiment '${exp.identifier}' has no crystal model (not indexed)`, { field: 'crystal' });
  }
  return exp.crystal;
}

/** S · R(axis, φ) · F for a goniometer at rotation angle φ (degrees), with the given S. */
function goniometerRotation(g: Goniometer, phiDeg: number, S: Mat3): Mat3 {
  return mulMM(S, mulMM(rotationAbout(g.rotationAxis, phiDeg * DEG), g.fixedRotation));
}

/** S at scan-frame z: interpolated from the scan points when present, else the static S. */
function settingRotationAtZ(g: Goniometer, z: number): Mat3 {
  const pts = g.settingRotationAtScanPoints;
  return pts !== undefined && pts.length > 0 ? matrixAtScanPoint(pts, z) : g.settingRotation;
}

/**
 * M(z) = S(z) · R(axis, φ(z)) · F · A(z), mapping h to s1 − s0 in the lab frame at
 * scan-frame z (see scan.ts for z). Stills (no goniometer or no scan): A.
 */
export function labSettingMatrix(exp: Experiment, z: number): Mat3 {
  const A = crystalAAtZ(requireCrystal(exp), z);
  const g = exp.goniometer;
  if (g === undefined || exp.scan === undefined) return A;
  return mulMM(goniometerRotation(g, angleAtZ(exp.scan, z), settingRotationAtZ(g, z)), A);
}

/**
 * S · R(axis, φ) · F · A with an explicit rotation angle φ (degrees) and the static
 * A and S, for images whose angle comes from their headers. No goniometer: A.
 */
export function labSettingMatrixAtAngle(exp: Experiment, phiDeg: number): Mat3 {
  const A = requireCrystal(exp).A;
  const g = exp.goniometer;
  if (g === undefined) return A;
  return mulMM(goniometerRotation(g, phiDeg, g.settingRotation), A);
}

/** M(z)⁻¹: maps s1 − s0 to fractional hkl at scan-frame z. */
export function hklMatrixAt(exp: Experiment, z: number): Mat3 {
  return inverse(labSettingMatrix(exp, z));
}

/** (S · R(φ) · F · A)⁻¹ at an explicit angle φ (degrees). */
export function hklMatrixAtAngle(exp: Experiment, phiDeg: number): Mat3 {
  return inverse(labSettingMatrixAtAngle(exp, phiDeg));
}

/**
 * The CPU reference for the hkl mapping: fractional Miller indices at pixel
 * coordinate (x, y) of panel `panelIndex` and scan-frame z.
 *
 *     s1 = unit(labPosition(panel, x, y)) / λ,   h = M(z)⁻¹ · (s1 − s0)
 */
export function fractionalHkl(exp: Experiment, panelIndex: number, x: number, y: number, z: number): Vec3 {
  const panel = exp.detector.panels[panelIndex];
  if (panel === undefined) {
    throw new InvalidValueError(`panel ${panelIndex} requested but the detector has ${exp.detector.panels.length}`, { field: 'panel' });
  }
  const p = labPosition(panel, x, y);
  const k = 1 / (exp.beam.wavelength * norm(p));
  const s0 = s0Vector(exp.beam);
  const d: Vec3 = [p[0] * k - s0[0], p[1] * k - s0[1], p[2] * k - s0[2]];
  return mulMV(hklMatrixAt(exp, z), d);
}

/** Angle between two vectors in degrees (atan2 form, accurate near 0° and 180°). */
function angleDeg(u: Vec3, v: Vec3): number {
  return Math.atan2(norm(cross(u, v)), dot(u, v)) / DEG;
}

/**
 * Unit cell from the real-space axes (Å): a = |a|, b = |b|, c = |c|,
 * α = ∠(b, c), β = ∠(a, c), γ = ∠(a, b) in degrees.
 */
export function unitCellFromRealSpace(a: Vec3, b: Vec3, c: Vec3): UnitCell {
  return { a: norm(a), b: norm(b), c: norm(c), alpha: angleDeg(b, c), beta: angleDeg(a, c), gamma: angleDeg(a, b) };
}
