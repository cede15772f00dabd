/**
 * The report's stills sections (src/report), from the data a stills run
 * passes: scale vs p_order (used and rejected shots as two series), the
 * masked-fraction and partiality histograms (bin counts as drawn), and the
 * shots table (every shot up to 200, beyond that only the rejected and
 * skipped ones, each with its reason); the rotation-only Bragg filter section
 * is left out.
 */
import { describe, expect, it } from 'vitest';
import { collectReportData, renderReport, type StillsData, type StillsShot } from '../../src/report/index.ts';

function shots(n: number): StillsShot[] {
  return Array.from({ length: n }, (_v, i): StillsShot => {
    if (i === 3) return { shot: i, identifier: `s${i}`, status: 'skipped', reason: 'img_0003.img: no such file', pOrder: Number.NaN, b: Number.NaN, maskedFraction: Number.NaN, rows: 0 };
    if (i === 5) return { shot: i, identifier: `s${i}`, status: 'rejected', reason: 'scale outlier: 7.1 σ', pOrder: i, b: 5, maskedFraction: 0.031, rows: 900 };
    return { shot: i, identifier: `s${i}`, status: 'used', reason: '', pOrder: i, b: 1 + 0.01 * i, maskedFraction: 0.02 + 0.001 * (i % 10), rows: 1000 + i };
  });
}

async function page(st: StillsData): Promise<string> {
  return renderReport(await collectReportData({ integrated: [], scaled: null, merged: null, absolute: null, map: null, summary: { title: 'stills' }, stills: st }));
}

/** The SVG figure whose text holds `title`. */
function figure(html: string, title: string): string {
  const at = html.indexOf(title);
  expect(at, title).toBeGreaterThan(0);
  return html.slice(html.lastIndexOf('<svg', at), html.indexOf('</svg>', at));
}

describe('report: the stills sections', () => {
  it('scale vs p_order, the histograms and the shots table with reasons; no Bragg filter section', async () => {
    const partiality = { edges: Array.from({ length: 21 }, (_v, i) => i / 20), counts: Array.from({ length: 20 }, (_v, i) => i), threshold: 0.3 };
    const html = await page({ pOrderLabel: 'pulse energy (eV)', shots: shots(12), partiality });
    expect(html).toContain('id="stills-scale"');
    expect(html).not.toContain('id="filter"');
    expect(html).toContain('with φ the shot’s p_order coordinate');
    // two series: 10 used, 1 rejected
    const scatter = figure(html, 'p_order: pulse energy (eV)');
    expect(scatter).toContain('used (10)');
    expect(scatter).toContain('rejected (1)');
    // masked fractions of the 11 extracted shots; partialities: 190 rows, the 6 bins under 0.3 hold 0+1+…+5 = 15
    expect(html).toContain('11 shots; masked 2.00 % … 3.10 %.');
    expect(html).toContain('Partialities of 190 Bragg rows; rows below 0.3 (15 in the bins under it) are left out of the reference.');
    figure(html, 'Bragg reference: partiality per row');
    figure(html, '2D Bragg mask: masked fraction per shot');
    // the table: counts, then every shot with its status and reason
    expect(html).toContain('<tr><td class="num">12</td><td class="num">10</td><td class="num">1</td><td class="num">1</td></tr>');
    expect(html).toMatch(/<td>s3<\/td><td>skipped<\/td>.*img_0003\.img: no such file/);
    expect(html).toMatch(/<td>s5<\/td><td>rejected<\/td>.*scale outlier: 7\.1 σ/);
    expect((html.match(/<td>s\d+<\/td><td>used<\/td>/g) ?? []).length).toBe(10);
  });

  it('beyond 200 shots the table lists only the rejected and skipped ones; no reflections: no partiality histogram', async () => {
    const html = await page({ pOrderLabel: 'shot index', shots: shots(250), partiality: null });
    expect(html).toContain('250 shots: only the rejected and skipped ones are listed.');
    expect((html.match(/<td>s\d+<\/td><td>(used|rejected|skipped)<\/td>/g) ?? []).length).toBe(2);
    expect(html).toContain('No Bragg reference (the input has no reflections).');
    expect(html).not.toContain('Bragg reference: partiality per row');
  });
});
