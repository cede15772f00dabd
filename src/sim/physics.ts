/**
 * The intensity model of the simulator: known, smooth functions whose values
 * are the ground truth. Notation: h = (h, k, l) fractional Miller indices,
 * q = |s1 − s0| = |A·h| = 2 sin θ / λ (Å⁻¹), G* = AᵀA the reciprocal metric so
 * that q² = hᵀ G* h.
 *
 * Expected counts of pixel (x, y) in frame i (0-based), averaged over S
 * rotation sub-steps φ_s = φ_i + (s + ½)·w/S of the frame:
 *
 *     E = T · b(i) · a(x, y) · g(x, y) · t(x, y) · (1/S) Σ_s [ diffuse(h_s) + ring(q) + bragg(h_s) ] + c
 *
 * with T the exposure (s), h_s = (S·R(φ_s)·F·A)⁻¹·(s1 − s0) the pixel's
 * fractional hkl at sub-step s, and
 *
 * - diffuse(h) = D · (f + (q/q0)²) · exp(−(q/q0)²) · (1 + m_h cos πh + m_k cos πk + m_l cos πl):
 *   an isotropic falloff (a thermal-diffuse-like hump at q ≈ q0 over a floor f)
 *   times a modulation with period 2 along each reciprocal axis, i.e. the
 *   diffuse signal of nearest-neighbour correlations along a, b and c. It is
 *   smooth (entire), centrosymmetric and even in each index separately, so it
 *   is symmetric under the Laue group mmm of P 2 2 2 (and −1 of P 1).
 * - ring(q) = R · exp(−½ ((q − q_ring)/σ_ring)²): a solvent / air ring.
 * - bragg(h) = I_H · exp(−½ (r²/σ_r² + t²/σ_t²)) around the nearest lattice point
 *   H = round(h) ≠ 0, where δq = M·(h − H) is the offset in the lab (Å⁻¹),
 *   r = δq·unit(q_H) its radial and t its tangential part, σ_r = 1/domainSize
 *   and σ_t = sqrt(σ_r² + (|q_H|·η)²), η = sqrt(mosaicity² + divergence²) in
 *   radians (terms beyond 6σ, below e⁻¹⁸ of the peak, are dropped). So a
 *   reflection's peak value is I_H (photons/s/pixel), its spot is
 *   a few pixels wide and it lights up for as long as the rotation keeps H
 *   within a few σ_t of the Ewald sphere.
 * - I_H = scale · exp(−B q_H²/2) · E², q_H ≤ 1/dmin (0 beyond, and for H = 0),
 *   with E² = −ln u, u uniform in (0, 1) from a hash of the seed and the
 *   canonical index of H's symmetry class (Friedel pairs share it; in
 *   P 2 2 2 so do all sign changes): Wilson statistics for an acentric
 *   structure, fixed by the seed.
 * - b(i) = 1 + α sin(2π (i + ½)/P + φ₀): the per-frame scale drift.
 * - a(x, y) = 1 + g_x u + g_y v + ρ (u² + v²), u = (x + ½)/W − ½, v = (y + ½)/H − ½:
 *   a smooth detector absorption / efficiency map (1 by default).
 * - g(x, y) (only with `geometryFactors`) = P · Ω_rel: the polarization factor
 *   P = p (1 − (ŝ1·e)²) + (1 − p)(1 − (ŝ1·n)²) (p the polarization fraction,
 *   n the polarization normal, e = unit(n × beam direction) the main electric
 *   vector) and the solid angle of the pixel relative to one at the foot of the
 *   sample–panel normal, Ω_rel = (D/r)³ (D the normal distance, r the distance
 *   to the pixel centre).
 * - t(x, y) = exp(−μ_air · f · |p|): the air transmission along the
 *   sample–pixel path (f the spec's `airPath`, 1 when absent; |p| the distance
 *   to the pixel centre in mm; μ_air the total attenuation of dry air at the
 *   beam energy, src/corrections/attenuation.ts, the model the correction
 *   stage divides out). Applied with or without `geometryFactors`.
 * - c: a constant offset in counts.
 *
 * Then counts = Poisson(E), clipped at the overload value; gap pixels read −1
 * and bad pixels −2 whatever their expected value.
 */
import { cross, dot, normalize } from '../geometry/linalg.ts';
import type { Mat3, Panel, Vec3 } from '../geometry/model.ts';
import { airAttenuation, energyKeV } from '../corrections/attenuation.ts';
import { hashUniform4 } from '../util/random.ts';
import { braggFraction, radialModel, type RadialModel } from './electron-units.ts';
import type { SimModel, SimSpaceGroup, SimulationSpec } from './spec.ts';

const DEG = Math.PI / 180;

/** q² = hᵀ G* h (Å⁻²). */
export function qSquared(gStar: Mat3, h: number, k: number, l: number): number {
  return (
    gStar[0] * h * h + gStar[4] * k * k + gStar[8] * l * l + 2 * (gStar[1] * h * k + gStar[2] * h * l + gStar[5] * k * l)
  );
}

/** The isotropic part of the diffuse model at q² (photons/s/pixel). */
export function diffuseIsotropic(model: SimModel['diffuse'], q2: number): number {
  const x = q2 / (model.q0 * model.q0);
  return model.scale * (model.floor + x) * Math.exp(-x);
}

/** The modulation factor 1 + m_h cos πh + m_k cos πk + m_l cos πl. */
export function diffuseModulation(model: SimModel['diffuse'], h: number, k: number, l: number): number {
  const m = model.modulation;
  return 1 + m[0] * Math.cos(Math.PI * h) + m[1] * Math.cos(Math.PI * k) + m[2] * Math.cos(Math.PI * l);
}

/** diffuse(h): the ground-truth diffuse intensity at fractional hkl (photons/s/pixel). */
export function diffuseIntensity(model: SimModel['diffuse'], gStar: Mat3, h: number, k: number, l: number): number {
  return diffuseIsotropic(model, qSquared(gStar, h, k, l)) * diffuseModulation(model, h, k, l);
}

/** ring(q) (photons/s/pixel). */
export function ringIntensity(model: SimModel['ring'], q: number): number {
  const z = (q - model.centre) / model.sigma;
  return model.scale * Math.exp(-0.5 * z * z);
}

/** b(i): the scale of frame i (0-based). */
export function frameScale(model: SimModel['frameScale'], frame: number): number {
  return 1 + model.amplitude * Math.sin((2 * Math.PI * (frame + 0.5)) / model.periodFrames + model.phaseDeg * DEG);
}

/** a(x, y) for the pixel whose corner is (x, y) (evaluated at its centre) on a W × H panel. */
export function absorptionFactor(model: SimModel['absorption'], x: number, y: number, width: number, height: number): number {
  const u = (x + 0.5) / width - 0.5;
  const v = (y + 0.5) / height - 0.5;
  return 1 + model.gradient[0] * u + model.gradient[1] * v + model.radial * (u * u + v * v);
}

/** The canonical member of H's symmetry class (Friedel pairs merged; P 2 2 2: all sign changes). */
export function canonicalIndex(group: SimSpaceGroup, h: number, k: number, l: number): [number, number, number] {
  if (group === 'P 2 2 2') return [Math.abs(h), Math.abs(k), Math.abs(l)];
  // P 1 (Laue −1): the first non-zero index made positive
  if (h < 0 || (h === 0 && (k < 0 || (k === 0 && l < 0)))) return [-h, -k, -l];
  return [h, k, l];
}

/**
 * E²_H of the Wilson draw: −ln u, u uniform in (0, 1) from a hash of the seed and
 * the canonical member of H's symmetry class (as canonicalIndex, inline: no
 * arrays in the hot loop).
 */
export function wilsonE2(spec: SimulationSpec, h: number, k: number, l: number): number {
  let ch = h;
  let ck = k;
  let cl = l;
  if (spec.crystal.spaceGroup === 'P 2 2 2') {
    ch = Math.abs(h);
    ck = Math.abs(k);
    cl = Math.abs(l);
  } else if (h < 0 || (h === 0 && (k < 0 || (k === 0 && l < 0)))) {
    ch = -h;
    ck = -k;
    cl = -l;
  }
  return -Math.log(hashUniform4(spec.seed, 0xb7a6, ch, ck, cl));
}

/** |F_H|² (electron units) of an electron-unit spec: C(s) β(s) E², 0 for H = 0 and beyond dmin. */
export function structureFactorSquared(spec: SimulationSpec, gStar: Mat3, h: number, k: number, l: number): number {
  if (h === 0 && k === 0 && l === 0) return 0;
  const q2 = qSquared(gStar, h, k, l);
  const dmin = spec.model.bragg.dmin;
  if (q2 * dmin * dmin > 1) return 0;
  const s = Math.sqrt(q2);
  return radialOf(spec, gStar).coherent(s) * braggFraction(spec.model.bragg.wilsonB, s) * wilsonE2(spec, h, k, l);
}

/** I_H (photons/s/pixel at the spot's peak), 0 for H = 0 and beyond dmin. */
export function braggIntensity(spec: SimulationSpec, gStar: Mat3, h: number, k: number, l: number): number {
  if (h === 0 && k === 0 && l === 0) return 0;
  const q2 = qSquared(gStar, h, k, l);
  const dmin = spec.model.bragg.dmin;
  if (q2 * dmin * dmin > 1) return 0;
  const eu = spec.model.electronUnits;
  if (eu !== undefined) {
    // |F_H|² = C(s) β(s) E²; the peak of a Gaussian whose integral is K |F_H|²/V_c
    const radial = radialOf(spec, gStar);
    const { sigmaRadial, eta } = spotWidths(spec);
    const st2 = sigmaRadial * sigmaRadial + q2 * eta * eta;
    const f2 = structureFactorSquared(spec, gStar, h, k, l);
    return (eu.photonsPerEu * f2) / (radial.cellVolume * (2 * Math.PI) ** 1.5 * sigmaRadial * st2);
  }
  return spec.model.bragg.scale * Math.exp((-spec.model.bragg.wilsonB * q2) / 2) * wilsonE2(spec, h, k, l);
}

/** The cell volume (Å³) from the reciprocal metric: V = 1/sqrt(det G*). */
export function cellVolumeOf(gStar: Mat3): number {
  const [a, b, c, d, e, f, g, h, i] = gStar;
  const det = a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g);
  return 1 / Math.sqrt(det);
}

/** The radial electron-unit model of an electron-unit spec. */
export function radialOf(spec: SimulationSpec, gStar: Mat3): RadialModel {
  const eu = spec.model.electronUnits;
  if (eu === undefined) throw new Error('internal invariant failed: radialOf needs an electron-unit spec');
  return radialModel(eu, cellVolumeOf(gStar));
}

/**
 * The true diffuse intensity at h: photons/s/pixel for photon-unit specs
 * (diffuseIntensity), electron units per cell for electron-unit specs:
 * C(s) (1 − β(s)) M(h).
 */
export function diffuseTruthValue(spec: SimulationSpec, gStar: Mat3, h: number, k: number, l: number): number {
  if (spec.model.electronUnits === undefined) return diffuseIntensity(spec.model.diffuse, gStar, h, k, l);
  const s = Math.sqrt(qSquared(gStar, h, k, l));
  const radial = radialOf(spec, gStar);
  return radial.coherent(s) * (1 - braggFraction(spec.model.bragg.wilsonB, s)) * diffuseModulation(spec.model.diffuse, h, k, l);
}

/** σ_r (Å⁻¹) and the angular part η (radians) of σ_t = sqrt(σ_r² + (q η)²). */
export function spotWidths(spec: SimulationSpec): { sigmaRadial: number; eta: number } {
  const mos = spec.crystal.mosaicityDeg * DEG;
  const div = spec.beam.divergenceDeg * DEG;
  return { sigmaRadial: 1 / spec.crystal.domainSize, eta: Math.sqrt(mos * mos + div * div) };
}

/**
 * g(x, y) = P · Ω_rel for a pixel at lab position p (mm); see the module comment.
 * `beamDirection` points from the sample to the source.
 */
export function geometryFactor(panel: Panel, p: Vec3, beamDirection: Vec3, polarizationNormal: Vec3, polarizationFraction: number): number {
  const r = Math.hypot(p[0], p[1], p[2]);
  const u: Vec3 = [p[0] / r, p[1] / r, p[2] / r];
  const n = normalize(polarizationNormal);
  const e = normalize(cross(n, normalize(beamDirection)));
  const ue = dot(u, e);
  const un = dot(u, n);
  const pol = polarizationFraction * (1 - ue * ue) + (1 - polarizationFraction) * (1 - un * un);
  const normal = normalize(cross(panel.fastAxis, panel.slowAxis));
  const D = Math.abs(dot(panel.origin, normal));
  const cosA = Math.abs(dot(u, normal));
  // Ω ∝ cos α / r², and r = D / cos α, so Ω_rel = cos³ α = (D / r)³
  const omega = cosA * cosA * cosA;
  return D > 0 ? pol * omega : pol;
}

/** The air path fraction of a spec's model (1, all air, when absent). */
export function airPathOf(model: SimModel): number {
  return model.airPath ?? 1;
}

/**
 * μ_air · f (mm⁻¹) of a spec: the air transmission of a pixel at distance r
 * (mm) from the sample is exp(−airExponent · r); 0 when there is no air path.
 */
export function airExponent(spec: SimulationSpec): number {
  const f = airPathOf(spec.model);
  return f === 0 ? 0 : airAttenuation(energyKeV(spec.beam.wavelength)) * f;
}
