/**
 * Relative scaling of serial stills (docs/stills.md, "Scaling"): the rotation
 * scale model I_obs ≈ a(x, y, φ) · d · (b(φ) · I_v + c(|s|, φ)) of src/scaling
 * with the frame dimension φ replaced by the shot's p_order coordinate (written
 * into the `phi` column; every row sweep 0), fitted by the same
 * `scaleObservations` (the diffuse reference is re-merged from all shots at
 * every iteration).
 *
 * - b mode `per-shot`: coordinate = the shot's rank in p_order (ties by shot
 *   index), node spacing 1: one b per shot, the second differences over
 *   neighbouring shots penalized with λ = `bLambda` (relative to the data, as
 *   in src/scaling).
 * - b mode `smooth`: coordinate = p_order mapped linearly onto 0 … bNodes − 1:
 *   b is a piecewise-linear function of p_order with `bNodes` nodes.
 * - a(x, y, coordinate) and c(|s|, coordinate) have few nodes along the
 *   coordinate (aGrid[2], cGrid[1]); d is one factor (or map) per panel.
 *
 * Bounded memory: the observation rows stay in chunks (read one at a time).
 * The fit holds at most `rowBudget` rows: when the chunks hold more, the rows
 * of a deterministic subset of voxels are kept (a hash of the fine index below
 * a threshold), so every kept voxel keeps all its observations; the Bragg
 * term then takes only the Bragg rows of the kept voxels (attribute
 * `bragg_term_rows`), so that it does not grow with the shot count either.
 *
 * Shot rejection, repeated up to `rejectRounds` times with a refit after each:
 * a shot with fewer than `minShotRows` rows in the fit; a shot whose b is ≤ 0 or
 * not finite, or whose residual factor k (the least-squares scale of its rows
 * against the model with the merged reference) is; and a shot whose
 * log(b·k) lies more than `rejectMad` robust σ from the median of its
 * NEIGHBOURS neighbours on either side in p_order (σ = 1.4826 · the MAD of
 * those deviations over all shots, at least MAD_FLOOR): b drifts with p_order,
 * so a shot is compared with its neighbours, not with all shots. Rejected shots' rows are
 * left out of the merge (src/stills/merge.ts).
 */
import { InvalidValueError, MissingFieldError } from '../errors.ts';
import type { StageFile, StageFileContent } from '../io/observation-file.ts';
import {
  concatObservations,
  emptyObservations,
  fineIndex,
  observationCount,
  OBSERVATION_COLUMNS,
  selectObservations,
  type ObservationColumn,
  type ObservationMeta,
  type ObservationTable,
} from '../pipeline/observations.ts';
import {
  applyScaleModel,
  gridValue,
  historyGroup,
  indexVoxels,
  mergeObservations as mergeVoxels,
  readScaleModel,
  scaleFactors,
  scaleModelGroups,
  scaleObservations,
  SCALE_STAGES,
  type HistoryEntry,
  type ScaleModel,
  type ScaleStage,
  type ScalingOptions,
} from '../scaling/index.ts';
import type { StageContext } from '../stages/context.ts';
import { checkInt, checkOneOf, checkPositive, checkRange, SettingError } from '../stages/settings-check.ts';
import { mixSeed } from '../util/random.ts';

/** Observation rows stored on disk in chunks (any number of shots per chunk); read one at a time. */
export interface ObservationChunks {
  readonly count: number;
  read(i: number): Promise<ObservationTable>;
}

export type StillsBMode = 'per-shot' | 'smooth';

export interface StillsScaleSettings {
  /** one b per shot (regularized toward its p_order neighbours) or b a smooth function of p_order */
  bMode: StillsBMode;
  /** smoothness λ of b along p_order (second differences, relative to the data) */
  bLambda: number;
  /** smooth mode: nodes of b along p_order */
  bNodes: number;
  /** a(x, y, p_order) nodes [nx, ny, n along p_order] */
  aGrid: [number, number, number];
  /** c(|s|, p_order) nodes [ns, n along p_order] */
  cGrid: [number, number];
  dMode: 'panel' | 'map';
  /** refinement stages in order (src/scaling) */
  stages: ScaleStage[];
  /** row outlier cut-offs in σ after each stage; the last repeats */
  outlier: number[];
  maxIterations: number;
  tolerance: number;
  /** a shot with fewer rows in the fit is rejected */
  minShotRows: number;
  /** a shot whose log(b·k) is further than this many robust σ from the median is rejected */
  rejectMad: number;
  /** refits after rejecting shots, at most */
  rejectRounds: number;
  /** rows the fit may hold (a voxel subset beyond it) */
  rowBudget: number;
  /** seed of the voxel hash that picks the subset */
  subsetSeed: number;
  /** weight of the Bragg term in the b fit when a Bragg table is given (0: none; absent: the default, 1) */
  braggWeight?: number;
}

export const STILLS_SCALE_DEFAULTS: StillsScaleSettings = {
  bMode: 'per-shot',
  bLambda: 0.01,
  bNodes: 10,
  aGrid: [5, 5, 3],
  cGrid: [8, 3],
  dMode: 'panel',
  stages: [...SCALE_STAGES],
  outlier: [10, 5],
  maxIterations: 10,
  tolerance: 1e-4,
  minShotRows: 50,
  rejectMad: 5,
  rejectRounds: 2,
  rowBudget: 2_000_000,
  subsetSeed: 0,
  braggWeight: 1,
};

/** Robust σ of log(b·k) never below this (2 %): with little jitter a shot must lie 5 × 2 % = 10 % off its neighbours (a local median is off by a few % where b(p_order) curves) to be an outlier. */
export const MAD_FLOOR = 0.02;
/** 1.4826 · MAD estimates σ of a normal distribution */
const MAD_TO_SIGMA = 1.4826;
const BUCKETS = 1 << 16;
/** the outlier test compares a shot with this many shots on either side in p_order */
export const NEIGHBOURS = 5;

export type ShotReason = '' | 'no rows' | 'too few rows' | 'fit failed' | 'scale outlier';
const REASON_CODES: readonly ShotReason[] = ['', 'no rows', 'too few rows', 'fit failed', 'scale outlier'];

export interface ShotScale {
  shot: number;
  pOrder: number;
  /** the shot's coordinate in the model's φ axis (rank or mapped p_order) */
  coordinate: number;
  /** b of the model at the shot's coordinate */
  b: number;
  /** residual factor of the shot's rows against the model (1 when the model fits it); NaN when not fitted */
  k: number;
  /** rows of the shot in the chunks */
  rows: number;
  /** rows of the shot in the fit (the voxel subset) */
  fitRows: number;
  status: 'used' | 'rejected';
  /** why rejected ('' when used): the kind, then the figures */
  reason: string;
}

export interface StillsScaleSummary {
  shots: number;
  used: number;
  rejected: number;
  /** rows in the chunks */
  rows: number;
  /** rows in the fit */
  fitRows: number;
  /** the smallest number of fit rows of a shot in use */
  minShotFitRows: number;
  /** fits done (1 + refits after rejections) */
  fits: number;
  chi2: number | null;
  voxels: number;
  seconds: number;
}

export interface StillsScaleResult {
  model: ScaleModel;
  shots: ShotScale[];
  history: HistoryEntry[];
  content: StageFileContent;
  summary: StillsScaleSummary;
}

export function validateStillsScaleSettings(s: StillsScaleSettings): void {
  checkOneOf(s.bMode, 'bMode', ['per-shot', 'smooth'] as const);
  checkRange(s.bLambda, 'bLambda', 0, Number.MAX_VALUE, 'a number ≥ 0');
  checkInt(s.bNodes, 'bNodes', 2, 100_000);
  if (s.aGrid.length !== 3 || !s.aGrid.every((v) => Number.isInteger(v) && v >= 2 && v <= 100)) throw new SettingError('aGrid', 'must be 3 integers 2…100', s.aGrid);
  if (s.cGrid.length !== 2 || !s.cGrid.every((v) => Number.isInteger(v) && v >= 2 && v <= 100)) throw new SettingError('cGrid', 'must be 2 integers 2…100', s.cGrid);
  checkOneOf(s.dMode, 'dMode', ['panel', 'map'] as const);
  if (s.stages.length === 0) throw new SettingError('stages', `takes ${SCALE_STAGES.join(', ')}`, s.stages);
  for (const st of s.stages) checkOneOf(st, 'stages', SCALE_STAGES);
  if (s.outlier.length === 0) throw new SettingError('outlier', 'must be positive numbers', s.outlier);
  for (const o of s.outlier) checkPositive(o, 'outlier');
  checkInt(s.maxIterations, 'maxIterations', 1);
  checkRange(s.tolerance, 'tolerance', 0, Number.MAX_VALUE, 'a number ≥ 0');
  checkInt(s.minShotRows, 'minShotRows', 1);
  checkPositive(s.rejectMad, 'rejectMad');
  checkInt(s.rejectRounds, 'rejectRounds', 0, 100);
  checkInt(s.rowBudget, 'rowBudget', 1000, 2 ** 31);
  if (!Number.isSafeInteger(s.subsetSeed)) throw new SettingError('subsetSeed', 'must be an integer', s.subsetSeed);
  if (s.braggWeight !== undefined) checkRange(s.braggWeight, 'braggWeight', 0, Number.MAX_VALUE, 'a number ≥ 0');
}

/**
 * The φ coordinate of every shot: `per-shot` its rank in p_order (ties by shot
 * index), `smooth` p_order mapped linearly onto 0 … bNodes − 1. NaN where
 * p_order is NaN (a shot with no rows).
 */
export function pOrderCoordinates(pOrder: Float64Array, mode: StillsBMode, bNodes: number): Float64Array {
  const n = pOrder.length;
  const out = new Float64Array(n).fill(Number.NaN);
  const finite: number[] = [];
  for (let i = 0; i < n; i++) if (Number.isFinite(pOrder[i]!)) finite.push(i);
  if (mode === 'per-shot') {
    finite.sort((x, y) => pOrder[x]! - pOrder[y]! || x - y);
    finite.forEach((shot, rank) => {
      out[shot] = rank;
    });
    return out;
  }
  let lo = Infinity;
  let hi = -Infinity;
  for (const i of finite) {
    lo = Math.min(lo, pOrder[i]!);
    hi = Math.max(hi, pOrder[i]!);
  }
  for (const i of finite) out[i] = hi > lo ? ((pOrder[i]! - lo) / (hi - lo)) * (bNodes - 1) : 0;
  return out;
}

/** The library options of src/scaling for the stills settings. */
function scalingOptions(s: StillsScaleSettings): ScalingOptions {
  return {
    stages: s.stages,
    outlier: s.outlier,
    maxIterations: s.maxIterations,
    tolerance: s.tolerance,
    b: { stepDeg: 1, lambda: s.bLambda },
    a: { nx: s.aGrid[0], ny: s.aGrid[1], nphi: s.aGrid[2] },
    c: { ns: s.cGrid[0], nphi: s.cGrid[1] },
    d: { mode: s.dMode },
  };
}

/** The voxel-hash bucket (0 … 65535) of row i: every row of a voxel has the same. */
export function voxelBucket(t: ObservationTable, meta: ObservationMeta, i: number, seed: number): number {
  const [fh, fk, fl] = fineIndex(t, meta.ndiv, i);
  return mixSeed(seed, fh, fk, fl) >>> 16;
}

/** The rows of `t` whose voxel's bucket lies below `threshold` (the fit's voxel subset). */
function voxelSubset(t: ObservationTable, meta: ObservationMeta, seed: number, threshold: number): ObservationTable {
  const idx: number[] = [];
  for (let i = 0; i < observationCount(t); i++) if (voxelBucket(t, meta, i, seed) < threshold) idx.push(i);
  return selectObservations(t, idx);
}

/** Checks the rows' shots and writes the p_order coordinate into `phi` (sweep 0). */
export function placeRows(t: ObservationTable, coordinate: Float64Array, chunk: number): void {
  const n = observationCount(t);
  for (let i = 0; i < n; i++) {
    const shot = t.batch[i]!;
    if (shot >= coordinate.length) throw new InvalidValueError(`chunk ${chunk} row ${i}: shot ${shot} is beyond the ${coordinate.length} shots with a p_order`, { field: 'batch' });
    const c = coordinate[shot]!;
    if (!Number.isFinite(c)) throw new InvalidValueError(`chunk ${chunk} row ${i}: shot ${shot} has rows but no finite p_order`, { field: 'p_order' });
    t.phi[i] = c;
    t.sweep[i] = 0;
  }
}

interface Gathered {
  table: ObservationTable;
  rows: Uint32Array;
  total: number;
  /** voxels whose bucket lies below this are in the fit (BUCKETS: every voxel) */
  threshold: number;
}

/** Reads the chunks and keeps the rows of a voxel subset of at most `budget` rows (see the module comment). */
async function gatherRows(ctx: StageContext, chunks: ObservationChunks, meta: ObservationMeta, coordinate: Float64Array, s: StillsScaleSettings): Promise<Gathered> {
  const counts = new Float64Array(BUCKETS);
  const rows = new Uint32Array(coordinate.length);
  let held: ObservationTable[] | null = [];
  let total = 0;
  const task = ctx.progress.start('scale: reading chunks', chunks.count, 'chunks');
  try {
    for (let c = 0; c < chunks.count; c++) {
      const t = await chunks.read(c);
      placeRows(t, coordinate, c);
      const n = observationCount(t);
      for (let i = 0; i < n; i++) {
        counts[voxelBucket(t, meta, i, s.subsetSeed)]! += 1;
        rows[t.batch[i]!]! += 1;
      }
      total += n;
      if (held !== null) {
        if (total <= s.rowBudget) held.push(t);
        else held = null;
      }
      task.update(c + 1);
    }
  } finally {
    task.stop();
  }
  if (held !== null) return { table: concatObservations(held), rows, total, threshold: BUCKETS };
  let threshold = 0;
  let kept = 0;
  while (threshold < BUCKETS && kept + counts[threshold]! <= s.rowBudget) kept += counts[threshold++]!;
  ctx.log.log('info', `scale: ${total} rows exceed the row budget ${s.rowBudget}: fitting the ${kept} rows of ${((100 * threshold) / BUCKETS).toFixed(1)} % of the voxels`, { rows: total, kept });
  const table = emptyObservations(kept);
  let o = 0;
  for (let c = 0; c < chunks.count; c++) {
    const t = await chunks.read(c);
    placeRows(t, coordinate, c);
    const part = voxelSubset(t, meta, s.subsetSeed, threshold);
    for (const name of Object.keys(OBSERVATION_COLUMNS) as ObservationColumn[]) (table[name] as { set(a: ArrayLike<number>, o: number): void }).set(part[name], o);
    o += observationCount(part);
  }
  if (o !== kept) throw new InvalidValueError(`the chunks changed between two reads (${o} rows in the subset, ${kept} counted)`, { field: 'chunks' });
  return { table, rows, total, threshold };
}

function median(v: number[]): number {
  const s = [...v].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/**
 * Outlier score of every shot in use with a finite, positive b·k: the
 * deviation of log(b·k) from the median of its NEIGHBOURS neighbours on
 * either side in p_order (shots in use), over the robust σ of those deviations
 * (1.4826 · MAD about their median, at least MAD_FLOOR). 0 for other shots.
 */
function outlierScores(shots: readonly ShotScale[], coordinate: Float64Array): Float64Array {
  const z = new Float64Array(shots.length);
  const order = shots.filter((sh) => sh.status === 'used' && sh.b > 0 && sh.k > 0 && Number.isFinite(sh.b * sh.k)).sort((x, y) => coordinate[x.shot]! - coordinate[y.shot]! || x.shot - y.shot);
  if (order.length < 3) return z;
  const L = order.map((sh) => Math.log(sh.b * sh.k));
  const dev = L.map((v, i) => {
    const lo = Math.max(0, Math.min(i - NEIGHBOURS, L.length - 1 - 2 * NEIGHBOURS));
    const hi = Math.min(L.length, lo + 2 * NEIGHBOURS + 1);
    const around: number[] = [];
    for (let j = lo; j < hi; j++) if (j !== i) around.push(L[j]!);
    return v - median(around);
  });
  const center = median(dev);
  const sigma = Math.max(MAD_FLOOR, MAD_TO_SIGMA * median(dev.map((d) => Math.abs(d - center))));
  order.forEach((sh, i) => {
    z[sh.shot] = Math.abs(dev[i]! - center) / sigma;
  });
  return z;
}

/** The Bragg rows (I/P) of the shots in use, their coordinate in `phi`: the Bragg term of the b fit. */
function braggRows(bragg: ObservationTable, shots: readonly ShotScale[], coordinate: Float64Array): ObservationTable {
  const idx: number[] = [];
  for (let i = 0; i < observationCount(bragg); i++) if (shots[bragg.batch[i]!]?.status === 'used') idx.push(i);
  const t = selectObservations(bragg, idx);
  placeRows(t, coordinate, -1);
  return t;
}

/**
 * Per shot: b at its coordinate, and the residual factor k of its rows in the
 * fit table against the model with the reference merged from the rows fitted
 * (`fitted` = 1) — so rejected shots get a k too. Rows on a panel the model
 * has no d for (only in rejected shots) are left out.
 */
function shotFactors(table: ObservationTable, fitted: Uint8Array, meta: ObservationMeta, model: ScaleModel, coordinate: Float64Array): { b: Float64Array; k: Float64Array } {
  const nShots = coordinate.length;
  const grid = model.b.grids[0]!;
  const b = Float64Array.from(coordinate, (c) => (Number.isFinite(c) ? gridValue(grid, [c]) : Number.NaN));
  const panels = new Set(model.d.grids.map((g) => g.key));
  const keep: number[] = [];
  for (let i = 0; i < observationCount(table); i++) if (panels.has(table.panel[i]!)) keep.push(i);
  const t = keep.length === observationCount(table) ? table : selectObservations(table, keep);
  const exclude = Uint8Array.from(keep, (i) => 1 - fitted[i]!);
  const merged = mergeVoxels(applyScaleModel(t, model), meta.ndiv, exclude);
  const { voxelOf } = indexVoxels(t, meta.ndiv);
  const f = scaleFactors(model, t);
  const num = new Float64Array(nShots);
  const den = new Float64Array(nShots);
  for (let i = 0; i < voxelOf.length; i++) {
    if (!(t.sigma[i]! > 0)) continue;
    const v = voxelOf[i]!;
    // a voxel merged from this row alone says nothing about its shot
    if (merged.n[v]! < (exclude[i] === 0 ? 2 : 1)) continue;
    const m = f.a[i]! * f.d[i]! * (f.b[i]! * merged.I[v]! + f.c[i]!);
    const w = 1 / (t.sigma[i]! * t.sigma[i]!);
    num[t.batch[i]!]! += w * t.I[i]! * m;
    den[t.batch[i]!]! += w * m * m;
  }
  const k = Float64Array.from(num, (x, i) => (den[i]! > 0 ? x / den[i]! : Number.NaN));
  return { b, k };
}

/** Fits the stills scale model (see the module comment). `pOrder[shot]` for every shot index the rows name. */
export async function scaleStills(
  ctx: StageContext,
  chunks: ObservationChunks,
  meta: ObservationMeta,
  pOrder: Float64Array,
  s: StillsScaleSettings,
  bragg?: ObservationTable,
): Promise<StillsScaleResult> {
  validateStillsScaleSettings(s);
  const t0 = performance.now();
  const nShots = pOrder.length;
  const coordinate = pOrderCoordinates(pOrder, s.bMode, s.bNodes);
  const gathered = await gatherRows(ctx, chunks, meta, coordinate, s);
  const table = gathered.table;
  const fitRows = new Uint32Array(nShots);
  for (let i = 0; i < observationCount(table); i++) fitRows[table.batch[i]!]! += 1;
  const shots: ShotScale[] = Array.from({ length: nShots }, (_v, shot) => ({
    shot,
    pOrder: pOrder[shot]!,
    coordinate: coordinate[shot]!,
    b: Number.NaN,
    k: Number.NaN,
    rows: gathered.rows[shot]!,
    fitRows: fitRows[shot]!,
    status: 'used' as const,
    reason: '',
  }));
  const reject = (shot: ShotScale, reason: string): void => {
    shot.status = 'rejected';
    shot.reason = reason;
  };
  for (const sh of shots) {
    if (sh.rows === 0) reject(sh, 'no rows');
    else if (sh.fitRows < s.minShotRows) reject(sh, `too few rows: ${sh.fitRows} in the fit (of ${sh.rows}), at least ${s.minShotRows} needed`);
  }
  const starved = shots.filter((sh) => sh.rows >= s.minShotRows && sh.fitRows < s.minShotRows);
  if (starved.length > 0) {
    const fewest = Math.max(1, starved.reduce((m, sh) => Math.min(m, sh.fitRows), Infinity));
    const suggest = Math.min(gathered.total, Math.ceil((s.rowBudget * s.minShotRows) / fewest));
    ctx.log.log('warn', `scale: the row budget ${s.rowBudget} leaves ${starved.length} shot(s) with fewer than ${s.minShotRows} rows in the fit, so they are rejected; a row budget of about ${suggest} keeps them`, { shots: starved.length, rowBudget: s.rowBudget });
  }
  const opts = scalingOptions(s);
  const braggWeight = s.braggWeight ?? 1;
  // the Bragg term takes the Bragg rows of the fit's voxels only, so that it too is bounded by the row budget, not by the shot count
  const braggFit = bragg === undefined || gathered.threshold >= BUCKETS ? bragg : voxelSubset(bragg, meta, s.subsetSeed, gathered.threshold);
  if (bragg !== undefined && braggFit !== bragg) ctx.log.log('info', `scale: the Bragg term takes the ${observationCount(braggFit!)} of ${observationCount(bragg)} Bragg rows in the fit's voxels`, { braggRows: observationCount(braggFit!) });
  let fits = 0;
  let model: ScaleModel | undefined;
  let history: HistoryEntry[] = [];
  let voxels = 0;
  for (let round = 0; ; round++) {
    const use: number[] = [];
    for (let i = 0; i < observationCount(table); i++) if (shots[table.batch[i]!]!.status === 'used') use.push(i);
    if (use.length === 0) throw new InvalidValueError(`no shot has ${s.minShotRows} or more rows to fit (${nShots} shots, ${gathered.total} rows)`, { field: 'minShotRows' });
    const t = use.length === observationCount(table) ? table : selectObservations(table, use);
    const fitOpts = braggFit !== undefined && braggWeight > 0 ? { ...opts, bTerm: { obs: braggRows(braggFit, shots, coordinate), weight: braggWeight } } : opts;
    const result = scaleObservations(t, meta, fitOpts, {
      onStage: (st) => ctx.log.log('info', `scale: fit ${round + 1} stage ${st.stage}: ${st.rejected} outlier rows beyond ${st.cutoff} sigma`, { stage: st.stage, rejected: st.rejected }),
    });
    fits++;
    model = result.model;
    history = result.history;
    voxels = result.stats.voxels;
    // rows fitted: rows of shots in use that the fit did not reject as outliers
    const fitted = new Uint8Array(observationCount(table));
    use.forEach((i, j) => {
      fitted[i] = 1 - result.rejected[j]!;
    });
    const f = shotFactors(table, fitted, meta, result.model, coordinate);
    for (const sh of shots) {
      sh.b = f.b[sh.shot]!;
      sh.k = f.k[sh.shot]!;
    }
    const z = outlierScores(shots, coordinate);
    let now = 0;
    for (const sh of shots) {
      if (sh.status !== 'used') continue;
      if (!(sh.b > 0 && Number.isFinite(sh.b))) reject(sh, `fit failed: b = ${sh.b}`);
      else if (!(sh.k > 0 && Number.isFinite(sh.k))) reject(sh, `fit failed: residual factor k = ${sh.k} against the merged reference`);
      else if (z[sh.shot]! > s.rejectMad) {
        reject(sh, `scale outlier: b·k = ${(sh.b * sh.k).toPrecision(4)}, ${z[sh.shot]!.toFixed(1)} robust σ from its ${2 * NEIGHBOURS} p_order neighbours (cut ${s.rejectMad})`);
      } else continue;
      now++;
    }
    ctx.log.log('info', `scale: fit ${round + 1}: chi2 ${(result.history.at(-1)?.chi2 ?? Number.NaN).toFixed(4)}, ${now} shots rejected`, { fit: round + 1, rejected: now });
    if (now === 0 || round >= s.rejectRounds) break;
  }
  const used = shots.filter((sh) => sh.status === 'used');
  const minShotFitRows = used.reduce((m, sh) => Math.min(m, sh.fitRows), used.length > 0 ? Infinity : 0);
  const last = history.at(-1);
  const summary: StillsScaleSummary = {
    shots: nShots,
    used: used.length,
    rejected: nShots - used.length,
    rows: gathered.total,
    fitRows: observationCount(table),
    minShotFitRows,
    fits,
    chi2: last?.chi2 ?? null,
    voxels,
    seconds: (performance.now() - t0) / 1000,
  };
  const finalModel = model!;
  const content: StageFileContent = {
    stage: 'scale',
    meta,
    attrs: {
      command: 'scale',
      kind: 'stills',
      b_mode: s.bMode,
      b_lambda: s.bLambda,
      b_nodes: s.bNodes,
      phi: s.bMode === 'per-shot' ? "the shot's rank in p_order (ties by shot index)" : 'p_order mapped linearly onto 0 … b_nodes − 1',
      stages: s.stages.join(','),
      outlier: s.outlier.join(','),
      d_mode: s.dMode,
      iterations: history.length,
      chi2: last?.chi2 ?? Number.NaN,
      fits,
      shots: nShots,
      shots_used: summary.used,
      shots_rejected: summary.rejected,
      rows: summary.rows,
      fit_rows: summary.fitRows,
      min_shot_fit_rows: minShotFitRows,
      row_budget: s.rowBudget,
      bragg_term_weight: bragg !== undefined ? braggWeight : 0,
      bragg_term_rows: braggFit !== undefined && braggWeight > 0 ? observationCount(braggFit) : 0,
      voxels,
      scaled: 'I = (I_obs/(a*d) - c)/b, sigma = sigma_obs/|a*d*b| with phi = the shot coordinate (docs/stills.md)',
    },
    groups: {
      ...scaleModelGroups(finalModel),
      history: historyGroup(history),
      shots: shotsGroup(shots),
    },
  };
  return { model: finalModel, shots, history, content, summary };
}

/** The model and the shot table of a stills `scale` stage file (what mergeStills needs, e.g. on resuming a run). */
export function readStillsScale(sf: StageFile, path: string): { model: ScaleModel; shots: ShotScale[] } {
  const model = readScaleModel(sf, path);
  const g = sf.groups.get('shots');
  if (g === undefined) throw new MissingFieldError("no 'shots' group: not a stills scale file", { file: path, field: 'shots' });
  const col = (name: string): ArrayLike<number> => {
    const c = g.columns.get(name);
    if (c === undefined) throw new MissingFieldError(`group 'shots' has no column '${name}'`, { file: path, field: `shots/${name}` });
    return c;
  };
  const shot = col('shot');
  const [pOrder, coordinate, b, k, rows, fitRows, status] = [col('p_order'), col('coordinate'), col('b'), col('k'), col('rows'), col('fit_rows'), col('status')];
  const reasons = new Map<number, string>();
  for (const line of String(g.attrs.reasons ?? '').split('\n')) {
    const m = /^(\d+): (.*)$/.exec(line);
    if (m !== null) reasons.set(Number(m[1]), m[2]!);
  }
  const shots: ShotScale[] = Array.from({ length: shot.length }, (_v, i) => {
    const id = shot[i]!;
    if (id !== i) throw new InvalidValueError(`row ${i} is shot ${id}: the table must list the shots 0, 1, … in order`, { file: path, field: 'shots/shot' });
    const used = status[i] === 0;
    return {
      shot: id,
      pOrder: pOrder[i]!,
      coordinate: coordinate[i]!,
      b: b[i]!,
      k: k[i]!,
      rows: rows[i]!,
      fitRows: fitRows[i]!,
      status: used ? 'used' : 'rejected',
      reason: used ? '' : (reasons.get(id) ?? 'rejected'),
    };
  });
  return { model, shots };
}

/** The stage-file group `shots`: one row per shot. */
function shotsGroup(shots: readonly ShotScale[]): NonNullable<StageFileContent['groups']>[string] {
  const reasons = shots.filter((sh) => sh.status === 'rejected').map((sh) => `${sh.shot}: ${sh.reason}`);
  return {
    columns: {
      shot: Uint32Array.from(shots, (sh) => sh.shot),
      p_order: Float64Array.from(shots, (sh) => sh.pOrder),
      coordinate: Float64Array.from(shots, (sh) => sh.coordinate),
      b: Float64Array.from(shots, (sh) => sh.b),
      k: Float64Array.from(shots, (sh) => sh.k),
      rows: Uint32Array.from(shots, (sh) => sh.rows),
      fit_rows: Uint32Array.from(shots, (sh) => sh.fitRows),
      status: Uint8Array.from(shots, (sh) => (sh.status === 'used' ? 0 : 1)),
      reason: Uint8Array.from(shots, (sh) => Math.max(0, REASON_CODES.findIndex((r) => r !== '' && sh.reason.startsWith(r)))),
    },
    attrs: {
      status: '0 used, 1 rejected',
      reason: REASON_CODES.map((r, i) => `${i} ${r === '' ? 'none' : r}`).join('; '),
      reasons: reasons.join('\n'),
      b: "the model's b at the shot's coordinate",
      k: "least-squares factor of the shot's rows against the model with the merged reference",
    },
  };
}
