/**
 * Relative scaling of voxel observations (the mdx2 refinement program).
 *
 * Model: I_obs ≈ a(x, y, φ) · d · (b(φ) · I_v + c(|s|, φ)), I_v the merged
 * intensity of the observation's ASU voxel. Stages (default b, bc, c, d, a)
 * each alternate merge → fit until the reduced χ² stops falling by more than
 * a tolerance, then reject outliers (two-sided, leave-one-out, cut-off per
 * stage: 10σ first, then 5σ by default). Each fit is a regularized weighted
 * linear least-squares problem in one function with the others and I_v held
 * fixed, solved on sparse normal equations (src/scaling/sparse.ts).
 *
 * Everything is typed arrays over the observations (no per-row objects), in
 * a fixed order: the same input gives bit-identical output.
 */
import { InvalidValueError } from '../errors.ts';
import { observationCount, type ObservationMeta, type ObservationTable } from '../pipeline/observations.ts';
import { BTerm, type BTermOptions } from './b-term.ts';
import { axisNodes, gridSize, type ScaleGrid } from './grid.ts';
import { chi2Concentration, type Chi2Concentration } from './chi2-concentration.ts';
import { allocVoxelSums, indexVoxels, mergeInto, type VoxelSums } from './merge.ts';
import { FUNCTION_AXES, FunctionEvaluator, type ScaleFunction, type ScaleFunctionName, type ScaleModel } from './model.ts';
import { GridSystem, pcg, solveBounded } from './sparse.ts';

export type ScaleStage = 'b' | 'bc' | 'c' | 'd' | 'a';
export const SCALE_STAGES: readonly ScaleStage[] = ['b', 'bc', 'c', 'd', 'a'];

export interface ScalingOptions {
  /** refinement stages in order (default b, bc, c, d, a); functions not fitted stay at a = b = d = 1, c = 0 */
  stages?: readonly ScaleStage[];
  /** outlier cut-off (σ) after each stage; the last value repeats (default 10, 5) */
  outlier?: readonly number[];
  /** iterations per stage at most (default 10) */
  maxIterations?: number;
  /** a stage stops when χ² falls by less than this (reduced χ², default 1e-4) */
  tolerance?: number;
  /** b(φ): node spacing (default 1°), smoothness λ (default 1) */
  b?: { stepDeg?: number; lambda?: number };
  /** a(x, y, φ): nodes along x and y (default 9: every 1/8 of the data range), along φ (count, or spacing default 15°); λ for the x, y and the φ second differences (default 1, 1) */
  a?: { nx?: number; ny?: number; nphi?: number; phiStepDeg?: number; lambdaXY?: number; lambdaPhi?: number };
  /** c(|s|, φ): nodes along |s| (default 12) and φ (count, or spacing default 15°); λ along |s| and φ (default 1, 1); ridge towards 0 (default 1e-3) */
  c?: { ns?: number; nphi?: number; phiStepDeg?: number; lambdaS?: number; lambdaPhi?: number; ridge?: number };
  /** d: one factor per panel (default) or a map per panel (nx × ny nodes, default 9 × 9, smoothness λ default 1) */
  d?: { mode?: 'panel' | 'map'; nx?: number; ny?: number; lambda?: number };
  /** inner solver: relative residual (default 1e-10) and iteration cap (default 5000) */
  solver?: { tolerance?: number; maxIterations?: number };
  /** extra rows that constrain b only, against their own reference (./b-term.ts; stills: the Bragg term) */
  bTerm?: BTermOptions;
}

export interface FitInfo {
  name: ScaleFunctionName;
  parameters: number;
  nnz: number;
  cgIterations: number;
  residual: number;
  /** c: parameters held at the bound 0 */
  pinned?: number;
  seconds: number;
}

export interface IterationInfo {
  stage: ScaleStage;
  iteration: number;
  /** reduced χ² (per observation used) after the fit */
  chi2: number;
  /** observations rejected at the last rejection step (before this stage) */
  rejected: number;
  /** observations used in the fit */
  used: number;
  fits: FitInfo[];
  /** merge + fits + χ², seconds */
  seconds: number;
  mergeSeconds: number;
}

export interface HistoryEntry {
  stage: ScaleStage;
  iteration: number;
  chi2: number;
  rejected: number;
}

export interface ScalingHooks {
  onIteration?(info: IterationInfo): void;
  /** after each stage's outlier rejection */
  onStage?(info: { stage: ScaleStage; cutoff: number; rejected: number }): void;
}

export interface ScalingStats {
  observations: number;
  /** rows with finite I, σ > 0 and finite coordinates */
  valid: number;
  voxels: number;
  parameters: Record<ScaleFunctionName, number>;
  /** stored entries of each function's normal matrix (0 when never fitted) */
  nnz: Record<ScaleFunctionName, number>;
  /**
   * how much of the χ² the worst 1 % of the voxels carry: the largest share
   * over the stages, each taken after the stage's fit and before its outlier
   * rejection (so rows that the rejection removes still count: they drove the fit)
   */
  chi2Concentration: Chi2Concentration;
}

export interface ScalingResult {
  model: ScaleModel;
  history: HistoryEntry[];
  /** 1 for rows rejected as outliers */
  rejected: Uint8Array;
  stats: ScalingStats;
}

interface Resolved {
  stages: readonly ScaleStage[];
  outlier: readonly number[];
  maxIterations: number;
  tolerance: number;
  b: { stepDeg: number; lambda: number };
  a: { nx: number; ny: number; nphi?: number; phiStepDeg: number; lambdaXY: number; lambdaPhi: number };
  c: { ns: number; nphi?: number; phiStepDeg: number; lambdaS: number; lambdaPhi: number; ridge: number };
  d: { mode: 'panel' | 'map'; nx: number; ny: number; lambda: number };
  solver: { tolerance: number; maxIterations: number };
  bTerm?: BTermOptions;
}

function positive(v: number | undefined, fallback: number, field: string, integer = false, min = 0): number {
  if (v === undefined) return fallback;
  if (!Number.isFinite(v) || v < min || (min === 0 && v <= 0) || (integer && !Number.isInteger(v))) {
    throw new InvalidValueError(`${field} must be ${integer ? 'an integer' : 'a number'} ${min > 0 ? `≥ ${min}` : '> 0'}, got ${v}`, { field });
  }
  return v;
}

function nonNegative(v: number | undefined, fallback: number, field: string): number {
  if (v === undefined) return fallback;
  if (!Number.isFinite(v) || v < 0) throw new InvalidValueError(`${field} must be a number ≥ 0, got ${v}`, { field });
  return v;
}

function resolve(o: ScalingOptions): Resolved {
  const stages = o.stages ?? SCALE_STAGES;
  for (const s of stages) if (!SCALE_STAGES.includes(s)) throw new InvalidValueError(`unknown stage '${String(s)}' (stages are ${SCALE_STAGES.join(', ')})`, { field: 'stages' });
  const outlier = o.outlier ?? [10, 5];
  if (outlier.length === 0 || outlier.some((v) => !(v > 0))) throw new InvalidValueError(`outlier cut-offs must be positive numbers, got ${outlier.join(',')}`, { field: 'outlier' });
  const dmode = o.d?.mode ?? 'panel';
  if (dmode !== 'panel' && dmode !== 'map') throw new InvalidValueError(`d.mode must be panel or map, got '${String(dmode)}'`, { field: 'd.mode' });
  const a: Resolved['a'] = {
    nx: positive(o.a?.nx, 9, 'a.nx', true, 2),
    ny: positive(o.a?.ny, 9, 'a.ny', true, 2),
    phiStepDeg: positive(o.a?.phiStepDeg, 15, 'a.phiStepDeg'),
    lambdaXY: nonNegative(o.a?.lambdaXY, 1, 'a.lambdaXY'),
    lambdaPhi: nonNegative(o.a?.lambdaPhi, 1, 'a.lambdaPhi'),
  };
  if (o.a?.nphi !== undefined) a.nphi = positive(o.a.nphi, 2, 'a.nphi', true, 2);
  const c: Resolved['c'] = {
    ns: positive(o.c?.ns, 12, 'c.ns', true, 2),
    phiStepDeg: positive(o.c?.phiStepDeg, 15, 'c.phiStepDeg'),
    lambdaS: nonNegative(o.c?.lambdaS, 1, 'c.lambdaS'),
    lambdaPhi: nonNegative(o.c?.lambdaPhi, 1, 'c.lambdaPhi'),
    ridge: nonNegative(o.c?.ridge, 1e-3, 'c.ridge'),
  };
  if (o.c?.nphi !== undefined) c.nphi = positive(o.c.nphi, 2, 'c.nphi', true, 2);
  if (o.bTerm !== undefined) nonNegative(o.bTerm.weight, 0, 'bTerm.weight');
  return {
    ...(o.bTerm !== undefined && o.bTerm.weight > 0 ? { bTerm: o.bTerm } : {}),
    stages,
    outlier,
    maxIterations: positive(o.maxIterations, 10, 'maxIterations', true, 1),
    tolerance: nonNegative(o.tolerance, 1e-4, 'tolerance'),
    b: { stepDeg: positive(o.b?.stepDeg, 1, 'b.stepDeg'), lambda: nonNegative(o.b?.lambda, 1, 'b.lambda') },
    a,
    c,
    d: { mode: dmode, nx: positive(o.d?.nx, 9, 'd.nx', true, 2), ny: positive(o.d?.ny, 9, 'd.ny', true, 2), lambda: nonNegative(o.d?.lambda, 1, 'd.lambda') },
    solver: { tolerance: positive(o.solver?.tolerance, 1e-10, 'solver.tolerance'), maxIterations: positive(o.solver?.maxIterations, 5000, 'solver.maxIterations', true, 1) },
  };
}

interface Range {
  min: number;
  max: number;
}

function rangeOf(col: Float32Array, valid: Uint8Array, select?: (i: number) => boolean): Range {
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < col.length; i++) {
    if (valid[i] === 0 || (select !== undefined && !select(i))) continue;
    const v = col[i]!;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return min <= max ? { min, max } : { min: 0, max: 1 };
}

function distinct(col: Uint16Array): number[] {
  const seen = new Uint8Array(65536);
  for (let i = 0; i < col.length; i++) seen[col[i]!] = 1;
  const out: number[] = [];
  for (let k = 0; k < 65536; k++) if (seen[k] === 1) out.push(k);
  return out;
}

/** The initial model (a = b = d = 1, c = 0) on grids laid over the data. */
function initialModel(obs: ObservationTable, valid: Uint8Array, o: Resolved): ScaleModel {
  const sweeps = distinct(obs.sweep);
  const panels = distinct(obs.panel);
  const phiRange = new Map<number, Range>();
  for (const sw of sweeps) phiRange.set(sw, rangeOf(obs.phi, valid, (i) => obs.sweep[i] === sw));
  const xr = rangeOf(obs.x, valid);
  const yr = rangeOf(obs.y, valid);
  const sr = rangeOf(obs.s, valid);
  const grid = (key: number, axes: Float64Array[], fill: number): ScaleGrid => ({ key, axes, values: new Float64Array(gridSize(axes)).fill(fill) });
  const phiAxis = (sw: number, step: number, count?: number): Float64Array => {
    const r = phiRange.get(sw)!;
    return axisNodes(r.min, r.max, { integerLimits: true, step, ...(count !== undefined ? { count } : {}) });
  };
  const b: ScaleFunction = { name: 'b', keyColumn: 'sweep', axisColumns: FUNCTION_AXES.b, grids: sweeps.map((sw) => grid(sw, [phiAxis(sw, o.b.stepDeg)], 1)) };
  const xa = axisNodes(xr.min, xr.max, { integerLimits: true, count: o.a.nx });
  const ya = axisNodes(yr.min, yr.max, { integerLimits: true, count: o.a.ny });
  const a: ScaleFunction = {
    name: 'a',
    keyColumn: 'sweep',
    axisColumns: FUNCTION_AXES.a,
    grids: sweeps.map((sw) => grid(sw, [xa, ya, phiAxis(sw, o.a.phiStepDeg, o.a.nphi)], 1)),
  };
  const sa = axisNodes(sr.min, sr.max, { integerLimits: false, count: o.c.ns, minSpan: 1e-3 });
  const c: ScaleFunction = { name: 'c', keyColumn: 'sweep', axisColumns: FUNCTION_AXES.c, grids: sweeps.map((sw) => grid(sw, [sa, phiAxis(sw, o.c.phiStepDeg, o.c.nphi)], 0)) };
  let d: ScaleFunction;
  if (o.d.mode === 'panel') {
    d = { name: 'd', keyColumn: 'panel', axisColumns: [], grids: panels.map((p) => grid(p, [], 1)) };
  } else {
    d = {
      name: 'd',
      keyColumn: 'panel',
      axisColumns: ['x', 'y'],
      grids: panels.map((p) => {
        const px = rangeOf(obs.x, valid, (i) => obs.panel[i] === p);
        const py = rangeOf(obs.y, valid, (i) => obs.panel[i] === p);
        return grid(p, [axisNodes(px.min, px.max, { integerLimits: true, count: o.d.nx }), axisNodes(py.min, py.max, { integerLimits: true, count: o.d.ny })], 1);
      }),
    };
  }
  return { a, b, c, d };
}

/** Penalty groups of a function: axes sharing one λ. */
function penalties(name: ScaleFunctionName, o: Resolved): { axes: number[]; lambda: number }[] {
  switch (name) {
    case 'b':
      return [{ axes: [0], lambda: o.b.lambda }];
    case 'a':
      return [
        { axes: [0, 1], lambda: o.a.lambdaXY },
        { axes: [2], lambda: o.a.lambdaPhi },
      ];
    case 'c':
      return [
        { axes: [0], lambda: o.c.lambdaS },
        { axes: [1], lambda: o.c.lambdaPhi },
      ];
    case 'd':
      return o.d.mode === 'map' ? [{ axes: [0, 1], lambda: o.d.lambda }] : [];
  }
}

/** Relative weight of the proximal term (keeps N positive definite where no data and no penalty reach). */
const PROXIMAL = 1e-9;
const REJECTION_PASSES = 5;

class Refinement {
  readonly n: number;
  readonly valid: Uint8Array;
  readonly rejected: Uint8Array;
  /** valid, not rejected, and its voxel has ≥ 2 such rows */
  readonly use: Uint8Array;
  /** valid and not rejected (the rows merged) */
  private readonly keep: Uint8Array;
  readonly voxelOf: Uint32Array;
  readonly voxels: number;
  readonly sums: VoxelSums;
  /** merged intensity and its variance per voxel */
  readonly Iv: Float64Array;
  readonly Vv: Float64Array;
  readonly values: { a: Float64Array; b: Float64Array; c: Float64Array; d: Float64Array };
  readonly ev: Record<ScaleFunctionName, FunctionEvaluator>;
  /** grid of every row: by sweep (a, b, c) and by panel (d) */
  readonly gridBySweep: Uint16Array;
  readonly gridByPanel: Uint16Array;
  readonly systems = new Map<ScaleFunctionName, GridSystem>();
  readonly bTerm: BTerm | undefined;
  usedCount = 0;
  rejectedCount = 0;
  private readonly idx = new Int32Array(8);
  private readonly w = new Float64Array(8);

  constructor(
    readonly obs: ObservationTable,
    meta: ObservationMeta,
    readonly model: ScaleModel,
    readonly o: Resolved,
    valid: Uint8Array,
  ) {
    this.n = observationCount(obs);
    this.valid = valid;
    this.rejected = new Uint8Array(this.n);
    this.use = new Uint8Array(this.n);
    this.keep = new Uint8Array(this.n);
    const vi = indexVoxels(obs, meta.ndiv);
    this.voxelOf = vi.voxelOf;
    this.voxels = vi.keys.length;
    this.sums = allocVoxelSums(this.voxels);
    this.Iv = new Float64Array(this.voxels);
    this.Vv = new Float64Array(this.voxels);
    this.ev = { a: new FunctionEvaluator(model.a, obs), b: new FunctionEvaluator(model.b, obs), c: new FunctionEvaluator(model.c, obs), d: new FunctionEvaluator(model.d, obs) };
    this.gridBySweep = new Uint16Array(this.n);
    this.gridByPanel = new Uint16Array(this.n);
    for (let i = 0; i < this.n; i++) {
      this.gridBySweep[i] = this.ev.b.gridOf(i);
      this.gridByPanel[i] = this.ev.d.gridOf(i);
    }
    this.values = { a: new Float64Array(this.n), b: new Float64Array(this.n), c: new Float64Array(this.n), d: new Float64Array(this.n) };
    for (const name of ['a', 'b', 'c', 'd'] as const) this.evaluate(name);
    this.updateUse();
    this.bTerm = o.bTerm !== undefined ? new BTerm(o.bTerm, meta, model) : undefined;
  }

  private gridIndex(name: ScaleFunctionName): Uint16Array {
    return name === 'd' ? this.gridByPanel : this.gridBySweep;
  }

  /** Per-row values of one function from its grids. */
  evaluate(name: ScaleFunctionName): void {
    const ev = this.ev[name];
    const gi = this.gridIndex(name);
    const out = this.values[name];
    const { idx, w } = this;
    const fn = this.model[name];
    for (let i = 0; i < this.n; i++) {
      const g = gi[i]!;
      const T = ev.tapsOf(i, g, idx, w);
      const vals = fn.grids[g]!.values;
      const off = ev.offsets[g]!;
      let v = 0;
      for (let t = 0; t < T; t++) v += w[t]! * vals[idx[t]! - off]!;
      out[i] = v;
    }
  }

  updateUse(): void {
    const cnt = new Uint32Array(this.voxels);
    for (let i = 0; i < this.n; i++) if (this.valid[i] === 1 && this.rejected[i] === 0) cnt[this.voxelOf[i]!]! += 1;
    let used = 0;
    for (let i = 0; i < this.n; i++) {
      const u = this.valid[i] === 1 && this.rejected[i] === 0 && cnt[this.voxelOf[i]!]! >= 2 ? 1 : 0;
      this.use[i] = u;
      used += u;
    }
    this.usedCount = used;
  }

  /** Merges the valid, non-rejected rows with the current model. */
  merge(): void {
    const keep = this.keep;
    for (let i = 0; i < this.n; i++) keep[i] = this.valid[i] === 1 && this.rejected[i] === 0 ? 1 : 0;
    mergeInto(this.sums, this.voxelOf, this.obs.I, this.obs.sigma, this.values, keep);
    for (let v = 0; v < this.voxels; v++) {
      const W = this.sums.W[v]!;
      this.Iv[v] = W > 0 ? this.sums.WY[v]! / W : 0;
      this.Vv[v] = W > 0 ? 1 / W : 0;
    }
    this.bTerm?.merge();
  }

  /** χ² per voxel of the valid, non-rejected rows with the current model and merged intensities. */
  voxelChi2(): Float64Array {
    const { a, b, c, d } = this.values;
    const out = new Float64Array(this.voxels);
    for (let i = 0; i < this.n; i++) {
      if (this.valid[i] === 0 || this.rejected[i] === 1) continue;
      const v = this.voxelOf[i]!;
      const r = (this.obs.I[i]! - a[i]! * d[i]! * (b[i]! * this.Iv[v]! + c[i]!)) / this.obs.sigma[i]!;
      out[v]! += r * r;
    }
    return out;
  }

  /** Reduced χ² of the rows in use with the current model and merged intensities. */
  chi2(): number {
    const { a, b, c, d } = this.values;
    let s = 0;
    for (let i = 0; i < this.n; i++) {
      if (this.use[i] === 0) continue;
      const r = (this.obs.I[i]! - a[i]! * d[i]! * (b[i]! * this.Iv[this.voxelOf[i]!]! + c[i]!)) / this.obs.sigma[i]!;
      s += r * r;
    }
    return this.usedCount > 0 ? s / this.usedCount : 0;
  }

  private system(name: ScaleFunctionName): GridSystem {
    let sys = this.systems.get(name);
    if (sys === undefined) {
      sys = new GridSystem(this.model[name].grids, this.model[name].axisColumns.length);
      this.systems.set(name, sys);
    }
    return sys;
  }

  /** Fits one function with the others and I_v fixed. */
  fit(name: ScaleFunctionName): FitInfo {
    const t0 = performance.now();
    const sys = this.system(name);
    sys.reset();
    const ev = this.ev[name];
    const gi = this.gridIndex(name);
    const { a, b, c, d } = this.values;
    const { I, sigma } = this.obs;
    const { idx, w } = this;
    for (let i = 0; i < this.n; i++) {
      if (this.use[i] === 0) continue;
      const Iv = this.Iv[this.voxelOf[i]!]!;
      let g: number;
      let t: number;
      // residual (I − model)/σ written as (t − g·f)/σ with f the fitted function
      switch (name) {
        case 'b':
          g = a[i]! * d[i]! * Iv;
          t = I[i]! - a[i]! * d[i]! * c[i]!;
          break;
        case 'c':
          g = a[i]! * d[i]!;
          t = I[i]! - a[i]! * d[i]! * b[i]! * Iv;
          break;
        case 'a':
          g = d[i]! * (b[i]! * Iv + c[i]!);
          t = I[i]!;
          break;
        case 'd':
          g = a[i]! * (b[i]! * Iv + c[i]!);
          t = I[i]!;
          break;
      }
      const inv = 1 / (sigma[i]! * sigma[i]!);
      const T = ev.tapsOf(i, gi[i]!, idx, w);
      sys.addObservation(idx, w, T, g * g * inv, g * t * inv);
    }
    if (name === 'b') this.bTerm?.addTo(sys);
    const fn = this.model[name];
    const x = new Float64Array(sys.n);
    fn.grids.forEach((g, k) => x.set(g.values, ev.offsets[k]!));
    const trData = sys.trace();
    let info: FitInfo = { name, parameters: sys.n, nnz: sys.nnz, cgIterations: 0, residual: 0, seconds: 0 };
    if (trData > 0) {
      for (const p of penalties(name, this.o)) {
        if (p.lambda === 0) continue;
        let trR = 0;
        for (const ax of p.axes) trR += sys.addSecondDifferences(ax, 0);
        if (trR === 0) continue;
        const weight = (p.lambda * trData) / trR;
        for (const ax of p.axes) sys.addSecondDifferences(ax, weight);
      }
      sys.addDiagonal((PROXIMAL * trData) / sys.n, x);
      if (name === 'c') {
        sys.addDiagonal((this.o.c.ridge * trData) / sys.n);
        const r = solveBounded(sys.matrix, sys.rhs, x, 0, this.o.solver);
        info = { ...info, cgIterations: r.iterations, residual: r.residual, pinned: r.pinned };
      } else {
        const r = pcg(sys.matrix, sys.rhs, x, this.o.solver);
        info = { ...info, cgIterations: r.iterations, residual: r.residual };
      }
      fn.grids.forEach((g, k) => g.values.set(x.subarray(ev.offsets[k]!, ev.offsets[k]! + g.values.length)));
      this.evaluate(name);
    }
    info.seconds = (performance.now() - t0) / 1000;
    return info;
  }

  private meanValid(arr: Float64Array): number {
    let s = 0;
    let n = 0;
    for (let i = 0; i < this.n; i++) {
      if (this.valid[i] === 0) continue;
      s += arr[i]!;
      n++;
    }
    return n > 0 ? s / n : 1;
  }

  private scaleFunction(name: ScaleFunctionName, k: number): void {
    for (const g of this.model[name].grids) for (let j = 0; j < g.values.length; j++) g.values[j]! *= k;
    const v = this.values[name];
    for (let i = 0; i < this.n; i++) v[i]! *= k;
  }

  /**
   * Fixes the scale degeneracies by exact reparametrizations (the model
   * values at every row do not change): mean a = 1 and mean d = 1 over the
   * valid rows (b and c take the factor), then mean b = 1 (I_v takes it).
   */
  fixGauge(): void {
    for (const name of ['a', 'd'] as const) {
      const k = this.meanValid(this.values[name]);
      if (k > 0 && k !== 1) {
        this.scaleFunction(name, 1 / k);
        this.scaleFunction('b', k);
        this.scaleFunction('c', k);
      }
    }
    const kb = this.meanValid(this.values.b);
    if (kb > 0 && kb !== 1) {
      this.scaleFunction('b', 1 / kb);
      for (let v = 0; v < this.voxels; v++) {
        this.Iv[v]! *= kb;
        this.Vv[v]! *= kb * kb;
      }
    }
  }

  /**
   * Two-sided outlier rejection, redone from scratch with the current model
   * (a row rejected at an earlier stage, when the model was cruder, gets
   * another chance): |I − model|/σ_total > cutoff with the model taken from
   * the leave-one-out merged intensity of the row's voxel and
   * σ_total² = max(1, χ²)·(σ² + (a·d·b)²·var(I_v without the row)), χ² the
   * reduced χ² of the last fit, so that model misfit in the early stages is
   * not taken for outliers. At most one row per voxel per pass (the worst);
   * passes repeat until none is rejected. Returns the rows rejected now.
   */
  reject(cutoff: number, chi2: number): number {
    this.rejected.fill(0);
    let total = 0;
    const inflate = Number.isFinite(chi2) && chi2 > 1 ? chi2 : 1;
    const best = new Float64Array(this.voxels);
    const bestRow = new Int32Array(this.voxels);
    const { a, b, c, d } = this.values;
    const { I, sigma } = this.obs;
    for (let pass = 0; pass < REJECTION_PASSES; pass++) {
      this.merge();
      best.fill(0);
      bestRow.fill(-1);
      for (let i = 0; i < this.n; i++) {
        if (this.valid[i] === 0 || this.rejected[i] === 1) continue;
        const v = this.voxelOf[i]!;
        const ad = a[i]! * d[i]!;
        const gi = ad * b[i]!;
        if (gi === 0) continue;
        const y = (I[i]! / ad - c[i]!) / b[i]!;
        const si = sigma[i]! / gi;
        const wi = 1 / (si * si);
        const Wrest = this.sums.W[v]! - wi;
        if (!(Wrest > 1e-12 * this.sums.W[v]!)) continue;
        const loo = (this.sums.WY[v]! - wi * y) / Wrest;
        const resid = I[i]! - ad * (b[i]! * loo + c[i]!);
        const z = Math.abs(resid) / Math.sqrt(inflate * (sigma[i]! * sigma[i]! + (gi * gi) / Wrest));
        if (z > cutoff && z > best[v]!) {
          best[v] = z;
          bestRow[v] = i;
        }
      }
      let now = 0;
      for (let v = 0; v < this.voxels; v++) {
        const r = bestRow[v]!;
        if (r >= 0) {
          this.rejected[r] = 1;
          now++;
        }
      }
      total += now;
      if (now === 0) break;
    }
    this.rejectedCount = total;
    this.updateUse();
    return total;
  }
}

function validRows(obs: ObservationTable): Uint8Array {
  const n = observationCount(obs);
  const valid = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const s = obs.sigma[i]!;
    valid[i] =
      s > 0 && Number.isFinite(s) && Number.isFinite(obs.I[i]!) && Number.isFinite(obs.phi[i]!) && Number.isFinite(obs.x[i]!) && Number.isFinite(obs.y[i]!) && Number.isFinite(obs.s[i]!)
        ? 1
        : 0;
  }
  return valid;
}

/** Fits the scale model to a table of voxel observations (see the module comment and docs/scale.md). */
export function scaleObservations(obs: ObservationTable, meta: ObservationMeta, options: ScalingOptions = {}, hooks: ScalingHooks = {}): ScalingResult {
  const o = resolve(options);
  const valid = validRows(obs);
  let nValid = 0;
  for (let i = 0; i < valid.length; i++) nValid += valid[i]!;
  if (nValid === 0) throw new InvalidValueError('no usable observations (finite I, σ > 0 and finite coordinates)', { field: 'I/sigma' });
  const model = initialModel(obs, valid, o);
  const st = new Refinement(obs, meta, model, o, valid);
  const history: HistoryEntry[] = [];
  let concentration: Chi2Concentration = { voxels: 0, top: 0, share: 0 };
  o.stages.forEach((stage, si) => {
    const cutoff = o.outlier[Math.min(si, o.outlier.length - 1)]!;
    let previous = Infinity;
    let chi2 = Infinity;
    for (let it = 1; it <= o.maxIterations; it++) {
      const t0 = performance.now();
      st.merge();
      const mergeSeconds = (performance.now() - t0) / 1000;
      const fits: FitInfo[] = [];
      const names: ScaleFunctionName[] = stage === 'bc' ? ['c', 'b'] : [stage];
      for (const name of names) {
        fits.push(st.fit(name));
        st.fixGauge();
      }
      chi2 = st.chi2();
      history.push({ stage, iteration: it, chi2, rejected: st.rejectedCount });
      hooks.onIteration?.({ stage, iteration: it, chi2, rejected: st.rejectedCount, used: st.usedCount, fits, seconds: (performance.now() - t0) / 1000, mergeSeconds });
      if (!(previous - chi2 >= o.tolerance)) break;
      previous = chi2;
    }
    const c = chi2Concentration(st.voxelChi2());
    if (c.share > concentration.share) concentration = c;
    const now = st.reject(cutoff, chi2);
    hooks.onStage?.({ stage, cutoff, rejected: now });
  });
  const parameters = { a: 0, b: 0, c: 0, d: 0 };
  const nnz = { a: 0, b: 0, c: 0, d: 0 };
  for (const name of ['a', 'b', 'c', 'd'] as const) {
    parameters[name] = st.ev[name].parameters;
    nnz[name] = st.systems.get(name)?.nnz ?? 0;
  }
  return { model, history, rejected: st.rejected, stats: { observations: st.n, valid: nValid, voxels: st.voxels, parameters, nnz, chi2Concentration: concentration } };
}
