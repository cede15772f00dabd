/**
 * The voxel kernels: one case table per kernel through the CPU twin and the
 * WGSL kernel, with identical results required (integer tables and float
 * bits), and each checked against a brute-force computation from the
 * definitions (maps keyed by cell and subvoxel, f64 statistics).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { boxFromBounds, buildCellTable, cellOfKey, type CellTable } from '../../src/grid/cell-table.ts';
import { greedyPoissonFilter } from '../../src/grid/poisson-filter.ts';
import { ballOffsets, cellOf, hklComponentF32, subOf, subvoxelsPerCell, type Ndiv } from '../../src/grid/subvoxel.ts';
import type { GpuContext } from '../../src/host/context.ts';
import { cellBoundsCpu, cellBoundsGpu, packValidBits, type WedgeGeometry } from '../../src/kernels/cell-bounds.ts';
import { bitmapFromCells, cellOccupancyCpu, cellOccupancyGpu, cellSetCpu } from '../../src/kernels/cell-occupancy.ts';
import { divergenceF32, filterStatsCpu, filterStatsGpu, voxelAt, voxelGlobal, type FilterStats } from '../../src/kernels/filter-stats.ts';
import { InvalidValueError } from '../../src/errors.ts';
import { AccumulatorThreads, mergeAccumulatorWords } from '../../src/kernels/cpu/voxel-accumulate-threads.ts';
import {
  AccumulatorArena,
  openAccumulator,
  readU64,
  recordStride,
  roundHalfEven,
  voxelAccumulateCpu,
  voxelAccumulateGpu,
  wordsPerSubvoxel,
  type CountingParams,
  type FrameBatch,
  type PixelChannels,
  type VoxelAccumulateParams,
  type VoxelAccumulators,
} from '../../src/kernels/voxel-accumulate.ts';
import { mulberry32, poisson } from '../../src/util/random.ts';
import { gpuTestsDisabled, openTestGpu } from '../helpers/gpu.ts';
import { firstDifference } from './helpers.ts';

// ---------------------------------------------------------------- inputs

function randomGeometry(seed: number, n: number, frames: number, opts: { scale?: number; validFraction?: number; spread?: number } = {}): WedgeGeometry {
  const u = mulberry32(seed);
  const vectors = Float32Array.from({ length: 3 * n }, () => (u() - 0.5) * (opts.spread ?? 0.2));
  const mask = Uint8Array.from({ length: n }, () => (u() < (opts.validFraction ?? 0.93) ? 1 : 0));
  const rows = new Float32Array(12 * frames);
  const s = opts.scale ?? 60;
  for (let f = 0; f < frames; f++) for (let r = 0; r < 3; r++) for (let c = 0; c < 3; c++) rows[12 * f + 4 * r + c] = (u() - 0.5) * s + (r === c ? s / 2 : 0);
  return { vectors, valid: packValidBits(mask), rows };
}

function tableFor(g: WedgeGeometry, ndiv: Ndiv): CellTable {
  const b = cellBoundsCpu(g);
  const box = boxFromBounds(b.min, b.max);
  return buildCellTable(ndiv, box, box.dim[0] === 0 ? new Uint32Array(0) : cellOccupancyCpu({ ...g, box }).bitmap);
}

function randomPixels(seed: number, n: number, frames: number, p: { big?: number; markers?: boolean; lambda?: number } = {}): Int32Array {
  const u = mulberry32(seed);
  return Int32Array.from({ length: n * frames }, () => {
    const x = u();
    if (p.markers !== false && x < 0.01) return -1;
    if (p.markers !== false && x < 0.02) return -2;
    if (x < 0.03) return 21 + Math.floor(u() * 500);
    if (p.big !== undefined && x < 0.5) return p.big;
    return poisson(u, p.lambda ?? 1.5);
  });
}

// ---------------------------------------------------------------- geometry kernels

const GEOMETRY_CASES: { name: string; g: WedgeGeometry }[] = [
  { name: '5000 pixels × 4 frames', g: randomGeometry(11, 5000, 4) },
  { name: '257 pixels × 1 frame (partial workgroup)', g: randomGeometry(12, 257, 1) },
  { name: 'wide spread, negative and positive cells', g: randomGeometry(13, 3000, 3, { spread: 1.0, scale: 20 }) },
  { name: 'every pixel masked', g: randomGeometry(14, 1000, 2, { validFraction: 0 }) },
];

function bruteCells(g: WedgeGeometry): Set<string> {
  const cells = new Set<string>();
  const n = g.vectors.length / 3;
  for (let f = 0; f < g.rows.length / 12; f++) {
    for (let i = 0; i < n; i++) {
      if (((g.valid[i >>> 5]! >>> (i & 31)) & 1) === 0) continue;
      const d = [g.vectors[3 * i]!, g.vectors[3 * i + 1]!, g.vectors[3 * i + 2]!] as const;
      cells.add([0, 4, 8].map((r) => cellOf(hklComponentF32(g.rows, 12 * f + r, d[0], d[1], d[2]))).join(','));
    }
  }
  return cells;
}

// ---------------------------------------------------------------- accumulate

const PHOTON: CountingParams = { trustedLo: 0, trustedHi: 100000, markers: true };

function accCase(seed: number, n: number, frames: number, ndiv: Ndiv, counting: CountingParams, pix: Parameters<typeof randomPixels>[3] = {}, maxCount = 20, validFraction = 0.93): VoxelAccumulateParams {
  const g = randomGeometry(seed, n, frames, { validFraction });
  const table = tableFor(g, ndiv);
  const pixels = randomPixels(seed + 1, n, frames, pix);
  const index = Uint32Array.from({ length: frames }, (_v, i) => 7 * i + 3);
  return { table, maxCount, vectors: g.vectors, valid: g.valid, counting, batches: [{ rows: g.rows, index, pixels }] };
}

/** The same frames split into batches of `size`. */
function rebatch(p: VoxelAccumulateParams, size: number): VoxelAccumulateParams {
  const n = p.vectors.length / 3;
  const all = p.batches[0] as FrameBatch;
  const frames = all.index.length;
  const batches: FrameBatch[] = [];
  for (let f = 0; f < frames; f += size) {
    const e = Math.min(frames, f + size);
    batches.push({ rows: all.rows.slice(12 * f, 12 * e), index: all.index.slice(f, e), pixels: all.pixels.slice(n * f, n * e) });
  }
  return { ...p, batches };
}

/** The same frames in another order (one batch). */
function reorder(p: VoxelAccumulateParams, order: readonly number[]): VoxelAccumulateParams {
  const n = p.vectors.length / 3;
  const all = p.batches[0] as FrameBatch;
  const rows = new Float32Array(all.rows.length);
  const index = new Uint32Array(all.index.length);
  const pixels = new Int32Array(all.pixels.length);
  order.forEach((f, k) => {
    rows.set(all.rows.subarray(12 * f, 12 * f + 12), 12 * k);
    index[k] = all.index[f]!;
    pixels.set(all.pixels.subarray(n * f, n * f + n), n * k);
  });
  return { ...p, batches: [{ rows, index, pixels }] };
}

/**
 * Per-pixel channels as the pipeline makes them: x, y within a panel of
 * `width` columns and `height` rows, the panel index, then `weights` random
 * quantized weights in 0…2^20 (or, with `big`, values near 2^32 that carry).
 */
function channelsFor(seed: number, n: number, o: { width?: number; height?: number; weights?: number; big?: boolean; only?: number } = {}): PixelChannels {
  const u = mulberry32(seed);
  const w = o.width ?? 64;
  const h = o.height ?? 40;
  const extra = o.weights ?? 2;
  const C = o.only ?? 3 + extra;
  const values = new Uint32Array(C * n);
  for (let i = 0; i < n; i++) {
    const all = [i % w, Math.floor(i / w) % h, Math.floor(i / (w * h))];
    for (let c = 0; c < extra; c++) all.push(o.big ? 4294967295 - Math.floor(u() * 1000) : Math.round(u() * 2 ** 20));
    for (let c = 0; c < C; c++) values[C * i + c] = all[c]!;
  }
  return { count: C, values };
}

const ACC_CASES: { name: string; p: VoxelAccumulateParams }[] = [
  { name: 'photon counting, markers, overflows, ndiv 3,3,3', p: accCase(21, 4000, 5, [3, 3, 3], PHOTON) },
  { name: 'photon counting, ndiv 1,2,5, maxCount 7', p: accCase(22, 3000, 3, [1, 2, 5], PHOTON, {}, 7) },
  { name: 'integrating detector: gain 7.3 ADU, pedestal 40.5', p: accCase(23, 3000, 3, [3, 3, 3], { trustedLo: 0, trustedHi: 65534, markers: false, integrating: { invGain: 1 / 7.3, pedestal: 40.5 } }, { lambda: 60, markers: false }) },
  { name: 'u64 carries: counts near 2^31 pile into few voxels', p: accCase(24, 2000, 4, [1, 1, 1], { trustedLo: 0, trustedHi: 2147483647, markers: true }, { big: 2147000000 }) },
  { name: 'trusted range cuts values above 3', p: accCase(25, 2000, 2, [3, 3, 3], { trustedLo: 0, trustedHi: 3, markers: true }) },
  { name: 'every pixel masked: an empty table, everything in the tally', p: accCase(26, 1000, 2, [3, 3, 3], PHOTON, {}, 20, 0) },
];
// frame indices large enough to carry in Σ frame index
(ACC_CASES[3]!.p.batches[0] as FrameBatch).index.set([4000000000, 4100000000, 4200000000, 4294967295]);
// per-pixel channels (x, y, panel, quantized κ and d³s as the pipeline passes them, and edge cases)
ACC_CASES.push(
  { name: 'channels x, y, panel, q(κ), q(d³s): 5 per pixel, two 64×40 panels', p: { ...accCase(27, 5000, 5, [3, 3, 3], PHOTON), channels: channelsFor(28, 5000) } },
  { name: 'channels x, y, panel only, ndiv 1,2,5, maxCount 7', p: { ...accCase(29, 3000, 3, [1, 2, 5], PHOTON, {}, 7), channels: channelsFor(30, 3000, { width: 50, height: 30, weights: 0 }) } },
  { name: 'channels near 2^32 carry into the high words, ndiv 1,1,1', p: { ...accCase(31, 2000, 4, [1, 1, 1], PHOTON), channels: channelsFor(32, 2000, { big: true, weights: 3 }) } },
  { name: 'one channel, every pixel masked', p: { ...accCase(33, 1000, 2, [3, 3, 3], PHOTON, {}, 20, 0), channels: channelsFor(34, 1000, { only: 1 }) } },
);

interface BruteRecord {
  hist: number[];
  over: number;
  counts: bigint;
  frames: bigint;
  /** Σ of each channel */
  chans: bigint[];
}

/** Independent accumulation: a Map keyed by cell and subvoxel, BigInt sums. */
function bruteAccumulate(p: VoxelAccumulateParams): { records: Map<string, BruteRecord>; maskedObs: number; maskedSum: number } {
  const records = new Map<string, BruteRecord>();
  const n = p.vectors.length / 3;
  const c = p.counting;
  let maskedObs = 0;
  let maskedSum = 0;
  for (const b of p.batches) {
    for (let f = 0; f < b.index.length; f++) {
      for (let i = 0; i < n; i++) {
        const raw = b.pixels[f * n + i]!;
        const usable = ((p.valid[i >>> 5]! >>> (i & 31)) & 1) === 1;
        const inRange = raw >= c.trustedLo && raw <= c.trustedHi && !(c.markers && (raw === -1 || raw === -2)) && (c.integrating !== undefined || raw >= 0);
        if (!usable || !inRange) {
          maskedObs++;
          maskedSum += raw;
          continue;
        }
        const count = c.integrating ? Math.max(0, roundHalfEven(Math.fround(Math.fround(Math.fround(raw) - Math.fround(c.integrating.pedestal)) * Math.fround(c.integrating.invGain)))) : raw;
        const hkl = [0, 4, 8].map((r) => hklComponentF32(b.rows, 12 * f + r, p.vectors[3 * i]!, p.vectors[3 * i + 1]!, p.vectors[3 * i + 2]!));
        const cell = hkl.map(cellOf);
        const sub = hkl.map((h, a) => subOf(h, cell[a]!, p.table.ndiv[a]!));
        const key = `${cell.join(',')}|${sub.join(',')}`;
        let rec = records.get(key);
        if (rec === undefined) {
          rec = { hist: new Array<number>(p.maxCount + 1).fill(0), over: 0, counts: 0n, frames: 0n, chans: new Array<bigint>(p.channels?.count ?? 0).fill(0n) };
          records.set(key, rec);
        }
        if (count <= p.maxCount) rec.hist[count]!++;
        else rec.over++;
        rec.counts += BigInt(count);
        rec.frames += BigInt(b.index[f]!);
        const C = p.channels?.count ?? 0;
        for (let c = 0; c < C; c++) rec.chans[c]! += BigInt(p.channels!.values[C * i + c]!);
      }
    }
  }
  return { records, maskedObs, maskedSum };
}

function expectMatchesBrute(r: VoxelAccumulators, p: VoxelAccumulateParams): void {
  const brute = bruteAccumulate(p);
  expect(r.maskedObservations).toBe(brute.maskedObs);
  expect(r.maskedSum).toBe(brute.maskedSum);
  expect(r.lost).toBe(0);
  const nsub = subvoxelsPerCell(r.table.ndiv);
  const [n1, n2, n3] = r.table.ndiv;
  const C = p.channels?.count ?? 0;
  expect(r.channels).toBe(C);
  expect(r.channelSums.length).toBe(r.table.cells * nsub * 2 * C);
  const u64 = (a: Uint32Array, i: number): bigint => BigInt(a[i]!) + (BigInt(a[i + 1]!) << 32n);
  let seen = 0;
  for (let slot = 0; slot < r.table.cells; slot++) {
    const cell = cellOfKey(r.table.box, r.table.keys[slot]!);
    for (let s = 0; s < nsub; s++) {
      const iz = (s % n3) + 1;
      const iy = (Math.floor(s / n3) % n2) + 1;
      const ix = Math.floor(s / (n2 * n3)) % n1 + 1;
      const b = (slot * nsub + s) * r.stride;
      const rec = brute.records.get(`${cell.join(',')}|${ix},${iy},${iz}`);
      const hist = Array.from(r.acc.subarray(b, b + r.maxCount + 1));
      const cb = (slot * nsub + s) * 2 * C;
      if (rec === undefined) {
        expect(hist.every((x) => x === 0) && r.acc[b + r.maxCount + 1] === 0).toBe(true);
        expect(Array.from(r.channelSums.subarray(cb, cb + 2 * C)).every((x) => x === 0)).toBe(true);
        continue;
      }
      expect(Array.from({ length: C }, (_v, c) => u64(r.channelSums, cb + 2 * c))).toEqual(rec.chans);
      seen++;
      expect(hist).toEqual(rec.hist);
      expect(r.acc[b + r.maxCount + 1]).toBe(rec.over);
      const K = r.maxCount;
      expect(BigInt(r.acc[b + K + 2]!) + (BigInt(r.acc[b + K + 3]!) << 32n)).toBe(rec.counts);
      expect(BigInt(r.acc[b + K + 4]!) + (BigInt(r.acc[b + K + 5]!) << 32n)).toBe(rec.frames);
    }
  }
  expect(seen).toBe(brute.records.size);
}

// ---------------------------------------------------------------- filter statistics

/**
 * Accumulators made directly: a random cell table, smooth Poisson rates per
 * subvoxel, a few Bragg-like outliers, overflowing and empty subvoxels.
 */
function syntheticAccumulators(seed: number, ndiv: Ndiv, maxCount = 20): VoxelAccumulators {
  const u = mulberry32(seed);
  const box = boxFromBounds([-2, -1, 0], [2, 2, 3]);
  const bitmap = new Uint32Array(Math.ceil((5 * 4 * 4) / 32));
  for (let key = 0; key < 80; key++) if (u() < 0.8) bitmap[key >>> 5] = (bitmap[key >>> 5]! | (1 << (key & 31))) >>> 0;
  const table = buildCellTable(ndiv, box, bitmap);
  const stride = recordStride(maxCount);
  const nsub = subvoxelsPerCell(ndiv);
  const voxels = table.cells * nsub;
  const acc = new Uint32Array(voxels * stride);
  for (let v = 0; v < voxels; v++) {
    const x = u();
    if (x < 0.05) continue; // empty
    const [g0, g1, g2] = voxelGlobal(table, v);
    const lam = 0.8 + 0.5 * Math.sin(g0 * 0.4) + 0.3 * Math.cos(g1 * 0.3 + g2 * 0.2);
    const obs = 20 + Math.floor(u() * 80);
    const b = v * stride;
    let counts = 0;
    for (let o = 0; o < obs; o++) {
      let c = poisson(u, x < 0.08 ? 6 * lam + 3 : lam);
      if (x > 0.98 && o === 0) c = maxCount + 5;
      if (c <= maxCount) acc[b + c]!++;
      else acc[b + maxCount + 1]!++;
      counts += c;
    }
    acc[b + maxCount + 2] = counts;
    acc[b + maxCount + 4] = obs * 3;
  }
  return { table, maxCount, stride, acc, channels: 0, channelSums: new Uint32Array(0), maskedObservations: 0, maskedSum: 0, lost: 0 };
}

/** Statistics straight from the definitions, in f64 (mdx-lib's formulas, with the floor on λ). */
function bruteStats(a: VoxelAccumulators, window: number): { lambda: Float64Array; d: Float64Array; delta: Float64Array } {
  const K = a.maxCount;
  const voxels = a.table.cells * subvoxelsPerCell(a.table.ndiv);
  const ball = ballOffsets(window);
  const hist = (v: number): number[] => Array.from(a.acc.subarray(v * a.stride, v * a.stride + K + 1));
  const part = (v: number): boolean => a.acc[v * a.stride + K + 1] === 0 && hist(v).some((x) => x > 0);
  const members = (v: number): number[] => {
    const g = voxelGlobal(a.table, v);
    const out: number[] = [];
    for (let k = 0; k < ball.length / 3; k++) {
      const j = voxelAt(a.table, g[0] + ball[3 * k]!, g[1] + ball[3 * k + 1]!, g[2] + ball[3 * k + 2]!);
      if (j >= 0 && part(j)) out.push(j);
    }
    return out;
  };
  let lf = [0];
  for (let c = 1; c <= K; c++) lf = [...lf, lf[c - 1]! + Math.log(c)];
  const kl = (n: number[], lam: number): number => {
    const N = n.reduce((s, x) => s + x, 0);
    if (N === 0) return 0;
    let d = 0;
    n.forEach((nc, c) => {
      if (nc > 0) d += (nc / N) * (Math.log(nc / N) - (-lam + c * Math.log(lam) - lf[c]!));
    });
    return d;
  };
  const lambda = new Float64Array(voxels);
  const d = new Float64Array(voxels);
  const delta = new Float64Array(voxels);
  const pooled: number[][] = [];
  for (let v = 0; v < voxels; v++) {
    pooled[v] = new Array<number>(K + 1).fill(0);
    if (!part(v)) continue;
    const m = members(v);
    const rw = m.map((j, order) => {
      const h = hist(j);
      const p = h.reduce((s, x) => s + x, 0);
      h.forEach((x, c) => (pooled[v]![c]! += x));
      return { r: h.reduce((s, x, c) => s + c * x, 0) / p, w: p, order };
    });
    rw.sort((x, y) => x.r - y.r || x.order - y.order);
    const W = rw.reduce((s, x) => s + x.w, 0);
    let lam = rw[0]!.r;
    if (rw.length > 1) {
      // interpolate the rates at ½ over the midpoints of the cumulative weights
      let cum = 0;
      const mid = rw.map((x) => {
        const m0 = (cum + x.w / 2) / W;
        cum += x.w;
        return m0;
      });
      for (let k = 0; k + 1 < rw.length; k++) {
        if (mid[k]! <= 0.5 && 0.5 <= mid[k + 1]!) {
          lam = rw[k]!.r + ((rw[k + 1]!.r - rw[k]!.r) * (0.5 - mid[k]!)) / (mid[k + 1]! - mid[k]!);
          break;
        }
      }
    }
    lam = Math.max(lam, 0.5 / W);
    lambda[v] = lam;
    d[v] = kl(pooled[v]!, lam);
  }
  for (let v = 0; v < voxels; v++) {
    if (!part(v)) continue;
    const hv = hist(v);
    let dd = 0;
    for (const j of members(v)) dd += kl(pooled[j]!.map((x, c) => x - hv[c]!), lambda[j]!) - d[j]!;
    delta[v] = dd;
  }
  return { lambda, d, delta };
}

const FILTER_CASES: { name: string; a: VoxelAccumulators; window: number }[] = [
  { name: 'ndiv 3,3,3, window 2', a: syntheticAccumulators(31, [3, 3, 3]), window: 2 },
  { name: 'ndiv 1,3,5, window 1', a: syntheticAccumulators(32, [1, 3, 5]), window: 1 },
  { name: 'ndiv 3,3,1, window 3, maxCount 12', a: syntheticAccumulators(33, [3, 3, 1], 12), window: 3 },
];

/** A single isolated voxel with only zeros (λ floored), next to an overflowing one. */
function degenerateAccumulators(): VoxelAccumulators {
  const box = boxFromBounds([0, 0, 0], [0, 0, 1]);
  const table = buildCellTable([1, 1, 1], box, new Uint32Array([3]));
  const K = 20;
  const stride = recordStride(K);
  const acc = new Uint32Array(2 * stride);
  acc[0] = 40; // 40 observations of 0 counts
  acc[stride + 3] = 5;
  acc[stride + K + 1] = 1; // overflows
  return { table, maxCount: K, stride, acc, channels: 0, channelSums: new Uint32Array(0), maskedObservations: 0, maskedSum: 0, lost: 0 };
}
FILTER_CASES.push({ name: 'isolated all-zero voxel next to an overflowing one', a: degenerateAccumulators(), window: 2 });

function expectStatsEqual(x: FilterStats, y: FilterStats): void {
  expect(firstDifference(x.lambda, y.lambda)).toBeNull();
  expect(firstDifference(x.t, y.t)).toBeNull();
  expect(firstDifference(x.n, y.n)).toBeNull();
  expect(firstDifference(x.delta, y.delta)).toBeNull();
  expect(firstDifference(x.chtot, y.chtot)).toBeNull();
}

/** The greedy pass done the slow way: total divergence recomputed from scratch for each trial. */
function naiveGreedy(a: VoxelAccumulators, s: FilterStats, window: number): Uint8Array {
  const K = a.maxCount;
  const voxels = a.table.cells * subvoxelsPerCell(a.table.ndiv);
  const ball = ballOffsets(window);
  const part = (v: number): boolean => (s.n[v] ?? 0) > 0;
  const removed = new Uint8Array(voxels);
  let lf = [0];
  for (let c = 1; c <= K; c++) lf = [...lf, lf[c - 1]! + Math.log(c)];
  const total = (): number => {
    let sum = 0;
    for (let j = 0; j < voxels; j++) {
      if (!part(j)) continue;
      const g = voxelGlobal(a.table, j);
      const n = new Array<number>(K + 1).fill(0);
      for (let k = 0; k < ball.length / 3; k++) {
        const m = voxelAt(a.table, g[0] + ball[3 * k]!, g[1] + ball[3 * k + 1]!, g[2] + ball[3 * k + 2]!);
        if (m < 0 || !part(m) || removed[m] === 1) continue;
        for (let c = 0; c <= K; c++) n[c]! += a.acc[m * a.stride + c]!;
      }
      const N = n.reduce((q, x) => q + x, 0);
      const lam = s.lambda[j]!;
      n.forEach((nc, c) => {
        if (nc > 0) sum += (nc / N) * (Math.log(nc / N) - (-lam + c * Math.log(lam) - lf[c]!));
      });
    }
    return sum;
  };
  const order = Array.from({ length: voxels }, (_v, i) => i).filter(part).sort((x, y) => s.delta[x]! - s.delta[y]! || x - y);
  let current = total();
  for (const v of order) {
    removed[v] = 1;
    const t = total();
    if (!(t < current - 1e-12)) {
      removed[v] = 0;
      break;
    }
    current = t;
  }
  return removed;
}

// ---------------------------------------------------------------- CPU

describe('voxel kernels, CPU twins against brute force', () => {
  for (const c of GEOMETRY_CASES) {
    it(`cell-bounds + cell-occupancy: ${c.name}`, () => {
      const cells = bruteCells(c.g);
      const b = cellBoundsCpu(c.g);
      if (cells.size === 0) {
        expect(b.min[0]).toBeGreaterThan(b.max[0]);
        return;
      }
      const t = tableFor(c.g, [3, 3, 3]);
      expect(t.cells).toBe(cells.size);
      // the CPU path's one-pass version gives the same box and bitmap
      const set = cellSetCpu(c.g);
      expect([set.min, set.max]).toEqual([b.min, b.max]);
      expect(firstDifference(bitmapFromCells(t.box, set.cells), cellOccupancyCpu({ ...c.g, box: t.box }).bitmap)).toBeNull();
      for (let s = 0; s < t.cells; s++) expect(cells.has(cellOfKey(t.box, t.keys[s]!).join(','))).toBe(true);
      for (const key of cells) {
        const [H, K, L] = key.split(',').map(Number) as [number, number, number];
        for (const [a, lo, hi] of [[H, b.min[0], b.max[0]], [K, b.min[1], b.max[1]], [L, b.min[2], b.max[2]]] as const) {
          expect(a).toBeGreaterThanOrEqual(lo);
          expect(a).toBeLessThanOrEqual(hi);
        }
      }
    });
  }
  for (const c of ACC_CASES) {
    it(`voxel-accumulate: ${c.name}`, () => {
      const r = voxelAccumulateCpu(c.p);
      expectMatchesBrute(r, c.p);
      for (const size of [1, 2]) {
        const b = voxelAccumulateCpu(rebatch(c.p, size));
        expect(firstDifference(b.acc, r.acc)).toBeNull();
        expect(firstDifference(b.channelSums, r.channelSums)).toBeNull();
      }
      // frame order: reversed
      const frames = (c.p.batches[0] as FrameBatch).index.length;
      const rev = voxelAccumulateCpu(reorder(c.p, Array.from({ length: frames }, (_v, i) => frames - 1 - i)));
      expect(firstDifference(rev.acc, r.acc)).toBeNull();
      expect(firstDifference(rev.channelSums, r.channelSums)).toBeNull();
    });
  }
  it('voxel-accumulate: sessions binning into one reused arena (left dirty in between) give the fresh twin\'s accumulators', async () => {
    // issue 14: the CPU engine reuses its accumulator memory from wedge to wedge; larger and smaller tables in turn
    for (const shared of [false, true]) {
      const arena = new AccumulatorArena(shared);
      for (const c of [...ACC_CASES, ...ACC_CASES.slice().reverse()]) {
        const want = voxelAccumulateCpu(c.p);
        const { batches, ...setup } = c.p;
        const memory = arena.memoryFor(setup);
        expect(memory.acc.buffer instanceof SharedArrayBuffer).toBe(shared);
        memory.acc.fill(0xdeadbeef);
        memory.channelSums.fill(7);
        const session = openAccumulator(null, { ...setup, memory });
        for (const b of batches) await session.add(b);
        const r = await session.finish();
        expect(r.acc.buffer).toBe(memory.acc.buffer);
        expect(firstDifference(r.acc, want.acc), c.name).toBeNull();
        expect(firstDifference(r.channelSums, want.channelSums), c.name).toBeNull();
        expect([r.maskedObservations, r.maskedSum, r.lost]).toEqual([want.maskedObservations, want.maskedSum, want.lost]);
      }
    }
    const c0 = ACC_CASES[0]!.p;
    expect(() => openAccumulator(null, { ...c0, memory: { acc: new Uint32Array(1), channelSums: new Uint32Array(0) } })).toThrow(/accumulator memory fits the table/);
  });
  it('voxel-accumulate: x and y sums equal the per-pixel brute force on a small case', () => {
    // 12×9 pixels, 2 frames: Σ x and Σ y per subvoxel computed pixel by pixel from the mapped hkl
    const W = 12;
    const Hh = 9;
    const n = W * Hh;
    const p: VoxelAccumulateParams = { ...accCase(35, n, 2, [3, 3, 3], PHOTON), channels: channelsFor(36, n, { width: W, height: Hh, weights: 0 }) };
    const r = voxelAccumulateCpu(p);
    const b = p.batches[0] as FrameBatch;
    const want = new Map<string, [number, number, number]>();
    for (let f = 0; f < 2; f++) {
      for (let y = 0; y < Hh; y++) {
        for (let x = 0; x < W; x++) {
          const i = y * W + x;
          const raw = b.pixels[f * n + i]!;
          if (((p.valid[i >>> 5]! >>> (i & 31)) & 1) === 0 || raw < 0 || raw > PHOTON.trustedHi) continue;
          const hkl = [0, 4, 8].map((row) => hklComponentF32(b.rows, 12 * f + row, p.vectors[3 * i]!, p.vectors[3 * i + 1]!, p.vectors[3 * i + 2]!));
          const cell = hkl.map(cellOf);
          const slot = r.table.keys.findIndex((k) => cellOfKey(r.table.box, k).join(',') === cell.join(','));
          const [s0, s1, s2] = hkl.map((h, a) => subOf(h, cell[a]!, 3));
          const v = slot * 27 + (s0! - 1) * 9 + (s1! - 1) * 3 + (s2! - 1);
          const key = String(v);
          const e = want.get(key) ?? [0, 0, 0];
          want.set(key, [e[0] + x, e[1] + y, e[2] + 1]);
        }
      }
    }
    expect(want.size).toBeGreaterThan(10);
    let checked = 0;
    for (let v = 0; v < r.acc.length / r.stride; v++) {
      let pixels = 0;
      for (let c = 0; c <= r.maxCount + 1; c++) pixels += r.acc[v * r.stride + c]!;
      const e = want.get(String(v)) ?? [0, 0, 0];
      expect([readU64(r.channelSums, 6 * v), readU64(r.channelSums, 6 * v + 2), readU64(r.channelSums, 6 * v + 4), pixels]).toEqual([e[0], e[1], 0, e[2]]);
      if (e[2] > 0) checked++;
    }
    expect(checked).toBe(want.size);
  });
  it('voxel-accumulate: channel sums add up to Σ over the valid pixel·frames', () => {
    const p = ACC_CASES.find((c) => c.name.startsWith('channels x, y, panel, q(κ)'))!.p;
    const r = voxelAccumulateCpu(p);
    const n = p.vectors.length / 3;
    const C = p.channels!.count;
    const b = p.batches[0] as FrameBatch;
    const want = new Array<number>(C).fill(0);
    let validPf = 0;
    for (let f = 0; f < b.index.length; f++) {
      for (let i = 0; i < n; i++) {
        const raw = b.pixels[f * n + i]!;
        if (((p.valid[i >>> 5]! >>> (i & 31)) & 1) === 0 || raw < 0 || raw > PHOTON.trustedHi) continue;
        validPf++;
        for (let c = 0; c < C; c++) want[c]! += p.channels!.values[C * i + c]!;
      }
    }
    const got = new Array<number>(C).fill(0);
    for (let v = 0; v < r.channelSums.length / (2 * C); v++) for (let c = 0; c < C; c++) got[c]! += readU64(r.channelSums, 2 * C * v + 2 * c);
    expect(got).toEqual(want);
    expect(validPf + r.maskedObservations).toBe(n * b.index.length);
    expect(want[3]!).toBeGreaterThan(2 ** 20 * 1000);
  });
  it('voxel-accumulate: the storage-binding check counts the channel words (K + 6 + 2C per subvoxel)', () => {
    const p = ACC_CASES.find((c) => c.name.startsWith('channels x, y, panel, q(κ)'))!.p;
    const voxels = p.table.cells * subvoxelsPerCell(p.table.ndiv);
    expect(wordsPerSubvoxel(20, 5)).toBe(36);
    // a binding that holds the K + 6 count records but not the channel records
    const bytes = 4 * voxels * recordStride(20);
    const fake = { limits: { maxStorageBufferBindingSize: bytes, maxBufferSize: bytes } } as unknown as GpuContext;
    expect(() => openAccumulator(fake, p)).toThrow(InvalidValueError);
    expect(() => openAccumulator(fake, p)).toThrow(/36 words each: 26 \+ 10 for 5 channels/);
  });
  it('voxel-accumulate carries into the high words', () => {
    const r = voxelAccumulateCpu(ACC_CASES[3]!.p);
    let hiCounts = 0;
    let hiFrames = 0;
    for (let v = 0; v < r.acc.length / r.stride; v++) {
      hiCounts += r.acc[v * r.stride + r.maxCount + 3]!;
      hiFrames += r.acc[v * r.stride + r.maxCount + 5]!;
    }
    expect(hiCounts).toBeGreaterThan(0);
    expect(hiFrames).toBeGreaterThan(0);
    const big = voxelAccumulateCpu(ACC_CASES.find((c) => c.name.startsWith('channels near 2^32'))!.p);
    let hiChannels = 0;
    for (let w = 1; w < big.channelSums.length; w += 2) hiChannels += big.channelSums[w]!;
    expect(hiChannels).toBeGreaterThan(1000);
  });
  for (const c of FILTER_CASES) {
    it(`filter-stats against the f64 definitions: ${c.name}`, () => {
      const s = filterStatsCpu({ acc: c.a, window: c.window });
      const b = bruteStats(c.a, c.window);
      let checked = 0;
      for (let v = 0; v < s.lambda.length; v++) {
        if (s.n[v] === 0) {
          expect(b.lambda[v]).toBe(0);
          continue;
        }
        checked++;
        expect(Math.abs(s.lambda[v]! - b.lambda[v]!)).toBeLessThanOrEqual(2e-6 * b.lambda[v]! + 1e-7);
        expect(Math.abs(divergenceF32(s.t[v]!, s.n[v]!) - b.d[v]!)).toBeLessThanOrEqual(2e-4);
        expect(Math.abs(s.delta[v]! - b.delta[v]!)).toBeLessThanOrEqual(2e-3 + 1e-3 * Math.abs(b.delta[v]!));
      }
      expect(checked).toBeGreaterThan(0);
    });
  }
  it('the isolated all-zero voxel gets the floored λ and zero divergence', () => {
    const s = filterStatsCpu({ acc: degenerateAccumulators(), window: 2 });
    expect(s.n[0]).toBe(40);
    expect(s.lambda[0]).toBe(Math.fround(0.5 / 40));
    expect(s.n[1]).toBe(0); // overflowing: takes no part
    expect(Number.isFinite(s.delta[0]!)).toBe(true);
  });
  it('the greedy pass equals the naive recomputation', () => {
    for (const c of FILTER_CASES.slice(0, 2)) {
      const s = filterStatsCpu({ acc: c.a, window: c.window });
      const m = greedyPoissonFilter(c.a, s, c.window);
      const naive = naiveGreedy(c.a, s, c.window);
      const outl = Array.from(m.reason, (r) => (r === 1 ? 1 : 0));
      expect(outl).toEqual(Array.from(naive));
      expect(m.outliers).toBeGreaterThan(0);
      console.log(`[filter] ${c.name}: ${m.outliers} outliers, ${m.overflow} overflow of ${m.occupied} occupied; divergence ${m.divergenceBefore.toFixed(3)} → ${m.divergenceAfter.toFixed(3)}`);
    }
  });
});

// ---------------------------------------------------------------- GPU = CPU

describe.skipIf(gpuTestsDisabled())('voxel kernels, GPU = CPU', () => {
  let ctx: GpuContext;
  beforeAll(async () => {
    ctx = await openTestGpu();
  });
  afterAll(() => ctx?.destroy());

  for (const c of GEOMETRY_CASES) {
    it(`cell-bounds + cell-occupancy: ${c.name}`, async () => {
      const bc = cellBoundsCpu(c.g);
      const bg = await cellBoundsGpu(ctx, c.g);
      expect(bg).toEqual(bc);
      const box = boxFromBounds(bc.min, bc.max);
      if (box.dim[0] === 0) return;
      const oc = cellOccupancyCpu({ ...c.g, box });
      const og = await cellOccupancyGpu(ctx, { ...c.g, box });
      expect(og.missed).toBe(0);
      expect(firstDifference(og.bitmap, oc.bitmap)).toBeNull();
    });
  }
  for (const c of ACC_CASES) {
    it(`voxel-accumulate: ${c.name}`, async () => {
      const cpu = voxelAccumulateCpu(c.p);
      const gpu = await voxelAccumulateGpu(ctx, c.p);
      expect(firstDifference(gpu.acc, cpu.acc)).toBeNull();
      expect(gpu.channels).toBe(cpu.channels);
      expect(firstDifference(gpu.channelSums, cpu.channelSums)).toBeNull();
      expect([gpu.maskedObservations, gpu.maskedSum, gpu.lost]).toEqual([cpu.maskedObservations, cpu.maskedSum, cpu.lost]);
      const batched = await voxelAccumulateGpu(ctx, rebatch(c.p, 2));
      expect(firstDifference(batched.acc, cpu.acc)).toBeNull();
      expect(firstDifference(batched.channelSums, cpu.channelSums)).toBeNull();
      if (cpu.channels > 0) {
        const frames = (c.p.batches[0] as FrameBatch).index.length;
        const rev = await voxelAccumulateGpu(ctx, reorder(c.p, Array.from({ length: frames }, (_v, i) => frames - 1 - i)));
        expect(firstDifference(rev.acc, cpu.acc)).toBeNull();
        expect(firstDifference(rev.channelSums, cpu.channelSums)).toBeNull();
        let nonzero = 0;
        for (const x of cpu.channelSums) if (x !== 0) nonzero++;
        expect(nonzero > 0 || cpu.table.cells === 0).toBe(true);
      }
      let total = 0;
      for (let v = 0; v < cpu.acc.length / cpu.stride; v++) total += readU64(cpu.acc, v * cpu.stride + cpu.maxCount + 2);
      expect(total > 0 || cpu.table.cells === 0).toBe(true);
    });
  }
  // (the window-3 case runs on the CPU only: the same shader with a larger ball, and a slow compile on lavapipe)
  for (const c of FILTER_CASES.filter((x) => x.window !== 3)) {
    it(`filter-stats (bit-identical) and the mask: ${c.name}`, async () => {
      const cpu = filterStatsCpu({ acc: c.a, window: c.window });
      const gpu = await filterStatsGpu(ctx, { acc: c.a, window: c.window });
      expectStatsEqual(gpu, cpu);
      expect(Array.from(greedyPoissonFilter(c.a, gpu, c.window).reason)).toEqual(Array.from(greedyPoissonFilter(c.a, cpu, c.window).reason));
    });
  }
  it('filter-stats on the accumulators of random frames', async () => {
    const a = voxelAccumulateCpu(ACC_CASES[0]!.p);
    expectStatsEqual(await filterStatsGpu(ctx, { acc: a, window: 2 }), filterStatsCpu({ acc: a, window: 2 }));
  });
});

/** The batches of `p` cut into single frames, dealt round-robin into `parts` groups. */
function dealFrames(p: VoxelAccumulateParams, parts: number): FrameBatch[][] {
  const n = p.vectors.length / 3;
  const groups: FrameBatch[][] = Array.from({ length: parts }, () => []);
  let k = 0;
  for (const b of p.batches) {
    for (let f = 0; f < b.index.length; f++, k++) {
      groups[k % parts]!.push({ rows: b.rows.slice(12 * f, 12 * f + 12), index: b.index.slice(f, f + 1), pixels: b.pixels.slice(f * n, (f + 1) * n) });
    }
  }
  return groups;
}

const sharedCopy = <T extends Float32Array | Uint32Array>(a: T): T => {
  const out = new (a.constructor as new (b: SharedArrayBuffer) => T)(new SharedArrayBuffer(a.byteLength));
  out.set(a);
  return out;
};

describe('voxel-accumulate on CPU threads (issue 14): exact merges', () => {
  it.each(ACC_CASES.map((c) => [c.name, c.p] as const))('accumulators of frames split 3 ways, merged = the twin: %s', (_name, p) => {
    const ref = voxelAccumulateCpu(p);
    const parts = dealFrames(p, 3).map((batches) => voxelAccumulateCpu({ ...p, batches }));
    const [first, ...rest] = parts;
    for (const r of rest) mergeAccumulatorWords(first!, r, p.maxCount);
    expect(firstDifference(first!.acc, ref.acc)).toBeNull();
    expect(firstDifference(first!.channelSums, ref.channelSums)).toBeNull();
    expect(parts.reduce((s, r) => s + r.maskedObservations, 0)).toBe(ref.maskedObservations);
    expect(parts.reduce((s, r) => s + r.maskedSum, 0)).toBe(ref.maskedSum);
  });

  it('worker threads (pixels handed over, cell set and filter statistics split) give the twin’s bits', async () => {
    const threads = new AccumulatorThreads(3);
    try {
      for (const c of [ACC_CASES[0]!, ACC_CASES[3]!, ACC_CASES.find((x) => x.name.startsWith('channels near 2^32'))!]) {
        const p = c.p;
        const ref = voxelAccumulateCpu(p);
        const vectors = sharedCopy(p.vectors);
        const valid = sharedCopy(p.valid);
        const channels = p.channels !== undefined ? { count: p.channels.count, values: sharedCopy(p.channels.values) } : undefined;
        await threads.open({ table: p.table, maxCount: p.maxCount, vectors, valid, counting: p.counting, ...(channels !== undefined ? { channels } : {}) });
        const frames = dealFrames(p, 1)[0]!;
        const sums = await Promise.all(frames.map((b) => threads.add({ row: b.rows, offset: b.index[0]!, pixels: b.pixels })));
        const got = await threads.finish();
        expect(firstDifference(got.acc, ref.acc), c.name).toBeNull();
        expect(firstDifference(got.channelSums, ref.channelSums), c.name).toBeNull();
        expect([got.maskedObservations, got.maskedSum, got.lost]).toEqual([ref.maskedObservations, ref.maskedSum, ref.lost]);
        expect(sums.reduce((s, x) => s + x.frameSum, 0)).toBe(p.batches.reduce((s, b) => s + b.pixels.reduce((a, v) => a + v, 0), 0));
        // the cell set of the frames split between the workers = one thread's
        const rows = new Float32Array(frames.flatMap((b) => [...b.rows]));
        const one = cellSetCpu({ vectors: p.vectors, valid: p.valid, rows });
        const split = await threads.cellSet(vectors, valid, rows);
        expect([split.min, split.max]).toEqual([one.min, one.max]);
        expect(new Set(cellTriples(split.cells))).toEqual(new Set(cellTriples(one.cells)));
        // filter statistics over voxel ranges in the workers = the twin
        const want = filterStatsCpu({ acc: ref, window: 2 });
        const have = await threads.filterStats(ref, 2);
        for (const k of ['lambda', 't', 'n', 'delta', 'chtot'] as const) expect(firstDifference(have[k], want[k]), `${c.name}: ${k}`).toBeNull();
      }
    } finally {
      await threads.destroy();
    }
  }, 120_000);
});

function cellTriples(c: Int32Array): string[] {
  const out: string[] = [];
  for (let k = 0; k < c.length; k += 3) out.push(`${c[k]},${c[k + 1]},${c[k + 2]}`);
  return out;
}
