/**
 * report.html from small real stage files: the collected values (scale model,
 * excluded fraction per wedge, CC½, absolute curves, map planes, radial
 * average) match what the fixture wrote, the SVG figures carry them (b(φ)
 * polyline mapped back to the node values), absent stages give a note instead
 * of a failure, the output is deterministic, self-contained (no URL) and small.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { slicePlane } from '../../src/export/slices.ts';
import { collectReportData, isAbsent, radialAverage, renderReport, writeReport, type ReportData, type ReportInputs } from '../../src/report/index.ts';
import { mapIntensity, writeFixture, type Fixture } from './fixtures.ts';

const dir = mkdtempSync(join(tmpdir(), 'diffract-report-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let fx: Fixture;
let inputs: ReportInputs;
let data: ReportData;
let html: string;

const SUMMARY = {
  title: 'lysozyme run',
  subtitle: 'config run.yaml',
  stages: [
    { name: 'integrate', seconds: 12.5 },
    { name: 'merge', seconds: 1.25, status: 'done' },
  ],
  counts: { frames: 50, observations: 123456 },
  maskedFractions: { run1: 0.0312 },
};

beforeAll(async () => {
  fx = await writeFixture(dir);
  inputs = { integrated: fx.integrated, scaled: fx.scaled, merged: fx.merged, absolute: fx.absolute, map: { nexus: fx.nexus }, summary: SUMMARY };
  data = await collectReportData(inputs);
  html = renderReport(data);
});

function present<T extends object>(p: T | { absent: string }): T {
  if ('absent' in p) throw new Error(`section absent: ${p.absent}`);
  return p;
}

/** The data-space vertices of the polyline with this data-series label, through its plot's data-area / data-x / data-y. */
function seriesPoints(svgText: string, label: string): [number, number][] {
  const at = svgText.indexOf(`<polyline data-series="${label}"`);
  expect(at).toBeGreaterThan(0);
  const plotAt = svgText.lastIndexOf('<g class="plot"', at);
  const head = svgText.slice(plotAt, svgText.indexOf('>', plotAt));
  const nums = (name: string): number[] => (new RegExp(`${name}="([^"]+)"`).exec(head)?.[1] ?? '').split(' ').map(Number);
  const [left, top, w, h] = nums('data-area') as [number, number, number, number];
  const [x0, x1] = nums('data-x') as [number, number];
  const [y0, y1] = nums('data-y') as [number, number];
  const poly = svgText.slice(at, svgText.indexOf('>', at));
  const pts = /points="([^"]*)"/.exec(poly)?.[1] ?? '';
  return pts.split(' ').map((p) => {
    const [X, Y] = p.split(',').map(Number) as [number, number];
    return [x0 + ((X - left) / w) * (x1 - x0), y0 + ((top + h - Y) / h) * (y1 - y0)];
  });
}

describe('collectReportData', () => {
  it('reads the scale model: b nodes, a at the middle φ node, c at φ nodes, d per panel, history', () => {
    const s = present(data.scale);
    expect(s.b.map((g) => g.key)).toEqual([0, 1]);
    expect(s.b[0]!.label).toBe('run1 (sweep 0)');
    for (const [k, g] of s.b.entries()) {
      const m = fx.model.b.grids[k]!;
      expect(g.phi).toEqual(Array.from(m.axes[0]!));
      expect(g.value).toEqual(Array.from(m.values));
    }
    const a = s.a[1]!;
    const ma = fx.model.a.grids[1]!;
    expect(a.phi).toBe(15);
    expect(a.nPhi).toBe(3);
    expect(a.values).toEqual(Array.from(ma.values.subarray(12, 24)));
    expect(s.c[0]!.curves.map((c) => c.phi)).toEqual([0, 10, 20, 30]);
    expect(s.c[0]!.curves[2]!.value).toEqual(Array.from(fx.model.c.grids[0]!.values.subarray(10, 15)));
    expect(s.d.map((p) => p.mean)).toEqual([1, 0.9, 1.1, 1.05]);
    expect(s.dMode).toBe('panel');
    expect(s.history.map((h) => h.stage)).toEqual(['b', 'b', 'bc', 'a']);
    expect(s.stats.chi2).toBe(1.03);
  });

  it('computes the excluded fraction per wedge from the wedges tables', () => {
    const f = present(data.filter);
    expect(f.missing).toEqual([]);
    f.sweeps.forEach((sw, i) => {
      const rows = fx.wedges[i]!;
      expect(sw.sweep).toBe(fx.integrated[i]!.sweep);
      rows.forEach((r, k) => {
        const want = r.occupied > 0 ? (r.outliers + r.overflow) / r.occupied : NaN;
        expect(sw.fraction[k]).toBe(want);
      });
      const occ = rows.reduce((t, r) => t + r.occupied, 0);
      expect(sw.total.fraction).toBeCloseTo(rows.reduce((t, r) => t + r.outliers + r.overflow, 0) / occ, 15);
    });
    expect(f.sweeps[0]!.firstFrame).toEqual([0, 10, 20]);
  });

  it('reads CC½ shells (diffuse and Bragg), the absolute curves and completes the summary', () => {
    const c = present(data.cchalf);
    expect(c.tables.map((t) => t.table)).toEqual(['diffuse', 'bragg']);
    expect(c.tables[0]!.cchalf).toEqual(fx.cchalf.diffuse);
    expect(c.tables[1]!.cchalf).toEqual(fx.cchalf.bragg);
    expect(c.tables[0]!.overall).toBe(0.97);
    const a = present(data.absolute);
    expect(a.scaleFactor).toBe(fx.scaleFactor);
    expect(a.cutoff).toBe(fx.cutoff);
    expect(a.s).toEqual(fx.curves.s);
    expect(a.observed).toEqual(fx.curves.observed);
    expect(a.theory).toEqual(fx.curves.theory);
    expect(data.summary.backend).toBe('cpu');
    expect(data.summary.adapter).toBe('CPU');
    expect(data.summary.cchalf).toEqual({ diffuse: 0.97, bragg: 0.995 });
    expect(data.summary.scaleFactor).toBe(fx.scaleFactor);
  });

  it('reads the three central planes of the NeXus map', () => {
    const sl = present(data.slices);
    expect(sl.planes.map((p) => p.axis)).toEqual(['h', 'k', 'l']);
    for (const p of sl.planes) {
      const want = slicePlane(fx.grid, p.axis);
      expect([p.rows, p.cols, p.rowOrigin, p.colOrigin, p.fine]).toEqual([want.rows, want.cols, want.rowOrigin, want.colOrigin, 0]);
      expect(Array.from(p.data)).toEqual(Array.from(want.data));
    }
    // h-plane: rows k (b* / 3), columns l (c* / 3): aspect = (1/50) / (1/60)
    expect(sl.planes[0]!.aspect).toBeCloseTo(60 / 50, 12);
  });

  it('recovers a map that is a known function of |s| by the radial average', () => {
    const r = present(data.radial);
    expect(r.source).toBe(fx.absolute);
    expect(r.units).toBe('electron units per unit cell');
    let used = 0;
    r.s.forEach((s, k) => {
      if (!Number.isFinite(s)) return;
      used++;
      // the absolute table holds K·f(|s|); f is linear, so the bin mean is K·f(mean |s|)
      expect(r.mean[k]).toBeCloseTo(fx.scaleFactor * mapIntensity(s), 9);
      expect(s).toBeGreaterThanOrEqual(r.sLow[k]!);
      expect(s).toBeLessThanOrEqual(r.sHigh[k]!);
    });
    expect(used).toBeGreaterThan(20);
    expect(r.points.reduce((a, b) => a + b, 0)).toBe(17 ** 3);
    // a non-linear function: each bin's mean is close to f at the bin's mean |s|
    const I = Float64Array.from(fx.table.s, (s) => Math.exp(-10 * s));
    const q = radialAverage({ I, s: fx.table.s, multiplicity: fx.table.multiplicity }, 20);
    q.s.forEach((s, k) => {
      if (Number.isFinite(s)) expect(Math.abs(q.mean[k]! - Math.exp(-10 * s))).toBeLessThan(2e-3);
    });
  });

  it('uses the merge stage file for the radial average when there is no absolute scale', async () => {
    const d = await collectReportData({ ...inputs, absolute: null });
    const r = present(d.radial);
    expect(r.source).toBe(fx.merged);
    r.s.forEach((s, k) => {
      if (Number.isFinite(s)) expect(r.mean[k]).toBeCloseTo(mapIntensity(s), 9);
    });
    expect(isAbsent(d.absolute)).toBe(true);
    expect(d.summary.scaleFactor).toBeNull();
  });
});

describe('renderReport', () => {
  it('draws b(φ) with one vertex per node at the node values', () => {
    for (const g of present(data.scale).b) {
      const pts = seriesPoints(html, `b ${g.label}`);
      expect(pts.length).toBe(g.value.length);
      pts.forEach(([x, y], i) => {
        expect(Math.abs(x - g.phi[i]!)).toBeLessThan(1e-3 * 30);
        expect(Math.abs(y - g.value[i]!)).toBeLessThan(2e-4);
      });
      const ys = pts.map((p) => p[1]);
      expect(Math.min(...ys)).toBeCloseTo(Math.min(...g.value), 3);
      expect(Math.max(...ys)).toBeCloseTo(Math.max(...g.value), 3);
    }
  });

  it('draws the excluded fraction per wedge as steps in percent', () => {
    const sw = present(data.filter).sweeps[0]!;
    const pts = seriesPoints(html, 'run1');
    expect(pts.length).toBe(2 * sw.wedge.length);
    sw.fraction.forEach((f, k) => {
      expect(Math.abs(pts[2 * k]![1] - 100 * f)).toBeLessThan(0.02);
      expect(Math.abs(pts[2 * k]![0] - sw.firstFrame[k]!)).toBeLessThan(0.05);
      expect(Math.abs(pts[2 * k + 1]![0] - (sw.firstFrame[k]! + sw.frames[k]!))).toBeLessThan(0.05);
    });
  });

  it('has every section with a title and a caption, the cut-off marked, the summary values', () => {
    for (const id of ['summary', 'slices', 'radial', 'scale', 'filter', 'cchalf', 'absolute']) {
      expect(html).toMatch(new RegExp(`<section id="${id}"><h2>[^<]+</h2><p class="caption">[^<]+</p>`));
    }
    expect(html).not.toContain('Not available');
    expect(html).toContain('data-marker="cut-off 0.08 1/Å"');
    expect((html.match(/<image [^>]*href="data:image\/png;base64,/g) ?? []).length).toBe(3 + 2);
    expect(html).toContain('<td class="num">0.9700</td>');
    expect(html).toContain('123\u2009456');
    expect(html).toContain('3.12 %');
    expect(html).toContain('<td>integrate</td><td class="num">12.50</td>');
    expect(html).toContain('lysozyme run');
  });

  it('is deterministic', async () => {
    expect(renderReport(data)).toBe(html);
    const again = await collectReportData(inputs);
    expect(renderReport(again)).toBe(html);
  });

  it('references nothing outside the file', () => {
    const hostile = renderReport({ ...data, title: 'see https://example.org/<script>', summary: { ...data.summary, subtitle: 'http://x "quoted"' } });
    for (const page of [html, hostile]) {
      const rest = page.split('xmlns="http://www.w3.org/2000/svg"').join('');
      expect(rest).not.toMatch(/https?:\/\//i);
      expect(rest).not.toMatch(/<script|<link|<iframe|@import|url\((?!#)/i);
      for (const m of page.matchAll(/\b(?:src|href)="([^"]*)"/g)) expect(m[1]).toMatch(/^(data:image\/png;base64,|#)/);
    }
    expect(hostile).toContain('see https:&#47;&#47;example.org/&lt;script&gt;');
  });

  it('says which stages are absent instead of failing', async () => {
    const d = await collectReportData({ integrated: [{ sweep: 'gone', file: join(dir, 'nope.h5') }], scaled: null, merged: null, absolute: null, map: null, summary: {} });
    for (const p of [d.slices, d.radial, d.scale, d.filter, d.cchalf, d.absolute]) expect(isAbsent(p)).toBe(true);
    const page = renderReport(d);
    expect((page.match(/<p class="absent">/g) ?? []).length).toBe(6);
    expect(page).toContain('no absolute stage file (the stage did not run)');
    expect(page).toContain('nope.h5 does not exist');
  });

  it('stays small for a 400 × 400 slice and writes atomically', async () => {
    const shape: [number, number, number] = [3, 401, 401];
    const values = new Float32Array(shape[0] * shape[1] * shape[2]);
    let seed = 12345;
    for (let i = 0; i < values.length; i++) {
      seed = (seed * 1103515245 + 12345) >>> 0;
      values[i] = seed / 2 ** 32;
    }
    const d = await collectReportData({ ...inputs, map: { grid: { data: values, shape, origin: [-1, -200, -200], ndiv: [3, 3, 3] }, units: 'arbitrary' } });
    const sl = present(d.slices);
    expect(sl.planes[0]!.rows * sl.planes[0]!.cols).toBe(401 * 401);
    const path = join(dir, 'report.html');
    await writeReport(path, d);
    const bytes = readFileSync(path);
    expect(bytes.length).toBeLessThan(5 * 1024 * 1024);
    expect(bytes.toString('utf8')).toBe(renderReport(d));
  });
});
