import { describe, expect, it } from 'vitest';
import { laueGroupFromHall } from '../../src/spots/laue.ts';
import { matchImages } from '../../src/spots/match.ts';
import { dSpacing, misorientationDeg, reciprocalMetric, zoneAxes, zoneAxisAngleDeg } from '../../src/spots/orientation.ts';
import { renderPng, renderSvg } from '../../src/spots/plot.ts';
import { matchReport, spreadReport } from '../../src/spots/report.ts';
import { simulateUniverse } from '../../src/spots/simulate.ts';
import { analyseSpread, normalTail2 } from '../../src/spots/spread.ts';
import { Rng, ksTwoSample, pearson, permutationPValue, spearman } from '../../src/spots/stats.ts';
import { toCsv } from '../../src/spots/table.ts';

const mmm = laueGroupFromHall(' P 2 2');
const within10 = (got: number, want: number): void => {
  expect(Math.abs(got / want - 1)).toBeLessThan(0.1);
};

describe('dispersion statistics recover planted noise', () => {
  it('uniform noise 1.3 × σ: pooled and median dispersion ≈ 1.3, every intensity bin too', () => {
    const sim = simulateUniverse({ seed: 21, datasets: 10, frames: 40, spotsPerFrame: 80, uniqueReflections: 3000, fold: mmm, noiseFactor: () => 1.3 });
    const s = analyseSpread(sim.datasets, { fold: mmm });
    within10(s.summary.pooledDispersion, 1.3);
    for (const b of s.byIntensity) within10(b.dispersion, 1.3);
    for (const b of s.byResolution) within10(b.dispersion, 1.3);
    for (const d of s.byDataset) within10(d.dispersion, 1.3);
    // |z| > 3 for N(0, 1.3²): P(|N| > 3/1.3)
    within10(s.summary.fractionBeyondK, normalTail2(3 / 1.3));
    console.log(`synthetic uniform noise: planted 1.3, pooled ${s.summary.pooledDispersion.toFixed(4)}, median ${s.summary.medianDispersion.toFixed(4)}`);
  });

  it('noise 1 × σ below the median intensity, 2 × σ above: the intensity bins recover each level', () => {
    const median = 1000 * Math.LN2;
    const sim = simulateUniverse({ seed: 3, datasets: 12, frames: 40, spotsPerFrame: 80, uniqueReflections: 3000, fold: mmm, noiseFactor: (I) => (I < median ? 1 : 2) });
    const s = analyseSpread(sim.datasets, { fold: mmm, bins: 10 });
    const low = s.byIntensity.filter((b) => b.hi < 0.8 * median);
    const high = s.byIntensity.filter((b) => b.lo > 1.2 * median);
    expect(low.length).toBeGreaterThanOrEqual(3);
    expect(high.length).toBeGreaterThanOrEqual(3);
    for (const b of low) within10(b.dispersion, 1);
    for (const b of high) within10(b.dispersion, 2);
    within10(s.summary.pooledDispersion, Math.sqrt((1 + 4) / 2));
    console.log(`synthetic two-level noise: planted 1 / 2, bins ${s.byIntensity.map((b) => b.dispersion.toFixed(3)).join(' ')}`);
  });

  it('1% outliers carry most of the spread: removing the noisiest 1% brings the dispersion back to ≈ 1', () => {
    const sim = simulateUniverse({ seed: 8, datasets: 10, frames: 40, spotsPerFrame: 80, uniqueReflections: 3000, fold: mmm, outlierFraction: 0.01, outlierScale: 20 });
    const s = analyseSpread(sim.datasets, { fold: mmm });
    expect(s.summary.pooledDispersion).toBeGreaterThan(1.8);
    const t1 = s.trimmed.find((t) => t.percent === 1)!;
    expect(t1.shareOfSpread).toBeGreaterThan(0.6);
    expect(t1.dispersionAfter).toBeLessThan(1.2);
    expect(s.trimmed.map((t) => t.percent)).toEqual([1, 5, 10, 20]);
  });
});

describe('per-pair correlation and permutation p-value', () => {
  it('separates consistent pairs from pairs whose shared reflections carry unrelated intensities', () => {
    // datasets 8 and 9 are "mis-indexed": their intensities do not belong to their indices
    const sim = simulateUniverse({ seed: 4, datasets: 10, frames: 30, spotsPerFrame: 80, uniqueReflections: 3000, fold: mmm, plantedPairs: 12, scrambled: [8, 9] });
    const m = matchImages(sim.datasets, { fold: mmm, topPairs: 12, minShared: 3 });
    const s = analyseSpread(sim.datasets, { fold: mmm, pairs: m.pairs, maxPairs: 12, permutations: 999, seed: 7 });
    const im = m.index.images;
    const scrambledPair = (a: number, b: number): boolean => [8, 9].includes(im.imageDataset[a]!) || [8, 9].includes(im.imageDataset[b]!);
    const good = s.pairs.filter((p) => !scrambledPair(p.a, p.b));
    const bad = s.pairs.filter((p) => scrambledPair(p.a, p.b));
    expect(good.length).toBeGreaterThan(3);
    expect(bad.length).toBeGreaterThan(0);
    for (const p of good) {
      expect(p.n).toBeGreaterThanOrEqual(64);
      expect(p.pValue).toBeLessThan(0.002);
      expect(p.pearson).toBeGreaterThan(0.9);
    }
    for (const p of bad) expect(p.pValue).toBeGreaterThan(0.01);
    console.log(`synthetic p-values: consistent ${good.map((p) => p.pValue.toFixed(3)).join(' ')}; scrambled ${bad.map((p) => p.pValue.toFixed(3)).join(' ')}`);
    // deterministic: same seed, same p
    const again = analyseSpread(sim.datasets, { fold: mmm, pairs: m.pairs, maxPairs: 12, permutations: 999, seed: 7 });
    expect(again.pairs.map((p) => p.pValue)).toEqual(s.pairs.map((p) => p.pValue));
  });
});

describe('stats helpers', () => {
  it('pearson, spearman (with ties), permutation p, KS', () => {
    expect(pearson([1, 2, 3, 4], [2, 4, 6, 8])).toBeCloseTo(1, 12);
    expect(spearman([1, 2, 3, 4], [1, 8, 27, 64])).toBeCloseTo(1, 12);
    expect(spearman([1, 1, 2, 3], [1, 2, 3, 4])).toBeCloseTo(0.9486833, 6);
    const rng = new Rng(1);
    const x = Float64Array.from({ length: 50 }, () => rng.normal());
    expect(permutationPValue(x, x, 199, new Rng(2))).toBeCloseTo(1 / 200, 12);
    const y = Float64Array.from({ length: 50 }, () => rng.normal());
    expect(permutationPValue(x, y, 199, new Rng(2))).toBeGreaterThan(0.01);
    const a = Array.from({ length: 400 }, () => rng.normal());
    const b = Array.from({ length: 400 }, () => rng.normal() + 1);
    expect(ksTwoSample(a, b).p).toBeLessThan(1e-6);
    expect(ksTwoSample(a, a).d).toBe(0);
  });

  it('the seeded RNG repeats', () => {
    const a = new Rng(42);
    const b = new Rng(42);
    for (let i = 0; i < 10; i++) expect(a.nextU32()).toBe(b.nextU32());
  });
});

describe('orientation helpers', () => {
  it('d-spacing from the cell, misorientation of rotated settings, zone-axis angle', () => {
    const g = reciprocalMetric({ a: 10, b: 20, c: 30, alpha: 90, beta: 90, gamma: 90 });
    expect(dSpacing(g, 1, 0, 0)).toBeCloseTo(10, 10);
    expect(dSpacing(g, 1, 1, 0)).toBeCloseTo(1 / Math.hypot(0.1, 0.05), 10);
    const B = [0.1, 0, 0, 0, 0.05, 0, 0, 0, 1 / 30];
    const rot = (deg: number): number[] => {
      const c = Math.cos((deg * Math.PI) / 180);
      const s = Math.sin((deg * Math.PI) / 180);
      return [1, 0, 0, 0, c, -s, 0, s, c];
    };
    const mul = (p: number[], q: number[]): number[] => p.map((_, i) => p[3 * Math.floor(i / 3)]! * q[i % 3]! + p[3 * Math.floor(i / 3) + 1]! * q[3 + (i % 3)]! + p[3 * Math.floor(i / 3) + 2]! * q[6 + (i % 3)]!);
    expect(misorientationDeg(mul(rot(10), B), mul(rot(12.5), B))).toBeCloseTo(2.5, 8);
    // a 180° turn about a is a symmetry of mmm: modulo symmetry the two settings coincide
    const twoFold = [1, 0, 0, 0, -1, 0, 0, 0, -1];
    const ops = [[1, 0, 0, 0, 1, 0, 0, 0, 1], twoFold, [-1, 0, 0, 0, 1, 0, 0, 0, -1], [-1, 0, 0, 0, -1, 0, 0, 0, 1]] as unknown as Parameters<typeof misorientationDeg>[2];
    expect(misorientationDeg(B, mul(B, twoFold))).toBeCloseTo(180, 6);
    expect(misorientationDeg(B, mul(B, twoFold), ops)).toBeCloseTo(0, 6);
    // beam along c*: the zone axis [001] is parallel to it
    expect(zoneAxisAngleDeg(B, [0, 0, -1], zoneAxes(2)).angle).toBeCloseTo(0, 8);
    // tilted 3° about a: the nearest low-index zone axis is 3° away
    expect(zoneAxisAngleDeg(mul(rot(3), B), [0, 0, -1], zoneAxes(2)).angle).toBeCloseTo(3, 6);
  });
});

describe('reports and figures', () => {
  it('builds tables and self-contained SVG/PNG figures', () => {
    const sim = simulateUniverse({ seed: 2, datasets: 4, frames: 20, spotsPerFrame: 50, uniqueReflections: 800, fold: mmm, plantedPairs: 2 });
    const m = matchImages(sim.datasets, { fold: mmm, topPairs: 10, minShared: 3 });
    const s = analyseSpread(sim.datasets, { fold: mmm, pairs: m.pairs, maxPairs: 3 });
    const rep = spreadReport(sim.datasets, s, mmm);
    const names = rep.tables.map((t) => t.name);
    expect(names).toEqual(expect.arrayContaining(['reflections', 'by-intensity', 'by-resolution', 'by-image-total', 'trimmed', 'zone-axes', 'pair-stats', 'pair-points']));
    expect(rep.summary.intensity).toBe('scale');
    const csv = toCsv(rep.tables.find((t) => t.name === 'by-intensity')!);
    expect(csv.split('\n')[0]).toBe('intensity,mean_intensity_lo,mean_intensity_hi,observations,dispersion,fraction_beyond_3sigma,mean_intensity,mean_sigma');
    expect(csv.split('\n')[1]!.startsWith('scale,')).toBe(true);
    const figs = [...rep.figures, ...matchReport(sim.datasets, m, { fold: mmm }).figures];
    expect(figs.map((f) => f.name).sort()).toEqual(['dispersion-vs-intensity', 'pair-scatter', 'pair-similarity']);
    for (const f of figs) {
      const svg = renderSvg(f.spec);
      expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
      expect(svg).not.toMatch(/NaN|href=|<image/);
      const png = renderPng(f.spec);
      expect(Array.from(png.subarray(0, 8))).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    }
  });
});
