/**
 * Partiality of still reflections: the fraction of a reciprocal-lattice point's
 * scattering power that the Ewald sphere cuts, from the excitation error
 * ε = |s0 + r| − |s0| (predict.ts) and the shot's spot model.
 *
 * The spot model gives the lattice point's radius R (Å⁻¹):
 * - `radius` (CrystFEL `profile_radius`): R as given;
 * - `sauter` (DIALS `ML_domain_size_ang` D, `ML_half_mosaicity_deg` η): R = 1/D + |r|·η
 *   (η in radians): the domain-size broadening plus the mosaic spread, which grows
 *   with |r|.
 *
 * Models (`PartialitySettings.model`):
 * - `'xsphere'`: the lattice point is a uniform sphere of radius R and the
 *   (locally flat) Ewald sphere cuts it at distance ε from its centre; the cut's
 *   area relative to the great circle is P = 1 − (ε/R)² for |ε| < R, else 0. This
 *   is CrystFEL's `xsphere` model (P = 4p(1 − p) with penetration p = ½ − ε/(2R))
 *   for a monochromatic beam; CrystFEL also integrates over the beam's spectrum,
 *   which is not done here (the streams give `beam_bandwidth` 1e-8).
 * - `'gaussian'`: the lattice point is a 3D Gaussian whose σ is R/2.6 (the same
 *   R = 2.6σ convention as CrystFEL's Gaussian model); its density on the sphere
 *   relative to its centre is P = exp(−ε²/(2σ²)).
 * - `'ellipsoid'`: DIALS's own model for shots integrated with an ellipsoid profile
 *   (`dials.ssx_integrate`): P = exp(−ε′²/(2·S₃₃)), ε′ = |s0| − |s0 + r| and S₃₃
 *   the variance of the profile along s0 + r (predict.ts); it reproduces DIALS's
 *   `partiality` column. Needs the shot's ellipsoid profile.
 *
 * `partialities` uses the source's own partiality where it has one (DIALS) and the
 * model elsewhere (CrystFEL streams).
 */
import { InvalidValueError, invariant } from '../errors.ts';
import type { SpotModel, StillsDataset } from './model.ts';
import { StillPredictor } from './predict.ts';

export type PartialityModel = 'xsphere' | 'gaussian' | 'ellipsoid';

export const PARTIALITY_MODELS: readonly PartialityModel[] = ['xsphere', 'gaussian', 'ellipsoid'];

export interface PartialitySettings {
  model: PartialityModel;
}

/** R = 2.6 σ for the Gaussian model. */
export const GAUSSIAN_RADIUS_IN_SIGMAS = 2.6;

/** The lattice point's radius R (Å⁻¹) at |r| = q, or undefined when the spot model has none. */
export function spotRadius(model: SpotModel, q: number): number | undefined {
  switch (model.kind) {
    case 'radius':
      return model.radius;
    case 'sauter':
      return 1 / model.domainSizeA + (q * model.halfMosaicityDeg * Math.PI) / 180;
    case 'none':
      return undefined;
  }
}

/** CrystFEL-style uniform-sphere partiality for excitation error ε and radius R. */
export function xspherePartiality(epsilon: number, radius: number): number {
  const x = epsilon / radius;
  return Math.abs(x) < 1 ? 1 - x * x : 0;
}

/** Gaussian partiality with σ = R / 2.6. */
export function gaussianPartiality(epsilon: number, radius: number): number {
  const sigma = radius / GAUSSIAN_RADIUS_IN_SIGMAS;
  return Math.exp(-0.5 * (epsilon / sigma) ** 2);
}

/** The model's partiality of every reflection of the dataset (ignoring the source's own column). */
export function computePartialities(data: StillsDataset, settings: PartialitySettings): Float64Array {
  const R = data.reflections;
  const out = new Float64Array(R.n);
  const predictors = new Map<number, StillPredictor>();
  const predictor = (shot: number): StillPredictor => {
    let p = predictors.get(shot);
    if (p === undefined) {
      const s = data.shots[shot];
      invariant(s !== undefined, `reflection of shot ${shot} of ${data.shots.length}`);
      if (settings.model === 'ellipsoid' && s.experiment.profile === undefined) {
        throw new InvalidValueError(`shot ${shot} ('${s.identifier}') has no ellipsoid profile model: choose partiality model 'xsphere' or 'gaussian'`, { file: data.source, field: 'partiality.model' });
      }
      p = new StillPredictor(s.experiment, settings.model === 'ellipsoid' ? 'ellipsoid' : 'ewald');
      predictors.set(shot, p);
    }
    return p;
  };
  for (let r = 0; r < R.n; r++) {
    const shot = R.shot[r] as number;
    const P = predictor(shot);
    const h = R.h[r] as number;
    const k = R.k[r] as number;
    const l = R.l[r] as number;
    const eps = P.excitationError(h, k, l);
    if (settings.model === 'ellipsoid') {
      const frame = P.ellipsoidFrame(P.latticePoint(h, k, l));
      out[r] = frame === undefined ? 0 : Math.exp((-0.5 * eps * eps) / frame.S[8]);
      continue;
    }
    const lp = P.latticePoint(h, k, l);
    const s = data.shots[shot];
    invariant(s !== undefined, 'reflection of a shot that exists');
    const radius = spotRadius(s.spotModel, Math.hypot(lp[0], lp[1], lp[2]));
    if (radius === undefined || !(radius > 0)) {
      throw new InvalidValueError(`shot ${shot} ('${s.identifier}') has no spot model (profile radius or mosaicity) to compute partialities from`, { file: data.source, field: 'partiality' });
    }
    out[r] = settings.model === 'xsphere' ? xspherePartiality(eps, radius) : gaussianPartiality(eps, radius);
  }
  return out;
}

/** The source's partiality where it has one, the model's elsewhere. */
export function partialities(data: StillsDataset, settings: PartialitySettings): Float64Array {
  const own = data.reflections.partiality;
  if (data.reflections.hasPartiality && own.every((v) => Number.isFinite(v))) return own.slice();
  const computed = computePartialities(data, settings);
  for (let r = 0; r < computed.length; r++) if (Number.isFinite(own[r])) computed[r] = own[r] as number;
  return computed;
}
