/**
 * The voxel grid's building blocks on the CPU: the deterministic f32
 * arithmetic, the cell/subvoxel index rule, the neighbourhood ball and the
 * cell table's rank lookup, each against a direct computation.
 */
import { describe, expect, it } from 'vitest';
import { boxFromBounds, buildCellTable, cellKey, cellOfKey, cellSlot } from '../../src/grid/cell-table.ts';
import { logf, recip, u2f } from '../../src/grid/exact-f32.ts';
import { ballOffsets, cellOf, flatSub, globalSubOf, splitGlobal, subOf, subvoxelCentre, unflatSub } from '../../src/grid/subvoxel.ts';
import { mulberry32 } from '../../src/util/random.ts';

describe('deterministic f32 arithmetic', () => {
  it('recip is within 2 ulp of 1/x', () => {
    const u = mulberry32(1);
    let worst = 0;
    for (let k = 0; k < 20000; k++) {
      const x = Math.fround(Math.exp((u() - 0.5) * 60));
      const y = recip(x);
      const ulp = Math.fround(y * (1 + 2 ** -23)) - y;
      worst = Math.max(worst, Math.abs(y - 1 / x) / ulp);
    }
    expect(worst).toBeLessThanOrEqual(2);
  });
  it('logf is within 3 ulp (plus 2e-7 absolute) of ln x', () => {
    const u = mulberry32(2);
    for (let k = 0; k < 20000; k++) {
      const x = Math.fround(Math.exp((u() - 0.5) * 80));
      const y = logf(x);
      const exact = Math.log(x);
      const ulp = Math.max(2 ** -149, Math.abs(Math.fround(exact * (1 + 2 ** -23)) - Math.fround(exact)));
      expect(Math.abs(y - exact)).toBeLessThanOrEqual(3 * ulp + 2e-7);
    }
    expect(logf(1)).toBe(Math.fround(logf(1)));
    expect(Math.abs(logf(1))).toBeLessThan(1e-7);
  });
  it('u2f rounds a u32 once', () => {
    for (const x of [0, 1, 16777216, 16777217, 4294967295, 123456789]) expect(u2f(x)).toBe(Math.fround(x));
  });
});

describe('cell and subvoxel index', () => {
  it('follows H = ceil(h − ½), ix = ceil(n·(h − H + ½)) away from boundaries', () => {
    const u = mulberry32(3);
    for (let k = 0; k < 20000; k++) {
      const n = 1 + Math.floor(u() * 7);
      const h = Math.fround((u() - 0.5) * 200);
      const H = Math.ceil(h - 0.5) + 0;
      const x = n * (h - H + 0.5);
      if (Math.abs(x - Math.round(x)) < 1e-3 || Math.abs(h - 0.5 - Math.round(h - 0.5)) < 1e-4) continue;
      expect(cellOf(h)).toBe(H);
      const ix = subOf(h, H, n);
      expect(ix).toBe(Math.ceil(x));
      expect(ix).toBeGreaterThanOrEqual(1);
      expect(ix).toBeLessThanOrEqual(n);
      const g = globalSubOf(h, n);
      expect(splitGlobal(g, n)).toEqual([H, ix]);
    }
  });
  it('puts the Bragg position in the central subvoxel for odd ndiv, and cell edges in the right cell', () => {
    for (const n of [1, 3, 5, 7]) {
      for (const H of [-3, 0, 4]) {
        expect(cellOf(H)).toBe(H);
        expect(subOf(H, H, n)).toBe((n + 1) / 2);
        expect(subvoxelCentre(H, (n + 1) / 2, n)).toBeCloseTo(H, 12);
      }
    }
    // cell H spans (H − ½, H + ½]
    expect(cellOf(0.5)).toBe(0);
    expect(cellOf(Math.fround(0.50001))).toBe(1);
    expect(cellOf(-0.5)).toBe(-1);
    expect(subOf(0.5, 0, 3)).toBe(3);
    expect(subOf(-0.5, -1, 3)).toBe(3);
  });
  it('flattens subvoxels in (ix, iy, iz) order', () => {
    const nd = [3, 2, 5] as const;
    let s = 0;
    for (let a = 1; a <= 3; a++) for (let b = 1; b <= 2; b++) for (let c = 1; c <= 5; c++) {
      expect(flatSub(a, b, c, nd)).toBe(s);
      expect(unflatSub(s, nd)).toEqual([a, b, c]);
      s++;
    }
  });
  it('has 33 offsets in the window-2 ball, symmetric, in lexicographic order', () => {
    const b = ballOffsets(2);
    expect(b.length / 3).toBe(33);
    const keys: string[] = [];
    for (let k = 0; k < b.length / 3; k++) keys.push(`${b[3 * k]},${b[3 * k + 1]},${b[3 * k + 2]}`);
    for (let k = 0; k < keys.length; k++) {
      const [x, y, z] = (keys[k] as string).split(',').map(Number) as [number, number, number];
      expect(keys).toContain(`${-x},${-y},${-z}`);
      expect(x * x + y * y + z * z).toBeLessThanOrEqual(4);
    }
    expect(ballOffsets(1).length / 3).toBe(7);
    expect(ballOffsets(0).length / 3).toBe(1);
  });
});

describe('cell table', () => {
  it('ranks occupied cells in key order and looks every cell up like a brute-force map', () => {
    const u = mulberry32(4);
    const box = boxFromBounds([-5, -3, -40], [6, 4, 37]);
    const words = Math.ceil((12 * 8 * 78) / 32);
    const bitmap = new Uint32Array(words);
    const occupied = new Map<string, number>();
    const keys: number[] = [];
    for (let key = 0; key < 12 * 8 * 78; key++) {
      if (u() < 0.13) {
        bitmap[key >>> 5] = ((bitmap[key >>> 5] as number) | (1 << (key & 31))) >>> 0;
        keys.push(key);
      }
    }
    keys.forEach((k, slot) => occupied.set(cellOfKey(box, k).join(','), slot));
    const t = buildCellTable([3, 3, 3], box, bitmap);
    expect(t.cells).toBe(keys.length);
    expect(Array.from(t.keys)).toEqual(keys);
    for (let H = -6; H <= 7; H++) {
      for (let K = -4; K <= 5; K++) {
        for (let L = -41; L <= 38; L++) {
          expect(cellSlot(t, H, K, L)).toBe(occupied.get(`${H},${K},${L}`) ?? -1);
          const key = cellKey(box, H, K, L);
          if (key >= 0) expect(cellOfKey(box, key)).toEqual([H, K, L]);
        }
      }
    }
  });
  it('refuses a box too large for the lookup', () => {
    expect(() => boxFromBounds([-3000, -3000, -3000], [3000, 3000, 3000])).toThrow(/smaller wedge/);
  });
});
