/**
 * Bragg-peak filter and voxel integration:
 * - histogram + integration (voxel-accumulate) throughput in pixel·frames/s,
 *   on a Pilatus 2M-sized simulated detector (1475 × 1679 px) × 8·size frames
 *   of 0.2° (one wedge), Poisson(1) counts, ndiv 3,3,3, the pipeline's 5
 *   per-pixel channels (x, y, panel, quantized κ and d³s); the two geometry
 *   passes (cell-bounds + cell-occupancy) on the same wedge;
 * - filter statistics (filter-stats) time per million subvoxels, and the
 *   greedy removal on the host;
 * - peak RSS while a simulated series streams through `integrateSeries`
 *   (128 × 128 px, 0.5° frames, wedges of 3°), for 360·size, 1200·size and
 *   3600·size frames: memory must not grow with the frame count.
 */
import { buildCellTable, boxFromBounds, type CellTable } from '../../src/grid/cell-table.ts';
import { greedyPoissonFilter } from '../../src/grid/poisson-filter.ts';
import { subvoxelsPerCell } from '../../src/grid/subvoxel.ts';
import { detectorPixelVectors } from '../../src/geometry/pixel-vectors.ts';
import type { GpuContext } from '../../src/host/context.ts';
import { Engine } from '../../src/host/engine.ts';
import type { DetectorImage } from '../../src/io/image.ts';
import { cellBoundsGpu, packValidBits } from '../../src/kernels/cell-bounds.ts';
import { bitmapFromCells, cellOccupancyGpu, cellSetCpu } from '../../src/kernels/cell-occupancy.ts';
import { filterStatsCpu, filterStatsGpu } from '../../src/kernels/filter-stats.ts';
import { openAccumulator, voxelAccumulateCpu, type AccumulateSetup, type FrameBatch, type VoxelAccumulators } from '../../src/kernels/voxel-accumulate.ts';
import { frameRows, integrateSeries, prepareIntegration } from '../../src/pipeline/voxel-integrate.ts';
import { buildExperiment, sizedSpec } from '../../src/sim/spec.ts';
import { mulberry32, poisson } from '../../src/util/random.ts';
import { timeMedian, type BenchRow, type BenchSection } from '../harness.ts';

const SECTION = 'filter';

export interface Workload {
  setupBase: Omit<AccumulateSetup, 'table'>;
  geometry: { vectors: Float32Array; valid: Uint32Array; rows: Float32Array };
  batch: FrameBatch;
  pixelFrames: number;
  label: string;
}

/** A wedge of 8·size simulated 2M frames with the pipeline's 5 channels (also the transfer section's). */
export function workload(size: number): Workload {
  const spec = sizedSpec('large', 1);
  const exp = buildExperiment(spec);
  const frames = Math.max(1, Math.round(8 * size));
  const { vectors } = detectorPixelVectors(exp.detector, exp.beam);
  const n = vectors.length / 3;
  const mask = new Uint8Array(n).fill(1);
  const [w] = exp.detector.panels[0]!.imageSize;
  for (const r of exp.detector.panels[0]!.mask) for (let y = r.y0; y < r.y1; y++) mask.fill(0, y * w + r.x0, y * w + r.x1);
  const valid = packValidBits(mask);
  const offsets = Array.from({ length: frames }, (_v, i) => i);
  const rows = frameRows(exp, offsets);
  const u = mulberry32(17);
  const pixels = new Int32Array(n * frames);
  for (let i = 0; i < pixels.length; i++) pixels[i] = poisson(u, 1);
  // x, y, panel, and two quantized weights (≤ 2^20), as voxel-integrate passes them
  const C = 5;
  const chan = new Uint32Array(C * n);
  for (let i = 0; i < n; i++) {
    chan[C * i] = i % w;
    chan[C * i + 1] = Math.floor(i / w);
    chan[C * i + 3] = Math.round(u() * 2 ** 20);
    chan[C * i + 4] = Math.round(u() * 2 ** 20);
  }
  return {
    setupBase: { maxCount: 20, vectors, valid, counting: { trustedLo: 0, trustedHi: 1000000, markers: true }, channels: { count: C, values: chan } },
    geometry: { vectors, valid, rows },
    batch: { rows, index: Uint32Array.from(offsets), pixels },
    pixelFrames: n * frames,
    label: `1475x1679 px x ${frames} frames, 5 channels`,
  };
}

function cpuTable(w: Workload): CellTable {
  const set = cellSetCpu(w.geometry);
  const box = boxFromBounds(set.min, set.max);
  return buildCellTable([3, 3, 3], box, bitmapFromCells(box, set.cells));
}

function voxelsOf(a: VoxelAccumulators): number {
  return a.table.cells * subvoxelsPerCell(a.table.ndiv);
}

function occupiedOf(a: VoxelAccumulators): number {
  let occ = 0;
  for (let v = 0; v < voxelsOf(a); v++) {
    let p = 0;
    for (let c = 0; c <= a.maxCount + 1; c++) p += a.acc[v * a.stride + c] as number;
    if (p > 0) occ++;
  }
  return occ;
}

/** Peak RSS while `frames` simulated frames stream through integrateSeries (frames reused cyclically). */
async function streamPeakRss(engine: Engine, frames: number): Promise<{ peakMiB: number; growthMiB: number; seconds: number; wedges: number }> {
  const spec = sizedSpec('small', 2);
  spec.detector.modules = { nx: 1, ny: 1, moduleWidth: 128, moduleHeight: 128, gapX: 0, gapY: 0 };
  spec.detector.beamCentre = [60.3, 70.7];
  spec.detector.badPixels = [];
  spec.scan.frames = frames;
  const exp = buildExperiment(spec);
  const n = 128 * 128;
  const u = mulberry32(3);
  const pool = Array.from({ length: 8 }, () => Int32Array.from({ length: n }, () => poisson(u, 1)));
  const source = {
    length: frames,
    async *[Symbol.asyncIterator](): AsyncGenerator<DetectorImage> {
      for (let f = 0; f < frames; f++) {
        yield { width: 128, height: 128, pixels: pool[f % pool.length] as Int32Array, header: { format: 'cbf', raw: new Map(), lines: [] }, source: { file: 'bench', frame: f } };
      }
    },
  };
  const setup = prepareIntegration(exp, { wedgeDeg: 3 });
  (globalThis as { gc?: () => void }).gc?.();
  const base = process.memoryUsage().rss;
  let peak = base;
  let wedges = 0;
  const t0 = performance.now();
  for await (const r of integrateSeries(engine, setup, source)) {
    wedges++;
    if (r.mask.occupied < 0) throw new Error('unreachable');
    peak = Math.max(peak, process.memoryUsage().rss);
  }
  return { peakMiB: peak / 2 ** 20, growthMiB: (peak - base) / 2 ** 20, seconds: (performance.now() - t0) / 1000, wedges };
}

async function rssRows(engine: Engine, size: number, backend: 'gpu' | 'cpu'): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  for (const frames of [360, 1200, 3600].map((f) => Math.max(6, Math.round(f * size)))) {
    const r = await streamPeakRss(engine, frames);
    rows.push({
      section: SECTION,
      name: `peak RSS streaming ${frames} frames of 128x128 px (${r.wedges} wedges of 3 deg)`,
      backend,
      value: r.peakMiB,
      unit: 'MiB',
      note: `+${r.growthMiB.toFixed(1)} MiB over the start of this run, ${(frames / r.seconds).toFixed(0)} frames/s`,
    });
  }
  return rows;
}

export const filterSection: BenchSection = {
  name: SECTION,
  async gpu(ctx: GpuContext, size: number) {
    const w = workload(size);
    const rows: BenchRow[] = [];
    let table: CellTable | undefined;
    const geo = await timeMedian('gpu cell table', async () => {
      const b = await cellBoundsGpu(ctx, w.geometry);
      const box = boxFromBounds(b.min, b.max);
      table = buildCellTable([3, 3, 3], box, (await cellOccupancyGpu(ctx, { ...w.geometry, box })).bitmap);
    }, { iterations: 3, timeMs: 200 });
    const geoRow: BenchRow = { section: SECTION, name: `cell-bounds + cell-occupancy, ${w.label}`, backend: 'gpu', value: w.pixelFrames / (geo / 1000), unit: 'pixel·frames/s (cells)' };
    const setup: AccumulateSetup = { ...w.setupBase, table: table! };
    let acc: VoxelAccumulators | undefined;
    const t = await timeMedian('gpu voxel-accumulate', async () => {
      const s = openAccumulator(ctx, setup);
      await s.add(w.batch);
      acc = await s.finish();
    }, { iterations: 3, timeMs: 200 });
    rows.push({ section: SECTION, name: `histogram + integration (voxel-accumulate), ${w.label}, session: upload + kernel + readback`, backend: 'gpu', value: w.pixelFrames / (t / 1000), unit: 'pixel·frames/s' });
    // kernel with resident accumulators: only the frames' upload and the dispatch
    const resident = openAccumulator(ctx, setup);
    try {
      const k = await timeMedian('gpu voxel-accumulate resident', async () => {
        await resident.add(w.batch);
        await ctx.finish();
      }, { iterations: 3, timeMs: 200 });
      rows.push({ section: SECTION, name: `histogram + integration (voxel-accumulate), ${w.label}, frame upload + kernel (accumulators resident)`, backend: 'gpu', value: w.pixelFrames / (k / 1000), unit: 'pixel·frames/s' });
    } finally {
      resident.dispose();
    }
    rows.push(geoRow);
    const voxels = voxelsOf(acc!);
    const fs = await timeMedian('gpu filter-stats', async () => {
      await filterStatsGpu(ctx, { acc: acc!, window: 2 });
    }, { iterations: 3, timeMs: 200 });
    rows.push({ section: SECTION, name: `filter-stats (λ, D, ΔD; window 2) per million subvoxels (${voxels} subvoxels, ${occupiedOf(acc!)} occupied)`, backend: 'gpu', value: fs / (voxels / 1e6), unit: 'ms/Mvoxel' });
    const engine = await Engine.create({ backend: 'gpu' });
    try {
      rows.push(...(await rssRows(engine, size, 'gpu')));
    } finally {
      engine.destroy();
    }
    return rows;
  },
  async cpu(size: number) {
    const w = workload(size);
    const rows: BenchRow[] = [];
    let table: CellTable | undefined;
    const geo = await timeMedian('cpu cell table', () => {
      table = cpuTable(w);
    }, { iterations: 1, timeMs: 0 });
    const geoRow: BenchRow = { section: SECTION, name: `cell table (one pass), ${w.label}`, backend: 'cpu', value: w.pixelFrames / (geo / 1000), unit: 'pixel·frames/s (cells)' };
    let acc: VoxelAccumulators | undefined;
    const t = await timeMedian('cpu voxel-accumulate', () => {
      acc = voxelAccumulateCpu({ ...w.setupBase, table: table!, batches: [w.batch] });
    }, { iterations: 1, timeMs: 0 });
    rows.push({ section: SECTION, name: `histogram + integration (voxel-accumulate CPU twin, 1 thread), ${w.label}`, backend: 'cpu', value: w.pixelFrames / (t / 1000), unit: 'pixel·frames/s' });
    rows.push(geoRow);
    const voxels = voxelsOf(acc!);
    let stats: ReturnType<typeof filterStatsCpu> | undefined;
    const fs = await timeMedian('cpu filter-stats', () => {
      stats = filterStatsCpu({ acc: acc!, window: 2 });
    }, { iterations: 1, timeMs: 0 });
    rows.push({ section: SECTION, name: `filter-stats CPU twin per million subvoxels (${voxels} subvoxels)`, backend: 'cpu', value: fs / (voxels / 1e6), unit: 'ms/Mvoxel' });
    let outliers = 0;
    const gr = await timeMedian('greedy removal', () => {
      outliers = greedyPoissonFilter(acc!, stats!, 2).outliers;
    }, { iterations: 1, timeMs: 0 });
    rows.push({ section: SECTION, name: `greedy removal on the host per million subvoxels (${outliers} removed)`, backend: 'host', value: gr / (voxels / 1e6), unit: 'ms/Mvoxel' });
    rows.push(...(await rssRows(Engine.cpu(), size, 'cpu')));
    return rows;
  },
};
