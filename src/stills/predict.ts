/**
 * Where a still's reflections fall on the detector, and how far each
 * reciprocal-lattice point is from the Ewald sphere.
 *
 * With s0 = −direction/λ (|s0| = 1/λ) and the shot's A = U·B, the lattice point of
 * h is r = A·h (Å⁻¹, lab frame). On a still it rarely lies exactly on the sphere;
 * its excitation error is
 *
 *     ε = |s0 + r| − |s0|        (Å⁻¹; > 0 outside the sphere, < 0 inside)
 *
 * Two ways of choosing the diffracted ray s1, as the two programs do:
 *
 * - `'ewald'` (DIALS `StillsReflectionPredictor`, the stills ray predictor): r is
 *   rotated about the axis r × s0, keeping |r|, until it touches the sphere
 *   (DIALS calls the angle Δψ). In closed form, with u = s0/|s0|:
 *       s1 = s0 + r′,  r′·u = −|r|²/(2|s0|),  r′⊥ = unit(r⊥) · sqrt(|r|² − (r′·u)²)
 *   (r⊥ the part of r normal to u). Points with |r| > 2|s0| cannot diffract.
 * - `'direct'` (CrystFEL `locate_peak_on_panel`): s1 ∥ s0 + r, the ray through the
 *   lattice point itself, unrotated.
 * - `'ellipsoid'` (DIALS ellipsoid profile model, `dials.ssx_integrate`): the lattice
 *   point is a Gaussian of covariance Σ around s2 = s0 + r; s1 points to the mean of
 *   that Gaussian conditioned on the Ewald sphere. For the angular
 *   parameterisations Σ_lab = Qᵀ·Σ·Q with Q's rows e1 = unit(r × s0),
 *   e2 = unit(r × e1), e3 = unit(r); for the simple ones Σ_lab = Σ. In the frame R
 *   with rows unit(s2 × s0), unit(s2 × ·), unit(s2), S = R·Σ_lab·Rᵀ, and with
 *   ε′ = |s0| − |s2| the conditional mean is μ̄ = (S₁₃, S₂₃)·ε′/S₃₃, so
 *   s1 ∥ Rᵀ·(μ̄₁, μ̄₂, |s0|). Its variance along s2, S₃₃, is also the width of
 *   DIALS's Gaussian partiality (see partiality.ts).
 *
 * The ray meets a panel where [f s o]·(x, y, 1)·w = s1 for the panel's fast and
 * slow unit axes f, s and origin o (mm), i.e. (x, y, 1)·w = D·s1 with
 * D = [f s o]⁻¹ (dxtbx's D matrix); x, y are then millimetres along the axes, and
 * the panel's px/mm strategy (parallax included) turns them into pixels. The ray
 * must meet the panel in front of the sample (w > 0) and inside it.
 */
import { invariant } from '../errors.ts';
import { cross, dot, fromColumns, inverse, mulMM, mulMV, norm, normalize, transpose } from '../geometry/linalg.ts';
import type { Experiment, Mat3, Panel, Vec3 } from '../geometry/model.ts';
import { mmToPixel } from '../geometry/pxmm.ts';
import { s0Vector } from '../geometry/setting.ts';
import type { StillsRayMethod } from './model.ts';

export type { StillsRayMethod } from './model.ts';

/** The method DIALS itself used for a shot: 'ellipsoid' when it has an ellipsoid profile model, else 'ewald'. */
export function defaultRayMethod(exp: Experiment): StillsRayMethod {
  return exp.profile === undefined ? 'ewald' : 'ellipsoid';
}

export interface StillPrediction {
  /** index of the panel hit */
  panel: number;
  /** pixel coordinates on it (corners at integers) */
  x: number;
  y: number;
  /** excitation error ε = |s0 + r| − |s0|, Å⁻¹ */
  epsilon: number;
  /** |r|, Å⁻¹ */
  q: number;
}

function fromRows(a: Vec3, b: Vec3, c: Vec3): Mat3 {
  return [a[0], a[1], a[2], b[0], b[1], b[2], c[0], c[1], c[2]];
}

/** Per-panel D matrices, computed once per detector. */
export class StillPredictor {
  private readonly s0: Vec3;
  private readonly k: number;
  private readonly A: Mat3;
  private readonly panels: readonly Panel[];
  private readonly D: Mat3[];
  private readonly method: StillsRayMethod;
  private readonly sigma: Mat3 | undefined;
  private readonly angular: boolean;

  constructor(exp: Experiment, method: StillsRayMethod = defaultRayMethod(exp)) {
    invariant(exp.crystal !== undefined, 'StillPredictor needs an indexed experiment');
    this.s0 = s0Vector(exp.beam);
    this.k = norm(this.s0);
    this.A = exp.crystal.A;
    this.panels = exp.detector.panels;
    this.D = this.panels.map((p) => inverse(fromColumns(p.fastAxis, p.slowAxis, p.origin)));
    this.method = method;
    this.sigma = exp.profile?.sigma;
    this.angular = exp.profile?.parameterisation.startsWith('angular') ?? false;
    invariant(method !== 'ellipsoid' || this.sigma !== undefined, 'the ellipsoid ray method needs an ellipsoid profile');
  }

  /** The lattice point r = A·h. */
  latticePoint(h: number, k: number, l: number): Vec3 {
    return mulMV(this.A, [h, k, l]);
  }

  /** Excitation error of h, Å⁻¹. */
  excitationError(h: number, k: number, l: number): number {
    const r = this.latticePoint(h, k, l);
    return norm([this.s0[0] + r[0], this.s0[1] + r[1], this.s0[2] + r[2]]) - this.k;
  }

  /** The diffracted ray direction for h (not normalised), or undefined when h cannot reach the sphere. */
  ray(h: number, k: number, l: number): Vec3 | undefined {
    const r = this.latticePoint(h, k, l);
    const s0 = this.s0;
    if (this.method === 'direct') return [s0[0] + r[0], s0[1] + r[1], s0[2] + r[2]];
    if (this.method === 'ellipsoid') {
      const g = this.ellipsoidFrame(r);
      if (g === undefined) return undefined;
      const eps = this.k - norm(g.s2);
      const m1 = (g.S[2] * eps) / g.S[8];
      const m2 = (g.S[5] * eps) / g.S[8];
      return mulMV(transpose(g.R), [m1, m2, this.k]);
    }
    const q2 = dot(r, r);
    const u: Vec3 = [s0[0] / this.k, s0[1] / this.k, s0[2] / this.k];
    const along = -q2 / (2 * this.k);
    const perp2 = q2 - along * along;
    if (!(perp2 >= 0)) return undefined;
    const ru = dot(r, u);
    let perp: Vec3 = [r[0] - ru * u[0], r[1] - ru * u[1], r[2] - ru * u[2]];
    // r along the beam: any normal direction does; pick one normal to u
    if (norm(perp) < 1e-12 * Math.sqrt(q2)) perp = cross(u, Math.abs(u[0]) < 0.9 ? [1, 0, 0] : [0, 1, 0]);
    const e = normalize(perp);
    const pl = Math.sqrt(perp2);
    return [s0[0] + along * u[0] + pl * e[0], s0[1] + along * u[1] + pl * e[1], s0[2] + along * u[2] + pl * e[2]];
  }

  /**
   * For the 'ellipsoid' method: s2 = s0 + r, the frame R (rows unit(s2 × s0),
   * unit(s2 × e1), unit(s2)) and S = R·Σ_lab·Rᵀ; undefined without a profile or for r ∥ s0.
   */
  ellipsoidFrame(r: Vec3): { s2: Vec3; R: Mat3; S: Mat3 } | undefined {
    if (this.sigma === undefined) return undefined;
    const s0 = this.s0;
    const s2: Vec3 = [s0[0] + r[0], s0[1] + r[1], s0[2] + r[2]];
    const c = cross(s2, s0);
    if (!(norm(c) > 0)) return undefined;
    let sigma = this.sigma;
    if (this.angular) {
      const q1 = normalize(cross(r, s0));
      const Q = fromRows(q1, normalize(cross(r, q1)), normalize(r));
      sigma = mulMM(transpose(Q), mulMM(sigma, Q));
    }
    const e1 = normalize(c);
    const R = fromRows(e1, normalize(cross(s2, e1)), normalize(s2));
    return { s2, R, S: mulMM(R, mulMM(sigma, transpose(R))) };
  }

  /** Where the ray s1 meets the detector (first panel hit in panel order), or undefined. */
  intersect(s1: Vec3): { panel: number; x: number; y: number } | undefined {
    for (let p = 0; p < this.panels.length; p++) {
      const v = mulMV(this.D[p] as Mat3, s1);
      if (!(v[2] > 0)) continue;
      const panel = this.panels[p] as Panel;
      const [x, y] = mmToPixel(panel, v[0] / v[2], v[1] / v[2]);
      if (x >= 0 && y >= 0 && x < panel.imageSize[0] && y < panel.imageSize[1]) return { panel: p, x, y };
    }
    return undefined;
  }

  /** Predicted position and excitation error of h; undefined when it misses every panel. */
  predict(h: number, k: number, l: number): StillPrediction | undefined {
    const s1 = this.ray(h, k, l);
    if (s1 === undefined) return undefined;
    const hit = this.intersect(s1);
    if (hit === undefined) return undefined;
    const r = this.latticePoint(h, k, l);
    return { ...hit, epsilon: norm([this.s0[0] + r[0], this.s0[1] + r[1], this.s0[2] + r[2]]) - this.k, q: norm(r) };
  }

  /** Where the ray s1 meets panel `p`'s plane, in pixels (possibly outside the panel), or undefined behind it. */
  onPanel(s1: Vec3, p: number): { x: number; y: number } | undefined {
    const D = this.D[p];
    const panel = this.panels[p];
    if (D === undefined || panel === undefined) return undefined;
    const v = mulMV(D, s1);
    if (!(v[2] > 0)) return undefined;
    const [x, y] = mmToPixel(panel, v[0] / v[2], v[1] / v[2]);
    return { x, y };
  }
}
