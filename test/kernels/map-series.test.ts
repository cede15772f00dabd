/**
 * mapSeries on the GPU: the per-pixel vectors stay resident for the series
 * (one upload, however many batches), the matrices go up once per batch, and
 * every frame's hkl agrees with the CPU twin within HKL_MAP_TOLERANCE.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { GpuContext } from '../../src/host/context.ts';
import { Engine } from '../../src/host/engine.ts';
import { HKL_MAP_TOLERANCE } from '../../src/kernels/hkl-map.ts';
import { mapSeries, type MappedFrame } from '../../src/pipeline/map-series.ts';
import { memorySource, renderSynthetic, syntheticSpec } from '../filter/helpers.ts';
import { gpuTestsDisabled } from '../helpers/gpu.ts';

const FRAMES = 5;

describe.skipIf(gpuTestsDisabled())('mapSeries keeps the vectors on the device', () => {
  let engine: Engine;
  afterAll(() => engine?.destroy());

  it('uploads the vectors once per series and maps every frame as the CPU does', async () => {
    const series = renderSynthetic(syntheticSpec(FRAMES));
    const run = async (e: Engine): Promise<MappedFrame[]> => {
      const out: MappedFrame[] = [];
      for await (const f of mapSeries(e, series.exp, memorySource(series.width, series.height, series.frames), { batchFrames: 2 })) out.push({ ...f, hkl: f.hkl.slice() });
      return out;
    };
    engine = await Engine.create({ backend: 'gpu', env: {} });
    const ctx = engine.gpu as GpuContext;
    ctx.resetUploadStats();
    const gpu = await run(engine);
    const uploads = ctx.uploadStats();
    const n = series.width * series.height;
    expect(uploads.get('pixel vectors')).toEqual({ bytes: 12 * n, calls: 1 });
    expect(uploads.get('hkl-map matrices')?.calls).toBe(Math.ceil(FRAMES / 2));
    expect(uploads.has('hkl-map vectors')).toBe(false);
    const cpu = await run(Engine.cpu());
    expect(gpu.map((f) => f.offset)).toEqual([0, 1, 2, 3, 4]);
    let worst = 0;
    gpu.forEach((f, k) => {
      const c = (cpu[k] as MappedFrame).hkl;
      expect(f.hkl.length).toBe(3 * n);
      for (let i = 0; i < c.length; i++) worst = Math.max(worst, Math.abs((f.hkl[i] as number) - (c[i] as number)));
    });
    expect(worst).toBeLessThan(HKL_MAP_TOLERANCE);
  });
});
