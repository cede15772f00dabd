/**
 * DIALS ExperimentList (`.expt`, `.json`) reader.
 *
 * The file holds one list per model kind (`beam`, `detector`, `goniometer`,
 * `scan`, `crystal`, `imageset`, …) and an `experiment` list whose entries name
 * their models by index into those lists. Experiments sharing a model index share
 * the same parsed object (e.g. two scans of one crystal get the identical
 * `Crystal`).
 *
 * Model conversions follow dxtbx's `from_dict` code:
 *
 * - Beam: `direction` (sample → source, normalised), `wavelength` (Å);
 *   polarization defaults to dxtbx's (normal (0, 1, 0), fraction 0.999). Old
 *   files with `s0` instead of `direction`/`wavelength` are accepted:
 *   direction = −unit(s0), λ = 1/|s0|.
 * - Detector: panel frames in the file are *local* to the panel's parent group in
 *   `hierarchy` (dxtbx writes `get_local_*`). The absolute frame is composed down
 *   the tree as dxtbx's `VirtualPanelFrame` does: with the parent's absolute unit
 *   axes (f, s), normal n = f × s and origin o,
 *       fast = [f s n]·fast_local,  slow = [f s n]·slow_local,  origin = [f s n]·origin_local + o.
 *   For the usual single-group detector (identity root) local = absolute. Without
 *   `hierarchy` the panel frames are taken as absolute.
 * - `px_mm_strategy`: `ParallaxCorrectedPxMmStrategy` (and
 *   `OffsetParallaxCorrectedPxMmStrategy`, whose offset maps a JSON file cannot
 *   carry) → 'parallax' when μ > 0 and thickness > 0 (else dxtbx silently keeps
 *   the simple strategy, and so do we); `mu`/`t0` inside the strategy override
 *   the panel's. `SimplePxMmStrategy`/`OffsetPxMmStrategy` → 'simple'. Any other
 *   name is an error (as in dxtbx).
 * - Mask entries `[f0, s0, f1, s1]` → `MaskRect` {x0: f0, y0: s0, x1: f1, y1: s1}
 *   (half-open; see `MaskRect`).
 * - Goniometer: single-axis (`rotation_axis`, optional `fixed_rotation`,
 *   `setting_rotation`, identity by default) or multi-axis (`axes`, `angles`,
 *   `names`, `scan_axis`), reduced exactly as dxtbx `MultiAxisGoniometer::init`:
 *   axes are listed from the crystal towards the goniometer base; with
 *   Rᵢ = R(axesᵢ, anglesᵢ) and k = scan_axis,
 *       F = R_{k−1} · … · R₁ · R₀        (the axes nearer the crystal; R₀ acts first)
 *       S = R_{n−1} · … · R_{k+2} · R_{k+1}
 *       rotation axis = axes_k (its datum direction; the angle of axis k is
 *       superseded by the scan).
 *   So a vector in the crystal frame reaches the lab as S · R(axes_k, φ) · F · v.
 * - Scan: `image_range`, `oscillation` (deg), `exposure_time`, `epochs`,
 *   `batch_offset`; also the newer layout with a `properties` table (per-image
 *   `oscillation` start angles, `oscillation_width` for single images,
 *   `exposure_time`, `epochs`).
 * - Crystal: A = inverse of the matrix whose rows are real_space_a, b, c (so the
 *   columns of A are a*, b*, c*); `A_at_scan_points` (row-major 3×3 each) when
 *   present.
 *   Stills crystals may carry `ML_domain_size_ang` / `ML_half_mosaicity_deg`
 *   (kept as `mosaicity`).
 * - Profile: an `ellipsoid` profile model (stills integrated by
 *   `dials.ssx_integrate`) is kept as `EllipsoidProfile`; other kinds are ignored.
 * - ImageSet: `template` or `images`, and for stills taken from a multi-image
 *   file `single_file_indices` (0-based index of each image in that file).
 *
 * Every missing or wrong-typed required field raises MissingFieldError or
 * InvalidValueError naming the file and the JSON path (e.g.
 * `detector[0].panels[0].pixel_size`).
 */
import { FormatError, InvalidValueError, MissingFieldError } from '../errors.ts';
import { IDENTITY, cross, det, fromColumns, inverse, mulMM, norm, normalize, rotationAbout } from './linalg.ts';
import type {
  Beam,
  Crystal,
  Detector,
  EllipsoidProfile,
  Experiment,
  ExperimentList,
  Goniometer,
  ImageSetRef,
  Mat3,
  MaskRect,
  Panel,
  PxMmStrategy,
  Scan,
  Vec3,
} from './model.ts';
import { unitCellFromRealSpace } from './setting.ts';
import { readTextFile } from '../util/read-text.ts';

/** Most pixels one panel may have (2^27, about 134 million: six times an Eiger2 16M). */
export const MAX_PANEL_PIXELS = 2 ** 27;

/**
 * Physical range of a wavelength (Å): 0.001 Å (a 3 MeV electron; 300 keV electrons are 0.0197 Å,
 * hard X-rays 0.1 Å) to 100 Å (soft X-rays of 124 eV). Outside it no detector sees diffraction,
 * and the arithmetic under- or overflows (1e−300 Å puts every pixel on integer hkl).
 */
export const WAVELENGTH_RANGE_A = { min: 0.001, max: 100 } as const;

/** Physical range of a unit-cell edge (Å): 0.5 Å (shorter than any bond) to 10 µm (10⁵ Å). */
export const CELL_EDGE_RANGE_A = { min: 0.5, max: 1e5 } as const;

/** Why `value` (in Å) is outside `range`, or undefined when inside. `what` names the quantity. */
export function outsideRange(what: string, value: number, range: { readonly min: number; readonly max: number }): string | undefined {
  if (value >= range.min && value <= range.max) return undefined;
  return `${what} ${value} Å is outside the physical range ${range.min}–${range.max} Å`;
}

type JsonObject = { readonly [key: string]: unknown };

/** Reads typed values out of parsed JSON, raising errors that name the file and the JSON path. */
class Fields {
  readonly file: string;

  constructor(file: string) {
    this.file = file;
  }

  missing(path: string): MissingFieldError {
    return new MissingFieldError('required field is missing', { file: this.file, field: path });
  }

  invalid(path: string, message: string): InvalidValueError {
    return new InvalidValueError(message, { file: this.file, field: path });
  }

  private wrongType(path: string, expected: string, value: unknown): InvalidValueError {
    return this.invalid(path, `expected ${expected}, found ${describe(value)}`);
  }

  object(value: unknown, path: string): JsonObject {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw this.wrongType(path, 'an object', value);
    return value as JsonObject;
  }

  /** `obj[key]`, or MissingFieldError when absent or null. */
  required(obj: JsonObject, key: string, path: string): unknown {
    const v = obj[key];
    if (v === undefined || v === null) throw this.missing(path === '' ? key : `${path}.${key}`);
    return v;
  }

  /** `obj[key]`, or undefined when absent or null. */
  optional(obj: JsonObject, key: string): unknown {
    const v = obj[key];
    return v === null ? undefined : v;
  }

  array(value: unknown, path: string): readonly unknown[] {
    if (!Array.isArray(value)) throw this.wrongType(path, 'an array', value);
    return value;
  }

  number(value: unknown, path: string): number {
    if (typeof value !== 'number' || !Number.isFinite(value)) throw this.wrongType(path, 'a finite number', value);
    return value;
  }

  positive(value: unknown, path: string): number {
    const v = this.number(value, path);
    if (!(v > 0)) throw this.invalid(path, `expected a positive number, found ${v}`);
    return v;
  }

  integer(value: unknown, path: string): number {
    if (typeof value !== 'number' || !Number.isInteger(value)) throw this.wrongType(path, 'an integer', value);
    return value;
  }

  index(value: unknown, path: string): number {
    const v = this.integer(value, path);
    if (v < 0) throw this.invalid(path, `expected a non-negative index, found ${v}`);
    return v;
  }

  string(value: unknown, path: string): string {
    if (typeof value !== 'string') throw this.wrongType(path, 'a string', value);
    return value;
  }

  numbers(value: unknown, path: string, length?: number): number[] {
    const arr = this.array(value, path);
    if (length !== undefined && arr.length !== length) {
      throw this.invalid(path, `expected ${length} numbers, found an array of ${arr.length}`);
    }
    return arr.map((v, i) => this.number(v, `${path}[${i}]`));
  }

  vec3(value: unknown, path: string): Vec3 {
    const [x, y, z] = this.numbers(value, path, 3) as [number, number, number];
    return [x, y, z];
  }

  /** A non-zero vector, normalised. */
  direction(value: unknown, path: string): Vec3 {
    const v = this.vec3(value, path);
    if (!(norm(v) > 0)) throw this.invalid(path, 'direction vector has zero length');
    return normalize(v);
  }

  mat3(value: unknown, path: string): Mat3 {
    return this.numbers(value, path, 9) as unknown as Mat3;
  }

  pair(value: unknown, path: string): [number, number] {
    const [a, b] = this.numbers(value, path, 2) as [number, number];
    return [a, b];
  }

  intPair(value: unknown, path: string): [number, number] {
    const arr = this.array(value, path);
    if (arr.length !== 2) throw this.invalid(path, `expected 2 integers, found an array of ${arr.length}`);
    return [this.integer(arr[0], `${path}[0]`), this.integer(arr[1], `${path}[1]`)];
  }
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (typeof value === 'string') return `the string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)}`;
  if (typeof value === 'number') return `the number ${value}`;
  if (typeof value === 'boolean') return `${value}`;
  return typeof value === 'object' ? 'an object' : typeof value;
}

// ---------------------------------------------------------------------------- beam

function parseBeam(f: Fields, value: unknown, path: string): Beam {
  const o = f.object(value, path);
  let direction: Vec3;
  let wavelength: number;
  const s0 = f.optional(o, 's0');
  if (o.direction === undefined && s0 !== undefined) {
    const s = f.vec3(s0, `${path}.s0`);
    const len = norm(s);
    if (!(len > 0)) throw f.invalid(`${path}.s0`, 's0 has zero length');
    direction = [-s[0] / len, -s[1] / len, -s[2] / len];
    const wl = f.optional(o, 'wavelength');
    wavelength = wl === undefined ? 1 / len : f.positive(wl, `${path}.wavelength`);
    const why = outsideRange('wavelength', wavelength, WAVELENGTH_RANGE_A);
    if (why !== undefined) throw f.invalid(wl === undefined ? `${path}.s0` : `${path}.wavelength`, why);
  } else {
    direction = f.direction(f.required(o, 'direction', path), `${path}.direction`);
    wavelength = f.positive(f.required(o, 'wavelength', path), `${path}.wavelength`);
    const why = outsideRange('wavelength', wavelength, WAVELENGTH_RANGE_A);
    if (why !== undefined) throw f.invalid(`${path}.wavelength`, why);
  }
  const pn = f.optional(o, 'polarization_normal');
  const pf = f.optional(o, 'polarization_fraction');
  return {
    wavelength,
    direction,
    polarizationNormal: pn === undefined ? [0, 1, 0] : f.direction(pn, `${path}.polarization_normal`),
    polarizationFraction: pf === undefined ? 0.999 : f.number(pf, `${path}.polarization_fraction`),
  };
}

// ---------------------------------------------------------------------------- detector

interface Frame {
  fast: Vec3;
  slow: Vec3;
  origin: Vec3;
}

const IDENTITY_FRAME: Frame = { fast: [1, 0, 0], slow: [0, 1, 0], origin: [0, 0, 0] };

/** The frame stored at `path` (fast_axis, slow_axis, origin), axes normalised; `fallback` when absent and allowed. */
function parseFrame(f: Fields, o: JsonObject, path: string, fallback?: Frame): Frame {
  if (fallback !== undefined && (o.fast_axis === undefined || o.slow_axis === undefined || o.origin === undefined)) {
    return fallback;
  }
  const fast = f.direction(f.required(o, 'fast_axis', path), `${path}.fast_axis`);
  const slow = f.direction(f.required(o, 'slow_axis', path), `${path}.slow_axis`);
  const origin = f.vec3(f.required(o, 'origin', path), `${path}.origin`);
  if (norm(cross(fast, slow)) < 1e-9) throw f.invalid(`${path}.slow_axis`, 'fast and slow axes are parallel');
  return { fast, slow, origin };
}

/** Absolute frame of a child given its parent's absolute frame (dxtbx VirtualPanelFrame::update_global_frame). */
function composeFrame(parent: Frame, local: Frame): Frame {
  const n = normalize(cross(parent.fast, parent.slow));
  const P = fromColumns(parent.fast, parent.slow, n);
  const apply = (v: Vec3): Vec3 => [
    P[0] * v[0] + P[1] * v[1] + P[2] * v[2],
    P[3] * v[0] + P[4] * v[1] + P[5] * v[2],
    P[6] * v[0] + P[7] * v[1] + P[8] * v[2],
  ];
  const o = apply(local.origin);
  return {
    fast: normalize(apply(local.fast)),
    slow: normalize(apply(local.slow)),
    origin: [o[0] + parent.origin[0], o[1] + parent.origin[1], o[2] + parent.origin[2]],
  };
}

function parseStrategy(f: Fields, o: JsonObject, path: string, mu: number, thickness: number): { strategy: PxMmStrategy; mu: number; thickness: number } {
  const raw = f.optional(o, 'px_mm_strategy');
  if (raw === undefined) return { strategy: 'simple', mu, thickness };
  const sp = `${path}.px_mm_strategy`;
  const st = f.object(raw, sp);
  const name = f.string(f.required(st, 'type', sp), `${sp}.type`);
  switch (name) {
    case 'SimplePxMmStrategy':
    case 'OffsetPxMmStrategy':
      return { strategy: 'simple', mu, thickness };
    case 'ParallaxCorrectedPxMmStrategy':
    case 'OffsetParallaxCorrectedPxMmStrategy': {
      if (st.mu !== undefined && st.t0 !== undefined) {
        mu = f.number(st.mu, `${sp}.mu`);
        thickness = f.number(st.t0, `${sp}.t0`);
      }
      return { strategy: mu > 0 && thickness > 0 ? 'parallax' : 'simple', mu, thickness };
    }
    default:
      throw f.invalid(`${sp}.type`, `unknown pixel-to-millimetre strategy '${name}'`);
  }
}

function parseMask(f: Fields, value: unknown, path: string): MaskRect[] {
  return f.array(value, path).map((entry, i) => {
    const p = `${path}[${i}]`;
    const arr = f.array(entry, p);
    if (arr.length !== 4) throw f.invalid(p, `expected [f0, s0, f1, s1], found an array of ${arr.length}`);
    const [x0, y0, x1, y1] = arr.map((v, k) => f.integer(v, `${p}[${k}]`)) as [number, number, number, number];
    if (!(x1 > x0) || !(y1 > y0)) throw f.invalid(p, `empty mask rectangle [${x0}, ${y0}, ${x1}, ${y1}]`);
    return { x0, y0, x1, y1 };
  });
}

function parsePanel(f: Fields, value: unknown, path: string, frame: Frame): Panel {
  const o = f.object(value, path);
  const str = (key: string): string => {
    const v = f.optional(o, key);
    return v === undefined ? '' : f.string(v, `${path}.${key}`);
  };
  const num = (key: string, dflt: number): number => {
    const v = f.optional(o, key);
    return v === undefined ? dflt : f.number(v, `${path}.${key}`);
  };
  const pixelSize = f.pair(f.required(o, 'pixel_size', path), `${path}.pixel_size`);
  if (!(pixelSize[0] > 0 && pixelSize[1] > 0)) throw f.invalid(`${path}.pixel_size`, `pixel size must be positive, found [${pixelSize.join(', ')}]`);
  const imageSize = f.intPair(f.required(o, 'image_size', path), `${path}.image_size`);
  if (!(imageSize[0] > 0 && imageSize[1] > 0)) throw f.invalid(`${path}.image_size`, `image size must be positive, found [${imageSize.join(', ')}]`);
  // checked before any per-pixel array is sized from it: the largest detectors have ~2·10⁷ pixels
  if (imageSize[0] * imageSize[1] > MAX_PANEL_PIXELS) throw f.invalid(`${path}.image_size`, `image size [${imageSize.join(', ')}] is over ${MAX_PANEL_PIXELS} pixels per panel`);
  const trustedRange = f.pair(f.required(o, 'trusted_range', path), `${path}.trusted_range`);
  if (trustedRange[0] > trustedRange[1]) throw f.invalid(`${path}.trusted_range`, `trusted range [${trustedRange.join(', ')}] is reversed (expected [min, max])`);
  const gain = num('gain', 1);
  if (!(gain > 0)) throw f.invalid(`${path}.gain`, `gain must be positive, found ${gain}`);
  const { strategy, mu, thickness } = parseStrategy(f, o, path, num('mu', 0), num('thickness', 0));
  const mask = f.optional(o, 'mask');
  return {
    name: str('name'),
    type: str('type'),
    origin: frame.origin,
    fastAxis: frame.fast,
    slowAxis: frame.slow,
    pixelSize,
    imageSize,
    trustedRange,
    thickness,
    material: str('material'),
    mu,
    pxMmStrategy: strategy,
    mask: mask === undefined ? [] : parseMask(f, mask, `${path}.mask`),
    gain,
    pedestal: num('pedestal', 0),
    identifier: str('identifier'),
  };
}

function parseDetector(f: Fields, value: unknown, path: string): Detector {
  const o = f.object(value, path);
  const panelsPath = `${path}.panels`;
  const rawPanels = f.array(f.required(o, 'panels', path), panelsPath);
  if (rawPanels.length === 0) throw f.invalid(panelsPath, 'the detector has no panels');
  const panelPath = (i: number): string => `${panelsPath}[${i}]`;
  const localFrames = rawPanels.map((p, i) => parseFrame(f, f.object(p, panelPath(i)), panelPath(i)));

  const hierarchy = f.optional(o, 'hierarchy');
  let frames: Frame[];
  if (hierarchy === undefined) {
    frames = localFrames;
  } else {
    const absolute: (Frame | undefined)[] = rawPanels.map(() => undefined);
    const visit = (node: unknown, nodePath: string, parent: Frame): void => {
      const n = f.object(node, nodePath);
      if (n.panel !== undefined) {
        const idx = f.index(n.panel, `${nodePath}.panel`);
        const local = localFrames[idx];
        if (local === undefined) throw f.invalid(`${nodePath}.panel`, `refers to panel ${idx} but the detector has ${rawPanels.length}`);
        if (absolute[idx] !== undefined) throw f.invalid(`${nodePath}.panel`, `panel ${idx} appears twice in the hierarchy`);
        absolute[idx] = composeFrame(parent, local);
        return;
      }
      const frame = composeFrame(parent, parseFrame(f, n, nodePath, IDENTITY_FRAME));
      const children = f.optional(n, 'children');
      if (children === undefined) return;
      f.array(children, `${nodePath}.children`).forEach((c, i) => visit(c, `${nodePath}.children[${i}]`, frame));
    };
    const root = f.object(hierarchy, `${path}.hierarchy`);
    if (root.panel !== undefined) throw f.invalid(`${path}.hierarchy`, 'the hierarchy root must be a group, not a panel');
    visit(root, `${path}.hierarchy`, IDENTITY_FRAME);
    frames = absolute.map((fr, i) => {
      if (fr === undefined) throw f.invalid(`${path}.hierarchy`, `panel ${i} is not placed in the hierarchy`);
      return fr;
    });
  }
  return { panels: rawPanels.map((p, i) => parsePanel(f, p, panelPath(i), frames[i] as Frame)) };
}

// ---------------------------------------------------------------------------- goniometer

function parseGoniometer(f: Fields, value: unknown, path: string): Goniometer {
  const o = f.object(value, path);
  let g: Goniometer;
  if (o.axes !== undefined) {
    const rawAxes = f.array(f.required(o, 'axes', path), `${path}.axes`);
    if (rawAxes.length === 0) throw f.invalid(`${path}.axes`, 'a multi-axis goniometer needs at least one axis');
    const axes = rawAxes.map((a, i) => f.direction(a, `${path}.axes[${i}]`));
    const angles = f.numbers(f.required(o, 'angles', path), `${path}.angles`, axes.length);
    const rawNames = f.optional(o, 'names');
    const names = rawNames === undefined ? axes.map(() => '') : f.array(rawNames, `${path}.names`).map((n, i) => f.string(n, `${path}.names[${i}]`));
    if (names.length !== axes.length) throw f.invalid(`${path}.names`, `expected ${axes.length} names (one per axis), found ${names.length}`);
    const scanAxis = f.index(f.required(o, 'scan_axis', path), `${path}.scan_axis`);
    if (scanAxis >= axes.length) throw f.invalid(`${path}.scan_axis`, `scan axis ${scanAxis} but the goniometer has ${axes.length} axes`);
    const R = axes.map((a, i) => rotationAbout(a, ((angles[i] as number) * Math.PI) / 180));
    let F: Mat3 = IDENTITY;
    for (let i = 0; i < scanAxis; i++) F = mulMM(R[i] as Mat3, F);
    let S: Mat3 = IDENTITY;
    for (let i = scanAxis + 1; i < axes.length; i++) S = mulMM(R[i] as Mat3, S);
    g = {
      rotationAxis: axes[scanAxis] as Vec3,
      fixedRotation: F,
      settingRotation: S,
      axes: axes.map((axis, i) => ({ name: names[i] as string, axis, angleDeg: angles[i] as number })),
      scanAxisIndex: scanAxis,
    };
  } else {
    const fixed = f.optional(o, 'fixed_rotation');
    const setting = f.optional(o, 'setting_rotation');
    g = {
      rotationAxis: f.direction(f.required(o, 'rotation_axis', path), `${path}.rotation_axis`),
      fixedRotation: fixed === undefined ? IDENTITY : f.mat3(fixed, `${path}.fixed_rotation`),
      settingRotation: setting === undefined ? IDENTITY : f.mat3(setting, `${path}.setting_rotation`),
    };
  }
  const sAt = f.optional(o, 'setting_rotation_at_scan_points');
  if (sAt !== undefined) {
    const p = `${path}.setting_rotation_at_scan_points`;
    g.settingRotationAtScanPoints = f.array(sAt, p).map((m, i) => f.mat3(m, `${p}[${i}]`));
  }
  return g;
}

// ---------------------------------------------------------------------------- scan

/** Per-image values: n of them, or a single one (expanded), or none. */
function perImage(f: Fields, value: unknown, path: string, n: number): number[] {
  if (value === undefined) return [];
  if (typeof value === 'number') return new Array<number>(n).fill(f.number(value, path));
  const arr = f.numbers(value, path);
  if (arr.length === 0) return [];
  if (arr.length === 1) return new Array<number>(n).fill(arr[0] as number);
  if (arr.length !== n) throw f.invalid(path, `expected ${n} values (one per image), found ${arr.length}`);
  return arr;
}

function parseScan(f: Fields, value: unknown, path: string): Scan {
  const o = f.object(value, path);
  const imageRange = f.intPair(f.required(o, 'image_range', path), `${path}.image_range`);
  if (imageRange[1] < imageRange[0]) throw f.invalid(`${path}.image_range`, `last image ${imageRange[1]} before first ${imageRange[0]}`);
  const n = imageRange[1] - imageRange[0] + 1;
  const bo = f.optional(o, 'batch_offset');
  const batchOffset = bo === undefined ? 0 : f.integer(bo, `${path}.batch_offset`);
  const props = f.optional(o, 'properties');
  let oscillation: [number, number];
  let exposureTimes: number[];
  let epochs: number[];
  if (props !== undefined) {
    const pp = `${path}.properties`;
    const p = f.object(props, pp);
    const starts = f.numbers(f.required(p, 'oscillation', pp), `${pp}.oscillation`);
    if (starts.length !== n) throw f.invalid(`${pp}.oscillation`, `expected ${n} start angles (one per image), found ${starts.length}`);
    let width: number;
    if (n >= 2) {
      width = (starts[1] as number) - (starts[0] as number);
    } else {
      const w = f.numbers(f.required(p, 'oscillation_width', pp), `${pp}.oscillation_width`);
      if (w.length < 1) throw f.invalid(`${pp}.oscillation_width`, 'expected one width');
      width = w[0] as number;
    }
    oscillation = [starts[0] as number, width];
    exposureTimes = perImage(f, f.optional(p, 'exposure_time'), `${pp}.exposure_time`, n);
    epochs = perImage(f, f.optional(p, 'epochs'), `${pp}.epochs`, n);
  } else {
    oscillation = f.pair(f.required(o, 'oscillation', path), `${path}.oscillation`);
    exposureTimes = perImage(f, f.optional(o, 'exposure_time'), `${path}.exposure_time`, n);
    epochs = perImage(f, f.optional(o, 'epochs'), `${path}.epochs`, n);
  }
  return { imageRange, oscillation, exposureTimes, epochs, batchOffset };
}

// ---------------------------------------------------------------------------- crystal

function parseCrystal(f: Fields, value: unknown, path: string): Crystal {
  const o = f.object(value, path);
  const a = f.vec3(f.required(o, 'real_space_a', path), `${path}.real_space_a`);
  const b = f.vec3(f.required(o, 'real_space_b', path), `${path}.real_space_b`);
  const c = f.vec3(f.required(o, 'real_space_c', path), `${path}.real_space_c`);
  for (const [key, v] of [['real_space_a', a], ['real_space_b', b], ['real_space_c', c]] as const) {
    const why = outsideRange('cell edge length', norm(v), CELL_EDGE_RANGE_A);
    if (why !== undefined) throw f.invalid(`${path}.${key}`, why);
  }
  const rows: Mat3 = [a[0], a[1], a[2], b[0], b[1], b[2], c[0], c[1], c[2]];
  const d = det(rows);
  if (!(Math.abs(d) > 1e-12)) throw f.invalid(`${path}.real_space_c`, 'real-space axes are linearly dependent (zero cell volume)');
  const crystal: Crystal = {
    A: inverse(rows),
    unitCell: unitCellFromRealSpace(a, b, c),
    spaceGroupHall: f.string(f.required(o, 'space_group_hall_symbol', path), `${path}.space_group_hall_symbol`),
  };
  const domain = f.optional(o, 'ML_domain_size_ang');
  const halfMosaicity = f.optional(o, 'ML_half_mosaicity_deg');
  if (domain !== undefined && halfMosaicity !== undefined) {
    crystal.mosaicity = {
      domainSizeA: f.positive(domain, `${path}.ML_domain_size_ang`),
      halfMosaicityDeg: f.number(halfMosaicity, `${path}.ML_half_mosaicity_deg`),
    };
  }
  const aAt = f.optional(o, 'A_at_scan_points');
  if (aAt !== undefined) {
    const p = `${path}.A_at_scan_points`;
    crystal.AAtScanPoints = f.array(aAt, p).map((m, i) => f.mat3(m, `${p}[${i}]`));
  }
  return crystal;
}

// ---------------------------------------------------------------------------- imageset

function parseImageSet(f: Fields, value: unknown, path: string): ImageSetRef {
  const o = f.object(value, path);
  const ref: ImageSetRef = {};
  const template = f.optional(o, 'template');
  if (template !== undefined) ref.template = f.string(template, `${path}.template`);
  const images = f.optional(o, 'images');
  if (images !== undefined) ref.images = f.array(images, `${path}.images`).map((s, i) => f.string(s, `${path}.images[${i}]`));
  const indices = f.optional(o, 'single_file_indices');
  if (indices !== undefined) {
    ref.singleFileIndices = f.array(indices, `${path}.single_file_indices`).map((v, i) => f.index(v, `${path}.single_file_indices[${i}]`));
  }
  const mask = f.optional(o, 'mask');
  if (mask !== undefined) {
    const m = f.string(mask, `${path}.mask`);
    if (m !== '') ref.mask = m;
  }
  const kind = f.optional(o, '__id__');
  if ((kind === 'ImageSequence' || kind === 'ImageSweep') && ref.template === undefined) throw f.missing(`${path}.template`);
  return ref;
}

// ---------------------------------------------------------------------------- profile

/** An ellipsoid profile model; other profile kinds (e.g. gaussian_rs) are not kept (undefined). */
function parseProfile(f: Fields, value: unknown, path: string): EllipsoidProfile | undefined {
  const o = f.object(value, path);
  if (o.__id__ !== 'ellipsoid') return undefined;
  const rows = f.array(f.required(o, 'sigma', path), `${path}.sigma`);
  if (rows.length !== 3) throw f.invalid(`${path}.sigma`, `expected a 3×3 matrix, found ${rows.length} rows`);
  const m = rows.flatMap((r, i) => f.numbers(r, `${path}.sigma[${i}]`, 3));
  const p = f.optional(o, 'parameterisation');
  return { parameterisation: p === undefined ? '' : f.string(p, `${path}.parameterisation`), sigma: m as unknown as Mat3 };
}

// ---------------------------------------------------------------------------- list

/** Parses each model of one kind at most once, on first reference. */
class ModelTable<T> {
  private readonly parsed = new Map<number, T>();
  private readonly list: readonly unknown[] | undefined;
  private readonly f: Fields;
  private readonly key: string;
  private readonly parse: (f: Fields, value: unknown, path: string) => T;

  constructor(f: Fields, root: JsonObject, key: string, parse: (f: Fields, value: unknown, path: string) => T) {
    this.f = f;
    this.key = key;
    this.parse = parse;
    const raw = f.optional(root, key);
    this.list = raw === undefined ? undefined : f.array(raw, key);
  }

  get(index: number, refPath: string): T {
    const value = this.list?.[index];
    if (value === undefined) {
      throw this.f.invalid(refPath, `refers to ${this.key} ${index} but the file has ${this.list?.length ?? 0}`);
    }
    const path = `${this.key}[${index}]`;
    if (typeof value === 'string') throw this.f.invalid(path, `models stored in separate files ('${value}') are not supported`);
    let model = this.parsed.get(index);
    if (model === undefined) {
      model = this.parse(this.f, value, path);
      this.parsed.set(index, model);
    }
    return model;
  }
}

/** Parse a DIALS ExperimentList from already-decoded JSON. `source` names the file in errors. */
export function parseExperimentList(json: unknown, source: string): ExperimentList {
  const f = new Fields(source);
  const root = f.object(json, '(root)');
  // top-level paths are the bare key names ('experiment', 'beam[0]', …)
  const id = root.__id__;
  if (id !== undefined && id !== 'ExperimentList') {
    throw new FormatError(`not a DIALS ExperimentList (__id__ is ${describe(id)})`, { file: source, field: '__id__' });
  }
  const beams = new ModelTable(f, root, 'beam', parseBeam);
  const detectors = new ModelTable(f, root, 'detector', parseDetector);
  const goniometers = new ModelTable(f, root, 'goniometer', parseGoniometer);
  const scans = new ModelTable(f, root, 'scan', parseScan);
  const crystals = new ModelTable(f, root, 'crystal', parseCrystal);
  const imagesets = new ModelTable(f, root, 'imageset', parseImageSet);
  const profiles = new ModelTable(f, root, 'profile', parseProfile);

  const rawExperiments = f.array(f.required(root, 'experiment', ''), 'experiment');
  const experiments = rawExperiments.map((raw, i): Experiment => {
    const path = `experiment[${i}]`;
    const e = f.object(raw, path);
    const ref = <T>(key: string, table: ModelTable<T>): T | undefined => {
      const v = f.optional(e, key);
      return v === undefined ? undefined : table.get(f.index(v, `${path}.${key}`), `${path}.${key}`);
    };
    const requiredRef = <T>(key: string, table: ModelTable<T>): T => {
      const m = ref(key, table);
      if (m === undefined) throw f.missing(`${path}.${key}`);
      return m;
    };
    const ident = f.optional(e, 'identifier');
    const exp: Experiment = {
      identifier: ident === undefined ? '' : f.string(ident, `${path}.identifier`),
      beam: requiredRef('beam', beams),
      detector: requiredRef('detector', detectors),
    };
    const goniometer = ref('goniometer', goniometers);
    if (goniometer !== undefined) exp.goniometer = goniometer;
    const scan = ref('scan', scans);
    if (scan !== undefined) exp.scan = scan;
    const crystal = ref('crystal', crystals);
    if (crystal !== undefined) exp.crystal = crystal;
    const imageset = ref('imageset', imagesets);
    if (imageset !== undefined) exp.imageset = imageset;
    const profile = ref('profile', profiles);
    if (profile !== undefined) exp.profile = profile;
    return exp;
  });
  return { source, experiments };
}

/** Read and parse a DIALS ExperimentList file (`.expt` / `.json`). */
export async function readExperimentList(path: string): Promise<ExperimentList> {
  let text = await readTextFile(path);
  // a UTF-8 byte order mark is accepted, as JSON readers commonly do (JSON.parse refuses it)
  if (text.startsWith('\uFEFF')) text = text.slice(1);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    // the parser quotes the text around the error, line breaks included: one line
    throw new FormatError(`not valid JSON: ${(err as Error).message.replace(/\s+/g, ' ')}`, { file: path }, { cause: err });
  }
  return parseExperimentList(json, path);
}
