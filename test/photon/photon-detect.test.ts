/**
 * photon-detect: hand-built frames with known answers (reference parity with
 * the FemtoMAX pipeline, tie-breaking, edge rules), then one case table of
 * random sparse frames through the CPU twin and the WGSL kernel, and the
 * invariants (energy conservation, batch-size independence), and the session
 * form through the engine (batches merged as one call; device loss mid-session).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GpuContext } from '../../src/host/context.ts';
import { Engine } from '../../src/host/engine.ts';
import {
  PHOTON_POSITION_TOLERANCE,
  photonDetectCpu,
  photonDetectGpu,
  photonDetectStream,
  type PhotonDetectParams,
  type PhotonDetectResult,
} from '../../src/kernels/photon-detect.ts';
import { mulberry32 } from '../../src/util/random.ts';
import { resetLogOnce } from '../../src/util/log.ts';
import { gpuTestsDisabled, openTestGpu } from '../helpers/gpu.ts';

function frameOf(h: number, w: number, fill: number, set: Array<[number, number, number]> = []): Float32Array {
  const a = new Float32Array(h * w).fill(fill);
  for (const [r, c, v] of set) a[r * w + c] = v;
  return a;
}

function hitList(res: PhotonDetectResult): Array<[number, number, number, number]> {
  return Array.from({ length: res.hits.count }, (_v, k) => [res.hits.frame[k] as number, res.hits.row[k] as number, res.hits.col[k] as number, res.hits.energy[k] as number]);
}

/** Random sparse CMOS-like frames: a 100 offset with ±3 noise, photons as 3×3 clouds of ~1200 summed ADU. */
function sparseFrames(seed: number, n: number, h: number, w: number, density: number, u16 = false): Float32Array | Uint16Array {
  const u = mulberry32(seed);
  const out = u16 ? new Uint16Array(n * h * w) : new Float32Array(n * h * w);
  for (let i = 0; i < out.length; i++) out[i] = 100 + Math.floor(u() * 7) - 3;
  const photons = Math.round((density * h * w) / 9);
  for (let k = 0; k < n; k++) {
    for (let j = 0; j < photons; j++) {
      const r = Math.floor(u() * h);
      const c = Math.floor(u() * w);
      const peak = 300 + Math.floor(u() * 300);
      for (let dr = -1; dr <= 1; dr++) {
        for (let dc = -1; dc <= 1; dc++) {
          const rr = r + dr;
          const cc = c + dc;
          if (rr < 0 || rr >= h || cc < 0 || cc >= w) continue;
          const share = dr === 0 && dc === 0 ? peak : Math.floor(peak * (0.15 + 0.35 * u()));
          const i = k * h * w + rr * w + cc;
          out[i] = Math.min(65535, (out[i] as number) + share);
        }
      }
    }
  }
  return out;
}

interface Case {
  name: string;
  params: PhotonDetectParams;
  check?: (r: PhotonDetectResult) => void;
}

const ROW = (mode: 'reference' | 'local-max'): PhotonDetectParams => ({
  frames: frameOf(9, 12, 0, [
    [4, 3, 800],
    [4, 4, 600],
    [4, 5, 300],
    [4, 6, 150],
  ]),
  width: 12,
  height: 9,
  threshold: 108,
  emin: 0,
  mode,
});

const HAND: Case[] = [
  {
    name: 'row 800/600/300/150, reference: three hits 1184, 1376, 726',
    params: ROW('reference'),
    check: (r) => {
      expect(hitList(r)).toEqual([
        [0, 4, 3, 1184],
        [0, 4, 4, 1376],
        [0, 4, 5, 726],
      ]);
      expect(r.maxEnergy[0]).toBe(1376);
      // centre of gravity along the row: (692·3 + 492·4)/1184
      expect(r.hits.posCol[0]).toBeCloseTo((692 * 3 + 492 * 4) / 1184, 5);
      expect(r.hits.posRow[0]).toBe(4);
    },
  },
  {
    name: 'row 800/600/300/150, local-max: one hit 1184',
    params: ROW('local-max'),
    check: (r) => expect(hitList(r)).toEqual([[0, 4, 3, 1184]]),
  },
  {
    name: 'E_min is a strict cut (energy > emin)',
    params: { ...ROW('reference'), emin: 1184 },
    check: (r) => expect(hitList(r)).toEqual([[0, 4, 4, 1376]]),
  },
  {
    name: 'ties: the first maximum in row-major order is the hottest pixel',
    // two equal pixels side by side and two equal pixels one above the other
    params: {
      frames: frameOf(8, 10, 0, [
        [2, 3, 500],
        [2, 4, 500],
        [5, 7, 400],
        [6, 7, 400],
      ]),
      width: 10,
      height: 8,
      threshold: 108,
      emin: 0,
      mode: 'reference',
    },
    check: (r) => {
      // (2,4)'s window holds (2,3) first; (6,7)'s window holds (5,7) first
      expect(hitList(r)).toEqual([
        [0, 2, 3, 784],
        [0, 5, 7, 584],
      ]);
    },
  },
  {
    name: 'reference edge rules: row 0 and column 0 seeds yield nothing; bottom/right windows truncated',
    params: {
      frames: frameOf(6, 7, 0, [
        [0, 3, 900], // seed in row 0: nothing
        [3, 0, 900], // seed in column 0: nothing
        [1, 1, 500], // fine, its window reaches row 0 and column 0
        [5, 6, 700], // bottom-right corner: window truncated to 2×2
        [5, 5, 200],
      ]),
      width: 7,
      height: 6,
      threshold: 100,
      emin: 0,
      mode: 'reference',
    },
    check: (r) => {
      expect(hitList(r)).toEqual([
        [0, 1, 1, 400],
        [0, 5, 6, 700],
      ]);
      expect(r.hits.posCol[1]).toBeCloseTo(6 - 100 / 700, 5);
    },
  },
  {
    name: 'reference: a seed at row 1 whose hottest pixel is in row 0 gives no hit',
    params: {
      frames: frameOf(5, 5, 0, [
        [0, 2, 900],
        [1, 2, 300],
      ]),
      width: 5,
      height: 5,
      threshold: 100,
      emin: 0,
      mode: 'reference',
    },
    check: (r) => expect(r.hits.count).toBe(0),
  },
  {
    name: 'local-max: windows truncated at all edges, row 0 allowed',
    params: {
      frames: frameOf(5, 5, 0, [
        [0, 2, 900],
        [1, 2, 300],
      ]),
      width: 5,
      height: 5,
      threshold: 100,
      emin: 0,
      mode: 'local-max',
    },
    check: (r) => {
      expect(hitList(r)).toEqual([[0, 0, 2, 1000]]);
      expect(r.hits.posRow[0]).toBeCloseTo(200 / 1000, 5);
    },
  },
  {
    name: 'uniform 113 with T 108, E_min 5: every interior pixel is a hit with energy 45',
    params: { frames: frameOf(12, 14, 113), width: 14, height: 12, threshold: 108, emin: 5, mode: 'reference' },
    check: (r) => {
      // hottest pixel of (x, y) is (x−1, y−1); hits with row/col 0 are dropped
      expect(r.hits.count).toBe(10 * 12);
      expect(Array.from(new Set(r.hits.energy))).toEqual([45]);
      expect(r.clean?.[5 * 14 + 5]).toBe(1);
      expect(r.clean?.[0]).toBe(0);
    },
  },
];

const RANDOM: Case[] = [];
for (const [i, density] of [0.001, 0.01, 0.05, 0.1].entries()) {
  for (const mode of ['reference', 'local-max'] as const) {
    RANDOM.push({
      name: `random sparse frames, density ${density}, ${mode}`,
      params: { frames: sparseFrames(10 + i, 3, 97, 131, density), width: 131, height: 97, mode, threshold: 108, emin: 900 },
    });
  }
}
RANDOM.push({
  name: 'uint16 input, odd pixel count, 5 frames',
  params: { frames: sparseFrames(99, 5, 33, 41, 0.05, true), width: 41, height: 33, mode: 'reference', threshold: 108, emin: 500 },
});

function expectSame(a: PhotonDetectResult, b: PhotonDetectResult): void {
  expect(b.hits.count).toBe(a.hits.count);
  expect(Array.from(b.hits.frame)).toEqual(Array.from(a.hits.frame));
  expect(Array.from(b.hits.row)).toEqual(Array.from(a.hits.row));
  expect(Array.from(b.hits.col)).toEqual(Array.from(a.hits.col));
  expect(Array.from(b.hits.energy)).toEqual(Array.from(a.hits.energy));
  let dp = 0;
  for (let k = 0; k < a.hits.count; k++) {
    dp = Math.max(dp, Math.abs((a.hits.posRow[k] as number) - (b.hits.posRow[k] as number)), Math.abs((a.hits.posCol[k] as number) - (b.hits.posCol[k] as number)));
  }
  expect(dp).toBeLessThanOrEqual(PHOTON_POSITION_TOLERANCE);
  expect(Array.from(b.maxEnergy)).toEqual(Array.from(a.maxEnergy));
  expect(Array.from(b.histogram)).toEqual(Array.from(a.histogram));
  expect(b.candidates).toBe(a.candidates);
  if (a.clean !== undefined && b.clean !== undefined) expect(Buffer.from(b.clean.buffer).equals(Buffer.from(a.clean.buffer))).toBe(true);
}

describe('photon-detect CPU twin', () => {
  for (const c of HAND) it(c.name, () => c.check?.(photonDetectCpu(c.params)));

  it('energy is conserved: Σ hit energies = Σ ff over the hit windows', () => {
    const p: PhotonDetectParams = { frames: sparseFrames(5, 2, 64, 80, 0.05), width: 80, height: 64, threshold: 108, emin: 0, mode: 'local-max' };
    const r = photonDetectCpu(p);
    let windows = 0;
    for (let k = 0; k < r.hits.count; k++) {
      const base = (r.hits.frame[k] as number) * 64 * 80;
      for (let dr = -1; dr <= 1; dr++) {
        for (let dc = -1; dc <= 1; dc++) {
          const rr = (r.hits.row[k] as number) + dr;
          const cc = (r.hits.col[k] as number) + dc;
          if (rr >= 0 && rr < 64 && cc >= 0 && cc < 80) windows += Math.max((p.frames[base + rr * 80 + cc] as number) - 108, 0);
        }
      }
    }
    const sum = r.hits.energy.reduce((s, e) => s + e, 0);
    console.log(`[photon] energy conservation: ${r.hits.count} hits, Σ energies ${sum}, Σ ff over windows ${windows}`);
    expect(sum).toBe(windows);
    // the clean image holds one count per accepted hit
    expect(r.clean?.reduce((s, v) => s + v, 0)).toBe(r.hits.count);
  });

  it('results do not depend on the batch size', () => {
    const frames = sparseFrames(6, 6, 40, 50, 0.05) as Float32Array;
    const whole = photonDetectCpu({ frames, width: 50, height: 40, emin: 800 });
    const perFrame = Array.from({ length: 6 }, (_v, k) => photonDetectCpu({ frames: frames.subarray(k * 2000, (k + 1) * 2000), width: 50, height: 40, emin: 800 }));
    expect(perFrame.reduce((s, r) => s + r.hits.count, 0)).toBe(whole.hits.count);
    expect(Array.from(whole.maxEnergy)).toEqual(perFrame.map((r) => r.maxEnergy[0]));
  });

  it('rejects a frame buffer that is not whole frames', () => {
    expect(() => photonDetectCpu({ frames: new Float32Array(10), width: 3, height: 3 })).toThrow(/whole number/);
  });
});

describe.skipIf(gpuTestsDisabled())('photon-detect GPU = CPU', () => {
  let ctx: GpuContext;
  beforeAll(async () => {
    ctx = await openTestGpu();
  });
  afterAll(() => ctx?.destroy());

  for (const c of [...HAND, ...RANDOM]) {
    it(c.name, async () => {
      const cpu = photonDetectCpu(c.params);
      const gpu = await photonDetectGpu(ctx, c.params);
      c.check?.(gpu);
      expectSame(cpu, gpu);
      if (c.name.includes('density')) console.log(`[photon] ${c.name}: ${cpu.hits.count} hits, ${cpu.candidates} candidates, GPU = CPU`);
    });
  }

  it('a hit-record overflow re-runs and still matches (capacity 3)', async () => {
    const p = RANDOM[5]!.params;
    const gpu = await photonDetectGpu(ctx, { ...p, initialCapacity: 3 });
    expectSame(photonDetectCpu(p), gpu);
    expect(gpu.hits.count).toBeGreaterThan(3);
  });

  it('GPU results do not depend on the batch size', async () => {
    const frames = sparseFrames(7, 4, 40, 50, 0.05) as Float32Array;
    const whole = await photonDetectGpu(ctx, { frames, width: 50, height: 40, emin: 800 });
    let count = 0;
    for (let k = 0; k < 4; k++) count += (await photonDetectGpu(ctx, { frames: frames.subarray(k * 2000, (k + 1) * 2000), width: 50, height: 40, emin: 800 })).hits.count;
    expect(count).toBe(whole.hits.count);
  });
});

/** A session fed 3, 1 and 2 frames of one 6-frame stack. */
const SESSION = { frames: sparseFrames(8, 6, 40, 50, 0.05) as Float32Array, width: 50, height: 40, emin: 800, mode: 'local-max' as const };
const SESSION_SPLIT = [0, 3, 4, 6];

async function sessionRun(engine: Engine, lose?: number): Promise<{ result: PhotonDetectResult; backend: string }> {
  const { frames, ...setup } = SESSION;
  const s = await engine.open(photonDetectStream, setup);
  for (let b = 0; b + 1 < SESSION_SPLIT.length; b++) {
    if (b === lose) engine.gpu?.simulateDeviceLoss('test: lost mid photon session');
    await s.add(frames.subarray(SESSION_SPLIT[b]! * 2000, SESSION_SPLIT[b + 1]! * 2000));
  }
  return { result: await s.finish(), backend: s.backend };
}

describe('photon-detect session form', () => {
  it('batches through a CPU session give the one-call result, frames numbered across batches', async () => {
    const { result, backend } = await sessionRun(Engine.cpu());
    expect(backend).toBe('cpu');
    const whole = photonDetectCpu(SESSION);
    expect(whole.hits.count).toBeGreaterThan(20);
    expect(new Set(whole.hits.frame).size).toBe(6);
    expectSame(whole, result);
  });
});

describe.skipIf(gpuTestsDisabled())('photon-detect session form on the GPU', () => {
  afterAll(() => resetLogOnce());
  for (const lose of [undefined, 2]) {
    it(lose === undefined ? 'a GPU session gives the one-call CPU result' : 'device lost before the last batch: the session finishes on the CPU with the same result', async () => {
      const engine = await Engine.create({ backend: 'gpu', env: {} });
      try {
        const { result, backend } = await sessionRun(engine, lose);
        expect(backend).toBe(lose === undefined ? 'gpu' : 'cpu');
        expectSame(photonDetectCpu(SESSION), result);
      } finally {
        engine.destroy();
      }
    });
  }
});
