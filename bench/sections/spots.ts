/**
 * Image matching at scale (issue 7): `200·size` simulated rotation sweeps of one
 * crystal form (80 × 90 × 95 Å, 2 Å, four mounting orientations turned by ~1°,
 * random start angles) × 1,000 images of 0.1° with Ewald-sphere geometry, about
 * 195 spots per image: ~39 M observations at size 1. Timed once (a run is tens of
 * seconds; the simulation is not timed): building the inverted index, then the
 * co-occurrence scan on 2 worker threads (the target is "under a minute on 2
 * cores"), raw indices, top 100 pairs with ≥ 3 shared.
 */
import { availableParallelism } from 'node:os';
import { buildInvertedIndex } from '../../src/spots/hkl-index.ts';
import { matchFromIndexParallel } from '../../src/spots/match.ts';
import { simulateRotationSweeps } from '../../src/spots/simulate.ts';
import type { BenchRow, BenchSection } from '../harness.ts';

const THREADS = 2;

export const spotsSection: BenchSection = {
  name: 'spots',
  async cpu(size) {
    const datasets = Math.max(2, Math.round(200 * size));
    const sim = simulateRotationSweeps({ seed: 20240601, datasets, frames: 1000 });
    const images = datasets * 1000;
    const spots = sim.observations / images;
    const what = `match ${datasets} datasets x 1000 images x ${spots.toFixed(0)} spots (${(sim.observations / 1e6).toFixed(1)} M obs)`;
    const t0 = performance.now();
    const index = buildInvertedIndex(sim.datasets, null, { shared: true });
    const t1 = performance.now();
    const result = await matchFromIndexParallel(index, { fold: null, topPairs: 100, minShared: 3 }, THREADS);
    const t2 = performance.now();
    const total = (t2 - t0) / 1000;
    const note = `${result.threads} threads on ${availableParallelism()} cores; ${(result.postingPairs / 1e9).toFixed(2)} G posting pairs, ${(result.pairsWithShared / 1e9).toFixed(2)} G image pairs share >= 1; best pair shares ${result.pairs[0]?.shared ?? 0}`;
    const rows: BenchRow[] = [
      { section: 'spots', name: `${what}: index + scan`, backend: 'cpu', value: total, unit: 's', note },
      { section: 'spots', name: `${what}: inverted index`, backend: 'cpu', value: (t1 - t0) / 1000, unit: 's' },
      { section: 'spots', name: `${what}: co-occurrence scan`, backend: 'cpu', value: (t2 - t1) / 1000, unit: 's' },
      { section: 'spots', name: `${what}: rate`, backend: 'cpu', value: result.postingPairs / ((t2 - t1) / 1000), unit: 'postings/s' },
    ];
    return rows;
  },
};
