/**
 * Orientation geometry for the spot analysis, on plain row-major 3×3 arrays.
 *
 * - `misorientationDeg`: the rotation angle between two crystal settings M₁, M₂
 *   (lab-frame reciprocal setting matrices S·R(φ)·F·A, columns a*, b*, c*): the
 *   angle of the orthogonal polar factor of M₁·M₂⁻¹ (exactly U₁·U₂ᵀ when both
 *   share one cell), minimised over the proper rotations of the Laue group when
 *   given (M₂·G for each G acting on hkl describes the same crystal).
 * - `zoneAxisAngleDeg`: the angle between the beam and the nearest zone axis
 *   [uvw] (|u|,|v|,|w| ≤ maxIndex) of the crystal in setting M. The real-space
 *   axes a, b, c in the lab are the rows of M⁻¹, so the zone axis [uvw] points
 *   along (M⁻¹)ᵀ·(u, v, w). Axes are undirected: the angle is in [0°, 90°].
 * - `reciprocalMetric`: G* from the unit cell, 1/d² = hᵀ·G*·h.
 */
import type { UnitCell, Vec3 } from '../geometry/model.ts';
import type { IntMat3 } from './laue.ts';

const DEG = Math.PI / 180;

type M3 = ArrayLike<number>;

function mul(a: M3, b: M3, out = new Float64Array(9)): Float64Array {
  for (let i = 0; i < 3; i++) {
    for (let j = 0; j < 3; j++) out[3 * i + j] = a[3 * i]! * b[j]! + a[3 * i + 1]! * b[3 + j]! + a[3 * i + 2]! * b[6 + j]!;
  }
  return out;
}

function det(m: M3): number {
  return m[0]! * (m[4]! * m[8]! - m[5]! * m[7]!) - m[1]! * (m[3]! * m[8]! - m[5]! * m[6]!) + m[2]! * (m[3]! * m[7]! - m[4]! * m[6]!);
}

export function inverse3(m: M3): Float64Array {
  const d = det(m);
  const i = 1 / d;
  return Float64Array.of(
    (m[4]! * m[8]! - m[5]! * m[7]!) * i,
    (m[2]! * m[7]! - m[1]! * m[8]!) * i,
    (m[1]! * m[5]! - m[2]! * m[4]!) * i,
    (m[5]! * m[6]! - m[3]! * m[8]!) * i,
    (m[0]! * m[8]! - m[2]! * m[6]!) * i,
    (m[2]! * m[3]! - m[0]! * m[5]!) * i,
    (m[3]! * m[7]! - m[4]! * m[6]!) * i,
    (m[1]! * m[6]! - m[0]! * m[7]!) * i,
    (m[0]! * m[4]! - m[1]! * m[3]!) * i,
  );
}

/** Orthogonal polar factor of a non-singular 3×3 (Newton iteration R ← (R + R⁻ᵀ)/2). */
export function polarRotation(m: M3): Float64Array {
  let r = Float64Array.from(m as ArrayLike<number>);
  for (let it = 0; it < 30; it++) {
    const inv = inverse3(r);
    const next = new Float64Array(9);
    let change = 0;
    for (let i = 0; i < 3; i++) {
      for (let j = 0; j < 3; j++) {
        const v = 0.5 * (r[3 * i + j]! + inv[3 * j + i]!);
        change = Math.max(change, Math.abs(v - r[3 * i + j]!));
        next[3 * i + j] = v;
      }
    }
    r = next;
    if (change < 1e-14) break;
  }
  return r;
}

/** Rotation angle (degrees) of an orthogonal matrix, accurate near 0. */
export function rotationAngleDeg(r: M3): number {
  // sin-based form: |axis·sinθ| from the antisymmetric part, cosθ from the trace
  const x = r[7]! - r[5]!;
  const y = r[2]! - r[6]!;
  const z = r[3]! - r[1]!;
  const s = 0.5 * Math.hypot(x, y, z);
  const c = 0.5 * (r[0]! + r[4]! + r[8]! - 1);
  return Math.atan2(s, c) / DEG;
}

/**
 * Misorientation angle (degrees) between settings m1 and m2 (9 numbers each,
 * row-major), minimised over `hklRotations` (proper rotations on hkl; identity
 * assumed when empty).
 */
export function misorientationDeg(m1: M3, m2: M3, hklRotations: readonly IntMat3[] = []): number {
  const ops: readonly ArrayLike<number>[] = hklRotations.length > 0 ? hklRotations : [[1, 0, 0, 0, 1, 0, 0, 0, 1]];
  let best = Infinity;
  const tmp = new Float64Array(9);
  for (const g of ops) {
    const m2g = mul(m2, g, tmp);
    const r = polarRotation(mul(m1, inverse3(m2g)));
    best = Math.min(best, rotationAngleDeg(r));
  }
  return best;
}

/** The zone axes [uvw] with |u|,|v|,|w| ≤ maxIndex, one per direction (primitive, first non-zero positive). */
export function zoneAxes(maxIndex = 2): Int32Array {
  const out: number[] = [];
  const gcd = (a: number, b: number): number => (b === 0 ? Math.abs(a) : gcd(b, a % b));
  for (let u = -maxIndex; u <= maxIndex; u++) {
    for (let v = -maxIndex; v <= maxIndex; v++) {
      for (let w = -maxIndex; w <= maxIndex; w++) {
        if (u === 0 && v === 0 && w === 0) continue;
        if (gcd(gcd(u, v), w) !== 1) continue;
        const first = u !== 0 ? u : v !== 0 ? v : w;
        if (first < 0) continue;
        out.push(u, v, w);
      }
    }
  }
  return Int32Array.from(out);
}

/**
 * Angle (degrees) between the beam and the nearest zone axis of the crystal with
 * setting m; `axes` from `zoneAxes()`. Also returns which axis (index into axes/3).
 */
export function zoneAxisAngleDeg(m: M3, beam: Vec3, axes: Int32Array): { angle: number; axis: number } {
  const inv = inverse3(m); // rows: real-space a, b, c in the lab
  const bn = Math.hypot(beam[0], beam[1], beam[2]);
  let bestCos = -1;
  let best = -1;
  for (let t = 0; t < axes.length; t += 3) {
    const u = axes[t]!;
    const v = axes[t + 1]!;
    const w = axes[t + 2]!;
    const x = u * inv[0]! + v * inv[3]! + w * inv[6]!;
    const y = u * inv[1]! + v * inv[4]! + w * inv[7]!;
    const z = u * inv[2]! + v * inv[5]! + w * inv[8]!;
    const c = Math.abs(x * beam[0] + y * beam[1] + z * beam[2]) / (Math.hypot(x, y, z) * bn);
    if (c > bestCos) {
      bestCos = c;
      best = t / 3;
    }
  }
  return { angle: Math.acos(Math.min(1, bestCos)) / DEG, axis: best };
}

/** Reciprocal metric G* (row-major) of a unit cell (Å, degrees). */
export function reciprocalMetric(cell: UnitCell): Float64Array {
  const ca = Math.cos(cell.alpha * DEG);
  const cb = Math.cos(cell.beta * DEG);
  const cg = Math.cos(cell.gamma * DEG);
  const g = Float64Array.of(
    cell.a * cell.a, cell.a * cell.b * cg, cell.a * cell.c * cb,
    cell.a * cell.b * cg, cell.b * cell.b, cell.b * cell.c * ca,
    cell.a * cell.c * cb, cell.b * cell.c * ca, cell.c * cell.c,
  );
  return inverse3(g);
}

/** d-spacing (Å) of (h, k, l) under reciprocal metric gs. */
export function dSpacing(gs: M3, h: number, k: number, l: number): number {
  const q = h * (gs[0]! * h + gs[1]! * k + gs[2]! * l) + k * (gs[3]! * h + gs[4]! * k + gs[5]! * l) + l * (gs[6]! * h + gs[7]! * k + gs[8]! * l);
  return q > 0 ? 1 / Math.sqrt(q) : Number.POSITIVE_INFINITY;
}
