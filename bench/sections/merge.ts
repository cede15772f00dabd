/**
 * Merging (src/merge, kernel merge-weighted): 10⁶·size observations of about
 * 10⁵·size voxels (1…19 rows each, plus 20 voxels of 2000 rows: the skew of
 * low-|s| voxels seen on many frames), 1 % outliers.
 * - the sort by fine key (host), Mrows/s;
 * - the merge-weighted kernel: GPU end to end (upload, two passes, readback)
 *   and the CPU twin, Mrows/s;
 * - mergeObservations end to end (sort, merge, rejection rounds, both halves,
 *   shells), Mrows/s, on each backend.
 */
import type { GpuContext } from '../../src/host/context.ts';
import { Engine } from '../../src/host/engine.ts';
import { mergeWeightedCpu, mergeWeightedGpu, type MergeWeightedParams } from '../../src/kernels/merge-weighted.ts';
import { mergeObservations, sortByFineKey, type MergeEngine } from '../../src/merge/index.ts';
import { emptyObservations, splitFine, type ObservationMeta, type ObservationTable } from '../../src/pipeline/observations.ts';
import { mulberry32, normal } from '../../src/util/random.ts';
import { timeMedian, type BenchRow, type BenchSection } from '../harness.ts';

const META: ObservationMeta = { ndiv: [3, 3, 3], hall: '-P 2 2', cell: [50, 60, 70, 90, 90, 90], wavelength: 1 };

interface Data {
  obs: ObservationTable;
  voxels: number;
  params: MergeWeightedParams;
  label: string;
}

let cached: { size: number; data: Data } | undefined;

function data(size: number): Data {
  if (cached?.size === size) return cached.data;
  const u = mulberry32(17);
  const target = Math.round(1e6 * size);
  const counts: number[] = [];
  let total = 0;
  for (let v = 0; v < 20; v++) {
    counts.push(2000);
    total += 2000;
  }
  while (total < target) {
    const c = 1 + Math.floor(u() * 19);
    counts.push(c);
    total += c;
  }
  const obs = emptyObservations(total);
  // voxels on a walk through the positive octant of fine indices (distinct)
  const side = Math.ceil(Math.cbrt(counts.length));
  let r = 0;
  counts.forEach((c, v) => {
    const fh = v % side;
    const fk = Math.floor(v / side) % side;
    const fl = Math.floor(v / (side * side));
    const truth = 100 + 50 * Math.sin(fh / 7) * Math.cos(fk / 5) + fl / 3;
    const [H, dh] = splitFine(fh, 3);
    const [K, dk] = splitFine(fk, 3);
    const [L, dl] = splitFine(fl, 3);
    for (let j = 0; j < c; j++) {
      obs.H[r] = H;
      obs.K[r] = K;
      obs.L[r] = L;
      obs.dh[r] = dh;
      obs.dk[r] = dk;
      obs.dl[r] = dl;
      obs.op[r] = j % 8;
      const sigma = 2 + 8 * u();
      obs.sigma[r] = sigma;
      obs.I[r] = truth + sigma * normal(u) + (u() < 0.01 ? 40 * sigma : 0);
      obs.x[r] = u() * 4000;
      obs.y[r] = u() * 4000;
      obs.phi[r] = u() * 360;
      obs.batch[r] = Math.floor(u() * 360);
      obs.fraction[r] = 1;
      r++;
    }
  });
  // the input arrives in acquisition order, not by voxel
  const perm = new Uint32Array(total);
  for (let i = 0; i < total; i++) perm[i] = i;
  for (let i = total - 1; i > 0; i--) {
    const j = Math.floor(u() * (i + 1));
    const t = perm[i] as number;
    perm[i] = perm[j] as number;
    perm[j] = t;
  }
  const shuffled = emptyObservations(total);
  for (const name of Object.keys(obs) as (keyof ObservationTable)[]) {
    const src = obs[name] as ArrayLike<number>;
    const dst = shuffled[name] as { [i: number]: number };
    for (let i = 0; i < total; i++) dst[i] = src[perm[i] as number] as number;
  }
  const sorted = sortByFineKey(shuffled, META.ndiv);
  const params: MergeWeightedParams = {
    values: Float32Array.from(sorted.order, (i) => shuffled.I[i] as number),
    sigmas: Float32Array.from(sorted.order, (i) => shuffled.sigma[i] as number),
    include: new Uint8Array(total).fill(1),
    offsets: sorted.offsets,
  };
  const label = `${(total / 1e6).toFixed(2)}M rows → ${(counts.length / 1e3).toFixed(0)}k voxels`;
  const d = { obs: shuffled, voxels: counts.length, params, label };
  cached = { size, data: d };
  return d;
}

const rates = new Map<string, number>();

async function sortRow(d: Data, backend: 'gpu' | 'cpu'): Promise<BenchRow> {
  const t = await timeMedian('merge sort', () => {
    sortByFineKey(d.obs, META.ndiv);
  }, { iterations: 3, timeMs: 100 });
  const n = d.obs.I.length;
  return { section: 'merge', name: `sort by fine key, ${d.label}`, backend: 'host', value: n / (t / 1000) / 1e6, unit: 'Mrows/s', note: `${t.toFixed(0)} ms (${backend} part)` };
}

export const mergeSection: BenchSection = {
  name: 'merge',
  async gpu(ctx: GpuContext, size) {
    const d = data(size);
    const n = d.obs.I.length;
    const rows: BenchRow[] = [await sortRow(d, 'gpu')];
    await mergeWeightedGpu(ctx, d.params);
    const k = await timeMedian('gpu merge-weighted', async () => {
      await mergeWeightedGpu(ctx, d.params);
    }, { iterations: 3 });
    rows.push({ section: 'merge', name: `merge-weighted kernel, ${d.label} (upload + 2 passes + readback)`, backend: 'gpu', value: n / (k / 1000) / 1e6, unit: 'Mrows/s', note: `${k.toFixed(0)} ms` });
    rates.set('kernel', n / (k / 1000));
    const engine: MergeEngine = { backend: 'gpu', run: (kernel, params) => kernel.gpu(ctx, params) };
    const r = await mergeObservations(engine, d.obs, META);
    const e = await timeMedian('gpu mergeObservations', async () => {
      await mergeObservations(engine, d.obs, META);
    }, { iterations: 2, timeMs: 100 });
    rows.push({
      section: 'merge',
      name: `mergeObservations end to end, ${d.label} (sort, ${r.stats.rounds + 1} merges, 2 halves, shells)`,
      backend: 'gpu',
      value: n / (e / 1000) / 1e6,
      unit: 'Mrows/s',
      note: `${e.toFixed(0)} ms, ${r.stats.rejected} rejected, CC½ ${r.overall.cchalf.toFixed(4)}`,
    });
    rates.set('e2e', n / (e / 1000));
    return rows;
  },
  async cpu(size) {
    const d = data(size);
    const n = d.obs.I.length;
    const rows: BenchRow[] = [await sortRow(d, 'cpu')];
    const k = await timeMedian('cpu merge-weighted', () => {
      mergeWeightedCpu(d.params);
    }, { iterations: 2, timeMs: 100 });
    rows.push({ section: 'merge', name: `merge-weighted kernel, ${d.label} (CPU twin, 1 thread)`, backend: 'cpu', value: n / (k / 1000) / 1e6, unit: 'Mrows/s', note: `${k.toFixed(0)} ms` });
    const gk = rates.get('kernel');
    if (gk !== undefined) rows.push({ section: 'merge', name: 'merge-weighted kernel: GPU end to end / CPU twin', backend: 'host', value: gk / (n / (k / 1000)), unit: 'ratio' });
    const engine = Engine.cpu();
    const r = await mergeObservations(engine, d.obs, META);
    const e = await timeMedian('cpu mergeObservations', async () => {
      await mergeObservations(engine, d.obs, META);
    }, { iterations: 2, timeMs: 100 });
    rows.push({
      section: 'merge',
      name: `mergeObservations end to end, ${d.label} (sort, ${r.stats.rounds + 1} merges, 2 halves, shells)`,
      backend: 'cpu',
      value: n / (e / 1000) / 1e6,
      unit: 'Mrows/s',
      note: `${e.toFixed(0)} ms, ${r.stats.rejected} rejected`,
    });
    const ge = rates.get('e2e');
    if (ge !== undefined) rows.push({ section: 'merge', name: 'mergeObservations: GPU / CPU', backend: 'host', value: ge / (n / (e / 1000)), unit: 'ratio' });
    return rows;
  },
};
