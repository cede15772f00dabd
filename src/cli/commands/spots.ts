/**
 * `diffract spots match|spread FILES…`: Bragg spot consistency across images.
 *
 * FILES are DIALS experiment lists (`.expt`/`.json`) and reflection tables
 * (`.refl`), as pairs: each `.expt` goes with the `.refl` of the same name, the
 * rest in the order given; `--list FILE` adds paths from a text file (whitespace
 * separated, `#` comments). Every experiment of every pair is one dataset.
 *
 * - `match`: image pairs ranked by shared Miller indices (folded by the Laue
 *   group of the space group unless `--fold none`), with the angle between their
 *   crystal settings; tables `pairs`, `pair-histogram`, `images`; figure
 *   `pair-similarity`.
 * - `spread`: intensity consistency of repeated reflections, with the pair
 *   statistics of the best matches; tables `reflections`, `by-intensity`,
 *   `by-resolution`, `by-image-total`, `by-dataset`, `trimmed`, `zone-axes`,
 *   `pair-stats`, `pair-points`; figures `dispersion-vs-intensity`, `pair-scatter`.
 *
 * With `--out DIR` each table is written as CSV and JSON, each figure as SVG and
 * PNG, and `summary.json` last. Everything is computed before anything is
 * written; files go to temporary names and are renamed into place only when all
 * of them are written, so an interrupted run leaves no complete-looking output.
 */
import { readFileSync } from 'node:fs';
import { mkdir, rename, rm, rmdir, writeFile, stat } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { basename, extname, join } from 'node:path';
import type { Command } from 'commander';
import { FileAccessError, InvalidValueError, UsageError } from '../../errors.ts';
import { readExperimentList } from '../../geometry/expt.ts';
import type { ExperimentList } from '../../geometry/model.ts';
import { tempPathFor } from '../../io/atomic-file.ts';
import { readReflectionTable } from '../../io/dials-refl.ts';
import { extractDatasets, type DropCounts } from '../../spots/extract.ts';
import { laueGroupFromHall, type LaueGroup } from '../../spots/laue.ts';
import { matchImagesParallel, type MatchResult } from '../../spots/match.ts';
import { renderPng, renderSvg } from '../../spots/plot.ts';
import { matchReport, spreadReport, type Report } from '../../spots/report.ts';
import { analyseSpread } from '../../spots/spread.ts';
import { finiteReplacer, toCsv, toRecords } from '../../spots/table.ts';
import type { IntensitySource, SpotDataset } from '../../spots/types.ts';
import { log } from '../../util/log.ts';
import { globalOptions } from '../engine-options.ts';
import type { CommandSpec } from '../command-spec.ts';

interface CommonOpts {
  list?: string;
  out?: string;
  json?: boolean;
  fold: string;
  intensity?: string;
  frameFrom: string;
  keepOutliers?: boolean;
  minShared: string;
  top: string;
  crossOnly?: boolean;
  threads?: string;
  figures: string;
}

interface SpreadOpts extends CommonOpts {
  k: string;
  bins: string;
  pairs: string;
  permutations: string;
  seed: string;
}

export interface FilePair {
  expt: string;
  refl: string;
}

/** Pairs `.expt`/`.json` with `.refl` paths: same stem first, then in order. */
export function pairFiles(paths: readonly string[]): FilePair[] {
  const expts: string[] = [];
  const refls: string[] = [];
  for (const p of paths) {
    const ext = extname(p).toLowerCase();
    if (ext === '.refl') refls.push(p);
    else if (ext === '.expt' || ext === '.json') expts.push(p);
    else throw new UsageError(`cannot tell what '${p}' is: give .expt (or .json) and .refl files`, { file: p });
  }
  if (refls.length === 0) throw new UsageError('no .refl file given');
  if (expts.length !== refls.length) {
    throw new UsageError(`${expts.length} experiment list(s) for ${refls.length} reflection table(s): give them in pairs`);
  }
  const stem = (p: string): string => basename(p, extname(p));
  const pairs: FilePair[] = [];
  const freeExpts = [...expts];
  const unpaired: string[] = [];
  for (const r of refls) {
    const i = freeExpts.findIndex((e) => stem(e) === stem(r));
    if (i >= 0) pairs.push({ expt: freeExpts.splice(i, 1)[0]!, refl: r });
    else unpaired.push(r);
  }
  unpaired.forEach((r, i) => pairs.push({ expt: freeExpts[i]!, refl: r }));
  return pairs;
}

function readList(path: string): string[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new FileAccessError(`cannot read the file list (${(err as NodeJS.ErrnoException).code ?? String(err)})`, { file: path }, { cause: err });
  }
  return text
    .split('\n')
    .map((l) => l.replace(/#.*/, '').trim())
    .flatMap((l) => (l.length > 0 ? l.split(/\s+/) : []));
}

function int(name: string, v: string, min: number): number {
  if (!/^\d+$/.test(v) || Number(v) < min) throw new UsageError(`${name} must be an integer ≥ ${min}, got '${v}'`, { field: name });
  return Number(v);
}

function num(name: string, v: string, min: number): number {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || n < min) throw new UsageError(`${name} must be a number ≥ ${min}, got '${v}'`, { field: name });
  return n;
}

function sameOps(a: LaueGroup, b: LaueGroup): boolean {
  const set = new Set(a.ops.map((m) => m.join()));
  return a.ops.length === b.ops.length && b.ops.every((m) => set.has(m.join()));
}

interface Loaded {
  datasets: SpotDataset[];
  lists: ExperimentList[];
  drops: { dataset: string; drops: DropCounts }[];
  intensity: IntensitySource | null;
  fold: LaueGroup | null;
}

async function load(files: readonly string[], o: CommonOpts, intensity: IntensitySource | 'none' | undefined): Promise<Loaded> {
  const all = [...files, ...(o.list !== undefined ? readList(o.list) : [])];
  const pairs = pairFiles(all);
  if (o.frameFrom !== 'obs' && o.frameFrom !== 'cal') throw new UsageError(`--frame-from must be obs or cal, got '${o.frameFrom}'`, { field: '--frame-from' });
  if (o.fold !== 'auto' && o.fold !== 'none') throw new UsageError(`--fold must be auto or none, got '${o.fold}'`, { field: '--fold' });
  const out: Loaded = { datasets: [], lists: [], drops: [], intensity: null, fold: null };
  let chosen: IntensitySource | null | undefined;
  for (const p of pairs) {
    const [list, table] = await Promise.all([readExperimentList(p.expt), readReflectionTable(p.refl)]);
    const ex = extractDatasets(table, list, { intensity, frameFrom: o.frameFrom as 'obs' | 'cal', keepOutliers: o.keepOutliers === true });
    if (chosen !== undefined && ex.intensity !== chosen) {
      throw new InvalidValueError(`would use ${String(ex.intensity)} intensities here but ${String(chosen)} for the files before; choose one with --intensity`, { file: p.refl });
    }
    chosen = ex.intensity;
    out.datasets.push(...ex.datasets);
    out.lists.push(list);
    ex.datasets.forEach((d, i) => out.drops.push({ dataset: d.name, drops: ex.drops[i]! }));
    ex.experiments.forEach((e, i) => {
      if (o.fold === 'none') return;
      const hall = e.crystal?.spaceGroupHall;
      if (hall === undefined) {
        throw new InvalidValueError(`experiment '${e.identifier}' has no crystal symmetry to fold with; use --fold none`, { file: p.expt, field: 'space_group_hall_symbol' });
      }
      const g = laueGroupFromHall(hall, { file: p.expt, field: 'space_group_hall_symbol' });
      if (out.fold === null) out.fold = g;
      else if (!sameOps(g, out.fold)) {
        throw new InvalidValueError(
          `dataset ${ex.datasets[i]?.name ?? e.identifier} has Laue group ${g.name} ('${hall.trim()}') but earlier ones ${out.fold.name} ('${out.fold.hall.trim()}'): fold them with one group or use --fold none`,
          { file: p.expt, field: 'space_group_hall_symbol' },
        );
      }
    });
  }
  // deduplicate dataset names (two files with the same stem)
  const seen = new Map<string, number>();
  for (const d of out.datasets) {
    const n = seen.get(d.name) ?? 0;
    seen.set(d.name, n + 1);
    if (n > 0) d.name = `${d.name}~${n + 1}`;
  }
  out.intensity = chosen ?? null;
  return out;
}

async function runMatch(datasets: SpotDataset[], fold: LaueGroup | null, o: CommonOpts): Promise<MatchResult> {
  const threads = o.threads !== undefined ? int('--threads', o.threads, 1) : Math.min(4, availableParallelism());
  return matchImagesParallel(datasets, {
    fold,
    minShared: int('--min-shared', o.minShared, 1),
    topPairs: int('--top', o.top, 0),
    crossDatasetOnly: o.crossOnly === true,
    threads,
  });
}

interface Output {
  name: string;
  data: string | Uint8Array;
}

function outputsOf(report: Report, figures: string): Output[] {
  const kinds = new Set(figures.split(',').map((s) => s.trim()).filter((s) => s.length > 0));
  for (const k of kinds) if (k !== 'svg' && k !== 'png' && k !== 'none') throw new UsageError(`--figures takes svg, png or none, got '${k}'`, { field: '--figures' });
  const out: Output[] = [];
  for (const t of report.tables) {
    out.push({ name: `${t.name}.csv`, data: toCsv(t) });
    out.push({ name: `${t.name}.json`, data: `${JSON.stringify({ description: t.description, columns: t.columns, rows: toRecords(t) }, finiteReplacer, 1)}\n` });
  }
  for (const f of report.figures) {
    if (kinds.has('svg')) out.push({ name: `${f.name}.svg`, data: renderSvg(f.spec) });
    if (kinds.has('png')) out.push({ name: `${f.name}.png`, data: renderPng(f.spec) });
  }
  return out;
}

/**
 * Writes all outputs into `dir`: each to a temporary name first, then all renamed
 * into place, `summary.json` last. On failure the temporaries are removed (and the
 * folder too when this call created it and it is left empty).
 */
export async function writeOutputsAtomically(dir: string, outputs: readonly Output[], summary: string): Promise<string[]> {
  let created = false;
  try {
    const s = await stat(dir);
    if (!s.isDirectory()) throw new FileAccessError('exists and is not a folder', { file: dir });
  } catch (err) {
    if (err instanceof FileAccessError) throw err;
    try {
      await mkdir(dir, { recursive: true });
      created = true;
    } catch (e) {
      throw new FileAccessError(`cannot create the output folder (${(e as NodeJS.ErrnoException).code ?? String(e)})`, { file: dir }, { cause: e });
    }
  }
  const all = [...outputs, { name: 'summary.json', data: summary }];
  const temps = all.map((o) => tempPathFor(join(dir, o.name)));
  const written: string[] = [];
  try {
    for (let i = 0; i < all.length; i++) await writeFile(temps[i]!, all[i]!.data);
    for (let i = 0; i < all.length; i++) {
      const target = join(dir, all[i]!.name);
      await rename(temps[i]!, target);
      written.push(target);
    }
    return written;
  } catch (err) {
    await Promise.all(temps.map((t) => rm(t, { force: true })));
    // a partial set of renamed files would look complete except for summary.json: take them back
    await Promise.all(written.map((t) => rm(t, { force: true })));
    if (created) await rmdir(dir).catch(() => undefined);
    if (err instanceof FileAccessError) throw err;
    const code = (err as NodeJS.ErrnoException).code ?? String(err);
    throw new FileAccessError(`cannot write the outputs (${code})`, { file: dir }, { cause: err });
  }
}

/**
 * One info line per dataset saying which rows were left out and why; and ONE
 * warning line in all when rows had NaN/Infinity intensities, variances or
 * positions (DIALS never writes those: a damaged or hand-made table), a
 * variance ≤ 0 without a flag that explains it (DIALS flags the rows whose
 * integration or scaling failed, and those count as flagged), or a dataset
 * kept none of its rows. The counts are in the summary too (`rowCounts`).
 */
function noteDrops(loaded: Loaded): void {
  let nonFiniteI = 0;
  let nonFiniteXyz = 0;
  let badVariance = 0;
  const empty: string[] = [];
  for (const { dataset, drops: d } of loaded.drops) {
    nonFiniteI += d.nonFiniteIntensity;
    nonFiniteXyz += d.nonFinitePosition;
    badVariance += d.badIntensity;
    if (d.rows > 0 && d.kept === 0) empty.push(dataset);
    const parts = [
      d.unindexed > 0 ? `${d.unindexed} unindexed` : '',
      d.nonFiniteIntensity > 0 ? `${d.nonFiniteIntensity} with a NaN/Infinity intensity or variance` : '',
      d.badIntensity > 0 ? `${d.badIntensity} with a variance ≤ 0` : '',
      d.nonFinitePosition > 0 ? `${d.nonFinitePosition} with a NaN/Infinity position` : '',
      d.flagged > 0 ? `${d.flagged} flagged` : '',
      d.outsideScan > 0 ? `${d.outsideScan} outside the scan` : '',
    ].filter((s) => s.length > 0);
    log('info', `${dataset}: kept ${d.kept} of ${d.rows} rows${parts.length > 0 ? ` (left out: ${parts.join(', ')})` : ''}${d.frameFromPrediction > 0 ? `; ${d.frameFromPrediction} imaged by xyzcal.px` : ''}`);
  }
  const why = [
    nonFiniteI > 0 ? `${nonFiniteI} rows with a NaN/Infinity intensity or variance` : '',
    badVariance > 0 ? `${badVariance} rows with a variance ≤ 0` : '',
    nonFiniteXyz > 0 ? `${nonFiniteXyz} rows with a NaN/Infinity position` : '',
    empty.length > 0 ? `no usable row at all in ${empty.join(', ')}` : '',
  ].filter((x) => x.length > 0);
  if (why.length > 0) log('warn', `left out ${why.join('; ')} (counts per dataset in the summary's rowCounts)`);
}

/** The per-dataset row counts for the summary. */
function rowCounts(loaded: Loaded): Array<{ dataset: string } & DropCounts> {
  return loaded.drops.map(({ dataset, drops }) => ({ dataset, ...drops }));
}

function fmt(v: unknown): string {
  return typeof v === 'number' ? (Number.isFinite(v) ? String(Number(v.toPrecision(4))) : 'n/a') : String(v);
}

function parseIntensity(v: string | undefined): IntensitySource | undefined {
  if (v === undefined) return undefined;
  if (v === 'scale' || v === 'prf' || v === 'sum') return v;
  throw new UsageError(`--intensity must be scale, prf or sum, got '${v}'`, { field: '--intensity' });
}

async function matchAction(files: string[], o: CommonOpts, cmd: Command): Promise<void> {
  globalOptions(cmd);
  const requested = parseIntensity(o.intensity);
  const loaded = await load(files, o, requested ?? 'none');
  const match = await runMatch(loaded.datasets, loaded.fold, o);
  const report = matchReport(loaded.datasets, match, { fold: loaded.fold });
  const summary = { command: 'spots match', intensityFilter: loaded.intensity ?? 'none (indices only)', ...report.summary, rowCounts: rowCounts(loaded) };
  const outputs = o.out !== undefined ? outputsOf(report, o.figures) : [];
  const text = `${JSON.stringify(summary, finiteReplacer, 1)}\n`;
  let written: string[] = [];
  if (o.out !== undefined) written = await writeOutputsAtomically(o.out, outputs, text);
  noteDrops(loaded);
  if (o.json) {
    process.stdout.write(`${JSON.stringify({ ...summary, files: written }, finiteReplacer)}\n`);
    return;
  }
  const lines = [
    `${loaded.datasets.length} dataset(s), ${match.index.images.nImages} images, ${match.index.nKeys} distinct ${loaded.fold ? `indices folded by ${loaded.fold.name}` : 'raw indices'}`,
    `${match.pairsWithShared} image pairs share at least one index, ${match.pairsAboveThreshold} at least ${match.minShared}`,
  ];
  const pairs = report.tables.find((t) => t.name === 'pairs')!;
  for (const row of pairs.rows.slice(0, 10)) {
    lines.push(`  #${row[0]} ${row[1]} image ${row[2]} ~ ${row[3]} image ${row[4]}: ${row[5]} shared (Jaccard ${fmt(row[8])}), ${fmt(row[9])}°`);
  }
  if (written.length > 0) lines.push(`wrote ${written.length} files to ${o.out}`);
  process.stdout.write(`${lines.join('\n')}\n`);
}

async function spreadAction(files: string[], o: SpreadOpts, cmd: Command): Promise<void> {
  globalOptions(cmd);
  const loaded = await load(files, o, parseIntensity(o.intensity));
  const k = num('--k', o.k, 0);
  const bins = int('--bins', o.bins, 1);
  const maxPairs = int('--pairs', o.pairs, 0);
  const permutations = int('--permutations', o.permutations, 1);
  const seed = int('--seed', o.seed, 0);
  const match = await runMatch(loaded.datasets, loaded.fold, { ...o, top: String(Math.max(maxPairs, int('--top', o.top, 0))) });
  const spread = analyseSpread(loaded.datasets, { fold: loaded.fold, k, bins, pairs: match.pairs, maxPairs, permutations, seed });
  const report = spreadReport(loaded.datasets, spread, loaded.fold);
  const m = matchReport(loaded.datasets, match, { fold: loaded.fold, imageTable: false });
  report.tables.push(...m.tables);
  report.figures.push(...m.figures);
  const summary = { command: 'spots spread', ...report.summary, match: { pairsWithShared: match.pairsWithShared, pairsAboveThreshold: match.pairsAboveThreshold }, rowCounts: rowCounts(loaded) };
  const text = `${JSON.stringify(summary, finiteReplacer, 1)}\n`;
  const outputs = o.out !== undefined ? outputsOf(report, o.figures) : [];
  let written: string[] = [];
  if (o.out !== undefined) written = await writeOutputsAtomically(o.out, outputs, text);
  noteDrops(loaded);
  if (o.json) {
    process.stdout.write(`${JSON.stringify({ ...summary, files: written }, finiteReplacer)}\n`);
    return;
  }
  const s = spread.summary;
  const lines = [
    `intensities: ${s.intensitySource} (${report.summary.intensityColumns ? (report.summary.intensityColumns as { value: string }).value : ''})${loaded.fold ? `, folded by ${loaded.fold.name}` : ''}`,
    `${s.observations} observations of ${s.reflections} unique reflections; ${s.multiReflections} seen at least twice (${s.multiObservations} observations)`,
    `normalized dispersion: pooled ${fmt(s.pooledDispersion)}, median ${fmt(s.medianDispersion)}; beyond ${s.k}σ: ${fmt(100 * s.fractionBeyondK)}% (normal: ${fmt(100 * s.fractionBeyondKExpected)}%)`,
  ];
  for (const t of spread.trimmed) lines.push(`  without the noisiest ${t.percent}% of observations: ${fmt(t.dispersionAfter)} (they carry ${fmt(100 * t.shareOfSpread)}% of Σz²)`);
  if (spread.zoneAxes.available) {
    lines.push(`nearest zone axis: median ${fmt(spread.zoneAxes.medianAll)}° for all, ${fmt(spread.zoneAxes.medianExtreme)}° for the ${spread.zoneAxes.extreme} beyond ${s.k}σ (KS p ${fmt(spread.zoneAxes.ksP)})`);
  }
  const best = spread.pairs[0];
  if (best) lines.push(`best pair: ${best.datasetA} image ${best.imageA} ~ ${best.datasetB} image ${best.imageB}: ${best.n} shared, Pearson ${fmt(best.pearson)}, p ${fmt(best.pValue)}`);
  if (written.length > 0) lines.push(`wrote ${written.length} files to ${o.out}`);
  process.stdout.write(`${lines.join('\n')}\n`);
}

function common(c: Command): Command {
  return c
    .argument('[files...]', '.expt and .refl files, in pairs (or use --list)')
    .option('--list <file>', 'text file with more .expt/.refl paths')
    .option('--out <dir>', 'write tables (CSV, JSON), figures and summary.json here')
    .option('--json', 'print a machine-readable summary on stdout')
    .option('--fold <how>', 'auto: fold Miller indices by the Laue group of the space group; none: raw indices', 'auto')
    .option('--frame-from <col>', 'image of a reflection from obs (xyzobs.px.value, falling back to xyzcal.px) or cal (xyzcal.px)', 'obs')
    .option('--keep-outliers', 'keep rows that dials.scale flagged as outliers or excluded (scale only)')
    .option('--min-shared <n>', 'rank only image pairs sharing at least this many indices', '3')
    .option('--cross-only', 'ignore pairs of images from the same dataset')
    .option('--threads <n>', 'worker threads for matching (default: cores, at most 4)')
    .option('--figures <kinds>', 'svg,png | svg | png | none', 'svg,png');
}

export const spotsCommand: CommandSpec = {
  name: 'spots',
  register(program) {
    const spots = program
      .command('spots')
      .description('Bragg spot consistency across images: match images by shared reflections, measure how repeated intensities spread');
    common(spots.command('match'))
      .description('rank image pairs by the Miller indices they share, with the angle between their crystal settings')
      .option('--intensity <src>', 'keep only rows with usable scale | prf | sum intensities (default: every indexed row)')
      .option('--top <n>', 'how many pairs to rank', '100')
      .action(matchAction);
    common(spots.command('spread'))
      .description('how much repeated observations of a reflection vary, against intensity, resolution, image total and zone axes')
      .option('--intensity <src>', 'scale (intensity.scale.*, default when present) | prf | sum (unscaled)')
      .option('--top <n>', 'how many pairs to rank', '100')
      .option('--pairs <n>', 'correlation statistics for this many best pairs', '20')
      .option('--k <sigma>', 'threshold for "beyond kσ" and extreme observations', '3')
      .option('--bins <n>', 'bins of the binned tables', '10')
      .option('--permutations <n>', 'permutations for each pair\u2019s p-value', '999')
      .option('--seed <n>', 'seed of the permutations', '1')
      .action(spreadAction);
  },
};
