/**
 * Radial integrals over reciprocal space and a total-scattering model that
 * obeys the Krogh-Moe / Norman sum rule, for absolute scaling and for the
 * simulator.
 *
 * Units. Intensities here are per unit cell in electron units (e.u.: the
 * Thomson scattering of one free electron), as functions of the scattering
 * vector s (|s| = 1/d = 2 sinθ/λ, Å⁻¹). Their integrals over reciprocal space,
 * ∫ I d³s, are in e.u.·Å⁻³ per cell.
 *
 * Sum rule. For one unit cell of a crystal the coherent scattering integrated
 * over all reciprocal space equals that of its atoms scattering independently:
 *     ∫ I_coh d³s = ∫ Σ_j n_j f_j(s)² d³s.
 * The Bragg peaks of a crystal of N cells carry V*·|F_h|² per cell each
 * (V* = 1/V_cell); the one at h = 0, V*·F(000)² = N_e²/V_cell, is never
 * measured (it lies in the direct beam). So the scattering that data can hold,
 * diffuse plus Bragg plus Compton, integrated from 0 to S obeys, once S is
 * beyond the range of the interatomic correlations,
 *     T(S) = ∫_{|s|<S} [Σ n f² + Σ n S_inc] d³s − N_e²/V_cell.
 *
 * The model. `totalScatteringModel` gives a smooth, isotropic coherent
 * intensity that satisfies that rule exactly for S → ∞:
 *     I_coh(s) = (1 − w(s)) · Σ n f²(s),   w(s) = exp(−(s/s_w)²),
 * a "solvent-contrast hole" at low |s|, with s_w solved (bisection) so that
 *     ∫ w · Σ n f² d³s = 4π ∫_0^{S_MAX} s² w(s) Σ n f²(s) ds = N_e²/V_cell.
 * Then ∫_{|s|<S} I_coh d³s = ∫_{|s|<S} Σ n f² d³s − N_e²/V_cell up to the
 * Gaussian tail of the hole beyond S (negligible once S ≳ 3 s_w). Adding the
 * Compton term Σ n S_inc gives the total a detector sees (after corrections)
 * in e.u. per cell; the total obeys the same rule as the theory T(S) that
 * `absoluteScale` compares with.
 */
import { InvalidValueError } from '../errors.ts';
import { coherentSum, electronCount, incoherentSum, resolveComposition, type Composition, type ResolvedComposition } from './composition.ts';
import { S_MAX } from './factors.ts';

// 8-point Gauss–Legendre nodes and weights on [−1, 1]
const GL_X = [-0.9602898564975363, -0.7966664774136267, -0.5255324099163290, -0.1834346424956498, 0.1834346424956498, 0.5255324099163290, 0.7966664774136267, 0.9602898564975363];
const GL_W = [0.1012285362903763, 0.2223810344533745, 0.3137066458778873, 0.3626837833783620, 0.3626837833783620, 0.3137066458778873, 0.2223810344533745, 0.1012285362903763];

/** Largest sub-interval of the radial quadrature (Å⁻¹). */
const RADIAL_STEP = 0.01;

/**
 * ∫ over the spherical shell a ≤ |s| ≤ b of g(|s|) d³s = 4π ∫_a^b s² g(s) ds,
 * by 8-point Gauss–Legendre on sub-intervals of at most 0.01 Å⁻¹ (exact to
 * rounding for the smooth functions here).
 */
export function shellIntegral(g: (s: number) => number, a: number, b: number): number {
  if (!(b > a)) return 0;
  const n = Math.max(1, Math.ceil((b - a) / RADIAL_STEP));
  const h = (b - a) / n;
  let sum = 0;
  for (let k = 0; k < n; k++) {
    const mid = a + (k + 0.5) * h;
    for (let q = 0; q < 8; q++) {
      const s = mid + 0.5 * h * (GL_X[q] as number);
      sum += (GL_W[q] as number) * s * s * g(s);
    }
  }
  return 4 * Math.PI * 0.5 * h * sum;
}

/** Volume of the shell a ≤ |s| ≤ b (Å⁻³). */
export function shellVolume(a: number, b: number): number {
  return ((4 * Math.PI) / 3) * (b * b * b - a * a * a);
}

/** Unit-cell volume (Å³) from a, b, c (Å) and α, β, γ (degrees). */
export function cellVolume(cell: readonly [number, number, number, number, number, number]): number {
  const [a, b, c, al, be, ga] = cell;
  const r = Math.PI / 180;
  const ca = Math.cos(al * r);
  const cb = Math.cos(be * r);
  const cg = Math.cos(ga * r);
  const v2 = 1 - ca * ca - cb * cb - cg * cg + 2 * ca * cb * cg;
  if (!(a > 0 && b > 0 && c > 0 && v2 > 0)) throw new InvalidValueError(`not a unit cell: (${cell.join(', ')})`, { field: 'cell' });
  return a * b * c * Math.sqrt(v2);
}

export interface TotalScatteringModel {
  /** N_e, electrons per cell */
  electrons: number;
  /** Å³ */
  cellVolume: number;
  /** the unmeasured forward term N_e²/V_cell (e.u.·Å⁻³ per cell) */
  forward: number;
  /** width s_w (Å⁻¹) of the hole w(s) = exp(−(s/s_w)²) */
  holeWidth: number;
  /** Σ n f²(s): independent-atom coherent scattering, e.u. per cell */
  laue(s: number): number;
  /** (1 − w(s)) Σ n f²(s): the model's coherent intensity, e.u. per cell */
  coherent(s: number): number;
  /** Σ n S(s): Compton scattering, e.u. per cell */
  incoherent(s: number): number;
  /** coherent(s) + incoherent(s): what corrected data hold on an absolute scale */
  total(s: number): number;
  /** ∫_{|s|<S} total d³s (e.u.·Å⁻³ per cell) */
  cumulativeTotal(S: number): number;
  /** the sum-rule theory T(S) = ∫_{|s|<S} (Σ n f² + Σ n S) d³s − N_e²/V_cell */
  cumulativeTheory(S: number): number;
}

/**
 * The sum-rule model for a unit cell of composition `comp` and volume
 * `volume` (Å³): see the file comment. Throws when the hole cannot be made
 * deep enough within |s| ≤ S_MAX (N_e²/V_cell larger than the
 * independent-atom scattering can supply: the composition cannot fit in the cell).
 */
export function totalScatteringModel(comp: Composition, volume: number): TotalScatteringModel {
  if (!(volume > 0 && Number.isFinite(volume))) throw new InvalidValueError(`cell volume must be > 0, got ${volume}`, { field: 'cellVolume' });
  const rc: ResolvedComposition = resolveComposition(comp);
  const electrons = electronCount(comp);
  const forward = (electrons * electrons) / volume;
  // Σ n f² on a fixed quadrature over [0, S_MAX], reused for every trial s_w
  const n = Math.ceil(S_MAX / RADIAL_STEP);
  const h = S_MAX / n;
  const nodes = new Float64Array(n * 8);
  const weights = new Float64Array(n * 8);
  for (let k = 0; k < n; k++) {
    const mid = (k + 0.5) * h;
    for (let q = 0; q < 8; q++) {
      const s = mid + 0.5 * h * (GL_X[q] as number);
      nodes[k * 8 + q] = s;
      weights[k * 8 + q] = 4 * Math.PI * 0.5 * h * (GL_W[q] as number) * s * s * coherentSum(rc, s);
    }
  }
  const holeIntegral = (sw: number): number => {
    let sum = 0;
    const inv = 1 / (sw * sw);
    for (let i = 0; i < nodes.length; i++) sum += (weights[i] as number) * Math.exp(-((nodes[i] as number) ** 2) * inv);
    return sum;
  };
  let lo = 1e-4;
  let hi = S_MAX / 3;
  if (holeIntegral(hi) < forward) {
    throw new InvalidValueError(
      `N_e²/V_cell = ${forward.toPrecision(4)} e²/Å³ exceeds what the independent-atom scattering within |s| < ${(3 * hi).toFixed(2)} Å⁻¹ can supply: the composition (${electrons.toFixed(0)} electrons) does not fit in ${volume.toFixed(0)} Å³`,
      { field: 'composition' },
    );
  }
  for (let it = 0; it < 200 && hi - lo > 1e-12 * hi; it++) {
    const mid = 0.5 * (lo + hi);
    if (holeIntegral(mid) < forward) lo = mid;
    else hi = mid;
  }
  const sw = 0.5 * (lo + hi);
  const laue = (s: number): number => coherentSum(rc, s);
  const coherent = (s: number): number => (1 - Math.exp(-((s / sw) ** 2))) * coherentSum(rc, s);
  const incoherent = (s: number): number => incoherentSum(rc, s);
  const total = (s: number): number => coherent(s) + incoherent(s);
  return {
    electrons,
    cellVolume: volume,
    forward,
    holeWidth: sw,
    laue,
    coherent,
    incoherent,
    total,
    cumulativeTotal: (S) => shellIntegral(total, 0, S),
    cumulativeTheory: (S) => shellIntegral((s) => laue(s) + incoherent(s), 0, S) - forward,
  };
}
