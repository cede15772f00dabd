/**
 * The sparse solvers against dense references: PCG on a grid system, and
 * the active-set solver for x ≥ 0 against brute-force enumeration of the
 * active sets of a small problem.
 */
import { describe, expect, it } from 'vitest';
import { gridValue, GridSystem, pcg, solveBounded, type Csr } from '../../src/scaling/index.ts';
import { mulberry32 } from '../../src/util/random.ts';

function dense(A: Csr): number[][] {
  const M = Array.from({ length: A.n }, () => new Array<number>(A.n).fill(0));
  for (let i = 0; i < A.n; i++) for (let p = A.rowPtr[i]!; p < A.rowPtr[i + 1]!; p++) M[i]![A.col[p]!] = A.val[p]!;
  return M;
}

/** Gaussian elimination with partial pivoting. */
function solveDense(M: number[][], b: number[]): number[] {
  const n = b.length;
  const A = M.map((r, i) => [...r, b[i]!]);
  for (let k = 0; k < n; k++) {
    let p = k;
    for (let i = k + 1; i < n; i++) if (Math.abs(A[i]![k]!) > Math.abs(A[p]![k]!)) p = i;
    [A[k], A[p]] = [A[p]!, A[k]!];
    for (let i = k + 1; i < n; i++) {
      const f = A[i]![k]! / A[k]![k]!;
      for (let j = k; j <= n; j++) A[i]![j]! -= f * A[k]![j]!;
    }
  }
  const x = new Array<number>(n).fill(0);
  for (let i = n - 1; i >= 0; i--) {
    let s = A[i]![n]!;
    for (let j = i + 1; j < n; j++) s -= A[i]![j]! * x[j]!;
    x[i] = s / A[i]![i]!;
  }
  return x;
}

/** A 2-D grid system filled with random observations and a smoothness penalty. */
function randomSystem(seed: number): GridSystem {
  const u = mulberry32(seed);
  const axes = [Float64Array.from([0, 1, 2, 3, 4]), Float64Array.from([0, 2, 4, 6])];
  const sys = new GridSystem([{ axes }], 2);
  const idx = new Int32Array(8);
  const w = new Float64Array(8);
  for (let k = 0; k < 200; k++) {
    const x = u() * 4;
    const y = u() * 6;
    // taps of the point, as the evaluator computes them
    const probe = { key: 0, axes, values: new Float64Array(20) };
    let T = 0;
    for (let j = 0; j < 20; j++) {
      probe.values.fill(0);
      probe.values[j] = 1;
      const v = gridValue(probe, [x, y]);
      if (v !== 0) {
        idx[T] = j;
        w[T] = v;
        T++;
      }
    }
    const g = 0.5 + u();
    const t = Math.sin(x) + y * 0.3 - 0.8 + 0.1 * (u() - 0.5);
    sys.addObservation(idx, w, T, g * g, g * t * g);
  }
  sys.addSecondDifferences(0, 0.5);
  sys.addSecondDifferences(1, 0.5);
  return sys;
}

describe('sparse solvers', () => {
  it('PCG matches dense elimination', () => {
    const sys = randomSystem(1);
    const x = new Float64Array(sys.n);
    const info = pcg(sys.matrix, sys.rhs, x, { tolerance: 1e-12, maxIterations: 1000 });
    const ref = solveDense(dense(sys.matrix), Array.from(sys.rhs));
    expect(info.residual).toBeLessThan(1e-11);
    for (let i = 0; i < sys.n; i++) expect(x[i]).toBeCloseTo(ref[i]!, 8);
    expect(ref.some((v) => v < -0.1)).toBe(true); // the unconstrained solution goes negative
  });

  it('the bounded solver finds the x ≥ 0 optimum (checked against every active set)', () => {
    // small problem: the first 8 unknowns of a random system (Schur-free principal block)
    const sys = randomSystem(2);
    const n = 8;
    const M = dense(sys.matrix).slice(0, n).map((r) => r.slice(0, n));
    const b = Array.from(sys.rhs.slice(0, n), (v, i) => v - 0.6 * M[i]![i]!);
    const rowPtr = new Int32Array(n + 1);
    const col: number[] = [];
    const val: number[] = [];
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) if (M[i]![j] !== 0) {
        col.push(j);
        val.push(M[i]![j]!);
      }
      rowPtr[i + 1] = col.length;
    }
    const A: Csr = { n, rowPtr, col: Int32Array.from(col), val: Float64Array.from(val) };
    const objective = (x: ArrayLike<number>): number => {
      let s = 0;
      for (let i = 0; i < n; i++) {
        let Ax = 0;
        for (let j = 0; j < n; j++) Ax += M[i]![j]! * x[j]!;
        s += 0.5 * x[i]! * Ax - b[i]! * x[i]!;
      }
      return s;
    };
    let best = Infinity;
    for (let mask = 0; mask < 1 << n; mask++) {
      const free = [...Array(n).keys()].filter((i) => (mask >> i) & 1);
      const x = new Array<number>(n).fill(0);
      if (free.length > 0) {
        const xf = solveDense(free.map((i) => free.map((j) => M[i]![j]!)), free.map((i) => b[i]!));
        free.forEach((i, k) => (x[i] = xf[k]!));
      }
      if (x.every((v) => v >= -1e-12)) best = Math.min(best, objective(x));
    }
    const x = new Float64Array(n);
    const r = solveBounded(A, Float64Array.from(b), x, 0, { tolerance: 1e-13, maxIterations: 500 });
    expect(r.pinned).toBeGreaterThan(0);
    for (const v of x) expect(v).toBeGreaterThanOrEqual(0);
    expect(objective(x)).toBeCloseTo(best, 9);
  });
});
