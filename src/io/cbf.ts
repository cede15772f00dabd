/**
 * miniCBF images (Pilatus/Eiger style CBF with one byte-offset compressed array).
 *
 * File layout, as written by the detectors and CBFlib:
 *
 *     ###CBF: VERSION 1.5 …                         (CIF text, CR LF line ends)
 *     data_<name>
 *     _array_data.header_convention "PILATUS_1.2"
 *     _array_data.header_contents
 *     ;
 *     # Detector: PILATUS 2M, S/N 24-0107           (PILATUS header: '# Key value' lines)
 *     # Wavelength 0.68890 A
 *     ;
 *     … (other CIF items, ignored apart from single-line '_tag value' pairs)
 *     _array_data.data
 *     ;
 *     --CIF-BINARY-FORMAT-SECTION--
 *     Content-Type: application/octet-stream;
 *          conversions="x-CBF_BYTE_OFFSET"        (continuation lines start with blanks)
 *     Content-Transfer-Encoding: BINARY
 *     X-Binary-Size: <bytes of compressed data>
 *     X-Binary-Element-Type: "signed 32-bit integer"
 *     X-Binary-Element-Byte-Order: LITTLE_ENDIAN
 *     Content-MD5: <base64 of the MD5 of the compressed bytes>
 *     X-Binary-Number-of-Elements: <fast × slow>
 *     X-Binary-Size-Fastest-Dimension: <fast>
 *     X-Binary-Size-Second-Dimension: <slow>
 *     X-Binary-Size-Padding: 4095
 *     <blank line>
 *     0C 1A 04 D5  <X-Binary-Size bytes>  <padding NULs>
 *     CR LF --CIF-BINARY-FORMAT-SECTION---- CR LF ; CR LF
 *
 * Byte-offset compression stores each element as the difference from the
 * previous one (the first from 0), little-endian, in the shortest form:
 *
 * - one signed byte when −127 ≤ Δ ≤ 127;
 * - else 0x80 then a signed 16-bit Δ when −32767 ≤ Δ ≤ 32767;
 * - else 0x80, 0x00 0x80 (the 16-bit escape −32768) then a signed 32-bit Δ
 *   when −2³¹+1 ≤ Δ ≤ 2³¹−1;
 * - else 0x80, 0x00 0x80, 0x00 0x00 0x00 0x80 (the 32-bit escape −2³¹) then
 *   a signed 64-bit Δ.
 *
 * The element values here are 32-bit, so the decoder adds deltas modulo 2³²
 * (only the low half of a 64-bit Δ matters); the encoder always writes the
 * shortest exact form. Only the first binary section of a file is read.
 */
import { Buffer } from 'node:buffer';
import { createHash } from 'node:crypto';
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

const SECTION = '--CIF-BINARY-FORMAT-SECTION--';
/** the four bytes that start the binary data */
export const CBF_BINARY_MARKER: readonly number[] = [0x0c, 0x1a, 0x04, 0xd5];
const MARKER_BYTES = Buffer.from(CBF_BINARY_MARKER);
const PADDING = 4095;

/** X-Binary-Element-Type values this reader takes, with their value ranges. */
const ELEMENT_TYPES: ReadonlyMap<string, { min: number; max: number }> = new Map([
  ['signed 32-bit integer', { min: -2147483648, max: 2147483647 }],
  ['unsigned 32-bit integer', { min: 0, max: 4294967295 }],
  ['signed 16-bit integer', { min: -32768, max: 32767 }],
  ['unsigned 16-bit integer', { min: 0, max: 65535 }],
  ['signed 8-bit integer', { min: -128, max: 127 }],
  ['unsigned 8-bit integer', { min: 0, max: 255 }],
]);

export interface CbfDecodeOptions {
  /** check Content-MD5 when the file has one (default true) */
  verifyMd5?: boolean;
  /** [fast, slow] the caller expects, e.g. the detector model's `imageSize` */
  expectedSize?: readonly [number, number];
}

/** What `decompressByteOffset` did. */
export interface ByteOffsetResult {
  /** elements written to `out` */
  decoded: number;
  /** index just after the last byte used */
  end: number;
  /** true when an escape sequence was cut by the end of the input */
  cutEscape: boolean;
}

/**
 * Decodes byte-offset data from `src[start, end)` into `out` until `out` is
 * full or the input ends. No allocation per element; deltas add modulo 2³².
 */
export function decompressByteOffset(src: Uint8Array, start: number, end: number, out: Int32Array): ByteOffsetResult {
  const n = out.length;
  const s8 = new Int8Array(src.buffer, src.byteOffset, src.byteLength);
  let i = start;
  let k = 0;
  let v = 0;
  let cutEscape = false;
  while (k < n && i < end) {
    // a run of one-byte deltas (the common case) in the tightest loop
    const stop = Math.min(end, i + (n - k));
    let d = 0;
    while (i < stop && (d = s8[i]!) !== -128) {
      v = (v + d) | 0;
      out[k++] = v;
      i++;
    }
    if (i >= stop) break; // out full or input used up
    // 0x80: a 16-bit delta follows, unless it is the escape 0x8000 for 32 bits, and so on
    if (i + 3 > end) {
      cutEscape = true;
      break;
    }
    const d16 = ((src[i + 1]! | (src[i + 2]! << 8)) << 16) >> 16;
    if (d16 !== -32768) {
      v = (v + d16) | 0;
      i += 3;
    } else {
      if (i + 7 > end) {
        cutEscape = true;
        break;
      }
      const d32 = src[i + 3]! | (src[i + 4]! << 8) | (src[i + 5]! << 16) | (src[i + 6]! << 24);
      if (d32 !== -2147483648) {
        v = (v + d32) | 0;
        i += 7;
      } else {
        if (i + 15 > end) {
          cutEscape = true;
          break;
        }
        // 64-bit delta: its low 32 bits are all that matter modulo 2³²
        const lo = src[i + 7]! | (src[i + 8]! << 8) | (src[i + 9]! << 16) | (src[i + 10]! << 24);
        v = (v + lo) | 0;
        i += 15;
      }
    }
    out[k++] = v;
  }
  return { decoded: k, end: i, cutEscape };
}

/** Counts the elements in byte-offset data `src[start, end)` (for messages about wrong sizes). */
function countByteOffsetElements(src: Uint8Array, start: number, end: number): number {
  let i = start;
  let k = 0;
  while (i < end) {
    if (src[i] !== 0x80) i += 1;
    else if (src[i + 1] !== 0x00 || src[i + 2] !== 0x80) i += 3;
    else if (src[i + 3] !== 0x00 || src[i + 4] !== 0x00 || src[i + 5] !== 0x00 || src[i + 6] !== 0x80) i += 7;
    else i += 15;
    k++;
  }
  return k;
}

/** Byte-offset compresses `pixels` (shortest exact form for each delta). */
export function compressByteOffset(pixels: Int32Array): Uint8Array {
  const n = pixels.length;
  let size = 0;
  let prev = 0;
  for (let k = 0; k < n; k++) {
    const v = pixels[k]!;
    const d = v - prev;
    prev = v;
    size += d >= -127 && d <= 127 ? 1 : d >= -32767 && d <= 32767 ? 3 : d >= -2147483647 && d <= 2147483647 ? 7 : 15;
  }
  const out = new Uint8Array(size);
  let o = 0;
  prev = 0;
  for (let k = 0; k < n; k++) {
    const v = pixels[k]!;
    const d = v - prev; // exact in float64: |d| < 2³²
    prev = v;
    if (d >= -127 && d <= 127) {
      out[o++] = d & 0xff;
    } else if (d >= -32767 && d <= 32767) {
      out[o] = 0x80;
      out[o + 1] = d & 0xff;
      out[o + 2] = (d >> 8) & 0xff;
      o += 3;
    } else if (d >= -2147483647 && d <= 2147483647) {
      out[o] = 0x80;
      out[o + 1] = 0x00;
      out[o + 2] = 0x80;
      out[o + 3] = d & 0xff;
      out[o + 4] = (d >> 8) & 0xff;
      out[o + 5] = (d >> 16) & 0xff;
      out[o + 6] = (d >> 24) & 0xff;
      o += 7;
    } else {
      out[o] = 0x80;
      out[o + 1] = 0x00;
      out[o + 2] = 0x80;
      out[o + 3] = 0x00;
      out[o + 4] = 0x00;
      out[o + 5] = 0x00;
      out[o + 6] = 0x80;
      const lo = d >>> 0; // ToUint32 is modular: the low half of the two's complement
      const hi = d < 0 ? 0xff : 0x00; // |d| < 2³², so the high half is all sign
      out[o + 7] = lo & 0xff;
      out[o + 8] = (lo >>> 8) & 0xff;
      out[o + 9] = (lo >>> 16) & 0xff;
      out[o + 10] = (lo >>> 24) & 0xff;
      out[o + 11] = hi;
      out[o + 12] = hi;
      out[o + 13] = hi;
      out[o + 14] = hi;
      o += 15;
    }
  }
  return out;
}

interface MimeHeader {
  fields: Map<string, string>;
}

/** Parses the MIME lines of a binary section ('Key: value', continuation lines start with blanks). */
function parseMime(text: string): MimeHeader {
  const fields = new Map<string, string>();
  let lastKey: string | undefined;
  for (const line of text.split(/\r?\n/)) {
    if (line.trim() === '' || line.startsWith(SECTION)) continue;
    if (/^[ \t]/.test(line) && lastKey !== undefined) {
      fields.set(lastKey, `${fields.get(lastKey) ?? ''} ${line.trim()}`);
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    lastKey = line.slice(0, colon).trim();
    fields.set(lastKey, line.slice(colon + 1).trim());
  }
  return { fields };
}

function unquote(s: string): string {
  const t = s.trim();
  if (t.length >= 2 && ((t.startsWith('"') && t.endsWith('"')) || (t.startsWith("'") && t.endsWith("'")))) {
    return t.slice(1, -1);
  }
  return t;
}

/** Length in mm from a PILATUS value such as "0.16000 m" (SI metres unless 'mm' or 'um' is written). */
function lengthMm(value: string | undefined): number | undefined {
  const v = leadingNumber(value);
  if (v === undefined || value === undefined) return undefined;
  const unit = /[\d.]\s*(mm|um|µm|m)\b/.exec(value)?.[1] ?? 'm';
  return unit === 'mm' ? v : unit === 'm' ? v * 1000 : v / 1000;
}

/** Parses the CIF text before the binary section: PILATUS '# ' lines and single-line CIF items. */
function parseCifHeader(text: string, raw: Map<string, string>): string[] {
  const pilatus: string[] = [];
  const comments: string[] = [];
  let inTextField = false;
  let textFieldTag: string | undefined;
  let lastTag: string | undefined;
  let sawHeaderContents = false;
  let loop: 'none' | 'tags' | 'values' = 'none';
  for (const line of text.split(/\r?\n/)) {
    if (line.startsWith(';')) {
      if (inTextField) {
        inTextField = false;
        textFieldTag = undefined;
      } else {
        inTextField = true;
        textFieldTag = lastTag;
        if (textFieldTag === '_array_data.header_contents') sawHeaderContents = true;
      }
      continue;
    }
    if (inTextField) {
      if (textFieldTag === '_array_data.header_contents' && line.startsWith('#')) pilatus.push(line.replace(/^#\s?/, ''));
      continue;
    }
    if (line.startsWith('#')) {
      if (!line.startsWith('###CBF')) comments.push(line.replace(/^#\s?/, ''));
      continue;
    }
    const trimmed = line.trim();
    if (trimmed === '') continue;
    if (/^loop_\b/i.test(trimmed)) {
      loop = 'tags';
      continue;
    }
    const m = /^(_[^\s]+)\s*(.*)$/.exec(trimmed);
    if (m === null || m[1] === undefined) {
      if (loop === 'tags') loop = 'values'; // loop values are not recorded
      continue;
    }
    lastTag = m[1];
    if (loop === 'tags') continue; // a loop's column names
    loop = 'none'; // a tag after the values ends the loop
    const value = (m[2] ?? '').trim();
    if (value !== '') raw.set(m[1], unquote(value));
  }
  // a miniCBF without a header_contents field: take its comment lines as the PILATUS header
  return sawHeaderContents ? pilatus : comments;
}

/** key and value of a PILATUS header line: "Wavelength 0.68890 A" → ["Wavelength", "0.68890 A"]. */
function splitPilatusLine(line: string): [string, string] | undefined {
  const m = /^([^\s:=]+):?\s*(.*)$/.exec(line.trim());
  if (m === null || m[1] === undefined) return undefined;
  return [m[1], (m[2] ?? '').replace(/^=\s*/, '').trim()];
}

/** a PILATUS date line: '2016-03-05T09:01:45.613' or '2011/Jan/31 12:00:00.000' */
const TIMESTAMP = /^\d{4}[-/]\w{2,3}[-/]\d{2}[T ]\d/;

function cbfHeader(pilatusLines: string[], raw: Map<string, string>): ImageHeader {
  for (const line of pilatusLines) {
    if (TIMESTAMP.test(line)) continue; // a bare date, not 'Key value'
    const kv = splitPilatusLine(line);
    if (kv !== undefined && !raw.has(kv[0])) raw.set(kv[0], kv[1]);
  }
  const header: ImageHeader = { format: 'cbf', raw, lines: pilatusLines };
  const num = (key: string): number | undefined => leadingNumber(raw.get(key));
  for (const line of pilatusLines) {
    const det = /^Detector:\s*(.*)$/.exec(line);
    if (det?.[1] !== undefined) {
      header.detector = det[1].trim();
      const sn = /S\/N\s*([^\s,]+)/.exec(det[1]);
      setIfDefined(header, 'detectorSerial', sn?.[1]);
      continue;
    }
    if (TIMESTAMP.test(line) && header.timestamp === undefined) {
      header.timestamp = line.trim();
      continue;
    }
    const sensor = /^(\S+)\s+sensor,\s*thickness\s+(.*)$/.exec(line);
    if (sensor?.[1] !== undefined) {
      header.sensorMaterial = sensor[1];
      setIfDefined(header, 'sensorThickness', lengthMm(sensor[2]));
      continue;
    }
    const px = /^Pixel_size\s+(\S+\s*(?:mm|um|m)?)\s*x\s*(\S+\s*(?:mm|um|m)?)/.exec(line);
    if (px?.[1] !== undefined && px[2] !== undefined) {
      const f = lengthMm(px[1]);
      const s = lengthMm(px[2]);
      if (f !== undefined && s !== undefined) header.pixelSize = [f, s];
      continue;
    }
    const beam = /^Beam_xy\s*\(\s*([^,\s]+)\s*,\s*([^)\s]+)\s*\)\s*(\w*)/.exec(line);
    if (beam?.[1] !== undefined && beam[2] !== undefined) {
      const x = leadingNumber(beam[1]);
      const y = leadingNumber(beam[2]);
      if (x !== undefined && y !== undefined) header.beamCentre = { x, y, unit: beam[3] === 'mm' ? 'mm' : 'px' };
    }
  }
  setIfDefined(header, 'wavelength', num('Wavelength'));
  setIfDefined(header, 'distance', lengthMm(raw.get('Detector_distance')));
  setIfDefined(header, 'exposureTime', num('Exposure_time'));
  setIfDefined(header, 'exposurePeriod', num('Exposure_period'));
  setIfDefined(header, 'startAngle', num('Start_angle'));
  setIfDefined(header, 'angleIncrement', num('Angle_increment'));
  const axis = raw.get('Oscillation_axis');
  if (axis !== undefined && axis !== '') header.oscillationAxis = axis.split(/\s+/)[0] ?? axis;
  setIfDefined(header, 'phi', num('Phi'));
  setIfDefined(header, 'omega', num('Omega'));
  setIfDefined(header, 'chi', num('Chi'));
  setIfDefined(header, 'kappa', num('Kappa'));
  setIfDefined(header, 'twoTheta', num('Detector_2theta'));
  setIfDefined(header, 'saturation', num('Count_cutoff'));
  setIfDefined(header, 'polarization', num('Polarization'));
  return header;
}

function positiveInt(
  fields: Map<string, string>,
  key: string,
  file: string,
  frame: number | undefined,
  required: boolean,
  allowZero = false,
): number | undefined {
  const text = fields.get(key);
  if (text === undefined) {
    if (required) throw new MissingFieldError('the binary section does not give this field', locate(file, frame, key));
    return undefined;
  }
  const t = text.trim();
  const v = /^\d+$/.test(t) ? Number(t) : NaN;
  if (!Number.isSafeInteger(v) || (v === 0 && !allowZero)) {
    throw new InvalidValueError(`'${t}' is not a ${allowZero ? 'non-negative' : 'positive'} integer`, locate(file, frame, key));
  }
  return v;
}

/**
 * Checks decoded values against the element type's range. An 'unsigned 32-bit'
 * value above 2³¹−1 has wrapped negative in the Int32Array: refused rather
 * than kept wrong.
 */
function checkElementRange(
  pixels: Int32Array,
  width: number,
  elementType: string,
  range: { min: number; max: number },
  file: string,
  frame: number | undefined,
): void {
  const { min, max } = range;
  for (let k = 0; k < pixels.length; k++) {
    const v = pixels[k]!;
    if (v < min || v > max) {
      const at = `pixel (x=${k % width}, y=${Math.floor(k / width)})`;
      throw new InvalidValueError(
        elementType === 'unsigned 32-bit integer'
          ? `${at} holds ${v >>> 0}, above the largest value diffract keeps (2³¹−1)`
          : `${at} holds ${v}, outside the range of a ${elementType}`,
        locate(file, frame, 'X-Binary-Element-Type'),
      );
    }
  }
}

/**
 * Decodes a miniCBF image held in memory. `file` (and `frame`, the index in
 * a series) name the image in errors; `source.frame` is `frame ?? 0`.
 *
 * Errors: FormatError (no binary section or start marker, Content-MD5
 * mismatch), MissingFieldError (X-Binary-Size, X-Binary-Size-Fastest-Dimension,
 * or the slow dimension when it cannot be worked out), InvalidValueError
 * (unusable sizes, unsupported compression/element type/byte order,
 * element count ≠ fast × slow, an 'unsigned 32-bit' value above 2³¹−1, a size
 * other than `expectedSize`), TruncatedError (fewer bytes than X-Binary-Size,
 * or compressed data ending before fast × slow elements).
 */
export function decodeCbf(bytes: Uint8Array, file: string, frame?: number, options: CbfDecodeOptions = {}, into?: Int32Array): DetectorImage {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const sectionAt = buf.indexOf(SECTION, 0, 'latin1');
  if (sectionAt < 0) {
    throw new FormatError(`no binary section ('${SECTION}' not found): not a miniCBF image`, locate(file, frame));
  }
  const markerAt = buf.indexOf(MARKER_BYTES, sectionAt);
  if (markerAt < 0) {
    throw new FormatError('the binary section has no start marker (bytes 0C 1A 04 D5)', locate(file, frame));
  }
  const dataStart = markerAt + 4;
  const { fields } = parseMime(buf.toString('latin1', sectionAt, markerAt));

  const contentType = fields.get('Content-Type') ?? '';
  const conversion = /conversions\s*=\s*"?([^";\s]+)"?/i.exec(contentType)?.[1] ?? 'none';
  if (conversion.toLowerCase() !== 'x-cbf_byte_offset') {
    throw new InvalidValueError(
      `compression '${conversion}' is not supported (only x-CBF_BYTE_OFFSET)`,
      locate(file, frame, 'Content-Type'),
    );
  }
  const encoding = fields.get('Content-Transfer-Encoding');
  if (encoding !== undefined && encoding.toUpperCase() !== 'BINARY') {
    throw new InvalidValueError(
      `transfer encoding '${encoding}' is not supported (only BINARY)`,
      locate(file, frame, 'Content-Transfer-Encoding'),
    );
  }
  const elementType = unquote(fields.get('X-Binary-Element-Type') ?? '"signed 32-bit integer"');
  const range = ELEMENT_TYPES.get(elementType);
  if (range === undefined) {
    throw new InvalidValueError(
      `element type '${elementType}' is not supported (integers of 8, 16 or 32 bits only)`,
      locate(file, frame, 'X-Binary-Element-Type'),
    );
  }
  const byteOrder = fields.get('X-Binary-Element-Byte-Order');
  if (byteOrder !== undefined && byteOrder.toUpperCase() !== 'LITTLE_ENDIAN') {
    throw new InvalidValueError(
      `byte order '${byteOrder}' is not supported (only LITTLE_ENDIAN)`,
      locate(file, frame, 'X-Binary-Element-Byte-Order'),
    );
  }
  const size = positiveInt(fields, 'X-Binary-Size', file, frame, true, true)!;
  const width = positiveInt(fields, 'X-Binary-Size-Fastest-Dimension', file, frame, true)!;
  const nElements = positiveInt(fields, 'X-Binary-Number-of-Elements', file, frame, false);
  let height = positiveInt(fields, 'X-Binary-Size-Second-Dimension', file, frame, false);
  if (height === undefined) {
    if (nElements === undefined || nElements % width !== 0) {
      throw new MissingFieldError(
        'the binary section gives neither the slow dimension nor a number of elements that is a multiple of the fast one',
        locate(file, frame, 'X-Binary-Size-Second-Dimension'),
      );
    }
    height = nElements / width;
  }
  const third = positiveInt(fields, 'X-Binary-Size-Third-Dimension', file, frame, false);
  if (third !== undefined && third !== 1) {
    throw new InvalidValueError(`a 3-D array (${third} layers) is not a single image`, locate(file, frame, 'X-Binary-Size-Third-Dimension'));
  }
  const count = width * height;
  if (nElements !== undefined && nElements !== count) {
    throw new InvalidValueError(
      `${nElements} elements, but the dimensions ${width}×${height} make ${count}`,
      locate(file, frame, 'X-Binary-Number-of-Elements'),
    );
  }
  checkExpectedSize(width, height, options.expectedSize, file, frame);

  const available = bytes.length - dataStart;
  if (available < size) {
    throw new TruncatedError(
      `the binary data should be ${size} bytes (X-Binary-Size) but the file ends ${available} bytes after the start marker`,
      locate(file, frame),
    );
  }
  const dataEnd = dataStart + size;

  const md5 = fields.get('Content-MD5');
  if (md5 !== undefined && options.verifyMd5 !== false) {
    const actual = createHash('md5').update(bytes.subarray(dataStart, dataEnd)).digest('base64');
    if (actual !== md5.trim()) {
      throw new FormatError(
        `Content-MD5 mismatch: the header says ${md5.trim()} but the ${size} data bytes give ${actual} (corrupt file?)`,
        locate(file, frame, 'Content-MD5'),
      );
    }
  }

  if (count > size) {
    // byte-offset spends at least one byte per element: checked before allocating, so a
    // header claiming a huge image cannot allocate more than 4 × the data it brings
    throw new TruncatedError(
      `the dimensions ${width}×${height} make ${count} elements but the compressed data (X-Binary-Size) are only ${size} bytes, at least one byte per element`,
      locate(file, frame),
    );
  }
  // a caller's buffer of the right size is reused (every element is written, or decoding fails)
  const pixels = into !== undefined && into.length === count ? into : new Int32Array(count);
  const result = decompressByteOffset(bytes, dataStart, dataEnd, pixels);
  if (result.decoded < count) {
    throw new TruncatedError(
      `the compressed data (${size} bytes) end after ${result.decoded} of ${count} elements (${width}×${height})` +
        (result.cutEscape ? ', inside an escape sequence' : ''),
      locate(file, frame),
    );
  }
  if (result.end < dataEnd) {
    const extra = countByteOffsetElements(bytes, result.end, dataEnd);
    throw new InvalidValueError(
      `the compressed data hold ${count + extra} elements but the dimensions ${width}×${height} make ${count}`,
      locate(file, frame, 'X-Binary-Size-Fastest-Dimension'),
    );
  }
  if (elementType !== 'signed 32-bit integer') checkElementRange(pixels, width, elementType, range, file, frame);

  const raw = new Map<string, string>();
  const pilatusLines = parseCifHeader(buf.toString('latin1', 0, sectionAt), raw);
  for (const [k, v] of fields) if (!raw.has(k)) raw.set(k, v);
  const header = cbfHeader(pilatusLines, raw);
  return { width, height, pixels, header, source: { file, frame: frame ?? 0 } };
}

/** Reads and decodes a miniCBF file (errors name the file, and `frame` when given). */
export async function readCbf(path: string, options: CbfDecodeOptions & { frame?: number } = {}): Promise<DetectorImage> {
  const bytes = await readFileBytes(path, options.frame);
  return decodeCbf(bytes, path, options.frame, options);
}

/** An image to write as miniCBF. */
export interface CbfImageInput {
  width: number;
  height: number;
  pixels: Int32Array;
  /**
   * PILATUS header lines for `_array_data.header_contents`, e.g.
   * 'Wavelength 0.68890 A' ('# ' is added when missing). The reader gives
   * them back in `header.lines`.
   */
  headerLines?: readonly string[];
  /** the CIF data block name (default 'image'; no blanks) */
  name?: string;
}

/**
 * Encodes a miniCBF: PILATUS_1.2 header convention, byte-offset compressed
 * signed 32-bit little-endian data, Content-MD5, 4095 bytes of padding and
 * CR LF line ends, as the Pilatus detectors write, so that CBFlib, fabio and
 * dxtbx read it. `decodeCbf(encodeCbf(img))` gives the pixels back bit for bit.
 */
export function encodeCbf(image: CbfImageInput): Uint8Array {
  const { width, height, pixels } = image;
  if (!Number.isSafeInteger(width) || !Number.isSafeInteger(height) || width <= 0 || height <= 0) {
    throw new InvalidValueError(`image size ${width}×${height} is not two positive integers`);
  }
  if (pixels.length !== width * height) {
    throw new InvalidValueError(`${pixels.length} pixels given for a ${width}×${height} image (${width * height})`);
  }
  const name = image.name ?? 'image';
  if (!/^[^\s]+$/.test(name)) throw new InvalidValueError(`CIF data block name '${name}' must be one word`);
  const headerLines = (image.headerLines ?? []).map((line) => {
    if (/[\r\n]/.test(line)) throw new InvalidValueError(`header line ${JSON.stringify(line)} contains a line break`);
    return line.startsWith('#') ? line : `# ${line}`;
  });

  const data = compressByteOffset(pixels);
  const md5 = createHash('md5').update(data).digest('base64');
  const head = [
    '###CBF: VERSION 1.5, CBFlib v0.7.8 - diffract',
    '',
    `data_${name}`,
    '',
    '_array_data.header_convention "PILATUS_1.2"',
    '_array_data.header_contents',
    ';',
    ...headerLines,
    ';',
    '',
    '_array_data.data',
    ';',
    SECTION,
    'Content-Type: application/octet-stream;',
    '     conversions="x-CBF_BYTE_OFFSET"',
    'Content-Transfer-Encoding: BINARY',
    `X-Binary-Size: ${data.length}`,
    'X-Binary-ID: 1',
    'X-Binary-Element-Type: "signed 32-bit integer"',
    'X-Binary-Element-Byte-Order: LITTLE_ENDIAN',
    `Content-MD5: ${md5}`,
    `X-Binary-Number-of-Elements: ${width * height}`,
    `X-Binary-Size-Fastest-Dimension: ${width}`,
    `X-Binary-Size-Second-Dimension: ${height}`,
    `X-Binary-Size-Padding: ${PADDING}`,
    '',
    '',
  ].join('\r\n');
  const tail = `\r\n${SECTION}--\r\n;\r\n\r\n`;
  const headBytes = Buffer.from(head, 'latin1');
  const tailBytes = Buffer.from(tail, 'latin1');
  const out = new Uint8Array(headBytes.length + 4 + data.length + PADDING + tailBytes.length);
  let o = 0;
  out.set(headBytes, o);
  o += headBytes.length;
  out.set(MARKER_BYTES, o);
  o += 4;
  out.set(data, o);
  o += data.length + PADDING; // padding stays zero
  out.set(tailBytes, o);
  return out;
}

/** Encodes and writes a miniCBF file (see `encodeCbf`). */
export async function writeCbf(path: string, image: CbfImageInput): Promise<void> {
  await writeFileBytes(path, encodeCbf(image));
}
