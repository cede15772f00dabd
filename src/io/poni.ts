/**
 * pyFAI PONI files: the detector geometry of an azimuthal integration.
 *
 * Format (pyFAI `io/ponifile.py`): `key: value` lines, `#` comments; keys are
 * case-insensitive. Version 1 gives `PixelSize1`/`PixelSize2`; versions 2 and
 * 2.1 give `Detector` and `Detector_config` (JSON with `pixel1`, `pixel2`,
 * `max_shape`, and in 2.1 `orientation`). Then `Distance`, `Poni1`, `Poni2`
 * (m), `Rot1`, `Rot2`, `Rot3` (rad) and `Wavelength` (m).
 *
 * Conventions (pyFAI geometry): axis 1 is the slow image axis (rows, "y"), axis
 * 2 the fast axis (columns, "x"); pixel i's centre lies at (i + 0.5)·pixel1
 * along axis 1. Poni1/Poni2 locate the point of normal incidence from the
 * corner of the first pixel. Orientation 3 (pyFAI's default, the legacy layout)
 * is the only one supported; another is an InvalidValueError.
 */
import { readFileSync } from 'node:fs';
import { FileAccessError, FormatError, InvalidValueError, MissingFieldError } from '../errors.ts';

export interface PoniGeometry {
  /** sample–PONI distance, m */
  dist: number;
  /** m, along the slow axis (rows) */
  poni1: number;
  /** m, along the fast axis (columns) */
  poni2: number;
  rot1: number;
  rot2: number;
  rot3: number;
  /** m */
  wavelength: number;
  /** pixel size along rows (slow), m */
  pixel1: number;
  /** pixel size along columns (fast), m */
  pixel2: number;
  /** the detector name as written */
  detector: string;
  /** [rows, cols] when the file says */
  maxShape?: [number, number];
}

/** Pixel sizes of detector families pyFAI knows by name, when the file gives none. */
const KNOWN_PIXEL: Array<[RegExp, number]> = [
  [/^pilatus/i, 172e-6],
  [/^eiger/i, 75e-6],
];

const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/** Plausible ranges (SI units, as pyFAI writes them): a value outside is a broken file, not a geometry. */
const RANGES: Record<string, [number, number, string]> = {
  distance: [0, 100, ' m'],
  dist: [0, 100, ' m'],
  poni1: [-10, 10, ' m'],
  poni2: [-10, 10, ' m'],
  rot1: [-4 * Math.PI, 4 * Math.PI, ' rad'],
  rot2: [-4 * Math.PI, 4 * Math.PI, ' rad'],
  rot3: [-4 * Math.PI, 4 * Math.PI, ' rad'],
  wavelength: [1e-13, 1e-7, ' m'],
  pixelsize1: [1e-8, 0.1, ' m'],
  pixelsize2: [1e-8, 0.1, ' m'],
};

/** Most pixels a PONI `max_shape` may give (2^27, as the DIALS panel limit: six times an Eiger2 16M). */
const MAX_SHAPE_PIXELS = 2 ** 27;

/** A Detector_config pixel size (m), checked against the PixelSize range. */
function configPixel(v: number, key: 'pixel1' | 'pixel2', file: string | undefined): number {
  const [lo, hi, unit] = RANGES.pixelsize1!;
  if (!(Number.isFinite(v) && v >= lo && v <= hi)) throw new InvalidValueError(`PONI Detector_config ${key} = ${v} is outside ${lo}…${hi}${unit}`, { file, field: key });
  return v;
}

export function parsePoni(text: string, file?: string): PoniGeometry {
  const kv = new Map<string, string>();
  // each key as the file spells it ('Distance'), for the errors
  const spelled = new Map<string, string>();
  for (const line of text.split(/\r?\n/)) {
    if (line.startsWith('#') || !line.includes(':')) continue;
    const i = line.indexOf(':');
    const key = line.slice(0, i).trim();
    kv.set(key.toLowerCase(), line.slice(i + 1).trim());
    spelled.set(key.toLowerCase(), key);
  }
  const num = (key: string, alt?: string, fallback?: number): number => {
    const found = kv.has(key) || alt === undefined ? key : alt;
    const s = kv.get(found);
    const name = spelled.get(found) ?? key;
    if (s === undefined) {
      if (fallback !== undefined) return fallback;
      throw new MissingFieldError(`PONI file has no ${key}`, { file, field: key });
    }
    // a decimal number only: Number() would read '' as 0 and '0x10' as 16
    if (!DECIMAL.test(s)) throw new InvalidValueError(`PONI ${name} is not a decimal number: '${s}'`, { file, field: name });
    const v = Number(s);
    const [lo, hi, unit] = RANGES[key] ?? [-Infinity, Infinity, ''];
    if (!(Number.isFinite(v) && v >= lo && v <= hi)) throw new InvalidValueError(`PONI ${name} = ${s} is outside ${lo}…${hi}${unit}`, { file, field: name });
    return v;
  };
  const detector = kv.get('detector') ?? 'Detector';
  let pixel1: number | undefined;
  let pixel2: number | undefined;
  let maxShape: [number, number] | undefined;
  const cfgText = kv.get('detector_config');
  if (cfgText !== undefined) {
    let cfg: unknown;
    try {
      cfg = JSON.parse(cfgText);
    } catch (err) {
      throw new FormatError(`PONI Detector_config is not JSON: ${(err as Error).message}`, { file, field: 'detector_config' });
    }
    if (cfg === null || typeof cfg !== 'object') throw new FormatError('PONI Detector_config is not a JSON object', { file, field: 'detector_config' });
    const c = cfg as Record<string, unknown>;
    if (typeof c.pixel1 === 'number') pixel1 = configPixel(c.pixel1, 'pixel1', file);
    if (typeof c.pixel2 === 'number') pixel2 = configPixel(c.pixel2, 'pixel2', file);
    if (Array.isArray(c.max_shape) && c.max_shape.length === 2 && c.max_shape.every((x) => typeof x === 'number')) {
      maxShape = [c.max_shape[0] as number, c.max_shape[1] as number];
      // a shape sizes image buffers: positive integers, at most MAX_SHAPE_PIXELS in all
      if (!maxShape.every((n) => Number.isSafeInteger(n) && n > 0) || maxShape[0] * maxShape[1] > MAX_SHAPE_PIXELS) {
        throw new InvalidValueError(`PONI Detector_config max_shape [${maxShape.join(', ')}] is not two positive integers of at most ${MAX_SHAPE_PIXELS} pixels in all`, { file, field: 'max_shape' });
      }
    }
    if (c.orientation !== undefined && c.orientation !== 3) {
      throw new InvalidValueError(`PONI detector orientation ${String(c.orientation)} is not supported (only 3, pyFAI's default)`, { file, field: 'orientation' });
    }
  }
  if (kv.has('pixelsize1')) pixel1 = num('pixelsize1');
  if (kv.has('pixelsize2')) pixel2 = num('pixelsize2');
  if (pixel1 === undefined || pixel2 === undefined) {
    const known = KNOWN_PIXEL.find(([re]) => re.test(detector));
    if (known === undefined) throw new MissingFieldError(`PONI file gives no pixel size (Detector_config pixel1/pixel2 or PixelSize1/2) for detector '${detector}'`, { file, field: 'pixel1' });
    pixel1 ??= known[1];
    pixel2 ??= known[1];
  }
  const g: PoniGeometry = {
    dist: num('distance', 'dist'),
    poni1: num('poni1'),
    poni2: num('poni2'),
    rot1: num('rot1', undefined, 0),
    rot2: num('rot2', undefined, 0),
    rot3: num('rot3', undefined, 0),
    wavelength: num('wavelength'),
    pixel1,
    pixel2,
    detector,
  };
  if (maxShape !== undefined) g.maxShape = maxShape;
  if (!(g.dist > 0)) throw new InvalidValueError(`PONI distance must be positive, got ${g.dist}`, { file, field: 'distance' });
  if (!(g.wavelength > 0)) throw new InvalidValueError(`PONI wavelength must be positive, got ${g.wavelength}`, { file, field: 'wavelength' });
  if (!(pixel1 > 0 && pixel2 > 0)) throw new InvalidValueError('PONI pixel sizes must be positive', { file, field: 'pixel1' });
  return g;
}

export function readPoni(path: string): PoniGeometry {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new FileAccessError(`cannot read PONI file: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { file: path });
  }
  return parsePoni(text, path);
}

/** PONI version 2 text, as pyFAI writes it. */
export function formatPoni(g: PoniGeometry, comments: readonly string[] = []): string {
  const config: Record<string, unknown> = { pixel1: g.pixel1, pixel2: g.pixel2, max_shape: g.maxShape ?? null };
  const lines = [
    '# Nota: C-Order, 1 refers to the Y axis, 2 to the X axis',
    ...comments.map((c) => `# ${c}`),
    'poni_version: 2',
    `Detector: ${g.detector}`,
    `Detector_config: ${JSON.stringify(config)}`,
    `Distance: ${g.dist}`,
    `Poni1: ${g.poni1}`,
    `Poni2: ${g.poni2}`,
    `Rot1: ${g.rot1}`,
    `Rot2: ${g.rot2}`,
    `Rot3: ${g.rot3}`,
    `Wavelength: ${g.wavelength}`,
    '',
  ];
  return lines.join('\n');
}

/** Photon energy (eV) → wavelength (m). */
export function energyToWavelength(eV: number): number {
  return 12398.419843320026e-10 / eV;
}
