/**
 * Sparse normal equations of one scale function and their solvers.
 *
 * The matrix structure depends only on the grids (never on the observations):
 * one CSR row per grid node, holding the nodes it can couple to — every
 * offset in {−1, 0, 1}^D (two nodes of one interpolation cell) and ±2 along
 * each axis (second-difference penalties), cut at the grid edges. So nnz ≤
 * (3^D + 2D)·parameters whatever the number of observations, and the
 * observation loop adds each observation's 2^D × 2^D block in place through
 * a precomputed (row, slot) → CSR position table.
 *
 * Solvers: Jacobi-preconditioned conjugate gradient (fixed operation order,
 * so results are bit-reproducible), and for bound-constrained functions
 * (c ≥ 0) an active-set method: solve on the free set by PCG, pin the
 * variables that went negative at 0, release pinned variables whose gradient
 * points into the feasible region, repeat until the KKT conditions hold.
 */
import { gridStrides, slotLayout, type SlotLayout } from './grid.ts';

export interface Csr {
  n: number;
  rowPtr: Int32Array;
  /** column indices, increasing within each row */
  col: Int32Array;
  val: Float64Array;
}

interface Block {
  offset: number;
  dims: number[];
  strides: number[];
}

/** The normal equations Nx = r of one scale function over its grids (all of dimension D). */
export class GridSystem {
  readonly layout: SlotLayout;
  readonly n: number;
  readonly matrix: Csr;
  readonly rhs: Float64Array;
  readonly blocks: readonly Block[];
  /** CSR position of (row, slot): position[row·S + slot], −1 outside the grid */
  private readonly position: Int32Array;
  private readonly diagPos: Int32Array;

  constructor(grids: readonly { axes: readonly Float64Array[] }[], D: number) {
    this.layout = slotLayout(D);
    const { S, offsets } = this.layout;
    const blocks: Block[] = [];
    let n = 0;
    for (const g of grids) {
      const dims = g.axes.map((a) => a.length);
      blocks.push({ offset: n, dims, strides: gridStrides(g.axes as Float64Array[]) });
      n += dims.reduce((p, v) => p * v, 1);
    }
    this.blocks = blocks;
    this.n = n;
    const position = new Int32Array(n * S).fill(-1);
    const rowPtr = new Int32Array(n + 1);
    const colTmp: number[] = [];
    const rowCols: [number, number][] = [];
    const m = new Array<number>(D).fill(0);
    for (const b of blocks) {
      const size = b.dims.reduce((p, v) => p * v, 1);
      for (let j = 0; j < size; j++) {
        let r = j;
        for (let k = 0; k < D; k++) {
          m[k] = r % b.dims[k]!;
          r = Math.floor(r / b.dims[k]!);
        }
        const row = b.offset + j;
        rowCols.length = 0;
        for (let s = 0; s < S; s++) {
          let inside = true;
          let col = row;
          for (let k = 0; k < D; k++) {
            const o = offsets[s * D + k]!;
            const mk = m[k]! + o;
            if (mk < 0 || mk >= b.dims[k]!) {
              inside = false;
              break;
            }
            col += o * b.strides[k]!;
          }
          if (inside) rowCols.push([col, s]);
        }
        rowCols.sort((x, y) => x[0] - y[0]);
        for (const [col, s] of rowCols) {
          position[row * S + s] = colTmp.length;
          colTmp.push(col);
        }
        rowPtr[row + 1] = colTmp.length;
      }
    }
    this.position = position;
    this.matrix = { n, rowPtr, col: Int32Array.from(colTmp), val: new Float64Array(colTmp.length) };
    this.rhs = new Float64Array(n);
    this.diagPos = new Int32Array(n);
    for (let j = 0; j < n; j++) this.diagPos[j] = position[j * S + this.layout.diagonal]!;
  }

  get nnz(): number {
    return this.matrix.col.length;
  }

  reset(): void {
    this.matrix.val.fill(0);
    this.rhs.fill(0);
  }

  /**
   * Adds one observation: taps (global node indices idx, weights w, count T =
   * 2^D), row weight W = (g/σ)² and right-hand weight R = g·t/σ² of the
   * residual (t − g·Σ w_k u_k)/σ.
   */
  addObservation(idx: Int32Array, w: Float64Array, T: number, W: number, R: number): void {
    const S = this.layout.S;
    const pair = this.layout.pairSlot;
    const val = this.matrix.val;
    const pos = this.position;
    for (let t = 0; t < T; t++) {
      const wt = w[t]!;
      if (wt === 0) continue;
      const row = idx[t]!;
      this.rhs[row]! += R * wt;
      const base = row * S;
      const Wt = W * wt;
      for (let u = 0; u < T; u++) val[pos[base + pair[t * T + u]!]!]! += Wt * w[u]!;
    }
  }

  /** Σ diag(N). */
  trace(): number {
    let s = 0;
    for (let j = 0; j < this.n; j++) s += this.matrix.val[this.diagPos[j]!]!;
    return s;
  }

  /**
   * Second differences (−½, 1, −½) along grid axis `axis` at every interior
   * node, as rows R of a penalty weight·RᵀR added to N. Returns tr(RᵀR) of
   * those rows (1.5 per row), whatever the weight.
   */
  addSecondDifferences(axis: number, weight: number): number {
    const { S, slotOfCode, D } = this.layout;
    const coef = [-0.5, 1, -0.5];
    const codes: number[] = [];
    for (let d = -2; d <= 2; d++) {
      const o = new Array<number>(D).fill(0);
      o[axis] = d;
      let code = 0;
      let mult = 1;
      for (let k = 0; k < D; k++) {
        code += (o[k]! + 2) * mult;
        mult *= 5;
      }
      codes.push(slotOfCode[code]!);
    }
    let rows = 0;
    for (const b of this.blocks) {
      const n = b.dims[axis]!;
      const s = b.strides[axis]!;
      const size = b.dims.reduce((p, v) => p * v, 1);
      for (let j = 0; j < size; j++) {
        const mk = Math.floor(j / s) % n;
        if (mk < 1 || mk > n - 2) continue;
        rows++;
        const nodes = [j - s, j, j + s];
        for (let p = 0; p < 3; p++) {
          const row = b.offset + nodes[p]!;
          for (let q = 0; q < 3; q++) {
            const slot = codes[q - p + 2]!;
            this.matrix.val[this.position[row * S + slot]!]! += weight * coef[p]! * coef[q]!;
          }
        }
      }
    }
    return rows * 1.5;
  }

  /** Adds weight·(u − target)² per node (target 0 when absent): a ridge or a proximal term. */
  addDiagonal(weight: number, target?: Float64Array): void {
    for (let j = 0; j < this.n; j++) {
      this.matrix.val[this.diagPos[j]!]! += weight;
      if (target !== undefined) this.rhs[j]! += weight * target[j]!;
    }
  }

  diagonal(): Float64Array {
    const d = new Float64Array(this.n);
    for (let j = 0; j < this.n; j++) d[j] = this.matrix.val[this.diagPos[j]!]!;
    return d;
  }
}

export function csrMultiply(A: Csr, x: Float64Array, out: Float64Array): void {
  const { rowPtr, col, val } = A;
  for (let i = 0; i < A.n; i++) {
    let s = 0;
    for (let p = rowPtr[i]!; p < rowPtr[i + 1]!; p++) s += val[p]! * x[col[p]!]!;
    out[i] = s;
  }
}

export interface SolveInfo {
  iterations: number;
  /** ‖r‖ / ‖b‖ on the free variables at exit */
  residual: number;
}

/**
 * Jacobi-preconditioned CG for A x = b, starting from x (updated in place).
 * Variables with free[j] = 0 are held at their value in x.
 */
export function pcg(A: Csr, b: Float64Array, x: Float64Array, opts: { tolerance: number; maxIterations: number; free?: Uint8Array }): SolveInfo {
  const n = A.n;
  const free = opts.free;
  const r = new Float64Array(n);
  const z = new Float64Array(n);
  const p = new Float64Array(n);
  const q = new Float64Array(n);
  const inv = new Float64Array(n);
  const { rowPtr, col, val } = A;
  for (let i = 0; i < n; i++) {
    for (let k = rowPtr[i]!; k < rowPtr[i + 1]!; k++) {
      if (col[k] === i) inv[i] = val[k]! > 0 ? 1 / val[k]! : 1;
    }
    if (free !== undefined && free[i] === 0) inv[i] = 0;
  }
  csrMultiply(A, x, q);
  let bn = 0;
  for (let i = 0; i < n; i++) {
    const m = free === undefined || free[i] === 1 ? 1 : 0;
    r[i] = m * (b[i]! - q[i]!);
    bn += m * b[i]! * b[i]!;
  }
  bn = Math.sqrt(bn);
  const stop = opts.tolerance * (bn > 0 ? bn : 1);
  let rz = 0;
  let rn = 0;
  for (let i = 0; i < n; i++) {
    z[i] = inv[i]! * r[i]!;
    p[i] = z[i]!;
    rz += r[i]! * z[i]!;
    rn += r[i]! * r[i]!;
  }
  let it = 0;
  while (Math.sqrt(rn) > stop && it < opts.maxIterations && rz > 0) {
    csrMultiply(A, p, q);
    let pq = 0;
    for (let i = 0; i < n; i++) {
      if (inv[i] === 0) q[i] = 0;
      pq += p[i]! * q[i]!;
    }
    if (!(pq > 0)) break;
    const alpha = rz / pq;
    rn = 0;
    let rzNew = 0;
    for (let i = 0; i < n; i++) {
      x[i]! += alpha * p[i]!;
      r[i]! -= alpha * q[i]!;
      z[i] = inv[i]! * r[i]!;
      rzNew += r[i]! * z[i]!;
      rn += r[i]! * r[i]!;
    }
    const beta = rzNew / rz;
    rz = rzNew;
    for (let i = 0; i < n; i++) p[i] = z[i]! + beta * p[i]!;
    it++;
  }
  return { iterations: it, residual: Math.sqrt(rn) / (bn > 0 ? bn : 1) };
}

/**
 * min ½xᵀAx − bᵀx subject to x ≥ lower, by an active set with PCG inner
 * solves (block moves: every violating variable is pinned at once, every
 * pinned variable with a descent gradient is released at once).
 */
export function solveBounded(A: Csr, b: Float64Array, x: Float64Array, lower: number, opts: { tolerance: number; maxIterations: number; maxRounds?: number }): SolveInfo & { pinned: number } {
  const n = A.n;
  const free = new Uint8Array(n).fill(1);
  for (let i = 0; i < n; i++) {
    if (!(x[i]! >= lower)) {
      x[i] = lower;
      free[i] = 0;
    }
  }
  let bmax = 0;
  for (let i = 0; i < n; i++) bmax = Math.max(bmax, Math.abs(b[i]!));
  const gtol = 1e-9 * (bmax > 0 ? bmax : 1);
  const g = new Float64Array(n);
  let iterations = 0;
  let residual = 0;
  const rounds = opts.maxRounds ?? 50;
  for (let round = 0; round < rounds; round++) {
    const info = pcg(A, b, x, { ...opts, free });
    iterations += info.iterations;
    residual = info.residual;
    let pinned = 0;
    for (let i = 0; i < n; i++) {
      if (free[i] === 1 && x[i]! < lower) {
        x[i] = lower;
        free[i] = 0;
        pinned++;
      }
    }
    if (pinned > 0) continue;
    csrMultiply(A, x, g);
    let released = 0;
    for (let i = 0; i < n; i++) {
      if (free[i] === 0 && g[i]! - b[i]! < -gtol) {
        free[i] = 1;
        released++;
      }
    }
    if (released === 0) break;
  }
  let pinned = 0;
  for (let i = 0; i < n; i++) pinned += 1 - free[i]!;
  return { iterations, residual, pinned };
}
