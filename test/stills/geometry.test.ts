/**
 * Per-shot geometry of stills (src/stills/geometry.ts) on snase/stills.expt:
 * the fractional hkl of every pixel of each of the 10 shots, from the shot's own
 * A through the hkl-map kernel; the CPU engine gives the kernel's CPU twin and
 * A⁻¹·d within f32 rounding; the GPU engine gives the same bits on lavapipe /
 * SwiftShader (within HKL_MAP_TOLERANCE on a driver that contracts to FMA).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { Engine } from '../../src/host/engine.ts';
import { HKL_MAP_TOLERANCE, hklMapCpu } from '../../src/kernels/hkl-map.ts';
import { inverse } from '../../src/geometry/linalg.ts';
import { readDialsStills } from '../../src/stills/dials.ts';
import { ShotVectorCache, shotHkl, shotHklParams } from '../../src/stills/geometry.ts';
import { gpuTestsDisabled } from '../helpers/gpu.ts';
import { sharedData } from '../helpers/paths.ts';

const engines: Engine[] = [];
afterAll(() => engines.forEach((e) => e.destroy()));

describe('stills per-shot hkl (CPU engine)', () => {
  it('is the kernel’s CPU twin of the shot’s own A⁻¹ and agrees with A⁻¹·d in f64', async () => {
    const data = await readDialsStills(sharedData('snase', 'stills.expt'));
    const engine = Engine.cpu();
    engines.push(engine);
    const cache = new ShotVectorCache();
    const first = await shotHkl(engine, data.shots[0]!, cache);
    const second = await shotHkl(engine, data.shots[1]!, cache);
    expect(first.hkl.length).toBe(3 * 1024 * 1024);
    expect(first.panelOffsets).toEqual([0, 1024 * 1024]);
    // each shot its own A: the same pixel maps elsewhere
    const i = 300 * 1024 + 700;
    expect(Math.abs(first.hkl[3 * i]! - second.hkl[3 * i]!) + Math.abs(first.hkl[3 * i + 2]! - second.hkl[3 * i + 2]!)).toBeGreaterThan(0.1);
    const params = shotHklParams(data.shots[1]!.experiment, cache.get(data.shots[1]!.experiment));
    expect(Buffer.from(hklMapCpu(params).hkl.buffer).equals(Buffer.from(second.hkl.buffer))).toBe(true);
    const Ai = inverse(data.shots[1]!.experiment.crystal!.A);
    let worst = 0;
    for (let p = 0; p < 1024 * 1024; p += 997) {
      const d = [params.vectors[3 * p]!, params.vectors[3 * p + 1]!, params.vectors[3 * p + 2]!];
      for (let c = 0; c < 3; c++) worst = Math.max(worst, Math.abs(Ai[3 * c]! * d[0]! + Ai[3 * c + 1]! * d[1]! + Ai[3 * c + 2]! * d[2]! - second.hkl[3 * p + c]!));
    }
    expect(worst).toBeLessThan(1e-4);
  });
});

describe.skipIf(gpuTestsDisabled())('stills per-shot hkl: GPU = CPU', () => {
  it('gives the CPU’s hkl on every pixel of the 10 snase shots', async () => {
    const data = await readDialsStills(sharedData('snase', 'stills.expt'));
    const gpu = await Engine.create({ backend: 'gpu', env: {} });
    engines.push(gpu);
    expect(gpu.backend).toBe('gpu');
    const cpu = Engine.cpu();
    engines.push(cpu);
    const exact = /llvmpipe|lavapipe|swiftshader/i.test(gpu.deviceName);
    const cache = new ShotVectorCache();
    let differing = 0;
    let worst = 0;
    for (const shot of data.shots) {
      const g = (await shotHkl(gpu, shot, cache)).hkl;
      const c = (await shotHkl(cpu, shot, cache)).hkl;
      expect(g.length).toBe(c.length);
      for (let i = 0; i < c.length; i++) {
        if (g[i] !== c[i]) {
          differing++;
          worst = Math.max(worst, Math.abs(g[i]! - c[i]!));
        }
      }
    }
    console.log(`[stills hkl on ${gpu.deviceName}] 10 shots × 1024² pixels: ${differing} components differ from the CPU (max ${worst})`);
    if (exact) expect(differing).toBe(0);
    else expect(worst).toBeLessThanOrEqual(HKL_MAP_TOLERANCE);
  }, 300_000);
});
