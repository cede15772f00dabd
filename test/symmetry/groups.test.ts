import { describe, expect, it } from 'vitest';
import { InvalidValueError } from '../../src/errors.ts';
import { spaceGroup, spaceGroupSettings, type SpaceGroup } from '../../src/symmetry/index.ts';
import { GENERAL_MULTIPLICITY } from './reference-data.ts';

const numbers = Array.from({ length: 230 }, (_, i) => i + 1);

/** Standard ranges of the ITA numbers (Laue class, geometric class). */
function expectedLaue(n: number): string {
  if (n <= 2) return '-1';
  if (n <= 15) return '2/m';
  if (n <= 74) return 'mmm';
  if (n <= 88) return '4/m';
  if (n <= 142) return '4/mmm';
  if (n <= 148) return '-3';
  if (n <= 167) return '-3m';
  if (n <= 176) return '6/m';
  if (n <= 194) return '6/mmm';
  if (n <= 206) return 'm-3';
  return 'm-3m';
}
const POINT_GROUP_RANGES: [number, number, string][] = [
  [1, 1, '1'], [2, 2, '-1'], [3, 5, '2'], [6, 9, 'm'], [10, 15, '2/m'], [16, 24, '222'], [25, 46, 'mm2'],
  [47, 74, 'mmm'], [75, 80, '4'], [81, 82, '-4'], [83, 88, '4/m'], [89, 98, '422'], [99, 110, '4mm'],
  [111, 122, '-42m'], [123, 142, '4/mmm'], [143, 146, '3'], [147, 148, '-3'], [149, 155, '32'], [156, 161, '3m'],
  [162, 167, '-3m'], [168, 173, '6'], [174, 174, '-6'], [175, 176, '6/m'], [177, 182, '622'], [183, 186, '6mm'],
  [187, 190, '-6m2'], [191, 194, '6/mmm'], [195, 199, '23'], [200, 206, 'm-3'], [207, 214, '432'],
  [215, 220, '-43m'], [221, 230, 'm-3m'],
];
function expectedPointGroup(n: number): string {
  return POINT_GROUP_RANGES.find(([a, b]) => n >= a && n <= b)![2];
}
const SYSTEMS: [number, string][] = [[2, 'triclinic'], [15, 'monoclinic'], [74, 'orthorhombic'], [142, 'tetragonal'], [167, 'trigonal'], [194, 'hexagonal'], [230, 'cubic']];

function opKey(g: SpaceGroup): string[] {
  return g.ops.map((o) => `${o.R.join(',')}|${o.t.map((x) => Math.round(x * 12)).join(',')}`).sort();
}

describe('the 230 space groups in their default settings', () => {
  it.each(numbers)('group %i: order = ITA general multiplicity, point group, Laue class, system', (n) => {
    const g = spaceGroup(n);
    expect(g.number).toBe(n);
    expect(g.order).toBe(GENERAL_MULTIPLICITY[n - 1]);
    expect(g.ops.length).toBe(g.order);
    expect(g.laueClass).toBe(expectedLaue(n));
    expect(g.pointGroup).toBe(expectedPointGroup(n));
    expect(g.crystalSystem).toBe(SYSTEMS.find(([last]) => n <= last)![1]);
    // centrosymmetric exactly when the point group is a Laue group
    expect(g.centrosymmetric).toBe(['-1', '2/m', 'mmm', '4/m', '4/mmm', '-3', '-3m', '6/m', '6/mmm', 'm-3', 'm-3m'].includes(g.pointGroup));
    // identity first, translations in [0,1) and multiples of 1/12, ops distinct
    expect(g.ops[0]!.R).toEqual([1, 0, 0, 0, 1, 0, 0, 0, 1]);
    expect(g.ops[0]!.t).toEqual([0, 0, 0]);
    for (const o of g.ops) for (const t of o.t) {
      expect(t).toBeGreaterThanOrEqual(0);
      expect(t).toBeLessThan(1);
      expect(Math.abs(t * 12 - Math.round(t * 12))).toBeLessThan(1e-12);
    }
    expect(new Set(opKey(g)).size).toBe(g.order);
  });

  it('is closed: the product of any two operations is an operation (mod 1)', () => {
    for (const n of [19, 62, 96, 142, 167, 194, 206, 227, 230]) {
      const g = spaceGroup(n);
      const keys = new Set(opKey(g));
      for (const a of g.ops) for (const b of g.ops) {
        const R = [0, 1, 2].flatMap((i) => [0, 1, 2].map((j) => a.R[3 * i]! * b.R[j]! + a.R[3 * i + 1]! * b.R[3 + j]! + a.R[3 * i + 2]! * b.R[6 + j]!));
        const t = [0, 1, 2].map((i) => {
          const v = Math.round(12 * (a.R[3 * i]! * b.t[0] + a.R[3 * i + 1]! * b.t[1] + a.R[3 * i + 2]! * b.t[2] + a.t[i]!));
          return ((v % 12) + 12) % 12;
        });
        expect(keys.has(`${R.join(',')}|${t.join(',')}`)).toBe(true);
      }
    }
  });
});

describe('every tabulated setting', () => {
  it('parses from its Hall symbol to its own number and the multiplicity of that number', () => {
    const settings = spaceGroupSettings();
    expect(settings.length).toBe(539);
    for (const e of settings) {
      const g = spaceGroup(` ${e.hall}`);
      expect(g.number, e.hall).toBe(e.number);
      // rhombohedral axes: primitive cell, a third of the hexagonal multiplicity
      const expected = e.qualifier === 'R' ? GENERAL_MULTIPLICITY[e.number - 1]! / 3 : GENERAL_MULTIPLICITY[e.number - 1]!;
      if (!e.hm.includes('(a)')) expect(g.order, e.hall).toBe(expected);
      expect(g.laueClass).toBe(expectedLaue(e.number));
    }
  });
});

describe('Hall symbols as DIALS writes them', () => {
  it.each([
    [' P 2 2', 16, 'P 2 2 2', 4],
    [' P 2ac 2ab', 19, 'P 21 21 21', 4],
    [' C 2y', 5, 'C 1 2 1', 4],
    [' P 4w 2c', 91, 'P 41 2 2', 8],
    [' R 3', 146, 'R 3', 9],
    [' -P 1', 2, 'P -1', 2],
    ['-P 1', 2, 'P -1', 2],
    [' P 2yb', 4, 'P 1 21 1', 2],
    [' I 2 2', 23, 'I 2 2 2', 8],
    [' P 61 2 (0 0 -1)', 178, 'P 61 2 2', 12],
    [' P 61 2 (x,y,z-1/12)', 178, 'P 61 2 2', 12],
    [' P 31 2c (0 0 1)', 151, 'P 31 1 2', 6],
    [' F 4d 2 3 -1d', 227, 'F d -3 m', 192],
    ['-F 4vw 2vw 3', 227, 'F d -3 m', 192],
    ['Hall:  P 2ac 2ab', 19, 'P 21 21 21', 4],
    ['hall: -P 2ybc', 14, 'P 1 21/c 1', 4],
    [' P 3*', 146, 'R 3', 3],
    [' -I 4bd 2c 3', 230, 'I a -3 d', 96],
  ])('%j is group %i (%s), order %i', (symbol, number, hm, order) => {
    const g = spaceGroup(symbol);
    expect(g.number).toBe(number);
    expect(g.hm).toBe(hm);
    expect(g.order).toBe(order);
  });

  it('gives the same operations for P 61 2 (0 0 -1) and the tabulated P 61 2 (0 0 5)', () => {
    expect(opKey(spaceGroup(' P 61 2 (0 0 -1)'))).toEqual(opKey(spaceGroup(178)));
  });

  it('applies the origin shift as V·S·V⁻¹ (ITA operations of P 61 2 2)', () => {
    // ITA No. 178: (7) y,x,-z+1/3 ; (10) -y,-x,-z+5/6 ; (2) -y,x-y,z+1/3
    const g = spaceGroup(' P 61 2 (0 0 -1)');
    const has = (R: number[], t: number[]): boolean =>
      g.ops.some((o) => o.R.join() === R.join() && o.t.map((x) => Math.round(x * 12)).join() === t.join());
    expect(has([0, 1, 0, 1, 0, 0, 0, 0, -1], [0, 0, 4])).toBe(true);
    expect(has([0, -1, 0, -1, 0, 0, 0, 0, -1], [0, 0, 10])).toBe(true);
    expect(has([0, -1, 0, 1, -1, 0, 0, 0, 1], [0, 0, 4])).toBe(true);
  });

  it('identifies a shifted origin that is not tabulated', () => {
    const g = spaceGroup(' P 2ac 2ab (1 2 3)');
    expect(g.number).toBe(19);
    expect(g.order).toBe(4);
  });

  it('a change of basis that doubles the cell adds centring', () => {
    // P 1 2 1 with a' = 2a: C-centred-like translation (1/2,0,0) appears
    const g = spaceGroup(' P 2y (x/2,y,z)');
    expect(g.order).toBe(4);
    expect(g.ops.some((o) => o.R.join() === '1,0,0,0,1,0,0,0,1' && o.t[0] === 0.5)).toBe(true);
  });
});

describe('Hermann–Mauguin symbols and numbers', () => {
  it.each([
    ['P 21 21 21', 19], ['P212121', 19], ['p 21 21 21', 19], ['P 1 21/c 1', 14], ['P 21/c', 14], ['P21/c', 14],
    ['P 21/n', 14], ['C 2/c', 15], ['C 1 2/c 1', 15], ['P 1', 1], ['P -1', 2], ['R 3', 146], ['R 3 :H', 146],
    ['R 3:R', 146], ['H 3', 146], ['R -3 c', 167], ['F d -3 m', 227], ['Fd-3m:2', 227], ['I a -3 d', 230],
    ['P 63/m m c', 194], ['P6_3/mmc', 194], ['P 41 21 2', 92], ['P 43 21 2', 96], ['P 1 1 21', 4], ['  19 ', 19],
  ])('%j → %i', (symbol, number) => {
    expect(spaceGroup(symbol).number).toBe(number);
  });

  it('distinguishes settings by qualifier', () => {
    expect(spaceGroup('Fd-3m:2').hall).toBe('-F 4vw 2vw 3');
    expect(spaceGroup('F d -3 m').hall).toBe(' F 4d 2 3 -1d');
    expect(spaceGroup('R 3 :R').order).toBe(3);
    expect(spaceGroup('R 3').order).toBe(9);
    expect(spaceGroup('P 1 1 21').hall).toBe(' P 2c');
  });

  it('rejects unknown symbols with an InvalidValueError naming them', () => {
    for (const bad of ['Q 2 2 2', 'P 5', ' P 2q', 'Hall: P 7', '', 'P 2 2 2 2 2', 0, 231, 2.5]) {
      let err: unknown;
      try {
        spaceGroup(bad);
      } catch (e) {
        err = e;
      }
      expect(err, String(bad)).toBeInstanceOf(InvalidValueError);
      if (typeof bad === 'string' && bad.trim() !== '') expect((err as Error).message).toContain(bad.replace(/^\s*hall:\s*/i, '').trim());
    }
  });
});
