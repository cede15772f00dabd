/**
 * The Bragg term of serial stills in the units of the diffuse rows, for the
 * absolute scale's sum rule (src/pipeline/absolute.ts).
 *
 * A diffuse row holds I = N / (T Σκ): counts per second per unit κ
 * (κ = Ω · P_pol · efficiency · air, src/corrections/pixel-corrections.ts), i.e.
 * an intensity density ρ(q) times the detector's response. A still records a
 * *slice* of each lattice point: the Ewald sphere cuts the point's 3D
 * distribution, so the spot's counts are (docs/simulate.md, "Stills")
 *
 *     Σ_spot N = T · b · g · (F/V_c) · P / (λ² · t_H)        (g = κ/Ω at the spot)
 *
 * with F/V_c the lattice point's integrated intensity, P the partiality
 * (its density on the sphere relative to the centre) and t_H the lattice
 * point's thickness, ∫ p(ε) dε over the excitation error for a point of unit
 * central density:
 * - `gaussian` (σ = R/2.6): t = √(2π) σ;
 * - `xsphere` (uniform sphere of radius R, P = 1 − (ε/R)²): t = 4R/3;
 * - `ellipsoid` (DIALS, P = exp(−ε′²/(2 S₃₃))): t = √(2π S₃₃).
 *
 * So the lattice point's Bragg intensity as a density over its subvoxel of
 * volume v = V* / (n1 n2 n3), in the diffuse rows' units, is
 *
 *     ρ_H = (Σ_spot N / P) · t_H · Ω / (λ² · κ · T · v)
 *
 * with Ω and κ of the spot's pixel. `braggDensityFactors` gives the factor
 * t_H Ω / (λ² κ T v) of every imported reflection; `foldBragg`
 * (src/pipeline/absolute.ts) adds merged Bragg densities to the diffuse rows of
 * the same subvoxels for the sum rule, since on a still
 * the lattice-point subvoxel holds both (the diffuse rows come from its
 * unmasked pixels), so the sum rule must count its volume once.
 */
import { invariant } from '../errors.ts';
import { pixelCorrections, type CorrectionOptions } from '../corrections/pixel-corrections.ts';
import type { ObservationMeta } from '../pipeline/observations.ts';
import { cellVolume } from '../scattering/model.ts';
import type { StillsDataset } from './model.ts';
import { GAUSSIAN_RADIUS_IN_SIGMAS, spotRadius, type PartialityModel } from './partiality.ts';
import { StillPredictor } from './predict.ts';

/** t_H: the thickness of a lattice point of radius R (Å⁻¹) under the partiality model (ellipsoid: give S₃₃). */
export function latticePointThickness(model: PartialityModel, radius: number, s33?: number): number {
  switch (model) {
    case 'gaussian':
      return Math.sqrt(2 * Math.PI) * (radius / GAUSSIAN_RADIUS_IN_SIGMAS);
    case 'xsphere':
      return (4 * radius) / 3;
    case 'ellipsoid':
      invariant(s33 !== undefined, 'the ellipsoid thickness needs S33');
      return Math.sqrt(2 * Math.PI * s33);
  }
}

/**
 * Per imported reflection (dataset order): t_H Ω / (λ² κ T v), the factor that
 * turns I/P (counts) into the density of the lattice point over its subvoxel
 * in the units of the diffuse rows (see the module comment); NaN where the
 * reflection's pixel is off its panel or the shot has no spot model.
 */
export function braggDensityFactors(
  data: StillsDataset,
  meta: ObservationMeta,
  opts: {
    model: PartialityModel;
    /** seconds per shot */
    exposure: number;
    /** the per-pixel corrections in κ of the diffuse rows; undefined: corrections off (κ = 1) */
    corrections: CorrectionOptions | undefined;
  },
): Float64Array {
  const R = data.reflections;
  const out = new Float64Array(R.n).fill(Number.NaN);
  const v = 1 / (cellVolume(meta.cell) * meta.ndiv[0] * meta.ndiv[1] * meta.ndiv[2]);
  // κ and Ω per pixel depend on the detector and beam only: once per pair
  const perDetector = new Map<object, Map<object, { kappa: Float64Array; omega: Float64Array; offsets: number[] }>>();
  const predictors = new Map<number, StillPredictor>();
  for (let r = 0; r < R.n; r++) {
    const shot = data.shots[R.shot[r] as number];
    if (shot === undefined) continue;
    const exp = shot.experiment;
    let byBeam = perDetector.get(exp.detector);
    if (byBeam === undefined) {
      byBeam = new Map();
      perDetector.set(exp.detector, byBeam);
    }
    let pc = byBeam.get(exp.beam);
    if (pc === undefined) {
      const omega = pixelCorrections(exp, { solidAngle: true, polarization: false, efficiency: false, air: false, columns: 'weights' }).kappa;
      const kappa = opts.corrections === undefined ? new Float64Array(omega.length).fill(1) : pixelCorrections(exp, { ...opts.corrections, columns: 'weights' }).kappa;
      const offsets = [0];
      for (const p of exp.detector.panels) offsets.push((offsets[offsets.length - 1] as number) + p.imageSize[0] * p.imageSize[1]);
      pc = { kappa, omega, offsets };
      byBeam.set(exp.beam, pc);
    }
    const panel = exp.detector.panels[R.panel[r] as number];
    let x = R.xyzObs[2 * r] as number;
    let y = R.xyzObs[2 * r + 1] as number;
    if (!(Number.isFinite(x) && Number.isFinite(y))) {
      x = R.xyzCal[2 * r] as number;
      y = R.xyzCal[2 * r + 1] as number;
    }
    if (panel === undefined || !(x >= 0 && y >= 0 && x < panel.imageSize[0] && y < panel.imageSize[1])) continue;
    const pixel = (pc.offsets[R.panel[r] as number] as number) + Math.floor(y) * panel.imageSize[0] + Math.floor(x);
    const kappa = pc.kappa[pixel] as number;
    const omega = pc.omega[pixel] as number;
    let predictor = predictors.get(shot.index);
    if (predictor === undefined) {
      predictor = new StillPredictor(exp, opts.model === 'ellipsoid' ? 'ellipsoid' : 'ewald');
      predictors.set(shot.index, predictor);
    }
    const lp = predictor.latticePoint(R.h[r] as number, R.k[r] as number, R.l[r] as number);
    let t: number | undefined;
    if (opts.model === 'ellipsoid') {
      const frame = predictor.ellipsoidFrame(lp);
      if (frame !== undefined) t = latticePointThickness('ellipsoid', 0, frame.S[8]);
    } else {
      const radius = spotRadius(shot.spotModel, Math.hypot(lp[0], lp[1], lp[2]));
      if (radius !== undefined && radius > 0) t = latticePointThickness(opts.model, radius);
    }
    if (t === undefined || !(kappa > 0)) continue;
    const lambda = exp.beam.wavelength;
    out[r] = (t * omega) / (lambda * lambda * kappa * opts.exposure * v);
  }
  return out;
}
