/**
 * Recovery figures: how well the rotation pipeline's results reproduce the
 * truth a simulation was made from. Used by the acceptance tests and by
 * `diffract demo`.
 *
 * - Scale functions. The fitted b(φ) and a(x, y, φ)·d are compared with the
 *   simulated b(frame) and a(x, y) at every observation; one overall factor is
 *   free (the pipeline fixes mean b = 1 and mean a = 1, the simulation its own
 *   way), so each ratio fitted/true is divided by its mean before the RMS of
 *   its deviation from 1 is taken.
 * - Map. The merged (absolute) diffuse map against the true diffuse intensity
 *   at each ASU subvoxel centre, over subvoxels with at least `minObservations`
 *   observations: Pearson r, and the least-squares slope through the origin
 *   (1 when the absolute scale is right).
 */
import type { MergedTable, Ndiv, ObservationTable } from '../pipeline/observations.ts';
import { scaleFactors, type ScaleModel } from '../scaling/index.ts';
import type { Mat3 } from '../geometry/model.ts';
import { absorptionFactor, diffuseTruthValue, frameScale } from './physics.ts';
import { panelSize, type SimulationSpec } from './spec.ts';
import { pearson } from '../util/stats.ts';

export interface ScaleRecovery {
  /** RMS of b_fit/b_true / mean − 1 over the observations */
  bRms: number;
  /** RMS of (a·d)_fit/a_true / mean − 1 */
  aRms: number;
  observations: number;
}

function normalizedRms(ratio: Float64Array): number {
  let mean = 0;
  for (const r of ratio) mean += r;
  mean /= ratio.length;
  let ss = 0;
  for (const r of ratio) ss += (r / mean - 1) ** 2;
  return Math.sqrt(ss / ratio.length);
}

/** Fitted against simulated b and a at every observation of `obs`. */
export function scaleRecovery(spec: SimulationSpec, model: ScaleModel, obs: ObservationTable): ScaleRecovery {
  const f = scaleFactors(model, obs);
  const n = obs.I.length;
  const [w, h] = panelSize(spec.detector);
  const bRatio = new Float64Array(n);
  const aRatio = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    // the frame (continuous, 0-based) whose middle is at φ
    const frame = ((obs.phi[i] as number) - spec.scan.startDeg) / spec.scan.widthDeg - 0.5;
    bRatio[i] = (f.b[i] as number) / frameScale(spec.model.frameScale, frame);
    // x, y are mean pixel centres; absorptionFactor takes the pixel corner
    const aTrue = absorptionFactor(spec.model.absorption, (obs.x[i] as number) - 0.5, (obs.y[i] as number) - 0.5, w, h);
    aRatio[i] = ((f.a[i] as number) * (f.d[i] as number)) / aTrue;
  }
  return { bRms: normalizedRms(bRatio), aRms: normalizedRms(aRatio), observations: n };
}

export interface MapRecovery {
  /** Pearson correlation with the truth */
  r: number;
  /** Σ I·T / Σ T²: the factor between the map and the truth */
  slope: number;
  /** median of I/T */
  medianRatio: number;
  voxels: number;
}

/**
 * The merged diffuse map against the true diffuse intensity (rows with n ≥
 * minObservations). `truthAt` gives the truth at a subvoxel centre (default: the
 * true intensity there, diffuseTruthValue).
 */
export function mapRecovery(
  spec: SimulationSpec,
  A: Mat3,
  gStar: Mat3,
  merged: MergedTable,
  ndiv: Ndiv,
  minObservations = 3,
  truthAt: (h: number, k: number, l: number) => number = (h, k, l) => diffuseTruthValue(spec, gStar, h, k, l),
): MapRecovery {
  void A;
  const xs: number[] = [];
  const ys: number[] = [];
  for (let i = 0; i < merged.I.length; i++) {
    if ((merged.n[i] as number) < minObservations) continue;
    const h = (merged.H[i] as number) + (merged.dh[i] as number) / ndiv[0];
    const k = (merged.K[i] as number) + (merged.dk[i] as number) / ndiv[1];
    const l = (merged.L[i] as number) + (merged.dl[i] as number) / ndiv[2];
    const t = truthAt(h, k, l);
    const v = merged.I[i] as number;
    if (!Number.isFinite(v)) continue;
    xs.push(t);
    ys.push(v);
  }
  const n = xs.length;
  let sxyOrigin = 0;
  let sxxOrigin = 0;
  const ratios: number[] = [];
  for (let i = 0; i < n; i++) {
    const x = xs[i] as number;
    const y = ys[i] as number;
    sxyOrigin += x * y;
    sxxOrigin += x * x;
    if (x > 0) ratios.push(y / x);
  }
  ratios.sort((a, b) => a - b);
  return {
    r: pearson(xs, ys),
    slope: sxyOrigin / sxxOrigin,
    medianRatio: ratios.length > 0 ? (ratios[Math.floor(ratios.length / 2)] as number) : Number.NaN,
    voxels: n,
  };
}
