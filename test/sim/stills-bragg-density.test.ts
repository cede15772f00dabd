/**
 * The Bragg term of stills in the diffuse rows' units (src/stills/bragg-density.ts),
 * against the truth of `simulateStills` (20 shots of 256²):
 * - every listed reflection's expected spot counts / P · braggDensityFactors
 *   equals b · (K/Ω₀) · |F_H|²/(V_c v), the lattice point's Bragg density in the
 *   units a diffuse row has (counts / (T κ) = b · K/Ω₀ per electron unit, Ω₀
 *   the solid angle of a pixel at the foot of the panel normal), to 1 %;
 *   the measured I_sum gives the same within noise (median within 2 %);
 * - braggObservations multiplies I/P and σ/P by the factors (a NaN factor: invalid);
 * - the xsphere and gaussian thicknesses: 4R/3 and √(2π)·R/2.6;
 * - foldBragg adds Bragg densities to their subvoxels, leaves out lattice-point
 *   subvoxels without Bragg and appends unmatched Bragg rows.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { emptyMerged, type ObservationMeta } from '../../src/pipeline/observations.ts';
import { simulateStills, STILLS_FILES, type StillsSimulationResult } from '../../src/sim/stills/simulate.ts';
import { stillsSpec } from '../../src/sim/stills/spec.ts';
import { HALL_SYMBOLS } from '../../src/sim/spec.ts';
import { foldBragg } from '../../src/pipeline/absolute.ts';
import { braggDensityFactors, latticePointThickness } from '../../src/stills/bragg-density.ts';
import { braggObservations } from '../../src/stills/bragg-table.ts';
import { readDialsStills } from '../../src/stills/dials.ts';
import type { StillsDataset } from '../../src/stills/model.ts';

const root = mkdtempSync(join(tmpdir(), 'diffract-stills-bragg-'));
const spec = stillsSpec({ shots: 20, size: 256, seed: 9 });
let result: StillsSimulationResult;
let data: StillsDataset;
beforeAll(async () => {
  result = await simulateStills(spec, join(root, 'd'));
  data = await readDialsStills(result.expt, result.refl);
}, 120_000);
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('stills Bragg densities', () => {
  it('I/P · factor is the lattice point’s Bragg density in diffuse-row units (b·K/Ω₀ per e.u.)', () => {
    const c = spec.base.crystal.unitCell;
    const meta: ObservationMeta = { ndiv: [1, 1, 1], hall: HALL_SYMBOLS[spec.base.crystal.spaceGroup], cell: [c.a, c.b, c.c, c.alpha, c.beta, c.gamma], wavelength: spec.base.beam.wavelength };
    const factors = braggDensityFactors(data, meta, { model: 'gaussian', exposure: spec.base.scan.exposure, corrections: { solidAngle: true, polarization: true, efficiency: true, air: 1 } });
    const t = JSON.parse(readFileSync(join(result.outDir, STILLS_FILES.reflections), 'utf8')) as Record<'f2' | 'expected', number[]>;
    const truth = JSON.parse(readFileSync(result.truth, 'utf8')) as { shotTruth: { scale: number }[] };
    const volume = c.a * c.b * c.c;
    const v = 1 / volume;
    const K = spec.base.model.electronUnits?.photonsPerEu ?? Number.NaN;
    const d = spec.base.detector;
    const omega0 = (d.pixelSize * d.pixelSize) / (d.distance * d.distance);
    const R = data.reflections;
    const exact: number[] = [];
    const measured: number[] = [];
    for (let r = 0; r < R.n; r++) {
      const P = R.partiality[r] as number;
      const b = truth.shotTruth[R.shot[r] as number]?.scale ?? Number.NaN;
      const density = (b * (K / omega0) * (t.f2[r] as number)) / (volume * v);
      expect(Number.isFinite(factors[r] as number), `row ${r}`).toBe(true);
      exact.push((((t.expected[r] as number) / P) * (factors[r] as number)) / density);
      if (P >= 0.3) measured.push((((R.intensitySum[r] as number) / P) * (factors[r] as number)) / density);
    }
    const median = (a: number[]): number => a.slice().sort((x, y) => x - y)[Math.floor(a.length / 2)] as number;
    const worst = Math.max(...exact.map((x) => Math.abs(x - 1)));
    console.log(`[stills Bragg density] ${R.n} rows: expected counts → density / truth: median ${median(exact).toFixed(4)}, worst ${(1 + worst).toFixed(4)}; measured I_sum (P ≥ 0.3, ${measured.length} rows): median ${median(measured).toFixed(4)}`);
    expect(Math.abs(median(exact) - 1)).toBeLessThan(0.01);
    expect(worst).toBeLessThan(0.05);
    expect(Math.abs(median(measured) - 1)).toBeLessThan(0.02);

    // braggObservations applies the factors to I/P and σ/P, and counts rows with a non-finite factor as invalid
    const settings = { partialityThreshold: 0.3, partialityModel: 'gaussian' as const, intensity: 'sum' as const };
    const plain = braggObservations(data, meta, settings);
    const rows = [...Array(R.n).keys()].filter((r) => (R.partiality[r] as number) >= 0.3);
    const withNaN = factors.slice();
    withNaN[rows[0] as number] = Number.NaN;
    const scaled = braggObservations(data, meta, settings, withNaN);
    expect(scaled.used).toBe(plain.used - 1);
    expect(scaled.invalid).toBe(plain.invalid + 1);
    rows.slice(1, 21).forEach((r, j) => {
      // the table's I and σ are f32
      expect(Math.abs((scaled.table.I[j] as number) / ((plain.table.I[j + 1] as number) * (factors[r] as number)) - 1)).toBeLessThan(1e-6);
      expect(Math.abs((scaled.table.sigma[j] as number) / ((plain.table.sigma[j + 1] as number) * (factors[r] as number)) - 1)).toBeLessThan(1e-6);
    });
  });

  it('lattice-point thickness of the partiality models', () => {
    expect(latticePointThickness('xsphere', 0.003)).toBeCloseTo(0.004, 12);
    expect(latticePointThickness('gaussian', 0.0026)).toBeCloseTo(Math.sqrt(2 * Math.PI) * 0.001, 12);
    expect(latticePointThickness('ellipsoid', 0, 4e-6)).toBeCloseTo(Math.sqrt(2 * Math.PI * 4e-6), 12);
  });

  it('foldBragg: densities added to their subvoxels, lattice points without Bragg left out, unmatched Bragg appended', () => {
    const d = emptyMerged(3);
    // (1,2,3) lattice point, (1,2,3)+(1,0,0)/3 off-lattice, (2,2,2) lattice point without Bragg
    [[1, 2, 3, 0], [1, 2, 3, 1], [2, 2, 2, 0]].forEach(([H, K, L, dh], i) => {
      d.H[i] = H as number;
      d.K[i] = K as number;
      d.L[i] = L as number;
      d.dh[i] = dh as number;
      d.I[i] = 10 + i;
      d.sigma[i] = 3;
      d.multiplicity[i] = 8;
    });
    const b = emptyMerged(2);
    [[1, 2, 3], [4, 4, 4]].forEach(([H, K, L], i) => {
      b.H[i] = H as number;
      b.K[i] = K as number;
      b.L[i] = L as number;
      b.I[i] = 100 * (i + 1);
      b.sigma[i] = 4;
      b.multiplicity[i] = 8;
    });
    const f = foldBragg(d, b);
    expect([...f.I]).toEqual([110, 11, Number.NaN, 200]);
    expect(f.sigma[0]).toBeCloseTo(5, 12);
    expect([...f.H]).toEqual([1, 1, 2, 4]);
    expect([...f.multiplicity]).toEqual([8, 8, 8, 8]);
  });
});
