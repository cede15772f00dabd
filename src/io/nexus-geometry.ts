/**
 * Experimental geometry from a NeXus NXmx (Eiger) master file, in DIALS
 * conventions (src/geometry/model.ts).
 *
 * Fields read (units from each dataset's `@units`: m, mm, um/µm/micron, nm, cm,
 * angstrom/Å; deg/degree(s), rad; s, ms, us; keV, eV; 'pixel' for beam centres):
 *
 * - wavelength: /entry/instrument/beam/incident_wavelength (else
 *   /entry/sample/beam/incident_wavelength, else incident_energy in either).
 * - distance: /entry/instrument/detector/detector_distance (else the value of
 *   /entry/instrument/detector/transformations/translation).
 * - beam centre: detector/beam_center_x, beam_center_y (pixels; a length unit
 *   is divided by the pixel size).
 * - pixel size: detector/x_pixel_size, y_pixel_size (else the values of the
 *   module's fast/slow_pixel_direction).
 * - sensor: detector/sensor_material, sensor_thickness; μ from the project's
 *   attenuation tables (photo-absorption) for Si, CdTe, GaAs; the parallax
 *   px→mm strategy when μ and the thickness are known (as dxtbx does).
 * - trusted range: [underload_value, saturation_value] (saturation falls back
 *   to detectorSpecific/countrate_correction_count_cutoff; defaults −1 and the
 *   largest value of the pixel type, 0x7FFFFFFF for 32-bit data).
 * - detector axes: `@vector` of the NXdetector_module's fast_pixel_direction
 *   and slow_pixel_direction. Without them, Eiger's orientation as DIALS
 *   reads it: fast = −x, slow = −y in the NeXus (McStas) frame.
 * - scan: the sample's rotation axis (the dataset named by /entry/sample/depends_on
 *   when it is a rotation, else /entry/sample/transformations/omega, else
 *   /entry/sample/goniometer/omega, Eiger's place); start = its first value,
 *   width = `<axis>_increment_set`, else Eiger's `omega_range_average`, else
 *   the difference of the first two values, else `<axis>_end − <axis>`.
 *   Rotation axis = the dataset's `@vector`, default McStas (−1, 0, 0) (the
 *   default of dxtbx's Eiger reader). Exposure = detector/count_time.
 *
 * Frames: NeXus (McStas) vectors become DIALS lab vectors by x → −x, z → −z
 * (a 180° turn about y; dxtbx's MCSTAS_TO_IMGCIF = diag(−1, 1, −1)). The beam
 * travels along McStas +z, so DIALS `Beam.direction` (sample → source) is
 * (0, 0, 1). The detector is placed as dxtbx places a beam-centre/distance
 * description: the direct beam meets the detector plane (spanned by the fast
 * and slow axes) at distance d, at pixel coordinate (beam_center_x,
 * beam_center_y) with pixel corners at integers, so
 *     origin = (0, 0, −d) − bx·px·fast − by·py·slow   (mm).
 * Transformation chains beyond that (two-theta arms, module offsets, tilts)
 * are not applied. Gap masks and the firmware pixel_mask are not read.
 *
 * The result is one Experiment, without a crystal (not indexed), with
 * `imageset.images = [masterPath]`: the runner opens such a source (a `.h5`,
 * `.nxs`, `.nx5` file) with `openHdf5Series`, whose frames follow the master's
 * data links. A rotation scan with width 0 (or no rotation axis) gives a still
 * experiment: no goniometer and no scan.
 *
 * A missing required field (wavelength, distance, beam centre, pixel size)
 * is a MissingFieldError naming the file and the HDF5 path; an unknown unit an
 * InvalidValueError naming the path.
 */
import { Dataset, Group } from 'h5wasm/node';
import { energyKeV, linearAttenuation, material as knownMaterial, HC_KEV_ANGSTROM } from '../corrections/attenuation.ts';
import { InvalidValueError, MissingFieldError } from '../errors.ts';
import { IDENTITY, norm, normalize } from '../geometry/linalg.ts';
import type { Experiment, ExperimentList, Panel, Vec3 } from '../geometry/model.ts';
import { openH5, type Hdf5Layout } from './hdf5-layout.ts';
import { readHdf5Metadata } from './hdf5-metadata.ts';
import { h5Guard, type H5File } from './hdf5.ts';
import type { ImageHeader } from './image.ts';

type H5Node = ReturnType<H5File['get']>;

const DET = '/entry/instrument/detector';

/** NeXus (McStas) vector → DIALS lab vector: x → −x, z → −z. */
export function mcstasToDials(v: Vec3): Vec3 {
  return [-v[0] || 0, v[1], -v[2] || 0];
}

/** DIALS lab vector → NeXus (McStas) vector (the same 180° turn). */
export const dialsToMcstas = mcstasToDials;

type Quantity = 'length' | 'wavelength' | 'angle' | 'time' | 'energy';

const UNITS: Record<Quantity, Record<string, number>> = {
  // to mm
  length: { m: 1000, metre: 1000, meter: 1000, metres: 1000, meters: 1000, cm: 10, mm: 1, millimetre: 1, millimeter: 1, um: 1e-3, 'µm': 1e-3, 'μm': 1e-3, micron: 1e-3, microns: 1e-3, micrometre: 1e-3, micrometer: 1e-3, nm: 1e-6, angstrom: 1e-7, a: 1e-7, 'å': 1e-7 },
  // to Å
  wavelength: { angstrom: 1, angstroms: 1, a: 1, 'å': 1, nm: 10, pm: 0.01, m: 1e10, mm: 1e7, um: 1e4 },
  // to degrees
  angle: { deg: 1, degree: 1, degrees: 1, rad: 180 / Math.PI, radian: 180 / Math.PI, radians: 180 / Math.PI },
  // to s
  time: { s: 1, sec: 1, second: 1, seconds: 1, ms: 1e-3, us: 1e-6, 'µs': 1e-6, ns: 1e-9 },
  // to keV
  energy: { kev: 1, ev: 1e-3, mev: 1e3, j: 1 / 1.602176634e-16 },
};

/** Factor from `units` to diffract's unit of `q` (mm, Å, degrees, s, keV); `fallback` when units are absent. */
export function unitFactor(units: string | undefined, q: Quantity, fallback: string, where: { file: string; field: string }): number {
  const key = (units ?? fallback).trim().toLowerCase();
  const f = UNITS[q][key] ?? (key.endsWith('s') ? UNITS[q][key.slice(0, -1)] : undefined);
  if (f === undefined) throw new InvalidValueError(`unknown ${q} unit '${units ?? ''}' (known: ${Object.keys(UNITS[q]).join(', ')})`, where);
  return f;
}

/** Typed access to NeXus fields of one open file; errors name the file and the HDF5 path. */
class Fields {
  constructor(
    readonly f: H5File,
    readonly file: string,
  ) {}

  node(path: string): H5Node {
    try {
      return this.f.get(path);
    } catch {
      return null;
    }
  }

  dataset(path: string): Dataset | undefined {
    const n = this.node(path);
    return n instanceof Dataset ? n : undefined;
  }

  has(path: string): boolean {
    return this.dataset(path) !== undefined;
  }

  attr(path: string, name: string): unknown {
    const n = this.node(path);
    if (!(n instanceof Dataset || n instanceof Group)) return undefined;
    const a = n.attrs[name];
    return a === undefined ? undefined : a.value;
  }

  attrString(path: string, name: string): string | undefined {
    const v = this.attr(path, name);
    const s = Array.isArray(v) ? v[0] : v;
    return typeof s === 'string' ? s : undefined;
  }

  attrVector(path: string, name: string): Vec3 | undefined {
    const v = toNumbers(this.attr(path, name));
    if (v === undefined || v.length !== 3) return undefined;
    return [v[0]!, v[1]!, v[2]!];
  }

  /** All values of a numeric dataset (a scalar gives one). */
  numbers(path: string): number[] | undefined {
    const ds = this.dataset(path);
    if (ds === undefined) return undefined;
    const v = toNumbers(ds.value);
    if (v === undefined || v.length === 0) throw new InvalidValueError('expected a number', { file: this.file, field: path });
    return v;
  }

  /** First value of a numeric dataset converted by its units, or undefined when absent. */
  quantity(path: string, q: Quantity, fallbackUnit: string): number | undefined {
    const v = this.numbers(path);
    if (v === undefined) return undefined;
    return v[0]! * unitFactor(this.attrString(path, 'units'), q, fallbackUnit, { file: this.file, field: path });
  }

  /** Every value of a numeric dataset converted by its units. */
  quantities(path: string, q: Quantity, fallbackUnit: string): number[] | undefined {
    const v = this.numbers(path);
    if (v === undefined) return undefined;
    const k = unitFactor(this.attrString(path, 'units'), q, fallbackUnit, { file: this.file, field: path });
    return v.map((x) => x * k);
  }

  string(path: string): string | undefined {
    const ds = this.dataset(path);
    if (ds === undefined) return undefined;
    const v = ds.value;
    const s = Array.isArray(v) ? v[0] : v;
    if (typeof s === 'string') return s.replace(/\0+$/, '').trim();
    if (s instanceof Uint8Array) return new TextDecoder().decode(s).replace(/\0+$/, '').trim();
    return undefined;
  }
}

function toNumbers(v: unknown): number[] | undefined {
  if (typeof v === 'number') return [v];
  if (typeof v === 'bigint') return [Number(v)];
  if (ArrayBuffer.isView(v) && !(v instanceof DataView)) {
    const arr = v as unknown as ArrayLike<number | bigint>;
    const out: number[] = [];
    for (let i = 0; i < arr.length; i++) out.push(Number(arr[i]));
    return out;
  }
  if (Array.isArray(v)) {
    const out: number[] = [];
    for (const x of v) {
      if (typeof x === 'number' || typeof x === 'bigint') out.push(Number(x));
      else return undefined;
    }
    return out;
  }
  return undefined;
}

/** The NXmx values found in a file (diffract units; vectors in the DIALS frame). */
export interface NxmxValues {
  /** Å */
  wavelength?: number;
  /** mm */
  distance?: number;
  /** pixels, [x (fast), y (slow)] */
  beamCentre?: [number, number];
  /** mm, [fast, slow] */
  pixelSize?: [number, number];
  /** as written (e.g. 'Si', 'Silicon', 'CdTe') */
  sensorMaterial?: string;
  /** mm */
  sensorThickness?: number;
  saturation?: number;
  underload?: number;
  /** DIALS frame */
  fastAxis?: Vec3;
  slowAxis?: Vec3;
  /** s */
  countTime?: number;
  /** s */
  frameTime?: number;
  /** the rotation axis dataset's path */
  scanAxisPath?: string;
  /** degrees, one per frame (or one value) */
  scanAngles?: number[];
  /** degrees */
  scanIncrement?: number;
  /** DIALS frame */
  rotationAxis?: Vec3;
  description?: string;
  serial?: string;
}

/** The NeXus header of a series as used in `DetectorImage.header` (plus the per-frame angles). */
export interface NexusHeaderInfo {
  /** typed ImageHeader fields found (format, raw and lines are set per frame) */
  header: Partial<Omit<ImageHeader, 'format' | 'raw' | 'lines'>>;
  /** degrees, the scan angle at the start of each frame of the whole dataset */
  omega?: readonly number[];
}

function module(F: Fields): string | undefined {
  if (F.node(`${DET}/module`) instanceof Group) return `${DET}/module`;
  const det = F.node(DET);
  if (!(det instanceof Group)) return undefined;
  for (const k of det.keys()) {
    const p = `${DET}/${k}`;
    if (F.attrString(p, 'NX_class') === 'NXdetector_module') return p;
  }
  return undefined;
}

/** The path a `depends_on` value names (relative values are taken from `base`'s group). */
function dependsPath(value: string, base: string): string {
  if (value.startsWith('/')) return value;
  return `${base.replace(/\/[^/]*$/, '')}/${value}`;
}

function readScan(F: Fields, v: NxmxValues): void {
  const candidates: string[] = [];
  const dep = F.string('/entry/sample/depends_on');
  if (dep !== undefined && dep !== '.' && dep !== '') candidates.push(dependsPath(dep, '/entry/sample/depends_on'));
  candidates.push('/entry/sample/transformations/omega', '/entry/sample/goniometer/omega');
  const axisPath = candidates.find((p) => F.has(p) && (F.attrString(p, 'transformation_type') ?? 'rotation') === 'rotation');
  if (axisPath === undefined) return;
  const angles = F.quantities(axisPath, 'angle', 'deg');
  if (angles === undefined) return;
  v.scanAxisPath = axisPath;
  v.scanAngles = angles;
  const vec = F.attrVector(axisPath, 'vector');
  v.rotationAxis = normalize(mcstasToDials(vec !== undefined && norm(vec) > 0 ? vec : [-1, 0, 0]));
  const group = axisPath.replace(/\/[^/]*$/, '');
  const name = axisPath.slice(group.length + 1);
  const inc = F.quantity(`${group}/${name}_increment_set`, 'angle', 'deg') ?? F.quantity(`${group}/${name}_range_average`, 'angle', 'deg');
  if (inc !== undefined) v.scanIncrement = inc;
  else if (angles.length >= 2) v.scanIncrement = angles[1]! - angles[0]!;
  else {
    const end = F.quantity(`${group}/${name}_end`, 'angle', 'deg');
    if (end !== undefined) v.scanIncrement = end - angles[0]!;
  }
}

/** Reads every NXmx value present; with `strict` false, unreadable fields are skipped instead of raising. */
export function readNxmxValues(f: H5File, file: string, strict = true): NxmxValues {
  const F = new Fields(f, file);
  const v: NxmxValues = {};
  const tryRead = (fn: () => void): void => {
    try {
      fn();
    } catch (err) {
      if (strict) throw err;
    }
  };
  tryRead(() => {
    for (const base of ['/entry/instrument/beam', '/entry/sample/beam']) {
      const wl = F.quantity(`${base}/incident_wavelength`, 'wavelength', 'angstrom');
      if (wl !== undefined) {
        v.wavelength = wl;
        return;
      }
    }
    for (const base of ['/entry/instrument/beam', '/entry/sample/beam']) {
      const e = F.quantity(`${base}/incident_energy`, 'energy', 'keV');
      if (e !== undefined && e > 0) {
        v.wavelength = HC_KEV_ANGSTROM / e;
        return;
      }
    }
  });
  tryRead(() => {
    const d = F.quantity(`${DET}/detector_distance`, 'length', 'm') ?? F.quantity(`${DET}/transformations/translation`, 'length', 'm');
    if (d !== undefined) v.distance = d;
  });
  const mod = module(F);
  tryRead(() => {
    const px = F.quantity(`${DET}/x_pixel_size`, 'length', 'm') ?? (mod === undefined ? undefined : F.quantity(`${mod}/fast_pixel_direction`, 'length', 'm'));
    const py = F.quantity(`${DET}/y_pixel_size`, 'length', 'm') ?? (mod === undefined ? undefined : F.quantity(`${mod}/slow_pixel_direction`, 'length', 'm'));
    if (px !== undefined && py !== undefined) v.pixelSize = [px, py];
  });
  tryRead(() => {
    const bx = F.numbers(`${DET}/beam_center_x`)?.[0];
    const by = F.numbers(`${DET}/beam_center_y`)?.[0];
    if (bx === undefined || by === undefined) return;
    const toPx = (path: string, value: number, size: number | undefined): number => {
      const u = F.attrString(path, 'units');
      if (u === undefined || /^pixels?$/i.test(u.trim())) return value;
      if (size === undefined) throw new MissingFieldError('beam centre given as a length but no pixel size', { file, field: path });
      return (value * unitFactor(u, 'length', 'm', { file, field: path })) / size;
    };
    v.beamCentre = [toPx(`${DET}/beam_center_x`, bx, v.pixelSize?.[0]), toPx(`${DET}/beam_center_y`, by, v.pixelSize?.[1])];
  });
  tryRead(() => {
    const m = F.string(`${DET}/sensor_material`);
    if (m !== undefined) v.sensorMaterial = m;
    const t = F.quantity(`${DET}/sensor_thickness`, 'length', 'm');
    if (t !== undefined) v.sensorThickness = t;
  });
  tryRead(() => {
    const s = F.numbers(`${DET}/saturation_value`)?.[0] ?? F.numbers(`${DET}/detectorSpecific/countrate_correction_count_cutoff`)?.[0];
    if (s !== undefined) v.saturation = s;
    const u = F.numbers(`${DET}/underload_value`)?.[0];
    if (u !== undefined) v.underload = u;
  });
  tryRead(() => {
    if (mod === undefined) return;
    const fa = F.attrVector(`${mod}/fast_pixel_direction`, 'vector');
    const sa = F.attrVector(`${mod}/slow_pixel_direction`, 'vector');
    if (fa !== undefined && norm(fa) > 0) v.fastAxis = normalize(mcstasToDials(fa));
    if (sa !== undefined && norm(sa) > 0) v.slowAxis = normalize(mcstasToDials(sa));
  });
  tryRead(() => {
    const c = F.quantity(`${DET}/count_time`, 'time', 's');
    if (c !== undefined) v.countTime = c;
    const t = F.quantity(`${DET}/frame_time`, 'time', 's');
    if (t !== undefined) v.frameTime = t;
  });
  tryRead(() => readScan(F, v));
  tryRead(() => {
    const d = F.string(`${DET}/description`);
    if (d !== undefined) v.description = d;
    const s = F.string(`${DET}/detector_number`);
    if (s !== undefined) v.serial = s;
  });
  return v;
}

/** The header fields of a NeXus file (lenient: whatever can be read). */
export function readNexusHeader(f: H5File, file: string): NexusHeaderInfo {
  const v = readNxmxValues(f, file, false);
  const h: NexusHeaderInfo['header'] = {};
  if (v.wavelength !== undefined) h.wavelength = v.wavelength;
  if (v.distance !== undefined) h.distance = v.distance;
  if (v.pixelSize !== undefined) h.pixelSize = v.pixelSize;
  if (v.countTime !== undefined) h.exposureTime = v.countTime;
  if (v.frameTime !== undefined) h.exposurePeriod = v.frameTime;
  if (v.beamCentre !== undefined) h.beamCentre = { x: v.beamCentre[0], y: v.beamCentre[1], unit: 'px' };
  if (v.saturation !== undefined) h.saturation = v.saturation;
  if (v.sensorThickness !== undefined) h.sensorThickness = v.sensorThickness;
  if (v.sensorMaterial !== undefined) h.sensorMaterial = v.sensorMaterial;
  if (v.description !== undefined) h.detector = v.description;
  if (v.serial !== undefined) h.detectorSerial = v.serial;
  if (v.scanIncrement !== undefined) h.angleIncrement = v.scanIncrement;
  if (v.scanAxisPath !== undefined) h.oscillationAxis = v.scanAxisPath.slice(v.scanAxisPath.lastIndexOf('/') + 1);
  const info: NexusHeaderInfo = { header: h };
  if (v.scanAngles !== undefined) info.omega = v.scanAngles;
  return info;
}

const MATERIAL_NAMES: Record<string, string> = { si: 'Si', silicon: 'Si', cdte: 'CdTe', gaas: 'GaAs' };

/** The largest pixel value of a type that is not a marker (uint32 values ≥ 2³¹ read as −1). */
function typeMax(t: string): number {
  switch (t) {
    case 'uint8':
      return 255;
    case 'int8':
      return 127;
    case 'uint16':
      return 65535;
    case 'int16':
      return 32767;
    default:
      return 0x7fffffff;
  }
}

/** The NXmx values of file `path` (strict: a malformed field is an error naming it). */
export function readNxmxValuesOf(path: string): NxmxValues {
  const f = openH5(path);
  try {
    return h5Guard(path, () => readNxmxValues(f, path, true));
  } finally {
    h5Guard(path, () => f.close());
  }
}

/** NeXus header fields of a file; a plain data file without them gives an empty record. */
export function readNexusHeaderOf(file: string): NexusHeaderInfo {
  const f = openH5(file);
  try {
    return readNexusHeader(f, file);
  } finally {
    // closing a corrupt file can abort inside HDF5: a FormatError naming it
    h5Guard(file, () => f.close());
  }
}

/**
 * Reads the geometry of a NeXus/Eiger master file as one Experiment (see the
 * module comment). The file is read in the HDF5 metadata worker, under its
 * time limit (src/io/hdf5-metadata.ts).
 */
export async function experimentFromNexus(path: string): Promise<ExperimentList> {
  const { layout, values: v } = await readHdf5Metadata<{ layout: Hdf5Layout; values: NxmxValues }>({ op: 'nexus', file: path });
  const req = <T>(value: T | undefined, field: string, what: string): T => {
    if (value === undefined) throw new MissingFieldError(`NXmx field missing: ${what}`, { file: path, field });
    return value;
  };
  const wavelength = req(v.wavelength, '/entry/instrument/beam/incident_wavelength', 'wavelength');
  const distance = req(v.distance, `${DET}/detector_distance`, 'detector distance');
  const pixelSize = req(v.pixelSize, `${DET}/x_pixel_size`, 'pixel size');
  const beamCentre = req(v.beamCentre, `${DET}/beam_center_x`, 'beam centre');
  if (!(wavelength > 0)) throw new InvalidValueError(`wavelength must be positive, got ${wavelength} Å`, { file: path, field: '/entry/instrument/beam/incident_wavelength' });
  if (!(pixelSize[0] > 0 && pixelSize[1] > 0)) throw new InvalidValueError(`pixel size must be positive, got ${pixelSize.join(' × ')} mm`, { file: path, field: `${DET}/x_pixel_size` });

  const fast = v.fastAxis ?? ([1, 0, 0] as Vec3);
  const slow = v.slowAxis ?? ([0, -1, 0] as Vec3);
  const origin: Vec3 = [
    -beamCentre[0] * pixelSize[0] * fast[0] - beamCentre[1] * pixelSize[1] * slow[0],
    -beamCentre[0] * pixelSize[0] * fast[1] - beamCentre[1] * pixelSize[1] * slow[1],
    -distance - beamCentre[0] * pixelSize[0] * fast[2] - beamCentre[1] * pixelSize[1] * slow[2],
  ];
  const material = v.sensorMaterial === undefined ? '' : (MATERIAL_NAMES[v.sensorMaterial.trim().toLowerCase()] ?? v.sensorMaterial.trim());
  const thickness = v.sensorThickness ?? 0;
  let mu = 0;
  const m = material === '' ? undefined : knownMaterial(material);
  if (m !== undefined) {
    try {
      mu = linearAttenuation(m, energyKeV(wavelength), 'photo');
    } catch {
      mu = 0; // energy outside the tables
    }
  }
  const panel: Panel = {
    name: 'module',
    type: 'SENSOR_PAD',
    origin,
    fastAxis: fast,
    slowAxis: slow,
    pixelSize,
    imageSize: [layout.width, layout.height],
    trustedRange: [v.underload ?? -1, v.saturation ?? typeMax(layout.pixelType)],
    thickness,
    material,
    mu,
    pxMmStrategy: mu > 0 && thickness > 0 ? 'parallax' : 'simple',
    mask: [],
    gain: 1,
    pedestal: 0,
    identifier: '',
  };
  const experiment: Experiment = {
    identifier: '',
    beam: { wavelength, direction: [0, 0, 1], polarizationFraction: 0.999, polarizationNormal: [0, 1, 0] },
    detector: { panels: [panel] },
    imageset: { images: [path] },
  };
  const inc = v.scanIncrement;
  if (v.scanAngles !== undefined && v.rotationAxis !== undefined && inc !== undefined && inc !== 0) {
    experiment.goniometer = { rotationAxis: v.rotationAxis, fixedRotation: IDENTITY, settingRotation: IDENTITY };
    experiment.scan = {
      imageRange: [1, layout.frames],
      oscillation: [v.scanAngles[0]!, inc],
      exposureTimes: v.countTime === undefined ? [] : new Array<number>(layout.frames).fill(v.countTime),
      epochs: [],
      batchOffset: 0,
    };
  }
  return { source: path, experiments: [experiment] };
}

/** True for the file names loaded as NeXus/HDF5 geometry (`.h5`, `.nxs`, `.nx5`, `.hdf5`). */
export function isNexusPath(path: string): boolean {
  return /\.(h5|nxs|nx5|hdf5|hdf)$/i.test(path);
}
