/**
 * The Bragg observation table of stills (src/stills/bragg-table.ts):
 * - ssx-cunir (DIALS, with `partiality`): the imported partialities are used;
 *   rows with P < 0.3 are left out and counted; every kept row is I/P, σ/P of
 *   its reflection, in the ASU of the grid, batch = shot, phi = 0;
 * - the CrystFEL stream (no partiality column): computed partialities
 *   (gaussian) lie in (0, 1]; with `xsphere` the reflections outside the
 *   profile radius get P = 0 and are left out as low-partiality rows.
 */
import { describe, expect, it } from 'vitest';
import { Engine } from '../../src/host/engine.ts';
import { mergeObservations } from '../../src/merge/index.ts';
import { spaceGroupAsu } from '../../src/pipeline/correct.ts';
import { braggObservations } from '../../src/stills/bragg-table.ts';
import { readCrystfelStills } from '../../src/stills/crystfel.ts';
import { readDialsStills } from '../../src/stills/dials.ts';
import { stillsExtractDefaults, stillsGridMeta } from '../../src/stills/extract.ts';
import { sharedData } from '../helpers/paths.ts';

describe('stills Bragg table: ssx-cunir', () => {
  it('uses the imported partialities, leaves out P < 0.3 and counts them; rows are I/P, σ/P in the ASU', async () => {
    const dir = sharedData('stills', 'ssx-cunir');
    const data = await readDialsStills(`${dir}/integrated.expt`, `${dir}/integrated.refl`);
    expect(data.reflections.hasPartiality).toBe(true);
    const meta = stillsGridMeta(data, stillsExtractDefaults());
    const b = braggObservations(data, meta, { partialityThreshold: 0.3, partialityModel: 'ellipsoid', intensity: 'prf' });
    const R = data.reflections;
    // the imported column, as read
    expect(Array.from(b.partiality)).toEqual(Array.from(R.partiality));
    let low = 0;
    let invalid = 0;
    for (let r = 0; r < R.n; r++) {
      const ok = Number.isFinite(R.intensityPrf[r]!) && R.intensityPrfVariance[r]! > 0;
      const okSum = Number.isFinite(R.intensitySum[r]!) && R.intensitySumVariance[r]! > 0;
      if (!(ok || okSum) || !Number.isFinite(R.partiality[r]!)) invalid++;
      else if (R.partiality[r]! < 0.3) low++;
    }
    expect(b.lowPartiality).toBe(low);
    expect(b.invalid).toBe(invalid);
    expect(b.used + b.lowPartiality + b.invalid).toBe(R.n);
    expect(b.lowPartiality).toBeGreaterThan(0);
    expect(b.table.I.length).toBe(b.used);
    // each kept row: its reflection's I/P in the ASU (the mapper takes the reflection to the row's index)
    const { asu } = spaceGroupAsu(meta.hall, meta.ndiv);
    const m = new Int32Array(4);
    let o = 0;
    let worst = 0;
    for (let r = 0; r < R.n && o < b.used; r++) {
      const p = R.partiality[r]!;
      if (!(Number.isFinite(p) && p >= 0.3 && Number.isFinite(R.intensityPrf[r]!) && R.intensityPrfVariance[r]! > 0)) continue;
      asu(R.h[r]!, R.k[r]!, R.l[r]!, m);
      expect([b.table.H[o], b.table.K[o], b.table.L[o], b.table.op[o]]).toEqual([m[0], m[1], m[2], m[3]]);
      expect(b.table.dh[o]).toBe(0);
      expect(b.table.batch[o]).toBe(R.shot[r]);
      worst = Math.max(worst, Math.abs(b.table.I[o]! - R.intensityPrf[r]! / p) / Math.max(1, Math.abs(R.intensityPrf[r]! / p)));
      expect(b.table.sigma[o]!).toBeCloseTo(Math.sqrt(R.intensityPrfVariance[r]!) / p, 2);
      expect(b.table.phi[o]).toBe(0);
      o++;
    }
    expect(worst).toBeLessThan(1e-6);
    console.log(`[ssx-cunir Bragg table] ${R.n} reflections: ${b.used} rows, ${b.lowPartiality} with P < 0.3 left out, ${b.invalid} invalid; space group ${meta.hall.trim()}, cell ${meta.cell.map((c) => c.toFixed(2)).join(' ')}`);
    // a higher threshold leaves out more
    const strict = braggObservations(data, meta, { partialityThreshold: 0.6, partialityModel: 'ellipsoid', intensity: 'prf' });
    expect(strict.lowPartiality).toBeGreaterThan(b.lowPartiality);
    expect(strict.used + strict.lowPartiality + strict.invalid).toBe(R.n);
  });
});

describe('stills Bragg table: CrystFEL stream', () => {
  it('computes partialities in (0, 1] (gaussian); xsphere zeros are left out as low partiality', async () => {
    const data = await readCrystfelStills(sharedData('stills', 'crystfel', 'crystfel.stream'));
    expect(data.reflections.hasPartiality).toBe(false);
    const meta = stillsGridMeta(data, stillsExtractDefaults());
    const g = braggObservations(data, meta, { partialityThreshold: 0.3, partialityModel: 'gaussian', intensity: 'prf' });
    expect(g.partiality.length).toBe(data.reflections.n);
    expect(g.partiality.every((p) => p > 0 && p <= 1)).toBe(true);
    const below = g.partiality.filter((p) => p < 0.3).length;
    expect(g.lowPartiality).toBe(below);
    expect(g.used).toBe(data.reflections.n - below - g.invalid);
    const x = braggObservations(data, meta, { partialityThreshold: 0.3, partialityModel: 'xsphere', intensity: 'sum' });
    const zeros = x.partiality.filter((p) => p === 0).length;
    expect(zeros).toBeGreaterThan(0);
    expect(x.lowPartiality).toBeGreaterThanOrEqual(zeros);
    console.log(`[crystfel Bragg table] ${data.reflections.n} reflections: gaussian P in [${Math.min(...g.partiality).toExponential(2)}, ${Math.max(...g.partiality)}], ${g.used} rows, ${g.lowPartiality} with P < 0.3, ${g.invalid} invalid; xsphere: ${zeros} with P = 0, ${x.used} rows`);
  });
});

describe('stills Bragg merge: ssx-cunir', () => {
  it('merges the I/P rows of the 5 shots into one value per ASU reflection (the weighted mean of its rows)', async () => {
    const dir = sharedData('stills', 'ssx-cunir');
    const data = await readDialsStills(`${dir}/integrated.expt`, `${dir}/integrated.refl`);
    const meta = stillsGridMeta(data, stillsExtractDefaults());
    const b = braggObservations(data, meta, { partialityThreshold: 0.3, partialityModel: 'ellipsoid', intensity: 'prf' });
    const t = b.table;
    // no outlier rejection: every merged value is the inverse-variance mean of its rows
    const r = await mergeObservations(Engine.cpu(), t, meta, { outlierSigma: 0, rounds: 0, halfSplit: 'batch', shells: 3 });
    const groups = new Map<string, number[]>();
    for (let i = 0; i < t.I.length; i++) {
      const key = `${t.H[i]},${t.K[i]},${t.L[i]}`;
      const g = groups.get(key);
      if (g === undefined) groups.set(key, [i]);
      else g.push(i);
    }
    const m = r.merged;
    expect(m.I.length).toBe(groups.size);
    expect(r.stats.observations).toBe(b.used);
    let nSum = 0;
    let worst = 0;
    let multi = 0;
    for (let j = 0; j < m.I.length; j++) {
      const rows = groups.get(`${m.H[j]},${m.K[j]},${m.L[j]}`);
      expect(rows, `merged row ${j}`).toBeDefined();
      let sw = 0;
      let swi = 0;
      for (const i of rows!) {
        const w = 1 / t.sigma[i]! ** 2;
        sw += w;
        swi += w * t.I[i]!;
      }
      if (rows!.length > 1) multi++;
      nSum += m.n[j]!;
      expect(m.n[j]).toBe(rows!.length);
      worst = Math.max(worst, Math.abs(m.I[j]! - swi / sw) / Math.max(1, Math.abs(swi / sw)));
      expect(m.sigma[j]!).toBeCloseTo(1 / Math.sqrt(sw), 3);
    }
    expect(nSum).toBe(b.used);
    expect(worst).toBeLessThan(1e-5);
    expect(multi).toBeGreaterThan(0);
    console.log(`[ssx-cunir Bragg merge] ${b.used} rows → ${m.I.length} ASU reflections (${multi} measured more than once); worst relative difference from the weighted mean ${worst.toExponential(1)}`);
  });
});
