/**
 * The Bragg observations of serial stills: the imported reflections (DIALS
 * `.refl`, CrystFEL stream lists) as rows of the observation table, corrected
 * for partiality, for the Bragg merge and the optional Bragg term of scaling.
 *
 * Per reflection r of shot i, with P its partiality (the source's own column
 * where present, else computed from the shot's spot model with the named model,
 * src/stills/partiality.ts) and I, σ² the source's intensity and variance
 * (`sum`, or `prf` — the profile-fitted value, falling back to the summation
 * value on rows without one; CrystFEL lists give `I`, `sigma(I)`² as the sum):
 *
 *     I_row = I / P,   σ_row = σ / P
 *
 * Rows with P < `partialityThreshold` (default 0.3) are left out and counted in
 * `lowPartiality`; rows whose I, σ or P is not finite, or σ ≤ 0, are left out
 * and counted in `invalid`. H, K, L: the Miller index mapped into the ASU of
 * the common grid (meta.hall), dh = dk = dl = 0; s = |s| from the common cell;
 * x, y, panel: the observed centroid (else the predicted one); batch = shot,
 * sweep = 0, phi = 0 (scaling writes the shot's p_order), fraction = P.
 */
import { InvalidValueError } from '../errors.ts';
import { reciprocalMetric, spaceGroupAsu } from '../pipeline/correct.ts';
import { emptyObservations, selectObservations, splitFine, type ObservationMeta, type ObservationTable } from '../pipeline/observations.ts';
import type { StillsDataset } from './model.ts';
import { partialities, type PartialityModel } from './partiality.ts';

export const BRAGG_PARTIALITY_THRESHOLD = 0.3;

export interface BraggTableSettings {
  /** rows with P below this are left out of the Bragg reference */
  partialityThreshold: number;
  /** how P is computed where the source gives none */
  partialityModel: PartialityModel;
  /** which intensity of the source */
  intensity: 'prf' | 'sum';
}

export const BRAGG_TABLE_DEFAULTS: Readonly<BraggTableSettings> = Object.freeze({ partialityThreshold: BRAGG_PARTIALITY_THRESHOLD, partialityModel: 'gaussian', intensity: 'prf' });

export interface BraggObservations {
  table: ObservationTable;
  /** rows written */
  used: number;
  /** rows left out for P < threshold */
  lowPartiality: number;
  /** rows left out for a non-finite I, σ or P, or σ ≤ 0 */
  invalid: number;
  /** P of every reflection of the dataset (imported or computed), in reflection order */
  partiality: Float64Array;
}

/**
 * Bragg rows from the imported reflections (see the module comment). `factors`
 * (one per reflection, e.g. `braggDensityFactors` of bragg-density.ts) multiply
 * I/P and σ/P; a row whose factor is not finite counts as invalid.
 */
export function braggObservations(data: StillsDataset, meta: ObservationMeta, s: BraggTableSettings, factors?: Float64Array): BraggObservations {
  const t = s.partialityThreshold;
  if (!(Number.isFinite(t) && t >= 0 && t <= 1)) throw new InvalidValueError(`must be a number in 0…1, got ${t}`, { field: 'partialityThreshold' });
  if (s.intensity !== 'prf' && s.intensity !== 'sum') throw new InvalidValueError(`must be 'prf' or 'sum', got '${String(s.intensity)}'`, { field: 'intensity' });
  const R = data.reflections;
  const P = R.n > 0 ? partialities(data, { model: s.partialityModel }) : new Float64Array(0);
  const { asu } = spaceGroupAsu(meta.hall, meta.ndiv);
  const [n1, n2, n3] = meta.ndiv;
  const [a, b, c, alpha, beta, gamma] = meta.cell;
  const { gStar } = reciprocalMetric({ a, b, c, alpha, beta, gamma });
  const [g00, g01, g02, , g11, g12, , , g22] = gStar as [number, number, number, number, number, number, number, number, number];
  const prf = s.intensity === 'prf';
  const out = emptyObservations(R.n);
  const keep: number[] = [];
  const m = new Int32Array(4);
  let lowPartiality = 0;
  let invalid = 0;
  for (let r = 0; r < R.n; r++) {
    const p = P[r] as number;
    const usePrf = prf && Number.isFinite(R.intensityPrf[r] as number) && Number.isFinite(R.intensityPrfVariance[r] as number);
    const I = (usePrf ? R.intensityPrf[r] : R.intensitySum[r]) as number;
    const v = (usePrf ? R.intensityPrfVariance[r] : R.intensitySumVariance[r]) as number;
    const f = factors === undefined ? 1 : (factors[r] as number);
    if (!(Number.isFinite(p) && Number.isFinite(I) && Number.isFinite(v) && v > 0 && Number.isFinite(f))) {
      invalid++;
      continue;
    }
    if (p < t || !(p > 0)) {
      lowPartiality++;
      continue;
    }
    const h = R.h[r] as number;
    const k = R.k[r] as number;
    const l = R.l[r] as number;
    asu(h * n1, k * n2, l * n3, m);
    const [H, dh] = splitFine(m[0] as number, n1);
    const [K, dk] = splitFine(m[1] as number, n2);
    const [L, dl] = splitFine(m[2] as number, n3);
    out.H[r] = H;
    out.K[r] = K;
    out.L[r] = L;
    out.dh[r] = dh;
    out.dk[r] = dk;
    out.dl[r] = dl;
    out.op[r] = m[3] as number;
    out.I[r] = (f * I) / p;
    out.sigma[r] = (f * Math.sqrt(v)) / p;
    const s2 = g00 * h * h + g11 * k * k + g22 * l * l + 2 * (g01 * h * k + g02 * h * l + g12 * k * l);
    out.s[r] = Math.sqrt(Math.max(0, s2));
    const ox = R.xyzObs[2 * r] as number;
    const oy = R.xyzObs[2 * r + 1] as number;
    const observed = Number.isFinite(ox) && Number.isFinite(oy);
    out.x[r] = observed ? ox : (R.xyzCal[2 * r] as number);
    out.y[r] = observed ? oy : (R.xyzCal[2 * r + 1] as number);
    out.panel[r] = R.panel[r] as number;
    out.batch[r] = R.shot[r] as number;
    out.sweep[r] = 0;
    out.phi[r] = 0;
    out.fraction[r] = p;
    keep.push(r);
  }
  const table = keep.length === R.n ? out : selectObservations(out, keep);
  return { table, used: keep.length, lowPartiality, invalid, partiality: P };
}
