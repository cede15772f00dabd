/**
 * Per-shot diffuse extraction of serial stills: observation rows on a common
 * grid, one shot at a time, through the rotation path's own voxel machinery.
 *
 * Per shot:
 * 1. its image (`ShotImages`; a missing file, an index past the file's end or a
 *    wrong pixel count is a `ShotError` naming the shot);
 * 2. its 2D Bragg mask (`stillBraggMask`, src/stills/mask.ts: predicted spots,
 *    the `.refl` bboxes, bright outliers), combined with the static mask (panel
 *    masks, edge, beamstop, mask file, hot pixels; per-pixel values outside the
 *    trusted range are masked by the kernel, as for rotation data);
 * 3. the unmasked pixels binned into subvoxels by `integrateWedge`
 *    (src/pipeline/voxel-integrate.ts) with a one-frame wedge and the Poisson
 *    filter off, on the engine's backend (GPU or CPU: identical integer sums).
 *    The shot's own A gives the hkl (a still: M = A⁻¹, see geometry.ts); the
 *    per-pixel channels carry Σκ (κ = solid angle · polarization · efficiency ·
 *    air, `pixelCorrections`) and the mean pixel position. Counting detectors
 *    count; integrating ones turn ADU into photons with the gain and pedestal
 *    (`resolveCounting`, exactly as the rotation path);
 * 4. `correctVoxels` (src/pipeline/correct.ts): I = N / (T · Σκ),
 *    σ² = (N + 1) / (T · Σκ)², indices mapped into the ASU of the common grid
 *    (`stillsGridMeta`: cell, space group, ndiv), |s| from the common cell.
 *    Rows: batch = shot index, sweep = 0, phi = 0 (the scaling step writes the
 *    shot's p_order there), fraction = 0 (a still samples a surface, no volume).
 *
 * Everything that depends only on the detector and beam (pixel vectors,
 * corrections, static mask, channels) is built once per (detector, beam) pair
 * and reused by every shot that shares them (the last few pairs are kept).
 *
 * Optional background (blank shots of the same detector): their photon counts
 * (after the same gain/pedestal and trusted-range test, per image) are summed
 * into one count image once; every shot bins that image with its own geometry
 * and masks (a second one-frame pass over the same cell table), and
 * `correctVoxels` subtracts it scaled to the shot's pixels, with the background
 * exposure N_blank · T_blank and Poisson errors propagated.
 */
import { pixelCorrections } from '../corrections/pixel-corrections.ts';
import { DeviceLostError, DiffractError, GpuError, InvalidValueError, invariant, UsageError } from '../errors.ts';
import type { Beam, Detector, Experiment, UnitCell } from '../geometry/model.ts';
import type { DetectorImage } from '../io/image.ts';
import { voxelColumnArrays } from '../io/integrate-file.ts';
import type { ReadTable } from '../io/voxel-tables.ts';
import { packValidBits } from '../kernels/cell-bounds.ts';
import { roundHalfEven } from '../kernels/voxel-accumulate.ts';
import { correctVoxels, spaceGroupAsu, type AsuMapper } from '../pipeline/correct.ts';
import type { ObservationMeta, ObservationTable } from '../pipeline/observations.ts';
import { concatTables, integrateWedge, prepareIntegration, wedgeTables, type IntegrationSetup, type VoxelTable, type WedgeFrame, type WedgeRange } from '../pipeline/voxel-integrate.ts';
import type { StageContext } from '../stages/context.ts';
import { INTEGRATE_DEFAULTS, integrationOptions, validateIntegrateSettings, type CorrectionSettings, type DetectorSettings, type IntegrateSettings, type MaskSettings } from '../stages/integrate.ts';
import { checkPositive, SettingError } from '../stages/settings-check.ts';
import { spaceGroup } from '../symmetry/index.ts';
import { HC_EV_A } from './crystfel.ts';
import { ShotVectorCache } from './geometry.ts';
import { ShotImages, shotLabel } from './images.ts';
import { STILLS_MASK_DEFAULTS, stillBraggMask, validateStillsMaskSettings, type StillsMaskSettings } from './mask.ts';
import { allocateStillReflections, type StillReflections, type StillShot, type StillsDataset } from './model.ts';

export interface StillsBackgroundSettings {
  /** blank images of the same detector (one image per file, or the first of each) */
  images: string[];
  /** seconds per blank image; null: the shots' exposure */
  exposure: number | null;
}

export interface StillsExtractSettings {
  /** subvoxels per cell along h, k, l (odd) */
  ndiv: [number, number, number];
  /** the 2D Bragg masks (src/stills/mask.ts) */
  mask: StillsMaskSettings;
  /** the static mask (edge, panel masks, beamstop, mask file, hot pixels, trusted range) */
  staticMask: MaskSettings;
  /** counting: kind, gain (ADU/photon), pedestal */
  detector: DetectorSettings;
  /** the per-pixel corrections in κ */
  corrections: CorrectionSettings;
  /** seconds per shot; null: 1 */
  exposure: number | null;
  /** space group of the common grid; null: the first shot's crystal */
  spaceGroup: string | null;
  /** the common grid's cell; null: the median of the shots' cells */
  unitCell: [number, number, number, number, number, number] | null;
  /** blank shots, summed and subtracted with propagated errors; null: none */
  background: StillsBackgroundSettings | null;
}

export const STILLS_EXTRACT_DEFAULTS: StillsExtractSettings = {
  ndiv: [1, 1, 1],
  mask: { ...STILLS_MASK_DEFAULTS },
  staticMask: structuredClone(INTEGRATE_DEFAULTS.mask),
  detector: structuredClone(INTEGRATE_DEFAULTS.detector),
  corrections: structuredClone(INTEGRATE_DEFAULTS.corrections),
  exposure: null,
  spaceGroup: null,
  unitCell: null,
  background: null,
};

/** A deep copy of the defaults, for callers that change a few settings. */
export function stillsExtractDefaults(): StillsExtractSettings {
  return structuredClone(STILLS_EXTRACT_DEFAULTS);
}

/** One shot's extraction summary. */
export interface ShotInfo {
  shot: number;
  identifier: string;
  /** pixels binned after all masks (static, trusted range, Bragg) */
  pixels: number;
  /** of the in-detector pixels, masked by the 2D Bragg mask (predicted | bbox | outlier) */
  maskedFraction: number;
  /** exact integer Σ of the binned photon counts (identical on GPU and CPU) */
  counts: number;
  /** total diffuse intensity: Σ counts / exposure over the binned pixels */
  diffuse: number;
  photonEnergyEv: number;
  wavelength: number;
  /** observation rows of the shot */
  rows: number;
  backend: 'gpu' | 'cpu';
}

export interface ShotObservations {
  shot: number;
  diffuse: ObservationTable;
  info: ShotInfo;
  /** the shot's binned subvoxels before correction (integer counts, pixels, channel sums), only with `keepVoxels` */
  voxels?: VoxelTable;
}

export interface ExtractOptions {
  /** the shots to extract, in this order (default: all) */
  shots?: readonly number[];
  /** also hand back each shot's voxel table (tests, diagnostics) */
  keepVoxels?: boolean;
}

export interface StillsExtractInputs {
  data: StillsDataset;
  images: ShotImages;
  /** where the dataset came from (messages) */
  source: string;
}

/** A shot that could not be extracted: one line naming the shot; `shot` is its index (a runner may skip it). */
export class ShotError extends DiffractError {
  readonly shot: number;

  constructor(shot: StillShot, cause: unknown) {
    const label = shotLabel(shot);
    const text = cause instanceof Error ? cause.message : String(cause);
    const where = cause instanceof DiffractError ? { ...(cause.file !== undefined ? { file: cause.file } : {}), ...(cause.frame !== undefined ? { frame: cause.frame } : {}) } : {};
    // the cause's message already names its file and frame: keep them once
    const body = cause instanceof DiffractError ? stripLocation(text, cause) : text;
    super('shot', body.includes(`shot ${shot.index}`) ? body : `${label}: ${body}`, { ...where, field: `shot ${shot.index}` }, { cause });
    this.shot = shot.index;
  }
}

function stripLocation(message: string, e: DiffractError): string {
  const parts: string[] = [];
  if (e.file !== undefined) parts.push(e.file);
  if (e.frame !== undefined) parts.push(`frame ${e.frame}`);
  if (e.field !== undefined) parts.push(`field '${e.field}'`);
  const prefix = `${parts.join(', ')}: `;
  return parts.length > 0 && message.startsWith(prefix) ? message.slice(prefix.length) : message;
}

/** Checks the settings; errors name the setting. */
export function validateStillsExtractSettings(s: StillsExtractSettings): void {
  if (s.ndiv.length !== 3 || !s.ndiv.every((v) => Number.isInteger(v) && v >= 1 && v <= 255 && v % 2 === 1)) throw new SettingError('ndiv', 'must be three odd integers 1…255', s.ndiv);
  validateStillsMaskSettings(s.mask);
  try {
    validateIntegrateSettings(integrateSettingsOf(s));
  } catch (err) {
    // the integrate stage's `mask` is `staticMask` here
    if (err instanceof SettingError && err.setting.startsWith('mask.')) throw new SettingError(`staticMask.${err.setting.slice(5)}`, err.detail, err.value);
    throw err;
  }
  if (s.exposure !== null) checkPositive(s.exposure, 'exposure');
  if (s.unitCell !== null && !(s.unitCell.length === 6 && s.unitCell.every((v) => Number.isFinite(v) && v > 0))) throw new SettingError('unitCell', 'must be six positive numbers a, b, c, α, β, γ', s.unitCell);
  if (s.spaceGroup !== null) {
    try {
      spaceGroup(s.spaceGroup);
    } catch (err) {
      if (!(err instanceof InvalidValueError)) throw err;
      throw new SettingError('spaceGroup', `is not a space group: ${err.message}`, s.spaceGroup);
    }
  }
  if (s.background !== null) {
    if (s.background.images.length === 0) throw new SettingError('background.images', 'must name at least one blank image', s.background.images);
    if (s.background.exposure !== null) checkPositive(s.background.exposure, 'background.exposure');
  }
}

function median(values: number[]): number {
  const v = values.slice().sort((a, b) => a - b);
  const n = v.length;
  invariant(n > 0, 'median of no values');
  return n % 2 === 1 ? (v[(n - 1) / 2] as number) : 0.5 * ((v[n / 2 - 1] as number) + (v[n / 2] as number));
}

/**
 * The common grid of a stills dataset: ndiv, the space group (settings, else
 * the first shot's crystal), the cell (settings, else the median of the shots'
 * cells, parameter by parameter) and the median wavelength.
 */
export function stillsGridMeta(data: StillsDataset, s: StillsExtractSettings): ObservationMeta {
  if (data.shots.length === 0) throw new InvalidValueError('the dataset has no shots', { file: data.source, field: 'shots' });
  const first = data.shots[0] as StillShot;
  const symbol = s.spaceGroup ?? first.experiment.crystal?.spaceGroupHall;
  if (symbol === undefined || symbol.trim() === '') throw new UsageError(`${shotLabel(first)} has no space group: give the spaceGroup setting`, { file: data.source, field: 'spaceGroup' });
  const ndiv = [...s.ndiv] as [number, number, number];
  const { hall } = spaceGroupAsu(symbol, ndiv);
  let cell = s.unitCell;
  if (cell === null) {
    const cells = data.shots.map((shot) => {
      const c = shot.experiment.crystal?.unitCell;
      if (c === undefined) throw new InvalidValueError(`${shotLabel(shot)} has no crystal`, { file: data.source, field: `shot ${shot.index}` });
      return [c.a, c.b, c.c, c.alpha, c.beta, c.gamma];
    });
    cell = [0, 1, 2, 3, 4, 5].map((k) => median(cells.map((c) => c[k] as number))) as [number, number, number, number, number, number];
  }
  const wavelength = median(data.shots.map((shot) => shot.experiment.beam.wavelength));
  return { ndiv, hall, cell: [...cell], wavelength };
}

function unitCellOf(meta: ObservationMeta): UnitCell {
  const [a, b, c, alpha, beta, gamma] = meta.cell;
  return { a, b, c, alpha, beta, gamma };
}

/** What every shot on one detector and beam shares. */
interface DetectorSetup {
  detector: Detector;
  beam: Beam;
  setup: IntegrationSetup;
  /** the mask's pixel vectors (and, through them, its |q| and footprints) */
  vectors: ShotVectorCache;
  /** the summed background image in photons, −1 where unusable; absent without a background */
  background?: { pixels: Int32Array; images: number };
}

/** The integrate-stage settings the shared setup is built from: one-frame wedges, filter off, the smallest histogram (nothing is filtered). */
function integrateSettingsOf(s: StillsExtractSettings): IntegrateSettings {
  return {
    grid: { ndiv: [...s.ndiv] as [number, number, number], wedgeDeg: null, wedgeFrames: 1, batchFrames: 1 },
    filter: { enabled: false, maxCount: 1, window: 0 },
    mask: s.staticMask,
    detector: s.detector,
    corrections: s.corrections,
  };
}

/** Photons of one raw value under the setup's counting, or −1 when the value is masked (the kernel's rule). */
function photonsOf(setup: IntegrationSetup, raw: number): number {
  const c = setup.counting.params;
  if (raw < c.trustedLo || raw > c.trustedHi) return -1;
  // photon counting: negative values (markers) are masked
  if (c.integrating === undefined) return raw < 0 ? -1 : raw;
  const v = Math.fround(Math.fround(Math.fround(raw) - Math.fround(c.integrating.pedestal)) * Math.fround(c.integrating.invGain));
  return Math.max(0, roundHalfEven(v));
}

/**
 * The setups of the last few (detector, beam) pairs seen. A DIALS list shares
 * one detector and beam between its shots (one setup for all); CrystFEL shots
 * with their own `det_shift` each have their own detector, so the cache is
 * bounded: memory stays that of a few setups whatever the number of shots.
 */
class DetectorSetups {
  private readonly recent: DetectorSetup[] = [];
  static readonly KEEP = 4;

  constructor(
    private readonly s: StillsExtractSettings,
    private readonly backgroundImages: DetectorImage[] | undefined,
  ) {}

  get(exp: Experiment): DetectorSetup {
    const k = this.recent.findIndex((d) => d.detector === exp.detector && d.beam === exp.beam);
    const d = k >= 0 ? (this.recent.splice(k, 1)[0] as DetectorSetup) : this.build(exp);
    this.recent.unshift(d);
    if (this.recent.length > DetectorSetups.KEEP) this.recent.pop();
    return d;
  }

  private build(exp: Experiment): DetectorSetup {
    const { options } = integrationOptions(integrateSettingsOf(this.s), exp);
    if (options.pixelWeights === undefined) {
      // corrections off: κ = 1 per pixel, so that I = N / (T · pixels)
      const n = pixelCorrections(exp, { solidAngle: false, polarization: false, efficiency: false, air: false, columns: 'weights' }).nPixels;
      options.pixelWeights = { kappa: new Float64Array(n).fill(1), d3s: new Float64Array(n) };
    }
    const setup = prepareIntegration(exp, options);
    if (setup.counting.gainUnknown) {
      throw new UsageError(
        `the detector is charge-integrating (panel type ${exp.detector.panels[0]?.type ?? '?'}) and its gain is unknown: stills extraction needs photons; give detector.gain (ADU per photon) and detector.pedestal`,
        { field: 'detector.gain' },
      );
    }
    const out: DetectorSetup = { detector: exp.detector, beam: exp.beam, setup, vectors: new ShotVectorCache() };
    const bg = this.backgroundImages;
    if (bg !== undefined) {
      const n = setup.nPixels;
      const sum = new Int32Array(n);
      for (const image of bg) {
        if (image.pixels.length !== n) throw new InvalidValueError(`blank image has ${image.width}×${image.height} pixels but the detector has ${n}`, { file: image.source.file, frame: image.source.frame, field: 'background.images' });
        for (let i = 0; i < n; i++) {
          if ((sum[i] as number) < 0) continue;
          const p = photonsOf(setup, image.pixels[i] as number);
          const next = (sum[i] as number) + p;
          if (p >= 0 && next > 2147483647) throw new InvalidValueError(`the blank images sum to more than 2³¹ − 1 photons in pixel ${i}: give fewer blanks`, { file: image.source.file, field: 'background.images' });
          sum[i] = p < 0 ? -1 : next;
        }
      }
      out.background = { pixels: sum, images: bg.length };
    }
    return out;
  }
}

/** The counting of the summed background image: photons as they are, −1 masked. */
function backgroundSetup(shotSetup: IntegrationSetup): IntegrationSetup {
  return { ...shotSetup, counting: { kind: 'photon-counting', params: { trustedLo: 0, trustedHi: 2147483647, markers: true }, gainUnknown: false } };
}

/** The rows of the dataset's reflections that belong to each shot (so a shot's bbox mask does not scan every row). */
function reflectionsByShot(r: StillReflections, shots: number): number[][] {
  const out: number[][] = Array.from({ length: shots }, () => []);
  for (let i = 0; i < r.n; i++) out[r.shot[i] as number]?.push(i);
  return out;
}

function shotReflections(r: StillReflections, rows: readonly number[]): StillReflections {
  const out = allocateStillReflections(rows.length);
  rows.forEach((src, o) => {
    out.shot[o] = r.shot[src] as number;
    out.panel[o] = r.panel[src] as number;
    for (let c = 0; c < 4; c++) out.bbox[4 * o + c] = r.bbox[4 * src + c] as number;
  });
  return out;
}

/** A voxel table as the columns `correctVoxels` reads (the integrate file's names). */
function readTableOf(t: VoxelTable): ReadTable {
  invariant(t.kappaSum !== undefined && t.d3sSum !== undefined, 'stills extraction always bins the κ and d³s channels');
  return new Map(Object.entries(voxelColumnArrays(t, false)));
}

async function* oneFrame(image: DetectorImage): AsyncGenerator<WedgeFrame> {
  yield { offset: 0, image };
}

interface Extraction {
  meta: ObservationMeta;
  asu: AsuMapper;
  unitCell: UnitCell;
  exposure: number;
  backgroundExposure: number | undefined;
  setups: DetectorSetups;
  byShot: number[][];
}

async function extractOne(ctx: StageContext, inputs: StillsExtractInputs, s: StillsExtractSettings, x: Extraction, d: DetectorSetup, shot: StillShot, keepVoxels: boolean): Promise<ShotObservations> {
  const engine = ctx.engine;
  const { setup: base, background, vectors } = d;
  const image = await inputs.images.read(shot);
  if (image.pixels.length !== base.nPixels) {
    throw new InvalidValueError(`image has ${image.width}×${image.height} pixels but the detector of ${shotLabel(shot)} has ${base.nPixels}`, { file: image.source.file, frame: image.source.frame });
  }
  const refl = shotReflections(inputs.data.reflections, x.byShot[shot.index] ?? []);
  const bragg = stillBraggMask({ shot, image, reflections: refl, vectors }, s.mask);
  const valid = base.staticMask.valid.slice();
  for (let i = 0; i < valid.length; i++) if ((bragg.mask[i] as number) !== 0) valid[i] = 0;
  // the shot's own setting and masks; the detector's vectors, channels and counting are shared
  const setup: IntegrationSetup = { ...base, exp: shot.experiment, valid: packValidBits(valid), staticMask: { valid, byReason: base.staticMask.byReason } };
  const wedge: WedgeRange = { index: shot.index, first: 0, count: 1 };
  try {
    const r = await integrateWedge(engine, setup, wedge, oneFrame(image), () => oneFrame(image));
    if (background !== undefined) {
      const bgImage: DetectorImage = { ...image, pixels: background.pixels, source: { file: 'background', frame: 0 } };
      const bgSetup = backgroundSetup(setup);
      try {
        const b = await integrateWedge(engine, bgSetup, wedge, oneFrame(bgImage), () => oneFrame(bgImage));
        invariant(b.acc.table.cells === r.acc.table.cells, 'the background pass built the shot’s cell table');
        r.background = b.acc;
      } finally {
        engine.releaseResident(bgSetup);
      }
    }
    const t = wedgeTables(r);
    // filter off: the `excluded` table holds only histogram overflows, which are diffuse too
    const table = concatTables([t.included, t.excluded]);
    let counts = 0;
    let pixels = 0;
    for (let i = 0; i < table.counts.length; i++) {
      counts += table.counts[i] as number;
      pixels += table.pixels[i] as number;
    }
    const corrected = correctVoxels(readTableOf(table), {
      ndiv: x.meta.ndiv,
      asu: x.asu,
      exposure: x.exposure,
      ...(x.backgroundExposure !== undefined ? { backgroundExposure: x.backgroundExposure } : {}),
      sweep: 0,
      unitCell: x.unitCell,
      file: image.source.file,
      group: `shot ${shot.index}`,
    });
    const diffuse = corrected.observations;
    const wavelength = shot.experiment.beam.wavelength;
    const info: ShotInfo = {
      shot: shot.index,
      identifier: shot.identifier,
      pixels,
      maskedFraction: bragg.fraction,
      counts,
      diffuse: counts / x.exposure,
      photonEnergyEv: HC_EV_A / wavelength,
      wavelength,
      rows: diffuse.I.length,
      backend: r.backend,
    };
    return keepVoxels ? { shot: shot.index, diffuse, info, voxels: table } : { shot: shot.index, diffuse, info };
  } finally {
    engine.releaseResident(setup);
  }
}

/**
 * One shot at a time, in the order given (default: all shots); memory per
 * shot, nothing kept between shots but the per-detector setup. A failing shot
 * throws a ShotError naming it, so a runner can skip it and go on with the
 * next call (a new generator over the remaining shots).
 */
export async function* extractShots(ctx: StageContext, inputs: StillsExtractInputs, s: StillsExtractSettings, opts: ExtractOptions = {}): AsyncGenerator<ShotObservations> {
  validateStillsExtractSettings(s);
  const data = inputs.data;
  const meta = stillsGridMeta(data, s);
  const { asu } = spaceGroupAsu(meta.hall, meta.ndiv);
  const order = opts.shots ?? data.shots.map((shot) => shot.index);
  for (const i of order) {
    if (!(Number.isInteger(i) && i >= 0 && i < data.shots.length)) throw new InvalidValueError(`shot ${i} is not in the dataset (${data.shots.length} shots)`, { file: inputs.source, field: 'shots' });
  }
  const exposure = s.exposure ?? 1;
  let backgroundImages: DetectorImage[] | undefined;
  if (s.background !== null) {
    backgroundImages = [];
    const blanks = new ShotImages();
    try {
      for (const [k, path] of s.background.images.entries()) {
        const blank: StillShot = { ...(data.shots[0] as StillShot), index: k, identifier: `blank ${k}`, image: { path, index: 0, event: '' } };
        try {
          backgroundImages.push(await blanks.read(blank));
        } catch (err) {
          if (err instanceof DiffractError) throw new InvalidValueError(`blank image ${k}: ${stripLocation(err.message, err)}`, { file: path, field: 'background.images' }, { cause: err });
          throw err;
        }
      }
    } finally {
      await blanks.close();
    }
  }
  const x: Extraction = {
    meta,
    asu,
    unitCell: unitCellOf(meta),
    exposure,
    // the blanks are summed: their exposure is the sum of theirs
    backgroundExposure: s.background !== null ? s.background.images.length * (s.background.exposure ?? exposure) : undefined,
    setups: new DetectorSetups(s, backgroundImages),
    byShot: reflectionsByShot(data.reflections, data.shots.length),
  };
  const progress = ctx.progress.start('extract', order.length, 'shots');
  try {
    let done = 0;
    for (const i of order) {
      const shot = data.shots[i] as StillShot;
      // the detector's setup (mask file, gain, corrections) is not the shot's fault: its errors stop the run
      const d = x.setups.get(shot.experiment);
      let result: ShotObservations;
      try {
        result = await extractOne(ctx, inputs, s, x, d, shot, opts.keepVoxels === true);
      } catch (err) {
        // the shot's own input (image, size, reflections) is bad: a ShotError; settings and device problems stop the run
        if (err instanceof DiffractError && !(err instanceof UsageError) && !(err instanceof GpuError) && !(err instanceof DeviceLostError)) throw err instanceof ShotError ? err : new ShotError(shot, err);
        throw err;
      }
      progress.update(++done);
      yield result;
    }
  } finally {
    progress.stop();
  }
}
