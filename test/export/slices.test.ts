import { PNG } from 'pngjs';
import { describe, expect, it } from 'vitest';
import { denseGrid } from '../../src/export/dense-grid.ts';
import { colormapColor, percentile, renderSlice, renderSlicePng, sliceAspect, sliceLimits, slicePlane } from '../../src/export/slices.ts';
import type { Ndiv } from '../../src/pipeline/observations.ts';
import { BAR1, mergedFrom } from './helpers.ts';

function pixel(png: PNG, x: number, y: number): number[] {
  const o = 4 * (y * png.width + x);
  return Array.from(png.data.subarray(o, o + 4));
}

describe('slicePlane', () => {
  const ndiv: Ndiv = [3, 3, 3];
  // one point (fine 0, 2, -1) and its Friedel mate (0, -2, 1); a second point off the h = 0 plane
  const g = denseGrid(
    mergedFrom(
      [
        { fine: [0, 2, -1], I: 7, sigma: 1 },
        { fine: [2, 1, 1], I: 3, sigma: 1 },
      ],
      ndiv,
    ),
    ndiv,
    BAR1,
  );

  it('takes the central h, k and l planes with the documented row/column axes', () => {
    expect(g.shape).toEqual([5, 5, 3]);
    const h0 = slicePlane(g, 'h');
    expect(h0).toMatchObject({ axis: 'h', index: 2, fine: 0, value: 0, rowAxis: 'k', colAxis: 'l', rows: 5, cols: 3, rowOrigin: -2, colOrigin: -1 });
    // (k, l) = (2, -1) → row 4, col 0; its mate (−2, 1) → row 0, col 2
    expect(h0.data[4 * 3 + 0]).toBe(7);
    expect(h0.data[0 * 3 + 2]).toBe(7);
    expect(Array.from(h0.data).filter((v) => Number.isFinite(v))).toHaveLength(2);
    const k0 = slicePlane(g, 'k');
    expect(k0).toMatchObject({ rowAxis: 'h', colAxis: 'l', rows: 5, cols: 3, fine: 0 });
    expect(Array.from(k0.data).every((v) => Number.isNaN(v))).toBe(true);
    const l1 = slicePlane(g, 'l', 2); // l = +1/3
    expect(l1).toMatchObject({ fine: 1, rowAxis: 'h', colAxis: 'k' });
    expect(l1.value).toBeCloseTo(1 / 3, 12);
    expect(l1.data[(2 + 2) * 5 + (1 + 2)]).toBe(3); // h = 2, k = 1
    expect(l1.data[(0 + 2) * 5 + (-2 + 2)]).toBe(7); // h = 0, k = −2
    expect(() => slicePlane(g, 'l', 3)).toThrow(/outside 0…2/);
  });

  it('gives the physical aspect from the reciprocal cell', () => {
    const h0 = slicePlane(g, 'h');
    // rows k: b*/3 = (1/20)/3; cols l: c*/3 = (1/40)/3 → 2
    expect(sliceAspect(h0, [10, 20, 40, 90, 90, 90])).toBeCloseTo(2, 12);
  });
});

describe('renderSlicePng', () => {
  it('puts a single bright point at the right pixels, row axis upwards, NaN grey', () => {
    const rows = 5;
    const cols = 7;
    const data = new Float32Array(rows * cols);
    data[1 * cols + 4] = 10; // row 1, column 4
    data[3 * cols + 0] = NaN; // row 3, column 0
    const r = renderSlice({ data, rows, cols }, { limits: [0, 10], scale: 3, aspect: 2 });
    expect([r.width, r.height, r.pixelWidth, r.pixelHeight]).toEqual([21, 30, 3, 6]);
    const png = PNG.sync.read(r.png);
    expect([png.width, png.height]).toEqual([21, 30]);
    const bright = [0xfd, 0xe7, 0x25, 255];
    const dark = [0x44, 0x01, 0x54, 255];
    // row 1 from the bottom: y ∈ [(5 − 1 − 1)·6, +6) = [18, 24); column 4: x ∈ [12, 15)
    let brightCount = 0;
    for (let y = 0; y < 30; y++) {
      for (let x = 0; x < 21; x++) {
        const p = pixel(png, x, y);
        const inBright = x >= 12 && x < 15 && y >= 18 && y < 24;
        const inNan = x < 3 && y >= 6 && y < 12; // row 3 → y ∈ [6, 12)
        if (inBright) {
          expect(p).toEqual(bright);
          brightCount++;
        } else if (inNan) expect(p).toEqual([128, 128, 128, 255]);
        else expect(p).toEqual(dark);
      }
    }
    expect(brightCount).toBe(18);
  });

  it('uses robust percentile limits and a symmetric diverging map', () => {
    const data = Float32Array.from({ length: 101 }, (_v, i) => i); // 0 … 100
    data[50] = 1e6; // outlier
    expect(percentile(data, 50)).toBe(51);
    expect(sliceLimits({ data })).toEqual([1, 100]); // the outlier is above the 99th percentile
    expect(percentile(data, 0.5)).toBe(0.5);
    const signed = Float32Array.from([-3, -1, 0, 2, NaN]);
    expect(sliceLimits({ data: signed }, { colormap: 'diverging', percentiles: [0, 100] })).toEqual([-3, 3]);
    expect(colormapColor('diverging', 0.5)).toEqual([0xf7, 0xf7, 0xf7]);
    const png = PNG.sync.read(renderSlicePng({ data: signed, rows: 1, cols: 5 }, { colormap: 'diverging', percentiles: [0, 100], scale: 1 }));
    expect(pixel(png, 0, 0)).toEqual([0x21, 0x66, 0xac, 255]); // −3: low end, blue
    expect(pixel(png, 2, 0)).toEqual([0xf7, 0xf7, 0xf7, 255]); // 0: white
    expect(pixel(png, 4, 0)).toEqual([128, 128, 128, 255]);
  });
});
