/**
 * Device data that stays on the device: resident device arrays (pool-counted,
 * read back, destroyed twice), resident inputs pinned by owner, the upload
 * counter; the GPU path of integrate uploading the per-pixel geometry once per
 * series (and the frames once per batch) with tables identical to the CPU
 * path; and the engine's session fall-back when the device is lost mid-session.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GpuContext } from '../../src/host/context.ts';
import { DeviceArray } from '../../src/host/device-array.ts';
import { Engine } from '../../src/host/engine.ts';
import { voxelAccumulateCpu, voxelAccumulateStream, type AccumulateSetup, type FrameBatch, type VoxelAccumulators } from '../../src/kernels/voxel-accumulate.ts';
import {
  frameRows,
  integrateSeries,
  prepareIntegration,
  wedgeCellTable,
  wedgeFilterTable,
  wedgeTables,
  type IntegrationSetup,
  type WedgeResult,
} from '../../src/pipeline/voxel-integrate.ts';
import { completeSource } from '../../src/io/sources/complete.ts';
import { integrateDefaults, integrateStage, silentContext } from '../../src/stages/index.ts';
import { resetLogOnce } from '../../src/util/log.ts';
import { firstDifference, memorySource, renderSynthetic, syntheticSpec, type SyntheticSeries } from '../filter/helpers.ts';
import { gpuTestsDisabled, openTestGpu } from '../helpers/gpu.ts';

const FRAMES = 12;
const WEDGE = 4;
const BATCH = 3;

let series: SyntheticSeries;
beforeAll(() => {
  series = renderSynthetic(syntheticSpec(FRAMES));
});

async function integrate(engine: Engine, setup: IntegrationSetup): Promise<WedgeResult[]> {
  const out: WedgeResult[] = [];
  for await (const r of integrateSeries(engine, setup, memorySource(series.width, series.height, series.frames))) out.push(r);
  return out;
}

function expectSameAccumulators(a: VoxelAccumulators, b: VoxelAccumulators): void {
  expect(firstDifference(a.acc, b.acc)).toBeNull();
  expect(firstDifference(a.channelSums, b.channelSums)).toBeNull();
  expect([a.maskedObservations, a.maskedSum, a.lost]).toEqual([b.maskedObservations, b.maskedSum, b.lost]);
}

describe.skipIf(gpuTestsDisabled())('resident device arrays and the upload counter', () => {
  let ctx: GpuContext;
  beforeAll(async () => {
    ctx = await openTestGpu();
  });
  afterAll(() => ctx?.destroy());

  it('a device array is uploaded once, read back, counted in the pool, and destroyed twice safely', async () => {
    ctx.resetUploadStats();
    const before = ctx.poolStats().allocatedBytes;
    const data = Int32Array.from({ length: 1000 }, (_v, i) => i * i - 5000);
    const a = DeviceArray.upload(ctx, 'test array', data);
    expect([a.type, a.length, a.byteLength]).toEqual(['i32', 1000, 4000]);
    expect(ctx.poolStats().allocatedBytes).toBeGreaterThanOrEqual(before + 4000);
    expect(Array.from(await a.read())).toEqual(Array.from(data));
    expect(Array.from(await a.read(10, 3))).toEqual([100 - 5000, 121 - 5000, 144 - 5000]);
    expect(ctx.uploadStats().get('test array')).toEqual({ bytes: 4000, calls: 1 });
    // a kernel-style release does not take a device array's buffer from it
    ctx.release(a.buffer);
    expect(Array.from(await a.read(999, 1))).toEqual([data[999]]);
    const z = DeviceArray.zeros(ctx, 'test zeros', 'f32', 5);
    expect(Array.from(await z.read())).toEqual([0, 0, 0, 0, 0]);
    a.destroy();
    a.destroy();
    z.destroy();
    expect(a.destroyed).toBe(true);
    expect(() => a.buffer).toThrow(/used after destroy/);
    expect(ctx.poolStats().idleBytes).toBeGreaterThanOrEqual(4096);
  });

  it('resident inputs: one upload per owner and name; kernels handed the pinned array bind it', () => {
    ctx.resetUploadStats();
    const owner = {};
    const v = new Float32Array([1, 2, 3]);
    const a = ctx.resident(owner, 'v', v, 'pinned v');
    expect(ctx.resident(owner, 'v', v, 'pinned v')).toBe(a);
    expect(ctx.input('kernel v', v)).toBe(a.buffer);
    const other = ctx.input('kernel w', new Float32Array([1, 2, 3]));
    expect(other).not.toBe(a.buffer);
    ctx.release(other);
    expect(Object.fromEntries(ctx.uploadStats())).toEqual({ 'pinned v': { bytes: 12, calls: 1 }, 'kernel w': { bytes: 12, calls: 1 } });
    // a new array under the same name replaces the old upload
    const v2 = new Float32Array([4, 5, 6]);
    const b = ctx.resident(owner, 'v', v2, 'pinned v');
    expect(a.destroyed).toBe(true);
    expect(ctx.input('kernel v', v2)).toBe(b.buffer);
    ctx.releaseResident(owner);
    expect(b.destroyed).toBe(true);
    // (released: the next kernel uploads it itself)
    ctx.release(ctx.input('kernel v', v2));
    expect(ctx.uploadStats().get('kernel v')).toEqual({ bytes: 12, calls: 1 });
  });
});

describe.skipIf(gpuTestsDisabled())('the GPU path of integrate keeps device data on the device', () => {
  let engine: Engine;
  afterAll(() => {
    engine?.destroy();
    resetLogOnce();
  });

  it('uploads the per-pixel geometry once per series, the frames once per batch, and gives the tables of the CPU path', async () => {
    engine = await Engine.create({ backend: 'gpu', env: {} });
    const ctx = engine.gpu as GpuContext;
    const setup = prepareIntegration(series.exp, { wedgeFrames: WEDGE, batchFrames: BATCH });
    ctx.resetUploadStats();
    const gpu = await integrate(engine, setup);
    const uploads = ctx.uploadStats();
    const cpu = await integrate(Engine.cpu(), prepareIntegration(series.exp, { wedgeFrames: WEDGE, batchFrames: BATCH }));

    const wedges = FRAMES / WEDGE;
    const batches = wedges * Math.ceil(WEDGE / BATCH);
    const n = series.width * series.height;
    expect(gpu.map((r) => r.backend)).toEqual(Array(wedges).fill('gpu'));
    // per-pixel arrays: once for the whole series, whatever the wedges and kernels
    expect(uploads.get('pixel vectors')).toEqual({ bytes: 12 * n, calls: 1 });
    expect(uploads.get('pixel valid bits')).toEqual({ bytes: 4 * setup.valid.length, calls: 1 });
    expect(uploads.get('pixel channels')).toEqual({ bytes: 4 * setup.channels.values.length, calls: 1 });
    // frames: once per batch, as u16 (photon counts span less than 65535; 2 bytes per value, whole words)
    let u16Bytes = 0;
    for (let w = 0; w < wedges; w++) {
      for (let f = 0; f < WEDGE; f += BATCH) {
        const values = n * Math.min(BATCH, WEDGE - f);
        u16Bytes += 2 * (values + (values % 2));
      }
    }
    expect(uploads.get('voxel-accumulate pixels (u16)')).toEqual({ bytes: u16Bytes, calls: batches });
    expect(uploads.get('voxel-accumulate pixels (i32)')).toBeUndefined();
    // the cell table once per wedge, shared by voxel-accumulate and filter-stats
    expect(uploads.get('cell table')?.calls).toBe(wedges);
    expect(uploads.get('cell keys')?.calls).toBe(wedges);
    // nothing per-pixel uploaded by a kernel itself, and the accumulators never go back up
    const perKernel = [...uploads.keys()].filter((l) => /vectors|valid bits|channels$|cell table$|keys$|accumulators/.test(l) && !l.startsWith('pixel ') && !l.startsWith('cell '));
    expect(perKernel).toEqual([]);

    expect(cpu.length).toBe(wedges);
    gpu.forEach((g, w) => {
      const c = cpu[w] as WedgeResult;
      expectSameAccumulators(g.acc, c.acc);
      expect(firstDifference(g.mask.reason, c.mask.reason)).toBeNull();
      const [tg, tc] = [wedgeTables(g), wedgeTables(c)];
      for (const part of ['included', 'excluded'] as const) {
        for (const [col, values] of Object.entries(tg[part])) expect(firstDifference(values as ArrayLike<number>, tc[part][col as keyof typeof tc.included] as ArrayLike<number>), `${part}.${col}`).toBeNull();
      }
      const [fg, fc] = [wedgeFilterTable(g), wedgeFilterTable(c)];
      for (const col of ['lambda', 'divergence', 'delta', 'neighbourhoodPixels'] as const) expect(firstDifference(fg[col], fc[col]), col).toBeNull();
      expect(tg.included.counts.length).toBeGreaterThan(1000);
    });
    // the series released its resident arrays: the setup's vectors are no longer pinned
    ctx.release(ctx.input('probe', setup.vectors));
    expect(ctx.uploadStats().get('probe')).toEqual({ bytes: 12 * n, calls: 1 });
  });
});

describe.skipIf(gpuTestsDisabled())('the integrate stage (what the CLI and the runner call) keeps device data on the device', () => {
  it('uploads the per-pixel geometry once for all its wedges', async () => {
    const engine = await Engine.create({ backend: 'gpu', env: {} });
    try {
      const ctx = engine.gpu as GpuContext;
      const n = series.width * series.height;
      const frames = completeSource({
        length: FRAMES,
        shape: [series.width, series.height],
        type: 'int32',
        description: 'synthetic frames in memory',
        read: (i) => memorySource(series.width, series.height, series.frames).read!(i),
        readStored: async (i) => ({ width: series.width, height: series.height, type: 'int32', data: series.frames[i] as Int32Array }),
        fingerprint: () => 'synthetic',
        close: async () => undefined,
      });
      const settings = integrateDefaults();
      settings.grid.wedgeFrames = WEDGE;
      settings.grid.wedgeDeg = null;
      settings.grid.batchFrames = BATCH;
      ctx.resetUploadStats();
      const r = await integrateStage.run(silentContext(engine), { experiment: series.exp, exptPath: 'synthetic.expt', frames }, settings);
      const uploads = ctx.uploadStats();
      expect(r.wedges.length).toBe(FRAMES / WEDGE);
      expect(r.summary.backend).toBe('gpu');
      expect(uploads.get('pixel vectors')).toEqual({ bytes: 12 * n, calls: 1 });
      expect(uploads.get('pixel valid bits')?.calls).toBe(1);
      expect(uploads.get('voxel-accumulate pixels (u16)')?.calls).toBe((FRAMES / WEDGE) * Math.ceil(WEDGE / BATCH));
    } finally {
      engine.destroy();
    }
  });
});

describe.skipIf(gpuTestsDisabled())('engine sessions: device loss mid-session finishes on the CPU', () => {
  let setup: AccumulateSetup;
  let batches: FrameBatch[];
  let want: VoxelAccumulators;
  beforeAll(async () => {
    const s = prepareIntegration(series.exp, {});
    const offsets = [0, 1, 2, 3, 4];
    const rows = frameRows(series.exp, offsets);
    const table = await wedgeCellTable(Engine.cpu(), s, rows);
    setup = { table, maxCount: s.maxCount, vectors: s.vectors, valid: s.valid, counting: s.counting.params, channels: s.channels };
    const n = s.nPixels;
    batches = [[0, 1], [2, 3], [4]].map((fs) => ({
      rows: Float32Array.from(fs.flatMap((f) => Array.from(rows.subarray(12 * f, 12 * f + 12)))),
      index: Uint32Array.from(fs),
      pixels: Int32Array.from(fs.flatMap((f) => Array.from(series.frames[f] as Int32Array))),
    }));
    want = voxelAccumulateCpu({ ...setup, batches });
    expect(n).toBe(series.width * series.height);
  });
  afterAll(() => resetLogOnce());

  it('lost between batches: the kept batches are replayed on the CPU', async () => {
    const engine = await Engine.create({ backend: 'gpu', env: {} });
    try {
      const s = await engine.open(voxelAccumulateStream, setup);
      expect(s.backend).toBe('gpu');
      await s.add(batches[0] as FrameBatch);
      engine.gpu?.simulateDeviceLoss('test: lost between batches');
      await s.add(batches[1] as FrameBatch);
      expect(s.backend).toBe('cpu');
      await s.add(batches[2] as FrameBatch);
      expectSameAccumulators(await s.finish(), want);
      expect(engine.fellBackToCpu).toBe(true);
    } finally {
      engine.destroy();
    }
  });

  it('lost before finish, with a replay source: the engine asks for the batches given so far', async () => {
    const engine = await Engine.create({ backend: 'gpu', env: {} });
    const asked: number[] = [];
    try {
      const s = await engine.open(voxelAccumulateStream, setup, {
        replay: async function* (count) {
          asked.push(count);
          yield* batches.slice(0, count);
        },
      });
      for (const b of batches) await s.add(b);
      expect(s.backend).toBe('gpu');
      engine.gpu?.simulateDeviceLoss('test: lost before finish');
      const got = await s.finish();
      expect(s.backend).toBe('cpu');
      expect(asked).toEqual([3]);
      expectSameAccumulators(got, want);
      // the GPU result before any loss is the same too
      const engine2 = await Engine.create({ backend: 'gpu', env: {} });
      try {
        const g = await engine2.open(voxelAccumulateStream, setup);
        for (const b of batches) await g.add(b);
        expectSameAccumulators(await g.finish(), want);
      } finally {
        engine2.destroy();
      }
    } finally {
      engine.destroy();
    }
  });

  it('a CPU engine opens CPU sessions', async () => {
    const s = await Engine.cpu().open(voxelAccumulateStream, setup);
    expect(s.backend).toBe('cpu');
    for (const b of batches) await s.add(b);
    expectSameAccumulators(await s.finish(), want);
  });
});
