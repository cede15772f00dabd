/**
 * Laue-group folding of Miller indices: just enough symmetry to decide whether two
 * observed reflections are the same (symmetry-equivalent, Friedel mates included).
 * Scope, on purpose small until `src/symmetry/` exists:
 *
 * - A Hall symbol (as DIALS writes `space_group_hall_symbol`, e.g. ' P 2 2',
 *   ' P 2ac 2ab', ' C 2y', ' P 4w 2c', ' R 3', ' -P 1') is parsed for the
 *   rotation parts of its matrix symbols only: the lattice letter and every
 *   translation subscript are dropped, since neither changes which reflections are
 *   equivalent in intensity. Implied axes follow Hall (1981): the first symbol is
 *   about c; a following 2 is about a after a 2 or 4, and about a−b (') after a 3
 *   or 6; a third-position 3 is about the body diagonal (*). ' and " are taken
 *   about the preceding symbol's axis.
 * - The Laue group is the closure of those rotations plus the inversion, so
 *   Friedel mates fold together (anomalous differences are not kept apart).
 * - Anything else (a change of basis with a rotation part such as `(x,y,-x+z)`,
 *   an axis or order the rules above do not cover) is refused with an
 *   InvalidValueError that says to match raw indices instead (`--fold none`).
 *
 * The "ASU key" is the orbit representative with the largest packed key (see
 * `packHkl`): a consistent canonical choice, not the CCP4 asymmetric-unit
 * convention; two indices fold to the same key exactly when they are equivalent.
 */
import { InvalidValueError, type ErrorLocation } from '../errors.ts';

/** Integer 3×3, row-major, acting on fractional coordinates (columns) like Hall's matrices. */
export type IntMat3 = readonly [number, number, number, number, number, number, number, number, number];

export interface LaueGroup {
  /** the Hall symbol it came from ('' for the trivial group) */
  hall: string;
  /** e.g. 'mmm', '4/m', '-1' */
  name: string;
  /** every operation of the Laue group (order = ops.length), identity first */
  ops: readonly IntMat3[];
}

/** Largest |h|, |k|, |l| that `packHkl` can hold. */
export const HKL_LIMIT = 511;
const OFFSET = 512;

/**
 * Packs (h, k, l), each within ±HKL_LIMIT, into one non-negative integer below
 * 2^30; the order of keys is the lexicographic order of (h, k, l).
 */
export function packHkl(h: number, k: number, l: number): number {
  return ((h + OFFSET) << 20) | ((k + OFFSET) << 10) | (l + OFFSET);
}

export function unpackHkl(key: number): [number, number, number] {
  return [(key >>> 20) - OFFSET, ((key >>> 10) & 1023) - OFFSET, (key & 1023) - OFFSET];
}

export function hklInRange(h: number, k: number, l: number): boolean {
  return h >= -HKL_LIMIT && h <= HKL_LIMIT && k >= -HKL_LIMIT && k <= HKL_LIMIT && l >= -HKL_LIMIT && l <= HKL_LIMIT;
}

const I3: IntMat3 = [1, 0, 0, 0, 1, 0, 0, 0, 1];
const INV: IntMat3 = [-1, 0, 0, 0, -1, 0, 0, 0, -1];

type Axis = 'x' | 'y' | 'z';
/** proper rotations about the principal axes, Hall's table */
const PRINCIPAL: Record<number, Record<Axis, IntMat3>> = {
  2: { x: [1, 0, 0, 0, -1, 0, 0, 0, -1], y: [-1, 0, 0, 0, 1, 0, 0, 0, -1], z: [-1, 0, 0, 0, -1, 0, 0, 0, 1] },
  3: { x: [1, 0, 0, 0, 0, -1, 0, 1, -1], y: [-1, 0, 1, 0, 1, 0, -1, 0, 0], z: [0, -1, 0, 1, -1, 0, 0, 0, 1] },
  4: { x: [1, 0, 0, 0, 0, -1, 0, 1, 0], y: [0, 0, 1, 0, 1, 0, -1, 0, 0], z: [0, -1, 0, 1, 0, 0, 0, 0, 1] },
  6: { x: [1, 0, 0, 0, 1, -1, 0, 1, 0], y: [0, 0, 1, 0, 1, 0, -1, 0, 1], z: [1, -1, 0, 1, 0, 0, 0, 0, 1] },
};
/** twofold axes along face diagonals, by the preceding (reference) axis: ' and " */
const DIAGONAL_2: Record<Axis, { prime: IntMat3; dprime: IntMat3 }> = {
  x: { prime: [-1, 0, 0, 0, 0, -1, 0, -1, 0], dprime: [-1, 0, 0, 0, 0, 1, 0, 1, 0] },
  y: { prime: [0, 0, -1, 0, -1, 0, -1, 0, 0], dprime: [0, 0, 1, 0, -1, 0, 1, 0, 0] },
  z: { prime: [0, -1, 0, -1, 0, 0, 0, 0, -1], dprime: [0, 1, 0, 1, 0, 0, 0, 0, -1] },
};
/** threefold along the body diagonal */
const BODY_3: IntMat3 = [0, 0, 1, 1, 0, 0, 0, 1, 0];

function mul(a: IntMat3, b: IntMat3): IntMat3 {
  const r: number[] = new Array<number>(9);
  for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) r[3 * i + j] = a[3 * i]! * b[j]! + a[3 * i + 1]! * b[3 + j]! + a[3 * i + 2]! * b[6 + j]!;
  return r as unknown as IntMat3;
}

/** Closure of the generators (plus identity) under multiplication. */
export function closeGroup(generators: readonly IntMat3[]): IntMat3[] {
  const ops: IntMat3[] = [I3];
  const seen = new Set<string>([I3.join(',')]);
  const queue: IntMat3[] = [...generators];
  while (queue.length > 0) {
    const g = queue.pop()!;
    const key = g.join(',');
    if (seen.has(key)) continue;
    seen.add(key);
    ops.push(g);
    if (ops.length > 48) throw new Error('internal invariant failed: point group larger than 48');
    for (const o of [...ops]) {
      queue.push(mul(o, g), mul(g, o));
    }
  }
  return ops;
}

const LAUE_NAMES: Record<number, string[]> = {
  2: ['-1'],
  4: ['2/m'],
  6: ['-3'],
  8: ['mmm', '4/m'],
  12: ['-3m', '6/m'],
  16: ['4/mmm'],
  24: ['6/mmm', 'm-3'],
  48: ['m-3m'],
};

function laueName(ops: readonly IntMat3[]): string {
  const names = LAUE_NAMES[ops.length];
  if (names === undefined) return `order ${ops.length}`;
  // proper rotations by trace: 3 identity, -1 twofold, 0 threefold, 1 fourfold, 2 sixfold
  const traces = new Set(ops.filter((o) => det(o) === 1).map((o) => o[0] + o[4] + o[8]));
  switch (ops.length) {
    case 8: return traces.has(1) ? '4/m' : 'mmm';
    case 12: return traces.has(2) ? '6/m' : '-3m';
    case 24: return traces.has(2) ? '6/mmm' : 'm-3';
    default: return names[0]!;
  }
}

/** The trivial Laue group -1 (Friedel mates only). */
export function laueMinusOne(): LaueGroup {
  return { hall: ' -P 1', name: '-1', ops: [I3, INV] };
}

/**
 * The Laue group of a Hall symbol. `where` names the file/field in errors.
 * Throws InvalidValueError for a symbol outside the supported scope (see the file comment).
 */
export function laueGroupFromHall(hall: string, where: ErrorLocation = {}): LaueGroup {
  const unsupported = (why: string): never => {
    throw new InvalidValueError(
      `Hall symbol '${hall}' is not supported for symmetry folding (${why}); match raw Miller indices instead (--fold none)`,
      where,
    );
  };
  let text = hall.trim();
  const paren = text.indexOf('(');
  if (paren >= 0) {
    const cob = text.slice(paren);
    if (/[xyz]/i.test(cob)) unsupported(`change of basis ${cob} with a rotation part`);
    text = text.slice(0, paren).trim();
  }
  const tokens = text.split(/\s+/).filter((t) => t.length > 0);
  const lattice = tokens.shift();
  if (lattice === undefined || !/^-?[PABCIRSTF]$/i.test(lattice)) unsupported(`lattice symbol '${lattice ?? ''}'`);
  if (tokens.length > 4) unsupported('more than four matrix symbols');

  const generators: IntMat3[] = [INV];
  let prevOrder = 0;
  let prevAxis: Axis = 'z';
  tokens.forEach((tok, index) => {
    const m = /^(-?)([12346])(.*)$/.exec(tok);
    if (m === null) unsupported(`matrix symbol '${tok}'`);
    const order = Number(m![2]);
    const rest = m![3]!;
    const axisChars = rest.replace(/[abcnuvwd12345]/g, '');
    if (axisChars.length > 1) unsupported(`matrix symbol '${tok}'`);
    let axis = axisChars as '' | Axis | "'" | '"' | '*';
    if (!['', 'x', 'y', 'z', "'", '"', '*'].includes(axis)) unsupported(`axis '${axis}' in '${tok}'`);
    if (order === 1) {
      prevOrder = 1;
      return;
    }
    if (axis === '') {
      if (index === 0) axis = 'z';
      else if (index === 1 && order === 2 && (prevOrder === 2 || prevOrder === 4)) axis = 'x';
      else if (index === 1 && order === 2 && (prevOrder === 3 || prevOrder === 6)) axis = "'";
      else if (index === 2 && order === 3) axis = '*';
      else unsupported(`no implied axis for '${tok}' in position ${index + 1}`);
    }
    let rot: IntMat3;
    if (axis === '*') {
      if (order !== 3) unsupported(`'${tok}': only a threefold can lie on the body diagonal`);
      rot = BODY_3;
    } else if (axis === "'" || axis === '"') {
      if (order !== 2) unsupported(`'${tok}': only a twofold can lie on a face diagonal`);
      rot = axis === "'" ? DIAGONAL_2[prevAxis].prime : DIAGONAL_2[prevAxis].dprime;
    } else {
      const table = PRINCIPAL[order];
      if (table === undefined) unsupported(`rotation order ${order}`);
      rot = table![axis as Axis];
      prevAxis = axis as Axis;
    }
    generators.push(rot);
    prevOrder = order;
  });
  const ops = closeGroup(generators);
  if (!LAUE_NAMES[ops.length]) unsupported(`its rotations generate a group of order ${ops.length}, not a crystallographic Laue group`);
  return { hall, name: laueName(ops), ops };
}

/**
 * A function giving the folded key of (h, k, l) under `group` (raw `packHkl` when
 * `group` is null). Indices beyond ±HKL_LIMIT give -1; callers must report them.
 */
export function asuKeyFunction(group: LaueGroup | null): (h: number, k: number, l: number) => number {
  if (group === null) {
    return (h, k, l) => (hklInRange(h, k, l) ? packHkl(h, k, l) : -1);
  }
  // h' = h·R (row vector times the direct-space matrix), flattened for speed
  const n = group.ops.length;
  const m = new Int32Array(9 * n);
  group.ops.forEach((o, i) => m.set(o, 9 * i));
  return (h, k, l) => {
    if (!hklInRange(h, k, l)) return -1;
    let best = -1;
    for (let i = 0; i < n; i++) {
      const b = 9 * i;
      const hh = h * m[b]! + k * m[b + 3]! + l * m[b + 6]!;
      const kk = h * m[b + 1]! + k * m[b + 4]! + l * m[b + 7]!;
      const ll = h * m[b + 2]! + k * m[b + 5]! + l * m[b + 8]!;
      if (!hklInRange(hh, kk, ll)) continue;
      const key = packHkl(hh, kk, ll);
      if (key > best) best = key;
    }
    return best;
  };
}

/** Folded key of one index (convenience; use `asuKeyFunction` in loops). */
export function asuKey(group: LaueGroup | null, h: number, k: number, l: number): number {
  return asuKeyFunction(group)(h, k, l);
}

/**
 * The proper rotations of the group as they act on reciprocal-lattice coordinates
 * (h' = Rᵀh, as column vectors), for comparing orientation matrices modulo symmetry.
 */
export function properRotationsOnHkl(group: LaueGroup): IntMat3[] {
  return group.ops
    .filter((o) => det(o) === 1)
    .map((o) => [o[0], o[3], o[6], o[1], o[4], o[7], o[2], o[5], o[8]] as IntMat3);
}

function det(m: IntMat3): number {
  return m[0] * (m[4] * m[8] - m[5] * m[7]) - m[1] * (m[3] * m[8] - m[5] * m[6]) + m[2] * (m[3] * m[7] - m[4] * m[6]);
}
