/**
 * Synthetic merged tables in known electron units for absolute-scale tests:
 * a P222 crystal (ASU h, k, l ≥ 0 on the fine subvoxel grid, multiplicity
 * 2^(number of non-zero fine indices)) whose total scattering per cell is the
 * sum-rule model of src/scattering/model.ts plus Compton. A fraction φ(s) of
 * the coherent scattering of every cell is gathered into its central subvoxel
 * (the "Bragg" table), so the cell's integral is unchanged. The observed
 * values are the truth divided by K_true, with Gaussian noise, a beam stop, a
 * blind cone about c* and random gaps.
 */
import type { MergedTable, ObservationMeta } from '../../src/pipeline/observations.ts';
import { emptyMerged } from '../../src/pipeline/observations.ts';
import type { Composition } from '../../src/scattering/composition.ts';
import { totalScatteringModel, type TotalScatteringModel } from '../../src/scattering/model.ts';
import { mulberry32, normal } from '../../src/util/random.ts';

export const HEWL = 'KVFGRCELAAAMKRHGLDNYRGYSLGNWVCAAKFESNFNTQATNRNTDGSTDYGILQINSRWWCNDGRTPGSRNLCNIPCSALLSSDITASVNCAKKIVSDGNGMNAWVAWRNRCKGTDVQAWIRGCRL';

export interface SyntheticOptions {
  cell: readonly [number, number, number];
  ndiv: readonly [number, number, number];
  sMax: number;
  kTrue: number;
  noise: number;
  seed: number;
  /** beam-stop radius (Å⁻¹) */
  beamstop: number;
  /** half-angle (degrees) of the blind cone about c*; 0 = none */
  blindCone: number;
  /** fraction of rows dropped at random */
  drop: number;
}

export interface Synthetic {
  meta: ObservationMeta;
  model: TotalScatteringModel;
  diffuse: MergedTable;
  bragg: MergedTable;
  /** true coherent intensity (e.u. per cell) of each diffuse row */
  diffuseCoherent: Float64Array;
  braggCoherent: Float64Array;
}

/** Fraction of each cell's coherent scattering gathered into its Bragg subvoxel. */
export function braggFraction(s: number): number {
  return 0.3 * Math.exp(-((s / 0.5) ** 2));
}

function toTable(rows: number[][]): MergedTable {
  const t = emptyMerged(rows.length);
  rows.forEach((r, i) => {
    const [H, K, L, dh, dk, dl, I, sigma, s, mult] = r as [number, number, number, number, number, number, number, number, number, number];
    t.H[i] = H;
    t.K[i] = K;
    t.L[i] = L;
    t.dh[i] = dh;
    t.dk[i] = dk;
    t.dl[i] = dl;
    t.I[i] = I;
    t.sigma[i] = sigma;
    t.s[i] = s;
    t.multiplicity[i] = mult;
    t.n[i] = 4;
    t.fraction[i] = 4;
  });
  return t;
}

export function synthesize(comp: Composition, o: SyntheticOptions): Synthetic {
  const [a, b, c] = o.cell;
  const [n1, n2, n3] = o.ndiv;
  const V = a * b * c;
  const model = totalScatteringModel(comp, V);
  const u = mulberry32(o.seed);
  const cosCone = Math.cos((o.blindCone * Math.PI) / 180);
  const nCell = n1 * n2 * n3;
  const diffuse: number[][] = [];
  const bragg: number[][] = [];
  const dCoh: number[] = [];
  const bCoh: number[] = [];
  const split = (f: number, n: number): [number, number] => {
    const cellIdx = Math.floor((f + (n - 1) / 2) / n);
    return [cellIdx, f - cellIdx * n];
  };
  const fhMax = Math.ceil(o.sMax * a * n1);
  const fkMax = Math.ceil(o.sMax * b * n2);
  const flMax = Math.ceil(o.sMax * c * n3);
  for (let fh = 0; fh <= fhMax; fh++) {
    const sh2 = (fh / (n1 * a)) ** 2;
    for (let fk = 0; fk <= fkMax; fk++) {
      const sk2 = (fk / (n2 * b)) ** 2;
      for (let fl = 0; fl <= flMax; fl++) {
        const sl = fl / (n3 * c);
        const s = Math.sqrt(sh2 + sk2 + sl * sl);
        if (s > o.sMax || s < o.beamstop) continue;
        if (o.blindCone > 0 && sl / s > cosCone) continue;
        if (u() < o.drop) continue;
        const [H, dh] = split(fh, n1);
        const [K, dk] = split(fk, n2);
        const [L, dl] = split(fl, n3);
        const mult = 2 ** ((fh !== 0 ? 1 : 0) + (fk !== 0 ? 1 : 0) + (fl !== 0 ? 1 : 0));
        const coh = model.coherent(s);
        const inc = model.incoherent(s);
        const phi = braggFraction(s);
        const isBragg = dh === 0 && dk === 0 && dl === 0;
        const cohHere = isBragg ? (1 - phi) * coh + nCell * phi * coh : (1 - phi) * coh;
        const truth = cohHere + inc;
        const I = (truth / o.kTrue) * (1 + o.noise * normal(u));
        const row = [H, K, L, dh, dk, dl, I, (o.noise * truth) / o.kTrue, s, mult];
        if (isBragg) {
          bragg.push(row);
          bCoh.push(cohHere);
        } else {
          diffuse.push(row);
          dCoh.push(cohHere);
        }
      }
    }
  }
  return {
    meta: { ndiv: [n1, n2, n3], hall: 'P 2 2', cell: [a, b, c, 90, 90, 90], wavelength: 1 },
    model,
    diffuse: toTable(diffuse),
    bragg: toTable(bragg),
    diffuseCoherent: Float64Array.from(dCoh),
    braggCoherent: Float64Array.from(bCoh),
  };
}
