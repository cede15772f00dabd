/**
 * Bragg-peak removal and voxel integration of a rotation series (the
 * mdx-lib method): frames are binned, wedge by wedge, into subvoxels of the
 * (H, K, L) cells (src/grid/subvoxel.ts); each subvoxel gets a count
 * histogram and integration sums; the Poisson filter removes the subvoxels
 * whose counts do not look like their neighbourhood's Poisson background
 * (Bragg peaks), without a peak model or a hand-set mask.
 *
 * Per wedge (a few degrees of frames):
 * 1. geometry: per-pixel d = s1 − s0 (once), per-frame M = (S·R·F·A)⁻¹ at the
 *    frame's middle (z = offset + ½), in f32;
 * 2. cell table: cell-bounds, then cell-occupancy over the statically valid
 *    pixels (no pixel values; the CPU path does both in one pass), then the
 *    sorted cell table and its lookup;
 * 3. voxel-accumulate over the frames, streamed in batches (resident
 *    accumulators; the next batch is read and decoded while the kernel runs);
 *    an optional background run is binned the same way into a second set;
 * 4. filter-stats (λ, divergences, ΔD) and the greedy removal on the CPU;
 * 5. tables: included and excluded subvoxels with their integer sums.
 *
 * Memory per wedge: the geometry, one or two batches of frames (one frame,
 * not copied, on the CPU), and the accumulators of the cells the wedge
 * reaches (on the CPU in a reused `AccumulatorArena` when the caller passes
 * one); nothing grows with the number of wedges (each result is handed to the
 * caller and dropped).
 *
 * On the GPU, data stays on the device across the kernels of a job: the
 * per-pixel vectors, valid bits and channels are resident arrays of the
 * IntegrationSetup (uploaded once per series and engine, whatever the number
 * of wedges and kernels: `pinSetup`), the wedge's cell table is uploaded once
 * for voxel-accumulate and filter-stats, and the accumulators stay on the
 * device from voxel-accumulate to filter-stats; only the accumulators (for the
 * tables) and the statistics come back. A device lost on the way moves the
 * work to the CPU in the Engine (the accumulation replays the wedge's frames
 * read so far from `reread`, or from the batches the session kept).
 *
 * Frame indices in the sums are 0-based offsets in the scan; the mean
 * scan-frame coordinate of a subvoxel is Σ frame index / pixels + ½.
 *
 * Per-pixel channels (voxel-accumulate's generic u32 channels, integer sums
 * like the counts): every subvoxel also gets Σ x, Σ y (the pixel's column and
 * row in its panel) and Σ panel index over its valid pixel·frames, so its mean
 * pixel centre is (x_sum/pixels + ½, y_sum/pixels + ½); and, with
 * `pixelWeights`, Σ κ and Σ d³s, each weight quantized on the host to
 * q = round(w / quantum), quantum = max w / 2^20 over the statically valid
 * pixels, summed exactly as u64 and de-quantized (Σq · quantum) in the tables.
 */
import { InvalidValueError, invariant } from '../errors.ts';
import type { Experiment } from '../geometry/model.ts';
import { detectorPixelVectors } from '../geometry/pixel-vectors.ts';
import { frameMidZ } from '../geometry/scan.ts';
import { hklMatrixAt } from '../geometry/setting.ts';
import type { Engine } from '../host/engine.ts';
import type { DetectorImage } from '../io/image.ts';
import { boxFromBounds, buildCellTable, cellOfKey, emptyCellTable, type CellTable } from '../grid/cell-table.ts';
import { greedyPoissonFilter, type FilterMask, ExclusionReason } from '../grid/poisson-filter.ts';
import { checkNdiv, subvoxelCentre, subvoxelsPerCell, unflatSub, type Ndiv } from '../grid/subvoxel.ts';
import { cellBoundsKernel, packValidBits } from '../kernels/cell-bounds.ts';
import { bitmapFromCells, cellOccupancyKernel, cellSetCpu } from '../kernels/cell-occupancy.ts';
import { divergenceF32, filterStatsKernel, type FilterStats } from '../kernels/filter-stats.ts';
import { framesPerBatch, readU64, totalAccumulatorWords, voxelAccumulateStream, type AccumulatorArena, type FrameBatch, type PixelChannels, type VoxelAccumulators } from '../kernels/voxel-accumulate.ts';
import { log } from '../util/log.ts';
import { allocTyped } from '../util/typed-alloc.ts';
import { framesInBudget } from './batch-budget.ts';
import { buildStaticMask, resolveCounting, type CountingOptions, type ResolvedCounting, type StaticMaskOptions, type StaticMaskReport } from './voxel-masks.ts';

export const DEFAULT_NDIV: Ndiv = [3, 3, 3];
export const DEFAULT_MAX_COUNT = 20;
export const DEFAULT_WINDOW = 2;
export const DEFAULT_WEDGE_DEG = 3;

export interface IntegrationOptions {
  /** subvoxels per cell along h, k, l (default 3, 3, 3) */
  ndiv?: readonly number[];
  /** histogram bins 0…maxCount; a voxel with a larger count overflows (default 20) */
  maxCount?: number;
  /** filter neighbourhood radius in subvoxels (default 2) */
  window?: number;
  /** run the Poisson filter (default true) */
  filter?: boolean;
  /** frames per wedge (default: wedgeDeg / oscillation width) */
  wedgeFrames?: number;
  /** degrees per wedge (default 3) */
  wedgeDeg?: number;
  /** frames per kernel call (default: from the device limits, at most 16) */
  batchFrames?: number;
  mask?: StaticMaskOptions;
  counting?: CountingOptions;
  /**
   * a background run (same detector, no crystal) binned the same way: scan
   * frame offset o uses background frame floor(o · length / scanFrames), with
   * frame o's orientation, into the same subvoxels
   */
  background?: BackgroundSource;
  /** frames in the scan (default: the experiment's image range) — maps frames to background frames */
  scanFrames?: number;
  /**
   * per-pixel weights summed per subvoxel (tables: kappaSum, d3sSum): flat
   * over the pixels of every panel, panel-major then row-major (the order of
   * IntegrationSetup.vectors); finite and ≥ 0 on statically valid pixels
   * (other pixels' values are ignored)
   */
  pixelWeights?: PixelWeights;
  /**
   * allocate the per-pixel vectors and channels in shared memory
   * (SharedArrayBuffer), for the CPU engine's worker threads: they are then
   * never copied (src/util/typed-alloc.ts); never for a GPU engine
   */
  sharedArrays?: boolean;
}

/** Per-pixel weights: the multiplicative correction κ and the reciprocal volume d³s (per pixel per frame). */
export interface PixelWeights {
  kappa: Float64Array;
  d3s: Float64Array;
}

/** The quantum of each weight channel: the summed value is Σq · quantum. */
export interface WeightQuanta {
  kappa: number;
  d3s: number;
}

/** Bits of resolution of a quantized weight: q = round(w / quantum) ≤ 2^20, quantum = max w / 2^20. */
export const WEIGHT_BITS = 20;

/** Channel order of IntegrationSetup.channels. */
export const CHANNEL = { x: 0, y: 1, panel: 2, kappa: 3, d3s: 4 } as const;

/** Random access to the frames of a background run. */
export interface BackgroundSource {
  readonly length: number;
  read(index: number): Promise<DetectorImage>;
}

/** Everything a wedge needs that does not change along the series. */
export interface IntegrationSetup {
  exp: Experiment;
  ndiv: Ndiv;
  maxCount: number;
  window: number;
  filter: boolean;
  wedgeFrames: number;
  batchFrames: number | undefined;
  /** d per pixel, 3 f32 */
  vectors: Float32Array;
  nPixels: number;
  staticMask: StaticMaskReport;
  /** packed static mask bits */
  valid: Uint32Array;
  counting: ResolvedCounting;
  background: BackgroundSource | undefined;
  scanFrames: number;
  /** per-pixel channels: x, y, panel, then q(κ), q(d³s) when weights were given (CHANNEL) */
  channels: PixelChannels;
  /** the weights' quanta (absent without pixelWeights) */
  weights: WeightQuanta | undefined;
}

/**
 * A weight column quantized to u32: quantum = max over the usable pixels of w
 * / 2^WEIGHT_BITS, q = round(w / quantum) (0 on unusable pixels, and all 0 with
 * quantum 0 when every usable weight is 0). Exact integer sums of q on every
 * backend, in any order; the de-quantized sum Σq · quantum is within
 * ½ quantum per term of Σw.
 */
export function quantizeWeights(w: Float64Array, usable: Uint8Array, name: string): { q: Uint32Array; quantum: number } {
  const quantum = weightQuantum(w, usable, name);
  const q = new Uint32Array(w.length);
  if (quantum > 0) for (let i = 0; i < w.length; i++) if (usable[i] === 1) q[i] = Math.round((w[i] as number) / quantum);
  return { q, quantum };
}

/** The quantum of `quantizeWeights` (max over the usable pixels / 2^WEIGHT_BITS; 0 when all are 0), the weights checked on the way. */
function weightQuantum(w: Float64Array, usable: Uint8Array, name: string): number {
  if (w.length !== usable.length) throw new InvalidValueError(`pixel weights ${name}: ${w.length} values for ${usable.length} pixels`, { field: name });
  let max = 0;
  for (let i = 0; i < w.length; i++) {
    if (usable[i] !== 1) continue;
    const x = w[i] as number;
    if (!(Number.isFinite(x) && x >= 0)) throw new InvalidValueError(`pixel weights ${name}: pixel ${i} has ${x} (weights must be finite and ≥ 0 on usable pixels)`, { field: name });
    if (x > max) max = x;
  }
  return max === 0 ? 0 : max / 2 ** WEIGHT_BITS;
}

/**
 * The per-pixel channels: x, y within the panel, panel index, then the
 * weights quantized as `quantizeWeights` does, written straight into the
 * channel array (no per-weight copy).
 */
function pixelChannels(exp: Experiment, nPixels: number, usable: Uint8Array, weights: PixelWeights | undefined, shared: boolean): { channels: PixelChannels; quanta: WeightQuanta | undefined } {
  const quanta = weights !== undefined ? { kappa: weightQuantum(weights.kappa, usable, 'kappa'), d3s: weightQuantum(weights.d3s, usable, 'd3s') } : undefined;
  const C = weights !== undefined ? 5 : 3;
  const values = allocTyped(Uint32Array, C * nPixels, shared);
  let i = 0;
  exp.detector.panels.forEach((panel, p) => {
    const [w, h] = panel.imageSize;
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++, i++) {
        const o = C * i;
        values[o + CHANNEL.x] = x;
        values[o + CHANNEL.y] = y;
        values[o + CHANNEL.panel] = p;
        if (weights !== undefined && quanta !== undefined && usable[i] === 1) {
          if (quanta.kappa > 0) values[o + CHANNEL.kappa] = Math.round((weights.kappa[i] as number) / quanta.kappa);
          if (quanta.d3s > 0) values[o + CHANNEL.d3s] = Math.round((weights.d3s[i] as number) / quanta.d3s);
        }
      }
    }
  });
  invariant(i === nPixels, 'pixel channels: the panels do not add up to the pixel count');
  return { channels: { count: C, values }, quanta };
}

function positiveInt(v: number, field: string, max = 2 ** 31): number {
  if (!Number.isInteger(v) || v < 1 || v > max) throw new InvalidValueError(`${field} must be an integer in 1…${max}, got ${v}`, { field });
  return v;
}

/** Validates the options and computes the per-series geometry and masks. */
export function prepareIntegration(exp: Experiment, opts: IntegrationOptions = {}): IntegrationSetup {
  if (exp.crystal === undefined) throw new InvalidValueError('the experiment has no crystal model (not indexed)', { field: 'crystal' });
  const ndiv = checkNdiv(opts.ndiv ?? DEFAULT_NDIV);
  const maxCount = positiveInt(opts.maxCount ?? DEFAULT_MAX_COUNT, 'maxCount', 4096);
  const window = opts.window ?? DEFAULT_WINDOW;
  if (!Number.isInteger(window) || window < 0 || window > 4) throw new InvalidValueError(`the filter window must be an integer 0…4, got ${window}`, { field: 'window' });
  const filter = opts.filter ?? true;
  let wedgeFrames = opts.wedgeFrames;
  if (wedgeFrames === undefined) {
    const width = Math.abs(exp.scan?.oscillation[1] ?? 0);
    const deg = opts.wedgeDeg ?? DEFAULT_WEDGE_DEG;
    if (!(Number.isFinite(deg) && deg > 0)) throw new InvalidValueError(`the wedge width must be positive degrees, got ${deg}`, { field: 'wedgeDeg' });
    wedgeFrames = width > 0 ? Math.max(1, Math.round(deg / width)) : 1;
  }
  positiveInt(wedgeFrames, 'wedgeFrames', 65535);
  if (opts.batchFrames !== undefined) positiveInt(opts.batchFrames, 'batchFrames', 65535);
  const counting = resolveCounting(exp, opts.counting ?? {}, filter);
  const shared = opts.sharedArrays === true;
  const { vectors, panelOffsets } = detectorPixelVectors(exp.detector, exp.beam, shared);
  const nPixels = panelOffsets[panelOffsets.length - 1] as number;
  const staticMask = buildStaticMask(exp, opts.mask ?? {});
  const { channels, quanta } = pixelChannels(exp, nPixels, staticMask.valid, opts.pixelWeights, shared);
  return {
    exp,
    ndiv,
    maxCount,
    window,
    filter,
    wedgeFrames,
    batchFrames: opts.batchFrames,
    vectors,
    nPixels,
    staticMask,
    valid: packValidBits(staticMask.valid),
    counting,
    background: opts.background,
    scanFrames: positiveInt(opts.scanFrames ?? (exp.scan !== undefined ? exp.scan.imageRange[1] - exp.scan.imageRange[0] + 1 : 1), 'scanFrames'),
    channels,
    weights: quanta,
  };
}

/** The background frame used with scan frame offset `offset`. */
export function backgroundIndex(setup: IntegrationSetup, offset: number): number {
  const len = setup.background?.length ?? 0;
  return Math.min(len - 1, Math.max(0, Math.floor((offset * len) / setup.scanFrames)));
}

/** The background frames of a wedge, in offset order (a frame read once for consecutive offsets that share it). */
async function* backgroundFrames(setup: IntegrationSetup, wedge: WedgeRange): AsyncGenerator<WedgeFrame> {
  const bg = setup.background;
  if (bg === undefined) return;
  let lastIndex = -1;
  let last: DetectorImage | undefined;
  for (let k = 0; k < wedge.count; k++) {
    const offset = wedge.first + k;
    const index = backgroundIndex(setup, offset);
    if (index !== lastIndex || last === undefined) {
      last = await bg.read(index);
      lastIndex = index;
    }
    yield { offset, image: last };
  }
}

/** M per frame offset as 3 rows × 4 f32 (the kernels' layout). */
export function frameRows(exp: Experiment, offsets: readonly number[]): Float32Array {
  const rows = new Float32Array(12 * offsets.length);
  offsets.forEach((o, f) => {
    const M = hklMatrixAt(exp, frameMidZ(o));
    for (let r = 0; r < 3; r++) for (let c = 0; c < 3; c++) rows[12 * f + 4 * r + c] = M[3 * r + c] as number;
  });
  return rows;
}

export interface WedgeRange {
  /** wedge number in the series */
  index: number;
  /** first frame offset */
  first: number;
  count: number;
}

export interface WedgeFrame {
  /** 0-based offset of the frame in the scan */
  offset: number;
  image: DetectorImage;
}

export interface WedgeResult {
  wedge: WedgeRange;
  backend: 'gpu' | 'cpu';
  acc: VoxelAccumulators;
  /** absent when the filter is off */
  stats?: FilterStats;
  mask: FilterMask;
  /** the background run binned into the same subvoxels (histograms unused; no channels), when given */
  background?: VoxelAccumulators;
  /** the weight channels' quanta (IntegrationSetup.weights), when weights were given */
  weights?: WeightQuanta;
  /** Σ of every frame's raw values (photon counting: = Σ counts + masked Σ) */
  frameSum: number;
  seconds: { geometry: number; accumulate: number; filter: number };
}

function now(): number {
  return performance.now() / 1000;
}

/**
 * Puts the setup's per-pixel arrays on the engine's device once (resident
 * arrays owned by the setup; kernels handed these arrays bind them instead of
 * uploading). A no-op on the CPU.
 */
export function pinSetup(engine: Engine, setup: IntegrationSetup): void {
  if (engine.backend !== 'gpu') return;
  engine.resident(setup, 'vectors', setup.vectors, 'pixel vectors');
  engine.resident(setup, 'valid', setup.valid, 'pixel valid bits');
  if (setup.channels.count > 0 && setup.nPixels > 0) engine.resident(setup, 'channels', setup.channels.values, 'pixel channels');
}

/** The cell table of a wedge from the two geometry passes. */
export async function wedgeCellTable(engine: Engine, setup: IntegrationSetup, rows: Float32Array, cellSet?: WedgeRunOptions['cellSet']): Promise<CellTable> {
  const geom = { vectors: setup.vectors, valid: setup.valid, rows };
  if (engine.backend === 'cpu') {
    // one pass instead of the two kernels' twins: the same cells, so the same table
    const set = cellSet !== undefined ? await cellSet(setup.vectors, setup.valid, rows) : cellSetCpu(geom);
    const box = boxFromBounds(set.min, set.max);
    return box.dim[0] === 0 ? emptyCellTable(setup.ndiv) : buildCellTable(setup.ndiv, box, bitmapFromCells(box, set.cells));
  }
  pinSetup(engine, setup);
  const b = await engine.run(cellBoundsKernel, geom);
  const box = boxFromBounds(b.min, b.max);
  if (box.dim[0] === 0) return emptyCellTable(setup.ndiv);
  const occ = await engine.run(cellOccupancyKernel, { ...geom, box });
  invariant(occ.missed === 0, 'cell-occupancy found pixels outside the box from cell-bounds');
  return buildCellTable(setup.ndiv, box, occ.bitmap);
}

/** An all-included mask (filter off): overflow voxels still excluded. */
function noFilterMask(acc: VoxelAccumulators): FilterMask {
  const voxels = acc.table.cells * subvoxelsPerCell(acc.table.ndiv);
  const reason = new Uint8Array(voxels);
  const K = acc.maxCount;
  let occupied = 0;
  let overflow = 0;
  for (let v = 0; v < voxels; v++) {
    const b = v * acc.stride;
    let p = 0;
    for (let c = 0; c <= K + 1; c++) p += acc.acc[b + c] as number;
    if (p === 0) continue;
    occupied++;
    if ((acc.acc[b + K + 1] as number) > 0) {
      reason[v] = ExclusionReason.overflow;
      overflow++;
    }
  }
  return { reason, occupied, participants: occupied - overflow, outliers: 0, overflow, divergenceBefore: 0, divergenceAfter: 0, exhausted: false };
}

/** The frames of `groups` (offset lists) read again from `source`, one batch per group. */
async function* replayGroups(source: AsyncIterable<WedgeFrame>, groups: readonly (readonly number[])[], wedge: WedgeRange, rows: Float32Array, n: number): AsyncGenerator<FrameBatch> {
  const want = new Map<number, number>();
  groups.forEach((g, gi) => g.forEach((o) => want.set(o, gi)));
  const got = groups.map(() => new Map<number, WedgeFrame>());
  for await (const fr of source) {
    const gi = want.get(fr.offset);
    if (gi === undefined) continue;
    const have = got[gi] as Map<number, WedgeFrame>;
    have.set(fr.offset, fr);
    const group = groups[gi] as readonly number[];
    if (have.size === group.length) {
      yield frameBatch(group.map((o) => have.get(o) as WedgeFrame), wedge, rows, n);
      have.clear();
    }
  }
}

/** One batch of frames (their M rows, offsets and pixels; a single frame's pixels as they are, not copied). */
function frameBatch(frames: readonly WedgeFrame[], wedge: WedgeRange, rows: Float32Array, n: number): FrameBatch {
  const only = frames.length === 1 ? frames[0] : undefined;
  if (only !== undefined && only.image.pixels.length === n) {
    const k = only.offset - wedge.first;
    return { rows: rows.slice(12 * k, 12 * k + 12), index: Uint32Array.of(only.offset), pixels: only.image.pixels };
  }
  const batch: FrameBatch = {
    rows: new Float32Array(12 * frames.length),
    index: new Uint32Array(frames.length),
    pixels: new Int32Array(n * frames.length),
  };
  frames.forEach((p, i) => {
    const k = p.offset - wedge.first;
    batch.rows.set(rows.subarray(12 * k, 12 * k + 12), 12 * i);
    batch.index[i] = p.offset;
    batch.pixels.set(p.image.pixels, n * i);
  });
  return batch;
}

/** A wedge's sample frames binned: the accumulators, Σ of the frames' raw values, and the backend that ran. */
export interface SampleAccumulation {
  acc: VoxelAccumulators;
  frameSum: number;
  backend: 'gpu' | 'cpu';
}

/** How `integrateWedge` runs beyond its inputs (none changes the result). */
export interface WedgeRunOptions {
  /** bins the sample frames instead of the engine's session (the CPU threads: src/pipeline/voxel-integrate-threads.ts) */
  sample?: (table: CellTable, rows: Float32Array) => Promise<SampleAccumulation>;
  /** the distinct cells of the wedge on the CPU (cellSetCpu's result; the CPU threads split the frames) */
  cellSet?: (vectors: Float32Array, valid: Uint32Array, rows: Float32Array) => Promise<{ min: number[]; max: number[]; cells: Int32Array }>;
  /** filter-stats on the CPU (the CPU threads split the voxels); default: the engine's kernel */
  filterStats?: (acc: VoxelAccumulators, window: number) => Promise<FilterStats>;
  /** host memory budget: frames per batch from it (src/pipeline/batch-budget.ts); absent: the device limits, at most 16 */
  budgetBytes?: number;
  /** the CPU engine: the sample's accumulators in this memory, reused from wedge to wedge (the result's `acc` is then valid until the next wedge) */
  arena?: AccumulatorArena;
}

/**
 * Frames per batch of the in-thread accumulation: the GPU's limit (≤ 16) and
 * what the budget holds; 1 on the CPU, whose twin bins frame by frame, so a
 * larger batch only holds more frames (and their copy) at once.
 */
function batchFramesOf(engine: Engine, setup: IntegrationSetup, table: CellTable, budgetBytes: number | undefined): number {
  if (setup.batchFrames !== undefined) return setup.batchFrames;
  const device = engine.gpu === null ? 1 : framesPerBatch(engine.gpu, setup.nPixels, 16);
  if (budgetBytes === undefined) return device;
  const C = setup.channels.count;
  // a batch holds each frame twice (the images and their copy in the batch)
  const frames = framesInBudget({ budgetBytes, nPixels: setup.nPixels, channels: C, accumulatorBytes: 4 * totalAccumulatorWords(table, setup.maxCount, C), accumulatorSets: 1 });
  return Math.max(1, Math.min(device, Math.floor(frames / 2)));
}

/**
 * Streams a wedge's frames through a voxel-accumulate session of the engine.
 * `reread` (the wedge's frames again) lets the engine replay the batches
 * already given after a device loss; without it the session keeps them.
 */
async function accumulateWedge(
  engine: Engine,
  setup: IntegrationSetup,
  table: CellTable,
  wedge: WedgeRange,
  rows: Float32Array,
  frames: AsyncIterable<WedgeFrame>,
  reread: (() => AsyncIterable<WedgeFrame>) | undefined,
  withChannels = true,
  budgetBytes?: number,
  arena?: AccumulatorArena,
): Promise<SampleAccumulation> {
  const n = setup.nPixels;
  pinSetup(engine, setup);
  const groups: number[][] = [];
  const session = await engine.open(
    voxelAccumulateStream,
    {
      table,
      maxCount: setup.maxCount,
      vectors: setup.vectors,
      valid: setup.valid,
      counting: setup.counting.params,
      ...(withChannels ? { channels: setup.channels } : {}),
      // the sample's accumulators stay on the device for filter-stats
      keepOnDevice: withChannels && setup.filter,
      ...(arena !== undefined && engine.gpu === null ? { memory: arena.memoryFor({ table, maxCount: setup.maxCount, channels: withChannels ? setup.channels : undefined }) } : {}),
    },
    reread === undefined ? {} : { replay: (count) => replayGroups(reread(), groups.slice(0, count), wedge, rows, n) },
  );
  const perBatch = batchFramesOf(engine, setup, table, budgetBytes);
  const seen = new Uint8Array(wedge.count);
  let frameSum = 0;
  let pending: WedgeFrame[] = [];
  const flush = async (): Promise<void> => {
    if (pending.length === 0) return;
    const batch = frameBatch(pending, wedge, rows, n);
    groups.push(pending.map((p) => p.offset));
    pending = [];
    await session.add(batch);
  };
  try {
    for await (const fr of frames) {
      const k = fr.offset - wedge.first;
      if (!Number.isInteger(fr.offset) || k < 0 || k >= wedge.count) {
        throw new InvalidValueError(`frame offset ${fr.offset} is outside wedge ${wedge.index} (${wedge.first}…${wedge.first + wedge.count - 1})`, { file: fr.image.source.file, frame: fr.image.source.frame });
      }
      if (seen[k] === 1) throw new InvalidValueError(`frame offset ${fr.offset} given twice in wedge ${wedge.index}`, { file: fr.image.source.file, frame: fr.image.source.frame });
      seen[k] = 1;
      if (fr.image.pixels.length !== n) {
        throw new InvalidValueError(`frame has ${fr.image.width}×${fr.image.height} pixels but the detector model has ${n}`, { file: fr.image.source.file, frame: fr.image.source.frame });
      }
      const px = fr.image.pixels;
      let s = 0;
      for (let i = 0; i < px.length; i++) s += px[i] as number;
      frameSum += s;
      pending.push(fr);
      if (pending.length >= perBatch) await flush();
    }
    await flush();
    const missing = seen.indexOf(0);
    if (missing >= 0) throw new InvalidValueError(`wedge ${wedge.index} is missing frame offset ${wedge.first + missing}`, { field: 'frames' });
    const acc = await session.finish();
    invariant(acc.lost === 0, `voxel-accumulate lost ${acc.lost} valid pixel·frames outside the cell table`);
    return { acc, frameSum, backend: session.backend };
  } finally {
    session.dispose();
  }
}

/**
 * Integrates one wedge from its frames (any order; each offset of the wedge
 * exactly once). `reread`, when given, supplies the frames again: a GPU
 * device lost during the accumulation then restarts the wedge on the CPU.
 */
export async function integrateWedge(
  engine: Engine,
  setup: IntegrationSetup,
  wedge: WedgeRange,
  frames: AsyncIterable<WedgeFrame>,
  reread?: () => AsyncIterable<WedgeFrame>,
  opts: WedgeRunOptions = {},
): Promise<WedgeResult> {
  const t0 = now();
  const offsets = Array.from({ length: wedge.count }, (_v, i) => wedge.first + i);
  const rows = frameRows(setup.exp, offsets);
  const table = await wedgeCellTable(engine, setup, rows, opts.cellSet);
  const t1 = now();
  // the table's words and keys: one upload for voxel-accumulate and filter-stats
  if (table.words.length > 0) engine.resident(table, 'words', table.words, 'cell table');
  if (table.keys.length > 0) engine.resident(table, 'keys', table.keys, 'cell keys');
  let device: VoxelAccumulators['device'];
  try {
    const accumulated = opts.sample !== undefined ? await opts.sample(table, rows) : await accumulateWedge(engine, setup, table, wedge, rows, frames, reread, true, opts.budgetBytes, opts.arena);
    const { device: onDevice, ...acc } = accumulated.acc;
    device = onDevice;
    let background: VoxelAccumulators | undefined;
    if (setup.background !== undefined) {
      // binned with the same geometry, table and masks; on the backend left after the sample frames
      background = (await accumulateWedge(engine, setup, table, wedge, rows, backgroundFrames(setup, wedge), () => backgroundFrames(setup, wedge), false, opts.budgetBytes)).acc;
    }
    const t2 = now();
    let stats: FilterStats | undefined;
    let mask: FilterMask;
    if (setup.filter) {
      // the accumulators are still on the device (when the GPU ran them): filter-stats binds them there
      stats =
        opts.filterStats !== undefined && device === undefined
          ? await opts.filterStats(acc, setup.window)
          : await engine.run(filterStatsKernel, { acc: device !== undefined ? { ...acc, device } : acc, window: setup.window });
      mask = greedyPoissonFilter(acc, stats, setup.window);
      if (mask.exhausted) log('warn', `wedge ${wedge.index}: the filter removed every one of its ${mask.participants} subvoxels (no Poisson-like background to compare with)`);
    } else {
      mask = noFilterMask(acc);
    }
    return wedgeResult(wedge, accumulated.backend, acc, mask, stats, background, accumulated.frameSum, setup.weights, [t0, t1, t2, now()]);
  } finally {
    device?.destroy();
    engine.releaseResident(table);
  }
}

function wedgeResult(
  wedge: WedgeRange,
  backend: 'gpu' | 'cpu',
  acc: VoxelAccumulators,
  mask: FilterMask,
  stats: FilterStats | undefined,
  background: VoxelAccumulators | undefined,
  frameSum: number,
  weights: WeightQuanta | undefined,
  [t0, t1, t2, t3]: readonly number[],
): WedgeResult {
  const result: WedgeResult = {
    wedge,
    backend,
    acc,
    mask,
    frameSum,
    seconds: { geometry: (t1 as number) - (t0 as number), accumulate: (t2 as number) - (t1 as number), filter: (t3 as number) - (t2 as number) },
  };
  if (stats !== undefined) result.stats = stats;
  if (background !== undefined) result.background = background;
  if (weights !== undefined) result.weights = weights;
  return result;
}
/** A series of frames read in order (an ImageSeries fits). */
export interface FrameSource {
  readonly length: number;
  [Symbol.asyncIterator](): AsyncIterator<DetectorImage>;
  /** random access (lets a wedge be redone on the CPU after a lost device) */
  read?(index: number): Promise<DetectorImage>;
}

/** The wedges of a series of `frames` frames. */
export function wedgeRanges(frames: number, wedgeFrames: number): WedgeRange[] {
  const out: WedgeRange[] = [];
  for (let first = 0, index = 0; first < frames; first += wedgeFrames, index++) out.push({ index, first, count: Math.min(wedgeFrames, frames - first) });
  return out;
}

/**
 * Integrates a series wedge by wedge, yielding each wedge's result in order.
 * Frames are read once, in order; at most one wedge's accumulators live at a
 * time (plus what the caller keeps).
 */
export async function* integrateSeries(
  engine: Engine,
  setup: IntegrationSetup,
  source: FrameSource,
  opts: { onFrame?: (done: number) => void } = {},
): AsyncGenerator<WedgeResult> {
  const it = source[Symbol.asyncIterator]();
  let done = 0;
  try {
    for (const wedge of wedgeRanges(source.length, setup.wedgeFrames)) {
      let taken = 0;
      const next = async (): Promise<DetectorImage> => {
        const r = await it.next();
        if (r.done === true) throw new InvalidValueError(`the series ended after ${wedge.first + taken} of ${source.length} frames`, { field: 'frames' });
        taken++;
        return r.value;
      };
      const frames = async function* (): AsyncGenerator<WedgeFrame> {
        while (taken < wedge.count) {
          const offset = wedge.first + taken;
          const image = await next();
          yield { offset, image };
          done++;
          opts.onFrame?.(done);
        }
      };
      const read = source.read?.bind(source);
      const reread =
        read === undefined
          ? undefined
          : async function* (): AsyncGenerator<WedgeFrame> {
              for (let k = 0; k < wedge.count; k++) yield { offset: wedge.first + k, image: await read(wedge.first + k) };
            };
      const result = await integrateWedge(engine, setup, wedge, frames(), reread);
      // a wedge redone from `reread` may have left some of its frames unread here
      while (taken < wedge.count) await next();
      yield result;
    }
  } finally {
    engine.releaseResident(setup);
    await it.return?.();
  }
}

/** Columnar table of subvoxels. */
export interface VoxelTable {
  /** cell indices */
  H: Int32Array;
  K: Int32Array;
  L: Int32Array;
  /** 1-based subvoxel indices within the cell */
  ix: Uint8Array;
  iy: Uint8Array;
  iz: Uint8Array;
  /** fractional hkl of the subvoxel centre */
  h: Float64Array;
  k: Float64Array;
  l: Float64Array;
  /** Σ counts (exact integers) */
  counts: Float64Array;
  /** pixel·frames */
  pixels: Float64Array;
  /** Σ frame index (exact integers) */
  frameSum: Float64Array;
  /** wedge number */
  wedge: Uint32Array;
  /** ExclusionReason (excluded table: 1 outlier, 2 overflow; included: 0) */
  reason: Uint8Array;
  /** background run: Σ counts and pixel·frames in the same subvoxel (absent without one) */
  bgCounts?: Float64Array;
  bgPixels?: Float64Array;
  /** Σ over the pixel·frames of the pixel's column x and row y in its panel (exact integers; mean pixel centre = xSum/pixels + ½) */
  xSum: Float64Array;
  ySum: Float64Array;
  /** Σ panel index (exact integers) */
  panelSum: Float64Array;
  /** Σ κ and Σ d³s over the pixel·frames, de-quantized (Σq · quantum; absent without pixel weights) */
  kappaSum?: Float64Array;
  d3sSum?: Float64Array;
}

export interface FilterTable extends VoxelTable {
  /** the neighbourhood's weighted-median count rate (0 when the voxel did not take part) */
  lambda: Float32Array;
  /** KL divergence of the neighbourhood from Poisson(λ) (deterministic f32) */
  divergence: Float32Array;
  /** ΔD */
  delta: Float32Array;
  /** pixel·frames of the neighbourhood */
  neighbourhoodPixels: Uint32Array;
}

function emptyTable(rows: number, background = false, weights = false): VoxelTable {
  const t: VoxelTable = {
    H: new Int32Array(rows),
    K: new Int32Array(rows),
    L: new Int32Array(rows),
    ix: new Uint8Array(rows),
    iy: new Uint8Array(rows),
    iz: new Uint8Array(rows),
    h: new Float64Array(rows),
    k: new Float64Array(rows),
    l: new Float64Array(rows),
    counts: new Float64Array(rows),
    pixels: new Float64Array(rows),
    frameSum: new Float64Array(rows),
    wedge: new Uint32Array(rows),
    reason: new Uint8Array(rows),
    xSum: new Float64Array(rows),
    ySum: new Float64Array(rows),
    panelSum: new Float64Array(rows),
  };
  if (background) {
    t.bgCounts = new Float64Array(rows);
    t.bgPixels = new Float64Array(rows);
  }
  if (weights) {
    t.kappaSum = new Float64Array(rows);
    t.d3sSum = new Float64Array(rows);
  }
  return t;
}

function fillRow(t: VoxelTable, row: number, r: WedgeResult, v: number, pixels: number): void {
  const { table, acc, stride, maxCount: K } = r.acc;
  const nsub = subvoxelsPerCell(table.ndiv);
  const slot = Math.floor(v / nsub);
  const [H, Kc, L] = cellOfKey(table.box, table.keys[slot] as number);
  const [ix, iy, iz] = unflatSub(v - slot * nsub, table.ndiv);
  const b = v * stride;
  t.H[row] = H;
  t.K[row] = Kc;
  t.L[row] = L;
  t.ix[row] = ix;
  t.iy[row] = iy;
  t.iz[row] = iz;
  t.h[row] = subvoxelCentre(H, ix, table.ndiv[0]);
  t.k[row] = subvoxelCentre(Kc, iy, table.ndiv[1]);
  t.l[row] = subvoxelCentre(L, iz, table.ndiv[2]);
  t.counts[row] = readU64(acc, b + K + 2);
  t.pixels[row] = pixels;
  t.frameSum[row] = readU64(acc, b + K + 4);
  t.wedge[row] = r.wedge.index;
  t.reason[row] = r.mask.reason[v] as number;
  const bg = r.background;
  if (bg !== undefined && t.bgCounts !== undefined && t.bgPixels !== undefined) {
    let p = 0;
    for (let c = 0; c <= K + 1; c++) p += bg.acc[b + c] as number;
    t.bgCounts[row] = readU64(bg.acc, b + K + 2);
    t.bgPixels[row] = p;
  }
  const C = r.acc.channels;
  const ch = r.acc.channelSums;
  const cb = 2 * C * v;
  t.xSum[row] = readU64(ch, cb + 2 * CHANNEL.x);
  t.ySum[row] = readU64(ch, cb + 2 * CHANNEL.y);
  t.panelSum[row] = readU64(ch, cb + 2 * CHANNEL.panel);
  const w = r.weights;
  if (w !== undefined && t.kappaSum !== undefined && t.d3sSum !== undefined) {
    t.kappaSum[row] = readU64(ch, cb + 2 * CHANNEL.kappa) * w.kappa;
    t.d3sSum[row] = readU64(ch, cb + 2 * CHANNEL.d3s) * w.d3s;
  }
}

/** The wedge's accumulators carry the pipeline's channels (x, y, panel, and the weights when given). */
function checkChannels(r: WedgeResult): void {
  const want = r.weights !== undefined ? 5 : 3;
  invariant(r.acc.channels === want && r.acc.channelSums.length === r.acc.channels * 2 * (r.acc.acc.length / r.acc.stride), `wedge ${r.wedge.index}: accumulators with ${r.acc.channels} channels, expected ${want}`);
}

function voxelPixels(r: WedgeResult): Float64Array {
  const { acc, stride, maxCount: K, table } = r.acc;
  const voxels = table.cells * subvoxelsPerCell(table.ndiv);
  const out = new Float64Array(voxels);
  for (let v = 0; v < voxels; v++) {
    let p = 0;
    const b = v * stride;
    for (let c = 0; c <= K + 1; c++) p += acc[b + c] as number;
    out[v] = p;
  }
  return out;
}

/** The included and excluded (outlier ∪ overflow) subvoxels of a wedge, in voxel order. */
export function wedgeTables(r: WedgeResult): { included: VoxelTable; excluded: VoxelTable } {
  checkChannels(r);
  const pix = voxelPixels(r);
  let ni = 0;
  let ne = 0;
  for (let v = 0; v < pix.length; v++) {
    if ((pix[v] as number) === 0) continue;
    if (r.mask.reason[v] === ExclusionReason.included) ni++;
    else ne++;
  }
  const included = emptyTable(ni, r.background !== undefined, r.weights !== undefined);
  const excluded = emptyTable(ne, r.background !== undefined, r.weights !== undefined);
  let a = 0;
  let b = 0;
  for (let v = 0; v < pix.length; v++) {
    const p = pix[v] as number;
    if (p === 0) continue;
    if (r.mask.reason[v] === ExclusionReason.included) fillRow(included, a++, r, v, p);
    else fillRow(excluded, b++, r, v, p);
  }
  return { included, excluded };
}

/** Every occupied subvoxel of a wedge with its filter statistics, in voxel order. */
export function wedgeFilterTable(r: WedgeResult): FilterTable {
  checkChannels(r);
  const pix = voxelPixels(r);
  let rows = 0;
  for (let v = 0; v < pix.length; v++) if ((pix[v] as number) > 0) rows++;
  const t: FilterTable = {
    ...emptyTable(rows, r.background !== undefined, r.weights !== undefined),
    lambda: new Float32Array(rows),
    divergence: new Float32Array(rows),
    delta: new Float32Array(rows),
    neighbourhoodPixels: new Uint32Array(rows),
  };
  let row = 0;
  for (let v = 0; v < pix.length; v++) {
    const p = pix[v] as number;
    if (p === 0) continue;
    fillRow(t, row, r, v, p);
    const s = r.stats;
    if (s !== undefined && (s.n[v] as number) > 0) {
      t.lambda[row] = s.lambda[v] as number;
      t.divergence[row] = divergenceF32(s.t[v] as number, s.n[v] as number);
      t.delta[row] = s.delta[v] as number;
      t.neighbourhoodPixels[row] = s.n[v] as number;
    }
    row++;
  }
  return t;
}

/** Totals of a table. */
export function tableTotals(t: VoxelTable): { rows: number; counts: number; pixels: number } {
  let counts = 0;
  let pixels = 0;
  for (let i = 0; i < t.counts.length; i++) {
    counts += t.counts[i] as number;
    pixels += t.pixels[i] as number;
  }
  return { rows: t.counts.length, counts, pixels };
}

/** Concatenates tables (e.g. of several wedges). */
export function concatTables<T extends VoxelTable>(tables: readonly T[]): T {
  const first = tables[0];
  if (first === undefined) return emptyTable(0) as T;
  const out: Record<string, ArrayLike<number>> = {};
  for (const key of Object.keys(first) as (keyof T & string)[]) {
    if (tables.some((t) => t[key] === undefined)) continue;
    const parts = tables.map((t) => t[key] as unknown as Float64Array);
    const Ctor = (parts[0] as Float64Array).constructor as new (n: number) => Float64Array;
    const total = parts.reduce((s, p) => s + p.length, 0);
    const arr = new Ctor(total);
    let o = 0;
    for (const p of parts) {
      arr.set(p, o);
      o += p.length;
    }
    out[key] = arr;
  }
  return out as unknown as T;
}
