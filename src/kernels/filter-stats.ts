/**
 * filter-stats: the neighbourhood statistics of the Poisson outlier filter —
 * per subvoxel the pixel-weighted median count rate λ of its neighbourhood,
 * the neighbourhood's pooled count histogram and its KL divergence from
 * Poisson(λ), and ΔD, the change of the summed divergences when the subvoxel
 * is removed from every neighbourhood holding it. The greedy removal that
 * turns these into a mask is src/grid/poisson-filter.ts.
 *
 * The formulas, the member order, the weighted median and the handling of the
 * degenerate cases are written out in shaders/filter-stats.wgsl; this CPU twin
 * follows them operation by operation in the deterministic f32 of
 * src/grid/exact-f32.ts, so GPU and CPU return the same bits.
 *
 * Departures from mdx-lib's `Filter` class (which this re-derives):
 * - its weighted median (`interp1q` over the midpoints of the normalised
 *   cumulative weights) is NaN when a neighbourhood holds a voxel without
 *   pixels (0/0 rate) or has zero total weight, and a NaN λ makes every KL
 *   term NaN, which its `~isnan` filter then drops: the neighbourhood counts
 *   as a perfect Poisson match. Here only subvoxels with pixel·frames and no
 *   overflow take part, so every neighbourhood has weight ≥ 1 (it holds its
 *   centre), and the median is computed from integer weights with the bracket
 *   test W_{k−1} + W_k ≤ N ≤ W_k + W_{k+1}, which always finds a bracket.
 * - a median of 0 (most of the weight at rate 0) gives ln λ = −∞ and an
 *   infinite divergence as soon as any count is non-zero; λ is floored at
 *   ½·(1/N), half a photon over the whole neighbourhood.
 * - a neighbourhood emptied by a removal has divergence 0 (the reference
 *   divides 0 by 0 there and drops the NaN, which comes to the same).
 */
import { InvalidValueError } from '../errors.ts';
import type { GpuContext } from '../host/context.ts';
import { defineProgram } from '../host/program.ts';
import { cellOfKey, cellSlot, type CellTable } from '../grid/cell-table.ts';
import { bitsF32, f32Bits, logf, logFactorials, logTables, LOG_TABLE_SIZE, recip, u2f } from '../grid/exact-f32.ts';
import { ballOffsets, subvoxelsPerCell } from '../grid/subvoxel.ts';
import type { Kernel } from './kernel.ts';
import { recordStride, type VoxelAccumulators } from './voxel-accumulate.ts';

const f = Math.fround;

/** Word offsets in the consts buffer. */
export const CONSTS_INV = 0;
export const CONSTS_NEG_LOG_INV = LOG_TABLE_SIZE;
export const CONSTS_LN2 = 2 * LOG_TABLE_SIZE;
export const CONSTS_THIRD = 2 * LOG_TABLE_SIZE + 1;
export const CONSTS_LOGFACT = 2 * LOG_TABLE_SIZE + 2;

export interface FilterStatsParams {
  acc: VoxelAccumulators;
  /** neighbourhood radius in subvoxels (default 2) */
  window: number;
}

export interface FilterStats {
  /** per voxel (cells · nsub): λ, 0 when the voxel does not take part */
  lambda: Float32Array;
  /** per voxel: T = Σ n_c (ln n_c − ln q_c), so D = T/N − ln N */
  t: Float32Array;
  /** per voxel: the neighbourhood's pixel·frames N (0 = does not take part) */
  n: Uint32Array;
  /** per voxel: ΔD */
  delta: Float32Array;
  /** per voxel: the pooled histogram, maxCount + 1 bins */
  chtot: Uint32Array;
}

/** The consts buffer: ln tables, ln c!, then the ball offsets. */
export function filterConsts(maxCount: number, ball: Int32Array): Uint32Array {
  const t = logTables();
  const lf = logFactorials(maxCount);
  const out = new Uint32Array(CONSTS_LOGFACT + maxCount + 1 + ball.length);
  for (let j = 0; j < LOG_TABLE_SIZE; j++) {
    out[CONSTS_INV + j] = f32Bits(t.inv[j] as number);
    out[CONSTS_NEG_LOG_INV + j] = f32Bits(t.negLogInv[j] as number);
  }
  out[CONSTS_LN2] = f32Bits(t.ln2);
  out[CONSTS_THIRD] = f32Bits(t.third);
  for (let c = 0; c <= maxCount; c++) out[CONSTS_LOGFACT + c] = f32Bits(lf[c] as number);
  new Int32Array(out.buffer).set(ball, CONSTS_LOGFACT + maxCount + 1);
  return out;
}

/** Global subvoxel coordinate of voxel v (n·cell + sub − 1). */
export function voxelGlobal(table: CellTable, v: number): [number, number, number] {
  const nsub = subvoxelsPerCell(table.ndiv);
  const slot = Math.floor(v / nsub);
  const s = v - slot * nsub;
  const [H, K, L] = cellOfKey(table.box, table.keys[slot] as number);
  const [n1, n2, n3] = table.ndiv;
  const iz = s % n3;
  const r = (s - iz) / n3;
  const iy = r % n2;
  const ix = (r - iy) / n2;
  return [n1 * H + ix, n2 * K + iy, n3 * L + iz];
}

/** The voxel at a global subvoxel coordinate, or −1 when its cell is not in the table. */
export function voxelAt(table: CellTable, g0: number, g1: number, g2: number): number {
  const n1 = table.ndiv[0];
  const n2 = table.ndiv[1];
  const n3 = table.ndiv[2];
  const H = Math.floor(g0 / n1);
  const K = Math.floor(g1 / n2);
  const L = Math.floor(g2 / n3);
  const slot = cellSlot(table, H, K, L);
  if (slot < 0) return -1;
  return slot * n1 * n2 * n3 + ((g0 - n1 * H) * n2 + (g1 - n2 * K)) * n3 + (g2 - n3 * L);
}

/** The neighbours of voxel v (ball order, v itself included), as voxel indices (−1 = cell absent). */
export function neighbourVoxels(table: CellTable, ball: Int32Array, v: number, out: Int32Array): void {
  const n1 = table.ndiv[0];
  const n2 = table.ndiv[1];
  const n3 = table.ndiv[2];
  const nsub = n1 * n2 * n3;
  const slot = Math.floor(v / nsub);
  const s = v - slot * nsub;
  const key = table.keys[slot] as number;
  const d1 = table.box.dim[1];
  const d2 = table.box.dim[2];
  const c2 = key % d2;
  const r = (key - c2) / d2;
  const c1 = r % d1;
  const c0 = (r - c1) / d1;
  const iz = s % n3;
  const r2 = (s - iz) / n3;
  const iy = r2 % n2;
  const ix = (r2 - iy) / n2;
  const g0 = n1 * (c0 + table.box.lo[0]) + ix;
  const g1 = n2 * (c1 + table.box.lo[1]) + iy;
  const g2 = n3 * (c2 + table.box.lo[2]) + iz;
  const B = ball.length / 3;
  for (let k = 0; k < B; k++) out[k] = voxelAt(table, g0 + (ball[3 * k] as number), g1 + (ball[3 * k + 1] as number), g2 + (ball[3 * k + 2] as number));
}

function checkParams(p: FilterStatsParams): { voxels: number; ball: Int32Array } {
  const a = p.acc;
  const ball = ballOffsets(p.window);
  const voxels = a.table.cells * subvoxelsPerCell(a.table.ndiv);
  if (a.stride !== recordStride(a.maxCount)) throw new InvalidValueError('filter-stats: accumulator stride does not match maxCount', { field: 'stride' });
  if (a.acc.length !== voxels * a.stride) throw new InvalidValueError(`filter-stats: ${a.acc.length} accumulator words for ${voxels} voxels`, { field: 'acc' });
  return { voxels, ball };
}

/** a·b as a u64 [hi, lo] from 16-bit limbs (as the WGSL mul64). */
function mul64(a: number, b: number): [number, number] {
  const a0 = a & 0xffff;
  const a1 = a >>> 16;
  const b0 = b & 0xffff;
  const b1 = b >>> 16;
  const p00 = a0 * b0;
  const p01 = a0 * b1;
  const p10 = a1 * b0;
  const mid = (p00 >>> 16) + (p01 & 0xffff) + (p10 & 0xffff);
  return [(a1 * b1 + (p01 >>> 16) + (p10 >>> 16) + (mid >>> 16)) >>> 0, ((p00 & 0xffff) | (mid << 16)) >>> 0];
}

/** s1/p1 > s2/p2 exactly. */
export function rateAbove(s1: number, p1: number, s2: number, p2: number): boolean {
  const [xh, xl] = mul64(s1, p2);
  const [yh, yl] = mul64(s2, p1);
  return xh > yh || (xh === yh && xl > yl);
}

/** The f32 count rate s · (1/p). */
function rateOf(s: number, p: number): number {
  return f(u2f(s) * recip(u2f(p)));
}

/** ln q_c(λ) = (−λ + c·ln λ) − ln c!, deterministic f32. */
function logQ(c: number, lam: number, logLam: number, lf: Float32Array): number {
  return f(f(-lam + f(c * logLam)) - (lf[c] as number));
}

/** n · (ln n − ln q), n > 0. */
function klTerm(n: number, lq: number): number {
  const nf = u2f(n);
  return f(nf * f(logf(nf) - lq));
}

/** D = T/N − ln N (deterministic f32). */
export function divergenceF32(t: number, n: number): number {
  const nf = u2f(n);
  return f(f(t * recip(nf)) - logf(nf));
}

/** The CPU twin. */
export function filterStatsCpu(p: FilterStatsParams): FilterStats {
  const w = filterStatsWork(p);
  filterStatsPhase1(p, w, 0, w.voxels);
  filterStatsPhase2(p, w, 0, w.voxels);
  return w.out;
}

/**
 * What both phases of the CPU twin read and write: the participation and
 * pixel count of every voxel, and the outputs. Every output element of a
 * phase depends only on its inputs, so the phases can run over voxel ranges
 * in any split (src/kernels/cpu/: worker threads over shared memory) with
 * the same bits. `alloc` makes the arrays (shared memory for the threads).
 */
export interface FilterStatsWork {
  voxels: number;
  /** per voxel: pixel·frames Σ histogram (overflow excluded) */
  pv: Float64Array;
  /** per voxel: 1 when it takes part (pixels, no overflow) */
  part: Uint8Array;
  out: FilterStats;
}

type Alloc = <T extends Float32Array | Float64Array | Uint32Array | Uint8Array>(ctor: new (n: number) => T, n: number) => T;

/** The participation and pixel counts of `p`, and zeroed outputs (see FilterStatsWork). */
export function filterStatsWork(p: FilterStatsParams, alloc: Alloc = (ctor, n) => new ctor(n)): FilterStatsWork {
  const { voxels } = checkParams(p);
  const { acc, stride, maxCount: K } = p.acc;
  const nb = K + 1;
  const pv = alloc(Float64Array, voxels);
  const part = alloc(Uint8Array, voxels);
  for (let v = 0; v < voxels; v++) {
    const b = v * stride;
    let s = 0;
    for (let c = 0; c <= K; c++) s += acc[b + c] as number;
    pv[v] = s;
    part[v] = s > 0 && acc[b + K + 1] === 0 ? 1 : 0;
  }
  const out: FilterStats = {
    lambda: alloc(Float32Array, voxels),
    t: alloc(Float32Array, voxels),
    n: alloc(Uint32Array, voxels),
    delta: alloc(Float32Array, voxels),
    chtot: alloc(Uint32Array, voxels * nb),
  };
  return { voxels, pv, part, out };
}

/** What both phases read: the ball, the accumulators and their layout, ln c!. */
function phaseInputs(p: FilterStatsParams): { ball: Int32Array; acc: Uint32Array; stride: number; K: number; table: CellTable; B: number; nb: number; lf: Float32Array } {
  const ball = ballOffsets(p.window);
  const { acc, stride, maxCount: K, table } = p.acc;
  return { ball, acc, stride, K, table, B: ball.length / 3, nb: K + 1, lf: logFactorials(K) };
}

/** Phase 1 (λ, T, N and the pooled histogram) of voxels from…to−1. */
export function filterStatsPhase1(p: FilterStatsParams, w: FilterStatsWork, from: number, to: number): void {
  const { ball, acc, stride, K, table, B, nb, lf } = phaseInputs(p);
  const { pv, part } = w;
  const { lambda, t: tArr, n: nArr, chtot } = w.out;
  const nbr = new Int32Array(B);
  const sum = new Float64Array(B);
  const wt = new Float64Array(B);
  for (let v = from; v < to; v++) {
    if (part[v] === 0) continue;
    neighbourVoxels(table, ball, v, nbr);
    const cb = v * nb;
    let m = 0;
    let total = 0;
    for (let k = 0; k < B; k++) {
      const j = nbr[k] as number;
      if (j < 0 || part[j] === 0) continue;
      const bj = j * stride;
      let s = 0;
      for (let c = 0; c <= K; c++) {
        const h = acc[bj + c] as number;
        s += c * h;
        chtot[cb + c] = (chtot[cb + c] as number) + h;
      }
      const pj = pv[j] as number;
      let q = m;
      while (q > 0 && rateAbove(sum[q - 1] as number, wt[q - 1] as number, s, pj)) {
        sum[q] = sum[q - 1] as number;
        wt[q] = wt[q - 1] as number;
        q--;
      }
      sum[q] = s;
      wt[q] = pj;
      m++;
      total += pj;
    }
    let lam = rateOf(sum[0] as number, wt[0] as number);
    if (m > 1) {
      lam = rateOf(sum[m - 1] as number, wt[m - 1] as number);
      let wprev = 0;
      for (let k = 0; k + 1 < m; k++) {
        const wk = wprev + (wt[k] as number);
        if (wprev + wk <= total && total <= wk + wk + (wt[k + 1] as number)) {
          const t = f(u2f(total - wprev - wk) * recip(u2f((wt[k] as number) + (wt[k + 1] as number))));
          const r0 = rateOf(sum[k] as number, wt[k] as number);
          const r1 = rateOf(sum[k + 1] as number, wt[k + 1] as number);
          lam = f(r0 + f(f(r1 - r0) * t));
          break;
        }
        wprev = wk;
      }
    }
    lam = Math.max(lam, f(0.5 * recip(u2f(total))));
    const logLam = logf(lam);
    let t = 0;
    for (let c = 0; c <= K; c++) {
      const n = chtot[cb + c] as number;
      if (n > 0) t = f(t + klTerm(n, logQ(c, lam, logLam, lf)));
    }
    lambda[v] = lam;
    tArr[v] = t;
    nArr[v] = total;
  }
}

/** Phase 2 (ΔD) of voxels from…to−1; needs phase 1 of every voxel. */
export function filterStatsPhase2(p: FilterStatsParams, w: FilterStatsWork, from: number, to: number): void {
  const { ball, acc, stride, K, table, B, nb, lf } = phaseInputs(p);
  const { pv, part } = w;
  const { lambda, t: tArr, n: nArr, delta, chtot } = w.out;
  const nbr = new Int32Array(B);
  for (let v = from; v < to; v++) {
    if (part[v] === 0) continue;
    neighbourVoxels(table, ball, v, nbr);
    const bv = v * stride;
    const p = pv[v] as number;
    let dd = 0;
    for (let k = 0; k < B; k++) {
      const j = nbr[k] as number;
      if (j < 0) continue;
      const nj = nArr[j] as number;
      if (nj === 0) continue;
      const lam = lambda[j] as number;
      const t = tArr[j] as number;
      const dj = divergenceF32(t, nj);
      const np = nj - p;
      let dp = 0;
      if (np > 0) {
        const logLam = logf(lam);
        let tp = t;
        const cb = j * nb;
        for (let c = 0; c <= K; c++) {
          const h = acc[bv + c] as number;
          if (h === 0) continue;
          const lq = logQ(c, lam, logLam, lf);
          const n = chtot[cb + c] as number;
          tp = f(tp - klTerm(n, lq));
          if (n > h) tp = f(tp + klTerm(n - h, lq));
        }
        dp = divergenceF32(tp, np);
      }
      dd = f(dd + f(dp - dj));
    }
    delta[v] = dd;
  }
}

const WG = 128;

export const filterStatsProgram = defineProgram({
  name: 'filter-stats',
  defines: { WG: 'number', BALL: 'number', NBINS: 'number', PHASE2: 'boolean' },
  bindings: {
    params: 'uniform',
    consts: 'read',
    cell_table: 'read',
    keys: 'read',
    acc: 'read',
    stats: 'read_write',
    chtot: 'read_write',
    delta: { kind: 'read_write', when: 'PHASE2' },
  },
  uniforms: {
    n_voxels: 'u32',
    row_threads: 'u32',
    zero: 'u32',
    max_count: 'u32',
    lo: 'vec3i',
    stride: 'u32',
    dim: 'vec3u',
    nsub: 'u32',
    ndiv: 'vec3i',
    ball_size: 'u32',
    off_ball: 'u32',
    n_cells: 'u32',
    _pad0: 'u32',
    _pad1: 'u32',
  },
});

/**
 * The GPU path: phase 1 and phase 2 as two dispatches over resident buffers.
 * Accumulators still on this device (`acc.device`, from voxel-accumulate) are
 * bound as they are; otherwise the host copy is uploaded.
 */
export async function filterStatsGpu(ctx: GpuContext, p: FilterStatsParams): Promise<FilterStats> {
  const { voxels, ball } = checkParams(p);
  const K = p.acc.maxCount;
  const nb = K + 1;
  if (voxels === 0) return { lambda: new Float32Array(0), t: new Float32Array(0), n: new Uint32Array(0), delta: new Float32Array(0), chtot: new Uint32Array(0) };
  const maxBinding = Math.min(ctx.limits.maxStorageBufferBindingSize, ctx.limits.maxBufferSize);
  for (const [what, bytes] of [['accumulators', 4 * p.acc.acc.length], ['pooled histograms', 4 * voxels * nb]] as const) {
    if (bytes > maxBinding) throw new InvalidValueError(`filter-stats: the wedge's ${what} need ${bytes} bytes, over one storage binding (${maxBinding}); use a smaller wedge`, { field: 'wedge' });
  }
  const B = ball.length / 3;
  const t = p.acc.table;
  const [gx, gy] = ctx.grid(voxels, WG);
  const resident = p.acc.device !== undefined && p.acc.device.usableOn(ctx) && p.acc.device.length >= p.acc.acc.length ? p.acc.device.buffer : null;
  const consts = ctx.upload('filter-stats consts', filterConsts(K, ball));
  const tableBuf = ctx.input('filter-stats cell table', t.words);
  const keys = ctx.input('filter-stats keys', t.keys);
  const acc = resident ?? ctx.upload('filter-stats accumulators', p.acc.acc);
  const stats = ctx.buffer('filter-stats stats', 16 * voxels);
  const chtot = ctx.buffer('filter-stats pooled histograms', 4 * voxels * nb);
  const delta = ctx.buffer('filter-stats delta', 4 * voxels);
  const uniforms = {
    n_voxels: voxels,
    row_threads: gx * WG,
    zero: 0,
    max_count: K,
    lo: t.box.lo,
    stride: p.acc.stride,
    dim: t.box.dim,
    nsub: subvoxelsPerCell(t.ndiv),
    ndiv: t.ndiv,
    ball_size: B,
    off_ball: CONSTS_LOGFACT + K + 1,
    n_cells: t.cells,
  };
  const bindings = { consts, cell_table: tableBuf, keys, acc, stats, chtot };
  try {
    // both passes and the readback of the three results: one encoder, one submit, one map
    const [stBytes, chBytes, dlBytes] = await ctx.batch('filter-stats', async () => {
      await ctx.run(filterStatsProgram, { defines: { WG, BALL: B, NBINS: nb, PHASE2: false }, uniforms, bindings, workgroups: [gx, gy, 1] });
      await ctx.run(filterStatsProgram, { defines: { WG, BALL: B, NBINS: nb, PHASE2: true }, uniforms, bindings: { ...bindings, delta }, workgroups: [gx, gy, 1] });
      return ctx.readMany([
        { buffer: stats, bytes: 16 * voxels },
        { buffer: chtot, bytes: 4 * voxels * nb },
        { buffer: delta, bytes: 4 * voxels },
      ]);
    });
    const st = new Uint32Array(stBytes as ArrayBuffer);
    const ch = new Uint32Array(chBytes as ArrayBuffer);
    const dl = new Float32Array(dlBytes as ArrayBuffer);
    const lambda = new Float32Array(voxels);
    const tt = new Float32Array(voxels);
    const n = new Uint32Array(voxels);
    for (let v = 0; v < voxels; v++) {
      lambda[v] = bitsF32(st[4 * v] as number);
      tt[v] = bitsF32(st[4 * v + 1] as number);
      n[v] = st[4 * v + 2] as number;
    }
    return { lambda, t: tt, n, delta: dl, chtot: ch };
  } finally {
    // (a resident accumulator stays: release leaves device arrays alone)
    ctx.release(consts, tableBuf, keys, acc, stats, chtot, delta);
  }
}

export const filterStatsKernel: Kernel<FilterStatsParams, FilterStats> = {
  name: 'filter-stats',
  cpu: filterStatsCpu,
  gpu: filterStatsGpu,
};
