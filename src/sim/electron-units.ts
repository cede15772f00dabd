/**
 * Simulations in electron units: the intensity model of a crystal whose total
 * scattering obeys the sum rule that absolute scaling relies on, so that the
 * pipeline's absolute scale can be checked against a known answer.
 *
 * Per unit cell, with s = |s| = 1/d (Å⁻¹), Σnf²(s) = Σ_j n_j f_j(s)² and
 * Σ n S(s) the incoherent (Compton) sum of the cell's contents
 * (src/scattering, from the Hubbell 1975 tables):
 *
 *     C(s)      = Σnf²(s) · (1 − w(s))                  total coherent, shell average
 *     β(s)      = exp(−B s²/2)                          Bragg fraction (B = model.bragg.wilsonB)
 *     diffuse(h) = C(s) (1 − β(s)) · M(h)               M = 1 + m_h cos πh + m_k cos πk + m_l cos πl
 *     |F_H|²    = C(s_H) β(s_H) E²_H                    E² ~ Exp(1) (Wilson), per symmetry class
 *     bragg(h)  = |F_H|² / (V_c (2π)^{3/2} σ_r σ_t²) · exp(−½ (r²/σ_r² + t²/σ_t²))   (integral |F_H|²/V_c)
 *     compton(s) = Σ n S(s)
 *
 * w(s) is a solvent-contrast hole: 1 below s₁, a cosine taper to 0 over
 * s₁ … s₁ + Δ, 0 beyond, with s₁ solved so that ∫ w Σnf² d³s = N_e²/V_c.
 * Then, for every S beyond the hole, ∫_{|s|<S} (Bragg + diffuse) d³s =
 * ∫_{|s|<S} Σnf² d³s − N_e²/V_c: the Krogh-Moe sum rule with the unmeasured
 * F(000) term, which is what `diffract absolute` compares against. (M
 * averages to 1 over whole cells, and the Bragg density averages to C β.)
 *
 * The pixel counts are E = T · b · a · g · K · [diffuse + bragg + compton] + c,
 * with K = `photonsPerEu` (photons per second per pixel at a·g = 1 per
 * electron unit of the per-cell intensity density), and g including the
 * sensor efficiency 1 − exp(−μ t / cos ω) so that the data look like a real
 * detector's.
 */
import { InvalidValueError } from '../errors.ts';
import { coherentSum, electronCount, incoherentSum, type Composition } from '../scattering/index.ts';

/** The electron-unit part of a simulation spec. */
export interface SimElectronUnits {
  /** unit-cell contents: element symbol → atoms per unit cell */
  composition: Readonly<Record<string, number>>;
  /** K: photons per second per pixel (a·g = 1, b = 1) per electron unit */
  photonsPerEu: number;
  /** Δ (Å⁻¹): width of the cosine taper of the solvent hole */
  holeTaper: number;
  /** μ of the sensor (mm⁻¹), written to the panel and used for its efficiency */
  sensorMu: number;
}

const S_MAX = 2.5;
const S_STEP = 1e-4;

/** Radial functions of a simulated crystal, tabulated for fast lookups. */
export interface RadialModel {
  electrons: number;
  cellVolume: number;
  /** s₁ of the hole (Å⁻¹) */
  holeStart: number;
  holeTaper: number;
  /** Σnf²(s) (e.u.) */
  atomic(s: number): number;
  /** C(s) = Σnf² (1 − w) */
  coherent(s: number): number;
  /** Σ n S(s) */
  compton(s: number): number;
  /** w(s) */
  hole(s: number): number;
}

export function compositionOf(eu: SimElectronUnits): Composition {
  return eu.composition as Composition;
}

function holeValue(s: number, s1: number, taper: number): number {
  if (s <= s1) return 1;
  if (s >= s1 + taper) return 0;
  return 0.5 * (1 + Math.cos((Math.PI * (s - s1)) / taper));
}

function tabulate(f: (s: number) => number): Float64Array {
  const n = Math.round(S_MAX / S_STEP) + 2;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = f(i * S_STEP);
  return out;
}

function lookup(table: Float64Array, s: number): number {
  const x = s / S_STEP;
  const i = Math.floor(x);
  if (i >= table.length - 1) return table[table.length - 1] as number;
  if (i < 0) return table[0] as number;
  const t = x - i;
  return (table[i] as number) * (1 - t) + (table[i + 1] as number) * t;
}

/** ∫_0^S 4π s² f(s) ds by the midpoint rule on the table grid. */
function radialIntegral(f: (s: number) => number, sMax: number): number {
  let sum = 0;
  const n = Math.ceil(sMax / S_STEP);
  for (let i = 0; i < n; i++) {
    const s = (i + 0.5) * S_STEP;
    sum += 4 * Math.PI * s * s * f(s) * S_STEP;
  }
  return sum;
}

const cache = new Map<string, RadialModel>();

/**
 * The radial model of a composition in a cell of volume `cellVolume` (Å³):
 * solves the hole so the sum rule holds (InvalidValueError when the cell holds
 * too few atoms for its electrons to be removed within s < 1 Å⁻¹).
 */
export function radialModel(eu: SimElectronUnits, cellVolume: number): RadialModel {
  const key = JSON.stringify([eu.composition, eu.holeTaper, cellVolume]);
  const hit = cache.get(key);
  if (hit !== undefined) return hit;
  const comp = compositionOf(eu);
  const electrons = electronCount(comp);
  const atomicTable = tabulate((s) => coherentSum(comp, s));
  const comptonTable = tabulate((s) => incoherentSum(comp, s));
  const atomic = (s: number): number => lookup(atomicTable, s);
  const target = (electrons * electrons) / cellVolume;
  const removed = (s1: number): number => radialIntegral((s) => holeValue(s, s1, eu.holeTaper) * atomic(s), s1 + eu.holeTaper);
  let lo = -eu.holeTaper;
  let hi = 1;
  if (removed(hi) < target) {
    throw new InvalidValueError(`the composition (${electrons} electrons) cannot satisfy the sum rule in a ${cellVolume.toFixed(0)} Å³ cell`, { field: 'model.electronUnits.composition' });
  }
  for (let it = 0; it < 60; it++) {
    const mid = 0.5 * (lo + hi);
    if (removed(mid) < target) lo = mid;
    else hi = mid;
  }
  const s1 = 0.5 * (lo + hi);
  const model: RadialModel = {
    electrons,
    cellVolume,
    holeStart: s1,
    holeTaper: eu.holeTaper,
    atomic,
    coherent: (s) => atomic(s) * (1 - holeValue(s, s1, eu.holeTaper)),
    compton: (s) => lookup(comptonTable, s),
    hole: (s) => holeValue(s, s1, eu.holeTaper),
  };
  cache.set(key, model);
  return model;
}

/** The Bragg fraction β(s) = exp(−B s²/2). */
export function braggFraction(wilsonB: number, s: number): number {
  return Math.exp((-wilsonB * s * s) / 2);
}

/** Sensor efficiency 1 − exp(−μ t / cos ω). */
export function sensorEfficiency(muPerMm: number, thicknessMm: number, cosOmega: number): number {
  return 1 - Math.exp((-muPerMm * thicknessMm) / Math.max(1e-6, Math.abs(cosOmega)));
}

/** ∫_{|s|<S} f d³s for a radial f — exported for tests of the sum rule. */
export function shellIntegral(f: (s: number) => number, sMax: number): number {
  return radialIntegral(f, sMax);
}
