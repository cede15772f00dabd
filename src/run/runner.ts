/**
 * `diffract run`: the whole rotation-series pipeline from a config, with
 * checkpoints (src/run/checkpoint.ts). A config with `stills:` goes to the
 * serial-stills path (src/run/stills-runner.ts); the machinery both share is
 * in src/run/run-context.ts.
 *
 * Stages, in order (modules of src/stages/, each also runnable alone as its
 * own command; the settings come straight from the config):
 *
 *   import → mask → filter+integrate (wedge by wedge) → correct   (per sweep)
 *   → combine → scale → merge → absolute → export → report       (all sweeps)
 *
 * Layout of the output folder:
 *
 *   stages/<sweep>/wedges/w0003-<key>.h5   one wedge (integrate file layout)
 *   stages/<sweep>/mask-<key>.npy          the static pixel mask (1 = usable)
 *   stages/<sweep>/integrated-<key>.h5     the wedges together (docs/tables.md)
 *   stages/<sweep>/corrected-<key>.h5      stage 'correct' (sweep = its index)
 *   stages/combined-<key>.h5, scaled-…, merged-…, absolute-…, export-<key>/map.*
 *   .diffract/checkpoints/<stage>.json     the records of finished stages
 *   map.nxs, map.ccp4, map_h0.png, map_k0.png, map_l0.png, report.html
 *                                          the results, published together at the end
 *   summary.json                           counts, CC½, scale factor, times
 *   shards/shard-<I>-of-<N>.json           the record of each shard task (`runShard`)
 *
 * Shards (`runShard`, `--shard I/N`, docs/scale-out.md): the wedges of every
 * sweep are the units of work; shard I of N integrates only its units
 * (src/run/shards.ts) and stops, and `runPipeline` then finds them done.
 *
 * Each result is written atomically under a name holding its key, so a run
 * killed at any moment resumes where it stopped, a changed setting recomputes
 * exactly the stages downstream of it, and the published results of an
 * earlier complete run stay as they were until a new run completes.
 */
import { existsSync, mkdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { basename, join, relative } from 'node:path';
import { FileAccessError, IncompleteShardsError, MissingFieldError, UsageError } from '../errors.ts';
import { loadExperiments, pickExperiment } from '../geometry/load.ts';
import type { Experiment } from '../geometry/model.ts';
import { tempPathFor } from '../io/atomic-file.ts';
import { assembleWedgeFiles, wedgeFileProblem, writeWedgeFile } from '../io/integrate-file.ts';
import { writeNpy } from '../io/npy.ts';
import { readStageFile, writeStageFile } from '../io/observation-file.ts';
import { readVoxelTables } from '../io/voxel-tables.ts';
import { combineStage, COMBINE_DEFAULTS } from '../stages/combine.ts';
import { SILENT_PROGRESS, type StageContext } from '../stages/context.ts';
import { correctStage, type CorrectSettings } from '../stages/correct.ts';
import { integrateAttributes, integrateWedges, prepareIntegrate, type IntegrateSettings, type PreparedIntegration } from '../stages/integrate.ts';
import { mergeStage, type MergeSettings } from '../stages/merge.ts';
import { scaleStage, type ScaleSettings } from '../stages/scale.ts';
import { sourceDate } from '../util/source-date.ts';
import { contentHash, hashKey, outputProblem, shortKey } from './checkpoint.ts';
import { describeTask, putShardRecord, readShardRecords, startShardRecord, summariseShardTasks, type ShardTaskRecord, type ShardTasksSummary } from './shard-records.ts';
import { assignShards, shardOfUnits, type ShardSpec, type WorkUnit } from './shards.ts';
import type { RunConfig, SweepConfig } from './config-types.ts';
import { absoluteAndExport, collectGarbage, cpuContext, log, openRun, publish, stage, stageContext, type Ctx } from './run-context.ts';
import type { RunnerOptions, RunSummary, SweepSummary } from './run-types.ts';
import { runStills } from './stills-runner.ts';
import { openSweepSource, type SweepSource } from './sources.ts';

export { exportSettingsOf } from './run-context.ts';
export type { ReportInputs, RunnerOptions, RunSummary, StageTime, StillsReportInputs, StillsRunSummary, StillsShotRow, SweepSummary } from './run-types.ts';

/** The typed settings of each stage, straight from the config. */
export function integrateSettingsOf(cfg: RunConfig): IntegrateSettings {
  return { grid: cfg.grid, filter: cfg.filter, mask: cfg.mask, detector: cfg.detector, corrections: cfg.corrections };
}

export function correctSettingsOf(cfg: RunConfig, sweep: number): CorrectSettings {
  const sw = cfg.sweeps[sweep]!;
  return { exposure: sw.exposure, backgroundExposure: sw.backgroundExposure, spaceGroup: cfg.spaceGroup, sweep };
}

function defaultDecodeWorkers(): number {
  return Math.min(4, Math.max(1, availableParallelism() - 1));
}

interface ImportedSweep {
  index: number;
  cfg: SweepConfig;
  exp: Experiment;
  source: SweepSource;
  background: SweepSource | null;
  key: string;
}

/** import: geometry, frames, and the checks that must pass before any work. */
async function importSweep(ctx: Ctx, index: number, sw: SweepConfig): Promise<ImportedSweep> {
  const field = `sweeps[${index}]`;
  if (!existsSync(sw.expt)) throw new FileAccessError('no such file or folder', { file: sw.expt, field: `${field}.expt` });
  const exp = pickExperiment(await loadExperiments(sw.expt), sw.experiment);
  if (exp.scan === undefined || exp.goniometer === undefined) throw new MissingFieldError('a rotation sweep needs a scan and a goniometer', { file: sw.expt, field: `${field}.expt` });
  if (exp.crystal === undefined) throw new MissingFieldError('the experiment has no crystal model (index it first)', { file: sw.expt, field: `${field}.expt` });
  const source = await openSweepSource(sw.images, exp, sw.expt, `${field}.images`, true, ctx.opts.decodeWorkers ?? defaultDecodeWorkers());
  const background = sw.background === null ? null : await openSweepSource(sw.background, exp, sw.expt, `${field}.background`, false);
  const key = hashKey({ expt: contentHash(sw.expt), experiment: sw.experiment, frames: source.fingerprint(), background: background?.fingerprint() ?? null });
  return { index, cfg: sw, exp, source, background, key };
}

interface IntegratedSweep {
  file: string;
  key: string;
  summary: SweepSummary;
}

/**
 * Removes the wedge files of an earlier run that cannot be reused (cut short by
 * a full disk, overwritten, another layout), so they are recomputed; one
 * warning names them all.
 */
async function dropUnusableWedges(ctx: Ctx, stageName: string, wedgeFiles: readonly { w: { index: number }; file: string }[]): Promise<void> {
  const bad: string[] = [];
  for (const wf of wedgeFiles) {
    if (!existsSync(wf.file)) continue;
    const why = await wedgeFileProblem(wf.file, wf.w.index);
    if (why === null) continue;
    bad.push(`${basename(wf.file)} (${why})`);
    rmSync(wf.file, { force: true });
  }
  if (bad.length > 0) {
    log(ctx, 'warn', `${stageName}: ${bad.length} wedge file(s) of an earlier run cannot be used and are recomputed: ${bad.join('; ')}`, { stage: stageName, unusableWedges: bad.length });
  }
}

/** One wedge of a sweep: a unit of work, one file named by its key. */
interface WedgeUnit {
  w: PreparedIntegration['wedges'][number];
  key: string;
  file: string;
  /** the unit id for shards: `<sweep>/w0003` */
  id: string;
}

/** A sweep ready to integrate: its prepared setup, its wedges and their keys (nothing computed yet). */
interface SweepPlan {
  sw: ImportedSweep;
  dir: string;
  prepared: PreparedIntegration;
  maskKey: string;
  maskedPixelFraction: number;
  wedges: WedgeUnit[];
  integratedKey: string;
  stageName: string;
}

/** The static mask, the wedges and every key of one sweep. */
function planSweep(ctx: Ctx, sw: ImportedSweep): SweepPlan {
  const dir = join(ctx.stagesDir, sw.cfg.name);
  const wedgeDir = join(dir, 'wedges');
  mkdirSync(wedgeDir, { recursive: true });
  const settings = integrateSettingsOf(ctx.cfg);
  const prepared = prepareIntegrate(
    { experiment: sw.exp, exptPath: sw.cfg.expt, frames: sw.source, ...(sw.background !== null ? { background: sw.background } : {}) },
    settings,
  );
  const setup = prepared.setup;
  const maskSettings = { mask: settings.mask, detector: settings.detector, maskFile: settings.mask.file === null ? null : contentHash(settings.mask.file) };
  const maskKey = hashKey({ import: sw.key, ...maskSettings });
  const usable = setup.staticMask.valid.reduce((s, v) => s + v, 0);
  // the wedge key: the settings that change results (the batch size does not)
  const g = settings.grid;
  const wedgeSettings = { mask: maskKey, ndiv: g.ndiv, wedgeDeg: g.wedgeDeg, wedgeFrames: g.wedgeFrames, filter: settings.filter, corrections: settings.corrections, detector: settings.detector };
  const wedges = prepared.wedges.map((w) => {
    const key = hashKey({ integrate: wedgeSettings, wedge: w, wedgeFrames: setup.wedgeFrames });
    const name = `w${String(w.index).padStart(4, '0')}`;
    return { w, key, file: join(wedgeDir, `${name}-${shortKey(key)}.h5`), id: `${sw.cfg.name}/${name}` };
  });
  const integratedKey = hashKey({ stage: 'integrate', wedges: wedges.map((w) => w.key) });
  return { sw, dir, prepared, maskKey, maskedPixelFraction: 1 - usable / setup.staticMask.valid.length, wedges, integratedKey, stageName: `integrate.${sw.cfg.name}` };
}

/** mask: the static mask of the detector, written for inspection. */
async function maskStage(ctx: Ctx, plan: SweepPlan): Promise<void> {
  const { sw, prepared } = plan;
  const valid = prepared.setup.staticMask.valid;
  await stage(ctx, `mask.${sw.cfg.name}`, plan.maskKey, async () => {
    const p = join(plan.dir, `mask-${shortKey(plan.maskKey)}.npy`);
    const panel = sw.exp.detector.panels[0];
    const shape = sw.exp.detector.panels.length === 1 && panel !== undefined ? [panel.imageSize[1], panel.imageSize[0]] : [valid.length];
    const tmp = tempPathFor(p);
    writeNpy(tmp, Uint8Array.from(valid), shape);
    renameSync(tmp, p);
    return { outputs: [p], summary: { maskedPixelFraction: plan.maskedPixelFraction, usablePixels: valid.reduce((s, v) => s + v, 0) } };
  });
}

/**
 * Integrates `units` (wedges of `plan`) and writes each wedge file as it
 * comes; returns the frames done. With several devices (`opts.engines`) the
 * units are spread over them by frames (as shards are) and integrated at the
 * same time; each wedge's result does not depend on the device.
 */
async function computeWedges(ctx: Ctx, plan: SweepPlan, units: readonly WedgeUnit[]): Promise<number> {
  if (units.length === 0) return 0;
  const engines = ctx.opts.engines ?? [];
  if (engines.length <= 1) return computeWedgesOn(ctx, await stageContext(ctx), plan, units, null);
  const groups = assignShards(units.map((u) => ({ id: u.id, frames: u.w.count })), engines.length);
  const frames = await Promise.all(
    groups.map((ids, k) => {
      const mine = units.filter((u) => ids.includes(u.id));
      return computeWedgesOn(ctx, { engine: engines[k]!, log: ctx.logger, progress: ctx.opts.progress ?? SILENT_PROGRESS }, plan, mine, k);
    }),
  );
  return frames.reduce((a, b) => a + b, 0);
}

async function computeWedgesOn(ctx: Ctx, sc: StageContext, plan: SweepPlan, units: readonly WedgeUnit[], device: number | null): Promise<number> {
  if (units.length === 0) return 0;
  const name = plan.sw.cfg.name;
  const byIndex = new Map(units.map((wf) => [wf.w.index, wf]));
  const on = device === null ? '' : ` on device ${device}`;
  let frames = 0;
  for await (const w of integrateWedges(sc, plan.prepared, { wedges: units.map((wf) => wf.w), label: `integrate ${name}${on}` })) {
    const wf = byIndex.get(w.result.wedge.index)!;
    await writeWedgeFile(wf.file, w.included, w.excluded, w.row, integrateAttributes(plan.prepared, 'integrate', w.result.backend));
    frames += wf.w.count;
    log(ctx, 'info', `integrate ${name}: wedge ${wf.w.index} (frames ${wf.w.first}…${wf.w.first + wf.w.count - 1}) written${on}`, { stage: plan.stageName, wedge: wf.w.index, ...(device !== null ? { device } : {}) });
  }
  return frames;
}

/** filter + integrate of one sweep, wedge by wedge, then the wedges into one integrate file. */
async function integrateSweep(ctx: Ctx, plan: SweepPlan): Promise<IntegratedSweep> {
  const { sw, stageName, integratedKey, maskedPixelFraction } = plan;
  const wedgeFiles = plan.wedges;
  const dir = plan.dir;
  await maskStage(ctx, plan);
  const t0 = performance.now();
  const assembled = ctx.store.done(stageName, integratedKey);
  if (assembled === null) await dropUnusableWedges(ctx, stageName, wedgeFiles);
  const todo = wedgeFiles.filter((w) => !existsSync(w.file));
  const reused = wedgeFiles.length - todo.length;
  let framesDone = 0;
  if (assembled === null && todo.length > 0) {
    if (reused > 0) {
      log(ctx, 'info', `integrate ${sw.cfg.name}: ${reused} of ${wedgeFiles.length} wedges finished in an earlier run, not recomputed (${wedgeFiles.filter((w) => existsSync(w.file)).map((w) => w.w.index).join(', ')})`, {
        stage: stageName,
        reusedWedges: reused,
      });
    }
    framesDone = await computeWedges(ctx, plan, todo);
  }
  const rec = await stage(ctx, stageName, integratedKey, async () => {
    const out = join(dir, `integrated-${shortKey(integratedKey)}.h5`);
    const totals = await assembleWedgeFiles(
      out,
      wedgeFiles.map((wf) => wf.file),
    );
    return {
      outputs: [out],
      summary: {
        frames: sw.source.length,
        wedges: wedgeFiles.length,
        filterExcludedFraction: totals.occupied > 0 ? totals.excluded / totals.occupied : 0,
        countsIncluded: totals.includedCounts,
        countsExcluded: totals.excludedCounts,
      },
    };
  });
  for (const wf of wedgeFiles) ctx.keep.add(wf.file);
  const last = ctx.times[ctx.times.length - 1];
  if (last !== undefined && framesDone > 0) {
    last.frames = framesDone;
    last.seconds = (performance.now() - t0) / 1000;
  }
  const s = rec.summary;
  return {
    file: rec.outputs[0]!,
    key: integratedKey,
    summary: {
      name: sw.cfg.name,
      frames: Number(s.frames),
      wedges: Number(s.wedges),
      wedgesReused: assembled !== null ? wedgeFiles.length : reused,
      maskedPixelFraction,
      filterExcludedFraction: Number(s.filterExcludedFraction),
      countsIncluded: Number(s.countsIncluded),
      countsExcluded: Number(s.countsExcluded),
      observations: 0,
    },
  };
}

/**
 * The date stamped into the map file: SOURCE_DATE_EPOCH when set, else the
 * newest modification time of the run's inputs (the geometry and the frames),
 * so that reruns and resumed runs write the same bytes.
 */
function runDate(sweeps: readonly ImportedSweep[]): string {
  let newest = 0;
  const visit = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(visit);
    else if (v !== null && typeof v === 'object') {
      const m = (v as { mtimeMs?: unknown }).mtimeMs;
      if (typeof m === 'number') newest = Math.max(newest, m);
    }
  };
  for (const s of sweeps) {
    visit(s.source.fingerprint());
    newest = Math.max(newest, statSync(s.cfg.expt).mtimeMs);
  }
  return sourceDate(newest);
}

/** import every sweep first (missing files and inconsistent frame counts stop the run before any work), then plan each. */
async function importAndPlan(ctx: Ctx, imported: ImportedSweep[]): Promise<SweepPlan[]> {
  const { cfg } = ctx;
  const ti = performance.now();
  for (let i = 0; i < cfg.sweeps.length; i++) imported.push(await importSweep(ctx, i, cfg.sweeps[i]!));
  ctx.times.push({ stage: 'import', seconds: (performance.now() - ti) / 1000, skipped: false });
  log(ctx, 'info', `import: ${imported.map((s) => `${s.cfg.name} ${s.source.length} frames`).join(', ')}`);
  return imported.map((sw) => planSweep(ctx, sw));
}

async function closeRun(ctx: Ctx, imported: readonly ImportedSweep[]): Promise<void> {
  for (const s of imported) {
    await s.source.close();
    await s.background?.close();
  }
  ctx.engine?.destroy();
}

/** The units of work of a run (every wedge of every sweep), for shards. */
function unitsOf(plans: readonly SweepPlan[]): WorkUnit[] {
  return plans.flatMap((p) => p.wedges.map((w) => ({ id: w.id, frames: w.w.count })));
}

/** The plan key of a run: every unit's key (shard records of other settings are ignored). */
function planKeyOf(plans: readonly SweepPlan[]): string {
  return hashKey(plans.map((p) => p.wedges.map((w) => w.key)));
}

/** What one shard task did (also its record in `<output>/shards/`). */
export type ShardSummary = ShardTaskRecord;

/**
 * `diffract run CONFIG --shard I/N`: integrates only the wedges assigned to
 * shard I of N (src/run/shards.ts) that are not done yet, writes each as its
 * checkpoint file into the shared output folder, and stops; `runPipeline`
 * (no shard) then finds them done and runs correct → … → report. Shards may
 * run at the same time on several hosts over one shared folder.
 */
export async function runShard(cfg: RunConfig, opts: RunnerOptions, shard: ShardSpec): Promise<ShardSummary> {
  if (cfg.stills !== null) throw new UsageError('--shard splits the wedges of rotation sweeps; a stills config runs in one process (its chunks resume after a kill)', { file: cfg.source, field: '--shard' });
  const t0 = performance.now();
  const ctx = openRun(cfg, opts);
  const imported: ImportedSweep[] = [];
  let rec: ShardTaskRecord | null = null;
  try {
    const plans = await importAndPlan(ctx, imported);
    const mine = new Set(assignShards(unitsOf(plans), shard.count)[shard.index]);
    rec = await startShardRecord(cfg.output, shard, planKeyOf(plans), opts.backend);
    log(ctx, 'info', `shard ${shard.index} of ${shard.count} (attempt ${rec.attempt}) on ${rec.host}: ${mine.size} of ${unitsOf(plans).length} units`, { shard: shard.index, shards: shard.count, units: mine.size });
    for (const plan of plans) {
      const units = plan.wedges.filter((w) => mine.has(w.id));
      if (units.length === 0) continue;
      await maskStage(ctx, plan);
      if (ctx.store.done(plan.stageName, plan.integratedKey) === null) await dropUnusableWedges(ctx, plan.stageName, units);
      const todo = units.filter((w) => !existsSync(w.file));
      rec.units += units.length;
      rec.reused += units.length - todo.length;
      rec.computed += todo.length;
      rec.frames += await computeWedges(ctx, plan, todo);
    }
    const engine = ctx.engine ?? opts.engine ?? opts.engines?.[0];
    rec.devices =
      opts.engines !== undefined && opts.engines.length > 1
        ? opts.engines.map((e, k) => `${k}: ${e.deviceName}`)
        : [engine !== undefined && engine !== null ? engine.deviceName : 'none (every unit was done already)'];
    rec.status = 'done';
    rec.seconds = (performance.now() - t0) / 1000;
    await putShardRecord(cfg.output, rec);
    log(ctx, 'info', `shard ${shard.index} of ${shard.count}: ${rec.computed} unit(s) computed, ${rec.reused} done already, ${rec.frames} frames in ${rec.seconds.toFixed(1)} s`, { shard: shard.index, computed: rec.computed, reused: rec.reused });
    return rec;
  } catch (err) {
    if (rec !== null) {
      rec.status = 'failed';
      rec.error = err instanceof Error ? err.message : String(err);
      rec.seconds = (performance.now() - t0) / 1000;
      await putShardRecord(cfg.output, rec).catch(() => undefined);
    }
    throw err;
  } finally {
    await closeRun(ctx, imported);
  }
}

/**
 * With `requireShards`: every unit's file must exist (the shards computed
 * them); else one error names the missing units, the shards they belong to
 * and those tasks' logs.
 */
function checkShardsDone(ctx: Ctx, plans: readonly SweepPlan[], tasks: ShardTasksSummary | null): void {
  const missing = plans.flatMap((p) => (ctx.store.done(p.stageName, p.integratedKey) !== null ? [] : p.wedges.filter((w) => !existsSync(w.file) || outputProblem(w.file) !== null)));
  if (missing.length === 0) return;
  const ids = missing.map((w) => w.id);
  const listed = ids.length > 12 ? `${ids.slice(0, 12).join(', ')} and ${ids.length - 12} more` : ids.join(', ');
  let shards = '';
  if (tasks !== null) {
    const owner = shardOfUnits(unitsOf(plans), tasks.count);
    const bad = [...new Set(missing.map((w) => owner.get(w.id)!))].sort((a, b) => a - b);
    const pattern = process.env.DIFFRACT_TASK_LOG_PATTERN ?? null;
    shards = `; they belong to ${bad.map((s) => describeTask(s, tasks.count, tasks.tasks.find((t) => t.shard === s), pattern)).join(', ')}`;
  } else shards = '; no shard task left a record in shards/';
  throw new IncompleteShardsError(`${missing.length} of ${unitsOf(plans).length} unit(s) were not computed by the shards: ${listed}${shards}. Rerun those shards, or run without --require-shards to compute them here`, { file: ctx.cfg.output });
}

/** One line on the shard tasks, for the summary and the report (no times: the report depends on results only). */
export function shardTasksLine(t: ShardTasksSummary): string {
  const retried = t.retried.length > 0 ? `; retried: shard ${t.retried.join(', ')}` : '';
  return `${t.tasks.length} of ${t.count} task(s) on ${t.hosts.join(', ')}; devices ${t.devices.join(', ')}${retried}`;
}

/** Runs the pipeline of `cfg`; returns the summary (also written to summary.json by the caller). */
export async function runPipeline(cfg: RunConfig, opts: RunnerOptions): Promise<RunSummary> {
  if (cfg.stills !== null) return runStills(cfg, opts);
  const t0 = performance.now();
  const ctx = openRun(cfg, opts);
  const { stagesDir } = ctx;
  const imported: ImportedSweep[] = [];
  try {
    const plans = await importAndPlan(ctx, imported);
    const tasks = summariseShardTasks(readShardRecords(cfg.output, planKeyOf(plans)));
    if (opts.requireShards === true) checkShardsDone(ctx, plans, tasks);
    if (tasks !== null) log(ctx, 'info', `shards: ${shardTasksLine(tasks)}`, { shards: tasks.count, tasks: tasks.tasks.length });

    const sweeps: SweepSummary[] = [];
    const corrected: { file: string; key: string }[] = [];
    const integratedFiles: { sweep: string; file: string }[] = [];
    for (const plan of plans) {
      const sw = plan.sw;
      const integ = await integrateSweep(ctx, plan);
      integratedFiles.push({ sweep: sw.cfg.name, file: integ.file });
      const cs = correctSettingsOf(cfg, sw.index);
      const correctKey = hashKey({ integrated: integ.key, expt: sw.key, ...cs });
      const rec = await stage(ctx, `correct.${sw.cfg.name}`, correctKey, async () => {
        const out = join(stagesDir, sw.cfg.name, `corrected-${shortKey(correctKey)}.h5`);
        const r = await correctStage.run(cpuContext(ctx), { integrated: await readVoxelTables(integ.file), integratedPath: integ.file, experiment: sw.exp, exptPath: sw.cfg.expt }, cs);
        await writeStageFile(out, r.content);
        return { outputs: [out], summary: { diffuse: r.summary.diffuse.kept, bragg: r.summary.bragg.kept } };
      });
      corrected.push({ file: rec.outputs[0]!, key: correctKey });
      sweeps.push({ ...integ.summary, observations: Number(rec.summary.diffuse) });
    }

    const combineKey = hashKey({ corrected: corrected.map((c) => c.key) });
    const combined = await stage(ctx, 'combine', combineKey, async () => {
      const out = join(stagesDir, `combined-${shortKey(combineKey)}.h5`);
      const files = await Promise.all(corrected.map((c) => readStageFile(c.file)));
      const r = await combineStage.run(cpuContext(ctx), { sweeps: files.map((file, i) => ({ name: cfg.sweeps[i]!.name, path: corrected[i]!.file, file })) }, COMBINE_DEFAULTS);
      await writeStageFile(out, r.content);
      return { outputs: [out], summary: r.summary };
    });

    const scaleSettings: ScaleSettings = cfg.scaling;
    const scaleKey = hashKey({ combine: combineKey, scaling: scaleSettings });
    const scaled = await stage(ctx, 'scale', scaleKey, async () => {
      const out = join(stagesDir, `scaled-${shortKey(scaleKey)}.h5`);
      const input = combined.outputs[0]!;
      const r = await scaleStage.run(cpuContext(ctx), { file: await readStageFile(input), path: input }, scaleSettings);
      await writeStageFile(out, r.content);
      return { outputs: [out], summary: { observations: r.summary.observations, voxels: r.summary.voxels, rejected: r.summary.rejected, chi2: r.summary.chi2 } };
    });

    const mergeSettings: MergeSettings = cfg.merge;
    const mergeKey = hashKey({ scale: scaleKey, merge: mergeSettings });
    const merged = await stage(ctx, 'merge', mergeKey, async () => {
      const out = join(stagesDir, `merged-${shortKey(mergeKey)}.h5`);
      const input = scaled.outputs[0]!;
      const r = await mergeStage.run(await stageContext(ctx), { file: await readStageFile(input), path: input }, mergeSettings);
      await writeStageFile(out, r.content);
      const di = r.names.indexOf('diffuse');
      const bi = r.names.indexOf('bragg');
      return {
        outputs: [out],
        summary: {
          voxels: r.results[di]?.stats.voxels ?? 0,
          observations: r.results[di]?.stats.observations ?? 0,
          cchalf: r.results[di]?.overall.cchalf ?? Number.NaN,
          cchalfBragg: bi >= 0 ? (r.results[bi]?.overall.cchalf ?? null) : null,
          backend: r.backend,
          adapter: r.adapter,
        },
      };
    });

    const { absolute, absoluteKey, exported, exportKey, mapPrefix } = await absoluteAndExport(ctx, mergeKey, merged.outputs[0]!, runDate(imported));

    const m = merged.summary;
    const summary: RunSummary = {
      config: cfg.source,
      output: cfg.output,
      backend: String(m.backend),
      adapter: String(m.adapter),
      sweeps,
      observations: Number(m.observations),
      voxels: Number(m.voxels),
      cchalf: Number(m.cchalf),
      cchalfBragg: m.cchalfBragg === null ? null : Number(m.cchalfBragg),
      scaleFactor: absolute !== null ? Number(absolute.summary.scaleFactor) : null,
      stages: ctx.times,
      outputs: [],
      stageFiles: { combine: combined.outputs[0]!, scale: scaled.outputs[0]!, merge: merged.outputs[0]!, ...(absolute !== null ? { absolute: absolute.outputs[0]! } : {}) },
      shards: tasks,
      seconds: 0,
    };

    const results = exported.outputs.map((f) => ({ from: f, to: join(cfg.output, basename(f)) }));
    if (cfg.report && opts.report !== undefined) {
      const reportKey = hashKey({ export: exportKey, scale: scaleKey, merge: mergeKey, absolute: absolute !== null ? absoluteKey : null, integrated: integratedFiles.map((f) => relative(cfg.output, f.file)), shards: tasks === null ? undefined : shardTasksLine(tasks) });
      const rep = await stage(ctx, 'report', reportKey, async () => {
        const out = join(stagesDir, `report-${shortKey(reportKey)}.html`);
        await opts.report!({ path: out, integrated: integratedFiles, scaled: scaled.outputs[0]!, merged: merged.outputs[0]!, absolute: absolute?.outputs[0] ?? null, mapPrefix, summary: { ...summary, stages: [], seconds: 0 } });
        return { outputs: [out], summary: {} };
      });
      results.push({ from: rep.outputs[0]!, to: join(cfg.output, 'report.html') });
    }
    publish(results);
    summary.outputs = results.map((r) => r.to);
    const removed = collectGarbage(stagesDir, ctx.keep);
    if (removed > 0) log(ctx, 'info', `removed ${removed} stage file(s) of earlier settings`);
    summary.seconds = (performance.now() - t0) / 1000;
    return summary;
  } finally {
    await closeRun(ctx, imported);
  }
}
