/**
 * voxel-accumulate: the per-subvoxel count histogram and integration sums of
 * a wedge (shaders/voxel-accumulate.wgsl has the exact rules).
 *
 * Every subvoxel of the wedge's cell table owns `stride = maxCount + 6` u32
 * words in `acc`, at (slot · nsub + flatSub) · stride:
 *
 *   [0 … K]      histogram: pixel·frames with count c (K = maxCount)
 *   [K + 1]      pixel·frames with count > K (the voxel overflows)
 *   [K + 2, +3]  Σ count (u64 as lo, hi)
 *   [K + 4, +5]  Σ frame index (u64 as lo, hi)
 *
 * Channels: C optional u32 values per pixel (`AccumulateSetup.channels`,
 * pixel-major; the pipeline passes x, y, panel and the quantized weights κ,
 * d³s). Every valid pixel·frame adds its pixel's values to its subvoxel's
 * channel record of 2C words in `channelSums`, at (slot · nsub + flatSub) · 2C:
 *
 *   [2c, 2c + 1] Σ channel c (u64 as lo, hi), c = 0 … C − 1
 *
 * On the GPU both live in one buffer, the K + 6 records first (what
 * filter-stats reads, unchanged) and the channel records after them, so a
 * subvoxel costs K + 6 + 2C words (`wordsPerSubvoxel`).
 *
 * Pixel count of a subvoxel = Σ histogram + overflow observations. Masked
 * pixel·frames only add to the tally (their number and the Σ of their raw
 * values), so Σ counts + masked Σ = Σ of every frame's raw values (photon
 * counting).
 *
 * Streaming: the session form (`voxelAccumulateStream`, opened through
 * `Engine.open`, which owns the fall-back to the CPU on device loss) takes
 * batches of frames and keeps the accumulators resident (on the GPU: one
 * device array, at most two batches in flight, each with its own frame
 * buffers, so the host reads, decodes and uploads the next batch while the
 * kernel runs on this one). With `keepOnDevice` the
 * accumulators stay on the device after `finish` (`VoxelAccumulators.device`)
 * for filter-stats to bind. A batch's frames travel as u16 offsets from its
 * minimum when its values span at most 65535 (`packPixels`: half the bytes of
 * the copy, markers and negative ADU values included), else as i32; the
 * kernel's PACKED16 define selects the unpacking, and both give the CPU twin's
 * result bit for bit. The per-pixel inputs and the cell table are bound
 * from their resident copies when the caller pinned them (GpuContext.input).
 * The Kernel object is the one-shot form the case tables use. Sums are
 * integers, so the result does not depend on the batch size or the frame
 * order.
 */
import { InvalidValueError, invariant } from '../errors.ts';
import type { GpuContext } from '../host/context.ts';
import { DeviceArray } from '../host/device-array.ts';
import { defineProgram } from '../host/program.ts';
import type { CellTable } from '../grid/cell-table.ts';
import { cellSlot } from '../grid/cell-table.ts';
import { subvoxelsPerCell } from '../grid/subvoxel.ts';
import type { Kernel, KernelSession, StreamingKernel } from './kernel.ts';

const f = Math.fround;

/** How raw pixel values become counts. */
export interface CountingParams {
  /** inclusive integer bounds of usable raw values */
  trustedLo: number;
  trustedHi: number;
  /** mask the Pilatus markers −1 (gap) and −2 (bad) */
  markers: boolean;
  /**
   * charge-integrating detector: photons = max(0, round((f32(raw) − pedestal) · invGain))
   * in f32, rounding half to even; absent for photon counting (count = raw,
   * negative values masked)
   */
  integrating?: { invGain: number; pedestal: number };
}

/** C u32 values per pixel, summed per subvoxel over its valid pixel·frames. */
export interface PixelChannels {
  /** C, 0 … MAX_CHANNELS */
  count: number;
  /** count values per pixel, pixel-major (length count · pixels) */
  values: Uint32Array;
}

/** Most channels per pixel (a compile-time loop bound in the kernel). */
export const MAX_CHANNELS = 16;

export interface AccumulateSetup {
  table: CellTable;
  maxCount: number;
  /** d per pixel, 3 f32 each */
  vectors: Float32Array;
  /** static mask bits */
  valid: Uint32Array;
  counting: CountingParams;
  /** per-pixel values summed per subvoxel (none when absent) */
  channels?: PixelChannels;
  /**
   * GPU: leave the accumulators on the device after `finish`
   * (`VoxelAccumulators.device`, for filter-stats); the caller destroys them
   */
  keepOnDevice?: boolean;
  /** CPU: the accumulators in shared memory (SharedArrayBuffer), for the worker threads of src/kernels/cpu/ */
  sharedAccumulators?: boolean;
  /** CPU: bin into this memory (zeroed first; from an AccumulatorArena) instead of new arrays; the GPU ignores it */
  memory?: AccumulatorMemory;
}

/** A batch of frames. */
export interface FrameBatch {
  /** M_f per frame: 3 rows × 4 f32 */
  rows: Float32Array;
  /** frame index (0-based offset in the scan) per frame */
  index: Uint32Array;
  /** raw values, n_pixels per frame, frame-major */
  pixels: Int32Array;
}

export interface VoxelAccumulators {
  table: CellTable;
  maxCount: number;
  /** words per subvoxel: maxCount + 6 */
  stride: number;
  /** cells · nsub · stride words */
  acc: Uint32Array;
  /** C: channels per pixel (0 without) */
  channels: number;
  /** cells · nsub · 2C words: Σ of each channel as a u64 (lo, hi) per subvoxel */
  channelSums: Uint32Array;
  /** masked pixel·frames */
  maskedObservations: number;
  /** Σ raw value of masked pixel·frames */
  maskedSum: number;
  /** valid pixel·frames whose cell is not in the table (0 unless the table is wrong) */
  lost: number;
  /**
   * the same accumulators still on the device (count records, then channel
   * records: `acc` and `channelSums` in one array), when the GPU session was
   * asked to keep them; whoever asked destroys them
   */
  device?: DeviceArray<'u32'>;
}

export type AccumulateSession = KernelSession<FrameBatch, VoxelAccumulators>;

export type VoxelAccumulateParams = AccumulateSetup & { batches: readonly FrameBatch[] };

/** Words of a subvoxel's count record (histogram and sums; what filter-stats reads). */
export function recordStride(maxCount: number): number {
  return maxCount + 6;
}

/** Words of a subvoxel's channel record: a u64 per channel. */
export function channelStride(channels: number): number {
  return 2 * channels;
}

/** Accumulator words per subvoxel: K + 6 + 2C. */
export function wordsPerSubvoxel(maxCount: number, channels = 0): number {
  return recordStride(maxCount) + channelStride(channels);
}

/** Words of the count records of a table (`VoxelAccumulators.acc`). */
export function accumulatorWords(table: CellTable, maxCount: number): number {
  return table.cells * subvoxelsPerCell(table.ndiv) * recordStride(maxCount);
}

/** Words of a table's whole accumulator (count and channel records: one GPU buffer). */
export function totalAccumulatorWords(table: CellTable, maxCount: number, channels = 0): number {
  return table.cells * subvoxelsPerCell(table.ndiv) * wordsPerSubvoxel(maxCount, channels);
}

/** A u64 stored as (lo, hi) at acc[i], acc[i+1] (exact below 2^53). */
export function readU64(acc: Uint32Array, i: number): number {
  return (acc[i] as number) + 4294967296 * (acc[i + 1] as number);
}

function i64FromWords(lo: number, hi: number): number {
  return (hi | 0) * 4294967296 + (lo >>> 0);
}

/** Round half to even (WGSL `round`). */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

function checkSetup(s: AccumulateSetup): number {
  if (!Number.isInteger(s.maxCount) || s.maxCount < 1 || s.maxCount > 4096) {
    throw new InvalidValueError(`maxCount must be an integer in 1…4096, got ${s.maxCount}`, { field: 'maxCount' });
  }
  if (s.vectors.length % 3 !== 0) throw new InvalidValueError('voxel-accumulate: vectors length is not a multiple of 3', { field: 'vectors' });
  const n = s.vectors.length / 3;
  if (s.valid.length < Math.ceil(n / 32)) throw new InvalidValueError('voxel-accumulate: the valid bits do not cover every pixel', { field: 'valid' });
  const c = s.counting;
  if (!Number.isInteger(c.trustedLo) || !Number.isInteger(c.trustedHi)) throw new InvalidValueError('trusted bounds must be integers', { field: 'trusted' });
  if (c.integrating !== undefined && !(Number.isFinite(c.integrating.invGain) && c.integrating.invGain > 0 && Number.isFinite(c.integrating.pedestal))) {
    throw new InvalidValueError('an integrating detector needs a positive gain and a finite pedestal', { field: 'gain' });
  }
  const ch = s.channels;
  if (ch !== undefined) {
    if (!Number.isInteger(ch.count) || ch.count < 0 || ch.count > MAX_CHANNELS) {
      throw new InvalidValueError(`voxel-accumulate: channels must be an integer in 0…${MAX_CHANNELS}, got ${ch.count}`, { field: 'channels' });
    }
    if (ch.values.length !== ch.count * n) {
      throw new InvalidValueError(`voxel-accumulate: ${ch.values.length} channel values for ${ch.count} channels of ${n} pixels`, { field: 'channels' });
    }
  }
  return n;
}

function channelCount(s: AccumulateSetup): number {
  return s.channels?.count ?? 0;
}

function checkBatch(b: FrameBatch, n: number): number {
  if (b.rows.length % 12 !== 0) throw new InvalidValueError('voxel-accumulate: rows length is not a multiple of 12', { field: 'rows' });
  const frames = b.rows.length / 12;
  if (b.index.length !== frames) throw new InvalidValueError(`voxel-accumulate: ${b.index.length} frame indices for ${frames} frames`, { field: 'index' });
  if (b.pixels.length !== frames * n) throw new InvalidValueError(`voxel-accumulate: ${b.pixels.length} pixel values for ${frames} frames of ${n} pixels`, { field: 'pixels' });
  return frames;
}

class CpuSession implements AccumulateSession {
  readonly backend = 'cpu' as const;
  private readonly n: number;
  private readonly acc: Uint32Array;
  private readonly chanAcc: Uint32Array;
  private readonly stride: number;
  private readonly nsub: number;
  private maskedObs = 0;
  private maskedSum = 0;
  private lost = 0;

  constructor(private readonly s: AccumulateSetup) {
    const memory = s.memory;
    this.n = checkSetup(s);
    this.stride = recordStride(s.maxCount);
    this.nsub = subvoxelsPerCell(s.table.ndiv);
    const accWords = accumulatorWords(s.table, s.maxCount);
    const chanWords = s.table.cells * this.nsub * channelStride(channelCount(s));
    if (memory !== undefined) {
      invariant(memory.acc.length === accWords && memory.channelSums.length === chanWords, 'voxel-accumulate: the given accumulator memory fits the table');
      // the twin starts from zero whatever the memory held before
      this.acc = memory.acc.fill(0);
      this.chanAcc = memory.channelSums.fill(0);
      return;
    }
    const words = (n: number): Uint32Array => (s.sharedAccumulators === true ? new Uint32Array(new SharedArrayBuffer(4 * n)) : new Uint32Array(n));
    this.acc = words(accWords);
    this.chanAcc = words(chanWords);
  }

  async add(batch: FrameBatch): Promise<void> {
    this.addSync(batch);
  }

  addSync(batch: FrameBatch): void {
    const frames = checkBatch(batch, this.n);
    const { table, maxCount: K, vectors: v, valid, counting } = this.s;
    const ndiv = table.ndiv;
    const [n1, n2, n3] = ndiv;
    const acc = this.acc;
    const stride = this.stride;
    const nsub = this.nsub;
    const n = this.n;
    const lo = counting.trustedLo;
    const hi = counting.trustedHi;
    const markers = counting.markers;
    const integ = counting.integrating;
    const invGain = integ !== undefined ? f(integ.invGain) : 1;
    const pedestal = integ !== undefined ? f(integ.pedestal) : 0;
    const rows = batch.rows;
    const C = channelCount(this.s);
    const chan = this.s.channels?.values ?? new Uint32Array(0);
    const chanAcc = this.chanAcc;
    let maskedObs = 0;
    let maskedSum = 0;
    let lost = 0;
    for (let fr = 0; fr < frames; fr++) {
      const rb = 12 * fr;
      const [m00, m01, m02] = [rows[rb] as number, rows[rb + 1] as number, rows[rb + 2] as number];
      const [m10, m11, m12] = [rows[rb + 4] as number, rows[rb + 5] as number, rows[rb + 6] as number];
      const [m20, m21, m22] = [rows[rb + 8] as number, rows[rb + 9] as number, rows[rb + 10] as number];
      const frameIndex = batch.index[fr] as number;
      const po = fr * n;
      // neighbouring pixels mostly share a cell: remember the last lookup
      let lastH = NaN;
      let lastK = NaN;
      let lastL = NaN;
      let lastSlot = -1;
      for (let i = 0; i < n; i++) {
        const raw = batch.pixels[po + i] as number;
        const ok =
          (((valid[i >>> 5] as number) >>> (i & 31)) & 1) === 1 &&
          raw >= lo &&
          raw <= hi &&
          !(markers && (raw === -1 || raw === -2)) &&
          (integ !== undefined || raw >= 0);
        if (!ok) {
          maskedObs++;
          maskedSum += raw;
          continue;
        }
        let count: number;
        if (integ !== undefined) {
          const x = roundHalfEven(f(f(f(raw) - pedestal) * invGain));
          count = x > 0 ? x : 0;
        } else {
          count = raw;
        }
        // h = (M·d) in f32, as hklComponentF32 (src/grid/subvoxel.ts)
        const d0 = v[3 * i] as number;
        const d1 = v[3 * i + 1] as number;
        const d2 = v[3 * i + 2] as number;
        const h = f(f(f(m00 * d0) + f(m01 * d1)) + f(m02 * d2));
        const k = f(f(f(m10 * d0) + f(m11 * d1)) + f(m12 * d2));
        const l = f(f(f(m20 * d0) + f(m21 * d1)) + f(m22 * d2));
        // cellOf and subOf (src/grid/subvoxel.ts), written out in this hot loop
        const H = Math.ceil(f(h - 0.5)) + 0;
        const Kc = Math.ceil(f(k - 0.5)) + 0;
        const L = Math.ceil(f(l - 0.5)) + 0;
        let slot = lastSlot;
        if (H !== lastH || Kc !== lastK || L !== lastL) {
          slot = cellSlot(table, H, Kc, L);
          lastH = H;
          lastK = Kc;
          lastL = L;
          lastSlot = slot;
        }
        if (slot < 0) {
          lost++;
          continue;
        }
        let ix = Math.ceil(f(n1 * f(f(h - H) + 0.5)));
        ix = ix < 1 ? 1 : ix > n1 ? n1 : ix;
        let iy = Math.ceil(f(n2 * f(f(k - Kc) + 0.5)));
        iy = iy < 1 ? 1 : iy > n2 ? n2 : iy;
        let iz = Math.ceil(f(n3 * f(f(l - L) + 0.5)));
        iz = iz < 1 ? 1 : iz > n3 ? n3 : iz;
        const sub = ((ix - 1) * n2 + (iy - 1)) * n3 + (iz - 1);
        const base = (slot * nsub + sub) * stride;
        const bin = base + (count <= K ? count : K + 1);
        acc[bin] = (acc[bin] as number) + 1;
        // u64 sums as (lo, hi): a u32 store keeps lo mod 2^32, the carry goes to hi (every addend < 2^32)
        if (count !== 0) {
          const lo = (acc[base + K + 2] as number) + count;
          acc[base + K + 2] = lo;
          if (lo > 0xffffffff) acc[base + K + 3] = (acc[base + K + 3] as number) + 1;
        }
        if (frameIndex !== 0) {
          const lo = (acc[base + K + 4] as number) + frameIndex;
          acc[base + K + 4] = lo;
          if (lo > 0xffffffff) acc[base + K + 5] = (acc[base + K + 5] as number) + 1;
        }
        if (C > 0) {
          const cb = (slot * nsub + sub) * 2 * C;
          const pc = i * C;
          for (let c = 0; c < C; c++) {
            const x = chan[pc + c] as number;
            if (x === 0) continue;
            const lo = (chanAcc[cb + 2 * c] as number) + x;
            chanAcc[cb + 2 * c] = lo;
            if (lo > 0xffffffff) chanAcc[cb + 2 * c + 1] = (chanAcc[cb + 2 * c + 1] as number) + 1;
          }
        }
      }
    }
    this.maskedObs += maskedObs;
    this.maskedSum += maskedSum;
    this.lost += lost;
  }

  async finish(): Promise<VoxelAccumulators> {
    return this.result();
  }

  result(): VoxelAccumulators {
    return {
      table: this.s.table,
      maxCount: this.s.maxCount,
      stride: this.stride,
      acc: this.acc,
      channels: channelCount(this.s),
      channelSums: this.chanAcc,
      maskedObservations: this.maskedObs,
      maskedSum: this.maskedSum,
      lost: this.lost,
    };
  }

  dispose(): void {
    // nothing held
  }
}

const WG = 256;

export const voxelAccumulateProgram = defineProgram({
  name: 'voxel-accumulate',
  defines: { WG: 'number', CHANNELS: 'number', PACKED16: 'boolean' },
  bindings: {
    params: 'uniform',
    vectors: 'read',
    valid: 'read',
    frames: 'read',
    pixels: 'read',
    cell_table: 'read',
    acc: 'read_write',
    tally: 'read_write',
    chan: 'read',
  },
  uniforms: {
    n_pixels: 'u32',
    n_frames: 'u32',
    row_threads: 'u32',
    zero: 'u32',
    lo: 'vec3i',
    max_count: 'u32',
    dim: 'vec3u',
    stride: 'u32',
    ndiv: 'vec3i',
    nsub: 'u32',
    trusted_lo: 'i32',
    trusted_hi: 'i32',
    markers: 'u32',
    integrating: 'u32',
    inv_gain: 'f32',
    pedestal: 'f32',
    chan_base: 'u32',
    pixel_base: 'i32',
  },
});

/**
 * A batch's pixel values as they go to the device: their low 16 bits when the
 * values span at most 65535 (half the bytes of the copy; −1/−2 markers and an
 * integrating detector's negative values included), else the i32 values as
 * they are. With `base` the batch's minimum, v = ((low16 − base) mod 2^16) +
 * base for every value of the batch: the kernel decodes it so, and both forms
 * give the same raw values.
 */
export interface PackedPixels {
  packed16: boolean;
  /** the batch's minimum (0 for the wide form) */
  base: number;
  /** what is uploaded: u16 values (length rounded up to even) or the i32 values */
  data: Uint16Array | Int32Array;
}

/** A value of a packed batch, as the kernel decodes it. */
export function unpackPixel(p: PackedPixels, i: number): number {
  const v = p.data[i] as number;
  return p.packed16 ? ((v - p.base) & 0xffff) + p.base : v;
}

export function packPixels(pixels: Int32Array): PackedPixels {
  const n = pixels.length;
  let lo = 0;
  let hi = 0;
  if (n > 0) {
    lo = pixels[0] as number;
    hi = lo;
    for (let i = 1; i < n; i++) {
      const v = pixels[i] as number;
      if (v < lo) lo = v;
      else if (v > hi) hi = v;
    }
  }
  if (hi - lo > 0xffff) return { packed16: false, base: 0, data: pixels };
  const out = new Uint16Array(n + (n & 1));
  out.set(pixels); // the low 16 bits of each value (a native conversion)
  return { packed16: true, base: lo, data: out };
}

/** Frame records: 3 rows of M as f32 bits, then (frame index, 0, 0, 0). */
function frameRecords(b: FrameBatch, frames: number): Uint32Array {
  const out = new Uint32Array(16 * frames);
  const asF = new Float32Array(out.buffer);
  for (let f = 0; f < frames; f++) {
    asF.set(b.rows.subarray(12 * f, 12 * f + 12), 16 * f);
    out[16 * f + 12] = b.index[f] as number;
  }
  return out;
}

/** Frames per batch that fit one storage binding of pixel values (and at most `cap`). */
export function framesPerBatch(ctx: GpuContext | null, nPixels: number, cap = 16): number {
  if (ctx === null) return Math.max(1, cap);
  const maxBinding = Math.min(ctx.limits.maxStorageBufferBindingSize, ctx.limits.maxBufferSize);
  const byBinding = Math.floor(maxBinding / Math.max(4, 4 * nPixels));
  const byBudget = Math.floor(ctx.memoryBudgetBytes / 8 / Math.max(4, 4 * nPixels));
  return Math.max(1, Math.min(cap, byBinding, byBudget, ctx.limits.maxComputeWorkgroupsPerDimension));
}

class GpuSession implements AccumulateSession {
  readonly backend = 'gpu' as const;
  private readonly n: number;
  /** count-record words; the channel records follow them */
  private readonly countWords: number;
  private readonly words: number;
  private readonly vec: GPUBuffer;
  private readonly chan: GPUBuffer;
  private readonly valid: GPUBuffer;
  private readonly table: GPUBuffer;
  private readonly acc: DeviceArray<'u32'>;
  private readonly tally: GPUBuffer;
  private readonly gx: number;
  private readonly gy: number;
  /** batches submitted and not known done, with the frame buffers they read (double buffering) */
  private inFlight: Array<{ done: Promise<void>; buffers: GPUBuffer[] }> = [];
  private disposed = false;
  private keep = false;

  constructor(
    private readonly ctx: GpuContext,
    private readonly s: AccumulateSetup,
  ) {
    this.n = checkSetup(s);
    const C = channelCount(s);
    this.countWords = accumulatorWords(s.table, s.maxCount);
    this.words = totalAccumulatorWords(s.table, s.maxCount, C);
    const maxBinding = Math.min(ctx.limits.maxStorageBufferBindingSize, ctx.limits.maxBufferSize);
    // K + 6 + 2C words per subvoxel in one binding (and word indices stay below 2^32)
    if (4 * this.words > maxBinding || this.words > 0xffffffff) {
      throw new InvalidValueError(
        `the wedge's ${s.table.cells} cells × ${subvoxelsPerCell(s.table.ndiv)} subvoxels need ${(4 * this.words / 2 ** 20).toFixed(0)} MiB of accumulators ` +
          `(${wordsPerSubvoxel(s.maxCount, C)} words each: ${recordStride(s.maxCount)} + ${channelStride(C)} for ${C} channels), ` +
          `over one storage binding (${(maxBinding / 2 ** 20).toFixed(0)} MiB); use a smaller wedge or ndiv`,
        { field: 'wedge' },
      );
    }
    if (4 * C * this.n > maxBinding) {
      throw new InvalidValueError(`voxel-accumulate: ${C} channels of ${this.n} pixels exceed one storage binding (${(maxBinding / 2 ** 20).toFixed(0)} MiB)`, { field: 'channels' });
    }
    [this.gx, this.gy] = ctx.grid(Math.max(1, this.n), WG);
    // per-pixel inputs and the table: the resident copies when the caller pinned them
    this.vec = ctx.input('voxel-accumulate vectors', s.vectors);
    this.chan = C > 0 && this.n > 0 ? ctx.input('voxel-accumulate channels', (s.channels as PixelChannels).values) : ctx.upload('voxel-accumulate no channels', new Uint32Array(1));
    this.valid = ctx.input('voxel-accumulate valid bits', s.valid);
    this.table = s.table.words.length > 0 ? ctx.input('voxel-accumulate cell table', s.table.words) : ctx.upload('voxel-accumulate empty cell table', new Uint32Array(2));
    this.acc = DeviceArray.zeros(ctx, 'voxel-accumulate accumulators', 'u32', this.words);
    this.tally = ctx.buffer('voxel-accumulate tally', 32);
    ctx.clear(this.tally, 32);
  }

  async add(batch: FrameBatch): Promise<void> {
    invariant(!this.disposed, 'voxel-accumulate session used after finish');
    const frames = checkBatch(batch, this.n);
    // (an empty table still runs: its masked pixel·frames go to the tally)
    if (frames === 0 || this.n === 0) return;
    const ctx = this.ctx;
    if (frames > ctx.limits.maxComputeWorkgroupsPerDimension) throw new InvalidValueError(`voxel-accumulate: ${frames} frames in one batch exceed the dispatch limit`, { field: 'batch' });
    // at most two batches in flight, each with its own frame buffers (double
    // buffering): the host packs and uploads the next batch into the other
    // buffer while the GPU works on this one
    while (this.inFlight.length >= 2) await this.retireOldest();
    const packed = packPixels(batch.pixels);
    const px = ctx.upload(packed.packed16 ? 'voxel-accumulate pixels (u16)' : 'voxel-accumulate pixels (i32)', packed.data);
    const fr = ctx.upload('voxel-accumulate frames', frameRecords(batch, frames));
    const { table: t, counting: c } = this.s;
    let submitted = false;
    try {
      await ctx.run(voxelAccumulateProgram, {
        defines: { WG, CHANNELS: channelCount(this.s), PACKED16: packed.packed16 },
        uniforms: {
          n_pixels: this.n,
          n_frames: frames,
          row_threads: this.gx * WG,
          zero: 0,
          lo: t.box.lo,
          max_count: this.s.maxCount,
          dim: t.box.dim,
          stride: recordStride(this.s.maxCount),
          ndiv: t.ndiv,
          nsub: subvoxelsPerCell(t.ndiv),
          trusted_lo: Math.max(-2147483648, c.trustedLo),
          trusted_hi: Math.min(2147483647, c.trustedHi),
          markers: c.markers ? 1 : 0,
          integrating: c.integrating !== undefined ? 1 : 0,
          inv_gain: c.integrating?.invGain ?? 1,
          pedestal: c.integrating?.pedestal ?? 0,
          chan_base: this.countWords, // the channel records follow the count records
          pixel_base: packed.base,
        },
        bindings: { vectors: this.vec, valid: this.valid, frames: fr, pixels: px, cell_table: this.table, acc: this.acc, tally: this.tally, chan: this.chan },
        workgroups: [this.gx, this.gy, frames],
      });
      submitted = true;
    } finally {
      // kept until the batch is done, so the next batch uploads into other buffers; released at once if nothing ran
      if (!submitted) ctx.release(px, fr);
    }
    this.inFlight.push({ done: ctx.device.queue.onSubmittedWorkDone(), buffers: [px, fr] });
  }

  /** Waits for the oldest batch in flight and returns its frame buffers to the pool. */
  private async retireOldest(): Promise<void> {
    const b = this.inFlight.shift();
    if (b === undefined) return;
    try {
      await b.done;
    } finally {
      this.ctx.release(...b.buffers);
    }
  }

  async finish(): Promise<VoxelAccumulators> {
    try {
      while (this.inFlight.length > 0) await this.retireOldest();
      // the wedge's accumulators and tally: one copy submit and one map
      const [accBytes, tallyBytes] = await this.ctx.readMany([
        { buffer: this.acc.buffer, bytes: 4 * this.words },
        { buffer: this.tally, bytes: 32 },
      ]);
      const all = new Uint32Array(accBytes as ArrayBuffer);
      const t = new Uint32Array(tallyBytes as ArrayBuffer);
      const out: VoxelAccumulators = {
        table: this.s.table,
        maxCount: this.s.maxCount,
        stride: recordStride(this.s.maxCount),
        acc: all.subarray(0, this.countWords),
        channels: channelCount(this.s),
        channelSums: all.subarray(this.countWords),
        maskedObservations: readU64(t, 0),
        maskedSum: i64FromWords(t[2] as number, t[3] as number),
        lost: t[4] as number,
      };
      if (this.s.keepOnDevice === true) {
        out.device = this.acc;
        this.keep = true;
      }
      return out;
    } finally {
      this.dispose();
    }
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.ctx.release(this.vec, this.chan, this.valid, this.table, this.tally, ...this.inFlight.flatMap((b) => b.buffers));
    this.inFlight = [];
    if (!this.keep) this.acc.destroy();
  }
}

/** The session form: `engine.open(voxelAccumulateStream, setup)` streams batches with the engine's fall-back. */
export const voxelAccumulateStream: StreamingKernel<AccumulateSetup, FrameBatch, VoxelAccumulators> = {
  name: 'voxel-accumulate',
  openCpu: (setup) => new CpuSession(setup),
  openGpu: (ctx, setup) => new GpuSession(ctx, setup),
};

/**
 * Memory for a CPU session's accumulators, of exactly the table's sizes
 * (`accumulatorWords`, cells · nsub · 2C). The session zeroes it first.
 */
export interface AccumulatorMemory {
  acc: Uint32Array;
  channelSums: Uint32Array;
}

/**
 * Accumulator memory reused from wedge to wedge (`AccumulateSetup.memory`):
 * one buffer, grown (with a quarter of headroom) only when a wedge's table
 * needs more. A new accumulator array per wedge would be freed only at the
 * next collection, and glibc serves the sizes below its (raised) mmap
 * threshold from heaps that do not shrink: the process's peak then creeps up
 * with the number of wedges. The memory of one wedge's session is overwritten
 * by the next session's: its results are valid until then.
 */
export class AccumulatorArena {
  private buffer: ArrayBuffer | SharedArrayBuffer | null = null;

  /** `shared`: a SharedArrayBuffer (the worker threads'), else an ArrayBuffer. */
  constructor(private readonly shared: boolean) {}

  /** Views of the buffer sized for `setup`'s table and channels. */
  memoryFor(setup: Pick<AccumulateSetup, 'table' | 'maxCount' | 'channels'>): AccumulatorMemory {
    const accWords = accumulatorWords(setup.table, setup.maxCount);
    const chanWords = setup.table.cells * subvoxelsPerCell(setup.table.ndiv) * channelStride(setup.channels?.count ?? 0);
    const bytes = 4 * (accWords + chanWords);
    if (this.buffer === null || this.buffer.byteLength < bytes) {
      const size = 4 * Math.ceil((1.25 * bytes) / 4);
      this.buffer = this.shared ? new SharedArrayBuffer(size) : new ArrayBuffer(size);
    }
    return { acc: new Uint32Array(this.buffer, 0, accWords), channelSums: new Uint32Array(this.buffer, 4 * accWords, chanWords) };
  }
}

/** A streaming accumulator on the GPU (ctx given) or the CPU (ctx null), without fall-back (`Engine.open` adds it). */
export function openAccumulator(ctx: GpuContext | null, setup: AccumulateSetup): AccumulateSession {
  return ctx === null ? voxelAccumulateStream.openCpu(setup) : voxelAccumulateStream.openGpu(ctx, setup);
}

/** The CPU twin (one-shot): every batch in order. */
export function voxelAccumulateCpu(p: VoxelAccumulateParams): VoxelAccumulators {
  const s = new CpuSession(p);
  for (const b of p.batches) s.addSync(b);
  return s.result();
}

/** The GPU path (one-shot). */
export async function voxelAccumulateGpu(ctx: GpuContext, p: VoxelAccumulateParams): Promise<VoxelAccumulators> {
  const s = new GpuSession(ctx, { ...p, keepOnDevice: false });
  try {
    for (const b of p.batches) await s.add(b);
    return await s.finish();
  } finally {
    s.dispose();
  }
}

export const voxelAccumulateKernel: Kernel<VoxelAccumulateParams, VoxelAccumulators> = {
  name: 'voxel-accumulate',
  cpu: voxelAccumulateCpu,
  gpu: voxelAccumulateGpu,
};
