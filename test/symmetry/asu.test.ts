import { describe, expect, it } from 'vitest';
import {
  asuConvention,
  asuMapper,
  equivalents,
  inAsu,
  multiplicity,
  reciprocalOps,
  spaceGroup,
  spaceGroupSettings,
  toAsu,
  type SpaceGroup,
} from '../../src/symmetry/index.ts';

function mulRow(h: number, k: number, l: number, R: readonly number[]): [number, number, number] {
  // (+ 0 turns −0 into 0)
  return [h * R[0]! + k * R[3]! + l * R[6]! + 0, h * R[1]! + k * R[4]! + l * R[7]! + 0, h * R[2]! + k * R[5]! + l * R[8]! + 0];
}

/** Brute-force check on the box |h|,|k|,|l| ≤ r (plain comparisons: millions of them). */
function checkAsu(g: SpaceGroup, r: number): void {
  const ops = reciprocalOps(g);
  const map = asuMapper(g);
  const out = new Int32Array(4);
  const fail = (h: number, k: number, l: number, why: string): never => {
    throw new Error(`${g.hall} (${g.number}): (${h},${k},${l}) ${why}`);
  };
  for (let h = -r; h <= r; h++) for (let k = -r; k <= r; k++) for (let l = -r; l <= r; l++) {
    // the orbit, by brute force over the op list
    const orbit = new Map<string, [number, number, number]>();
    for (const R of ops) {
      const v = mulRow(h, k, l, R);
      orbit.set(v.join(','), v);
    }
    const inside = [...orbit.values()].filter(([a, b, c]) => inAsu(g, a, b, c));
    if (inside.length !== 1) fail(h, k, l, `has ${inside.length} orbit members in the ASU`);
    const want = inside[0]!.join(',');
    const t = toAsu(g, h, k, l);
    if ([t.h, t.k, t.l].join(',') !== want) fail(h, k, l, `toAsu gave ${[t.h, t.k, t.l]}, ASU member is ${want}`);
    if (mulRow(h, k, l, ops[t.op]!).join(',') !== want) fail(h, k, l, `op ${t.op} does not map to ${want}`);
    map(h, k, l, out);
    if ([...out].join(',') !== [t.h, t.k, t.l, t.op].join(',')) fail(h, k, l, `asuMapper gave ${[...out]}`);
    if (multiplicity(g, h, k, l) !== orbit.size) fail(h, k, l, `multiplicity ${multiplicity(g, h, k, l)} vs orbit ${orbit.size}`);
  }
}

describe('reciprocal ASU, brute force', () => {
  it.each(Array.from({ length: 230 }, (_, i) => i + 1))('group %i: one orbit member per ASU, toAsu finds it with its op (|hkl| ≤ 6)', (n) => {
    const g = spaceGroup(n);
    expect(asuConvention(g)).not.toBe('canonical');
    checkAsu(g, 6);
  });

  it('every tabulated setting, including the canonical fallback (|hkl| ≤ 3)', () => {
    const fallback: string[] = [];
    for (const e of spaceGroupSettings()) {
      const g = spaceGroup(` ${e.hall}`);
      if (asuConvention(g) === 'canonical') fallback.push(`${e.hm}:${e.qualifier}`);
      checkAsu(g, 3);
    }
    // only the rhombohedral-axes settings are outside the CCP4 tests
    expect(fallback.sort()).toEqual(['R -3 c:R', 'R -3 m:R', 'R -3:R', 'R 3 2:R', 'R 3 c:R', 'R 3 m:R', 'R 3:R'].sort());
  });

  it('works for large ("fine") indices and is stable over the orbit', () => {
    for (const n of [1, 4, 19, 92, 146, 155, 164, 162, 178, 199, 230]) {
      const g = spaceGroup(n);
      for (const [h, k, l] of [[1234, -5678, 91], [-30001, 29999, -7], [0, -40000, 40000], [-9, -9, -9], [70000, -35000, 3]] as const) {
        const t = toAsu(g, h, k, l);
        expect(inAsu(g, t.h, t.k, t.l)).toBe(true);
        expect(mulRow(h, k, l, reciprocalOps(g)[t.op]!)).toEqual([t.h, t.k, t.l]);
        for (const [a, b, c] of equivalents(g, h, k, l)) {
          const u = toAsu(g, a, b, c);
          expect([u.h, u.k, u.l]).toEqual([t.h, t.k, t.l]);
        }
      }
    }
  });
});

describe('ASU regions are the CCP4 inequalities (written out independently)', () => {
  const regions: [number, (h: number, k: number, l: number) => boolean][] = [
    [2, (h, k, l) => l > 0 || (l === 0 && (h > 0 || (h === 0 && k >= 0)))],
    [14, (h, k, l) => k >= 0 && (l > 0 || (l === 0 && h >= 0))],
    [19, (h, k, l) => h >= 0 && k >= 0 && l >= 0],
    [88, (h, k, l) => l >= 0 && ((h >= 0 && k > 0) || (h === 0 && k === 0))],
    [96, (h, k, l) => h >= k && k >= 0 && l >= 0],
    [148, (h, k, l) => (h >= 0 && k > 0) || (h === 0 && k === 0 && l >= 0)],
    [149, (h, k, l) => h >= k && k >= 0 && (k > 0 || l >= 0)],
    [152, (h, k, l) => h >= k && k >= 0 && (h > k || l >= 0)],
    [166, (h, k, l) => h >= k && k >= 0 && (h > k || l >= 0)],
    [176, (h, k, l) => l >= 0 && ((h >= 0 && k > 0) || (h === 0 && k === 0))],
    [194, (h, k, l) => h >= k && k >= 0 && l >= 0],
    [206, (h, k, l) => h >= 0 && ((l >= h && k > h) || (l === h && k === h))],
    [230, (h, k, l) => h >= 0 && k >= l && l >= h],
  ];
  it.each(regions)('group %i', (n, region) => {
    const g = spaceGroup(n);
    const wrong: string[] = [];
    for (let h = -5; h <= 5; h++) for (let k = -5; k <= 5; k++) for (let l = -5; l <= 5; l++) {
      if (inAsu(g, h, k, l) !== region(h, k, l)) wrong.push(`(${h},${k},${l})`);
    }
    expect(wrong).toEqual([]);
  });
});

describe('multiplicities of representative reflections (ITA, Friedel mates included)', () => {
  const cases: [string | number, [number, number, number], number][] = [
    [1, [1, 2, 3], 2], [1, [0, 0, 0], 1],
    [14, [1, 2, 3], 4], [14, [1, 0, 3], 2], [14, [0, 2, 0], 2],
    [19, [1, 2, 3], 8], [19, [1, 2, 0], 4], [19, [1, 0, 0], 2],
    [88, [1, 2, 3], 8], [88, [1, 2, 0], 4], [88, [0, 0, 3], 2],
    [96, [1, 2, 3], 16], [96, [1, 1, 0], 4], [96, [1, 1, 3], 8], [96, [1, 0, 0], 4], [96, [1, 2, 0], 8], [96, [0, 0, 3], 2],
    [148, [1, 2, 3], 6], [148, [0, 0, 3], 2],
    [164, [1, 2, 3], 12], [164, [0, 1, 3], 6], [164, [1, 1, 3], 12],
    [162, [1, 2, 3], 12], [162, [1, 1, 3], 6], [162, [0, 1, 3], 12],
    [176, [1, 2, 3], 12], [176, [1, 2, 0], 6], [176, [0, 0, 3], 2],
    [194, [1, 2, 3], 24], [194, [1, 2, 0], 12], [194, [1, 0, 0], 6], [194, [1, 1, 0], 6], [194, [1, 1, 3], 12], [194, [0, 0, 3], 2],
    [206, [1, 2, 3], 24], [206, [1, 2, 0], 12], [206, [1, 1, 0], 12], [206, [1, 1, 1], 8], [206, [1, 0, 0], 6],
    [230, [1, 2, 3], 48], [230, [1, 1, 2], 24], [230, [1, 2, 0], 24], [230, [1, 1, 0], 12], [230, [1, 1, 1], 8], [230, [1, 0, 0], 6],
    // a fine (subvoxel) index behaves like a Miller index
    [230, [31, 62, 93], 48],
  ];
  it.each(cases)('group %j, %j → %i', (sym, [h, k, l], m) => {
    const g = spaceGroup(sym);
    expect(multiplicity(g, h, k, l)).toBe(m);
    expect(equivalents(g, h, k, l).length).toBe(m);
  });

  it('reciprocal ops: identity first, distinct, closed, Friedel inversion included, size 2·|proper|', () => {
    for (let n = 1; n <= 230; n++) {
      const ops = reciprocalOps(spaceGroup(n));
      expect(ops[0]).toEqual([1, 0, 0, 0, 1, 0, 0, 0, 1]);
      const keys = new Set(ops.map((o) => o.join(',')));
      expect(keys.size).toBe(ops.length);
      expect(keys.has('-1,0,0,0,-1,0,0,0,-1')).toBe(true);
      const laueOrder: Record<string, number> = { '-1': 2, '2/m': 4, mmm: 8, '4/m': 8, '4/mmm': 16, '-3': 6, '-3m': 12, '6/m': 12, '6/mmm': 24, 'm-3': 24, 'm-3m': 48 };
      expect(ops.length).toBe(laueOrder[spaceGroup(n).laueClass]);
      if (n % 23 === 0) {
        for (const a of ops) for (const b of ops) {
          const p = [0, 1, 2].flatMap((i) => [0, 1, 2].map((j) => a[3 * i]! * b[j]! + a[3 * i + 1]! * b[3 + j]! + a[3 * i + 2]! * b[6 + j]!));
          expect(keys.has(p.join(','))).toBe(true);
        }
      }
    }
  });
});
