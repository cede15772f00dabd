/**
 * `diffract run` with a `stills:` config: serial stills from the indexing
 * results (DIALS .expt/.refl or a CrystFEL .stream) and their images to a
 * map, with the checkpoints, progress lines, summary and report of rotation
 * runs (src/run/runner.ts, machinery in src/run/run-context.ts).
 *
 *   import → extract (chunks of `chunk_shots` shots: 2D Bragg masks, diffuse
 *   rows per shot) → Bragg reference → p_order → scale → merge → absolute →
 *   export → report
 *
 * Layout of the output folder (besides the rotation runs' results):
 *
 *   stages/stills/chunks/c0003-<key>.h5   one chunk of shots (src/io/stills-chunk-file.ts)
 *   stages/stills/bragg-<key>.h5          the Bragg reference rows (I/P, σ/P)
 *   stages/scaled-…, merged-…, absolute-…, export-<key>/map.*  as rotation runs
 *
 * Checkpoints: a chunk's key holds the import (content hashes of the
 * .expt/.refl/.stream, the detector overrides), the extraction settings and
 * the fingerprints (path, size, time) of its shots' images, so a run killed
 * at any moment reuses every finished chunk, and a changed setting recomputes
 * exactly what depends on it.
 *
 * Bad shots: a shot that cannot be processed (its image missing or
 * unreadable, …) raises a ShotError naming it. With `on_bad_shot: stop` (the
 * default) the run stops with that one line; with `skip` it becomes a warning,
 * the shot is recorded as skipped in its chunk file, and the summary and the
 * report count and list it.
 *
 * Memory: the extraction holds one shot at a time and each chunk's rows while
 * it is written; scale and merge read the chunks one at a time, the merge in
 * partitions sized from the memory budget (`memory_mb`).
 */
import { existsSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join, relative } from 'node:path';
import { FileAccessError } from '../errors.ts';
import { defaultMemoryMb } from '../host/node-memory.ts';
import { readHdf5, type H5File } from '../io/hdf5.ts';
import { observationsOf, readStageFile, writeStageFile, type StageFileContent } from '../io/observation-file.ts';
import { readStillsChunk, writeStillsChunk, type SkippedShot } from '../io/stills-chunk-file.ts';
import { concatObservations, emptyObservations, observationCount, selectObservations, type ObservationMeta, type ObservationTable } from '../pipeline/observations.ts';
import type { StageContext } from '../stages/context.ts';
import { braggObservations } from '../stills/bragg-table.ts';
import { braggDensityFactors } from '../stills/bragg-density.ts';
import { correctionOptions } from '../stages/integrate.ts';
import { collectGarbage as collectV8Garbage } from '../host/node-memory.ts';
import { readCrystfelStills } from '../stills/crystfel.ts';
import { readDialsStills } from '../stills/dials.ts';
import { extractShots, ShotError, stillsGridMeta, type ShotInfo, type StillsExtractSettings } from '../stills/extract.ts';
import { ShotImages, shotLabel } from '../stills/images.ts';
import { mergeStills, type StillsMergeSettings } from '../stills/merge.ts';
import { allocateStillReflections, type StillsDataset, type StillShot } from '../stills/model.ts';
import { pOrderValues, type POrderSource } from '../stills/porder.ts';
import { readStillsScale, scaleStills, type ObservationChunks, type StillsScaleSettings } from '../stills/scale.ts';
import { sourceDate } from '../util/source-date.ts';
import { contentHash, hashKey, outputProblem, shortKey, type StageRecord } from './checkpoint.ts';
import type { POrderConfig, RunConfig, StillsConfig } from './config-types.ts';
import { absoluteAndExport, collectGarbage, log, openRun, publish, stage, stageContext, type Ctx } from './run-context.ts';
import type { RunnerOptions, RunSummary, StillsReportInputs, StillsRunSummary, StillsShotRow } from './run-types.ts';

/** The imported dataset and what identifies it. */
interface ImportedStills {
  data: StillsDataset;
  images: ShotImages;
  key: string;
  /** the indexing-result files (for the map's date) */
  files: string[];
}

function requireFile(path: string, field: string): void {
  if (!existsSync(path)) throw new FileAccessError('no such file', { file: path, field });
}

/** import: the indexing results, the detector overrides of the config, the images' reader. */
async function importStills(st: StillsConfig): Promise<ImportedStills> {
  let data: StillsDataset;
  let files: string[];
  let root: string | undefined;
  if (st.input.kind === 'dials') {
    requireFile(st.input.expt, 'stills.expt');
    if (st.input.refl !== null) requireFile(st.input.refl, 'stills.refl');
    data = await readDialsStills(st.input.expt, st.input.refl ?? undefined);
    files = st.input.refl !== null ? [st.input.expt, st.input.refl] : [st.input.expt];
  } else {
    requireFile(st.input.stream, 'stills.stream');
    data = await readCrystfelStills(st.input.stream);
    files = [st.input.stream];
    root = dirname(st.input.stream);
  }
  if (st.imageRoot !== null) root = st.imageRoot;
  for (const shot of data.shots) {
    const exp = shot.experiment;
    if (st.trustedRange !== null) exp.detector.panels.forEach((p) => Object.assign(p, { trustedRange: [st.trustedRange![0], st.trustedRange![1]] as const }));
    if (st.polarizationFraction !== null) Object.assign(exp.beam, { polarizationFraction: st.polarizationFraction });
  }
  const images = new ShotImages({ ...(root !== undefined ? { root } : {}), ...(st.hdf5Dataset !== null ? { dataset: st.hdf5Dataset } : {}) });
  const key = hashKey({ files: files.map(contentHash), trustedRange: st.trustedRange, polarizationFraction: st.polarizationFraction, root: root ?? null, dataset: st.hdf5Dataset });
  return { data, images, key, files };
}

/** What identifies a shot's image without reading it: path, size and time (or that it is missing). */
function imageFingerprint(images: ShotImages, shot: StillShot): unknown {
  if (shot.image === undefined) return null;
  const path = images.pathOf(shot);
  try {
    const st = statSync(path);
    return { path, index: shot.image.index, size: st.size, mtimeMs: st.mtimeMs };
  } catch {
    return { path, index: shot.image.index, missing: true };
  }
}

function fileFingerprint(path: string): unknown {
  try {
    const st = statSync(path);
    return { path, size: st.size, mtimeMs: st.mtimeMs };
  } catch {
    return { path, missing: true };
  }
}

/** The extraction settings, straight from the config. */
export function stillsExtractSettingsOf(cfg: RunConfig): StillsExtractSettings {
  const st = cfg.stills!;
  return {
    ndiv: [cfg.grid.ndiv[0], cfg.grid.ndiv[1], cfg.grid.ndiv[2]],
    mask: { ...st.braggMask, gain: cfg.detector.gain ?? 1 },
    staticMask: cfg.mask,
    detector: cfg.detector,
    corrections: cfg.corrections,
    exposure: st.exposure,
    spaceGroup: cfg.spaceGroup,
    unitCell: st.unitCell,
    background: st.background,
  };
}

/** The p_order source of the scaling library, from the config. */
function pOrderSourceOf(p: POrderConfig): POrderSource {
  return p.kind === 'csv' ? { kind: 'csv', file: p.file, column: p.column, key: p.key } : { kind: p.kind };
}

/** p_order in words (report axis, summary). */
function pOrderLabel(p: POrderConfig): string {
  switch (p.kind) {
    case 'index':
      return 'shot index';
    case 'timestamp':
      return 'timestamp';
    case 'diffuse':
      return 'total diffuse intensity';
    case 'pulse_energy':
      return 'pulse energy (eV)';
    case 'csv':
      return `${p.column} (${basename(p.file)})`;
  }
}

/** One chunk of shots: a unit of work, one file named by its key. */
interface ChunkUnit {
  index: number;
  shots: number[];
  key: string;
  file: string;
}

/** The chunk files as the scaling and merge read them: one at a time. */
class ChunkFiles implements ObservationChunks {
  constructor(private readonly files: readonly string[]) {}

  get count(): number {
    return this.files.length;
  }

  async read(i: number): Promise<ObservationTable> {
    const f = this.files[i];
    if (f === undefined) throw new RangeError(`chunk ${i} of ${this.files.length}`);
    return (await readStillsChunk(f)).diffuse;
  }
}

/** Extracts `shots` (in order); a ShotError of one shot is a skip (warning) under `skip`, else it stops the run. */
async function extractChunk(ctx: Ctx, sc: StageContext, imp: ImportedStills, settings: StillsExtractSettings, chunk: ChunkUnit): Promise<{ tables: ObservationTable[]; infos: ShotInfo[]; skipped: SkippedShot[] }> {
  const st = ctx.cfg.stills!;
  const tables: ObservationTable[] = [];
  const infos: ShotInfo[] = [];
  const skipped: SkippedShot[] = [];
  const done = new Set<number>();
  let remaining = chunk.shots;
  const inputs = { data: imp.data, images: imp.images, source: imp.data.source };
  while (remaining.length > 0) {
    try {
      for await (const o of extractShots(sc, inputs, settings, { shots: remaining })) {
        tables.push(o.diffuse);
        infos.push(o.info);
        done.add(o.shot);
      }
      remaining = [];
    } catch (err) {
      if (!(err instanceof ShotError) || st.onBadShot === 'stop' || !remaining.includes(err.shot)) throw err;
      const shot = imp.data.shots[err.shot];
      log(ctx, 'warn', `extract: skipping ${shot !== undefined ? shotLabel(shot) : `shot ${err.shot}`}: ${err.message}`, { stage: 'extract', skippedShot: err.shot });
      skipped.push({ shot: err.shot, reason: err.message });
      const bad = err.shot;
      remaining = remaining.filter((s) => !done.has(s) && s !== bad);
    }
  }
  return { tables, infos, skipped };
}

/** Whether a chunk file records skipped shots (its root attribute `skipped`; the rows are not read). */
function chunkSkipped(path: string): Promise<boolean> {
  return readHdf5(path, (file: H5File) => 'skipped' in (file.attrs as Record<string, unknown>));
}

interface Extracted {
  chunks: ChunkUnit[];
  infos: ShotInfo[];
  skipped: SkippedShot[];
  reused: number;
  key: string;
}

/** extract: every chunk of shots, each its own checkpoint file; finished chunks of an earlier run are reused. */
async function extractStage(ctx: Ctx, imp: ImportedStills, meta: ObservationMeta, settings: StillsExtractSettings): Promise<Extracted> {
  const st = ctx.cfg.stills!;
  const dir = join(ctx.stagesDir, 'stills', 'chunks');
  mkdirSync(dir, { recursive: true });
  const backgroundKey = st.background === null ? null : st.background.images.map(fileFingerprint);
  const settingsKey = hashKey({ import: imp.key, extract: settings, background: backgroundKey, meta });
  const order = imp.data.shots.map((s) => s.index);
  const chunks: ChunkUnit[] = [];
  for (let c = 0; c * st.chunkShots < order.length; c++) {
    const shots = order.slice(c * st.chunkShots, (c + 1) * st.chunkShots);
    const key = hashKey({ settings: settingsKey, shots, images: shots.map((i) => imageFingerprint(imp.images, imp.data.shots[i]!)) });
    chunks.push({ index: c, shots, key, file: join(dir, `c${String(c).padStart(4, '0')}-${shortKey(key)}.h5`) });
  }
  // the policy enters the stage's key (not the chunks'): under 'stop' a chunk that skipped shots under 'skip' is recomputed, so the bad shot stops the run
  const key = hashKey({ stage: 'extract', chunks: chunks.map((c) => c.key), onBadShot: st.onBadShot });
  let reused = 0;
  const rec = await stage(ctx, 'extract', key, async () => {
    for (const c of chunks) {
      if (!existsSync(c.file)) continue;
      const why = outputProblem(c.file);
      if (why !== null) {
        log(ctx, 'warn', `extract: chunk ${c.index} of an earlier run, ${relative(ctx.cfg.output, c.file)}, cannot be used (${why}); recomputing`, { stage: 'extract', chunk: c.index });
        rmSync(c.file, { force: true });
      } else if (st.onBadShot === 'stop' && (await chunkSkipped(c.file))) {
        log(ctx, 'info', `extract: chunk ${c.index} of an earlier run skipped bad shots (on_bad_shot: skip); recomputing it under on_bad_shot: stop`, { stage: 'extract', chunk: c.index });
        rmSync(c.file, { force: true });
      }
    }
    const todo = chunks.filter((c) => !existsSync(c.file));
    reused = chunks.length - todo.length;
    if (reused > 0) log(ctx, 'info', `extract: ${reused} of ${chunks.length} chunks finished in an earlier run, not recomputed`, { stage: 'extract', reusedChunks: reused });
    const sc = todo.length > 0 ? await stageContext(ctx) : null;
    // the shots of the chunks computed now; those of reused chunks are read back from their files
    const computed = new Map<number, { infos: ShotInfo[]; skipped: SkippedShot[] }>();
    for (const c of todo) {
      const r = await extractChunk(ctx, sc!, imp, settings, c);
      computed.set(c.index, { infos: r.infos, skipped: r.skipped });
      await writeStillsChunk(c.file, { meta, chunk: c.index, diffuse: r.tables.length > 0 ? concatObservations(r.tables) : emptyObservations(0), shots: r.infos, skipped: r.skipped });
      const rows = r.infos.reduce((s, i) => s + i.rows, 0);
      log(ctx, 'info', `extract: chunk ${c.index + 1} of ${chunks.length} (shots ${c.shots[0]}…${c.shots[c.shots.length - 1]}): ${r.infos.length} shots, ${r.skipped.length} skipped, ${rows} rows written`, {
        stage: 'extract',
        chunk: c.index,
        shots: r.infos.length,
        skipped: r.skipped.length,
        rows,
      });
    }
    const infos: ShotInfo[] = [];
    const skipped: SkippedShot[] = [];
    for (const c of chunks) {
      let shots = computed.get(c.index);
      if (shots === undefined) {
        const k = await readStillsChunk(c.file);
        shots = { infos: k.shots, skipped: k.skipped ?? [] };
      }
      infos.push(...shots.infos);
      skipped.push(...shots.skipped);
    }
    return { outputs: chunks.map((c) => c.file), summary: { infos, skipped, reused } };
  });
  const infos = rec.summary.infos as ShotInfo[];
  const skipped = rec.summary.skipped as SkippedShot[];
  return { chunks, infos, skipped, reused: ctx.times[ctx.times.length - 1]?.skipped === true ? chunks.length : Number(rec.summary.reused), key };
}

/** Bins of the partiality histogram in the report. */
const PARTIALITY_BINS = 20;

/** The Bragg reference: imported reflections as I/P, σ/P on the common grid (none when the input has no reflections). */
async function braggStage(ctx: Ctx, imp: ImportedStills, meta: ObservationMeta, skipped: readonly SkippedShot[]): Promise<StageRecord | null> {
  const st = ctx.cfg.stills!;
  if (imp.data.reflections.n === 0) return null;
  const settings = { partialityThreshold: st.bragg.threshold, partialityModel: st.bragg.model, intensity: st.bragg.intensity };
  const key = hashKey({ import: imp.key, meta, bragg: settings, units: 'density', corrections: ctx.cfg.corrections, exposure: st.exposure, gain: ctx.cfg.detector.gain, skipped: skipped.map((s) => s.shot) });
  return stage(ctx, 'bragg', key, async () => {
    const out = join(ctx.stagesDir, 'stills', `bragg-${shortKey(key)}.h5`);
    // I/P is a slice of the lattice point in raw counts: as densities of its subvoxel in the diffuse rows' units (src/stills/bragg-density.ts)
    const co = correctionOptions(ctx.cfg.corrections);
    const factors = braggDensityFactors(imp.data, meta, { model: settings.partialityModel, exposure: st.exposure ?? 1, corrections: co }).map((f) => f / (ctx.cfg.detector.gain ?? 1));
    const r = braggObservations(imp.data, meta, settings, factors);
    // the rows of skipped shots have no scale: left out
    const skip = new Set(skipped.map((s) => s.shot));
    let table = r.table;
    if (skip.size > 0) {
      const keep: number[] = [];
      for (let i = 0; i < observationCount(table); i++) if (!skip.has(table.batch[i]!)) keep.push(i);
      table = selectObservations(table, keep);
    }
    await writeStageFile(out, { stage: 'correct', meta, attrs: { content: 'stills bragg reference' }, observations: { bragg: table } });
    const counts = new Array<number>(PARTIALITY_BINS).fill(0);
    for (const p of r.partiality) if (Number.isFinite(p)) counts[Math.min(PARTIALITY_BINS - 1, Math.max(0, Math.floor(p * PARTIALITY_BINS)))]! += 1;
    return { outputs: [out], summary: { used: observationCount(table), lowPartiality: r.lowPartiality, invalid: r.invalid, partialityCounts: counts } };
  });
}

/** The run summary's figures of a merge stage file's content (attributes as the merge stage writes them). */
function mergedFacts(content: StageFileContent): Record<string, unknown> {
  const a = content.attrs ?? {};
  const n = (k: string): number | null => (typeof a[k] === 'number' ? (a[k] as number) : null);
  return {
    voxels: n('diffuse_voxels') ?? content.merged?.diffuse?.I.length ?? 0,
    observations: n('diffuse_observations') ?? 0,
    cchalf: n('diffuse_cchalf') ?? content.groups?.cchalf?.attrs?.cchalf_overall ?? Number.NaN,
    cchalfBragg: n('bragg_cchalf'),
    backend: typeof a.backend === 'string' ? a.backend : null,
    adapter: typeof a.adapter === 'string' ? a.adapter : null,
  };
}

/** A number from a checkpoint record's JSON (NaN is stored as null). */
const num = (v: unknown): number => (typeof v === 'number' ? v : Number.NaN);

function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const n = s.length;
  if (n === 0) return Number.NaN;
  return n % 2 === 1 ? s[(n - 1) / 2]! : 0.5 * (s[n / 2 - 1]! + s[n / 2]!);
}

/** The newest modification time of the run's inputs (indexing results and images), for the map's date. */
function runDate(imp: ImportedStills): string {
  let newest = 0;
  for (const f of imp.files) newest = Math.max(newest, statSync(f).mtimeMs);
  for (const shot of imp.data.shots) {
    const fp = imageFingerprint(imp.images, shot) as { mtimeMs?: number } | null;
    if (fp?.mtimeMs !== undefined) newest = Math.max(newest, fp.mtimeMs);
  }
  return sourceDate(newest);
}

/** Runs a stills config (see the module comment); returns the summary (written to summary.json by the caller). */
export async function runStills(cfg: RunConfig, opts: RunnerOptions): Promise<RunSummary> {
  const t0 = performance.now();
  const st = cfg.stills;
  if (st === null) throw new Error('runStills needs a config with stills');
  const ctx = openRun(cfg, opts);
  let imp: ImportedStills | null = null;
  try {
    const ti = performance.now();
    imp = await importStills(st);
    const data = imp.data;
    // the import's transient buffers (the whole .refl and .expt as read and decoded: tens of MB at thousands of
    // shots) die here; collected now, before extraction allocates, so they do not raise every later phase
    collectV8Garbage();
    ctx.times.push({ stage: 'import', seconds: (performance.now() - ti) / 1000, skipped: false });
    log(ctx, 'info', `import: ${data.shots.length} shots, ${data.reflections.n} reflections from ${data.source}`, { stage: 'import', shots: data.shots.length });
    mkdirSync(join(ctx.stagesDir, 'stills'), { recursive: true });

    const settings = stillsExtractSettingsOf(cfg);
    const meta = stillsGridMeta(data, settings);
    const ex = await extractStage(ctx, imp, meta, settings);
    const bragg = await braggStage(ctx, imp, meta, ex.skipped);
    // the imported reflections (tens of bytes per spot, so growing with the shot count) are not read after the
    // extraction (observed-spot masks) and the Bragg reference: dropped, so that scale and merge do not hold them
    data.reflections = allocateStillReflections(0);
    collectV8Garbage();

    const pOrder = await pOrderValues(pOrderSourceOf(st.pOrder), data, ex.infos);
    const chunks = new ChunkFiles(ex.chunks.map((c) => c.file));
    const scaleSettings: StillsScaleSettings = st.scaling;
    // the Bragg reference (I/P) is read once, for the Bragg term of the b fit and the Bragg merge
    let braggTable: ObservationTable | undefined;
    const braggRows = async (): Promise<ObservationTable | undefined> => {
      if (bragg === null) return undefined;
      braggTable ??= observationsOf(await readStageFile(bragg.outputs[0]!), 'bragg', bragg.outputs[0]!);
      return braggTable;
    };
    const scaleKey = hashKey({ extract: ex.key, bragg: bragg?.key ?? null, pOrder: Array.from(pOrder), scaling: scaleSettings, csv: st.pOrder.kind === 'csv' ? contentHash(st.pOrder.file) : null });
    const scaled = await stage(ctx, 'scale', scaleKey, async () => {
      const out = join(ctx.stagesDir, `scaled-${shortKey(scaleKey)}.h5`);
      const r = await scaleStills(await stageContext(ctx), chunks, meta, pOrder, scaleSettings, await braggRows());
      await writeStageFile(out, r.content);
      return { outputs: [out], summary: { used: r.summary.used, rejected: r.summary.rejected, chi2: r.summary.chi2, fits: r.summary.fits } };
    });
    const scaledFile = scaled.outputs[0]!;
    const { model, shots: shotScales } = readStillsScale(await readStageFile(scaledFile), scaledFile);

    const memoryMb = opts.memoryMb ?? cfg.memoryMb ?? defaultMemoryMb();
    // CC½ from random halves of the shots; the partitions (from the budget) do not change the result
    const mergeSettings: StillsMergeSettings = { ...cfg.merge, halfSplit: 'batch', budgetBytes: memoryMb * 1024 * 1024, partitions: null };
    const mergeKey = hashKey({ scale: scaleKey, merge: { ...cfg.merge, halfSplit: 'batch' } });
    const merged = await stage(ctx, 'merge', mergeKey, async () => {
      const out = join(ctx.stagesDir, `merged-${shortKey(mergeKey)}.h5`);
      const r = await mergeStills(await stageContext(ctx), chunks, meta, { model, shots: shotScales, pOrder }, mergeSettings, await braggRows());
      await writeStageFile(out, r.content);
      return { outputs: [out], summary: mergedFacts(r.content) };
    });

    const maps = await absoluteAndExport(ctx, mergeKey, merged.outputs[0]!, runDate(imp));

    // the shots: used / rejected by the scaling / skipped
    const infoOf = new Map(ex.infos.map((i) => [i.shot, i]));
    const scaleOf = new Map(shotScales.map((s) => [s.shot, s]));
    const skippedOf = new Map(ex.skipped.map((s) => [s.shot, s]));
    const perShot: StillsShotRow[] = data.shots.map((shot) => {
      const sk = skippedOf.get(shot.index);
      const info = infoOf.get(shot.index);
      const sc = scaleOf.get(shot.index);
      if (sk !== undefined || info === undefined) return { shot: shot.index, identifier: shot.identifier, status: 'skipped', reason: sk?.reason ?? 'not extracted', pOrder: Number.NaN, b: Number.NaN, maskedFraction: Number.NaN, rows: 0 };
      const used = sc !== undefined && sc.status === 'used';
      return { shot: shot.index, identifier: shot.identifier, status: used ? 'used' : 'rejected', reason: used ? '' : (sc?.reason ?? 'not scaled'), pOrder: sc?.pOrder ?? pOrder[shot.index] ?? Number.NaN, b: sc?.b ?? Number.NaN, maskedFraction: info.maskedFraction, rows: info.rows };
    });
    const usedB = perShot.filter((r) => r.status === 'used' && Number.isFinite(r.b)).map((r) => r.b);
    const med = median(usedB);
    const stillsSummary: StillsRunSummary = {
      source: data.source,
      shots: data.shots.length,
      used: perShot.filter((r) => r.status === 'used').length,
      rejected: perShot.filter((r) => r.status === 'rejected').length,
      skipped: perShot.filter((r) => r.status === 'skipped').length,
      chunks: ex.chunks.length,
      chunksReused: ex.reused,
      pOrder: pOrderLabel(st.pOrder),
      scaleRange: usedB.length > 0 && med > 0 ? [Math.min(...usedB) / med, Math.max(...usedB) / med] : null,
      bragg: bragg === null ? null : { used: Number(bragg.summary.used), lowPartiality: Number(bragg.summary.lowPartiality), invalid: Number(bragg.summary.invalid) },
      perShot,
    };

    const m = merged.summary;
    const summary: RunSummary = {
      config: cfg.source,
      output: cfg.output,
      backend: String(m.backend ?? (ex.infos.some((i) => i.backend === 'gpu') ? 'gpu' : 'cpu')),
      adapter: String(m.adapter ?? ''),
      sweeps: [],
      observations: Number(m.observations),
      voxels: Number(m.voxels),
      cchalf: num(m.cchalf),
      cchalfBragg: m.cchalfBragg === null || m.cchalfBragg === undefined ? null : num(m.cchalfBragg),
      scaleFactor: maps.absolute !== null ? Number(maps.absolute.summary.scaleFactor) : null,
      stages: ctx.times,
      outputs: [],
      stageFiles: { scale: scaled.outputs[0]!, merge: merged.outputs[0]!, ...(bragg !== null ? { bragg: bragg.outputs[0]! } : {}), ...(maps.absolute !== null ? { absolute: maps.absolute.outputs[0]! } : {}) },
      shards: null,
      stills: stillsSummary,
      seconds: 0,
    };

    const results = maps.exported.outputs.map((f) => ({ from: f, to: join(cfg.output, basename(f)) }));
    if (cfg.report && opts.report !== undefined) {
      const partialityCounts = bragg === null ? null : (bragg.summary.partialityCounts as number[]);
      const stillsReport: StillsReportInputs = {
        pOrderLabel: stillsSummary.pOrder,
        shots: perShot,
        partiality: partialityCounts === null ? null : { edges: Array.from({ length: PARTIALITY_BINS + 1 }, (_v, i) => i / PARTIALITY_BINS), counts: partialityCounts, threshold: st.bragg.threshold },
      };
      const reportKey = hashKey({ export: maps.exportKey, scale: scaleKey, merge: mergeKey, absolute: maps.absolute !== null ? maps.absoluteKey : null, stills: stillsReport, counts: [stillsSummary.used, stillsSummary.rejected, stillsSummary.skipped] });
      const rep = await stage(ctx, 'report', reportKey, async () => {
        const out = join(ctx.stagesDir, `report-${shortKey(reportKey)}.html`);
        await opts.report!({ path: out, integrated: [], scaled: scaled.outputs[0]!, merged: merged.outputs[0]!, absolute: maps.absolute?.outputs[0] ?? null, mapPrefix: maps.mapPrefix, summary: { ...summary, stages: [], seconds: 0 }, stills: stillsReport });
        return { outputs: [out], summary: {} };
      });
      results.push({ from: rep.outputs[0]!, to: join(cfg.output, 'report.html') });
    }
    publish(results);
    summary.outputs = results.map((r) => r.to);
    for (const c of ex.chunks) ctx.keep.add(c.file);
    const removed = collectGarbage(ctx.stagesDir, ctx.keep);
    if (removed > 0) log(ctx, 'info', `removed ${removed} stage file(s) of earlier settings`);
    summary.seconds = (performance.now() - t0) / 1000;
    return summary;
  } finally {
    await imp?.images.close();
    ctx.engine?.destroy();
  }
}
