/**
 * Rows with NaN/Infinity values are counted, never dropped without a word; a
 * table whose ids name no experiment is a user error naming the file and column.
 * On the real l-cysteine integration (85 rows, 21 with a usable prf intensity).
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { InvalidValueError } from '../../src/errors.ts';
import { readExperimentList } from '../../src/geometry/expt.ts';
import type { ExperimentList } from '../../src/geometry/model.ts';
import { getColumn, readReflectionTable, type ReflectionTable } from '../../src/io/dials-refl.ts';
import { extractDatasets } from '../../src/spots/extract.ts';
import { sharedData } from '../helpers/paths.ts';

let table: ReflectionTable;
let expts: ExperimentList;

beforeEach(async () => {
  // a fresh table per test: the tests write into its columns
  table = await readReflectionTable(sharedData('l-cysteine', '11_integrated.refl'));
  expts = await readExperimentList(sharedData('l-cysteine', '11_integrated.expt'));
});

const col = (name: string): Float64Array => getColumn(table, name).data as Float64Array;

/** rows with a finite prf intensity and a positive variance: the ones extraction keeps */
function usableRows(): number[] {
  const I = col('intensity.prf.value');
  const V = col('intensity.prf.variance');
  return Array.from({ length: table.nrows }, (_v, r) => r).filter((r) => Number.isFinite(I[r]) && (V[r] as number) > 0);
}

describe('.refl rows with non-finite values', () => {
  it('the real table: 21 kept, 64 with a variance ≤ 0 (DIALS’ failed fits) counted as flagged (no integrated_prf flag), nothing non-finite', () => {
    const d = extractDatasets(table, expts, { intensity: 'prf' }).drops[0];
    expect(d).toMatchObject({ rows: 85, kept: 21, badIntensity: 0, flagged: 64, nonFiniteIntensity: 0, nonFinitePosition: 0, outsideScan: 0 });
    expect(usableRows()).toHaveLength(21);
    // every row DIALS left with a variance ≤ 0 is one it flagged: none of them warrants a warning
    const V = col('intensity.prf.variance');
    const flags = getColumn(table, 'flags').data as ArrayLike<number | bigint>;
    const bad = Array.from({ length: table.nrows }, (_v, r) => r).filter((r) => !((V[r] as number) > 0));
    expect(bad).toHaveLength(table.nrows - 21);
    expect(bad.every((r) => (Number(flags[r]) & (1 << 9)) === 0)).toBe(true);
  });

  it('NaN intensity, infinite variance and NaN xyz are counted each under its own name', () => {
    const use = usableRows();
    const I = col('intensity.prf.value');
    const V = col('intensity.prf.variance');
    const obs = col('xyzobs.px.value');
    const cal = col('xyzcal.px');
    use.slice(0, 5).forEach((r) => (I[r] = NaN));
    use.slice(5, 7).forEach((r) => (V[r] = Infinity));
    V[use[7]!] = -Infinity;
    for (const r of use.slice(8, 12)) for (let j = 0; j < 3; j++) obs[3 * r + j] = cal[3 * r + j] = NaN;
    // NaN observed centroid but a usable prediction: kept, imaged by the prediction
    for (let j = 0; j < 3; j++) obs[3 * use[12]! + j] = NaN;
    const ex = extractDatasets(table, expts, { intensity: 'prf' });
    expect(ex.drops[0]).toMatchObject({ rows: 85, kept: 21 - 12, badIntensity: 0, flagged: 64, nonFiniteIntensity: 8, nonFinitePosition: 4, outsideScan: 0, frameFromPrediction: 1 });
    expect(ex.datasets[0]?.n).toBe(9);
    expect(Array.from(ex.datasets[0]!.intensity).every((v) => Number.isFinite(v))).toBe(true);
  });

  it('every position NaN: every row counted as such, none kept', () => {
    const obs = col('xyzobs.px.value');
    const cal = col('xyzcal.px');
    obs.fill(NaN);
    cal.fill(NaN);
    expect(extractDatasets(table, expts, { intensity: 'none' }).drops[0]).toMatchObject({ rows: 85, kept: 0, nonFinitePosition: 85, outsideScan: 0 });
  });

  it('ids that name no experiment (all −7): InvalidValueError naming the file and the id column', () => {
    (getColumn(table, 'id').data as Int32Array).fill(-7);
    const call = (): unknown => extractDatasets(table, expts, { intensity: 'prf' });
    expect(call).toThrow(InvalidValueError);
    expect(call).toThrow(/11_integrated\.refl, field 'id': no row's id names an experiment of .*11_integrated\.expt \(ids found: -7;/);
  });
});
