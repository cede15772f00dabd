/** The SVG helpers of the report: nice ticks, number formatting, escaping, plot geometry. */
import { describe, expect, it } from 'vitest';
import { barPlot, escapeXml, formatNumber, heatMap, linePlot, niceNumber, niceTicks } from '../../src/report/svg.ts';

describe('niceTicks', () => {
  it('picks 1, 2, 5 × 10^k steps and widens the range to whole steps', () => {
    expect(niceTicks(0, 1)).toEqual({ lo: 0, hi: 1, step: 0.2, ticks: [0, 0.2, 0.4, 0.6, 0.8, 1] });
    expect(niceTicks(0.013, 0.087).ticks).toEqual([0, 0.02, 0.04, 0.06, 0.08, 0.1]);
    expect(niceTicks(-3.2, 17)).toEqual({ lo: -10, hi: 20, step: 10, ticks: [-10, 0, 10, 20] });
    expect(niceTicks(1000, 1e6).ticks).toEqual([0, 200000, 400000, 600000, 800000, 1000000]);
    expect(niceTicks(0.9, 1.1).ticks).toEqual([0.9, 0.95, 1, 1.05, 1.1]);
  });

  it('covers random ranges with at most a few clean ticks', () => {
    let seed = 7;
    const u = (): number => {
      seed = (seed * 1103515245 + 12345) >>> 0;
      return seed / 2 ** 32;
    };
    for (let t = 0; t < 500; t++) {
      const scale = 10 ** Math.floor(u() * 12 - 6);
      const a = (u() - 0.5) * 10 * scale;
      const b = a + u() * 10 * scale + 1e-3 * scale;
      const r = niceTicks(a, b);
      expect(r.lo).toBeLessThanOrEqual(a);
      expect(r.hi).toBeGreaterThanOrEqual(b);
      expect(r.ticks.length).toBeGreaterThanOrEqual(2);
      expect(r.ticks.length).toBeLessThanOrEqual(11);
      const m = r.step / 10 ** Math.floor(Math.log10(r.step) + 1e-12);
      expect([1, 2, 5].some((n) => Math.abs(m - n) < 1e-9)).toBe(true);
      for (const tick of r.ticks) {
        const k = tick / r.step;
        expect(Math.abs(k - Math.round(k))).toBeLessThan(1e-6);
        // no floating-point noise in the labels
        expect(formatNumber(tick, r.step).length).toBeLessThan(12);
      }
    }
  });

  it('handles degenerate and non-finite ranges', () => {
    expect(niceTicks(5, 5).ticks.length).toBeGreaterThanOrEqual(2);
    expect(niceTicks(0, 0).lo).toBeLessThan(0);
    expect(niceTicks(NaN, NaN).ticks.length).toBeGreaterThanOrEqual(2);
    expect(niceTicks(3, 1)).toEqual(niceTicks(1, 3));
  });

  it('niceNumber rounds to 1, 2, 5, 10', () => {
    expect(niceNumber(3.2, true)).toBe(5);
    expect(niceNumber(0.15, true)).toBe(0.2);
    expect(niceNumber(1.4, true)).toBe(1);
    expect(niceNumber(2.1, false)).toBe(5);
    expect(niceNumber(7, false)).toBe(10);
  });
});

describe('formatting and escaping', () => {
  it('formats numbers without locale', () => {
    expect(formatNumber(0.6000000000000001, 0.2)).toBe('0.6');
    expect(formatNumber(-5, 5)).toBe('−5');
    expect(formatNumber(2e-5, 1e-5)).toBe('2e-5');
    expect(formatNumber(300000, 100000)).toBe('3e5');
    expect(formatNumber(0.123456)).toBe('0.1235');
    expect(formatNumber(NaN)).toBe('—');
  });

  it('escapes markup and breaks up URLs', () => {
    expect(escapeXml(`<a href="x">&'</a>`)).toBe('&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;');
    expect(escapeXml('ftp://h')).toBe('ftp:&#47;&#47;h');
  });
});

describe('plots', () => {
  it('line plot: one polyline per series, markers inside, legend for several series, gaps at NaN', () => {
    const svg = linePlot({ title: 'T', xLabel: 'x', yLabel: 'y', series: [{ label: 'one', x: [0, 1, 2, 3], y: [0, 1, NaN, 3] }, { label: 'two', x: [0, 3], y: [1, 2], kind: 'points' }], vLines: [{ at: 1.5, label: 'cut' }] });
    expect((svg.match(/<polyline data-series="one"/g) ?? []).length).toBe(2);
    expect(svg).toContain('data-series-points="two"');
    expect(svg).toContain('data-marker="cut"');
    expect(svg).toContain('class="legend"');
    expect(svg).not.toContain('xmlns');
  });

  it('bar plot: one bar per category with its value', () => {
    const svg = barPlot({ xLabel: 'panel', yLabel: 'd', categories: ['0', '1', '2'], values: [1, 0.5, 2], hLine: 1 });
    expect([...svg.matchAll(/data-value="([^"]+)"/g)].map((m) => Number(m[1]))).toEqual([1, 0.5, 2]);
  });

  it('heat map: embedded PNG of the value grid, limits as given', () => {
    const svg = heatMap({ id: 'h', values: [0, 1, 2, 3, 4, 5], rows: 2, cols: 3, xRange: [0, 3], yRange: [0, 2], xLabel: 'x', yLabel: 'y', valueLabel: 'v', limits: [0, 5] });
    expect(svg).toMatch(/<image [^>]*href="data:image\/png;base64,[A-Za-z0-9+/=]+"/);
    expect(svg).toContain('data-limits="0 5"');
    expect(svg).toContain('linearGradient id="h-cbar"');
  });
});
