/**
 * Atomic scattering factors from the project's own fits to the Hubbell et al.
 * (1975) tables (src/scattering/tables.generated.ts, built by
 * scripts/build-scattering-tables.ts; provenance and errors in its header).
 *
 * Arguments are |s| = 1/d = 2 sinθ/λ (Å⁻¹) — NOT x = sinθ/λ of the tables;
 * internally x = s/2. Valid for 0 ≤ s ≤ S_MAX = 2·FIT_X_MAX (4 Å⁻¹, d ≥ 0.25 Å).
 *
 *   formFactor(Z, s)  coherent atomic form factor f(s) in electrons (f(0) = Z),
 *                     neutral free atom, no anomalous (f′, f″) terms;
 *   incoherent(Z, s)  incoherent (Compton) scattering function S(s) in
 *                     electron units per atom (S(0) = 0, S(∞) = Z), without
 *                     the Breit–Dirac recoil factor.
 */
import { InvalidValueError } from '../errors.ts';
import { ELEMENT_FITS, FIT_X_MAX } from './tables.generated.ts';

/** Largest |s| (Å⁻¹) the fits cover. */
export const S_MAX = 2 * FIT_X_MAX;

/** Number of elements with factors (Z = 1…MAX_Z). */
export const MAX_Z = ELEMENT_FITS.length;

export interface ElementFactors {
  Z: number;
  symbol: string;
  /** f(x) = fc + Σ fa_i exp(−fb_i x²), x = s/2 */
  fa: Float64Array;
  fb: Float64Array;
  fc: number;
  /** S(x) = Z (1 − Σ sa_i exp(−sb_i x²)) */
  sa: Float64Array;
  sb: Float64Array;
  /** max |fit − Hubbell| over the table points, electrons */
  maxErrorF: number;
  maxErrorS: number;
}

const ELEMENTS: readonly ElementFactors[] = ELEMENT_FITS.map(([symbol, fa, fb, , sa, sb, ef, es], i) => {
  const Z = i + 1;
  const a = Float64Array.from(fa);
  // c from the constraint, so that f(0) = Z to rounding of the sum
  const fc = Z - a.reduce((t, v) => t + v, 0);
  // S amplitudes renormalized to sum exactly 1 (the written 10-digit values sum to 1 within ~1e-10), so S(0) = 0
  const sNorm = sa.reduce((t, v) => t + v, 0);
  return { Z, symbol, fa: a, fb: Float64Array.from(fb), fc, sa: Float64Array.from(sa, (v) => v / sNorm), sb: Float64Array.from(sb), maxErrorF: ef, maxErrorS: es };
});

const BY_SYMBOL = new Map<string, ElementFactors>(ELEMENTS.map((e) => [e.symbol, e]));

/** The element for an atomic number or a symbol (case as in the periodic table: 'Fe', not 'FE'). */
export function element(id: number | string): ElementFactors {
  if (typeof id === 'number') {
    const e = Number.isInteger(id) ? ELEMENTS[id - 1] : undefined;
    if (e === undefined) throw new InvalidValueError(`no scattering factors for Z = ${id} (have 1…${MAX_Z})`, { field: 'element' });
    return e;
  }
  const e = BY_SYMBOL.get(id);
  if (e === undefined) throw new InvalidValueError(`unknown element '${id}' (have H…${ELEMENTS[MAX_Z - 1]?.symbol ?? '?'}; symbols are case-sensitive, e.g. 'Fe')`, { field: 'element' });
  return e;
}

/** True when `symbol` names an element with factors. */
export function isElementSymbol(symbol: string): boolean {
  return BY_SYMBOL.has(symbol);
}

function checkS(s: number): number {
  if (!(s >= 0 && s <= S_MAX * (1 + 1e-9))) throw new InvalidValueError(`|s| = ${s} Å⁻¹ is outside the scattering-factor range 0…${S_MAX} Å⁻¹`, { field: 's' });
  const x = 0.5 * s;
  return x * x;
}

/** f for a resolved element at x² (no range check). */
export function formFactorX2(e: ElementFactors, x2: number): number {
  let v = e.fc;
  for (let i = 0; i < e.fa.length; i++) v += (e.fa[i] as number) * Math.exp(-(e.fb[i] as number) * x2);
  return v;
}

/** S for a resolved element at x² (no range check). */
export function incoherentX2(e: ElementFactors, x2: number): number {
  let v = 0;
  for (let i = 0; i < e.sa.length; i++) v += (e.sa[i] as number) * Math.exp(-(e.sb[i] as number) * x2);
  return e.Z * (1 - v);
}

/** Coherent atomic form factor (electrons) at |s| = 2 sinθ/λ (Å⁻¹). */
export function formFactor(id: number | string, s: number): number {
  return formFactorX2(element(id), checkS(s));
}

/** Incoherent scattering function S (electron units per atom) at |s| = 2 sinθ/λ (Å⁻¹). */
export function incoherent(id: number | string, s: number): number {
  return incoherentX2(element(id), checkS(s));
}

/** Range-checked x² = (s/2)² for callers that evaluate many elements at one s. */
export function x2Of(s: number): number {
  return checkS(s);
}
