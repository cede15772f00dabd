/**
 * Hall-symbol parser (Hall 1981, Acta Cryst. A37, 517; corrigendum A37, 921;
 * International Tables Vol. B, 2001, section 1.4, Appendix A1.4.2) and group
 * closure. Translations are integer twelfths internally, so everything is exact.
 *
 *   symbol  := ['-'] L  M1 [M2 [M3 [M4]]]  [V]
 *   L       := P A B C I R S T F            lattice (centring) symbol
 *   M       := ['-'] N [A] [T...]           N ∈ 1 2 3 4 6; the characters after N
 *                                           may come in any order
 *   A       := x y z ' " *                  axis (implied when absent, see below)
 *   T       := a b c n u v w d | 1..5       translations; a digit r is the screw
 *                                           component r/N along the axis
 *   V       := '(' i j k ')'                origin shift in twelfths, or
 *              '(' x,y,z form ')'           a general change of basis
 *
 * Implied axes: the first matrix symbol is about c; a second twofold is about a
 * when the first N is 2 or 4, about a−b when it is 3 or 6; a third-position
 * threefold is about a+b+c. ' and " (face diagonals) are taken relative to the
 * axis of the preceding matrix symbol. The change of basis V transforms every
 * operation S into V·S·V⁻¹ (for the shift form V = (I, v/12)).
 */
import { InvalidValueError } from '../errors.ts';
import type { IntMat3 } from './types.ts';

/** An operation with translations in twelfths (each component 0..11). */
export interface Op12 {
  r: IntMat3;
  t: readonly [number, number, number];
}

export const IDENTITY: IntMat3 = [1, 0, 0, 0, 1, 0, 0, 0, 1];

type Axis = 'x' | 'y' | 'z';

/** Proper rotations about the principal axes (ITB Table A1.4.2.4). */
const PRINCIPAL: Record<number, Record<Axis, IntMat3>> = {
  1: { x: IDENTITY, y: IDENTITY, z: IDENTITY },
  2: { x: [1, 0, 0, 0, -1, 0, 0, 0, -1], y: [-1, 0, 0, 0, 1, 0, 0, 0, -1], z: [-1, 0, 0, 0, -1, 0, 0, 0, 1] },
  3: { x: [1, 0, 0, 0, 0, -1, 0, 1, -1], y: [-1, 0, 1, 0, 1, 0, -1, 0, 0], z: [0, -1, 0, 1, -1, 0, 0, 0, 1] },
  4: { x: [1, 0, 0, 0, 0, -1, 0, 1, 0], y: [0, 0, 1, 0, 1, 0, -1, 0, 0], z: [0, -1, 0, 1, 0, 0, 0, 0, 1] },
  6: { x: [1, 0, 0, 0, 1, -1, 0, 1, 0], y: [0, 0, 1, 0, 1, 0, -1, 0, 1], z: [1, -1, 0, 1, 0, 0, 0, 0, 1] },
};
/** Twofolds along face diagonals, by the axis of the preceding symbol (ITB Table A1.4.2.5). */
const DIAGONAL_2: Record<Axis, { prime: IntMat3; dprime: IntMat3 }> = {
  x: { prime: [-1, 0, 0, 0, 0, -1, 0, -1, 0], dprime: [-1, 0, 0, 0, 0, 1, 0, 1, 0] },
  y: { prime: [0, 0, -1, 0, -1, 0, -1, 0, 0], dprime: [0, 0, 1, 0, -1, 0, 1, 0, 0] },
  z: { prime: [0, -1, 0, -1, 0, 0, 0, 0, -1], dprime: [0, 1, 0, 1, 0, 0, 0, 0, -1] },
};
/** Threefold along a+b+c (ITB Table A1.4.2.6). */
const BODY_3: IntMat3 = [0, 0, 1, 1, 0, 0, 0, 1, 0];

/** Translation symbols in twelfths (ITB Table A1.4.2.2). */
const TRANSLATION: Record<string, readonly [number, number, number]> = {
  a: [6, 0, 0],
  b: [0, 6, 0],
  c: [0, 0, 6],
  n: [6, 6, 6],
  u: [3, 0, 0],
  v: [0, 3, 0],
  w: [0, 0, 3],
  d: [3, 3, 3],
};

/** Lattice centring vectors in twelfths (ITB Table A1.4.2.1). */
const CENTRING: Record<string, readonly (readonly [number, number, number])[]> = {
  P: [],
  A: [[0, 6, 6]],
  B: [[6, 0, 6]],
  C: [[6, 6, 0]],
  I: [[6, 6, 6]],
  R: [[8, 4, 4], [4, 8, 8]],
  S: [[4, 4, 8], [8, 8, 4]],
  T: [[4, 8, 4], [8, 4, 8]],
  F: [[0, 6, 6], [6, 0, 6], [6, 6, 0]],
};

export function mod12(x: number): number {
  const m = x % 12;
  return m < 0 ? m + 12 : m;
}

export function matMul(a: IntMat3, b: IntMat3): IntMat3 {
  const r = new Array<number>(9);
  for (let i = 0; i < 3; i++) {
    for (let j = 0; j < 3; j++) {
      r[3 * i + j] = a[3 * i]! * b[j]! + a[3 * i + 1]! * b[3 + j]! + a[3 * i + 2]! * b[6 + j]!;
    }
  }
  return r as unknown as IntMat3;
}

export function matVec(a: IntMat3, v: readonly [number, number, number]): [number, number, number] {
  return [
    a[0] * v[0] + a[1] * v[1] + a[2] * v[2],
    a[3] * v[0] + a[4] * v[1] + a[5] * v[2],
    a[6] * v[0] + a[7] * v[1] + a[8] * v[2],
  ];
}

export function det3(m: IntMat3): number {
  return m[0] * (m[4] * m[8] - m[5] * m[7]) - m[1] * (m[3] * m[8] - m[5] * m[6]) + m[2] * (m[3] * m[7] - m[4] * m[6]);
}

export function negate(m: IntMat3): IntMat3 {
  return m.map((x) => -x) as unknown as IntMat3;
}

/** (a ∘ b): first b, then a. */
export function compose(a: Op12, b: Op12): Op12 {
  const tb = matVec(a.r, b.t);
  return { r: matMul(a.r, b.r), t: [mod12(tb[0] + a.t[0]), mod12(tb[1] + a.t[1]), mod12(tb[2] + a.t[2])] };
}

export function opKey(o: Op12): string {
  return `${o.r.join(',')}|${o.t.join(',')}`;
}

/** Largest order of a space group's coset representatives mod 1 (m-3m with F centring). */
const MAX_ORDER = 192;

/**
 * The closure of the generators under composition, translations reduced mod 1.
 * Identity first, then in order of discovery. Throws when the generators do not
 * close into a crystallographic group (more than 192 operations).
 */
export function closeGroup(generators: readonly Op12[], symbol: string): Op12[] {
  const ident: Op12 = { r: IDENTITY, t: [0, 0, 0] };
  const ops: Op12[] = [ident];
  const seen = new Set<string>([opKey(ident)]);
  for (let i = 0; i < ops.length; i++) {
    for (const g of generators) {
      const p = compose(ops[i]!, g);
      const key = opKey(p);
      if (seen.has(key)) continue;
      seen.add(key);
      ops.push(p);
      if (ops.length > MAX_ORDER) {
        throw new InvalidValueError(`space-group symbol '${symbol}' does not generate a crystallographic space group`);
      }
    }
  }
  return ops;
}

type Fail = (why: string) => never;

export interface ParsedHall {
  /** the symbol as given, trimmed */
  symbol: string;
  /** the part before the change of basis, normalised (single spaces, no leading space) */
  base: string;
  /** the change-of-basis text inside the parentheses, or '' */
  changeOfBasis: string;
  /** generators: centring translations, inversion, matrix symbols (change of basis applied) */
  generators: Op12[];
}

/**
 * Parses a Hall symbol into generators. Accepts a leading space (DIALS/cctbx
 * style) and a 'Hall:' prefix. Throws InvalidValueError naming the symbol.
 */
export function parseHall(input: string): ParsedHall {
  const symbol = input.replace(/^\s*hall\s*:\s*/i, '').trim();
  const fail: Fail = (why: string): never => {
    throw new InvalidValueError(`invalid Hall symbol '${input.trim()}': ${why}`);
  };
  let text = symbol;
  let cob = '';
  const paren = text.indexOf('(');
  if (paren >= 0) {
    const close = text.lastIndexOf(')');
    if (close < paren || text.slice(close + 1).trim() !== '') fail('unbalanced parentheses in the change of basis');
    cob = text.slice(paren + 1, close).trim();
    text = text.slice(0, paren).trim();
  }
  const tokens = text.split(/\s+/).filter((t) => t.length > 0);
  const latticeTok = tokens.shift();
  if (latticeTok === undefined) fail('empty symbol');
  const lm = /^(-?)([PABCIRSTF])$/i.exec(latticeTok!);
  if (lm === null) fail(`lattice symbol '${latticeTok}' is not one of P A B C I R S T F (optionally with '-')`);
  const centro = lm![1] === '-';
  const lattice = lm![2]!.toUpperCase();
  if (tokens.length === 0) fail('no matrix symbol');
  if (tokens.length > 4) fail('more than four matrix symbols');

  const gens: Op12[] = [];
  for (const c of CENTRING[lattice]!) gens.push({ r: IDENTITY, t: c });
  if (centro) gens.push({ r: negate(IDENTITY), t: [0, 0, 0] });

  let prevN = 0;
  let prevAxis: Axis = 'z';
  tokens.forEach((tok, index) => {
    const m = /^(-?)([12346])(.*)$/.exec(tok);
    if (m === null) fail(`matrix symbol '${tok}' does not start with 1, 2, 3, 4 or 6`);
    const improper = m![1] === '-';
    const n = Number(m![2]);
    let axis: '' | Axis | "'" | '"' | '*' = '';
    let screw = 0;
    const trans: [number, number, number] = [0, 0, 0];
    for (const ch of m![3]!) {
      if (ch === 'x' || ch === 'y' || ch === 'z' || ch === "'" || ch === '"' || ch === '*') {
        if (axis !== '') fail(`matrix symbol '${tok}' names two axes`);
        axis = ch;
      } else if (ch in TRANSLATION) {
        const t = TRANSLATION[ch]!;
        trans[0] += t[0];
        trans[1] += t[1];
        trans[2] += t[2];
      } else if (ch >= '1' && ch <= '5') {
        if (screw !== 0) fail(`matrix symbol '${tok}' has two screw components`);
        screw = Number(ch);
        if (screw >= n) fail(`screw component ${screw} is not below the order ${n} in '${tok}'`);
      } else {
        fail(`unexpected character '${ch}' in matrix symbol '${tok}'`);
      }
    }
    if (axis === '') {
      if (index === 0) axis = 'z';
      else if (index === 1 && n === 2 && (prevN === 2 || prevN === 4)) axis = 'x';
      else if (index === 1 && n === 2 && (prevN === 3 || prevN === 6)) axis = "'";
      else if (index === 2 && n === 3) axis = '*';
      else if (n === 1) axis = 'z';
      else fail(`no implied axis for '${tok}' in position ${index + 1}`);
    }
    let rot: IntMat3;
    if (axis === '*') {
      if (n !== 3) fail(`'${tok}': only a threefold lies along a+b+c`);
      rot = BODY_3;
    } else if (axis === "'" || axis === '"') {
      if (n !== 2) fail(`'${tok}': only a twofold lies along a face diagonal`);
      rot = axis === "'" ? DIAGONAL_2[prevAxis].prime : DIAGONAL_2[prevAxis].dprime;
    } else {
      rot = PRINCIPAL[n]![axis];
      if (n !== 1) prevAxis = axis;
    }
    if (screw !== 0) {
      if (axis !== 'x' && axis !== 'y' && axis !== 'z') fail(`'${tok}': a screw component needs a principal axis`);
      const s = (12 * screw) / n;
      trans[axis === 'x' ? 0 : axis === 'y' ? 1 : 2] += s;
    }
    gens.push({ r: improper ? negate(rot) : rot, t: [mod12(trans[0]), mod12(trans[1]), mod12(trans[2])] });
    prevN = n;
  });

  const base = `${centro ? '-' : ''}${lattice} ${tokens.join(' ')}`;
  const generators = cob === '' ? gens : applyChangeOfBasis(gens, cob, fail);
  return { symbol, base, changeOfBasis: cob, generators };
}

/** A general affine operator (P, p) with rational entries held as numbers. */
interface Affine {
  P: number[];
  p: [number, number, number];
}

/** Parses '0 0 -1' (twelfths) or 'x,y,z+1/4' / 'x-y,x+y,z' (rows of the operator). */
function parseChangeOfBasis(text: string, fail: Fail): Affine {
  const vec = /^(-?\d+)\s+(-?\d+)\s+(-?\d+)$/.exec(text);
  if (vec !== null) {
    return { P: [1, 0, 0, 0, 1, 0, 0, 0, 1], p: [Number(vec[1]) / 12, Number(vec[2]) / 12, Number(vec[3]) / 12] };
  }
  const rows = text.split(',');
  if (rows.length !== 3) fail(`change of basis '(${text})' is neither '(i j k)' nor an 'x,y,z' triplet`);
  const P: number[] = [];
  const p: [number, number, number] = [0, 0, 0];
  rows.forEach((row, i) => {
    const s = row.replace(/\s+/g, '').toLowerCase();
    if (s === '') fail(`empty row in change of basis '(${text})'`);
    const coef = [0, 0, 0];
    const re = /([+-]?)(\d+(?:\.\d+)?(?:\/\d+)?)?\*?([xyzabc]?)(?:\/(\d+))?/gy;
    let pos = 0;
    while (pos < s.length) {
      re.lastIndex = pos;
      const m = re.exec(s);
      if (m === null || m[0] === '' || (m[2] === undefined && m[3] === '')) fail(`cannot read '${row}' in change of basis '(${text})'`);
      const sign = m![1] === '-' ? -1 : 1;
      let value = 1;
      if (m![2] !== undefined) {
        const [a, b] = m![2].split('/');
        value = Number(a) / (b === undefined ? 1 : Number(b));
      }
      if (m![4] !== undefined) value /= Number(m![4]);
      const v = m![3]!;
      if (v === '') p[i] = p[i]! + sign * value;
      else coef['xa'.includes(v) ? 0 : 'yb'.includes(v) ? 1 : 2]! += sign * value;
      pos = re.lastIndex;
    }
    P.push(...coef);
  });
  return { P, p };
}

function inv3(m: readonly number[], fail: Fail): number[] {
  const [a, b, c, d, e, f, g, h, i] = m as [number, number, number, number, number, number, number, number, number];
  const det = a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g);
  if (Math.abs(det) < 1e-9) fail('the change of basis is singular');
  return [
    (e * i - f * h) / det, (c * h - b * i) / det, (b * f - c * e) / det,
    (f * g - d * i) / det, (a * i - c * g) / det, (c * d - a * f) / det,
    (d * h - e * g) / det, (b * g - a * h) / det, (a * e - b * d) / det,
  ];
}

function mulReal(a: readonly number[], b: readonly number[]): number[] {
  const r = new Array<number>(9).fill(0);
  for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) for (let k = 0; k < 3; k++) r[3 * i + j]! += a[3 * i + k]! * b[3 * k + j]!;
  return r;
}

function toInt(x: number, what: string, fail: Fail): number {
  const r = Math.round(x);
  if (Math.abs(x - r) > 1e-6) fail(`the change of basis gives a non-integer ${what}`);
  return r;
}

/**
 * S' = V·S·V⁻¹ for every generator, plus the old lattice translations P·eᵢ
 * (which become centring vectors when P enlarges the cell).
 */
function applyChangeOfBasis(gens: readonly Op12[], text: string, fail: Fail): Op12[] {
  const { P, p } = parseChangeOfBasis(text, fail);
  const Pi = inv3(P, fail);
  const out: Op12[] = [];
  const transform = (r: readonly number[], t: readonly number[]): Op12 => {
    const R2 = mulReal(mulReal(P, r), Pi);
    const rInt = R2.map((x) => toInt(x, 'rotation matrix', fail)) as unknown as IntMat3;
    // t' = P·t + p − R'·p
    const t2: number[] = [0, 0, 0];
    for (let i = 0; i < 3; i++) {
      let v = p[i]!;
      for (let j = 0; j < 3; j++) v += P[3 * i + j]! * (t[j]! / 12) - R2[3 * i + j]! * p[j]!;
      t2[i] = mod12(toInt(v * 12, 'translation (not a multiple of 1/12)', fail));
    }
    return { r: rInt, t: t2 as unknown as [number, number, number] };
  };
  for (const g of gens) out.push(transform(g.r, g.t));
  for (let j = 0; j < 3; j++) {
    const e = [0, 0, 0];
    e[j] = 12;
    out.push(transform(IDENTITY, e));
  }
  // every new unit translation must be an old lattice translation (no cell smaller than the lattice)
  const oldCentring = new Set<string>(['0,0,0']);
  for (const g of gens) if (g.r.every((x, i) => x === IDENTITY[i])) oldCentring.add(g.t.join(','));
  for (let i = 0; i < 3; i++) {
    const v = [Pi[i]!, Pi[3 + i]!, Pi[6 + i]!].map((x) => mod12(toInt(x * 12, 'cell (new axes are not lattice vectors)', fail)));
    if (!oldCentring.has(v.join(','))) fail('the new cell axes are not lattice vectors of the old cell');
  }
  return out;
}
