/** Synthetic observation tables of a known map, for the merge tests. */
import { emptyObservations, fineKey, splitFine, type Ndiv, type ObservationMeta, type ObservationTable } from '../../src/pipeline/observations.ts';
import { mulberry32, normal } from '../../src/util/random.ts';

export const META: ObservationMeta = { ndiv: [3, 3, 3], hall: ' P 1', cell: [40, 50, 60, 90, 90, 90], wavelength: 1 };

export interface Synthetic {
  obs: ObservationTable;
  /** true intensity per fine key */
  truth: Map<number, number>;
  /** input rows made outliers */
  outliers: Set<number>;
}

export interface SyntheticSpec {
  voxels: number;
  /** observations per voxel: uniform in [min, max] */
  perVoxel: [number, number];
  seed: number;
  /** true intensity of a voxel from its fine index */
  truth: (fh: number, fk: number, fl: number) => number;
  /** σ of an observation: uniform in [lo, hi] */
  sigma: [number, number];
  /** fraction of voxels that get one outlier row at +outlierZ·σ */
  outlierFraction?: number;
  outlierZ?: number;
  ndiv?: Ndiv;
}

/** Distinct fine indices on a pseudo-random walk of a 60³ box, each observed several times with Gaussian noise. */
export function synthetic(spec: SyntheticSpec): Synthetic {
  const u = mulberry32(spec.seed);
  const ndiv = spec.ndiv ?? META.ndiv;
  const points: Array<[number, number, number]> = [];
  const seen = new Set<number>();
  while (points.length < spec.voxels) {
    const p: [number, number, number] = [Math.floor(u() * 61) - 30, Math.floor(u() * 61) - 30, Math.floor(u() * 31)];
    const k = fineKey(...p);
    if (seen.has(k)) continue;
    seen.add(k);
    points.push(p);
  }
  const counts = points.map(() => spec.perVoxel[0] + Math.floor(u() * (spec.perVoxel[1] - spec.perVoxel[0] + 1)));
  const total = counts.reduce((a, b) => a + b, 0);
  const obs = emptyObservations(total);
  const truth = new Map<number, number>();
  const outliers = new Set<number>();
  let r = 0;
  points.forEach((p, v) => {
    const t = spec.truth(...p);
    truth.set(fineKey(...p), t);
    const bad = u() < (spec.outlierFraction ?? 0) ? Math.floor(u() * (counts[v] as number)) : -1;
    for (let c = 0; c < (counts[v] as number); c++) {
      const [H, dh] = splitFine(p[0], ndiv[0]);
      const [K, dk] = splitFine(p[1], ndiv[1]);
      const [L, dl] = splitFine(p[2], ndiv[2]);
      obs.H[r] = H;
      obs.K[r] = K;
      obs.L[r] = L;
      obs.dh[r] = dh;
      obs.dk[r] = dk;
      obs.dl[r] = dl;
      obs.op[r] = c % 4;
      const sigma = spec.sigma[0] + u() * (spec.sigma[1] - spec.sigma[0]);
      obs.sigma[r] = sigma;
      obs.I[r] = t + sigma * normal(u) + (c === bad ? (spec.outlierZ ?? 30) * sigma : 0);
      if (c === bad) outliers.add(r);
      obs.x[r] = u() * 2000;
      obs.y[r] = u() * 2000;
      obs.phi[r] = u() * 360;
      obs.panel[r] = 0;
      obs.batch[r] = Math.floor(u() * 40);
      obs.sweep[r] = 0;
      obs.fraction[r] = 0.5 + 0.5 * u();
      r++;
    }
  });
  return { obs, truth, outliers };
}

/** Mean and standard deviation. */
export function meanStd(x: ArrayLike<number>): [number, number] {
  let m = 0;
  for (let i = 0; i < x.length; i++) m += x[i] as number;
  m /= x.length;
  let v = 0;
  for (let i = 0; i < x.length; i++) v += ((x[i] as number) - m) ** 2;
  return [m, Math.sqrt(v / (x.length - 1))];
}
