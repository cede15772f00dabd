/**
 * Merging serial stills in bounded memory (docs/stills.md, "Merge"): the rows
 * of the rejected shots are dropped, the scale model is applied chunk by chunk
 * (`applyScaleModel`, with the shot's coordinate in `phi`), and the rows are
 * merged by the existing weighted merge with outlier rejection
 * (src/merge `mergeObservations`) in P voxel-hash partitions: P passes over the
 * chunks, each keeping only the rows of its partition's voxels, P from the
 * memory budget (rows × MERGE_BYTES_PER_ROW / budgetBytes) or set. Every voxel
 * lies in one partition with all its rows, and the merge of a voxel depends
 * only on its rows (sorted by content, so not on their order), so the merged
 * table — concatenated and sorted by fine key — is the one a single merge of
 * all rows gives, value for value, and so are the two half-data-set merges;
 * CC½ per shell is then computed once over them (src/merge shellStatistics).
 * Half data sets are random halves of the shots (`halfSplit` 'batch', the
 * default here: batch = shot).
 *
 * The Bragg table (I/P per spot, src/stills/bragg-table.ts) is divided by its
 * shot's scale b (I / (P · b)), rejected shots dropped, and merged the same way
 * (it is held in memory: one row per spot).
 */
import { InvalidValueError } from '../errors.ts';
import type { StageFileContent } from '../io/observation-file.ts';
import { mergeObservations, MERGE_DEFAULTS, reciprocalMetric, shellStatistics, type MergeResult, type ShellStats } from '../merge/index.ts';
import {
  concatObservations,
  emptyMerged,
  fineKey,
  MERGED_COLUMNS,
  observationCount,
  selectObservations,
  type MergedColumn,
  type MergedTable,
  type ObservationMeta,
  type ObservationTable,
} from '../pipeline/observations.ts';
import { applyScaleModel, type ScaleModel } from '../scaling/index.ts';
import type { StageContext } from '../stages/context.ts';
import { addMergedTable, mergeOptions, mergeSettingsAttrs, validateMergeSettings, type MergeSettings } from '../stages/merge.ts';
import { checkInt, checkPositive } from '../stages/settings-check.ts';
import { mixSeed } from '../util/random.ts';
import { placeRows, type ObservationChunks, type ShotScale } from './scale.ts';

export interface StillsMergeSettings extends MergeSettings {
  /** memory for the rows of one partition, bytes */
  budgetBytes: number;
  /** partitions; null or absent: from the budget */
  partitions?: number | null;
}

export const STILLS_MERGE_DEFAULTS: StillsMergeSettings = { ...MERGE_DEFAULTS, halfSplit: 'batch', budgetBytes: 512 * 2 ** 20, partitions: null };

/**
 * Bytes a row costs while its partition is merged: the observation row (53),
 * the scaled copy, and the merge's sort keys, order, values, weights and
 * include flags (src/merge) — a stated upper estimate.
 */
export const MERGE_BYTES_PER_ROW = 256;

const PARTITION_SEED = 0x5ca1ab1e;

export interface StillsMergeSummary {
  partitions: number;
  /** rows merged (of the shots in use, before outlier rejection) */
  rows: number;
  /** the most rows one partition held */
  peakPartitionRows: number;
  voxels: number;
  shotsUsed: number;
  shotsRejected: number;
  cchalf: number;
  braggCchalf: number | null;
  diffuse: MergeResult['stats'];
  bragg: MergeResult['stats'] | null;
}

export interface StillsMergeResult {
  content: StageFileContent;
  /** the merged diffuse table, its halves and the shell statistics (as mergeObservations returns them) */
  diffuse: Pick<MergeResult, 'merged' | 'halves' | 'shells' | 'overall' | 'stats'>;
  bragg: MergeResult | null;
  summary: StillsMergeSummary;
}

/** The partition (0 … P − 1) of row i's voxel. */
function partitionOf(t: ObservationTable, meta: ObservationMeta, i: number, P: number): number {
  const [n1, n2, n3] = meta.ndiv;
  return P === 1 ? 0 : mixSeed(PARTITION_SEED, t.H[i]! * n1 + t.dh[i]!, t.K[i]! * n2 + t.dk[i]!, t.L[i]! * n3 + t.dl[i]!) % P;
}

/** Merged tables concatenated and sorted by fine key (the order mergeObservations gives). */
function concatMergedSorted(parts: readonly MergedTable[], meta: ObservationMeta): MergedTable {
  const total = parts.reduce((n, p) => n + p.I.length, 0);
  const all = emptyMerged(total);
  let o = 0;
  for (const p of parts) {
    for (const name of Object.keys(MERGED_COLUMNS) as MergedColumn[]) (all[name] as { set(a: ArrayLike<number>, o: number): void }).set(p[name], o);
    o += p.I.length;
  }
  const [n1, n2, n3] = meta.ndiv;
  const keys = Float64Array.from({ length: total }, (_v, i) => fineKey(all.H[i]! * n1 + all.dh[i]!, all.K[i]! * n2 + all.dk[i]!, all.L[i]! * n3 + all.dl[i]!));
  const order = Uint32Array.from({ length: total }, (_v, i) => i).sort((a, b) => keys[a]! - keys[b]!);
  const out = emptyMerged(total);
  for (const name of Object.keys(MERGED_COLUMNS) as MergedColumn[]) {
    const src = all[name] as ArrayLike<number>;
    const dst = out[name] as { [i: number]: number };
    for (let i = 0; i < total; i++) dst[i] = src[order[i]!]!;
  }
  return out;
}

function shotTables(shots: readonly ShotScale[]): { used: Uint8Array; coordinate: Float64Array; b: Float64Array } {
  const n = shots.reduce((m, sh) => Math.max(m, sh.shot + 1), 0);
  const used = new Uint8Array(n);
  const coordinate = new Float64Array(n).fill(Number.NaN);
  const b = new Float64Array(n).fill(Number.NaN);
  for (const sh of shots) {
    used[sh.shot] = sh.status === 'used' ? 1 : 0;
    coordinate[sh.shot] = sh.coordinate;
    b[sh.shot] = sh.b;
  }
  return { used, coordinate, b };
}

/** The Bragg rows of the shots in use, I and σ divided by the shot's b (I / (P · b): the table holds I/P). */
export function scaleBraggRows(bragg: ObservationTable, shots: readonly ShotScale[]): ObservationTable {
  const { used, b } = shotTables(shots);
  const idx: number[] = [];
  for (let i = 0; i < observationCount(bragg); i++) {
    const shot = bragg.batch[i]!;
    if (shot < used.length && used[shot] === 1) idx.push(i);
  }
  const out = selectObservations(bragg, idx);
  for (let i = 0; i < idx.length; i++) {
    const k = b[out.batch[i]!]!;
    out.I[i] = out.I[i]! / k;
    out.sigma[i] = out.sigma[i]! / k;
  }
  return out;
}

/** The partitions' merged tables (and halves) joined in voxel order, with the shell statistics over them. */
function joinPartitions(merged: readonly MergedTable[], halfA: readonly MergedTable[], halfB: readonly MergedTable[], meta: ObservationMeta, s: StillsMergeSettings): { all: MergedTable; halves: [MergedTable, MergedTable]; shells: ShellStats[]; overall: ShellStats } {
  const all = concatMergedSorted(merged, meta);
  const halves: [MergedTable, MergedTable] = [concatMergedSorted(halfA, meta), concatMergedSorted(halfB, meta)];
  const { shells, overall } = shellStatistics(all, halves[0], halves[1], { shells: s.shells, ndiv: meta.ndiv, cellVolume: reciprocalMetric(meta.cell).volume });
  return { all, halves, shells, overall };
}

/** Adds one partition's merge counts to the totals. */
function addStats(total: MergeResult['stats'], part: MergeResult['stats']): void {
  total.observations += part.observations;
  total.invalid += part.invalid;
  total.merged += part.merged;
  total.rejected += part.rejected;
  total.rounds = Math.max(total.rounds, part.rounds);
  total.voxels += part.voxels;
  total.backend = part.backend;
}

/**
 * The Bragg merge: in the diffuse merge's P voxel-hash partitions when P > 1
 * (a voxel's rows all in one partition, so each voxel merges as in one pass;
 * the tables are joined in voxel order and the shell statistics taken over
 * them, as for the diffuse rows), so that its working memory too is a
 * partition's, not all the spots of all the shots at once.
 */
async function mergeBragg(ctx: StageContext, rows: ObservationTable, meta: ObservationMeta, opts: ReturnType<typeof mergeOptions>, s: StillsMergeSettings, P: number): Promise<MergeResult> {
  if (P === 1) return mergeObservations(ctx.engine, rows, meta, opts);
  const merged: MergedTable[] = [];
  const halfA: MergedTable[] = [];
  const halfB: MergedTable[] = [];
  const stats: MergeResult['stats'] = { observations: 0, invalid: 0, merged: 0, rejected: 0, rounds: 0, voxels: 0, backend: ctx.engine.backend };
  const partition = new Uint32Array(observationCount(rows));
  for (let i = 0; i < partition.length; i++) partition[i] = partitionOf(rows, meta, i, P);
  for (let p = 0; p < P; p++) {
    const idx: number[] = [];
    for (let i = 0; i < partition.length; i++) if (partition[i] === p) idx.push(i);
    const r = await mergeObservations(ctx.engine, selectObservations(rows, idx), meta, opts);
    merged.push(r.merged);
    halfA.push(r.halves[0]);
    halfB.push(r.halves[1]);
    addStats(stats, r.stats);
  }
  const { all, halves, shells, overall } = joinPartitions(merged, halfA, halfB, meta, s);
  return { merged: all, halves, shells, overall, stats };
}

/** Merges the scaled stills (see the module comment); the content is a `merge` stage file's. */
export async function mergeStills(
  ctx: StageContext,
  chunks: ObservationChunks,
  meta: ObservationMeta,
  scaled: { model: ScaleModel; shots: readonly ShotScale[]; pOrder: Float64Array },
  s: StillsMergeSettings,
  bragg?: ObservationTable,
): Promise<StillsMergeResult> {
  validateMergeSettings(s);
  checkPositive(s.budgetBytes, 'budgetBytes');
  if (s.partitions !== undefined && s.partitions !== null) checkInt(s.partitions, 'partitions', 1, 1_000_000);
  const { used, coordinate } = shotTables(scaled.shots);
  if (used.length > scaled.pOrder.length) throw new InvalidValueError(`the shot table names shot ${used.length - 1} but p_order has ${scaled.pOrder.length} shots`, { field: 'p_order' });
  let rows = 0;
  for (const sh of scaled.shots) if (sh.status === 'used') rows += sh.rows;
  const P = s.partitions ?? Math.max(1, Math.ceil((rows * MERGE_BYTES_PER_ROW) / s.budgetBytes));
  const opts = mergeOptions(s);
  const merged: MergedTable[] = [];
  const halfA: MergedTable[] = [];
  const halfB: MergedTable[] = [];
  const stats: MergeResult['stats'] = { observations: 0, invalid: 0, merged: 0, rejected: 0, rounds: 0, voxels: 0, backend: ctx.engine.backend };
  let peak = 0;
  const task = ctx.progress.start(`merge: ${P} partition${P === 1 ? '' : 's'} × ${chunks.count} chunks`, P * chunks.count, 'chunks');
  try {
    for (let p = 0; p < P; p++) {
      const parts: ObservationTable[] = [];
      for (let c = 0; c < chunks.count; c++) {
        const t = await chunks.read(c);
        const idx: number[] = [];
        for (let i = 0; i < observationCount(t); i++) {
          const shot = t.batch[i]!;
          if (shot < used.length && used[shot] === 1 && partitionOf(t, meta, i, P) === p) idx.push(i);
        }
        const part = selectObservations(t, idx);
        placeRows(part, coordinate, c);
        parts.push(applyScaleModel(part, scaled.model));
        task.update(p * chunks.count + c + 1);
      }
      const table = concatObservations(parts);
      parts.length = 0;
      peak = Math.max(peak, observationCount(table));
      const r = await mergeObservations(ctx.engine, table, meta, opts);
      merged.push(r.merged);
      halfA.push(r.halves[0]);
      halfB.push(r.halves[1]);
      addStats(stats, r.stats);
    }
  } finally {
    task.stop();
  }
  const { all, halves, shells, overall } = joinPartitions(merged, halfA, halfB, meta, s);
  ctx.log.log('info', `merge: diffuse: ${stats.voxels} voxels from ${stats.observations} rows in ${P} partition(s), CC½ ${overall.cchalf.toFixed(4)} (halves of the shots)`, { partitions: P, voxels: stats.voxels });
  const diffuse = { merged: all, halves, shells, overall, stats };
  let braggResult: MergeResult | null = null;
  if (bragg !== undefined) {
    braggResult = await mergeBragg(ctx, scaleBraggRows(bragg, scaled.shots), meta, opts, s, P);
    ctx.log.log('info', `merge: bragg: ${braggResult.stats.voxels} reflections from ${braggResult.stats.observations} spots, CC½ ${braggResult.overall.cchalf.toFixed(4)}`);
  }
  const shotsUsed = scaled.shots.filter((sh) => sh.status === 'used').length;
  const attrs: Record<string, string | number> = {
    command: 'merge',
    input: 'stills',
    input_stage: 'scale',
    ...mergeSettingsAttrs(s, ctx.engine.backend, ctx.engine.deviceName),
    partitions: P,
    budget_bytes: s.budgetBytes,
    shots_used: shotsUsed,
    shots_rejected: scaled.shots.length - shotsUsed,
  };
  const groups: NonNullable<StageFileContent['groups']> = {};
  const out: Record<string, MergedTable> = {};
  addMergedTable('diffuse', diffuse, out, groups, attrs);
  if (braggResult !== null) addMergedTable('bragg', braggResult, out, groups, attrs);
  const summary: StillsMergeSummary = {
    partitions: P,
    rows,
    peakPartitionRows: peak,
    voxels: stats.voxels,
    shotsUsed,
    shotsRejected: scaled.shots.length - shotsUsed,
    cchalf: overall.cchalf,
    braggCchalf: braggResult?.overall.cchalf ?? null,
    diffuse: stats,
    bragg: braggResult?.stats ?? null,
  };
  return { content: { stage: 'merge', meta, attrs, merged: out, groups }, diffuse, bragg: braggResult, summary };
}
