/**
 * Regular-grid functions behind the scale model: node placement, multilinear
 * interpolation (the 2^D "taps" of a point), and the slot layout of the
 * sparse normal matrix of a grid (data couplings reach ±1 node along every
 * axis, second-difference penalties ±2 along one axis).
 *
 * Values are stored first axis fastest (Fortran order, as mdx2):
 * index = i0 + n0·(i1 + n1·i2).
 */
import { InvalidValueError, invariant } from '../errors.ts';

/**
 * Stated limits on scale-grid sizes, checked before anything is allocated: at
 * most MAX_GRID_NODES nodes along an axis given by count (a, c, d grids: the
 * a grid's normal matrix has 27 slots per node, so 100³ nodes ≈ 220 MB), b(φ)
 * control points no closer than MIN_B_STEP_DEG, and never more than
 * MAX_AXIS_NODES along an axis placed by step.
 */
export const MAX_GRID_NODES = 100;
export const MIN_B_STEP_DEG = 0.01;
export const MAX_AXIS_NODES = 1_000_000;

/** One grid of a scale function: the nodes along each axis (increasing, ≥ 2 each) and the values. */
export interface ScaleGrid {
  /** sweep (functions b, a, c) or panel (function d) the grid belongs to */
  key: number;
  axes: Float64Array[];
  values: Float64Array;
}

/** `n` evenly spaced nodes from lo to hi (inclusive). */
export function linspace(lo: number, hi: number, n: number): Float64Array {
  invariant(n >= 2 && hi > lo, `linspace(${lo}, ${hi}, ${n})`);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = i === n - 1 ? hi : lo + ((hi - lo) * i) / (n - 1);
  return out;
}

/**
 * Nodes over the data range [min, max]: the limits rounded outwards to whole
 * units when `integerLimits` (as mdx2), `count` nodes when given, otherwise as
 * many as give a spacing of about `step`. Always ≥ 2 nodes over a non-empty span.
 */
export function axisNodes(min: number, max: number, opts: { count?: number; step?: number; integerLimits: boolean; minSpan?: number }): Float64Array {
  let lo = min;
  let hi = max;
  if (opts.integerLimits) {
    lo = Math.floor(lo);
    hi = Math.ceil(hi);
  }
  const minSpan = opts.minSpan ?? 1;
  if (!(hi - lo > minSpan * 1e-6)) hi = lo + minSpan;
  let n = opts.count;
  if (n === undefined) {
    const step = opts.step ?? (hi - lo);
    n = Math.round((hi - lo) / step) + 1;
  }
  if (!(n <= MAX_AXIS_NODES)) throw new InvalidValueError(`a scale grid of ${n} nodes over [${lo}, ${hi}] exceeds the limit of ${MAX_AXIS_NODES} nodes along an axis (step ${opts.step ?? 'none'} too small)`, { field: 'step' });
  return linspace(lo, hi, Math.max(2, n));
}

/**
 * Fractional node index of `v` on increasing `nodes`, clamped to the grid:
 * values outside the node range take the edge value (NaN reads as the first node).
 */
export function fractionalIndex(nodes: Float64Array, v: number): number {
  const n = nodes.length;
  if (n < 2 || !(v > nodes[0]!)) return 0;
  if (v >= nodes[n - 1]!) return n - 1;
  let lo = 0;
  let hi = n - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (nodes[mid]! <= v) lo = mid;
    else hi = mid;
  }
  return lo + (v - nodes[lo]!) / (nodes[hi]! - nodes[lo]!);
}

export function gridStrides(axes: readonly Float64Array[]): number[] {
  const s: number[] = [];
  let acc = 1;
  for (const ax of axes) {
    s.push(acc);
    acc *= ax.length;
  }
  return s;
}

export function gridSize(axes: readonly Float64Array[]): number {
  return axes.reduce((n, ax) => n * ax.length, 1);
}

/**
 * The taps of point `coords` on a grid: writes 2^D node indices (relative to
 * the grid) and weights into idx/w, tap t taking the upper node along axis k
 * when bit k of t is set. Returns the tap count.
 */
export function gridTaps(axes: readonly Float64Array[], strides: readonly number[], coords: ArrayLike<number>, idx: Int32Array, w: Float64Array): number {
  const D = axes.length;
  idx[0] = 0;
  w[0] = 1;
  let count = 1;
  for (let k = 0; k < D; k++) {
    const nodes = axes[k]!;
    const p = fractionalIndex(nodes, coords[k]!);
    const cell = Math.min(Math.floor(p), nodes.length - 2);
    const f = p - cell;
    const s = strides[k]!;
    for (let t = 0; t < count; t++) {
      const i0 = idx[t]! + cell * s;
      const w0 = w[t]!;
      idx[t] = i0;
      w[t] = w0 * (1 - f);
      idx[t + count] = i0 + s;
      w[t + count] = w0 * f;
    }
    count *= 2;
  }
  return count;
}

/** Value of a grid at a point. */
export function gridValue(grid: ScaleGrid, coords: ArrayLike<number>): number {
  const idx = new Int32Array(8);
  const w = new Float64Array(8);
  const n = gridTaps(grid.axes, gridStrides(grid.axes), coords, idx, w);
  let v = 0;
  for (let t = 0; t < n; t++) v += w[t]! * grid.values[idx[t]!]!;
  return v;
}

/**
 * Slots of one row of the normal matrix of a D-dimensional grid: every node
 * offset in {−1, 0, 1}^D (data couplings inside a cell) plus ±2 along each
 * axis (second-difference penalties): 3^D + 2D slots.
 */
export interface SlotLayout {
  D: number;
  S: number;
  /** offset vectors, slot-major (S × D) */
  offsets: Int8Array;
  /** slot of offset vector o: code Σ (o_k + 2)·5^k → slot, −1 when not a slot */
  slotOfCode: Int16Array;
  /** slot of the column of tap u in the row of tap t: pairSlot[t·T + u], T = 2^D */
  pairSlot: Int16Array;
  /** slot of the diagonal */
  diagonal: number;
}

export function slotCode(o: ArrayLike<number>): number {
  let code = 0;
  let m = 1;
  for (let k = 0; k < o.length; k++) {
    code += (o[k]! + 2) * m;
    m *= 5;
  }
  return code;
}

export function slotLayout(D: number): SlotLayout {
  const list: number[][] = [];
  const cube = 3 ** D;
  for (let c = 0; c < cube; c++) {
    const o: number[] = [];
    let r = c;
    for (let k = 0; k < D; k++) {
      o.push((r % 3) - 1);
      r = Math.floor(r / 3);
    }
    list.push(o);
  }
  for (let k = 0; k < D; k++) {
    for (const s of [-2, 2]) {
      const o = new Array<number>(D).fill(0);
      o[k] = s;
      list.push(o);
    }
  }
  const S = list.length;
  const offsets = new Int8Array(S * D);
  const slotOfCode = new Int16Array(5 ** D).fill(-1);
  list.forEach((o, s) => {
    offsets.set(o, s * D);
    slotOfCode[slotCode(o)] = s;
  });
  const T = 2 ** D;
  const pairSlot = new Int16Array(T * T);
  const o = new Array<number>(D).fill(0);
  for (let t = 0; t < T; t++) {
    for (let u = 0; u < T; u++) {
      for (let k = 0; k < D; k++) o[k] = ((u >> k) & 1) - ((t >> k) & 1);
      pairSlot[t * T + u] = slotOfCode[slotCode(o)]!;
    }
  }
  return { D, S, offsets, slotOfCode, pairSlot, diagonal: slotOfCode[slotCode(new Array<number>(D).fill(0))]! };
}
