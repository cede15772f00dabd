/**
 * Stage `integrate` (and `filter`, which runs the same wedges and keeps the
 * filter's per-subvoxel statistics): Bragg-peak removal by the Poisson filter
 * and voxel integration of a rotation series, wedge by wedge
 * (src/pipeline/voxel-integrate.ts). File layout: src/io/integrate-file.ts.
 *
 * - `integrateStage.run(ctx, inputs, settings)`: the whole series, returning
 *   the included/excluded voxel tables and one row per wedge (nothing written).
 * - `prepareIntegrate` + `integrateWedges`: the same, wedge by wedge, for
 *   callers that write each wedge as it comes (the CLI appends it to one file;
 *   the runner writes one checkpoint file per wedge and passes only the wedges
 *   still to do, so a killed run resumes per wedge).
 */
import { pixelCorrections, type CorrectionOptions } from '../corrections/pixel-corrections.ts';
import { InvalidValueError } from '../errors.ts';
import type { Experiment } from '../geometry/model.ts';
import { readNpy } from '../io/npy.ts';
import type { FrameSource, SourcedFrame } from '../io/sources/frame-source.ts';
import { decodeFrameTask } from '../io/sources/frame-task.ts';
import type { DecodeBuffers } from '../io/series.ts';
import { rootAttributes, type RootAttributes, type WedgeSummary } from '../io/integrate-file.ts';
import {
  concatTables,
  DEFAULT_MAX_COUNT,
  DEFAULT_NDIV,
  DEFAULT_WEDGE_DEG,
  DEFAULT_WINDOW,
  integrateWedge,
  prepareIntegration,
  type WedgeRunOptions,
  tableTotals,
  wedgeRanges,
  wedgeTables,
  type IntegrationOptions,
  type IntegrationSetup,
  type VoxelTable,
  type WedgeRange,
  type WedgeResult,
} from '../pipeline/voxel-integrate.ts';
import type { BeamstopShape, DetectorKind } from '../pipeline/voxel-masks.ts';
import { accumulateWedgeThreaded, shareSetup } from '../pipeline/voxel-integrate-threads.ts';
import { AccumulatorThreads } from '../kernels/cpu/voxel-accumulate-threads.ts';
import { AccumulatorArena } from '../kernels/voxel-accumulate.ts';
import { collectGarbage, defaultMemoryMb, MIB } from '../host/node-memory.ts';
import type { StageContext } from './context.ts';
import { checkFinite, checkInt, checkOneOf, checkPositive, checkRange, SettingError } from './settings-check.ts';
import type { Stage } from './stage.ts';

export interface GridSettings {
  /** subvoxels per cell along h, k, l */
  ndiv: [number, number, number];
  /** degrees of rotation per wedge (null with wedgeFrames) */
  wedgeDeg: number | null;
  /** frames per wedge (null: from wedgeDeg) */
  wedgeFrames: number | null;
  /** frames per kernel call; null: from the device limits (does not change results) */
  batchFrames: number | null;
}

export interface FilterSettings {
  enabled: boolean;
  /** histogram bins 0…maxCount; a subvoxel with a larger count overflows and is excluded */
  maxCount: number;
  /** neighbourhood radius in subvoxels */
  window: number;
}

export interface MaskSettings {
  /** pixels masked along every panel border */
  edge: number;
  /** honour the panels' .expt mask rectangles */
  panelMasks: boolean;
  beamstop: BeamstopShape[];
  /** .npy mask over all pixels (nonzero = usable); null when none */
  file: string | null;
  /** [x, y] pixels */
  hotPixels: [number, number][];
  /** how the panels' trusted_range reads */
  trustedRange: 'exclusive' | 'inclusive';
}

export interface DetectorSettings {
  kind: DetectorKind;
  /** ADU per photon (integrating detectors); null: 1 */
  gain: number | null;
  /** ADU added to every pixel; null: the panel's */
  pedestal: number | null;
}

export interface CorrectionSettings {
  /** false: no κ / d³s sums */
  enabled: boolean;
  efficiency: boolean;
  polarization: boolean;
  /** fraction 0…1 of the sample–pixel distance in air (default 1: all air, as the physics and mdx2); 0 or null: no air attenuation */
  airPath: number | null;
}

export interface IntegrateSettings {
  grid: GridSettings;
  filter: FilterSettings;
  mask: MaskSettings;
  detector: DetectorSettings;
  corrections: CorrectionSettings;
}

export const INTEGRATE_DEFAULTS: IntegrateSettings = {
  grid: { ndiv: [...DEFAULT_NDIV] as [number, number, number], wedgeDeg: DEFAULT_WEDGE_DEG, wedgeFrames: null, batchFrames: null },
  filter: { enabled: true, maxCount: DEFAULT_MAX_COUNT, window: DEFAULT_WINDOW },
  mask: { edge: 0, panelMasks: true, beamstop: [], file: null, hotPixels: [], trustedRange: 'exclusive' },
  detector: { kind: 'auto', gain: null, pedestal: null },
  corrections: { enabled: true, efficiency: true, polarization: true, airPath: 1 },
};

/** A copy of the defaults (nested objects and arrays too), for callers that change a few settings. */
export function integrateDefaults(): IntegrateSettings {
  return structuredClone(INTEGRATE_DEFAULTS);
}

export interface IntegrateInputs {
  experiment: Experiment;
  /** where the experiment was read from (the `expt` attribute of the file) */
  exptPath: string;
  frames: FrameSource;
  /** a background run (no crystal) binned into the same subvoxels */
  background?: FrameSource;
}

export const DETECTOR_KINDS: readonly DetectorKind[] = ['auto', 'photon-counting', 'integrating'];

/** Checks the settings; errors name the setting. */
export function validateIntegrateSettings(s: IntegrateSettings): void {
  const g = s.grid;
  if (g.ndiv.length !== 3 || !g.ndiv.every((v) => Number.isInteger(v) && v >= 1 && v <= 255)) throw new SettingError('grid.ndiv', 'must be three integers 1…255', g.ndiv);
  if (g.wedgeDeg !== null && g.wedgeFrames !== null) throw new SettingError('grid.wedgeFrames', 'and grid.wedgeDeg cannot both be set', g.wedgeFrames);
  if (g.wedgeDeg !== null) checkPositive(g.wedgeDeg, 'grid.wedgeDeg');
  if (g.wedgeFrames !== null) checkInt(g.wedgeFrames, 'grid.wedgeFrames', 1);
  if (g.batchFrames !== null) checkInt(g.batchFrames, 'grid.batchFrames', 1);
  checkInt(s.filter.maxCount, 'filter.maxCount', 1);
  checkInt(s.filter.window, 'filter.window', 0);
  checkInt(s.mask.edge, 'mask.edge', 0);
  checkOneOf(s.mask.trustedRange, 'mask.trustedRange', ['exclusive', 'inclusive'] as const);
  for (const [x, y] of s.mask.hotPixels) if (!(Number.isInteger(x) && Number.isInteger(y) && x >= 0 && y >= 0)) throw new SettingError('mask.hotPixels', 'must be [x, y] pairs of non-negative integers', [x, y]);
  for (const b of s.mask.beamstop) {
    const v = b.kind === 'rect' ? [b.x0, b.y0, b.x1, b.y1] : b.kind === 'circle' ? [b.cx, b.cy, b.r] : b.points.flat();
    if (b.kind === 'polygon' && b.points.length < 3) throw new SettingError('mask.beamstop', 'polygons need at least 3 vertices', v);
    v.forEach((x) => checkFinite(x, 'mask.beamstop'));
  }
  checkOneOf(s.detector.kind, 'detector.kind', DETECTOR_KINDS);
  if (s.detector.gain !== null) checkPositive(s.detector.gain, 'detector.gain');
  if (s.detector.pedestal !== null) checkFinite(s.detector.pedestal, 'detector.pedestal');
  if (s.corrections.airPath !== null) checkRange(s.corrections.airPath, 'corrections.airPath', 0, 1, 'a fraction 0…1 of the sample–pixel distance');
}

/** What κ holds (the `corrections` root attribute). */
export function correctionsDescription(c: CorrectionOptions | undefined, efficiencyKnown = true): string {
  if (c === undefined) return 'none (--no-corrections): no kappa_sum, d3s_sum';
  const parts = ['solid angle (sr)'];
  if (c.polarization !== false) parts.push('polarization');
  if (c.efficiency !== false) parts.push(efficiencyKnown ? 'detector efficiency' : 'detector efficiency (sensor unknown: 1)');
  if (c.air !== undefined && c.air !== false) parts.push(`air attenuation (path fraction ${c.air})`);
  return `kappa = ${parts.join(' × ')} per pixel; d3s = reciprocal-space volume swept by the pixel in one frame (1/Å³); both from pixelCorrections, quantized (see kappa_quantum, d3s_quantum)`;
}

/** The per-pixel correction options of the settings (undefined when corrections are off). */
export function correctionOptions(c: CorrectionSettings): CorrectionOptions | undefined {
  if (!c.enabled) return undefined;
  return { solidAngle: true, polarization: c.polarization, efficiency: c.efficiency, air: c.airPath === null || c.airPath === 0 ? false : c.airPath };
}

function readMaskImage(file: string, exp: Experiment): Uint8Array {
  const arr = readNpy(file);
  const n = exp.detector.panels.reduce((s, p) => s + p.imageSize[0] * p.imageSize[1], 0);
  if (arr.data.length !== n) throw new InvalidValueError(`the mask has ${arr.data.length} values (shape ${arr.shape.join('×')}) but the detector has ${n} pixels`, { file });
  return Uint8Array.from(arr.data as ArrayLike<number>, (v) => (v !== 0 ? 1 : 0));
}

/** The pipeline's integration options from the settings (mask file read, corrections computed), and what κ holds. */
export function integrationOptions(s: IntegrateSettings, exp: Experiment, background?: FrameSource): { options: IntegrationOptions; corrections: string } {
  validateIntegrateSettings(s);
  const counting: NonNullable<IntegrationOptions['counting']> = { detector: s.detector.kind, trustedRange: s.mask.trustedRange };
  if (s.detector.gain !== null) counting.gain = s.detector.gain;
  if (s.detector.pedestal !== null) counting.pedestal = s.detector.pedestal;
  const mask: NonNullable<IntegrationOptions['mask']> = { panelMasks: s.mask.panelMasks, edge: s.mask.edge, beamstop: s.mask.beamstop };
  if (s.mask.file !== null) mask.maskImage = readMaskImage(s.mask.file, exp);
  if (s.mask.hotPixels.length > 0) mask.hotPixels = s.mask.hotPixels;
  const options: IntegrationOptions = { ndiv: s.grid.ndiv, maxCount: s.filter.maxCount, window: s.filter.window, filter: s.filter.enabled, mask, counting };
  if (s.grid.wedgeFrames !== null) options.wedgeFrames = s.grid.wedgeFrames;
  else if (s.grid.wedgeDeg !== null) options.wedgeDeg = s.grid.wedgeDeg;
  if (s.grid.batchFrames !== null) options.batchFrames = s.grid.batchFrames;
  if (background !== undefined) options.background = background;
  const co = correctionOptions(s.corrections);
  let efficiencyKnown = true;
  if (co !== undefined) {
    // only κ and d³s: the factor columns would add 40 bytes per pixel to the peak
    const c = pixelCorrections(exp, { ...co, columns: 'weights' });
    options.pixelWeights = { kappa: c.kappa, d3s: c.d3s };
    efficiencyKnown = co.efficiency === false || c.efficiencyApplied;
  }
  return { options, corrections: correctionsDescription(co, efficiencyKnown) };
}

/** A series ready to integrate: the per-series geometry and masks, and its wedges. */
export interface PreparedIntegration {
  setup: IntegrationSetup;
  /** what κ holds (root attribute `corrections`) */
  corrections: string;
  wedges: WedgeRange[];
  frames: FrameSource;
  exptPath: string;
}

/** `sharedArrays`: the per-pixel arrays in shared memory, for a CPU engine with several threads (IntegrationOptions.sharedArrays). */
export function prepareIntegrate(inputs: IntegrateInputs, settings: IntegrateSettings, opts: { sharedArrays?: boolean } = {}): PreparedIntegration {
  const { options, corrections } = integrationOptions(settings, inputs.experiment, inputs.background);
  if (opts.sharedArrays === true) options.sharedArrays = true;
  const setup = prepareIntegration(inputs.experiment, options);
  return { setup, corrections, wedges: wedgeRanges(inputs.frames.length, setup.wedgeFrames), frames: inputs.frames, exptPath: inputs.exptPath };
}

/** The root attributes of an integrate (or filter) file of this series. */
export function integrateAttributes(p: PreparedIntegration, command: 'integrate' | 'filter', backend: string): RootAttributes {
  return { ...rootAttributes(command, p.exptPath, p.setup, p.corrections), backend };
}

/** The `wedges` row of a wedge result. */
export function wedgeSummary(r: WedgeResult, included: VoxelTable, excluded: VoxelTable): WedgeSummary {
  return {
    index: r.wedge.index,
    firstFrame: r.wedge.first,
    frames: r.wedge.count,
    backend: r.backend,
    cells: r.acc.table.cells,
    occupied: r.mask.occupied,
    participants: r.mask.participants,
    outliers: r.mask.outliers,
    overflow: r.mask.overflow,
    includedCounts: tableTotals(included).counts,
    excludedCounts: tableTotals(excluded).counts,
    maskedPixelFrames: r.acc.maskedObservations,
    maskedSum: r.acc.maskedSum,
    frameSum: r.frameSum,
    divergenceBefore: r.mask.divergenceBefore,
    divergenceAfter: r.mask.divergenceAfter,
    exhausted: r.mask.exhausted,
    seconds: r.seconds.geometry + r.seconds.accumulate + r.seconds.filter,
  };
}

/**
 * Seconds of a wedge's phases. `decode` and `bin` are thread time: summed
 * over the worker threads that read, decoded and binned the frames (one
 * thread: the main thread's time waiting for decoded frames, and the rest of
 * the accumulation); `filter` is main-thread wall time (the cell table and
 * geometry included), as is the caller's `write`.
 */
export interface WedgePhases {
  decode: number;
  bin: number;
  filter: number;
}

/** One integrated wedge: the pipeline's result, its tables, its `wedges` row and its phase times. */
export interface IntegratedWedge {
  result: WedgeResult;
  included: VoxelTable;
  excluded: VoxelTable;
  row: WedgeSummary;
  phases: WedgePhases;
}

/**
 * Integrates the wedges of a prepared series in order (default: all of them),
 * yielding each as it is done; at most one wedge's accumulators live at a
 * time. Progress counts frames under `label`. A yielded wedge's tables are
 * its own; its accumulators (`result.acc`) are valid until the next wedge is
 * asked for (the CPU threads reuse their memory from wedge to wedge): copy
 * them to keep them.
 */
export async function* integrateWedges(
  ctx: StageContext,
  p: PreparedIntegration,
  opts: { wedges?: readonly WedgeRange[]; label?: string } = {},
): AsyncGenerator<IntegratedWedge> {
  const wedges = opts.wedges ?? p.wedges;
  const total = wedges.reduce((s, w) => s + w.count, 0);
  const progress = ctx.progress.start(opts.label ?? 'integrate', total);
  const engine = ctx.engine;
  const budgetBytes = (engine.memoryMb ?? defaultMemoryMb()) * MIB;
  // the CPU engine with several threads: the sample frames are read, decoded and binned in worker threads
  const threads = engine.backend === 'cpu' && engine.threads > 1 && p.setup.nPixels > 0 ? new AccumulatorThreads(engine.threads) : null;
  if (threads !== null) shareSetup(p.setup);
  // the preparation's transient per-pixel arrays (the f64 weights) die here: collected now, not left in the
  // peak while the workers bin (the main thread then allocates too little for V8 to collect them soon)
  collectGarbage();
  // one thread on the CPU: batches of one frame, binned before the next frame is read, so every frame can be
  // read and decoded into the same buffers (no frame-sized garbage per frame on this thread)
  const inPlace: DecodeBuffers | null = threads === null && engine.backend === 'cpu' && (p.setup.batchFrames ?? 1) === 1 ? { file: { bytes: new Uint8Array(0) } } : null;
  // the CPU engine in this thread: the accumulators reuse one buffer from wedge to wedge (see AccumulatorArena)
  const arena = threads === null && engine.backend === 'cpu' ? new AccumulatorArena(false) : null;
  let done = 0;
  try {
    for (const w of wedges) {
      const frames = p.frames;
      const times = { decode: 0, bin: 0 };
      const counted = (async function* () {
        const it = (inPlace !== null && frames.decodeTask?.(w.first) != null ? decodedInPlace(frames, w, inPlace) : frames.range(w.first, w.count))[Symbol.asyncIterator]();
        try {
          for (;;) {
            const t = performance.now();
            const r = await it.next();
            times.decode += (performance.now() - t) / 1000;
            if (r.done === true) return;
            yield r.value;
            done++;
            progress.update(done);
          }
        } finally {
          await it.return?.();
        }
      })();
      const run: WedgeRunOptions = { budgetBytes };
      if (arena !== null) run.arena = arena;
      if (threads !== null) {
        const before = done;
        shareSetup(p.setup);
        run.cellSet = (vectors, valid, rows) => threads.cellSet(vectors, valid, rows);
        run.filterStats = (acc, window) => threads.filterStats(acc, window);
        run.sample = (table, rows) =>
          accumulateWedgeThreaded(p.setup, table, w, rows, {
            threads,
            source: frames,
            budgetBytes,
            times,
            onFrame: (k) => {
              done = before + k;
              progress.update(done);
            },
          });
      }
      const result = await integrateWedge(engine, p.setup, w, threads !== null ? noFrames() : counted, threads !== null ? undefined : () => frames.range(w.first, w.count), run);
      if (threads === null) times.bin = Math.max(0, result.seconds.accumulate - times.decode);
      const t0 = performance.now();
      const t = wedgeTables(result);
      const phases = { decode: times.decode, bin: times.bin, filter: result.seconds.geometry + result.seconds.filter + (performance.now() - t0) / 1000 };
      yield { result, included: t.included, excluded: t.excluded, row: wedgeSummary(result, t.included, t.excluded), phases };
    }
  } finally {
    await threads?.destroy();
    progress.stop();
    // the per-pixel arrays were put on the device once for all the wedges (pinSetup): let them go with the series
    ctx.engine.releaseResident(p.setup);
  }
}

/**
 * The frames of wedge `w` from the source's decode tasks, read and decoded
 * on this thread into `buffers` (the pixel buffer adopted from the first
 * frame): each frame's pixels are overwritten by the next, so the consumer
 * must be done with a frame before it asks for the next (one-frame batches).
 */
async function* decodedInPlace(source: FrameSource, w: WedgeRange, buffers: DecodeBuffers): AsyncGenerator<SourcedFrame> {
  for (let k = 0; k < w.count; k++) {
    const offset = w.first + k;
    const task = source.decodeTask?.(offset) ?? null;
    const image = task !== null ? await decodeFrameTask(task, buffers) : await source.read(offset);
    if (task !== null) buffers.pixels = image.pixels;
    yield { offset, image };
  }
}

async function* noFrames(): AsyncGenerator<never> {
  // the threaded path reads the frames itself
}

export interface IntegrateSummary {
  frames: number;
  wedges: number;
  /** occupied subvoxels, summed over the wedges */
  occupied: number;
  /** occupied subvoxels excluded (outliers + overflow) */
  excluded: number;
  countsIncluded: number;
  countsExcluded: number;
  /** fraction of detector pixels masked statically */
  maskedPixelFraction: number;
  backend: string;
}

export interface IntegrateResult {
  included: VoxelTable;
  excluded: VoxelTable;
  /** one row per wedge (the `wedges` table) */
  wedges: WedgeSummary[];
  /** the root attributes an integrate file of these tables carries */
  attributes: RootAttributes;
  summary: IntegrateSummary;
}

/** Totals over wedge rows. */
export function wedgeTotals(rows: readonly WedgeSummary[]): { occupied: number; excluded: number; countsIncluded: number; countsExcluded: number } {
  return rows.reduce(
    (a, s) => ({ occupied: a.occupied + s.occupied, excluded: a.excluded + s.outliers + s.overflow, countsIncluded: a.countsIncluded + s.includedCounts, countsExcluded: a.countsExcluded + s.excludedCounts }),
    { occupied: 0, excluded: 0, countsIncluded: 0, countsExcluded: 0 },
  );
}

async function run(ctx: StageContext, inputs: IntegrateInputs, settings: IntegrateSettings): Promise<IntegrateResult> {
  const p = prepareIntegrate(inputs, settings, { sharedArrays: ctx.engine.backend === 'cpu' && ctx.engine.threads > 1 });
  const included: VoxelTable[] = [];
  const excluded: VoxelTable[] = [];
  const rows: WedgeSummary[] = [];
  for await (const w of integrateWedges(ctx, p)) {
    included.push(w.included);
    excluded.push(w.excluded);
    rows.push(w.row);
  }
  const valid = p.setup.staticMask.valid;
  const usable = valid.reduce((s, v) => s + v, 0);
  return {
    included: concatTables(included),
    excluded: concatTables(excluded),
    wedges: rows,
    attributes: integrateAttributes(p, 'integrate', ctx.engine.backend),
    summary: { frames: inputs.frames.length, wedges: rows.length, ...wedgeTotals(rows), maskedPixelFraction: 1 - usable / valid.length, backend: ctx.engine.backend },
  };
}

export const integrateStage: Stage<IntegrateInputs, IntegrateSettings, IntegrateResult> = { name: 'integrate', defaults: INTEGRATE_DEFAULTS, run };
