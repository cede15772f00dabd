import { describe, expect, it } from 'vitest';
import { InvalidValueError } from '../../src/errors.ts';
import { asuKey, asuKeyFunction, laueGroupFromHall, packHkl, properRotationsOnHkl, unpackHkl } from '../../src/spots/laue.ts';

describe('packHkl', () => {
  it('round-trips and orders keys like (h, k, l)', () => {
    const cases: [number, number, number][] = [[0, 0, 0], [-511, 511, -1], [3, -7, 12], [511, 511, 511]];
    for (const [h, k, l] of cases) {
      expect(unpackHkl(packHkl(h, k, l))).toEqual([h, k, l]);
    }
    expect(packHkl(1, -5, 0)).toBeGreaterThan(packHkl(0, 9, 9));
    expect(packHkl(0, 1, -5)).toBeGreaterThan(packHkl(0, 0, 9));
  });
});

describe('laueGroupFromHall', () => {
  const cases: [string, string, number][] = [
    [' P 1', '-1', 2],
    [' -P 1', '-1', 2],
    [' P 2y', '2/m', 4],
    [' C 2y', '2/m', 4],
    [' P 2 2', 'mmm', 8],
    [' P 2ac 2ab', 'mmm', 8],
    [' P 4', '4/m', 8],
    [' I 4', '4/m', 8],
    [' P 4 2', '4/mmm', 16],
    [' P 4w 2c', '4/mmm', 16],
    [' P 3', '-3', 6],
    [' R 3', '-3', 6],
    [' P 3 2"', '-3m', 12],
    [' P 6', '6/m', 12],
    [' P 6 2', '6/mmm', 24],
    [' P 2ac 2ab 3', 'm-3', 24],
    [' P 4 2 3', 'm-3m', 48],
  ];
  for (const [hall, name, order] of cases) {
    it(`'${hall}' → ${name} (${order} operations)`, () => {
      const g = laueGroupFromHall(hall);
      expect(g.name).toBe(name);
      expect(g.ops.length).toBe(order);
    });
  }

  it('refuses symbols outside its scope with a message that names the way out', () => {
    expect(() => laueGroupFromHall(' P 2 2 (x,y,-x+z)', { file: 'a.expt', field: 'space_group_hall_symbol' })).toThrow(InvalidValueError);
    expect(() => laueGroupFromHall(' P 2 2 (x,y,-x+z)', { file: 'a.expt' })).toThrow(/a\.expt: .*--fold none/);
    expect(() => laueGroupFromHall('garbage')).toThrow(/not supported/);
    expect(() => laueGroupFromHall(' P 5')).toThrow(/not supported/);
  });

  it('a change of basis that is a pure shift is accepted', () => {
    expect(laueGroupFromHall(' P 2 2 (0 0 1)').name).toBe('mmm');
  });
});

describe('asuKey', () => {
  it('folds the eight mmm mates (Friedel included) to one key and keeps others apart', () => {
    const g = laueGroupFromHall(' P 2 2');
    const key = asuKey(g, 1, 2, 3);
    for (const [h, k, l] of [[1, 2, 3], [-1, 2, 3], [1, -2, 3], [1, 2, -3], [-1, -2, 3], [-1, 2, -3], [1, -2, -3], [-1, -2, -3]] as const) {
      expect(asuKey(g, h, k, l)).toBe(key);
    }
    expect(asuKey(g, 2, 1, 3)).not.toBe(key);
    expect(unpackHkl(key)).toEqual([1, 2, 3]);
  });

  it('tetragonal 4/m swaps h and k with a sign; hexagonal 6/m cycles (1,0,0), (0,1,0), (-1,1,0)', () => {
    const t = laueGroupFromHall(' P 4');
    expect(asuKey(t, 1, 2, 3)).toBe(asuKey(t, -2, 1, 3));
    expect(asuKey(t, 1, 2, 3)).not.toBe(asuKey(t, 2, 1, 3));
    const h = laueGroupFromHall(' P 6');
    expect(asuKey(h, 1, 0, 2)).toBe(asuKey(h, 0, 1, 2));
    expect(asuKey(h, 1, 0, 2)).toBe(asuKey(h, -1, 1, 2));
    expect(asuKey(h, 1, 0, 2)).not.toBe(asuKey(h, 1, 1, 2));
  });

  it('raw keys without a group, -1 beyond ±511', () => {
    const raw = asuKeyFunction(null);
    expect(raw(1, 2, 3)).toBe(packHkl(1, 2, 3));
    expect(raw(-1, 2, 3)).not.toBe(raw(1, 2, 3));
    expect(raw(600, 0, 0)).toBe(-1);
  });

  it('proper rotations on hkl have determinant +1 and half the Laue order', () => {
    const g = laueGroupFromHall(' P 4 2');
    expect(properRotationsOnHkl(g).length).toBe(8);
  });
});
