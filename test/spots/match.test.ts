import { describe, expect, it } from 'vitest';
import { buildInvertedIndex } from '../../src/spots/hkl-index.ts';
import { laueGroupFromHall, packHkl } from '../../src/spots/laue.ts';
import { matchFromIndex, matchFromIndexParallel, matchImages } from '../../src/spots/match.ts';
import { misorientationDeg } from '../../src/spots/orientation.ts';
import { pairAngles } from '../../src/spots/report.ts';
import { simulateRotationSweeps, simulateUniverse } from '../../src/spots/simulate.ts';

const mmm = laueGroupFromHall(' P 2 2');

describe('matchImages on simulated data with planted pairs', () => {
  const sim = simulateUniverse({ seed: 11, datasets: 12, frames: 40, spotsPerFrame: 80, uniqueReflections: 3000, fold: mmm, plantedPairs: 6 });

  it('ranks the planted pairs first, and they are nearly the same orientation', () => {
    const m = matchImages(sim.datasets, { fold: mmm, topPairs: 20, minShared: 3 });
    const planted = new Set(sim.planted.map((p) => `${p.a}-${p.b}`));
    const top = m.pairs.slice(0, planted.size).map((p) => `${p.a}-${p.b}`);
    expect(new Set(top)).toEqual(planted);
    // 80% of 80 spots repeated = 64 shared; the best chance pair shares far fewer
    expect(m.pairs[0]!.shared).toBe(64);
    expect(m.pairs[planted.size]!.shared).toBeLessThan(20);
    for (const p of m.pairs.slice(0, planted.size)) {
      expect(pairAngles(sim.datasets, m, p.a, p.b, mmm).angle).toBeCloseTo(0.2, 6);
    }
    console.log(
      `synthetic match: planted pairs share ${m.pairs[0]!.shared}, best chance pair ${m.pairs[planted.size]!.shared}; ` +
        `${m.pairsWithShared} pairs share ≥ 1 of ${(480 * 479) / 2}`,
    );
  });

  it('needs folding: the planted mates carry symmetry-equivalent indices', () => {
    const raw = matchImages(sim.datasets, { fold: null, topPairs: 5, minShared: 3 });
    expect(raw.pairs.length === 0 || raw.pairs[0]!.shared < 20).toBe(true);
  });

  it('counts exactly what a brute-force pairwise comparison counts', () => {
    const small = simulateUniverse({ seed: 5, datasets: 4, frames: 15, spotsPerFrame: 30, uniqueReflections: 400, fold: mmm, plantedPairs: 2, geometry: false });
    const m = matchImages(small.datasets, { fold: mmm, topPairs: 1000, minShared: 1 });
    // brute force over folded key sets
    const fold = (h: number, k: number, l: number): number => packHkl(Math.abs(h), Math.abs(k), Math.abs(l)); // mmm: |h|,|k|,|l|
    const sets: Set<number>[] = [];
    for (const ds of small.datasets) {
      for (let f = 0; f < ds.nFrames; f++) sets.push(new Set());
      const base = sets.length - ds.nFrames;
      for (let r = 0; r < ds.n; r++) sets[base + ds.frame[r]!]!.add(fold(ds.h[r]!, ds.k[r]!, ds.l[r]!));
    }
    const hist = new Map<number, number>();
    let pairs = 0;
    for (let i = 0; i < sets.length; i++) {
      for (let j = i + 1; j < sets.length; j++) {
        let c = 0;
        for (const k of sets[i]!) if (sets[j]!.has(k)) c++;
        if (c > 0) {
          pairs++;
          hist.set(c, (hist.get(c) ?? 0) + 1);
        }
      }
    }
    expect(m.pairsWithShared).toBe(pairs);
    for (const [c, n] of hist) expect(m.histogram[c]).toBe(n);
    const best = m.pairs[0]!;
    let c = 0;
    for (const k of sets[best.a]!) if (sets[best.b]!.has(k)) c++;
    expect(best.shared).toBe(c);
  });

  it('cross-dataset-only leaves out pairs within a dataset', () => {
    const m = matchImages(sim.datasets, { fold: mmm, topPairs: 50, minShared: 1, crossDatasetOnly: true });
    const im = m.index.images;
    for (const p of m.pairs) expect(im.imageDataset[p.a]).not.toBe(im.imageDataset[p.b]);
  });
});

describe('matchFromIndexParallel', () => {
  it('gives exactly the single-thread result on two workers', async () => {
    const sim = simulateRotationSweeps({ seed: 3, datasets: 6, frames: 200, dMin: 3 });
    const index = buildInvertedIndex(sim.datasets, mmm, { shared: true });
    const options = { fold: mmm, topPairs: 50, minShared: 3 };
    const one = matchFromIndex(index, options);
    const two = await matchFromIndexParallel(index, options, 2, 0);
    expect(two.threads).toBe(2);
    expect(two.pairs).toEqual(one.pairs);
    expect(Array.from(two.histogram)).toEqual(Array.from(one.histogram));
    expect(Array.from(two.bestPartner)).toEqual(Array.from(one.bestPartner));
    expect(Array.from(two.bestShared)).toEqual(Array.from(one.bestShared));
    expect(two.pairsWithShared).toBe(one.pairsWithShared);
    expect(two.postingPairs).toBe(one.postingPairs);
  });
});

describe('rotation sweeps (Ewald geometry)', () => {
  it('the best-matching images have nearly the same crystal orientation', () => {
    const sim = simulateRotationSweeps({ seed: 9, datasets: 8, frames: 300, dMin: 2.5, mounts: 2 });
    const m = matchImages(sim.datasets, { fold: null, topPairs: 10, minShared: 3, crossDatasetOnly: true });
    expect(m.pairs.length).toBe(10);
    const im = m.index.images;
    const setting = (g: number): Float64Array => {
      const d = im.imageDataset[g]!;
      const phi = ((sim.phi0[d]! + (im.imageFrame[g]! + 0.5) * 0.1) * Math.PI) / 180;
      const c = Math.cos(phi);
      const s = Math.sin(phi);
      const R = [1, 0, 0, 0, c, -s, 0, s, c];
      const UB = sim.UB[d]!;
      const out = new Float64Array(9);
      for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) out[3 * i + j] = R[3 * i]! * UB[j]! + R[3 * i + 1]! * UB[3 + j]! + R[3 * i + 2]! * UB[6 + j]!;
      return out;
    };
    for (const p of m.pairs) expect(misorientationDeg(setting(p.a), setting(p.b))).toBeLessThan(3);
  });
});
