/**
 * GPU throughput (issue 14), checked for exactness:
 * - voxel-accumulate sends a batch's frames to the device as u16 (their low
 *   16 bits, decoded with the batch's minimum) when the values span at most
 *   65535, else as i32: both give the CPU twin's accumulators bit for bit,
 *   markers, integrating detectors' negative values and a batch that needs
 *   the wide path included;
 * - `ctx.batch` records a kernel's clears, dispatches and readback copies into
 *   one command encoder with one submit (outside debug mode): the kernels
 *   that use it give their CPU twins' results with one submit each, and a
 *   buffer released inside a batch is not handed out again before the submit.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { boxFromBounds, buildCellTable } from '../../src/grid/cell-table.ts';
import type { GpuContext } from '../../src/host/context.ts';
import { cellBoundsCpu, packValidBits, type WedgeGeometry } from '../../src/kernels/cell-bounds.ts';
import { cellOccupancyCpu, cellOccupancyGpu } from '../../src/kernels/cell-occupancy.ts';
import { filterStatsCpu, filterStatsGpu } from '../../src/kernels/filter-stats.ts';
import { hklMapCpu, hklMapGpu, hklMapProgram } from '../../src/kernels/hkl-map.ts';
import {
  openAccumulator,
  packPixels,
  unpackPixel,
  voxelAccumulateCpu,
  type CountingParams,
  type FrameBatch,
  type VoxelAccumulateParams,
} from '../../src/kernels/voxel-accumulate.ts';
import { mulberry32, poisson } from '../../src/util/random.ts';
import { gpuTestsDisabled, openTestGpu } from '../helpers/gpu.ts';

describe('packPixels', () => {
  const decoded = (p: ReturnType<typeof packPixels>, n: number): number[] => Array.from({ length: n }, (_v, i) => unpackPixel(p, i));
  it('packs a span of 65535 as the low 16 bits, markers included, and decodes with the minimum', () => {
    const px = Int32Array.from([-2, -1, 0, 7, 65533]);
    const p = packPixels(px);
    expect(p.packed16).toBe(true);
    expect(p.base).toBe(-2);
    expect(p.data).toBeInstanceOf(Uint16Array);
    expect(p.data.length).toBe(6); // padded to whole 32-bit words
    expect(Array.from(p.data.subarray(0, 5))).toEqual([65534, 65535, 0, 7, 65533]);
    expect(decoded(p, 5)).toEqual(Array.from(px));
  });
  it('keeps i32 when the span is 65536 or more', () => {
    const px = Int32Array.from([0, 3, 65536]);
    const p = packPixels(px);
    expect(p.packed16).toBe(false);
    expect(p.data).toBe(px);
    expect(packPixels(Int32Array.from([-40, 65495])).packed16).toBe(true);
    expect(packPixels(Int32Array.from([-40, 65496])).packed16).toBe(false);
  });
  it('an integrating detector’s negative values shift the base', () => {
    const px = Int32Array.from([-300, 12000, -7, 40000]);
    const p = packPixels(px);
    expect(p.packed16).toBe(true);
    expect(p.base).toBe(-300);
    expect(decoded(p, 4)).toEqual(Array.from(px));
    const high = Int32Array.from([70000, 70000 + 65535, 100000]);
    expect(packPixels(high).base).toBe(70000);
    expect(decoded(packPixels(high), 3)).toEqual(Array.from(high));
  });
});

function geometry(seed: number, n: number, frames: number): WedgeGeometry {
  const u = mulberry32(seed);
  const vectors = Float32Array.from({ length: 3 * n }, () => (u() - 0.5) * 0.2);
  const mask = Uint8Array.from({ length: n }, () => (u() < 0.93 ? 1 : 0));
  const rows = new Float32Array(12 * frames);
  for (let f = 0; f < frames; f++) for (let r = 0; r < 3; r++) for (let c = 0; c < 3; c++) rows[12 * f + 4 * r + c] = (u() - 0.5) * 60 + (r === c ? 30 : 0);
  return { vectors, valid: packValidBits(mask), rows };
}

/** One wedge of 3001 pixels, batches of `per` frames (values from `value[k](u)` in batch k). */
function wedge(seed: number, counting: CountingParams, value: ReadonlyArray<(u: () => number) => number>, per = 2): VoxelAccumulateParams {
  const n = 3001;
  const g = geometry(seed, n, per * value.length);
  const b = cellBoundsCpu(g);
  const box = boxFromBounds(b.min, b.max);
  const table = buildCellTable([3, 3, 3], box, cellOccupancyCpu({ ...g, box }).bitmap);
  const u = mulberry32(seed + 1);
  const batches: FrameBatch[] = value.map((v, k) => ({
    rows: g.rows.slice(12 * per * k, 12 * per * (k + 1)),
    index: Uint32Array.from({ length: per }, (_x, j) => per * k + j + 5),
    pixels: Int32Array.from({ length: per * n }, () => v(u)),
  }));
  return { table, maxCount: 20, vectors: g.vectors, valid: g.valid, counting, batches };
}

const markers = (u: () => number): number => {
  const x = u();
  return x < 0.01 ? -1 : x < 0.02 ? -2 : x < 0.03 ? 21 + Math.floor(u() * 500) : poisson(u, 1.5);
};
const wide = (u: () => number): number => (u() < 0.05 ? 65000 + Math.floor(u() * 10000) : markers(u));
const adu = (u: () => number): number => Math.round(40 + (u() - 0.5) * 200 + (u() < 0.05 ? 3000 * u() : 0));

const CASES: Array<{ name: string; p: VoxelAccumulateParams; packed: boolean[] }> = [
  { name: 'photon counting with −1/−2 markers; the middle batch spans over 65535', p: wedge(41, { trustedLo: 0, trustedHi: 1000000, markers: true }, [markers, wide, markers]), packed: [true, false, true] },
  { name: 'integrating detector, negative ADU values, one frame (an odd number of values) per batch', p: wedge(42, { trustedLo: -1000, trustedHi: 65534, markers: false, integrating: { invGain: 1 / 7.3, pedestal: 40.5 } }, [adu, adu, adu, adu], 1), packed: [true, true, true, true] },
  { name: 'photon counting, values all above 65535 (a span under 65536 from a high minimum)', p: wedge(43, { trustedLo: 0, trustedHi: 1000000, markers: true }, [(u) => 70000 + Math.floor(u() * 60000), (u) => 131000 + poisson(u, 3)]), packed: [true, true] },
];

describe.skipIf(gpuTestsDisabled())('voxel-accumulate: u16 and i32 frame uploads = CPU twin', () => {
  let ctx: GpuContext;
  beforeAll(async () => {
    ctx = await openTestGpu();
  });
  afterAll(() => ctx?.destroy());

  for (const c of CASES) {
    it(c.name, async () => {
      expect(c.p.batches.map((b) => packPixels(b.pixels).packed16)).toEqual(c.packed);
      const cpu = voxelAccumulateCpu(c.p);
      ctx.resetUploadStats();
      const s = openAccumulator(ctx, c.p);
      for (const b of c.p.batches) await s.add(b);
      const gpu = await s.finish();
      expect(Array.from(gpu.acc)).toEqual(Array.from(cpu.acc));
      expect([gpu.maskedObservations, gpu.maskedSum, gpu.lost]).toEqual([cpu.maskedObservations, cpu.maskedSum, cpu.lost]);
      expect(cpu.maskedObservations + cpu.lost).toBeGreaterThan(0);
      const stats = ctx.uploadStats();
      const narrow = c.packed.filter((x) => x).length;
      const values = (c.p.batches[0] as FrameBatch).pixels.length;
      // u16: 2 bytes per value, rounded up to whole words; i32: 4
      expect(stats.get('voxel-accumulate pixels (u16)')?.bytes ?? 0).toBe(narrow * 2 * (values + (values % 2)));
      expect(stats.get('voxel-accumulate pixels (i32)')?.bytes ?? 0).toBe((c.packed.length - narrow) * 4 * values);
    });
  }
});

describe.skipIf(gpuTestsDisabled())('one encoder and one submit per kernel call (ctx.batch)', () => {
  let ctx: GpuContext;
  beforeAll(async () => {
    ctx = await openTestGpu(false); // debug mode gives every dispatch its own submit
  });
  afterAll(() => ctx?.destroy());

  const submitsOf = async <T>(fn: () => Promise<T>): Promise<{ r: T; submits: number }> => {
    const before = ctx.submitCount;
    const r = await fn();
    return { r, submits: ctx.submitCount - before };
  };

  it('cell-occupancy (2 clears, kernel, 2 readbacks), voxel-accumulate finish and filter-stats (2 passes, 3 readbacks): one submit each, results of the twins', async () => {
    const p = CASES[0]!.p;
    const g: WedgeGeometry = { vectors: p.vectors, valid: p.valid, rows: Float32Array.from(p.batches.flatMap((b) => Array.from(b.rows))) };
    const box = p.table.box;
    const occ = await submitsOf(() => cellOccupancyGpu(ctx, { ...g, box }));
    expect(occ.submits).toBe(1);
    const twin = cellOccupancyCpu({ ...g, box });
    expect(Array.from(occ.r.bitmap)).toEqual(Array.from(twin.bitmap));
    expect(occ.r.missed).toBe(twin.missed);

    const s = openAccumulator(ctx, p);
    for (const b of p.batches) await s.add(b);
    const acc = await submitsOf(() => s.finish());
    expect(acc.submits).toBe(1); // the accumulators and the tally in one copy
    const cpu = voxelAccumulateCpu(p);
    expect(Array.from(acc.r.acc)).toEqual(Array.from(cpu.acc));
    expect([acc.r.maskedObservations, acc.r.maskedSum, acc.r.lost]).toEqual([cpu.maskedObservations, cpu.maskedSum, cpu.lost]);

    const st = await submitsOf(() => filterStatsGpu(ctx, { acc: cpu, window: 2 }));
    expect(st.submits).toBe(1);
    const twinStats = filterStatsCpu({ acc: cpu, window: 2 });
    expect(Array.from(st.r.n)).toEqual(Array.from(twinStats.n));
    expect(Array.from(st.r.lambda)).toEqual(Array.from(twinStats.lambda));
    expect(Array.from(st.r.delta)).toEqual(Array.from(twinStats.delta));
    expect(Array.from(st.r.chtot)).toEqual(Array.from(twinStats.chtot));
  });

  it('hkl-map: kernel and readback in one submit', async () => {
    const u = mulberry32(5);
    const params = { vectors: Float32Array.from({ length: 3 * 999 }, () => u() - 0.5), matrices: Float64Array.from({ length: 9 * 3 }, () => (u() - 0.5) * 50) };
    const r = await submitsOf(() => hklMapGpu(ctx, params));
    expect(r.submits).toBe(1);
    expect(Array.from(r.r.hkl)).toEqual(Array.from(hklMapCpu(params).hkl));
  });

  it('a buffer released inside a batch is not rewritten before the batch is submitted', async () => {
    const u = mulberry32(6);
    const n = 500;
    const vectors = Float32Array.from({ length: 3 * n }, () => u() - 0.5);
    const mats = [0, 1, 2].map(() => Float64Array.from({ length: 9 }, () => (u() - 0.5) * 50));
    const vec = ctx.upload('batch test vectors', vectors);
    const outs = mats.map((_m, k) => ctx.buffer(`batch test out ${k}`, 12 * n));
    const [gx, gy] = ctx.grid(n, 256);
    const before = ctx.submitCount;
    const results = await ctx.batch('batch test', async () => {
      for (const [k, m] of mats.entries()) {
        // the same size each time: without the deferral the pool would hand back the previous matrix buffer
        const mat = ctx.upload('batch test matrix', Float32Array.from([m[0]!, m[1]!, m[2]!, 0, m[3]!, m[4]!, m[5]!, 0, m[6]!, m[7]!, m[8]!, 0]));
        await ctx.run(hklMapProgram, { defines: { WG: 256, POINTS: false }, uniforms: { n_vectors: n, n_matrices: 1, row_threads: gx * 256 }, bindings: { vectors: vec, matrices: mat, hkl: outs[k]! }, workgroups: [gx, gy, 1] });
        ctx.release(mat);
      }
      return ctx.readMany(outs.map((b) => ({ buffer: b, bytes: 12 * n })));
    });
    expect(ctx.submitCount - before).toBe(1);
    for (const [k, m] of mats.entries()) expect(Array.from(new Float32Array(results[k]!))).toEqual(Array.from(hklMapCpu({ vectors, matrices: m }).hkl));
    ctx.release(vec, ...outs);
  });
});
