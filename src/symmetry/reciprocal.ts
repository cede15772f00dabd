/**
 * Reciprocal-space symmetry: the Laue group acting on Miller indices, the
 * reciprocal asymmetric unit (CCP4 conventions), orbits, multiplicities and
 * systematic absences. Everything here works for any integer triple, so it
 * applies unchanged to "fine" subvoxel indices H·n + dh.
 *
 * Conventions: a Miller index is a row vector; the Laue group acts as
 * h' = h·R with R the direct-space rotation parts (plus −R for Friedel mates).
 * F(h·R) = F(h)·exp(−2πi h·t) for an operation (R, t) — |F| is invariant.
 */
import { ops12 } from './group.ts';
import { IDENTITY, negate } from './hall.ts';
import type { IntMat3, LaueClass, SpaceGroup } from './types.ts';

type Pred = (h: number, k: number, l: number) => boolean;

/**
 * CCP4 reciprocal ASUs (csymlib.c ASU_1b … ASU_m3bm, the same tests as gemmi's
 * ReciprocalAsu and cctbx's CCP4 ASUs), plus the two monoclinic variants with
 * unique axis a or c used for non-standard monoclinic settings.
 */
const ASU: Record<string, Pred> = {
  '-1': (h, k, l) => l > 0 || (l === 0 && (h > 0 || (h === 0 && k >= 0))),
  '2/m': (h, k, l) => k >= 0 && (l > 0 || (l === 0 && h >= 0)),
  '2/m:c': (h, k, l) => l >= 0 && (h > 0 || (h === 0 && k >= 0)),
  '2/m:a': (h, k, l) => h >= 0 && (k > 0 || (k === 0 && l >= 0)),
  mmm: (h, k, l) => h >= 0 && k >= 0 && l >= 0,
  '4/m': (h, k, l) => l >= 0 && ((h >= 0 && k > 0) || (h === 0 && k === 0)),
  '4/mmm': (h, k, l) => h >= k && k >= 0 && l >= 0,
  '-3': (h, k, l) => (h >= 0 && k > 0) || (h === 0 && k === 0 && l >= 0),
  '-3m:312': (h, k, l) => h >= k && k >= 0 && (k > 0 || l >= 0),
  '-3m:321': (h, k, l) => h >= k && k >= 0 && (h > k || l >= 0),
  '6/m': (h, k, l) => l >= 0 && ((h >= 0 && k > 0) || (h === 0 && k === 0)),
  '6/mmm': (h, k, l) => h >= k && k >= 0 && l >= 0,
  'm-3': (h, k, l) => h >= 0 && ((l >= h && k > h) || (l === h && k === h)),
  'm-3m': (h, k, l) => h >= 0 && k >= l && l >= h,
};

/** Candidate ASU tests per Laue class, tried in order. */
const CANDIDATES: Record<LaueClass, string[]> = {
  '-1': ['-1'],
  '2/m': ['2/m', '2/m:c', '2/m:a'],
  mmm: ['mmm'],
  '4/m': ['4/m'],
  '4/mmm': ['4/mmm'],
  '-3': ['-3'],
  '-3m': ['-3m:312', '-3m:321'],
  '6/m': ['6/m'],
  '6/mmm': ['6/mmm'],
  'm-3': ['m-3'],
  'm-3m': ['m-3m'],
};

/**
 * Linear forms whose signs decide ASU membership; each family's set is mapped
 * onto itself (up to sign) by the Laue groups of the standard settings.
 */
type Family = 'ortho' | 'tetra' | 'hexa' | 'cubic';
const FORMS: Record<Family, readonly (readonly [number, number, number])[]> = {
  ortho: [[1, 0, 0], [0, 1, 0], [0, 0, 1]],
  tetra: [[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, -1, 0], [1, 1, 0]],
  hexa: [[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, -1, 0], [1, 1, 0], [2, 1, 0], [1, 2, 0]],
  cubic: [[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, -1, 0], [1, 1, 0], [0, 1, -1], [0, 1, 1], [1, 0, -1], [1, 0, 1]],
};
const FAMILY: Record<LaueClass, Family> = {
  '-1': 'ortho', '2/m': 'ortho', mmm: 'ortho', '4/m': 'tetra', '4/mmm': 'tetra',
  '-3': 'hexa', '-3m': 'hexa', '6/m': 'hexa', '6/mmm': 'hexa', 'm-3': 'cubic', 'm-3m': 'cubic',
};

interface ReciprocalData {
  ops: readonly IntMat3[];
  /** ops flattened, 9 per op */
  flat: Int32Array;
  /** name of the ASU test in use, or 'canonical' for the fallback */
  asuName: string;
  inAsu: Pred;
  mapper: (h: number, k: number, l: number, out: Int32Array) => void;
  /** for absences: rotation parts and twelfths translations of all ops */
  absence: { r: Int32Array; t: Int32Array; n: number };
}

const DATA = new WeakMap<SpaceGroup, ReciprocalData>();

function data(g: SpaceGroup): ReciprocalData {
  let d = DATA.get(g);
  if (d === undefined) {
    d = buildData(g);
    DATA.set(g, d);
  }
  return d;
}

/** h·R for the op at flat offset b. */
function apply(flat: Int32Array, b: number, h: number, k: number, l: number, out: Int32Array): void {
  out[0] = h * flat[b]! + k * flat[b + 3]! + l * flat[b + 6]!;
  out[1] = h * flat[b + 1]! + k * flat[b + 4]! + l * flat[b + 7]!;
  out[2] = h * flat[b + 2]! + k * flat[b + 5]! + l * flat[b + 8]!;
}

function lexGreater(a0: number, a1: number, a2: number, b0: number, b1: number, b2: number): boolean {
  return a0 !== b0 ? a0 > b0 : a1 !== b1 ? a1 > b1 : a2 > b2;
}

function buildData(g: SpaceGroup): ReciprocalData {
  // Laue group: distinct rotation parts in op order, then their negatives
  const seen = new Set<string>();
  const ops: IntMat3[] = [];
  const add = (r: IntMat3): void => {
    const key = r.join(',');
    if (!seen.has(key)) {
      seen.add(key);
      ops.push(r);
    }
  };
  add(IDENTITY);
  const o12 = ops12(g);
  for (const o of o12) add(o.r);
  const proper = [...ops];
  for (const r of proper) add(negate(r));
  const n = ops.length;
  const flat = new Int32Array(9 * n);
  ops.forEach((r, i) => flat.set(r, 9 * i));

  const absence = {
    r: new Int32Array(9 * o12.length),
    t: new Int32Array(3 * o12.length),
    n: o12.length,
  };
  o12.forEach((o, i) => {
    absence.r.set(o.r, 9 * i);
    absence.t.set(o.t, 3 * i);
  });

  const family = FAMILY[g.laueClass];
  const forms = FORMS[family];
  // the form set must be invariant (up to sign) under the Laue group: R·c = ±c'
  const formKeys = new Set(forms.flatMap((c) => [c.join(','), c.map((x) => -x).join(',')]));
  const invariant = ops.every((r) =>
    forms.every((c) => formKeys.has([0, 1, 2].map((i) => r[3 * i]! * c[0] + r[3 * i + 1]! * c[1] + r[3 * i + 2]! * c[2]).join(','))),
  );
  let asuName = 'canonical';
  let pred: Pred | null = null;
  if (invariant) {
    for (const name of CANDIDATES[g.laueClass]) {
      if (selectsOnePerOrbit(ASU[name]!, flat, n, 4)) {
        asuName = name;
        pred = ASU[name]!;
        break;
      }
    }
  }
  const tmp = new Int32Array(3);
  if (pred === null) {
    // fallback: the orbit member that is largest in lexicographic (h, k, l) order
    const canonical = (h: number, k: number, l: number, out: Int32Array): void => {
      let best = 0;
      let b0 = h;
      let b1 = k;
      let b2 = l;
      for (let i = 1; i < n; i++) {
        apply(flat, 9 * i, h, k, l, tmp);
        if (lexGreater(tmp[0]!, tmp[1]!, tmp[2]!, b0, b1, b2)) {
          best = i;
          b0 = tmp[0]!;
          b1 = tmp[1]!;
          b2 = tmp[2]!;
        }
      }
      out[0] = b0;
      out[1] = b1;
      out[2] = b2;
      out[3] = best;
    };
    const out4 = new Int32Array(4);
    const inAsu: Pred = (h, k, l) => {
      canonical(h, k, l, out4);
      return out4[0] === h && out4[1] === k && out4[2] === l;
    };
    return { ops, flat, asuName, inAsu, mapper: canonical, absence };
  }
  const p = pred;
  // brute force: the first op (in list order) whose image lies in the ASU
  const firstOp = (h: number, k: number, l: number): number => {
    for (let i = 0; i < n; i++) {
      apply(flat, 9 * i, h, k, l, tmp);
      if (p(tmp[0]!, tmp[1]!, tmp[2]!)) return i;
    }
    throw new Error(`internal invariant failed: no image of (${h},${k},${l}) in the ASU of ${g.hall}`);
  };
  return { ops, flat, asuName, inAsu: p, mapper: signatureMapper(family, flat, firstOp), absence };
}

/** Checks on the box |h|,|k|,|l| ≤ r that every orbit has exactly one member in the ASU. */
function selectsOnePerOrbit(p: Pred, flat: Int32Array, n: number, r: number): boolean {
  const tmp = new Int32Array(3);
  for (let h = -r; h <= r; h++) {
    for (let k = -r; k <= r; k++) {
      for (let l = -r; l <= r; l++) {
        const members = new Set<string>();
        let inside = 0;
        for (let i = 0; i < n; i++) {
          apply(flat, 9 * i, h, k, l, tmp);
          const key = `${tmp[0]},${tmp[1]},${tmp[2]}`;
          if (members.has(key)) continue;
          members.add(key);
          if (p(tmp[0]!, tmp[1]!, tmp[2]!)) inside++;
        }
        if (inside !== 1) return false;
      }
    }
  }
  return true;
}

/**
 * The fast mapper. The signs of the family's linear forms put (h, k, l) in a
 * cell of a hyperplane arrangement that the Laue group permutes and on which
 * the ASU test is constant, so the op that maps into the ASU depends on the
 * cell only: it is found once per cell (brute force) and cached by the sign
 * pattern. A call costs the forms, one table read and the 3×3 product.
 */
function signatureMapper(
  family: Family,
  flat: Int32Array,
  firstOp: (h: number, k: number, l: number) => number,
): (h: number, k: number, l: number, out: Int32Array) => void {
  const nForms = FORMS[family].length;
  const table = new Int16Array(3 ** nForms).fill(-1);
  const s = (x: number): number => (x > 0 ? 2 : x < 0 ? 0 : 1);
  const finish = (idx: number, h: number, k: number, l: number, out: Int32Array): void => {
    let op = table[idx]!;
    if (op < 0) {
      op = firstOp(h, k, l);
      table[idx] = op;
    }
    const b = 9 * op;
    out[0] = h * flat[b]! + k * flat[b + 3]! + l * flat[b + 6]!;
    out[1] = h * flat[b + 1]! + k * flat[b + 4]! + l * flat[b + 7]!;
    out[2] = h * flat[b + 2]! + k * flat[b + 5]! + l * flat[b + 8]!;
    out[3] = op;
  };
  switch (family) {
    case 'ortho':
      return (h, k, l, out) => finish(s(h) * 9 + s(k) * 3 + s(l), h, k, l, out);
    case 'tetra':
      return (h, k, l, out) => finish(((s(h) * 3 + s(k)) * 3 + s(l)) * 9 + s(h - k) * 3 + s(h + k), h, k, l, out);
    case 'hexa':
      return (h, k, l, out) =>
        finish(((((s(h) * 3 + s(k)) * 3 + s(l)) * 3 + s(h - k)) * 3 + s(h + k)) * 9 + s(2 * h + k) * 3 + s(h + 2 * k), h, k, l, out);
    case 'cubic':
      return (h, k, l, out) =>
        finish(
          ((((((s(h) * 3 + s(k)) * 3 + s(l)) * 3 + s(h - k)) * 3 + s(h + k)) * 3 + s(k - l)) * 3 + s(k + l)) * 9 + s(h - l) * 3 + s(h + l),
          h, k, l, out,
        );
  }
}

/**
 * The Laue group acting on Miller indices as row vectors, h' = h·R: the
 * distinct rotation parts of the group (in the order of g.ops) followed by
 * their negatives where new. Identity first. The index into this list is the
 * `op` column of observation tables.
 */
export function reciprocalOps(g: SpaceGroup): readonly IntMat3[] {
  return data(g).ops;
}

/** Which ASU test the group uses: a CCP4 Laue-class test, or 'canonical' (fallback). */
export function asuConvention(g: SpaceGroup): string {
  return data(g).asuName;
}

/**
 * The fast form of toAsu: writes h', k', l' and the op index into out[0..3].
 * No allocation per call.
 */
export function asuMapper(g: SpaceGroup): (h: number, k: number, l: number, out: Int32Array) => void {
  return data(g).mapper;
}

/** The member (h,k,l)·R_op of the orbit of (h,k,l) inside the reciprocal ASU, and op. */
export function toAsu(g: SpaceGroup, h: number, k: number, l: number): { h: number; k: number; l: number; op: number } {
  const out = new Int32Array(4);
  data(g).mapper(h, k, l, out);
  return { h: out[0]!, k: out[1]!, l: out[2]!, op: out[3]! };
}

export function inAsu(g: SpaceGroup, h: number, k: number, l: number): boolean {
  return data(g).inAsu(h, k, l);
}

/** Distinct members of the orbit of (h,k,l) under reciprocalOps, in op order. */
export function equivalents(g: SpaceGroup, h: number, k: number, l: number): [number, number, number][] {
  const d = data(g);
  const tmp = new Int32Array(3);
  const seen = new Set<string>();
  const out: [number, number, number][] = [];
  for (let i = 0; i < d.ops.length; i++) {
    apply(d.flat, 9 * i, h, k, l, tmp);
    const key = `${tmp[0]},${tmp[1]},${tmp[2]}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push([tmp[0]!, tmp[1]!, tmp[2]!]);
  }
  return out;
}

/** Number of distinct symmetry-equivalent indices (Friedel mates included). */
export function multiplicity(g: SpaceGroup, h: number, k: number, l: number): number {
  return equivalents(g, h, k, l).length;
}

/** True when some op (R, t) has h·R = h and h·t not an integer. */
export function isSystematicallyAbsent(g: SpaceGroup, h: number, k: number, l: number): boolean {
  const { r, t, n } = data(g).absence;
  for (let i = 0; i < n; i++) {
    const b = 9 * i;
    if (h * r[b]! + k * r[b + 3]! + l * r[b + 6]! !== h) continue;
    if (h * r[b + 1]! + k * r[b + 4]! + l * r[b + 7]! !== k) continue;
    if (h * r[b + 2]! + k * r[b + 5]! + l * r[b + 8]! !== l) continue;
    const c = 3 * i;
    if ((h * t[c]! + k * t[c + 1]! + l * t[c + 2]!) % 12 !== 0) return true;
  }
  return false;
}

/**
 * Phase shift, in cycles within [0, 1), of the structure factor under the
 * space-group operation g.ops[i] = (R, t): F(h·R) = F(h)·exp(−2πi·h·t), so
 * this returns frac(−h·t). (Multiples of 1/12.)
 */
export function phaseShift(g: SpaceGroup, opIndex: number, h: number, k: number, l: number): number {
  const o = ops12(g)[opIndex];
  if (o === undefined) throw new RangeError(`op index ${opIndex} out of range 0..${g.order - 1}`);
  const x = -(h * o.t[0] + k * o.t[1] + l * o.t[2]);
  return (((x % 12) + 12) % 12) / 12;
}
