/**
 * Relative scaling (src/scaling), CPU only:
 * - time per refinement iteration (merge + fit + χ²) and per fit of each
 *   function (b, c, d, a, assembly of the sparse normal equations + solve),
 *   median over the iterations of a full default refinement of 10⁶·size
 *   simulated observations (multiplicity 4–10, 0.5 % outliers);
 * - the merge alone per 10⁶ observations;
 * - for size ≥ 10 (10⁷ observations and more), the peak RSS of that run,
 *   with the memory of the observation table itself for reference.
 */
import { observationCount } from '../../src/pipeline/observations.ts';
import { scaleObservations, type IterationInfo } from '../../src/scaling/index.ts';
import { simulateScalingData } from '../../src/scaling/synthetic.ts';
import type { BenchRow, BenchSection } from '../harness.ts';

const SECTION = 'scaling';

function median(v: number[]): number {
  const s = [...v].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length === 0 ? Number.NaN : s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export const scalingSection: BenchSection = {
  name: SECTION,
  async cpu(size: number) {
    const target = Math.max(1e4, Math.round(1e6 * size));
    // mean multiplicity 7
    const sim = simulateScalingData({ voxels: Math.round(target / 7), seed: 99, outlierFraction: 0.005 });
    const n = observationCount(sim.obs);
    const label = `${(n / 1e6).toFixed(2)}M observations`;
    const tableMiB = Object.values(sim.obs).reduce((s: number, c: ArrayBufferView) => s + c.byteLength, 0) / 2 ** 20;
    (globalThis as { gc?: () => void }).gc?.();
    const base = process.memoryUsage().rss;
    let peak = base;
    const iterations: IterationInfo[] = [];
    const timer = setInterval(() => {
      peak = Math.max(peak, process.memoryUsage().rss);
    }, 50);
    const t0 = performance.now();
    let result: ReturnType<typeof scaleObservations>;
    try {
      result = scaleObservations(sim.obs, sim.meta, {}, {
        onIteration: (info) => {
          iterations.push(info);
          peak = Math.max(peak, process.memoryUsage().rss);
        },
      });
    } finally {
      clearInterval(timer);
    }
    const total = (performance.now() - t0) / 1000;
    peak = Math.max(peak, process.memoryUsage().rss);
    const rows: BenchRow[] = [];
    const p = result.stats.parameters;
    rows.push({
      section: SECTION,
      name: `full refinement b,bc,c,d,a, ${label}`,
      backend: 'cpu',
      value: total,
      unit: 's',
      note: `${iterations.length} iterations, ${result.stats.voxels} voxels, parameters a ${p.a} b ${p.b} c ${p.c} d ${p.d}, final chi2 ${result.history[result.history.length - 1]?.chi2.toFixed(3)}`,
    });
    for (const stage of ['b', 'bc', 'c', 'd', 'a'] as const) {
      const its = iterations.filter((i) => i.stage === stage);
      if (its.length === 0) continue;
      rows.push({ section: SECTION, name: `refinement iteration, stage ${stage}, ${label}`, backend: 'cpu', value: median(its.map((i) => i.seconds * 1000)), unit: 'ms', note: `median of ${its.length}` });
    }
    for (const name of ['b', 'c', 'd', 'a'] as const) {
      const fits = iterations.flatMap((i) => i.fits.filter((f) => f.name === name));
      if (fits.length === 0) continue;
      const f0 = fits[0]!;
      rows.push({
        section: SECTION,
        name: `fit ${name} (assemble + solve), ${label}`,
        backend: 'cpu',
        value: median(fits.map((f) => f.seconds * 1000)),
        unit: 'ms',
        note: `median of ${fits.length}; ${f0.parameters} parameters, nnz ${f0.nnz}, CG iterations median ${median(fits.map((f) => f.cgIterations))}`,
      });
    }
    rows.push({ section: SECTION, name: `merge per 10^6 observations, ${label}`, backend: 'cpu', value: median(iterations.map((i) => (i.mergeSeconds * 1000) / (n / 1e6))), unit: 'ms/Mobs' });
    if (size >= 10) {
      rows.push({
        section: SECTION,
        name: `peak RSS, full refinement of ${label}`,
        backend: 'cpu',
        value: peak / 2 ** 20,
        unit: 'MiB',
        note: `+${((peak - base) / 2 ** 20).toFixed(0)} MiB over the start of the refinement; the observation table itself ${tableMiB.toFixed(0)} MiB`,
      });
    }
    return rows;
  },
};
