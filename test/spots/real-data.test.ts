/** The spot-consistency analysis on the real DIALS-scaled L-cysteine sweep. */
import { beforeAll, describe, expect, it } from 'vitest';
import { MissingFieldError } from '../../src/errors.ts';
import { readExperimentList } from '../../src/geometry/expt.ts';
import type { ExperimentList } from '../../src/geometry/model.ts';
import { getColumn, readReflectionTable, type ReflectionTable } from '../../src/io/dials-refl.ts';
import { availableIntensities, chooseIntensity, extractDatasets } from '../../src/spots/extract.ts';
import { laueGroupFromHall } from '../../src/spots/laue.ts';
import { matchImages } from '../../src/spots/match.ts';
import { dSpacing } from '../../src/spots/orientation.ts';
import { analyseSpread } from '../../src/spots/spread.ts';
import { sharedData } from '../helpers/paths.ts';

let table: ReflectionTable;
let expts: ExperimentList;

beforeAll(async () => {
  table = await readReflectionTable(sharedData('l-cysteine', 'scaled', 'scaled_30.refl'));
  expts = await readExperimentList(sharedData('l-cysteine', 'scaled', 'scaled_30.expt'));
});

describe('scaled_30: extraction', () => {
  it('defaults to the scaled intensities and keeps the rows dials.scale kept', () => {
    expect(availableIntensities(table)).toEqual(['scale', 'prf', 'sum']);
    const ex = extractDatasets(table, expts);
    expect(ex.intensity).toBe('scale');
    expect(ex.datasets.length).toBe(1);
    const ds = ex.datasets[0]!;
    expect(ds.intensitySource).toBe('scale');
    expect(ds.nFrames).toBe(1700);
    expect(ex.drops[0]).toMatchObject({ rows: 5308, unindexed: 706, outsideScan: 0 });
    expect(ds.n).toBe(ex.drops[0]!.kept);
    expect(ds.n).toBeGreaterThan(3000);
  });

  it('d from the unit cell agrees with the table\u2019s d column', () => {
    const ds = extractDatasets(table, expts).datasets[0]!;
    const hkl = getColumn(table, 'miller_index', 'cctbx::miller::index<>').data;
    const d = getColumn(table, 'd', 'double').data;
    let worst = 0;
    let compared = 0;
    for (let r = 0; r < table.nrows; r++) {
      const [h, k, l] = [hkl[3 * r]!, hkl[3 * r + 1]!, hkl[3 * r + 2]!];
      if ((h === 0 && k === 0 && l === 0) || !(d[r]! > 0)) continue;
      compared++;
      worst = Math.max(worst, Math.abs(dSpacing(ds.reciprocalMetric!, h, k, l) / d[r]! - 1));
    }
    expect(compared).toBe(3717);
    expect(worst).toBeLessThan(0.01);
  });

  it('a table without scaled intensities must be told which ones to use', async () => {
    const t = await readReflectionTable(sharedData('l-cysteine', '11_integrated.refl'));
    expect(() => chooseIntensity(t)).toThrow(MissingFieldError);
    expect(() => chooseIntensity(t)).toThrow(/11_integrated\.refl, field 'intensity\.scale\.value': .*available here: prf, sum/);
    expect(chooseIntensity(t, 'sum')).toBe('sum');
  });
});

describe('scaled_30: matching and spread', () => {
  it('finds image pairs that share (symmetry-equivalent) reflections', () => {
    const fold = laueGroupFromHall(expts.experiments[0]!.crystal!.spaceGroupHall);
    expect(fold.name).toBe('mmm');
    const ds = extractDatasets(table, expts).datasets;
    const m = matchImages(ds, { fold, minShared: 2, topPairs: 20 });
    expect(m.pairsWithShared).toBeGreaterThan(1000);
    expect(m.pairs.length).toBeGreaterThan(0);
    expect(m.pairs[0]!.shared).toBeGreaterThanOrEqual(2);
    console.log(`scaled_30 match: ${m.index.images.nImages} images, ${m.index.nKeys} unique reflections, ${m.pairsWithShared} image pairs share ≥ 1, ${m.pairsAboveThreshold} share ≥ 2 (best ${m.pairs[0]!.shared})`);
  });

  it('scaled intensities are more consistent than unscaled intensity.sum.value', () => {
    const fold = laueGroupFromHall(expts.experiments[0]!.crystal!.spaceGroupHall);
    const scaled = analyseSpread(extractDatasets(table, expts).datasets, { fold });
    const sum = analyseSpread(extractDatasets(table, expts, { intensity: 'sum' }).datasets, { fold });
    expect(scaled.summary.intensitySource).toBe('scale');
    expect(sum.summary.intensitySource).toBe('sum');
    expect(scaled.summary.multiReflections).toBeGreaterThan(900);
    expect(scaled.summary.pooledDispersion).toBeLessThan(sum.summary.pooledDispersion);
    expect(scaled.summary.medianDispersion).toBeLessThan(sum.summary.medianDispersion);
    console.log(
      `scaled_30 normalized dispersion: scale (intensity.scale.value) pooled ${scaled.summary.pooledDispersion.toFixed(3)}, median ${scaled.summary.medianDispersion.toFixed(3)} ` +
        `(${scaled.summary.multiReflections} reflections, ${scaled.summary.multiObservations} obs); ` +
        `sum (intensity.sum.value) pooled ${sum.summary.pooledDispersion.toFixed(3)}, median ${sum.summary.medianDispersion.toFixed(3)} ` +
        `(${sum.summary.multiReflections} reflections, ${sum.summary.multiObservations} obs)`,
    );
    expect(scaled.zoneAxes.available).toBe(true);
    expect(scaled.byResolution.length).toBe(10);
  });
});
