/**
 * hkl-map: one case table through the CPU twin and the WGSL kernel.
 * Floats agree within HKL_MAP_TOLERANCE (1e-4); reruns are identical.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GpuContext } from '../../src/host/context.ts';
import { HKL_MAP_TOLERANCE, hklMapCpu, hklMapGpu, type HklMapParams } from '../../src/kernels/hkl-map.ts';
import { mulberry32 } from '../../src/util/random.ts';
import { gpuTestsDisabled, openTestGpu } from '../helpers/gpu.ts';

function randomParams(seed: number, n: number, m: number, points: boolean): HklMapParams {
  const u = mulberry32(seed);
  const vectors = Float32Array.from({ length: 3 * n }, () => (u() - 0.5) * 1.5);
  const matrices = Float64Array.from({ length: 9 * m }, () => (u() - 0.5) * 80);
  const p: HklMapParams = { vectors, matrices };
  if (points) p.matrixIndex = Uint32Array.from({ length: n }, () => Math.floor(u() * m));
  return p;
}

const CASES: { name: string; params: HklMapParams; expect?: (hkl: Float32Array) => void }[] = [
  {
    name: 'identity matrix returns the vector',
    params: { vectors: new Float32Array([0.25, -0.5, 0.125]), matrices: new Float64Array([1, 0, 0, 0, 1, 0, 0, 0, 1]) },
    expect: (hkl) => expect(Array.from(hkl)).toEqual([0.25, -0.5, 0.125]),
  },
  {
    name: 'a known cubic cell: d = (1/a, 0, 0) gives h = 1',
    params: { vectors: new Float32Array([0.1, 0, 0, 0, 0.2, 0.1]), matrices: new Float64Array([10, 0, 0, 0, 10, 0, 0, 0, 10, 20, 0, 0, 0, 20, 0, 0, 0, 20]) },
    expect: (hkl) => expect(Array.from(hkl).map((v) => Math.round(v * 1e5) / 1e5)).toEqual([1, 0, 0, 0, 2, 1, 2, 0, 0, 0, 4, 2]),
  },
  { name: 'grid 257 vectors × 3 frames (partial workgroup)', params: randomParams(1, 257, 3, false) },
  { name: 'grid 40000 vectors × 7 frames', params: randomParams(2, 40_000, 7, false) },
  { name: 'points 10000 vectors, 50 matrices', params: randomParams(3, 10_000, 50, true) },
  { name: 'points with a single vector', params: randomParams(4, 1, 1, true) },
  { name: 'empty input', params: { vectors: new Float32Array(0), matrices: new Float64Array(9) }, expect: (hkl) => expect(hkl.length).toBe(0) },
];

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs((a[i] as number) - (b[i] as number)));
  return m;
}

describe('hkl-map CPU twin', () => {
  for (const c of CASES) {
    it(c.name, () => {
      const { hkl } = hklMapCpu(c.params);
      const n = c.params.vectors.length / 3;
      const m = c.params.matrices.length / 9;
      expect(hkl.length).toBe(c.params.matrixIndex ? 3 * n : 3 * n * m);
      c.expect?.(hkl);
      // spot-check one element in f64 against the formula
      if (n > 0) {
        const i = n - 1;
        const f = c.params.matrixIndex ? (c.params.matrixIndex[i] as number) : m - 1;
        const o = c.params.matrixIndex ? 3 * i : 3 * ((m - 1) * n + i);
        const M = c.params.matrices;
        const v = c.params.vectors;
        const h = (M[9 * f] as number) * (v[3 * i] as number) + (M[9 * f + 1] as number) * (v[3 * i + 1] as number) + (M[9 * f + 2] as number) * (v[3 * i + 2] as number);
        expect(hkl[o]).toBeCloseTo(h, 4);
      }
    });
  }
  it('rejects a matrix index out of range', () => {
    expect(() => hklMapCpu({ vectors: new Float32Array(3), matrices: new Float64Array(9), matrixIndex: new Uint32Array([1]) })).toThrow(/matrixIndex\[0\]/);
  });
});

describe.skipIf(gpuTestsDisabled())('hkl-map GPU = CPU', () => {
  let ctx: GpuContext;
  beforeAll(async () => {
    ctx = await openTestGpu();
  });
  afterAll(() => ctx?.destroy());

  for (const c of CASES) {
    it(c.name, async () => {
      const cpu = hklMapCpu(c.params).hkl;
      const gpu = (await hklMapGpu(ctx, c.params)).hkl;
      expect(maxAbsDiff(cpu, gpu)).toBeLessThanOrEqual(HKL_MAP_TOLERANCE);
      c.expect?.(gpu);
      const again = (await hklMapGpu(ctx, c.params)).hkl;
      expect(Buffer.from(again.buffer).equals(Buffer.from(gpu.buffer))).toBe(true);
    });
  }

  it('compiles one pipeline per mode, whatever the sizes', () => {
    expect(ctx.pipelineCount).toBe(2);
    expect(ctx.pipelineCompiles).toBe(2);
  });

  it('reuses pooled buffers across calls', () => {
    const s = ctx.poolStats();
    expect(s.reuses).toBeGreaterThan(0);
    expect(s.buffers).toBe(0); // nothing left checked out
  });
});
