/**
 * Acceptance on a simulated rotation series (src/sim, in memory, Bragg
 * photons drawn apart so each is known), and the pipeline's invariants on the
 * same data: conservation of counts, no change with batch size or frame
 * order, a device lost mid-wedge finishing on the CPU with the same
 * accumulators, statistics and mask (the CPU path), the same cell tables;
 * the per-subvoxel pixel sums (x, y, panel) and weight sums (κ, d³s) against
 * brute force, and their independence of batch size and frame order.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readU64, voxelAccumulateCpu } from '../../src/kernels/voxel-accumulate.ts';
import { Engine } from '../../src/host/engine.ts';
import { cellOf, hklComponentF32, subOf } from '../../src/grid/subvoxel.ts';
import {
  CHANNEL,
  concatTables,
  frameRows,
  integrateSeries,
  integrateWedge,
  prepareIntegration,
  quantizeWeights,
  WEIGHT_BITS,
  wedgeCellTable,
  wedgeFilterTable,
  tableTotals,
  wedgeTables,
  type IntegrationSetup,
  type PixelWeights,
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
let weights: PixelWeights;

async function runAll(e: Engine, s: IntegrationSetup): Promise<WedgeResult[]> {
  const out: WedgeResult[] = [];
  for await (const r of integrateSeries(e, s, memorySource(series.width, series.height, series.frames))) out.push(r);
  return out;
}

beforeAll(async () => {
  series = renderSynthetic(syntheticSpec(FRAMES));
  engine = gpuTestsDisabled() ? Engine.cpu() : await Engine.create({ backend: 'gpu' });
  // synthetic weights: smooth over the detector, NaN on statically masked pixels (ignored there)
  const usable = prepareIntegration(series.exp, {}).staticMask.valid;
  const n = series.width * series.height;
  weights = {
    kappa: Float64Array.from({ length: n }, (_v, i) => (usable[i] === 1 ? 0.55 + 0.4 * Math.sin(0.0137 * i) ** 2 : NaN)),
    d3s: Float64Array.from({ length: n }, (_v, i) => (usable[i] === 1 ? 3e-7 * (1 + ((i * 7919) % 1000) / 250) : NaN)),
  };
  setup = prepareIntegration(series.exp, { wedgeFrames: WEDGE, pixelWeights: weights });
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

/** The x, y, panel channel sums of a 5-channel result (what a run without weights gives). */
function xyPanelOnly(r: WedgeResult): Uint32Array {
  const voxels = r.acc.channelSums.length / 10;
  const out = new Uint32Array(6 * voxels);
  for (let v = 0; v < voxels; v++) out.set(r.acc.channelSums.subarray(10 * v, 10 * v + 6), 6 * v);
  return out;
}

/** Is pixel·frame (i, value) valid: statically usable and a count the wedge keeps. */
function validPixelFrame(i: number, raw: number): boolean {
  const c = setup.counting.params;
  return setup.staticMask.valid[i] === 1 && raw >= c.trustedLo && raw <= c.trustedHi && !(c.markers && (raw === -1 || raw === -2)) && raw >= 0;
}

/** The weights quantized from their definition: quantum = max over usable pixels / 2^20, q = round(w / quantum). */
function quantized(w: Float64Array): { q: Float64Array; quantum: number } {
  let max = 0;
  for (let i = 0; i < w.length; i++) if (setup.staticMask.valid[i] === 1) max = Math.max(max, w[i]!);
  const quantum = max / 2 ** 20;
  return { q: Float64Array.from(w, (x, i) => (setup.staticMask.valid[i] === 1 ? Math.round(x / quantum) : 0)), quantum };
}

describe('pixel and weight sums per subvoxel', () => {
  it('quantizes each weight channel to 20 bits of its maximum', () => {
    const usable = Uint8Array.from([1, 1, 0, 1, 1]);
    const r = quantizeWeights(Float64Array.from([0.5, 2, NaN, 1e-9, 1.25]), usable, 'kappa');
    expect(WEIGHT_BITS).toBe(20);
    expect(r.quantum).toBe(2 / 2 ** 20);
    expect(Array.from(r.q)).toEqual([2 ** 18, 2 ** 20, 0, 0, 1.25 * 2 ** 19]);
    expect(quantizeWeights(new Float64Array(5), usable, 'd3s').quantum).toBe(0);
    expect(() => quantizeWeights(Float64Array.from([1, -1, 0, 0, 0]), usable, 'kappa')).toThrow(/kappa: pixel 1 has -1/);
    expect(() => quantizeWeights(Float64Array.from([1, Infinity, 0, 0, 0]), usable, 'd3s')).toThrow(/d3s: pixel 1/);
    expect(() => prepareIntegration(series.exp, { pixelWeights: { kappa: new Float64Array(3), d3s: new Float64Array(3) } })).toThrow(/3 values for 157609 pixels/);
    expect(setup.weights).toEqual({ kappa: quantized(weights.kappa).quantum, d3s: quantized(weights.d3s).quantum });
  });

  it('x, y, panel, κ and d³s sums of every subvoxel of a wedge equal the per-pixel brute force', () => {
    const r = results[0]!;
    const W = series.width;
    const n = W * series.height;
    const rows = frameRows(series.exp, Array.from({ length: r.wedge.count }, (_v, i) => r.wedge.first + i));
    const qk = quantized(weights.kappa);
    const qd = quantized(weights.d3s);
    const want = new Map<string, number[]>();
    for (let k = 0; k < r.wedge.count; k++) {
      const px = series.frames[r.wedge.first + k]!;
      for (let i = 0; i < n; i++) {
        if (!validPixelFrame(i, px[i]!)) continue;
        const hkl = [0, 4, 8].map((row) => hklComponentF32(rows, 12 * k + row, setup.vectors[3 * i]!, setup.vectors[3 * i + 1]!, setup.vectors[3 * i + 2]!));
        const cell = hkl.map(cellOf);
        const key = [...cell, ...hkl.map((h, a) => subOf(h, cell[a]!, 3))].join(',');
        let e = want.get(key);
        if (e === undefined) want.set(key, (e = [0, 0, 0, 0, 0, 0]));
        e[0]! += i % W;
        e[1]! += Math.floor(i / W);
        e[2]! += 0; // one panel
        e[3]! += qk.q[i]!;
        e[4]! += qd.q[i]!;
        e[5]! += 1;
      }
    }
    const t = wedgeTables(r);
    const all = concatTables([t.included, t.excluded]);
    expect(all.counts.length).toBe(want.size);
    for (let row = 0; row < all.counts.length; row++) {
      const key = [all.H[row], all.K[row], all.L[row], all.ix[row], all.iy[row], all.iz[row]].join(',');
      const e = want.get(key)!;
      expect([all.xSum[row], all.ySum[row], all.panelSum[row], all.kappaSum![row], all.d3sSum![row], all.pixels[row]]).toEqual([e[0], e[1], e[2], e[3]! * qk.quantum, e[4]! * qd.quantum, e[5]]);
      // the mean pixel centre lies on the detector
      const mx = all.xSum[row]! / all.pixels[row]! + 0.5;
      expect(mx > 0 && mx < W).toBe(true);
    }
    // the filter table carries the same columns
    const ft = wedgeFilterTable(r);
    const total = (x: ArrayLike<number>): number => Array.from(x).reduce((q, y) => q + y, 0);
    expect(ft.kappaSum!.length).toBe(want.size);
    expect([total(ft.xSum), total(ft.ySum), total(ft.panelSum)]).toEqual([total(all.xSum), total(all.ySum), total(all.panelSum)]);
    // (float sums in another row order)
    expect(Math.abs(total(ft.kappaSum!) / total(all.kappaSum!) - 1)).toBeLessThan(1e-12);
    expect(Math.abs(total(ft.d3sSum!) / total(all.d3sSum!) - 1)).toBeLessThan(1e-12);
  });

  it('Σ over subvoxels of the κ and d³s sums = Σ over the valid pixel·frames of the quantized weights', () => {
    const qk = quantized(weights.kappa);
    const qd = quantized(weights.d3s);
    const n = series.width * series.height;
    let wantK = 0;
    let wantD = 0;
    let exactK = 0;
    let validPf = 0;
    for (const f of series.frames) {
      for (let i = 0; i < n; i++) {
        if (!validPixelFrame(i, f[i]!)) continue;
        wantK += qk.q[i]!;
        wantD += qd.q[i]!;
        exactK += weights.kappa[i]!;
        validPf++;
      }
    }
    let gotK = 0;
    let gotD = 0;
    let tableK = 0;
    for (const r of results) {
      const cs = r.acc.channelSums;
      for (let v = 0; v < cs.length / 10; v++) {
        gotK += readU64(cs, 10 * v + 2 * CHANNEL.kappa);
        gotD += readU64(cs, 10 * v + 2 * CHANNEL.d3s);
      }
      const t = wedgeTables(r);
      for (const x of [...t.included.kappaSum!, ...t.excluded.kappaSum!]) tableK += x;
    }
    expect(gotK).toBe(wantK);
    expect(gotD).toBe(wantD);
    expect(wantK).toBeLessThan(2 ** 53);
    // de-quantized, within half a quantum per pixel·frame of the exact Σκ
    expect(Math.abs(tableK - exactK)).toBeLessThanOrEqual(0.5 * qk.quantum * validPf);
    expect(Math.abs(tableK - wantK * qk.quantum)).toBeLessThanOrEqual(1e-9 * tableK);
    expect(Math.abs(tableK - exactK) / exactK).toBeLessThan(1e-6);
  });

  it('a series without weights has the x, y, panel sums and no weight columns', async () => {
    const s = prepareIntegration(series.exp, { wedgeFrames: WEDGE });
    expect(s.channels.count).toBe(3);
    expect(s.weights).toBeUndefined();
    const r = await integrateWedge(Engine.cpu(), s, results[0]!.wedge, wedgeFrames(series.width, series.height, series.frames, Array.from({ length: WEDGE }, (_v, i) => i)));
    const t = wedgeTables(r).included;
    expect(t.kappaSum).toBeUndefined();
    expect(t.d3sSum).toBeUndefined();
    expect(firstDifference(t.xSum, wedgeTables(results[0]!).included.xSum)).toBeNull();
    expect(r.acc.channels).toBe(3);
  });
});

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
    // without weights the channel sums are the same x, y, panel sums
    expect(firstDifference(r.acc.channelSums, xyPanelOnly(ref))).toBeNull();
    const w = prepareIntegration(series.exp, { wedgeFrames: WEDGE, batchFrames: 3, pixelWeights: weights });
    const rw = await integrateWedge(engine, w, ref.wedge, wedgeFrames(series.width, series.height, series.frames, shuffled(offsets, 11)));
    expect(rw.acc.channels).toBe(5);
    expect(firstDifference(rw.acc.channelSums, ref.acc.channelSums)).toBeNull();
    const a = wedgeTables(rw).included;
    const b = wedgeTables(ref).included;
    for (const col of ['xSum', 'ySum', 'panelSum', 'kappaSum', 'd3sSum'] as const) expect(firstDifference(a[col]!, b[col]!)).toBeNull();
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
    expect(firstDifference(r.acc.channelSums, xyPanelOnly(ref))).toBeNull();
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
