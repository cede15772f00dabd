/**
 * `diffract run`: the whole rotation-series pipeline from a config, with
 * checkpoints (src/run/checkpoint.ts).
 *
 * Stages, in order (each also runnable alone as its own command):
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
 *
 * Each result is written atomically under a name holding its key, so a run
 * killed at any moment resumes where it stopped, a changed setting recomputes
 * exactly the stages downstream of it, and the published results of an
 * earlier complete run stay as they were until a new run completes.
 */
import { copyFileSync, existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { basename, join, relative } from 'node:path';
import { runAbsolute, type AbsoluteCliOptions } from '../cli/commands/absolute.ts';
import { runCorrect, type CorrectSummary } from '../cli/commands/correct.ts';
import { integrationOptions, rootAttributes, voxelColumns, WedgeLog, type VoxelCliOptions, type WedgeSummary } from '../cli/commands/integrate.ts';
import { runMerge, type MergeCliOptions } from '../cli/commands/merge.ts';
import { startProgress } from '../cli/progress.ts';
import { runScale, type ScaleCliOptions } from '../cli/commands/scale.ts';
import { FileAccessError, InvalidValueError, MissingFieldError } from '../errors.ts';
import { exportMap } from '../export/export-map.ts';
import { loadExperiments, pickExperiment } from '../geometry/load.ts';
import type { Experiment } from '../geometry/model.ts';
import { tempPathFor } from '../io/atomic-file.ts';
import { setAttributes, writeHdf5Atomic, type ColumnArray } from '../io/hdf5.ts';
import { writeNpy } from '../io/npy.ts';
import { observationsOf, readStageFile, writeStageFile } from '../io/observation-file.ts';
import { AppendableTable, readTableGroups } from '../io/voxel-tables.ts';
import { Engine } from '../host/engine.ts';
import { concatObservations, type ObservationMeta } from '../pipeline/observations.ts';
import { integrateWedge, prepareIntegration, wedgeRanges, wedgeTables, type IntegrationSetup } from '../pipeline/voxel-integrate.ts';
import { log } from '../util/log.ts';
import { CheckpointStore, contentHash, hashKey, shortKey, sweepTemporaries, type StageRecord } from './checkpoint.ts';
import type { RunConfig, SweepConfig } from './config-types.ts';
import { frameRange, openSweepSource, type SweepSource } from './sources.ts';

/** How the runner runs (not part of any checkpoint key: results do not depend on it). */
export interface RunnerOptions {
  backend: string;
  debugGpu?: boolean;
  /** worker threads decoding compressed HDF5 frames ahead (default: one per spare core, at most 4) */
  decodeWorkers?: number;
  /** an engine to use instead of creating one from `backend` (the caller keeps and destroys it) */
  engine?: Engine;
  /** builds report.html from the run's stage files (src/report); absent: no report */
  report?: (inputs: ReportInputs) => Promise<void>;
}

/** What the report builder gets. */
export interface ReportInputs {
  /** where to write report.html */
  path: string;
  integrated: { sweep: string; file: string }[];
  scaled: string;
  merged: string;
  absolute: string | null;
  mapPrefix: string;
  summary: RunSummary;
}

export interface StageTime {
  stage: string;
  seconds: number;
  /** reused from a checkpoint */
  skipped: boolean;
  /** frames processed (integrate) */
  frames?: number;
}

export interface SweepSummary {
  name: string;
  frames: number;
  wedges: number;
  wedgesReused: number;
  /** fraction of detector pixels masked statically */
  maskedPixelFraction: number;
  /** occupied subvoxels excluded by the filter (outliers + overflow) / occupied */
  filterExcludedFraction: number;
  countsIncluded: number;
  countsExcluded: number;
  observations: number;
}

export interface RunSummary {
  config: string;
  output: string;
  backend: string;
  adapter: string;
  sweeps: SweepSummary[];
  observations: number;
  voxels: number;
  cchalf: number;
  cchalfBragg: number | null;
  /** absolute scale factor K (null when the absolute stage was skipped) */
  scaleFactor: number | null;
  stages: StageTime[];
  /** published result files */
  outputs: string[];
  /** the stage files this run's results come from (combine, scale, merge, absolute), by stage */
  stageFiles: Record<string, string>;
  seconds: number;
}

interface Ctx {
  cfg: RunConfig;
  opts: RunnerOptions;
  store: CheckpointStore;
  stagesDir: string;
  times: StageTime[];
  engine: Engine | null;
  keep: Set<string>;
}

async function engineOf(ctx: Ctx): Promise<Engine> {
  if (ctx.opts.engine !== undefined) return ctx.opts.engine;
  ctx.engine ??= await Engine.create({ backend: ctx.opts.backend, ...(ctx.opts.debugGpu === true ? { debug: true } : {}) });
  return ctx.engine;
}

/** Runs `fn` unless the checkpoint of `stage` with `key` exists; records time and outcome. */
async function stage(
  ctx: Ctx,
  name: string,
  key: string,
  fn: () => Promise<{ outputs: string[]; summary: Record<string, unknown> }>,
): Promise<StageRecord> {
  const t0 = performance.now();
  const done = ctx.store.done(name, key);
  if (done !== null) {
    log('info', `${name}: unchanged since the last run, reusing ${done.outputs.map((f) => relative(ctx.cfg.output, f)).join(', ') || 'its checkpoint'}`, { stage: name, reused: true });
    ctx.times.push({ stage: name, seconds: (performance.now() - t0) / 1000, skipped: true });
    for (const f of done.outputs) ctx.keep.add(f);
    return done;
  }
  log('info', `${name}: running`, { stage: name, reused: false });
  const r = await fn();
  const rec: StageRecord = { stage: name, key, outputs: r.outputs, summary: r.summary };
  await ctx.store.put(rec);
  const seconds = (performance.now() - t0) / 1000;
  ctx.times.push({ stage: name, seconds, skipped: false });
  for (const f of r.outputs) ctx.keep.add(f);
  log('info', `${name}: done in ${seconds.toFixed(1)} s`, { stage: name, seconds });
  return rec;
}

function cliVoxelOptions(cfg: RunConfig, sweep: SweepConfig): VoxelCliOptions {
  const m = cfg.mask;
  const o: VoxelCliOptions = {
    out: '',
    experiment: String(sweep.experiment),
    ndiv: cfg.grid.ndiv.join(','),
    maxCount: String(cfg.filter.maxCount),
    window: String(cfg.filter.window),
    filter: cfg.filter.enabled,
    detector: cfg.detector.kind,
    trustedRange: m.trustedRange,
    edge: String(m.edge),
    panelMasks: m.panelMasks,
    beamstopRect: m.beamstop.flatMap((b) => (b.kind === 'rect' ? [`${b.x0},${b.y0},${b.x1},${b.y1}`] : [])),
    beamstopCircle: m.beamstop.flatMap((b) => (b.kind === 'circle' ? [`${b.cx},${b.cy},${b.r}`] : [])),
    beamstopPolygon: m.beamstop.flatMap((b) => (b.kind === 'polygon' ? [b.points.flat().join(',')] : [])),
    corrections: cfg.corrections.enabled,
    efficiency: cfg.corrections.efficiency,
    polarization: cfg.corrections.polarization,
  };
  if (cfg.grid.wedgeDeg !== null) o.wedgeDeg = String(cfg.grid.wedgeDeg);
  if (cfg.grid.wedgeFrames !== null) o.wedgeFrames = String(cfg.grid.wedgeFrames);
  if (cfg.grid.batchFrames !== null) o.batch = String(cfg.grid.batchFrames);
  if (cfg.detector.gain !== null) o.gain = String(cfg.detector.gain);
  if (cfg.detector.pedestal !== null) o.pedestal = String(cfg.detector.pedestal);
  if (m.file !== null) o.mask = m.file;
  if (m.hotPixels.length > 0) o.hotPixels = m.hotPixels.map(([x, y]) => `${x},${y}`).join(';');
  if (cfg.corrections.airPath !== null) o.airPath = String(cfg.corrections.airPath);
  return o;
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

/** A wedge file's tables as stored, and its root attributes as writable values. */
async function readTables(path: string): Promise<{ attrs: Record<string, string | number | number[] | string[]>; tables: Map<string, Map<string, ColumnArray>> }> {
  const raw = await readTableGroups(path);
  const attrs: Record<string, string | number | number[] | string[]> = {};
  for (const [k, v] of Object.entries(raw.attrs)) {
    if (typeof v === 'string' || typeof v === 'number') attrs[k] = v;
    else if (typeof v === 'bigint') attrs[k] = Number(v);
    else if (ArrayBuffer.isView(v)) attrs[k] = Array.from(v as unknown as ArrayLike<number | bigint>, Number);
    else if (Array.isArray(v)) attrs[k] = v.map((x) => (typeof x === 'string' ? x : Number(x))) as number[] | string[];
  }
  return { attrs, tables: raw.tables };
}

/** filter + integrate of one sweep, wedge by wedge, then the wedges into one integrate file. */
async function integrateSweep(ctx: Ctx, sw: ImportedSweep): Promise<IntegratedSweep> {
  const { cfg } = ctx;
  const dir = join(ctx.stagesDir, sw.cfg.name);
  const wedgeDir = join(dir, 'wedges');
  mkdirSync(wedgeDir, { recursive: true });
  const cli = cliVoxelOptions(cfg, sw.cfg);
  const opts = integrationOptions(cli, sw.exp);
  if (sw.background !== null) opts.background = sw.background;
  const setup: IntegrationSetup = prepareIntegration(sw.exp, opts);
  const stageName = `integrate.${sw.cfg.name}`;

  // mask: the static mask of the detector, written for inspection
  const maskSettings = { mask: cfg.mask, detector: cfg.detector, maskFile: cfg.mask.file === null ? null : contentHash(cfg.mask.file) };
  const maskKey = hashKey({ import: sw.key, ...maskSettings });
  const usable = setup.staticMask.valid.reduce((s, v) => s + v, 0);
  const maskedPixelFraction = 1 - usable / setup.staticMask.valid.length;
  await stage(ctx, `mask.${sw.cfg.name}`, maskKey, async () => {
    const p = join(dir, `mask-${shortKey(maskKey)}.npy`);
    const panel = sw.exp.detector.panels[0];
    const shape = sw.exp.detector.panels.length === 1 && panel !== undefined ? [panel.imageSize[1], panel.imageSize[0]] : [setup.staticMask.valid.length];
    const tmp = tempPathFor(p);
    writeNpy(tmp, Uint8Array.from(setup.staticMask.valid), shape);
    renameSync(tmp, p);
    return { outputs: [p], summary: { maskedPixelFraction, usablePixels: usable } };
  });

  const settings = { mask: maskKey, ndiv: cfg.grid.ndiv, wedgeDeg: cfg.grid.wedgeDeg, wedgeFrames: cfg.grid.wedgeFrames, filter: cfg.filter, corrections: cfg.corrections, detector: cfg.detector };
  const wedges = wedgeRanges(sw.source.length, setup.wedgeFrames);
  const wedgeFiles = wedges.map((w) => {
    const key = hashKey({ integrate: settings, wedge: w, wedgeFrames: setup.wedgeFrames });
    return { w, key, file: join(wedgeDir, `w${String(w.index).padStart(4, '0')}-${shortKey(key)}.h5`) };
  });
  const integratedKey = hashKey({ stage: 'integrate', wedges: wedgeFiles.map((w) => w.key) });
  const t0 = performance.now();
  const todo = wedgeFiles.filter((w) => !existsSync(w.file));
  const reused = wedgeFiles.length - todo.length;
  let framesDone = 0;
  const assembled = ctx.store.done(stageName, integratedKey);
  if (assembled === null) {
    if (reused > 0) {
      log('info', `integrate ${sw.cfg.name}: ${reused} of ${wedgeFiles.length} wedges finished in an earlier run, not recomputed (${wedgeFiles.filter((w) => existsSync(w.file)).map((w) => w.w.index).join(', ')})`, {
        stage: stageName,
        reusedWedges: reused,
      });
    }
    const totalFrames = todo.reduce((s, w) => s + w.w.count, 0);
    const progress = totalFrames > 0 ? startProgress(`integrate ${sw.cfg.name}`, totalFrames) : null;
    try {
      for (const wf of todo) {
        const engine = await engineOf(ctx);
        const r = await integrateWedge(engine, setup, wf.w, (async function* () {
          for await (const f of sw.source.range(wf.w.first, wf.w.count)) {
            yield f;
            framesDone++;
            progress?.update(framesDone);
          }
        })(), () => frameRange(sw.source, wf.w.first, wf.w.count));
        const t = wedgeTables(r);
        const wl = new WedgeLog();
        wl.add(r, t.included, t.excluded);
        await writeHdf5Atomic(wf.file, (file) => {
          const inc = new AppendableTable(file, 'included');
          inc.append(voxelColumns(t.included, false));
          inc.close();
          const exc = new AppendableTable(file, 'excluded');
          exc.append(voxelColumns(t.excluded, true));
          exc.close();
          wl.write(file);
          setAttributes(file, { ...rootAttributes('integrate', sw.cfg.expt, setup, opts.corrections), backend: r.backend });
        });
        log('info', `integrate ${sw.cfg.name}: wedge ${wf.w.index} (frames ${wf.w.first}…${wf.w.first + wf.w.count - 1}) written`, { stage: stageName, wedge: wf.w.index });
      }
    } finally {
      progress?.stop();
    }
  }
  const rec = await stage(ctx, stageName, integratedKey, async () => {
    const out = join(dir, `integrated-${shortKey(integratedKey)}.h5`);
    const parts: Awaited<ReturnType<typeof readTables>>[] = [];
    for (const wf of wedgeFiles) parts.push(await readTables(wf.file));
    const totals = { occupied: 0, excluded: 0, inc: 0, exc: 0 };
    for (const p of parts) {
      const w = p.tables.get('wedges');
      const n = (c: string): number => Number((w?.get(c) as ArrayLike<number | bigint> | undefined)?.[0] ?? 0);
      totals.occupied += n('occupied');
      totals.excluded += n('outliers') + n('overflow');
      totals.inc += n('included_counts');
      totals.exc += n('excluded_counts');
    }
    await writeHdf5Atomic(out, (file) => {
      for (const name of ['included', 'excluded', 'wedges']) {
        const t = new AppendableTable(file, name);
        for (const p of parts) {
          const cols = p.tables.get(name);
          if (cols === undefined) throw new InvalidValueError(`wedge file has no table '${name}'`, { file: wedgeFiles[parts.indexOf(p)]?.file ?? out });
          t.append(Object.fromEntries(cols));
        }
        t.close();
      }
      setAttributes(file, parts[0]?.attrs ?? {});
    });
    return {
      outputs: [out],
      summary: {
        frames: sw.source.length,
        wedges: wedgeFiles.length,
        filterExcludedFraction: totals.occupied > 0 ? totals.excluded / totals.occupied : 0,
        countsIncluded: totals.inc,
        countsExcluded: totals.exc,
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

function sameMeta(a: ObservationMeta, b: ObservationMeta): boolean {
  return a.hall.trim() === b.hall.trim() && a.ndiv.every((v, i) => v === b.ndiv[i]) && a.cell.every((v, i) => Math.abs(v - (b.cell[i] as number)) <= 0.02 * Math.abs(v) + 0.5) && Math.abs(a.wavelength - b.wavelength) < 1e-3 * a.wavelength;
}

/**
 * The date stamped into the map file: SOURCE_DATE_EPOCH when set, else the
 * newest modification time of the run's inputs (the geometry and the frames),
 * so that reruns and resumed runs write the same bytes.
 */
function runDate(sweeps: readonly ImportedSweep[]): string {
  const epoch = process.env.SOURCE_DATE_EPOCH;
  if (epoch !== undefined && /^\d+$/.test(epoch)) return new Date(Number(epoch) * 1000).toISOString();
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
  return new Date(Math.round(newest)).toISOString();
}

/** Publishes the result files together: copies under temporary names, then renames. */
function publish(files: { from: string; to: string }[]): void {
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
function collectGarbage(dir: string, keep: ReadonlySet<string>): number {
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

/** Runs the pipeline of `cfg`; returns the summary (also written to summary.json by the caller). */
export async function runPipeline(cfg: RunConfig, opts: RunnerOptions): Promise<RunSummary> {
  const t0 = performance.now();
  const stagesDir = join(cfg.output, 'stages');
  try {
    mkdirSync(stagesDir, { recursive: true });
    mkdirSync(join(cfg.output, '.diffract', 'checkpoints'), { recursive: true });
  } catch (err) {
    throw new FileAccessError(`cannot create the output folder (${(err as NodeJS.ErrnoException).code ?? String(err)})`, { file: cfg.output, field: 'output' }, { cause: err });
  }
  const swept = sweepTemporaries(cfg.output);
  if (swept > 0) log('info', `removed ${swept} temporary file(s) left by an interrupted run`);
  const ctx: Ctx = { cfg, opts, store: new CheckpointStore(join(cfg.output, '.diffract', 'checkpoints')), stagesDir, times: [], engine: null, keep: new Set() };
  const imported: ImportedSweep[] = [];
  try {
    // import every sweep first: missing files and inconsistent frame counts stop the run before any work
    const ti = performance.now();
    for (let i = 0; i < cfg.sweeps.length; i++) imported.push(await importSweep(ctx, i, cfg.sweeps[i]!));
    ctx.times.push({ stage: 'import', seconds: (performance.now() - ti) / 1000, skipped: false });
    log('info', `import: ${imported.map((s) => `${s.cfg.name} ${s.source.length} frames`).join(', ')}`);

    const sweeps: SweepSummary[] = [];
    const corrected: { file: string; key: string }[] = [];
    const integratedFiles: { sweep: string; file: string }[] = [];
    for (const sw of imported) {
      const integ = await integrateSweep(ctx, sw);
      integratedFiles.push({ sweep: sw.cfg.name, file: integ.file });
      const correctKey = hashKey({ integrated: integ.key, expt: sw.key, exposure: sw.cfg.exposure, backgroundExposure: sw.cfg.backgroundExposure, spaceGroup: cfg.spaceGroup, sweep: sw.index });
      const rec = await stage(ctx, `correct.${sw.cfg.name}`, correctKey, async () => {
        const out = join(stagesDir, sw.cfg.name, `corrected-${shortKey(correctKey)}.h5`);
        const r: CorrectSummary = await runCorrect(integ.file, {
          out,
          expt: sw.cfg.expt,
          experiment: String(sw.cfg.experiment),
          sweep: String(sw.index),
          ...(sw.cfg.exposure !== null ? { exposure: String(sw.cfg.exposure) } : {}),
          ...(sw.cfg.backgroundExposure !== null ? { backgroundExposure: String(sw.cfg.backgroundExposure) } : {}),
          ...(cfg.spaceGroup !== null ? { spaceGroup: cfg.spaceGroup } : {}),
        });
        return { outputs: [out], summary: { diffuse: r.diffuse.kept, bragg: r.bragg.kept } };
      });
      corrected.push({ file: rec.outputs[0]!, key: correctKey });
      sweeps.push({ ...integ.summary, observations: Number(rec.summary.diffuse) });
    }

    const combineKey = hashKey({ corrected: corrected.map((c) => c.key) });
    const combined = await stage(ctx, 'combine', combineKey, async () => {
      const out = join(stagesDir, `combined-${shortKey(combineKey)}.h5`);
      const files = await Promise.all(corrected.map((c) => readStageFile(c.file)));
      const meta = files[0]!.meta;
      files.forEach((f, i) => {
        if (!sameMeta(meta, f.meta)) {
          throw new InvalidValueError(`sweep ${cfg.sweeps[i]!.name} has cell/space group/ndiv/wavelength ${JSON.stringify(f.meta)}, unlike ${cfg.sweeps[0]!.name} ${JSON.stringify(meta)}: sweeps combined must share one crystal form`, { file: cfg.sweeps[i]!.expt, field: `sweeps[${i}].expt` });
        }
      });
      const diffuse = concatObservations(files.map((f, i) => observationsOf(f, 'diffuse', corrected[i]!.file)));
      const bragg = concatObservations(files.map((f, i) => observationsOf(f, 'bragg', corrected[i]!.file)));
      await writeStageFile(out, {
        stage: 'combine',
        meta,
        attrs: { command: 'run', sweeps: cfg.sweeps.map((s) => s.name).join(','), sources: corrected.map((c) => basename(c.file)).join(',') },
        observations: { diffuse, bragg },
      });
      return { outputs: [out], summary: { diffuse: diffuse.I.length, bragg: bragg.I.length } };
    });

    const scaleKey = hashKey({ combine: combineKey, scaling: cfg.scaling });
    const scaled = await stage(ctx, 'scale', scaleKey, async () => {
      const out = join(stagesDir, `scaled-${shortKey(scaleKey)}.h5`);
      const s = cfg.scaling;
      const o: ScaleCliOptions = {
        out,
        table: s.table,
        bStepDeg: String(s.bStepDeg),
        dMode: s.dMode,
        stages: s.stages.join(','),
        outlier: s.outlier.join(','),
        maxIterations: String(s.maxIterations),
        tolerance: String(s.tolerance),
        ...(s.aGrid !== null ? { aGrid: s.aGrid.join(',') } : {}),
        ...(s.cGrid !== null ? { cGrid: s.cGrid.join(',') } : {}),
        ...(s.dGrid !== null ? { dGrid: s.dGrid.join(',') } : {}),
      };
      const r = await runScale(combined.outputs[0]!, o);
      return { outputs: [out], summary: { observations: r.summary.observations, voxels: r.summary.voxels, rejected: r.summary.rejected, chi2: r.summary.chi2 } };
    });

    const mergeKey = hashKey({ scale: scaleKey, merge: cfg.merge });
    const merged = await stage(ctx, 'merge', mergeKey, async () => {
      const out = join(stagesDir, `merged-${shortKey(mergeKey)}.h5`);
      const m = cfg.merge;
      const o: MergeCliOptions = { out, outlier: String(m.outlierSigma), rounds: String(m.rounds), halfSeed: String(m.halfSeed), halfSplit: m.halfSplit, shells: String(m.shells), inflateSigma: m.inflateSigma };
      const r = await runMerge(scaled.outputs[0]!, o, await engineOf(ctx));
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

    let absolute: StageRecord | null = null;
    const comp = cfg.absolute.composition;
    const absoluteKey = hashKey({ merge: mergeKey, absolute: cfg.absolute, sequence: comp?.kind === 'sequence' && existsSync(comp.sequence) ? contentHash(comp.sequence) : null });
    if (comp !== null) {
      absolute = await stage(ctx, 'absolute', absoluteKey, async () => {
        const out = join(stagesDir, `absolute-${shortKey(absoluteKey)}.h5`);
        const a = cfg.absolute;
        const o: AbsoluteCliOptions = {
          out,
          shells: String(a.shells),
          spacing: a.spacing,
          minCompleteness: String(a.minCompleteness),
          ...(a.cutoff !== null ? { cutoff: String(a.cutoff) } : {}),
          ...(comp.kind === 'formula'
            ? { composition: comp.formula }
            : { sequence: comp.sequence, copies: String(comp.copies), solvent: String(comp.solvent), disulfides: String(comp.disulfides), ...(comp.ions !== null ? { ions: comp.ions } : {}) }),
        };
        const r = await runAbsolute(merged.outputs[0]!, o);
        return { outputs: [out], summary: { scaleFactor: r.summary.scale, cutoff: r.summary.cutoff, electrons: r.summary.electrons } };
      });
    }

    const exportKey = hashKey({ input: absolute !== null ? absoluteKey : mergeKey, export: cfg.export });
    const exported = await stage(ctx, 'export', exportKey, async () => {
      const dir = join(stagesDir, `export-${shortKey(exportKey)}`);
      rmSync(dir, { recursive: true, force: true });
      mkdirSync(dir, { recursive: true });
      const r = await exportMap({
        input: (absolute ?? merged).outputs[0]!,
        out: join(dir, 'map'),
        table: 'diffuse',
        formats: cfg.export.formats,
        fill: cfg.export.fill,
        maxBytes: 2048 * 2 ** 20,
        colormap: cfg.export.colormap,
        ccp4Stats: 'measured',
        date: runDate(imported),
      });
      return { outputs: r.files.map((f) => f.path), summary: { points: r.points, measured: r.measured, shape: r.shape } };
    });

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
      seconds: 0,
    };

    const results = exported.outputs.map((f) => ({ from: f, to: join(cfg.output, basename(f)) }));
    if (cfg.report && opts.report !== undefined) {
      const reportKey = hashKey({ export: exportKey, scale: scaleKey, merge: mergeKey, absolute: absolute !== null ? absoluteKey : null, integrated: integratedFiles.map((f) => f.file) });
      const rep = await stage(ctx, 'report', reportKey, async () => {
        const out = join(stagesDir, `report-${shortKey(reportKey)}.html`);
        await opts.report!({ path: out, integrated: integratedFiles, scaled: scaled.outputs[0]!, merged: merged.outputs[0]!, absolute: absolute?.outputs[0] ?? null, mapPrefix: join(stagesDir, `export-${shortKey(exportKey)}`, 'map'), summary: { ...summary, stages: [], seconds: 0 } });
        return { outputs: [out], summary: {} };
      });
      results.push({ from: rep.outputs[0]!, to: join(cfg.output, 'report.html') });
    }
    publish(results);
    summary.outputs = results.map((r) => r.to);
    const removed = collectGarbage(stagesDir, ctx.keep);
    if (removed > 0) log('info', `removed ${removed} stage file(s) of earlier settings`);
    summary.seconds = (performance.now() - t0) / 1000;
    return summary;
  } finally {
    for (const s of imported) {
      await s.source.close();
      await s.background?.close();
    }
    ctx.engine?.destroy();
  }
}
