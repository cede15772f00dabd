/**
 * X-ray attenuation of detector sensors and of air, from the NIST XCOM cross
 * sections in `data/xcom.ts` (1–150 keV).
 *
 * Interpolation: log–log linear in energy between tabulated points, within
 * the segments between absorption edges (an edge is tabulated twice, 0.1 eV
 * below and at the edge; an energy between the two takes the value below).
 *
 * Which coefficient:
 *
 * - **Sensor efficiency** uses photoelectric absorption only. A photon is
 *   detected when it is absorbed in the sensor; in the tens-of-keV range this
 *   is photoabsorption. Rayleigh-scattered photons leave the thin sensor
 *   almost all the time and deposit nothing; a Compton electron carries a few
 *   hundred eV at most below 30 keV, far under a counting threshold. Total
 *   attenuation would overstate the efficiency (by ~3% for 450 µm Si at
 *   12 keV and ~10% at 20 keV).
 * - **Air** uses total attenuation (photoelectric + coherent + incoherent):
 *   a scattered photon leaves the ray and is lost to the pixel.
 *
 * Materials: compounds by weight fraction (from the XCOM atomic weights) and
 * density. Densities: Si 2.329 g/cm³, GaAs 5.3176 g/cm³, CdTe 5.85 g/cm³
 * (CRC Handbook); dry air near sea level (20 °C, 101.325 kPa) 1.205e−3 g/cm³
 * with weight fractions N 0.755268, O 0.231781, Ar 0.012827 (NIST ESTAR/XCOM
 * "Air, Dry (near sea level)"; its 0.012% carbon is left out).
 */
import { InvalidValueError } from '../errors.ts';
import { XCOM_ELEMENTS, type XcomElement } from './data/xcom.ts';

/** keV·Å: E(keV) = HC_KEV_ANGSTROM / λ(Å) (CODATA 2018: h·c = 12.398419843320026 keV·Å). */
export const HC_KEV_ANGSTROM = 12.398419843320026;
/** Avogadro constant × 1e−24 (barn → cm²): μ/ρ (cm²/g) = σ(b) · AVOGADRO_BARN / A. */
const AVOGADRO_BARN = 0.602214076;

export type AttenuationKind = 'photo' | 'total';

export interface Material {
  name: string;
  /** g/cm³ */
  density: number;
  /** element symbol and weight fraction */
  composition: readonly (readonly [string, number])[];
}

function element(symbol: string): XcomElement {
  const e = XCOM_ELEMENTS.find((x) => x.symbol === symbol);
  if (e === undefined) throw new InvalidValueError(`no attenuation data for element '${symbol}' (have ${XCOM_ELEMENTS.map((x) => x.symbol).join(', ')})`, { field: 'material' });
  return e;
}

function byAtoms(name: string, density: number, atoms: readonly (readonly [string, number])[]): Material {
  const mass = atoms.reduce((s, [sym, n]) => s + n * element(sym).A, 0);
  return { name, density, composition: atoms.map(([sym, n]) => [sym, (n * element(sym).A) / mass] as const) };
}

/** The materials known by name (case-insensitive lookup through `material`). */
export const MATERIALS: readonly Material[] = [
  { name: 'Si', density: 2.329, composition: [['Si', 1]] },
  byAtoms('GaAs', 5.3176, [
    ['Ga', 1],
    ['As', 1],
  ]),
  byAtoms('CdTe', 5.85, [
    ['Cd', 1],
    ['Te', 1],
  ]),
  {
    name: 'air',
    density: 1.205e-3,
    composition: [
      ['N', 0.755268],
      ['O', 0.231781],
      ['Ar', 0.012827],
    ],
  },
];

/** A known material by name (case-insensitive), or undefined. */
export function material(name: string): Material | undefined {
  const key = name.trim().toLowerCase();
  return MATERIALS.find((m) => m.name.toLowerCase() === key);
}

/** Log–log interpolation of `values` on the element's energy grid (edges respected). */
function interpolate(el: XcomElement, values: readonly number[], keV: number): number {
  const E = el.energy;
  const n = E.length;
  const first = E[0] as number;
  const last = E[n - 1] as number;
  if (!(keV >= first && keV <= last)) {
    throw new InvalidValueError(`photon energy ${keV.toPrecision(6)} keV is outside the attenuation tables (${first}–${last} keV)`, { field: 'wavelength' });
  }
  let lo = 0;
  let hi = n - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if ((E[mid] as number) <= keV) lo = mid;
    else hi = mid;
  }
  const e0 = E[lo] as number;
  const e1 = E[hi] as number;
  const v0 = values[lo] as number;
  const v1 = values[hi] as number;
  if (keV === e0) return v0;
  if (keV === e1) return v1;
  // an edge pair (0.1 eV apart): below the edge
  if (e1 - e0 < 1e-3) return v0;
  const t = Math.log(keV / e0) / Math.log(e1 / e0);
  return Math.exp(Math.log(v0) + t * Math.log(v1 / v0));
}

/** Cross section of one element (barns/atom) at `keV`. */
export function elementCrossSection(symbol: string, keV: number, kind: AttenuationKind): number {
  const el = element(symbol);
  const photo = interpolate(el, el.photo, keV);
  if (kind === 'photo') return photo;
  return photo + interpolate(el, el.coherent, keV) + interpolate(el, el.incoherent, keV);
}

/** Mass attenuation coefficient of one element (cm²/g). */
export function elementMassAttenuation(symbol: string, keV: number, kind: AttenuationKind): number {
  return (elementCrossSection(symbol, keV, kind) * AVOGADRO_BARN) / element(symbol).A;
}

/** Mass attenuation coefficient of a material (cm²/g): Σ w_i (μ/ρ)_i. */
export function massAttenuation(m: Material, keV: number, kind: AttenuationKind): number {
  return m.composition.reduce((s, [sym, w]) => s + w * elementMassAttenuation(sym, keV, kind), 0);
}

/** Linear attenuation coefficient (mm⁻¹) of a material at its tabulated density. */
export function linearAttenuation(m: Material, keV: number, kind: AttenuationKind): number {
  return (massAttenuation(m, keV, kind) * m.density) / 10;
}

/** Total linear attenuation coefficient of dry air (mm⁻¹). */
export function airAttenuation(keV: number): number {
  return linearAttenuation(material('air') as Material, keV, 'total');
}

/** Photon energy (keV) of wavelength λ (Å). */
export function energyKeV(wavelength: number): number {
  return HC_KEV_ANGSTROM / wavelength;
}
