/**
 * Synthetic voxel observations with a known scale model, for the scaling
 * tests and the benchmark: a voxel map I_v, smooth b(φ) drift, a(x, y, φ)
 * gradients whose mean over the detector is 1 at every φ, an offset
 * c(|s|, φ) ≥ 0, one factor per panel, Poisson counts, and optional gross
 * outliers (both signs).
 */
import { emptyObservations, type ObservationMeta, type ObservationTable } from '../pipeline/observations.ts';
import { mulberry32, normal, poisson } from '../util/random.ts';

export interface SyntheticScalingOptions {
  voxels: number;
  /** observations per voxel, uniform in [min, max] */
  multiplicity?: readonly [number, number];
  seed?: number;
  panels?: number;
  /** panel size in pixels */
  panelSize?: readonly [number, number];
  /** rotation range in degrees, from 0 */
  phiRange?: number;
  /** fraction of rows made gross outliers (±15…40 σ) */
  outlierFraction?: number;
  /** b peak-to-peak drift amplitude (default 0.15: ±15 %) */
  bAmplitude?: number;
  /** offset scale relative to the mean voxel intensity (default 0.05) */
  cFraction?: number;
}

export interface SyntheticScaling {
  obs: ObservationTable;
  meta: ObservationMeta;
  truth: {
    a(x: number, y: number, phi: number): number;
    b(phi: number): number;
    c(s: number, phi: number): number;
    d(panel: number): number;
    /** the voxel fine-index key (as fineKey) and true intensity of every voxel */
    voxelKey: Float64Array;
    voxelI: Float64Array;
    /** 1 for rows made outliers */
    outlier: Uint8Array;
  };
}

const KEY_BIAS = 2 ** 16;
const KEY_SPAN = 2 ** 17;

export function simulateScalingData(o: SyntheticScalingOptions): SyntheticScaling {
  const [mMin, mMax] = o.multiplicity ?? [4, 10];
  const u = mulberry32(o.seed ?? 1);
  const panels = o.panels ?? 4;
  const [W, H] = o.panelSize ?? [487, 195];
  const phiRange = o.phiRange ?? 180;
  const outlierFraction = o.outlierFraction ?? 0;
  const bAmp = o.bAmplitude ?? 0.15;
  const side = Math.max(3, 2 * Math.ceil((Math.cbrt(o.voxels) - 1) / 2) + 1);
  const half = (side - 1) / 2;
  const meanI = 600;
  const c0 = (o.cFraction ?? 0.05) * meanI;
  const sMin = 0.05;
  const sMax = 0.6;
  const truth = {
    b: (phi: number): number => 1 + bAmp * Math.sin((2 * Math.PI * phi) / 140) + (bAmp / 3) * Math.cos((2 * Math.PI * phi) / 50),
    a: (x: number, y: number, phi: number): number => {
      const p = (2 * x) / W - 1;
      const q = (2 * y) / H - 1;
      return 1 + 0.06 * p + 0.05 * q * Math.cos((2 * Math.PI * phi) / 180) + 0.02 * p * q;
    },
    c: (s: number, phi: number): number => c0 * ((s - sMin) / (sMax - sMin)) * (1 + 0.3 * Math.sin((2 * Math.PI * phi) / 180)),
    d: (panel: number): number => [1, 0.93, 1.06, 1.1, 0.97, 1.03][panel % 6]!,
  };
  const voxelKey = new Float64Array(o.voxels);
  const voxelI = new Float64Array(o.voxels);
  const voxelS = new Float64Array(o.voxels);
  const fine = new Int32Array(o.voxels * 3);
  const mult = new Uint8Array(o.voxels);
  let rows = 0;
  for (let v = 0; v < o.voxels; v++) {
    const fl = (v % side) - half;
    const fk = (Math.floor(v / side) % side) - half;
    const fh = Math.floor(v / (side * side)) - half;
    fine[3 * v] = fh;
    fine[3 * v + 1] = fk;
    fine[3 * v + 2] = fl;
    voxelKey[v] = ((fh + KEY_BIAS) * KEY_SPAN + (fk + KEY_BIAS)) * KEY_SPAN + (fl + KEY_BIAS);
    const r = Math.sqrt(fh * fh + fk * fk + fl * fl) / (half * Math.sqrt(3));
    const s = sMin + (sMax - sMin) * Math.min(1, r);
    voxelS[v] = s;
    voxelI[v] = Math.max(60, meanI * Math.exp(-2 * s * s) * Math.exp(0.5 * normal(u)));
    const m = mMin + Math.floor(u() * (mMax - mMin + 1));
    mult[v] = m;
    rows += m;
  }
  const obs = emptyObservations(rows);
  const outlier = new Uint8Array(rows);
  let i = 0;
  const split = (f: number): [number, number] => {
    const cell = Math.floor((f + 1) / 3);
    return [cell, f - 3 * cell];
  };
  for (let v = 0; v < o.voxels; v++) {
    const [Hc, dh] = split(fine[3 * v]!);
    const [Kc, dk] = split(fine[3 * v + 1]!);
    const [Lc, dl] = split(fine[3 * v + 2]!);
    for (let m = 0; m < mult[v]!; m++, i++) {
      const phi = u() * phiRange;
      const x = u() * W;
      const y = u() * H;
      const panel = Math.floor(u() * panels);
      const s = voxelS[v]!;
      const expected = truth.a(x, y, phi) * truth.d(panel) * (truth.b(phi) * voxelI[v]! + truth.c(s, phi));
      let I = poisson(u, expected);
      const sigma = Math.sqrt(Math.max(I, 1));
      if (outlierFraction > 0 && u() < outlierFraction) {
        outlier[i] = 1;
        I += (u() < 0.5 ? -1 : 1) * (15 + 25 * u()) * sigma;
      }
      obs.H[i] = Hc;
      obs.K[i] = Kc;
      obs.L[i] = Lc;
      obs.dh[i] = dh;
      obs.dk[i] = dk;
      obs.dl[i] = dl;
      obs.I[i] = I;
      obs.sigma[i] = sigma;
      obs.s[i] = s;
      obs.x[i] = x;
      obs.y[i] = y;
      obs.phi[i] = phi;
      obs.panel[i] = panel;
      obs.batch[i] = Math.floor(phi / 3);
      obs.fraction[i] = 1;
    }
  }
  const meta: ObservationMeta = { ndiv: [3, 3, 3], hall: 'P 1', cell: [50, 60, 70, 90, 90, 90], wavelength: 1 };
  return { obs, meta, truth: { ...truth, voxelKey, voxelI, outlier } };
}
