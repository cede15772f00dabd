/**
 * Acceptance on a simulated rotation series (src/sim, in memory, Bragg
 * photons drawn apart so each is known), and the pipeline's invariants on the
 * same data: conservation of counts, no change with batch size or frame
 * order, a device lost mid-wedge finishing on the CPU with the same
 * accumulators, statistics and mask (the CPU path), the same cell tables.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readU64, voxelAccumulateCpu } from '../../src/kernels/voxel-accumulate.ts';
import { Engine } from '../../src/host/engine.ts';
import {
  frameRows,
  integrateSeries,
  integrateWedge,
  prepareIntegration,
  wedgeCellTable,
  tableTotals,
  wedgeTables,
  type IntegrationSetup,
  type WedgeResult,
} from '../../src/pipeline/voxel-integrate.ts';
import { diffuseIntensity } from '../../src/sim/physics.ts';
import { reciprocalMetric } from '../../src/sim/spec.ts';
import { gpuTestsDisabled } from '../helpers/gpu.ts';
import { firstDifference, memorySource, pearson, renderSynthetic, shuffled, syntheticSpec, wedgeFrames, type SyntheticSeries } from './helpers.ts';

const FRAMES = 20;
const WEDGE = 10;

let series: SyntheticSeries;
let engine: Engine;
let setup: IntegrationSetup;
let results: WedgeResult[];

async function runAll(e: Engine, s: IntegrationSetup): Promise<WedgeResult[]> {
  const out: WedgeResult[] = [];
  for await (const r of integrateSeries(e, s, memorySource(series.width, series.height, series.frames))) out.push(r);
  return out;
}

beforeAll(async () => {
  series = renderSynthetic(syntheticSpec(FRAMES));
  engine = gpuTestsDisabled() ? Engine.cpu() : await Engine.create({ backend: 'gpu' });
  setup = prepareIntegration(series.exp, { wedgeFrames: WEDGE });
  results = await runAll(engine, setup);
});
afterAll(() => engine?.destroy());

/**
 * Per voxel of a wedge: the Bragg photons, and the expected Bragg photons in
 * units of 1e-4 photon, binned like the data by the CPU twin of
 * voxel-accumulate with the wedge's cell table (the binning itself is checked
 * against brute force in kernels.test.ts). Pixels masked in the data are
 * masked here too.
 */
function braggPerVoxel(r: WedgeResult): { photons: Float64Array; expected: Float64Array } {
  const table = r.acc.table;
  const n = series.width * series.height;
  const offsets = Array.from({ length: r.wedge.count }, (_v, i) => r.wedge.first + i);
  const rows = frameRows(series.exp, offsets);
  const index = Uint32Array.from(offsets);
  const photons = new Int32Array(n * offsets.length);
  const expected = new Int32Array(n * offsets.length);
  offsets.forEach((f, k) => {
    const tot = series.frames[f]!;
    for (let i = 0; i < n; i++) {
      photons[k * n + i] = tot[i]! < 0 ? -1 : series.bragg[f]![i]!;
      expected[k * n + i] = tot[i]! < 0 ? -1 : Math.round(1e4 * series.braggExpected[f]![i]!);
    }
  });
  const sums = (pixels: Int32Array): Float64Array => {
    const a = voxelAccumulateCpu({ table, maxCount: r.acc.maxCount, vectors: setup.vectors, valid: setup.valid, counting: setup.counting.params, batches: [{ rows, index, pixels }] });
    const out = new Float64Array(a.acc.length / a.stride);
    for (let v = 0; v < out.length; v++) out[v] = readU64(a.acc, v * a.stride + a.maxCount + 2);
    return out;
  };
  return { photons: sums(photons), expected: sums(expected) };
}

describe('Poisson filter on a simulated series', () => {
  it('removes the Bragg photons, keeps the diffuse voxels, and the diffuse rates follow the truth', () => {
    let braggAll = 0;
    let braggExcluded = 0;
    let quiet = 0;
    let quietExcluded = 0;
    let occupied = 0;
    let excluded = 0;
    const rate: number[] = [];
    const truth: number[] = [];
    const gStar = reciprocalMetric(series.exp.crystal!.A);
    const exposure = series.spec.scan.exposure;
    for (const r of results) {
      const b = braggPerVoxel(r);
      const { acc, stride, maxCount } = r.acc;
      for (let v = 0; v < r.mask.reason.length; v++) {
        let p = 0;
        for (let c = 0; c <= maxCount + 1; c++) p += acc[v * stride + c]!;
        if (p === 0) continue;
        occupied++;
        const ex = r.mask.reason[v] !== 0;
        if (ex) excluded++;
        braggAll += b.photons[v]!;
        if (ex) braggExcluded += b.photons[v]!;
        // no Bragg signal: under 0.01 expected Bragg photons in the voxel (100 × 1e-4)
        if (b.expected[v]! < 100) {
          quiet++;
          if (ex) quietExcluded++;
        }
      }
      const { included } = wedgeTables(r);
      for (let i = 0; i < included.counts.length; i++) {
        if (included.pixels[i]! < 50) continue;
        rate.push(included.counts[i]! / included.pixels[i]!);
        truth.push(exposure * diffuseIntensity(series.spec.model.diffuse, gStar, included.h[i]!, included.k[i]!, included.l[i]!));
      }
    }
    const braggPct = (100 * braggExcluded) / braggAll;
    const quietPct = (100 * quietExcluded) / quiet;
    const r = pearson(rate, truth);
    console.log(
      `[synthetic] ${FRAMES} frames of ${series.width}×${series.height} px, ${results.length} wedges on ${engine.backend}: ` +
        `Bragg photons excluded ${braggPct.toFixed(2)}% of ${braggAll}; voxels without Bragg signal excluded ${quietPct.toFixed(2)}% of ${quiet}; ` +
        `all voxels excluded ${((100 * excluded) / occupied).toFixed(2)}% of ${occupied}; r(counts/pixels, truth) = ${r.toFixed(4)} on ${rate.length} voxels with ≥ 50 pixel·frames`,
    );
    expect(braggPct).toBeGreaterThanOrEqual(99);
    expect(quietPct).toBeLessThanOrEqual(2);
    expect(r).toBeGreaterThanOrEqual(0.95);
    expect(rate.length).toBeGreaterThan(1000);
  });

  it('conserves counts: included + excluded + masked = Σ frames', () => {
    for (const r of results) {
      const t = wedgeTables(r);
      const sum = tableTotals(t.included).counts + tableTotals(t.excluded).counts + r.acc.maskedSum;
      let frames = 0;
      for (let k = 0; k < r.wedge.count; k++) for (const x of series.frames[r.wedge.first + k]!) frames += x;
      expect(sum).toBe(frames);
      expect(r.frameSum).toBe(frames);
      expect(r.acc.lost).toBe(0);
      // every pixel·frame is either in a voxel or masked
      expect(tableTotals(t.included).pixels + tableTotals(t.excluded).pixels + r.acc.maskedObservations).toBe(r.wedge.count * series.width * series.height);
    }
  });

  it('does not change with the batch size or the frame order inside a wedge', async () => {
    const ref = results[0]!;
    const offsets = Array.from({ length: WEDGE }, (_v, i) => i);
    const s = prepareIntegration(series.exp, { wedgeFrames: WEDGE, batchFrames: 3 });
    const r = await integrateWedge(engine, s, ref.wedge, wedgeFrames(series.width, series.height, series.frames, shuffled(offsets, 7)));
    expect(firstDifference(r.acc.acc, ref.acc.acc)).toBeNull();
    expect(firstDifference(r.mask.reason, ref.mask.reason)).toBeNull();
    // (batches of 2 and 1 frame: the lost-device test below and kernels.test.ts)
  });

  it('refuses frames outside the wedge, twice, or missing', async () => {
    const w = results[0]!.wedge;
    const e = engine;
    await expect(integrateWedge(e, setup, w, wedgeFrames(series.width, series.height, series.frames, [0, 1, 12]))).rejects.toThrow(/outside wedge 0/);
    await expect(integrateWedge(e, setup, w, wedgeFrames(series.width, series.height, series.frames, [0, 1, 1]))).rejects.toThrow(/given twice/);
    await expect(integrateWedge(e, setup, w, wedgeFrames(series.width, series.height, series.frames, [0, 1, 2]))).rejects.toThrow(/missing frame offset 3/);
  });
  it.skipIf(gpuTestsDisabled())('finishes a wedge on the CPU when the device is lost mid-wedge', async () => {
    // uses (and loses) the suite's device: the tests after this one run on the CPU
    const ref = results[1]!;
    const offsets = Array.from({ length: ref.wedge.count }, (_v, i) => ref.wedge.first + i);
    const s = prepareIntegration(series.exp, { wedgeFrames: WEDGE, batchFrames: 2 });
    const e = engine;
    async function* losing() {
      let k = 0;
      for await (const fr of wedgeFrames(series.width, series.height, series.frames, offsets)) {
        if (k++ === 5) e.gpu?.simulateDeviceLoss('test: device lost mid-wedge');
        yield fr;
      }
    }
    const r = await integrateWedge(e, s, ref.wedge, losing(), () => wedgeFrames(series.width, series.height, series.frames, offsets));
    expect(r.backend).toBe('cpu');
    expect(e.backend).toBe('cpu');
    expect(firstDifference(r.acc.acc, ref.acc.acc)).toBeNull();
    expect(firstDifference(r.mask.reason, ref.mask.reason)).toBeNull();
  });

  it('builds the same cell table on the CPU path', async () => {
    const backend = results[0]!.backend;
    engine.destroy();
    for (const r of results) {
      const rows = frameRows(series.exp, Array.from({ length: r.wedge.count }, (_v, i) => r.wedge.first + i));
      const t = await wedgeCellTable(Engine.cpu(), setup, rows);
      expect(t.box).toEqual(r.acc.table.box);
      expect(firstDifference(t.words, r.acc.table.words)).toBeNull();
    }
    console.log(`[synthetic] CPU path: same cell tables as the ${backend} run; with the device lost mid-wedge, the CPU finished accumulators, statistics and mask identical to the ${backend} run`);
  });
});
