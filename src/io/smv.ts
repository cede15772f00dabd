/**
 * SMV images (`.img`: ADSC and other CCDs; also written by Lunus and many simulators).
 *
 * Format: a text header of `HEADER_BYTES` bytes starting with '{', holding
 * `KEY=value;` entries (one per line by convention) and ending with '}',
 * padded (blanks or NULs) to `HEADER_BYTES`; the pixels follow at byte
 * `HEADER_BYTES`, uncompressed, row-major with the fast index first.
 *
 * - `HEADER_BYTES`: header length, also the offset of the pixels (required).
 * - `SIZE1` × `SIZE2`: fast × slow pixel counts (required).
 * - `BYTE_ORDER`: `little_endian` or `big_endian` (required).
 * - `TYPE`: `unsigned_short` (16-bit) or `unsigned_long` / `unsigned_int`
 *   (32-bit) (required). 32-bit values above 2³¹−1 cannot be kept in
 *   diffract's Int32 pixels and are refused with an InvalidValueError
 *   naming the pixel (no real detector reaches them; a file that has them is
 *   more likely misdescribed, e.g. signed data or the wrong byte order).
 * - `DIM`: 2 when present.
 * - Typed header fields read: WAVELENGTH (Å), DISTANCE (mm), PIXEL_SIZE (mm),
 *   TIME (s), OSC_START, OSC_RANGE, PHI, OMEGA, CHI, KAPPA, TWOTHETA (deg),
 *   AXIS, BEAM_CENTER_X/Y (mm, as written: no ADSC axis swap),
 *   CCD_IMAGE_SATURATION or SATURATED_VALUE, IMAGE_PEDESTAL, DETECTOR_SN,
 *   DETECTOR_NAME or DETECTOR_TYPE, DATE.
 *
 * Bytes after the pixels are ignored.
 */
import { Buffer } from 'node:buffer';
import { FormatError, InvalidValueError, MissingFieldError, TruncatedError } from '../errors.ts';
import {
  checkExpectedSize,
  leadingNumber,
  locate,
  readFileBytes,
  setIfDefined,
  writeFileBytes,
  type DetectorImage,
  type ImageHeader,
} from './image.ts';

export type SmvByteOrder = 'little_endian' | 'big_endian';
/** element types written by `encodeSmv` (the reader also takes `unsigned_int` as 32-bit) */
export type SmvType = 'unsigned_short' | 'unsigned_long';

export interface SmvDecodeOptions {
  /** [fast, slow] the caller expects, e.g. the detector model's `imageSize` */
  expectedSize?: readonly [number, number];
}

const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
/** the header is looked for in this many bytes at most */
const MAX_HEADER_SCAN = 1 << 20;
const BYTES_PER_ELEMENT: ReadonlyMap<string, 2 | 4> = new Map([
  ['unsigned_short', 2],
  ['unsigned_long', 4],
  ['unsigned_int', 4],
]);

function headerInt(raw: Map<string, string>, key: string, file: string, frame: number | undefined, minimum: number): number {
  const text = raw.get(key);
  if (text === undefined) throw new MissingFieldError('the SMV header does not give this field', locate(file, frame, key));
  const v = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(v) || v < minimum) {
    throw new InvalidValueError(`'${text}' is not an integer ≥ ${minimum}`, locate(file, frame, key));
  }
  return v;
}

function smvHeader(raw: Map<string, string>, lines: string[]): ImageHeader {
  const header: ImageHeader = { format: 'smv', raw, lines };
  const num = (key: string): number | undefined => leadingNumber(raw.get(key));
  const text = (key: string): string | undefined => {
    const v = raw.get(key);
    return v === undefined || v === '' ? undefined : v;
  };
  setIfDefined(header, 'detector', text('DETECTOR_NAME') ?? text('DETECTOR_TYPE'));
  setIfDefined(header, 'detectorSerial', text('DETECTOR_SN'));
  setIfDefined(header, 'timestamp', text('DATE'));
  setIfDefined(header, 'wavelength', num('WAVELENGTH'));
  setIfDefined(header, 'distance', num('DISTANCE'));
  const px = num('PIXEL_SIZE');
  if (px !== undefined) header.pixelSize = [px, px];
  setIfDefined(header, 'exposureTime', num('TIME'));
  setIfDefined(header, 'startAngle', num('OSC_START') ?? num('PHI'));
  setIfDefined(header, 'angleIncrement', num('OSC_RANGE'));
  setIfDefined(header, 'oscillationAxis', text('AXIS'));
  setIfDefined(header, 'phi', num('PHI'));
  setIfDefined(header, 'omega', num('OMEGA'));
  setIfDefined(header, 'chi', num('CHI'));
  setIfDefined(header, 'kappa', num('KAPPA'));
  setIfDefined(header, 'twoTheta', num('TWOTHETA'));
  const bx = num('BEAM_CENTER_X');
  const by = num('BEAM_CENTER_Y');
  if (bx !== undefined && by !== undefined) header.beamCentre = { x: bx, y: by, unit: 'mm' };
  setIfDefined(header, 'saturation', num('CCD_IMAGE_SATURATION') ?? num('SATURATED_VALUE'));
  setIfDefined(header, 'pedestal', num('IMAGE_PEDESTAL'));
  return header;
}

/**
 * Decodes an SMV image held in memory. `file` (and `frame`, the index in a
 * series) name the image in errors; `source.frame` is `frame ?? 0`.
 *
 * Errors: FormatError (no '{' … '}' header, header longer than HEADER_BYTES),
 * MissingFieldError (HEADER_BYTES, SIZE1, SIZE2, BYTE_ORDER, TYPE),
 * InvalidValueError (unusable values, unsupported TYPE or BYTE_ORDER, DIM ≠ 2,
 * 32-bit values above 2³¹−1, a size other than `expectedSize`),
 * TruncatedError (fewer pixel bytes than SIZE1 × SIZE2 elements).
 */
export function decodeSmv(bytes: Uint8Array, file: string, frame?: number, options: SmvDecodeOptions = {}, into?: Int32Array): DetectorImage {
  if (bytes.length === 0 || bytes[0] !== 0x7b /* '{' */) {
    throw new FormatError("not an SMV image: the file does not start with '{'", locate(file, frame));
  }
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const close = buf.subarray(0, MAX_HEADER_SCAN).indexOf(0x7d /* '}' */);
  if (close < 0) {
    throw new (bytes.length < MAX_HEADER_SCAN ? TruncatedError : FormatError)(
      "the SMV header has no closing '}'",
      locate(file, frame),
    );
  }
  const raw = new Map<string, string>();
  const lines: string[] = [];
  for (const entry of buf.toString('latin1', 1, close).replace(/\0/g, '').split(/[;\r\n]/)) {
    const t = entry.trim();
    const eq = t.indexOf('=');
    if (eq <= 0) continue;
    const key = t.slice(0, eq).trim();
    const value = t.slice(eq + 1).trim();
    raw.set(key, value);
    lines.push(`${key}=${value}`);
  }

  if (!raw.has('HEADER_BYTES')) {
    throw new MissingFieldError("no HEADER_BYTES entry in the '{…}' header: not an SMV image", locate(file, frame, 'HEADER_BYTES'));
  }
  const headerBytes = headerInt(raw, 'HEADER_BYTES', file, frame, 1);
  if (close >= headerBytes) {
    throw new FormatError(`the header text runs to byte ${close + 1}, past HEADER_BYTES=${headerBytes}`, locate(file, frame, 'HEADER_BYTES'));
  }
  const dim = raw.get('DIM');
  if (dim !== undefined && dim !== '2') throw new InvalidValueError(`DIM=${dim}: only 2-D images are read`, locate(file, frame, 'DIM'));
  const width = headerInt(raw, 'SIZE1', file, frame, 1);
  const height = headerInt(raw, 'SIZE2', file, frame, 1);
  const order = raw.get('BYTE_ORDER');
  if (order === undefined) throw new MissingFieldError('the SMV header does not give the byte order', locate(file, frame, 'BYTE_ORDER'));
  if (order !== 'little_endian' && order !== 'big_endian') {
    throw new InvalidValueError(`'${order}' is not little_endian or big_endian`, locate(file, frame, 'BYTE_ORDER'));
  }
  const type = raw.get('TYPE');
  if (type === undefined) throw new MissingFieldError('the SMV header does not give the element type', locate(file, frame, 'TYPE'));
  const bpe = BYTES_PER_ELEMENT.get(type);
  if (bpe === undefined) {
    throw new InvalidValueError(
      `element type '${type}' is not supported (unsigned_short, unsigned_long or unsigned_int)`,
      locate(file, frame, 'TYPE'),
    );
  }
  checkExpectedSize(width, height, options.expectedSize, file, frame);

  const count = width * height;
  const need = count * bpe;
  const available = bytes.length - headerBytes;
  if (available < need) {
    throw new TruncatedError(
      `${width}×${height} ${type} pixels need ${need} bytes after the ${headerBytes}-byte header, but the file has ${Math.max(0, available)}`,
      locate(file, frame),
    );
  }

  // a caller's buffer of the right size is reused (every element is written below)
  const pixels = into !== undefined && into.length === count ? into : new Int32Array(count);
  const at = bytes.byteOffset + headerBytes;
  const little = order === 'little_endian';
  if (bpe === 2) {
    if (little === HOST_LITTLE_ENDIAN && at % 2 === 0) {
      pixels.set(new Uint16Array(bytes.buffer, at, count));
    } else if (little) {
      for (let k = 0, i = headerBytes; k < count; k++, i += 2) pixels[k] = bytes[i]! | (bytes[i + 1]! << 8);
    } else {
      for (let k = 0, i = headerBytes; k < count; k++, i += 2) pixels[k] = (bytes[i]! << 8) | bytes[i + 1]!;
    }
  } else {
    if (little === HOST_LITTLE_ENDIAN && at % 4 === 0) {
      pixels.set(new Int32Array(bytes.buffer, at, count));
    } else if (little) {
      for (let k = 0, i = headerBytes; k < count; k++, i += 4) {
        pixels[k] = bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24);
      }
    } else {
      for (let k = 0, i = headerBytes; k < count; k++, i += 4) {
        pixels[k] = (bytes[i]! << 24) | (bytes[i + 1]! << 16) | (bytes[i + 2]! << 8) | bytes[i + 3]!;
      }
    }
    // an unsigned value above 2³¹−1 reads negative here: refuse it (see the module comment)
    for (let k = 0; k < count; k++) {
      if (pixels[k]! < 0) {
        throw new InvalidValueError(
          `pixel (x=${k % width}, y=${Math.floor(k / width)}) holds ${pixels[k]! >>> 0}, above the largest ${type} value diffract keeps (2³¹−1)`,
          locate(file, frame, 'TYPE'),
        );
      }
    }
  }
  return { width, height, pixels, header: smvHeader(raw, lines), source: { file, frame: frame ?? 0 } };
}

/** Reads and decodes an SMV file (errors name the file, and `frame` when given). */
export async function readSmv(path: string, options: SmvDecodeOptions & { frame?: number } = {}): Promise<DetectorImage> {
  const bytes = await readFileBytes(path, options.frame);
  return decodeSmv(bytes, path, options.frame, options);
}

/** An image to write as SMV. */
export interface SmvImageInput {
  width: number;
  height: number;
  /** values must fit the type: 0…65535 for unsigned_short, 0…2³¹−1 for unsigned_long */
  pixels: Int32Array;
  /** default little_endian */
  byteOrder?: SmvByteOrder;
  /** default unsigned_short */
  type?: SmvType;
  /** further header entries, e.g. { WAVELENGTH: 0.908, PHI: 3 } (the layout keys are written by the encoder) */
  fields?: Readonly<Record<string, string | number>>;
}

const LAYOUT_KEYS = new Set(['HEADER_BYTES', 'DIM', 'BYTE_ORDER', 'TYPE', 'SIZE1', 'SIZE2']);

/**
 * Encodes an SMV image: the header ('{', `KEY=value;` lines, '}', blank
 * padding to a multiple of 512 bytes), then the pixels in the chosen byte
 * order and width. `decodeSmv(encodeSmv(img))` gives the pixels back.
 */
export function encodeSmv(image: SmvImageInput): Uint8Array {
  const { width, height, pixels } = image;
  const order = image.byteOrder ?? 'little_endian';
  const type = image.type ?? 'unsigned_short';
  if (!Number.isSafeInteger(width) || !Number.isSafeInteger(height) || width <= 0 || height <= 0) {
    throw new InvalidValueError(`image size ${width}×${height} is not two positive integers`);
  }
  const count = width * height;
  if (pixels.length !== count) throw new InvalidValueError(`${pixels.length} pixels given for a ${width}×${height} image (${count})`);
  const max = type === 'unsigned_short' ? 65535 : 2147483647;
  for (let k = 0; k < count; k++) {
    const v = pixels[k]!;
    if (v < 0 || v > max) {
      throw new InvalidValueError(`pixel (x=${k % width}, y=${Math.floor(k / width)}) = ${v} does not fit ${type} (0…${max})`);
    }
  }
  const entries: string[] = [`DIM=2;`, `BYTE_ORDER=${order};`, `TYPE=${type};`, `SIZE1=${width};`, `SIZE2=${height};`];
  for (const [key, value] of Object.entries(image.fields ?? {})) {
    if (LAYOUT_KEYS.has(key)) continue;
    const text = String(value);
    if (!/^[A-Za-z0-9_]+$/.test(key) || /[;{}\r\n=]/.test(text)) {
      throw new InvalidValueError(`header entry ${JSON.stringify(key)}=${JSON.stringify(text)} cannot be written in an SMV header`);
    }
    entries.push(`${key}=${text};`);
  }
  // HEADER_BYTES is written with a fixed width so that its own length is known
  const body = `\n${entries.join('\n')}\n}`;
  const fixed = '{\nHEADER_BYTES=00000;'.length;
  const headerBytes = Math.ceil((fixed + body.length) / 512) * 512;
  if (headerBytes > 99999) throw new InvalidValueError('the SMV header entries are too long');
  const text = `{\nHEADER_BYTES=${String(headerBytes).padStart(5, ' ')};${body}`;
  const bpe = type === 'unsigned_short' ? 2 : 4;
  const out = new Uint8Array(headerBytes + count * bpe);
  out.fill(0x20, 0, headerBytes);
  out.set(Buffer.from(text, 'latin1'), 0);
  const little = order === 'little_endian';
  let i = headerBytes;
  for (let k = 0; k < count; k++) {
    const v = pixels[k]!;
    if (bpe === 2) {
      out[i] = little ? v & 0xff : (v >> 8) & 0xff;
      out[i + 1] = little ? (v >> 8) & 0xff : v & 0xff;
      i += 2;
    } else if (little) {
      out[i] = v & 0xff;
      out[i + 1] = (v >> 8) & 0xff;
      out[i + 2] = (v >> 16) & 0xff;
      out[i + 3] = (v >>> 24) & 0xff;
      i += 4;
    } else {
      out[i] = (v >>> 24) & 0xff;
      out[i + 1] = (v >> 16) & 0xff;
      out[i + 2] = (v >> 8) & 0xff;
      out[i + 3] = v & 0xff;
      i += 4;
    }
  }
  return out;
}

/** Encodes and writes an SMV file (see `encodeSmv`). */
export async function writeSmv(path: string, image: SmvImageInput): Promise<void> {
  await writeFileBytes(path, encodeSmv(image));
}
