/**
 * `diffract integrate EXPT --out FILE.h5`: Bragg-peak removal by the Poisson
 * filter and voxel integration of a rotation series (mdx-lib method), wedge
 * by wedge. Writes the included and excluded subvoxels with their integer
 * sums, and one row per wedge (layout: docs/tables.md).
 *
 * The options shared with `diffract filter` (grid, filter, masks, detector,
 * per-pixel corrections) are defined here, with their defaults generated from
 * INTEGRATE_DEFAULTS; the work is the integrate stage's (src/stages/integrate.ts),
 * the file layout src/io/integrate-file.ts. By default every subvoxel also
 * gets Σ κ and Σ d³s over its pixel·frames, κ and d³s from
 * `pixelCorrections` (src/corrections/pixel-corrections.ts), for the later
 * correction and scaling stages; `--no-corrections` leaves them out.
 */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { FileAccessError, UsageError } from '../../errors.ts';
import { loadExperiments, pickExperiment } from '../../geometry/load.ts';
import type { Experiment } from '../../geometry/model.ts';
import { setAttributes, writeHdf5Atomic, type H5File } from '../../io/hdf5.ts';
import { writeFileAtomic } from '../../io/atomic-file.ts';
import { formatMiB, peakRssBytes } from '../../host/node-memory.ts';
import { IntegrateFileWriter, writeWedgeRows, type WedgeSummary } from '../../io/integrate-file.ts';
import type { FrameSource } from '../../io/sources/frame-source.ts';
import { openExperimentFrames } from '../../io/sources/experiment.ts';
import type { BeamstopShape, DetectorKind } from '../../pipeline/voxel-masks.ts';
import { integrateAttributes, integrateDefaults, integrateWedges, INTEGRATE_DEFAULTS, prepareIntegrate, validateIntegrateSettings, wedgeTotals, type IntegratedWedge, type IntegrateSettings } from '../../stages/integrate.ts';
import type { CommandSpec } from '../command-spec.ts';
import { globalOptions, withEngine } from '../engine-options.ts';
import { resolveThreads } from '../../host/node-threads.ts';
import { checkAsFlags, flagNumber, flagNumbers, type FlagNames } from '../settings-flags.ts';
import { cliContext } from '../stage-context.ts';

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
  /** --timings FILE: the run's phase times as JSON (VoxelTimings) */
  timings?: string;
}

/**
 * What `--timings FILE` writes (the bench reads it). `wall_s`: the whole
 * process so far (start-up included); `phases`: decode_s and bin_s are thread
 * time summed over the threads that read, decoded and binned frames (one
 * thread: the main thread's), filter_s (cell tables, filter statistics,
 * removal, tables) and write_s (the output file) main-thread wall time, all
 * summed over the wedges; `peakRssBytes`: the process's peak resident set.
 */
export interface VoxelTimings {
  threads: number;
  pixelFrames: number;
  wall_s: number;
  phases: { decode_s: number; bin_s: number; filter_s: number; write_s: number };
  peakRssBytes: number;
}

/** What a voxel command ran: its wedge rows and its timings. */
export interface VoxelRun {
  rows: WedgeSummary[];
  timings: VoxelTimings;
}

/** The end-summary line of the run's resources. */
export function resourceLine(t: VoxelTimings): string {
  return `peak RSS ${formatMiB(t.peakRssBytes)}, ${t.threads} CPU thread${t.threads === 1 ? '' : 's'}, ${t.wall_s.toFixed(1)} s`;
}

/** The flag of every integrate setting (errors of the stage's checks name the flag). */
export const VOXEL_FLAGS: FlagNames = {
  'grid.ndiv': '--ndiv',
  'grid.wedgeDeg': '--wedge-deg',
  'grid.wedgeFrames': '--wedge-frames',
  'grid.batchFrames': '--batch',
  'filter.enabled': '--no-filter',
  'filter.maxCount': '--max-count',
  'filter.window': '--window',
  'mask.edge': '--edge',
  'mask.panelMasks': '--no-panel-masks',
  'mask.beamstop': '--beamstop-polygon',
  'mask.file': '--mask',
  'mask.hotPixels': '--hot-pixels',
  'mask.trustedRange': '--trusted-range',
  'detector.kind': '--detector',
  'detector.gain': '--gain',
  'detector.pedestal': '--pedestal',
  'corrections.enabled': '--no-corrections',
  'corrections.efficiency': '--no-efficiency',
  'corrections.polarization': '--no-polarization',
  'corrections.airPath': '--air-path',
};

const collect = (v: string, acc: string[]): string[] => [...acc, v];
const D = INTEGRATE_DEFAULTS;

/** Adds the options shared by `integrate` and `filter`. */
export function addVoxelOptions(cmd: Command): Command {
  return cmd
    .argument('<expt>', 'DIALS .expt (its imageset template names the images), or XDS.INP / GXPARM.XDS')
    .requiredOption('--out <file>', 'output HDF5 file (written atomically: it appears only when complete)')
    .option('--images <files...>', "the frames instead of the experiment's images: CBF/SMV files, or one Eiger/NeXus HDF5 master or data file, or a stream recording")
    .option('--experiment <n>', 'experiment index in the list', '0')
    .option('--ndiv <n1,n2,n3>', 'subvoxels per cell along h, k, l (odd puts the central one on the Bragg position)', D.grid.ndiv.join(','))
    .option('--max-count <n>', 'histogram bins 0…n; a subvoxel with a larger count overflows and is excluded', String(D.filter.maxCount))
    .option('--window <n>', 'filter neighbourhood radius, in subvoxels (ball Δ·Δ ≤ n²)', String(D.filter.window))
    .option('--wedge-deg <deg>', 'degrees of rotation per wedge', String(D.grid.wedgeDeg))
    .option('--wedge-frames <n>', 'frames per wedge (instead of --wedge-deg)')
    .option('--batch <n>', 'frames per kernel call (default: from the device limits)')
    .option('--no-filter', 'integrate without the Poisson filter (overflowing subvoxels are still excluded)')
    .option('--detector <kind>', 'auto | photon-counting | integrating (auto: photon counting when every panel is SENSOR_PAD)', D.detector.kind)
    .option('--gain <adu>', 'integrating detectors: ADU per photon')
    .option('--pedestal <adu>', "integrating detectors: ADU added to every pixel (default: the panel's)")
    .option('--trusted-range <conv>', "how the panels' trusted_range reads: exclusive (lo < v < hi) | inclusive", D.mask.trustedRange)
    .option('--edge <n>', 'pixels masked along every panel border', String(D.mask.edge))
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
    .option('--air-path <fraction>', 'κ with air attenuation over this fraction of the sample–pixel distance (0: no air, e.g. a helium path)', D.corrections.airPath === null ? undefined : String(D.corrections.airPath))
    .option('--timings <file>', 'write the phase times (decode, bin, filter, write), threads and peak RSS as JSON to this file')
    .option('--json', 'print the summary as JSON');
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

function beamstops(o: VoxelCliOptions): BeamstopShape[] {
  return [
    ...o.beamstopRect.map((t): BeamstopShape => {
      const [x0, y0, x1, y1] = flagNumbers(t, '--beamstop-rect', 4) as [number, number, number, number];
      return { kind: 'rect', x0, y0, x1, y1 };
    }),
    ...o.beamstopCircle.map((t): BeamstopShape => {
      const [cx, cy, r] = flagNumbers(t, '--beamstop-circle', 3) as [number, number, number];
      return { kind: 'circle', cx, cy, r };
    }),
    ...o.beamstopPolygon.map((t): BeamstopShape => {
      const v = flagNumbers(t, '--beamstop-polygon');
      if (v.length < 6 || v.length % 2 !== 0) throw new UsageError(`--beamstop-polygon expects x,y pairs (at least 3), got '${t}'`, { field: '--beamstop-polygon' });
      const points: [number, number][] = [];
      for (let i = 0; i < v.length; i += 2) points.push([v[i] as number, v[i + 1] as number]);
      return { kind: 'polygon', points };
    }),
  ];
}

/** The integrate settings of the command line: the stage defaults, changed by the flags given (checked; errors name the flags). */
export function voxelSettings(o: VoxelCliOptions, cmd?: Command): IntegrateSettings {
  const s = integrateDefaults();
  s.grid.ndiv = flagNumbers(o.ndiv, '--ndiv', 3) as [number, number, number];
  s.filter = { enabled: o.filter, maxCount: flagNumber(o.maxCount, '--max-count'), window: flagNumber(o.window, '--window') };
  const degGiven = o.wedgeDeg !== undefined && cmd?.getOptionValueSource('wedgeDeg') !== 'default';
  if (o.wedgeFrames !== undefined) {
    if (degGiven) throw new UsageError('give --wedge-deg or --wedge-frames, not both', { field: '--wedge-frames' });
    s.grid.wedgeFrames = flagNumber(o.wedgeFrames, '--wedge-frames');
    s.grid.wedgeDeg = null;
  } else if (o.wedgeDeg !== undefined) s.grid.wedgeDeg = flagNumber(o.wedgeDeg, '--wedge-deg');
  if (o.batch !== undefined) s.grid.batchFrames = flagNumber(o.batch, '--batch');
  s.detector = {
    kind: o.detector as DetectorKind,
    gain: o.gain !== undefined ? flagNumber(o.gain, '--gain') : null,
    pedestal: o.pedestal !== undefined ? flagNumber(o.pedestal, '--pedestal') : null,
  };
  s.mask = {
    edge: flagNumber(o.edge, '--edge'),
    panelMasks: o.panelMasks,
    beamstop: beamstops(o),
    file: o.mask ?? null,
    hotPixels: o.hotPixels !== undefined ? readHotPixels(o.hotPixels) : [],
    trustedRange: o.trustedRange as IntegrateSettings['mask']['trustedRange'],
  };
  s.corrections = { enabled: o.corrections !== false, efficiency: o.efficiency !== false, polarization: o.polarization !== false, airPath: o.airPath !== undefined ? flagNumber(o.airPath, '--air-path') : null };
  checkAsFlags(VOXEL_FLAGS, () => validateIntegrateSettings(s));
  return s;
}

/** The background run of `--background` (any image format; its frame count need not match the scan). */
async function backgroundFrames(exp: Experiment, expt: string, files: string[] | undefined): Promise<FrameSource | undefined> {
  if (files === undefined || files.length === 0) return undefined;
  return openExperimentFrames(exp, expt, files, { field: '--background', checkScan: false });
}

/** The human summary of the wedges. */
export function wedgeSummaryLines(rows: readonly WedgeSummary[]): string[] {
  const tot = wedgeTotals(rows);
  const lines = rows.map(
    (s) =>
      `  wedge ${s.index}: frames ${s.firstFrame}…${s.firstFrame + s.frames - 1}, ${s.cells} cells, ${s.occupied} occupied subvoxels, ` +
      `${s.outliers} outliers + ${s.overflow} overflow excluded (${s.backend}, ${s.seconds.toFixed(2)} s)`,
  );
  const pct = tot.occupied > 0 ? (100 * tot.excluded) / tot.occupied : 0;
  lines.push(`${rows.length} wedges: ${tot.occupied} occupied subvoxels, ${tot.excluded} excluded (${pct.toFixed(2)}%); counts included ${tot.countsIncluded}, excluded ${tot.countsExcluded}`);
  return lines;
}

/** How a command writes its tables: one call per wedge, then `close` (before the wedges table and the root attributes). */
export interface WedgeSink {
  add(w: IntegratedWedge): void;
  close(): void;
}

/** Runs the integrate stage wedge by wedge into the HDF5 file `o.out` (tables from `sink`, then wedges and root attributes). */
export async function runVoxelCommand(command: 'integrate' | 'filter', expt: string, o: VoxelCliOptions, cmd: Command, sink: (file: H5File) => WedgeSink): Promise<VoxelRun> {
  if (!/^\d+$/.test(o.experiment)) throw new UsageError(`--experiment must be a non-negative integer, got '${o.experiment}'`, { field: '--experiment' });
  const exp = pickExperiment(await loadExperiments(expt), Number(o.experiment));
  const settings = voxelSettings(o, cmd);
  // HDF5 frames are decoded in decode workers, one per CPU thread (when there are several): never on the main thread
  const cpuThreads = resolveThreads(globalOptions(cmd).threads);
  const frames = await openExperimentFrames(exp, expt, o.images, cpuThreads > 1 ? { workers: Math.min(cpuThreads, 64) } : {});
  const background = await backgroundFrames(exp, expt, o.background);
  const rows: WedgeSummary[] = [];
  const phases = { decode_s: 0, bin_s: 0, filter_s: 0, write_s: 0 };
  let threads = 1;
  let pixels = 0;
  const clock = (): number => performance.now() / 1000;
  await withEngine(cmd, async (engine) => {
    threads = engine.backend === 'cpu' ? engine.threads : 1;
    // prepared once the engine is known: the CPU threads read the per-pixel arrays from shared memory, allocated there from the start
    const prepared = checkAsFlags(VOXEL_FLAGS, () =>
      prepareIntegrate({ experiment: exp, exptPath: expt, frames, ...(background !== undefined ? { background } : {}) }, settings, { sharedArrays: engine.backend === 'cpu' && engine.threads > 1 }),
    );
    pixels = prepared.setup.nPixels;
    let t = clock();
    await writeHdf5Atomic(o.out, async (file) => {
      const out = sink(file);
      phases.write_s += clock() - t;
      for await (const w of integrateWedges(cliContext(engine), prepared, { label: command })) {
        t = clock();
        out.add(w);
        rows.push(w.row);
        phases.write_s += clock() - t;
        phases.decode_s += w.phases.decode;
        phases.bin_s += w.phases.bin;
        phases.filter_s += w.phases.filter;
      }
      t = clock();
      out.close();
      writeWedgeRows(file, rows);
      setAttributes(file, integrateAttributes(prepared, command, engine.backend));
    });
    phases.write_s += clock() - t;
  });
  const timings: VoxelTimings = { threads, pixelFrames: pixels * frames.length, wall_s: process.uptime(), phases, peakRssBytes: peakRssBytes() };
  if (o.timings !== undefined) await writeFileAtomic(o.timings, `${JSON.stringify(timings, null, 1)}\n`);
  return { rows, timings };
}

export const integrateCommand: CommandSpec = {
  name: 'integrate',
  register(program) {
    addVoxelOptions(
      program.command('integrate').description('remove Bragg peaks with the Poisson filter and integrate every subvoxel (tables: included, excluded, wedges)'),
    ).action(async (expt: string, o: VoxelCliOptions, cmd: Command) => {
      const { rows, timings } = await runVoxelCommand('integrate', expt, o, cmd, (file) => {
        const writer = new IntegrateFileWriter(file);
        return { add: (w) => writer.append(w.included, w.excluded), close: () => writer.close() };
      });
      process.stdout.write(
        o.json
          ? `${JSON.stringify({ out: o.out, wedges: rows, threads: timings.threads, peakRssBytes: timings.peakRssBytes })}\n`
          : `${wedgeSummaryLines(rows).join('\n')}\n${resourceLine(timings)}\nwrote ${o.out}\n`,
      );
    });
  },
};
