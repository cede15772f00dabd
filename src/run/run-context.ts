/**
 * The machinery every path of `diffract run` shares (rotation sweeps,
 * src/run/runner.ts; serial stills, src/run/stills-runner.ts): the run's
 * context, stages run unless their checkpoint exists (src/run/checkpoint.ts),
 * the engine opened on first use, the absolute and export stages, publishing
 * the results together and removing stage files of earlier settings.
 */
import { copyFileSync, existsSync, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join, relative } from 'node:path';
import { FileAccessError } from '../errors.ts';
import { Engine } from '../host/engine.ts';
import { resolveThreads } from '../host/node-threads.ts';
import { tempPathFor } from '../io/atomic-file.ts';
import { readStageFile, writeStageFile } from '../io/observation-file.ts';
import { absoluteStage, type AbsoluteSettings } from '../stages/absolute.ts';
import { SILENT_PROGRESS, type StageContext, type StageLogger } from '../stages/context.ts';
import { EXPORT_DEFAULTS, exportStage, type ExportSettings } from '../stages/export.ts';
import { log as logLine } from '../util/log.ts';
import { CheckpointStore, contentHash, hashKey, shortKey, sweepTemporaries, type StageRecord } from './checkpoint.ts';
import type { RunConfig } from './config-types.ts';
import { prepareOutputFolder } from './output-folder.ts';
import type { RunnerOptions, StageTime } from './run-types.ts';

/** The process logger (src/util/log.ts) as a stage logger. */
const PROCESS_LOGGER: StageLogger = { log: (level, message, fields) => logLine(level, message, fields) };

/** One run: its config, options, checkpoints, times, engine and the files to keep. */
export interface Ctx {
  cfg: RunConfig;
  opts: RunnerOptions;
  store: CheckpointStore;
  stagesDir: string;
  times: StageTime[];
  engine: Engine | null;
  keep: Set<string>;
  logger: StageLogger;
}

export function log(ctx: Ctx, level: 'info' | 'warn', message: string, fields: Record<string, unknown> = {}): void {
  ctx.logger.log(level, message, fields);
}

export async function engineOf(ctx: Ctx): Promise<Engine> {
  if (ctx.opts.engine !== undefined) return ctx.opts.engine;
  const first = ctx.opts.engines?.[0];
  if (first !== undefined) return first;
  const threads = ctx.opts.threads ?? resolveThreads(ctx.cfg.threads ?? undefined, process.env, 'threads');
  const memoryMb = ctx.opts.memoryMb ?? ctx.cfg.memoryMb ?? undefined;
  ctx.engine ??= await Engine.create({ backend: ctx.opts.backend, threads, ...(memoryMb !== undefined ? { memoryMb } : {}), ...(ctx.opts.debugGpu === true ? { debug: true } : {}) });
  return ctx.engine;
}

/** The context the stages run in (the engine created on first use). */
export async function stageContext(ctx: Ctx): Promise<StageContext> {
  return { engine: await engineOf(ctx), log: ctx.logger, progress: ctx.opts.progress ?? SILENT_PROGRESS };
}

/** The context of the stages that compute on the CPU only (no device is opened for them). */
export function cpuContext(ctx: Ctx): StageContext {
  return { engine: Engine.cpu(), log: ctx.logger, progress: ctx.opts.progress ?? SILENT_PROGRESS };
}

/** Runs `fn` unless the checkpoint of `stage` with `key` exists; records time and outcome. */
export async function stage(
  ctx: Ctx,
  name: string,
  key: string,
  fn: () => Promise<{ outputs: string[]; summary: Record<string, unknown> }>,
): Promise<StageRecord> {
  const t0 = performance.now();
  const done = ctx.store.done(name, key, (file, why) =>
    log(ctx, 'warn', `${name}: the result of an earlier run, ${relative(ctx.cfg.output, file)}, cannot be used (${why}); recomputing`, { stage: name, unusable: relative(ctx.cfg.output, file) }),
  );
  if (done !== null) {
    log(ctx, 'info', `${name}: unchanged since the last run, reusing ${done.outputs.map((f) => relative(ctx.cfg.output, f)).join(', ') || 'its checkpoint'}`, { stage: name, reused: true });
    ctx.times.push({ stage: name, seconds: (performance.now() - t0) / 1000, skipped: true });
    for (const f of done.outputs) ctx.keep.add(f);
    return done;
  }
  log(ctx, 'info', `${name}: running`, { stage: name, reused: false });
  const r = await fn();
  const rec: StageRecord = { stage: name, key, outputs: r.outputs, summary: r.summary };
  await ctx.store.put(rec);
  const seconds = (performance.now() - t0) / 1000;
  ctx.times.push({ stage: name, seconds, skipped: false });
  for (const f of r.outputs) ctx.keep.add(f);
  log(ctx, 'info', `${name}: done in ${seconds.toFixed(1)} s`, { stage: name, seconds });
  return rec;
}

/** Publishes the result files together: copies under temporary names, then renames. */
export function publish(files: { from: string; to: string }[]): void {
  const staged: { tmp: string; to: string }[] = [];
  try {
    for (const f of files) {
      const tmp = tempPathFor(f.to);
      staged.push({ tmp, to: f.to });
      copyFileSync(f.from, tmp);
    }
  } catch (err) {
    for (const s of staged) rmSync(s.tmp, { force: true });
    throw new FileAccessError(`cannot write the file (${(err as NodeJS.ErrnoException).code ?? String(err)}); no result of this run was published`, { file: staged[staged.length - 1]?.to ?? '' }, { cause: err });
  }
  for (const s of staged) renameSync(s.tmp, s.to);
}

/** Deletes stage files of earlier runs that this run no longer uses. */
export function collectGarbage(dir: string, keep: ReadonlySet<string>): number {
  if (!existsSync(dir)) return 0;
  let n = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) {
      if (/^export-[0-9a-f]{16}$/.test(e.name)) {
        if (![...keep].some((k) => k.startsWith(`${p}/`))) {
          rmSync(p, { recursive: true, force: true });
          n++;
        }
      } else n += collectGarbage(p, keep);
    } else if (/-[0-9a-f]{16}\.(h5|npy|html)$/.test(e.name) && !keep.has(p)) {
      rmSync(p, { force: true });
      n++;
    }
  }
  return n;
}

/** Makes the output folder ready, removes abandoned temporaries, and sets up the run's context. */
export function openRun(cfg: RunConfig, opts: RunnerOptions): Ctx {
  const stagesDir = join(cfg.output, 'stages');
  prepareOutputFolder(cfg.output);
  try {
    mkdirSync(stagesDir, { recursive: true });
    mkdirSync(join(cfg.output, '.diffract', 'checkpoints'), { recursive: true });
  } catch (err) {
    throw new FileAccessError(`cannot create the output folder (${(err as NodeJS.ErrnoException).code ?? String(err)})`, { file: cfg.output, field: 'output' }, { cause: err });
  }
  const swept = sweepTemporaries(cfg.output);
  if (swept > 0) (opts.log ?? PROCESS_LOGGER).log('info', `removed ${swept} temporary file(s) left by an interrupted run`);
  return { cfg, opts, store: new CheckpointStore(join(cfg.output, '.diffract', 'checkpoints'), cfg.output), stagesDir, times: [], engine: null, keep: new Set(), logger: opts.log ?? PROCESS_LOGGER };
}

export function exportSettingsOf(cfg: RunConfig): ExportSettings {
  return { ...EXPORT_DEFAULTS, ...cfg.export };
}

/** The absolute and export stages of a run, after its merge stage. */
export interface MapStages {
  absolute: StageRecord | null;
  absoluteKey: string;
  exported: StageRecord;
  exportKey: string;
  /** the exported map files without their extension (`…/export-<key>/map`) */
  mapPrefix: string;
}

/**
 * absolute (when the config gives a composition) → export, from the merge
 * stage file `mergedFile` computed under `mergeKey`; `date` is stamped into
 * the map file.
 */
export async function absoluteAndExport(ctx: Ctx, mergeKey: string, mergedFile: string, date: string): Promise<MapStages> {
  const { cfg, stagesDir } = ctx;
  let absolute: StageRecord | null = null;
  const absoluteSettings: AbsoluteSettings = cfg.absolute;
  const comp = absoluteSettings.composition;
  const absoluteKey = hashKey({ merge: mergeKey, absolute: absoluteSettings, sequence: comp?.kind === 'sequence' && existsSync(comp.sequence) ? contentHash(comp.sequence) : null });
  if (comp !== null) {
    absolute = await stage(ctx, 'absolute', absoluteKey, async () => {
      const out = join(stagesDir, `absolute-${shortKey(absoluteKey)}.h5`);
      const r = await absoluteStage.run(cpuContext(ctx), { file: await readStageFile(mergedFile), path: mergedFile }, absoluteSettings);
      await writeStageFile(out, r.content);
      return { outputs: [out], summary: { scaleFactor: r.summary.scale, cutoff: r.summary.cutoff, electrons: r.summary.electrons } };
    });
  }
  const exportSettings = exportSettingsOf(cfg);
  const exportKey = hashKey({ input: absolute !== null ? absoluteKey : mergeKey, export: exportSettings });
  const input = absolute?.outputs[0] ?? mergedFile;
  const dir = join(stagesDir, `export-${shortKey(exportKey)}`);
  const exported = await stage(ctx, 'export', exportKey, async () => {
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    const r = await exportStage.run(cpuContext(ctx), { input, inputName: relative(cfg.output, input), out: join(dir, 'map'), date }, exportSettings);
    return { outputs: r.files.map((f) => f.path), summary: { points: r.points, measured: r.measured, shape: r.shape } };
  });
  return { absolute, absoluteKey, exported, exportKey, mapPrefix: join(dir, 'map') };
}
