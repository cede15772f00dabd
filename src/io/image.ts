/**
 * The detector frame used everywhere in diffract, and the header fields read
 * from image files.
 *
 * Pixels are kept as the raw integers from the file (`Int32Array`, row-major,
 * index = y·width + x, x along the fast axis). Marker values are kept as they
 * are: Pilatus writes −1 for pixels in the gaps between modules and −2 for bad
 * pixels; masking them is the job of `pixel-mask.ts`, not of the readers.
 */
import { open, readFile } from 'node:fs/promises';
import { FileAccessError, InvalidValueError, type ErrorLocation } from '../errors.ts';
import { writeFileAtomic } from './atomic-file.ts';

/** The file formats diffract reads. */
export type ImageFormat = 'cbf' | 'smv' | 'hdf5' | 'eiger-stream' | 'stream1';

/** Where a beam centre was given: in pixels (Pilatus `Beam_xy`) or millimetres (SMV `BEAM_CENTER_X/Y`). */
export interface HeaderBeamCentre {
  /** along the fast axis as written in the header (SMV: `BEAM_CENTER_X`; no ADSC axis swap applied) */
  x: number;
  /** along the slow axis as written in the header (SMV: `BEAM_CENTER_Y`) */
  y: number;
  unit: 'px' | 'mm';
}

/**
 * Header of one image. `raw` holds every key/value pair read as text; the typed
 * fields are the ones that could be read and converted (absent when the header
 * does not have them). Units are converted to diffract's units: Å, mm, s, degrees.
 */
export interface ImageHeader {
  format: ImageFormat;
  /**
   * Every key/value pair as text (trimmed).
   * CBF: PILATUS `# Key value` lines (key = first word without a trailing ':',
   * value = the rest, a leading '=' dropped), single-line CIF items
   * (`_array_data.header_convention`) and the binary section's MIME fields
   * (`X-Binary-Size`, `Content-MD5`, ...). SMV: the `KEY=value;` pairs.
   */
  raw: ReadonlyMap<string, string>;
  /** CBF: the PILATUS header lines (text after '# ', in order); SMV: the `KEY=value` entries in order */
  lines: readonly string[];
  /** detector description (CBF `Detector:`, SMV `DETECTOR_NAME`/`DETECTOR_TYPE`) */
  detector?: string;
  /** detector serial number (CBF `S/N …` in `Detector:`, SMV `DETECTOR_SN`) */
  detectorSerial?: string;
  /** acquisition date/time as written */
  timestamp?: string;
  /** Å */
  wavelength?: number;
  /** sample–detector distance, mm */
  distance?: number;
  /** mm, [fast, slow] */
  pixelSize?: readonly [number, number];
  /** s (CBF `Exposure_time`, SMV `TIME`) */
  exposureTime?: number;
  /** s (CBF `Exposure_period`) */
  exposurePeriod?: number;
  /** degrees: rotation angle at the start of the frame (CBF `Start_angle`, SMV `OSC_START`, else `PHI`) */
  startAngle?: number;
  /** degrees: the oscillation (osc range) of the frame (CBF `Angle_increment`, SMV `OSC_RANGE`) */
  angleIncrement?: number;
  /** name of the scan axis (CBF `Oscillation_axis`, SMV `AXIS`) */
  oscillationAxis?: string;
  /** degrees: goniometer phi reading (CBF `Phi`, SMV `PHI`) */
  phi?: number;
  /** degrees (CBF `Omega`, SMV `OMEGA`) */
  omega?: number;
  /** degrees (CBF `Chi`, SMV `CHI`) */
  chi?: number;
  /** degrees (CBF `Kappa`, SMV `KAPPA`) */
  kappa?: number;
  /** degrees (CBF `Detector_2theta`, SMV `TWOTHETA`) */
  twoTheta?: number;
  beamCentre?: HeaderBeamCentre;
  /** counts: values at or above are saturated (CBF `Count_cutoff`, SMV `CCD_IMAGE_SATURATION`/`SATURATED_VALUE`) */
  saturation?: number;
  /** mm (CBF `… sensor, thickness … m`) */
  sensorThickness?: number;
  /** e.g. 'Silicon', 'CdTe' (CBF `<material> sensor, thickness …`) */
  sensorMaterial?: string;
  /** beam polarization fraction (CBF `Polarization`) */
  polarization?: number;
  /** counts added to every pixel by the detector (SMV `IMAGE_PEDESTAL`) */
  pedestal?: number;
}

/** One detector frame. */
export interface DetectorImage {
  /** fast dimension (pixels) */
  width: number;
  /** slow dimension (pixels) */
  height: number;
  /** raw values, row-major (index = y·width + x); marker values (−1 gap, −2 bad) kept as they are */
  pixels: Int32Array;
  header: ImageHeader;
  /** for error messages; frame = index in the series (0-based) */
  source: { file: string; frame: number };
}

/** The first number in a header value ("0.68890 A" → 0.6889); undefined when there is none. */
export function leadingNumber(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const m = /^\s*\(?\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)/.exec(text);
  if (m === null || m[1] === undefined) return undefined;
  const v = Number(m[1]);
  return Number.isFinite(v) ? v : undefined;
}

/** Sets `target[key] = value` when value is defined (keeps optional fields absent rather than undefined). */
export function setIfDefined<T extends object, K extends keyof T>(target: T, key: K, value: T[K] | undefined): void {
  if (value !== undefined) target[key] = value;
}

/**
 * A buffer that reads of whole files reuse (a worker thread's, one frame at a
 * time): `bytes` grows when a file does not fit. What `readFileBytes` returns
 * from it is a view, valid until the next read into the same scratch.
 */
export interface ReadScratch {
  bytes: Uint8Array;
}

/**
 * Reads a whole file for a decoder (into `scratch` when given: see
 * ReadScratch). A missing or unreadable file becomes a FileAccessError naming
 * the file (and the frame, when given).
 */
export async function readFileBytes(path: string, frame?: number, scratch?: ReadScratch): Promise<Uint8Array> {
  try {
    if (scratch === undefined) return await readFile(path);
    const handle = await open(path, 'r');
    try {
      const size = (await handle.stat()).size;
      // a quarter of headroom: the next frame's file may be a little longer
      if (scratch.bytes.length < size) scratch.bytes = new Uint8Array(Math.ceil(1.25 * size));
      let at = 0;
      while (at < size) {
        const { bytesRead } = await handle.read(scratch.bytes, at, size - at, at);
        if (bytesRead === 0) break;
        at += bytesRead;
      }
      return scratch.bytes.subarray(0, at);
    } finally {
      await handle.close();
    }
  } catch (err) {
    throw fileAccessError(err, path, frame);
  }
}

function fileAccessError(err: unknown, path: string, frame: number | undefined): FileAccessError {
  const code = (err as NodeJS.ErrnoException).code;
  const why =
    code === 'ENOENT'
      ? 'no such file'
      : code === 'EACCES' || code === 'EPERM'
        ? 'permission denied'
        : code === 'EISDIR'
          ? 'is a directory, not an image file'
          : `cannot read the file (${code ?? String(err)})`;
  return new FileAccessError(why, frame === undefined ? { file: path } : { file: path, frame }, { cause: err });
}

/** Writes a whole file for an encoder, atomically; failures become a FileAccessError naming the file. */
export async function writeFileBytes(path: string, bytes: Uint8Array): Promise<void> {
  await writeFileAtomic(path, bytes);
}

/** The error location for a file and, when known, a frame and a header field. */
export function locate(file: string, frame: number | undefined, field?: string): ErrorLocation {
  const where: ErrorLocation = { file };
  if (frame !== undefined) where.frame = frame;
  if (field !== undefined) where.field = field;
  return where;
}

/**
 * Checks a decoded size against the one a caller expects (e.g. the detector
 * model's `imageSize`, [fast, slow]); a difference is an InvalidValueError.
 */
export function checkExpectedSize(
  width: number,
  height: number,
  expected: readonly [number, number] | undefined,
  file: string,
  frame: number | undefined,
): void {
  if (expected === undefined) return;
  if (width !== expected[0] || height !== expected[1]) {
    throw new InvalidValueError(
      `image is ${width}×${height} pixels (fast×slow) but ${expected[0]}×${expected[1]} was expected`,
      locate(file, frame),
    );
  }
}
