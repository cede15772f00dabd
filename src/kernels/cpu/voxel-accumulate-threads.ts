/**
 * voxel-accumulate on every CPU core: a pool of worker threads
 * (src/host/node-threads.ts), each binning its share of a wedge's frames into
 * private accumulators with the CPU twin (voxel-accumulate.ts, same record
 * layout); `finish` merges them exactly (u32 histogram words added mod 2^32
 * as the twin's own increments wrap, u64 sums added with carry). Integer sums
 * do not depend on which thread binned which frame, so the result is
 * bit-identical to the single-thread twin at any thread count and batch size
 * (test/kernels/voxel-accumulate-threads.test.ts).
 *
 * Inputs: the per-pixel arrays (vectors, valid bits, channels) must sit in
 * SharedArrayBuffers (`shareAccumulateInputs`): every worker reads the same
 * memory, nothing is copied per worker or per wedge. Frames go as
 * `FrameTask`s (the worker reads and decodes the file) or, for sources that
 * only decode in this thread, as pixels handed over (transferred).
 *
 * Memory: threads × the wedge's accumulators, each worker's reused from
 * wedge to wedge (the merge adds into the first worker's, so `finish`'s
 * accumulators stay valid until the next `open`), plus one frame in flight
 * per worker, decoded into the worker's reused buffer;
 * src/pipeline/batch-budget.ts sizes them.
 */
import { invariant } from '../../errors.ts';
import { WorkerPool, workerUrl } from '../../host/node-threads.ts';
import type { FrameTask } from '../../io/sources/frame-task.ts';
import { filterStatsWork, type FilterStats, type FilterStatsParams, type FilterStatsWork } from '../filter-stats.ts';
import { channelStride, recordStride, type AccumulateSetup, type VoxelAccumulators } from '../voxel-accumulate.ts';

/** Messages to a voxel-accumulate worker. */
export type ThreadRequest =
  | { type: 'open'; setup: AccumulateSetup }
  | { type: 'frame'; row: Float32Array; offset: number; task?: FrameTask; pixels?: Int32Array }
  | { type: 'finish' }
  | { type: 'cells'; vectors: Float32Array; valid: Uint32Array; rows: Float32Array }
  | { type: 'filter'; phase: 1 | 2; params: FilterStatsParams; work: FilterStatsWork; from: number; to: number };

/** Answers of a voxel-accumulate worker. */
export type ThreadReply =
  | { type: 'opened' }
  | { type: 'added'; frameSum: number; decodeSeconds: number; binSeconds: number }
  | { type: 'filtered' }
  | { type: 'cells'; min: [number, number, number]; max: [number, number, number]; cells: Int32Array }
  | { type: 'finished'; acc: Uint32Array; channelSums: Uint32Array; maskedObservations: number; maskedSum: number; lost: number };

type Finished = Extract<ThreadReply, { type: 'finished' }>;
/** The distinct cells of a wedge (3 ints each) and their bounds, as cellSetCpu gives them. */
export type CellSet = Omit<Extract<ThreadReply, { type: 'cells' }>, 'type'>;
/** A frame binned: Σ of its raw values, and the worker's seconds reading + decoding it and binning it. */
export type FrameDone = Omit<Extract<ThreadReply, { type: 'added' }>, 'type'>;

/** A frame for the workers: its M rows (12 f32), its offset in the scan, and a decode task or its pixels. */
export type ThreadFrame = { row: Float32Array; offset: number } & ({ task: FrameTask } | { pixels: Int32Array });

/** A typed array whose memory is shared between threads (copied once if it is not already). */
export function shared<T extends Float32Array | Uint32Array>(a: T): T {
  if (a.buffer instanceof SharedArrayBuffer) return a;
  const out = new (a.constructor as new (b: SharedArrayBuffer) => T)(new SharedArrayBuffer(a.byteLength));
  out.set(a);
  return out;
}

/** u64 (lo, hi) at into[i] += from[i] with carry. */
function add64(into: Uint32Array, from: Uint32Array, i: number): void {
  const lo = (into[i] as number) + (from[i] as number);
  const carry = lo >= 4294967296 ? 1 : 0;
  into[i] = lo;
  into[i + 1] = ((into[i + 1] as number) + (from[i + 1] as number) + carry) >>> 0;
}

/**
 * Adds accumulators `from` into `into` exactly (same table, maxCount and
 * channels): histogram and overflow words mod 2^32, the u64 sums with carry.
 */
export function mergeAccumulatorWords(into: { acc: Uint32Array; channelSums: Uint32Array }, from: { acc: Uint32Array; channelSums: Uint32Array }, maxCount: number): void {
  const a = into.acc;
  const b = from.acc;
  invariant(a.length === b.length && into.channelSums.length === from.channelSums.length, 'merged accumulators have the same layout');
  const stride = recordStride(maxCount);
  const K = maxCount;
  for (let base = 0; base < a.length; base += stride) {
    for (let c = 0; c <= K + 1; c++) {
      const y = b[base + c] as number;
      if (y !== 0) a[base + c] = ((a[base + c] as number) + y) >>> 0;
    }
    if ((b[base + K + 2] as number) !== 0 || (b[base + K + 3] as number) !== 0) add64(a, b, base + K + 2);
    if ((b[base + K + 4] as number) !== 0 || (b[base + K + 5] as number) !== 0) add64(a, b, base + K + 4);
  }
  const ca = into.channelSums;
  const cb = from.channelSums;
  for (let i = 0; i < ca.length; i += 2) if ((cb[i] as number) !== 0 || (cb[i + 1] as number) !== 0) add64(ca, cb, i);
}

/** Young-generation cap of each voxel-accumulate worker's heap (MiB). */
const YOUNG_GENERATION_MB = 4;

/** A pool of voxel-accumulate workers, kept across wedges (one session per wedge: open, frames, finish). */
export class AccumulatorThreads {
  private readonly pool: WorkerPool<ThreadRequest, ThreadReply>;
  private setup: AccumulateSetup | null = null;

  constructor(threads: number) {
    // the workers allocate little JavaScript (the frames and accumulators are reused typed arrays): a 4 MiB young
    // generation keeps their heaps from growing with the frame count (1024² × 200 frames, 2 threads: 1.07× the peak
    // of 20 frames instead of 1.14×)
    this.pool = new WorkerPool<ThreadRequest, ThreadReply>(workerUrl(import.meta.url, 'voxel-accumulate-worker'), { size: threads, name: 'voxel-accumulate', resourceLimits: { maxYoungGenerationSizeMb: YOUNG_GENERATION_MB } });
  }

  get threads(): number {
    return this.pool.size;
  }

  /** Starts a wedge: every worker opens a private session on `setup` (its per-pixel arrays shared, see the module comment). */
  async open(setup: AccumulateSetup): Promise<void> {
    invariant(setup.vectors.buffer instanceof SharedArrayBuffer && setup.valid.buffer instanceof SharedArrayBuffer, 'threaded voxel-accumulate: the per-pixel arrays are shared');
    invariant(setup.channels === undefined || setup.channels.values.buffer instanceof SharedArrayBuffer, 'threaded voxel-accumulate: the channels are shared');
    this.setup = { ...setup, keepOnDevice: false, sharedAccumulators: true };
    await this.pool.broadcast({ type: 'open', setup: this.setup });
  }

  /** Bins one frame in the least busy worker. */
  async add(frame: ThreadFrame): Promise<FrameDone> {
    invariant(this.setup !== null, 'threaded voxel-accumulate: add before open');
    const req: ThreadRequest = 'task' in frame ? { type: 'frame', row: frame.row, offset: frame.offset, task: frame.task } : { type: 'frame', row: frame.row, offset: frame.offset, pixels: frame.pixels };
    const r = await this.pool.run(req, 'pixels' in frame ? [frame.pixels.buffer as ArrayBuffer] : []);
    invariant(r.type === 'added', 'voxel-accumulate worker answered a frame');
    return { frameSum: r.frameSum, decodeSeconds: r.decodeSeconds, binSeconds: r.binSeconds };
  }

  /**
   * Ends the wedge: the workers' accumulators merged into one (the first
   * worker's, added into in worker order). They live in that worker's reused
   * memory: valid until the next `open` (copy them to keep them longer).
   */
  async finish(): Promise<VoxelAccumulators> {
    const s = this.setup;
    invariant(s !== null, 'threaded voxel-accumulate: finish before open');
    this.setup = null;
    const parts = (await this.pool.broadcast({ type: 'finish' })) as Finished[];
    const first = parts[0];
    invariant(first !== undefined && parts.every((p) => p.type === 'finished'), 'voxel-accumulate workers finished');
    let maskedObservations = 0;
    let maskedSum = 0;
    let lost = 0;
    for (const [k, p] of parts.entries()) {
      if (k > 0) mergeAccumulatorWords(first, p, s.maxCount);
      maskedObservations += p.maskedObservations;
      maskedSum += p.maskedSum;
      lost += p.lost;
    }
    const channels = s.channels?.count ?? 0;
    invariant(first.channelSums.length === (first.acc.length / recordStride(s.maxCount)) * channelStride(channels), 'channel records match the count records');
    return { table: s.table, maxCount: s.maxCount, stride: recordStride(s.maxCount), acc: first.acc, channels, channelSums: first.channelSums, maskedObservations, maskedSum, lost };
  }

  /**
   * The distinct cells a wedge's valid pixels reach (cellSetCpu of
   * cell-occupancy.ts), its frames split between the workers and the sets
   * united here: the same box and cells as one thread, so the same table.
   */
  async cellSet(vectors: Float32Array, valid: Uint32Array, rows: Float32Array): Promise<CellSet> {
    invariant(vectors.buffer instanceof SharedArrayBuffer && valid.buffer instanceof SharedArrayBuffer, 'threaded cell set: the per-pixel arrays are shared');
    const frames = rows.length / 12;
    const parts = Math.max(1, Math.min(this.pool.size, frames));
    const jobs: Promise<ThreadReply>[] = [];
    for (let k = 0; k < parts; k++) {
      const a = Math.floor((k * frames) / parts);
      const b = Math.floor(((k + 1) * frames) / parts);
      jobs.push(this.pool.run({ type: 'cells', vectors, valid, rows: rows.slice(12 * a, 12 * b) }));
    }
    const min: [number, number, number] = [2147483647, 2147483647, 2147483647];
    const max: [number, number, number] = [-2147483648, -2147483648, -2147483648];
    const seen = new Set<number>();
    const out: number[] = [];
    for (const r of await Promise.all(jobs)) {
      invariant(r.type === 'cells', 'voxel-accumulate worker answered a cell set');
      for (let a = 0; a < 3; a++) {
        min[a] = Math.min(min[a] as number, r.min[a] as number);
        max[a] = Math.max(max[a] as number, r.max[a] as number);
      }
      const c = r.cells;
      for (let k = 0; k < c.length; k += 3) {
        const key = (((c[k] as number) + 65536) * 131072 + ((c[k + 1] as number) + 65536)) * 131072 + ((c[k + 2] as number) + 65536);
        if (seen.has(key)) continue;
        seen.add(key);
        out.push(c[k] as number, c[k + 1] as number, c[k + 2] as number);
      }
    }
    return { min, max, cells: Int32Array.from(out) };
  }

  /**
   * filter-stats' CPU twin with its voxel range split between the workers
   * (phase 1 everywhere, then phase 2): inputs and outputs in shared memory,
   * every output element computed by the same code from the same inputs, so
   * the same bits as one thread.
   */
  async filterStats(acc: VoxelAccumulators, window: number): Promise<FilterStats> {
    const params: FilterStatsParams = { acc: { ...acc, acc: shared(acc.acc), channelSums: new Uint32Array(0) }, window };
    const work = filterStatsWork(params, (ctor, n) => new (ctor as unknown as new (b: SharedArrayBuffer) => InstanceType<typeof ctor>)(new SharedArrayBuffer(n * (ctor as unknown as { BYTES_PER_ELEMENT: number }).BYTES_PER_ELEMENT)));
    // more chunks than threads: the taking-part voxels are not spread evenly
    const chunks = Math.max(1, Math.min(4 * this.pool.size, Math.ceil(work.voxels / 4096)));
    for (const phase of [1, 2] as const) {
      const jobs: Promise<ThreadReply>[] = [];
      for (let k = 0; k < chunks; k++) {
        const from = Math.floor((k * work.voxels) / chunks);
        const to = Math.floor(((k + 1) * work.voxels) / chunks);
        jobs.push(this.pool.run({ type: 'filter', phase, params, work, from, to }));
      }
      await Promise.all(jobs);
    }
    return work.out;
  }

  /** Terminates the workers (safe twice). */
  destroy(): Promise<void> {
    return this.pool.destroy();
  }
}
