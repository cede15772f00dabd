/** The GPU host: backend choice, device loss → CPU, debug error scopes, pool and budget. */
import { afterEach, describe, expect, it } from 'vitest';
import { GpuError } from '../../src/errors.ts';
import { resolveBackendChoice } from '../../src/host/backend.ts';
import { BufferPool, sizeClass } from '../../src/host/buffer-pool.ts';
import { GpuContext } from '../../src/host/context.ts';
import { Engine } from '../../src/host/engine.ts';
import { pipelineKey } from '../../src/host/pipeline-cache.ts';
import { loadShader } from '../../src/host/shader-source.ts';
import { hklMapCpu, hklMapKernel, hklMapProgram } from '../../src/kernels/hkl-map.ts';
import { resetLogOnce, setLogSink } from '../../src/util/log.ts';
import { gpuTestsDisabled, openTestGpu } from '../helpers/gpu.ts';

function captureLog(): { lines: string[]; restore: () => void } {
  const lines: string[] = [];
  const prev = setLogSink({ write: (l) => lines.push(l) });
  return { lines, restore: () => setLogSink(prev) };
}

describe('backend choice', () => {
  it('takes the CLI value, and the environment variable overrides it', () => {
    expect(resolveBackendChoice('cpu', {})).toBe('cpu');
    expect(resolveBackendChoice(undefined, {})).toBe('auto');
    expect(resolveBackendChoice('gpu', { DIFFRACT_BACKEND: 'cpu' })).toBe('cpu');
    expect(resolveBackendChoice('auto', { DIFFRACT_BACKEND: ' GPU ' })).toBe('gpu');
  });
  it('names the source of a bad value', () => {
    expect(() => resolveBackendChoice('cuda', {})).toThrow(/--backend.*unknown backend 'cuda'/);
    expect(() => resolveBackendChoice('cpu', { DIFFRACT_BACKEND: 'metal' })).toThrow(/DIFFRACT_BACKEND/);
  });
  it('cpu engine never opens a device', async () => {
    const e = await Engine.create({ backend: 'cpu', env: {} });
    expect(e.backend).toBe('cpu');
    expect(e.deviceName).toBe('CPU');
    e.destroy();
    e.destroy();
  });
});

describe('shader sources', () => {
  it('applies defines and #if blocks through wgsl-preprocessor', () => {
    const grid = loadShader('hkl-map', { WG: 128, POINTS: false });
    const points = loadShader('hkl-map', { WG: 64, POINTS: true });
    expect(grid).toContain('@workgroup_size(128, 1, 1)');
    expect(grid).not.toContain('var<storage, read> matrix_index');
    expect(points).toContain('var<storage, read> matrix_index');
    expect(points).toContain('let m = matrix_index[i];');
    expect(points).not.toContain('#if');
  });
  it('refuses a missing define', () => {
    expect(() => loadShader('hkl-map', { WG: 64 })).toThrow(/needs define POINTS/);
  });
  it('keys pipelines by defines only, in a stable order', () => {
    expect(pipelineKey('k', { B: 1, A: true })).toBe(pipelineKey('k', { A: true, B: 1 }));
    expect(pipelineKey('k', { A: 1 })).not.toBe(pipelineKey('k', { A: 2 }));
  });
  it('rounds buffer sizes to classes', () => {
    expect(sizeClass(1)).toBe(256);
    expect(sizeClass(1000)).toBe(1024);
    expect(sizeClass(70 * 1024 * 1024)).toBe(80 * 1024 * 1024);
  });
});

describe.skipIf(gpuTestsDisabled())('GPU context', () => {
  const opened: Array<{ destroy(): void }> = [];
  afterEach(() => {
    for (const o of opened.splice(0)) o.destroy();
    resetLogOnce();
  });

  it('asks for the adapter limits and labels resources', async () => {
    const ctx = await openTestGpu();
    opened.push(ctx);
    expect(ctx.limits.maxStorageBufferBindingSize).toBeGreaterThanOrEqual(128 * 1024 * 1024);
    expect(ctx.device.limits.maxStorageBufferBindingSize).toBe(ctx.limits.maxStorageBufferBindingSize);
    const b = ctx.buffer('test buffer', 100);
    expect(b.label).toBe('test buffer');
    ctx.release(b);
    const again = ctx.buffer('second owner', 200);
    expect(again).toBe(b);
    expect(again.label).toBe('second owner');
  });

  it('debug mode names the kernel in a validation error', async () => {
    const ctx = await openTestGpu(true);
    opened.push(ctx);
    const matrices = ctx.buffer('matrices', 64);
    const hkl = ctx.buffer('hkl', 64);
    // `vectors` is a storage binding: a buffer made for uniforms only is a validation error
    const uniformOnly = ctx.uniform('uniform only', new Uint32Array(16));
    await expect(
      ctx.run(hklMapProgram, {
        defines: { WG: 64, POINTS: false },
        uniforms: { n_vectors: 1, n_matrices: 1, row_threads: 64 },
        bindings: { vectors: uniformOnly, matrices, hkl },
        workgroups: [1, 1, 1],
      }),
    ).rejects.toThrow(/kernel hkl-map/);
  });

  it('the memory budget is checked before allocating', async () => {
    const ctx = await GpuContext.create({ memoryBudgetBytes: 1024 * 1024 });
    opened.push(ctx);
    const a = ctx.buffer('a', 600 * 1024);
    expect(() => ctx.buffer('b', 600 * 1024)).toThrow(GpuError);
    expect(() => ctx.buffer('b', 600 * 1024)).toThrow(/budget exceeded allocating 'b'/);
    ctx.release(a);
    expect(ctx.buffer('c', 600 * 1024)).toBe(a);
  });

  it('destroy() is safe to call twice', async () => {
    const ctx = await openTestGpu();
    ctx.destroy();
    ctx.destroy();
    expect(ctx.isDestroyed).toBe(true);
  });

  it('device loss: the work continues on the CPU with one warning line', async () => {
    const log = captureLog();
    try {
      const engine = await Engine.create({ backend: 'gpu', env: {} });
      opened.push(engine);
      expect(engine.backend).toBe('gpu');
      const params = { vectors: new Float32Array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6]), matrices: new Float64Array([2, 0, 0, 0, 2, 0, 0, 0, 2]) };
      const before = await engine.run(hklMapKernel, params);
      engine.gpu?.simulateDeviceLoss();
      const after1 = await engine.run(hklMapKernel, params);
      const after2 = await engine.run(hklMapKernel, params);
      expect(engine.backend).toBe('cpu');
      expect(engine.fellBackToCpu).toBe(true);
      expect(Array.from(after1.hkl)).toEqual(Array.from(hklMapCpu(params).hkl));
      expect(Array.from(after2.hkl)).toEqual(Array.from(after1.hkl));
      expect(Math.max(...Array.from(before.hkl, (v, i) => Math.abs(v - (after1.hkl[i] as number))))).toBeLessThan(1e-6);
      const warnings = log.lines.filter((l) => l.includes('device lost'));
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatch(/continuing on the CPU path/);
    } finally {
      log.restore();
    }
  });
});

describe('buffer pool accounting', () => {
  it('rejects buffers over maxBufferSize before asking the device', () => {
    const fakeDevice = { createBuffer: () => ({}) } as unknown as GPUDevice;
    const pool = new BufferPool(fakeDevice, 1 << 30, 1 << 20);
    expect(() => pool.acquire('huge', 2 << 20, 0)).toThrow(/maxBufferSize/);
  });
});
