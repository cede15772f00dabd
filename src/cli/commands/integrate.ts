/**
 * `diffract integrate EXPT --out FILE.h5`: Bragg-peak removal by the Poisson
 * filter and voxel integration of a rotation series (mdx-lib method), wedge
 * by wedge. Writes the included and excluded subvoxels with their integer
 * sums, and one row per wedge (layout: docs/tables.md).
 *
 * The options shared with `diffract filter` (grid, filter, masks, detector,
 * per-pixel corrections) are defined here. By default every subvoxel also
 * gets Σ κ and Σ d³s over its pixel·frames, κ and d³s from
 * `pixelCorrections` (src/corrections/pixel-corrections.ts), for the later
 * correction and scaling stages; `--no-corrections` leaves them out.
 */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { pixelCorrections, type CorrectionOptions } from '../../corrections/pixel-corrections.ts';
import { FileAccessError, InvalidValueError, UsageError } from '../../errors.ts';
import { loadExperiments, pickExperiment } from '../../geometry/load.ts';
import type { Experiment } from '../../geometry/model.ts';
import { setAttributes, writeHdf5Atomic, type ColumnArray, type H5File } from '../../io/hdf5.ts';
import { readNpy } from '../../io/npy.ts';
import { openImageSeries } from '../../io/series.ts';
import { openExperimentFrames } from '../../io/sources/experiment.ts';
import { AppendableTable, toI64, toU64, VOXEL_TABLES_FORMAT, VOXEL_TABLES_VERSION } from '../../io/voxel-tables.ts';
import {
  integrateSeries,
  prepareIntegration,
  tableTotals,
  wedgeFilterTable,
  wedgeTables,
  type FilterTable,
  type IntegrationOptions,
  type IntegrationSetup,
  type VoxelTable,
  type WedgeResult,
} from '../../pipeline/voxel-integrate.ts';
import type { BeamstopShape, DetectorKind } from '../../pipeline/voxel-masks.ts';
import { withEngine } from '../engine-options.ts';
import { startProgress } from '../progress.ts';
import type { CommandSpec } from '../registry.ts';

export interface VoxelCliOptions {
  out: string;
  images?: string[];
  experiment: string;
  ndiv: string;
  maxCount: string;
  window: string;
  wedgeDeg?: string;
  wedgeFrames?: string;
  batch?: string;
  filter: boolean;
  detector: string;
  gain?: string;
  pedestal?: string;
  trustedRange: string;
  edge: string;
  panelMasks: boolean;
  beamstopRect: string[];
  beamstopCircle: string[];
  beamstopPolygon: string[];
  mask?: string;
  hotPixels?: string;
  background?: string[];
  json?: boolean;
  /** false with --no-corrections: no κ / d³s sums */
  corrections: boolean;
  efficiency: boolean;
  polarization: boolean;
  airPath?: string;
}

const collect = (v: string, acc: string[]): string[] => [...acc, v];

/** Adds the options shared by `integrate` and `filter`. */
export function addVoxelOptions(cmd: Command): Command {
  return cmd
    .argument('<expt>', 'DIALS .expt (its imageset template names the images), or XDS.INP / GXPARM.XDS')
    .requiredOption('--out <file>', 'output HDF5 file (written atomically: it appears only when complete)')
    .option('--images <files...>', "image files, instead of the experiment's template")
    .option('--experiment <n>', 'experiment index in the list', '0')
    .option('--ndiv <n1,n2,n3>', 'subvoxels per cell along h, k, l (odd puts the central one on the Bragg position)', '3,3,3')
    .option('--max-count <n>', 'histogram bins 0…n; a subvoxel with a larger count overflows and is excluded', '20')
    .option('--window <n>', 'filter neighbourhood radius, in subvoxels (ball Δ·Δ ≤ n²)', '2')
    .option('--wedge-deg <deg>', 'degrees of rotation per wedge (default 3)')
    .option('--wedge-frames <n>', 'frames per wedge (instead of --wedge-deg)')
    .option('--batch <n>', 'frames per kernel call (default: from the device limits)')
    .option('--no-filter', 'integrate without the Poisson filter (overflowing subvoxels are still excluded)')
    .option('--detector <kind>', 'auto | photon-counting | integrating (auto: photon counting when every panel is SENSOR_PAD)', 'auto')
    .option('--gain <adu>', 'integrating detectors: ADU per photon')
    .option('--pedestal <adu>', "integrating detectors: ADU added to every pixel (default: the panel's)")
    .option('--trusted-range <conv>', "how the panels' trusted_range reads: exclusive (lo < v < hi) | inclusive", 'exclusive')
    .option('--edge <n>', 'pixels masked along every panel border', '0')
    .option('--no-panel-masks', "ignore the panels' .expt mask rectangles")
    .option('--beamstop-rect <x0,y0,x1,y1>', 'beamstop rectangle in pixels, half-open (repeatable)', collect, [] as string[])
    .option('--beamstop-circle <cx,cy,r>', 'beamstop circle in pixels (repeatable)', collect, [] as string[])
    .option('--beamstop-polygon <x,y,x,y,...>', 'beamstop polygon in pixels, ≥ 3 vertices (repeatable)', collect, [] as string[])
    .option('--mask <file.npy>', 'mask image over all pixels (uint8/int, nonzero = usable)')
    .option('--hot-pixels <list>', 'hot pixels "x,y;x,y;…", or a file of "x y" lines')
    .option('--background <files...>', 'a background run (no crystal), binned into the same subvoxels: scan frame o uses background frame floor(o·n_bg/n_scan)')
    .option('--no-corrections', 'no per-pixel correction sums (kappa_sum, d3s_sum); the x, y, panel sums are still written')
    .option('--no-efficiency', 'κ without the detector efficiency (sensor absorption)')
    .option('--no-polarization', 'κ without the polarization factor')
    .option('--air-path <fraction>', 'κ with air attenuation over this fraction of the sample–pixel distance (default: none)')
    .option('--json', 'print the summary as JSON');
}

function numbers(text: string, count: number | 'even', field: string): number[] {
  const parts = text.split(/[\s,]+/).filter((s) => s.length > 0).map(Number);
  const okCount = count === 'even' ? parts.length >= 6 && parts.length % 2 === 0 : parts.length === count;
  if (!okCount || parts.some((v) => !Number.isFinite(v))) {
    throw new UsageError(`${field} expects ${count === 'even' ? 'x,y pairs (at least 3)' : `${count} numbers`}, got '${text}'`, { field });
  }
  return parts;
}

function int(text: string, field: string, min: number): number {
  if (!/^-?\d+$/.test(text.trim()) || Number(text) < min) throw new UsageError(`${field} must be an integer ≥ ${min}, got '${text}'`, { field });
  return Number(text);
}

function positive(text: string, field: string): number {
  const v = Number(text);
  if (!Number.isFinite(v) || v <= 0) throw new UsageError(`${field} must be a positive number, got '${text}'`, { field });
  return v;
}

function readHotPixels(spec: string): [number, number][] {
  let text = spec;
  if (!/^[\d\s,;]+$/.test(spec)) {
    try {
      text = readFileSync(spec, 'utf8');
    } catch (err) {
      throw new FileAccessError(`cannot read the hot pixel list: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { file: spec });
    }
  }
  const out: [number, number][] = [];
  for (const item of text.split(/[;\n]/)) {
    const s = item.replace(/#.*/, '').trim();
    if (s === '') continue;
    const p = s.split(/[\s,]+/).map(Number);
    if (p.length !== 2 || !p.every((v) => Number.isInteger(v) && v >= 0)) throw new UsageError(`a hot pixel is "x,y" with non-negative integers, got '${s}'`, { field: '--hot-pixels' });
    out.push([p[0] as number, p[1] as number]);
  }
  return out;
}

function readMaskImage(file: string, exp: Experiment): Uint8Array {
  const arr = readNpy(file);
  const n = exp.detector.panels.reduce((s, p) => s + p.imageSize[0] * p.imageSize[1], 0);
  if (arr.data.length !== n) throw new InvalidValueError(`the mask has ${arr.data.length} values (shape ${arr.shape.join('×')}) but the detector has ${n} pixels`, { file });
  return Uint8Array.from(arr.data as ArrayLike<number>, (v) => (v !== 0 ? 1 : 0));
}

/** The per-pixel correction options from the command line (undefined with --no-corrections). */
export function correctionOptions(o: VoxelCliOptions): CorrectionOptions | undefined {
  if (o.corrections === false) return undefined;
  const c: CorrectionOptions = { solidAngle: true, polarization: o.polarization !== false, efficiency: o.efficiency !== false, air: false };
  if (o.airPath !== undefined) {
    const f = Number(o.airPath);
    if (o.airPath.trim() === '' || !Number.isFinite(f) || f < 0 || f > 1) throw new UsageError(`--air-path must be a fraction 0…1 of the sample–pixel distance, got '${o.airPath}'`, { field: '--air-path' });
    c.air = f;
  }
  return c;
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

/** The integration options from the command line (validated; files read), and what κ holds. */
export function integrationOptions(o: VoxelCliOptions, exp: Experiment): IntegrationOptions & { corrections: string } {
  const ndiv = numbers(o.ndiv, 3, '--ndiv');
  if (!ndiv.every((v) => Number.isInteger(v) && v >= 1 && v <= 255)) throw new UsageError(`--ndiv must be three integers 1…255, got '${o.ndiv}'`, { field: '--ndiv' });
  const detector = o.detector as DetectorKind;
  if (!['auto', 'photon-counting', 'integrating'].includes(detector)) throw new UsageError(`--detector must be auto, photon-counting or integrating, got '${o.detector}'`, { field: '--detector' });
  if (o.trustedRange !== 'exclusive' && o.trustedRange !== 'inclusive') throw new UsageError(`--trusted-range must be exclusive or inclusive, got '${o.trustedRange}'`, { field: '--trusted-range' });
  if (o.wedgeDeg !== undefined && o.wedgeFrames !== undefined) throw new UsageError('give --wedge-deg or --wedge-frames, not both', { field: '--wedge-frames' });
  const beamstop: BeamstopShape[] = [
    ...o.beamstopRect.map((t): BeamstopShape => {
      const [x0, y0, x1, y1] = numbers(t, 4, '--beamstop-rect') as [number, number, number, number];
      return { kind: 'rect', x0, y0, x1, y1 };
    }),
    ...o.beamstopCircle.map((t): BeamstopShape => {
      const [cx, cy, r] = numbers(t, 3, '--beamstop-circle') as [number, number, number];
      return { kind: 'circle', cx, cy, r };
    }),
    ...o.beamstopPolygon.map((t): BeamstopShape => {
      const v = numbers(t, 'even', '--beamstop-polygon');
      const points: [number, number][] = [];
      for (let i = 0; i < v.length; i += 2) points.push([v[i] as number, v[i + 1] as number]);
      return { kind: 'polygon', points };
    }),
  ];
  const opts: IntegrationOptions = {
    ndiv,
    maxCount: int(o.maxCount, '--max-count', 1),
    window: int(o.window, '--window', 0),
    filter: o.filter,
    mask: { panelMasks: o.panelMasks, edge: int(o.edge, '--edge', 0), beamstop },
    counting: { detector, trustedRange: o.trustedRange },
  };
  if (o.wedgeDeg !== undefined) opts.wedgeDeg = positive(o.wedgeDeg, '--wedge-deg');
  if (o.wedgeFrames !== undefined) opts.wedgeFrames = int(o.wedgeFrames, '--wedge-frames', 1);
  if (o.batch !== undefined) opts.batchFrames = int(o.batch, '--batch', 1);
  if (o.gain !== undefined) opts.counting!.gain = positive(o.gain, '--gain');
  if (o.pedestal !== undefined) {
    const p = Number(o.pedestal);
    if (!Number.isFinite(p)) throw new UsageError(`--pedestal must be a number, got '${o.pedestal}'`, { field: '--pedestal' });
    opts.counting!.pedestal = p;
  }
  if (o.mask !== undefined) opts.mask!.maskImage = readMaskImage(o.mask, exp);
  if (o.hotPixels !== undefined) opts.mask!.hotPixels = readHotPixels(o.hotPixels);
  if (o.background !== undefined && o.background.length > 0) {
    const panel = exp.detector.panels[0];
    opts.background = openImageSeries({ files: o.background, ...(exp.detector.panels.length === 1 && panel !== undefined ? { expectedSize: panel.imageSize } : {}) });
  }
  const co = correctionOptions(o);
  let efficiencyKnown = true;
  if (co !== undefined) {
    const c = pixelCorrections(exp, co);
    opts.pixelWeights = { kappa: c.kappa, d3s: c.d3s };
    efficiencyKnown = co.efficiency === false || c.efficiency.some((v) => v !== 1);
  }
  return { ...opts, corrections: correctionsDescription(co, efficiencyKnown) };
}

/** Root attributes describing the run. */
export function rootAttributes(command: string, expt: string, setup: IntegrationSetup, corrections = 'none'): Record<string, string | number | readonly number[]> {
  const quanta: Record<string, number> = setup.weights !== undefined ? { kappa_quantum: setup.weights.kappa, d3s_quantum: setup.weights.d3s } : {};
  return {
    format: VOXEL_TABLES_FORMAT,
    version: VOXEL_TABLES_VERSION,
    command,
    expt,
    ndiv: [...setup.ndiv],
    max_count: setup.maxCount,
    window: setup.window,
    filter: setup.filter ? 1 : 0,
    wedge_frames: setup.wedgeFrames,
    detector: setup.counting.kind,
    gain: setup.counting.params.integrating !== undefined ? 1 / setup.counting.params.integrating.invGain : 1,
    pedestal: setup.counting.params.integrating?.pedestal ?? 0,
    trusted_lo: setup.counting.params.trustedLo,
    trusted_hi: setup.counting.params.trustedHi,
    static_masked_pixels: setup.staticMask.valid.length - setup.staticMask.valid.reduce((s, v) => s + v, 0),
    background_frames: setup.background?.length ?? 0,
    frame_index: '0-based offset of the frame in the scan; mean scan-frame z = frame_sum / pixels + 0.5',
    pixel_sums: 'x_sum, y_sum: column and row of the pixel in its panel; panel_sum: panel index; mean pixel centre = x_sum / pixels + 0.5, y_sum / pixels + 0.5',
    corrections,
    ...quanta,
  };
}

/** Columns of a voxel table in the file layout. */
export function voxelColumns(t: VoxelTable, withReason: boolean): Record<string, ColumnArray> {
  const cols: Record<string, ColumnArray> = {
    H: t.H,
    K: t.K,
    L: t.L,
    ix: t.ix,
    iy: t.iy,
    iz: t.iz,
    h: t.h,
    k: t.k,
    l: t.l,
    counts: toU64(t.counts),
    pixels: toU64(t.pixels),
    frame_sum: toU64(t.frameSum),
    wedge: t.wedge,
  };
  if (withReason) cols.reason = t.reason;
  if (t.bgCounts !== undefined && t.bgPixels !== undefined) {
    cols.bg_counts = toU64(t.bgCounts);
    cols.bg_pixels = toU64(t.bgPixels);
  }
  cols.x_sum = toU64(t.xSum);
  cols.y_sum = toU64(t.ySum);
  cols.panel_sum = toU64(t.panelSum);
  if (t.kappaSum !== undefined && t.d3sSum !== undefined) {
    cols.kappa_sum = t.kappaSum;
    cols.d3s_sum = t.d3sSum;
  }
  return cols;
}

export function filterColumns(t: FilterTable): Record<string, ColumnArray> {
  return {
    ...voxelColumns(t, true),
    lambda: t.lambda,
    divergence: t.divergence,
    delta: t.delta,
    neighbourhood_pixels: t.neighbourhoodPixels,
  };
}

export interface WedgeSummary {
  index: number;
  firstFrame: number;
  frames: number;
  backend: string;
  cells: number;
  occupied: number;
  participants: number;
  outliers: number;
  overflow: number;
  includedCounts: number;
  excludedCounts: number;
  maskedPixelFrames: number;
  maskedSum: number;
  frameSum: number;
  divergenceBefore: number;
  divergenceAfter: number;
  exhausted: boolean;
  seconds: number;
}

/** The `wedges` table rows. */
export class WedgeLog {
  readonly rows: WedgeSummary[] = [];

  add(r: WedgeResult, included: VoxelTable, excluded: VoxelTable): WedgeSummary {
    const s: WedgeSummary = {
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
    this.rows.push(s);
    return s;
  }

  write(file: H5File): void {
    const t = new AppendableTable(file, 'wedges');
    const col = (f: (s: WedgeSummary) => number): Float64Array => Float64Array.from(this.rows, f);
    t.append({
      wedge: Uint32Array.from(this.rows, (s) => s.index),
      first_frame: Uint32Array.from(this.rows, (s) => s.firstFrame),
      frames: Uint32Array.from(this.rows, (s) => s.frames),
      cells: Uint32Array.from(this.rows, (s) => s.cells),
      occupied: Uint32Array.from(this.rows, (s) => s.occupied),
      participants: Uint32Array.from(this.rows, (s) => s.participants),
      outliers: Uint32Array.from(this.rows, (s) => s.outliers),
      overflow: Uint32Array.from(this.rows, (s) => s.overflow),
      included_counts: toU64(col((s) => s.includedCounts)),
      excluded_counts: toU64(col((s) => s.excludedCounts)),
      masked_pixel_frames: toU64(col((s) => s.maskedPixelFrames)),
      masked_sum: toI64(col((s) => s.maskedSum)),
      frame_sum: toI64(col((s) => s.frameSum)),
      divergence_before: col((s) => s.divergenceBefore),
      divergence_after: col((s) => s.divergenceAfter),
      exhausted: Uint8Array.from(this.rows, (s) => (s.exhausted ? 1 : 0)),
    });
    t.close();
  }

  summaryLines(): string[] {
    const tot = this.rows.reduce(
      (a, s) => ({ occ: a.occ + s.occupied, out: a.out + s.outliers, ov: a.ov + s.overflow, inc: a.inc + s.includedCounts, exc: a.exc + s.excludedCounts }),
      { occ: 0, out: 0, ov: 0, inc: 0, exc: 0 },
    );
    const lines = this.rows.map(
      (s) =>
        `  wedge ${s.index}: frames ${s.firstFrame}…${s.firstFrame + s.frames - 1}, ${s.cells} cells, ${s.occupied} occupied subvoxels, ` +
        `${s.outliers} outliers + ${s.overflow} overflow excluded (${s.backend}, ${s.seconds.toFixed(2)} s)`,
    );
    const pct = tot.occ > 0 ? (100 * (tot.out + tot.ov)) / tot.occ : 0;
    lines.push(`${this.rows.length} wedges: ${tot.occ} occupied subvoxels, ${tot.out + tot.ov} excluded (${pct.toFixed(2)}%); counts included ${tot.inc}, excluded ${tot.exc}`);
    return lines;
  }
}

/** Runs the series through the integration, handing each wedge to `onWedge` (inside the HDF5 build). */
export async function runVoxelCommand(
  command: 'integrate' | 'filter',
  expt: string,
  o: VoxelCliOptions,
  cmd: Command,
  onWedge: (file: H5File, r: WedgeResult, log: WedgeLog) => void,
  finish: (file: H5File) => void,
): Promise<WedgeLog> {
  if (!/^\d+$/.test(o.experiment)) throw new UsageError(`--experiment must be a non-negative integer, got '${o.experiment}'`, { field: '--experiment' });
  const exp = pickExperiment(await loadExperiments(expt), Number(o.experiment));
  const opts = integrationOptions(o, exp);
  const setup = prepareIntegration(exp, opts);
  const series = await openExperimentFrames(exp, expt, o.images);
  const log = new WedgeLog();
  await withEngine(cmd, async (engine) => {
    await writeHdf5Atomic(o.out, async (file) => {
      const progress = startProgress(command, series.length);
      try {
        for await (const r of integrateSeries(engine, setup, series, { onFrame: (d) => progress.update(d) })) onWedge(file, r, log);
      } finally {
        progress.stop();
      }
      finish(file);
      log.write(file);
      setAttributes(file, { ...rootAttributes(command, expt, setup, opts.corrections), backend: engine.backend });
    });
  });
  return log;
}

export const integrateCommand: CommandSpec = {
  name: 'integrate',
  register(program) {
    addVoxelOptions(
      program.command('integrate').description('remove Bragg peaks with the Poisson filter and integrate every subvoxel (tables: included, excluded, wedges)'),
    ).action(async (expt: string, o: VoxelCliOptions, cmd: Command) => {
      let included: AppendableTable | undefined;
      let excluded: AppendableTable | undefined;
      const log = await runVoxelCommand(
        'integrate',
        expt,
        o,
        cmd,
        (file, r, wl) => {
          included ??= new AppendableTable(file, 'included');
          excluded ??= new AppendableTable(file, 'excluded');
          const t = wedgeTables(r);
          included.append(voxelColumns(t.included, false));
          excluded.append(voxelColumns(t.excluded, true));
          wl.add(r, t.included, t.excluded);
        },
        () => {
          included?.close();
          excluded?.close();
        },
      );
      process.stdout.write(o.json ? `${JSON.stringify({ out: o.out, wedges: log.rows })}\n` : `${log.summaryLines().join('\n')}\nwrote ${o.out}\n`);
    });
  },
};
