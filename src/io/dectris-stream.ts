/**
 * Dectris Eiger ZeroMQ "stream" interface messages (the legacy SIMPLON stream
 * API, `htype` version 1.0), from a live PULL socket or from a raw recording.
 * Every message is a ZeroMQ multipart message whose parts are JSON objects or
 * binary blobs:
 *
 * - **series start** `dheader-1.0`:
 *   part 0 `{"htype":"dheader-1.0","series":<id>,"header_detail":"all"|"basic"|"none"}`;
 *   with `basic` or `all`, part 1 is the detector configuration (JSON object:
 *   `description`, `detector_number`, `x_pixels_in_detector`, `wavelength`, …);
 *   with `all`, three descriptor + blob pairs follow: `dflatfield-1.0`
 *   (float32), `dpixelmask-1.0` (uint32), `dcountrate_table-1.0` (float32),
 *   each descriptor `{"htype", "shape":[x, y], "type"}` followed by the raw
 *   little-endian array. An optional last part is the user "appendix".
 * - **image** `dimage-1.0`:
 *   part 0 `{"htype":"dimage-1.0","series","frame","hash"}` (`hash` = md5 of
 *   the blob), part 1 `{"htype":"dimage_d-1.0","shape":[x, y],"type":"uint8"|
 *   "uint16"|"uint32","encoding","size"}` (`size` = blob bytes), part 2 the
 *   blob, part 3 `{"htype":"dconfig-1.0","start_time","stop_time","real_time"}`
 *   (nanoseconds), optional part 4 the appendix.
 * - **series end** `dseries_end-1.0`: `{"htype":"dseries_end-1.0","series"}`.
 *
 * `shape` is `[x, y]` = [fast, slow] = [width, height] (the EIGER2 9M sends
 * [3108, 3262] with `x_pixels_in_detector` 3108). `encoding` is
 * `[bs<BITS>-][lz4]<`: `<` raw little-endian, `lz4<` one LZ4 block of the
 * whole frame, `bs8-lz4<`/`bs16-lz4<`/`bs32-lz4<` bitshuffle + LZ4 with the
 * 12-byte header (see bitshuffle-lz4.ts); big-endian (`>`) is not supported.
 *
 * Decoding (`decodeDectrisImage`) checks the blob against `size`, the
 * decompressed byte count against x·y·bytes-per-pixel, and the bitshuffle
 * element size against `type`. Pixels become an Int32Array: uint8/uint16 values
 * are kept except the all-ones value (0xFF / 0xFFFF, Eiger's masked-pixel
 * marker) which becomes −1; uint32 values are reinterpreted as two's
 * complement, so 0xFFFFFFFF (masked) → −1 and any other value ≥ 2³¹ becomes
 * negative (value − 2³²; Eiger sends none but the marker). Negative pixels are
 * thus markers, as for Pilatus (−1 gap, −2 bad), and pixel-mask.ts masks them.
 *
 * Errors: a message whose parts do not follow these layouts → FormatError
 * (MissingFieldError for an absent required field); a blob shorter than
 * `size` or a compressed stream that ends early → TruncatedError whose message
 * reads "truncated compressed frame …" and names the series, with the frame
 * number and the file (or endpoint) in its location.
 */
import { loadZeromq } from './zmq.ts';
import { createHash } from 'node:crypto';
import { DiffractError, FileAccessError, FormatError, InvalidValueError, MissingFieldError, TruncatedError, type ErrorLocation } from '../errors.ts';
import { bitshuffleLz4Decompress, lz4DecompressBlock, type BitshuffleElemSize } from './bitshuffle-lz4.ts';
import { readCborsItems } from './cbors.ts';
import type { DetectorImage, ImageHeader } from './image.ts';

/** Pixel types of `dimage_d-1.0`. */
export type DectrisPixelType = 'uint8' | 'uint16' | 'uint32';
/** Array types of the header's detail parts. */
export type DectrisArrayType = DectrisPixelType | 'float32';

const BYTES: Record<DectrisArrayType, number> = { uint8: 1, uint16: 2, uint32: 4, float32: 4 };

/** A `dflatfield-1.0` / `dpixelmask-1.0` / `dcountrate_table-1.0` descriptor with its blob. */
export interface DectrisArrayPart {
  htype: string;
  /** as sent: [x, y] (fast, slow) for images; [2, n] for the count-rate table */
  shape: number[];
  type: DectrisArrayType;
  /** the blob as received (may be shorter than `expectedBytes` in a cut recording) */
  data: Uint8Array;
  /** product of `shape` × element size */
  expectedBytes: number;
}

export interface DectrisHeader {
  htype: 'dheader-1.0';
  series: number;
  headerDetail: 'all' | 'basic' | 'none';
  /** the detector configuration (part 1 with header_detail basic/all) */
  config?: Record<string, unknown>;
  flatfield?: DectrisArrayPart;
  pixelMask?: DectrisArrayPart;
  countrateTable?: DectrisArrayPart;
  /** the user appendix part, raw */
  appendix?: Uint8Array;
  /** where the message came from (file or endpoint) */
  source?: string;
}

export interface DectrisImageMessage {
  htype: 'dimage-1.0';
  series: number;
  frame: number;
  /** md5 (hex) of the blob, as sent */
  hash?: string;
  /** [x, y] = [fast, slow] = [width, height] */
  shape: [number, number];
  type: DectrisPixelType;
  encoding: string;
  /** blob size announced in dimage_d-1.0 (bytes) */
  size?: number;
  /** the (compressed) frame data */
  blob: Uint8Array;
  /** dconfig-1.0 times, nanoseconds */
  startTime?: number;
  stopTime?: number;
  realTime?: number;
  appendix?: Uint8Array;
  source?: string;
}

export interface DectrisSeriesEnd {
  htype: 'dseries_end-1.0';
  series: number;
  source?: string;
}

export type DectrisMessage = DectrisHeader | DectrisImageMessage | DectrisSeriesEnd;

function jsonPart(part: Uint8Array | undefined, what: string, where: ErrorLocation): Record<string, unknown> {
  if (part === undefined) throw new FormatError(`Dectris message has no ${what} part`, where);
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(part.buffer, part.byteOffset, part.byteLength).toString('utf8'));
  } catch (err) {
    throw new FormatError(`Dectris ${what} part is not JSON: ${(err as Error).message.replace(/\s+/g, ' ')}`, where, { cause: err });
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new FormatError(`Dectris ${what} part is not a JSON object`, where);
  return v as Record<string, unknown>;
}

/** The JSON object in `part` when it is one, else undefined (for telling descriptor parts from blobs). */
function maybeJson(part: Uint8Array): Record<string, unknown> | undefined {
  if (part.length === 0 || part[0] !== 0x7b) return undefined; // '{'
  try {
    const v: unknown = JSON.parse(Buffer.from(part.buffer, part.byteOffset, part.byteLength).toString('utf8'));
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function intField(o: Record<string, unknown>, key: string, what: string, where: ErrorLocation): number {
  const v = o[key];
  if (v === undefined) throw new MissingFieldError(`${what} has no '${key}'`, { ...where, field: key });
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new FormatError(`${what} '${key}' is ${JSON.stringify(v)}, not a non-negative integer`, { ...where, field: key });
  return v;
}

function optNumber(o: Record<string, unknown>, key: string, what: string, where: ErrorLocation): number | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new FormatError(`${what} '${key}' is ${JSON.stringify(v)}, not a number`, { ...where, field: key });
  return v;
}

function shapeField(o: Record<string, unknown>, what: string, where: ErrorLocation): number[] {
  const s = o.shape;
  if (s === undefined) throw new MissingFieldError(`${what} has no 'shape'`, { ...where, field: 'shape' });
  if (!Array.isArray(s) || s.length < 1 || !s.every((d) => typeof d === 'number' && Number.isSafeInteger(d) && d > 0)) {
    throw new FormatError(`${what} shape ${JSON.stringify(s)} is not a list of positive integers`, { ...where, field: 'shape' });
  }
  return s as number[];
}

const DETAIL_PARTS: Record<string, 'flatfield' | 'pixelMask' | 'countrateTable'> = {
  'dflatfield-1.0': 'flatfield',
  'dpixelmask-1.0': 'pixelMask',
  'dcountrate_table-1.0': 'countrateTable',
};

function parseHeader(parts: readonly Uint8Array[], head: Record<string, unknown>, where: ErrorLocation): DectrisHeader {
  const series = intField(head, 'series', 'dheader-1.0', where);
  const detail = head.header_detail ?? 'none';
  if (detail !== 'all' && detail !== 'basic' && detail !== 'none') {
    throw new FormatError(`dheader-1.0 header_detail ${JSON.stringify(detail)} is not all, basic or none`, { ...where, field: 'header_detail' });
  }
  const h: DectrisHeader = { htype: 'dheader-1.0', series, headerDetail: detail };
  let k = 1;
  if (detail !== 'none') {
    const cfg = jsonPart(parts[1], 'detector configuration (dheader-1.0 part 1)', where);
    if (typeof cfg.htype === 'string') throw new FormatError(`dheader-1.0 with header_detail '${detail}': part 1 is '${cfg.htype}', not the detector configuration`, where);
    h.config = cfg;
    k = 2;
  }
  if (detail === 'all') {
    while (k < parts.length) {
      const desc = maybeJson(parts[k] as Uint8Array);
      const key = desc !== undefined && typeof desc.htype === 'string' ? DETAIL_PARTS[desc.htype] : undefined;
      if (desc === undefined || key === undefined) break;
      const htype = desc.htype as string;
      const shape = shapeField(desc, htype, where);
      const type = desc.type;
      if (type !== 'uint8' && type !== 'uint16' && type !== 'uint32' && type !== 'float32') throw new FormatError(`${htype} type ${JSON.stringify(type)} is not supported`, { ...where, field: 'type' });
      const data = parts[k + 1];
      if (data === undefined) throw new TruncatedError(`dheader-1.0: the ${htype} descriptor (part ${k}) has no data part after it`, where);
      h[key] = { htype, shape, type, data, expectedBytes: shape.reduce((a, b) => a * b, 1) * BYTES[type] };
      k += 2;
    }
  }
  if (k < parts.length) {
    if (k !== parts.length - 1) throw new FormatError(`dheader-1.0 (header_detail '${detail}') has ${parts.length} parts; part ${k} is neither a known descriptor nor the final appendix`, where);
    h.appendix = parts[k] as Uint8Array;
  }
  if (where.file !== undefined) h.source = where.file;
  return h;
}

function parseImage(parts: readonly Uint8Array[], head: Record<string, unknown>, where: ErrorLocation): DectrisImageMessage {
  const series = intField(head, 'series', 'dimage-1.0', where);
  const frame = intField(head, 'frame', 'dimage-1.0', where);
  const at: ErrorLocation = { ...where, frame };
  const d = jsonPart(parts[1], 'dimage_d-1.0 (part 1)', at);
  if (d.htype !== 'dimage_d-1.0') throw new FormatError(`dimage-1.0 part 1 has htype ${JSON.stringify(d.htype)}, expected dimage_d-1.0`, { ...at, field: 'htype' });
  const shape = shapeField(d, 'dimage_d-1.0', at);
  if (shape.length !== 2) throw new FormatError(`dimage_d-1.0 shape ${JSON.stringify(shape)} is not [x, y]`, { ...at, field: 'shape' });
  const type = d.type;
  if (type === undefined) throw new MissingFieldError(`dimage_d-1.0 has no 'type'`, { ...at, field: 'type' });
  if (type !== 'uint8' && type !== 'uint16' && type !== 'uint32') throw new FormatError(`dimage_d-1.0 type ${JSON.stringify(type)} is not uint8, uint16 or uint32`, { ...at, field: 'type' });
  const encoding = d.encoding;
  if (encoding === undefined) throw new MissingFieldError(`dimage_d-1.0 has no 'encoding'`, { ...at, field: 'encoding' });
  if (typeof encoding !== 'string') throw new FormatError(`dimage_d-1.0 encoding ${JSON.stringify(encoding)} is not a string`, { ...at, field: 'encoding' });
  const blob = parts[2];
  if (blob === undefined) throw new TruncatedError(`dimage-1.0 message of series ${series} has no data part`, at);
  const img: DectrisImageMessage = { htype: 'dimage-1.0', series, frame, shape: [shape[0] as number, shape[1] as number], type, encoding, blob };
  if (typeof head.hash === 'string' && head.hash !== '') img.hash = head.hash;
  const size = d.size;
  if (size !== undefined) {
    if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) throw new FormatError(`dimage_d-1.0 size ${JSON.stringify(size)} is not a byte count`, { ...at, field: 'size' });
    img.size = size;
  }
  if (parts[3] !== undefined) {
    const c = jsonPart(parts[3], 'dconfig-1.0 (part 3)', at);
    if (c.htype !== 'dconfig-1.0') throw new FormatError(`dimage-1.0 part 3 has htype ${JSON.stringify(c.htype)}, expected dconfig-1.0`, { ...at, field: 'htype' });
    const st = optNumber(c, 'start_time', 'dconfig-1.0', at);
    const sp = optNumber(c, 'stop_time', 'dconfig-1.0', at);
    const rt = optNumber(c, 'real_time', 'dconfig-1.0', at);
    if (st !== undefined) img.startTime = st;
    if (sp !== undefined) img.stopTime = sp;
    if (rt !== undefined) img.realTime = rt;
  }
  if (parts.length > 5) throw new FormatError(`dimage-1.0 message has ${parts.length} parts (at most 5: image, dimage_d, data, dconfig, appendix)`, at);
  if (parts[4] !== undefined) img.appendix = parts[4];
  if (where.file !== undefined) img.source = where.file;
  return img;
}

/**
 * Parses one multipart message of the Dectris stream interface. `where`
 * names the source (file or endpoint) for errors. Unknown `htype` →
 * FormatError.
 */
export function parseDectrisMessage(parts: readonly Uint8Array[], where: ErrorLocation = {}): DectrisMessage {
  if (parts.length === 0) throw new FormatError('empty Dectris stream message (no parts)', where);
  const head = jsonPart(parts[0], 'first', where);
  const htype = head.htype;
  if (htype === 'dheader-1.0') return parseHeader(parts, head, where);
  if (htype === 'dimage-1.0') return parseImage(parts, head, where);
  if (htype === 'dseries_end-1.0') {
    const e: DectrisSeriesEnd = { htype: 'dseries_end-1.0', series: intField(head, 'series', 'dseries_end-1.0', where) };
    if (where.file !== undefined) e.source = where.file;
    return e;
  }
  throw new FormatError(`unknown Dectris stream message htype=${JSON.stringify(htype)} (expected dheader-1.0, dimage-1.0 or dseries_end-1.0)`, { ...where, field: 'htype' });
}

/**
 * The values of a header detail part (flatfield, pixel mask, count-rate
 * table), little-endian. A blob shorter than shape × element size →
 * TruncatedError; longer → FormatError.
 */
export function dectrisArrayValues(part: DectrisArrayPart, where: ErrorLocation = {}): Float32Array | Uint32Array | Uint16Array | Uint8Array {
  if (part.data.length < part.expectedBytes) throw new TruncatedError(`${part.htype} data has ${part.data.length} of ${part.expectedBytes} bytes (shape ${part.shape.join('×')} ${part.type})`, where);
  if (part.data.length > part.expectedBytes) throw new FormatError(`${part.htype} data has ${part.data.length} bytes, shape ${part.shape.join('×')} ${part.type} needs ${part.expectedBytes}`, where);
  const copy = new ArrayBuffer(part.expectedBytes);
  new Uint8Array(copy).set(part.data);
  switch (part.type) {
    case 'float32':
      return new Float32Array(copy);
    case 'uint32':
      return new Uint32Array(copy);
    case 'uint16':
      return new Uint16Array(copy);
    case 'uint8':
      return new Uint8Array(copy);
  }
}

/** Parsed `encoding`: the bitshuffle element bits (absent: no bitshuffle) and the codec. */
interface ParsedEncoding {
  bitshuffleBits?: 8 | 16 | 32;
  lz4: boolean;
}

function parseEncoding(encoding: string, at: ErrorLocation): ParsedEncoding {
  const m = /^(?:bs(8|16|32)-)?(lz4)?([<>])$/.exec(encoding);
  if (m === null || (m[1] !== undefined && m[2] === undefined)) {
    throw new FormatError(`dimage_d-1.0 encoding '${encoding}' is not supported (expected '<', 'lz4<', 'bs8-lz4<', 'bs16-lz4<' or 'bs32-lz4<')`, { ...at, field: 'encoding' });
  }
  if (m[3] === '>') throw new FormatError(`dimage_d-1.0 encoding '${encoding}' is big-endian; only little-endian ('<') frames are supported`, { ...at, field: 'encoding' });
  const out: ParsedEncoding = { lz4: m[2] !== undefined };
  if (m[1] !== undefined) out.bitshuffleBits = Number(m[1]) as 8 | 16 | 32;
  return out;
}

export interface DectrisDecodeOptions {
  /** check the blob's md5 against `hash` (default false); a mismatch is a FormatError */
  verifyHash?: boolean;
}

/**
 * The decompressed frame as little-endian bytes (x·y·bytes-per-pixel long).
 * See the module comment for the checks and errors.
 */
export function decodeDectrisFrame(msg: DectrisImageMessage, opts: DectrisDecodeOptions = {}): Uint8Array {
  const at: ErrorLocation = { frame: msg.frame };
  if (msg.source !== undefined) at.file = msg.source;
  const [x, y] = msg.shape;
  const bpp = BYTES[msg.type];
  const expectedBytes = x * y * bpp;
  const enc = parseEncoding(msg.encoding, at);
  const label = `series ${msg.series} (${msg.encoding}, ${x}×${y} ${msg.type})`;
  const blob = msg.blob;
  if (msg.size !== undefined && blob.length !== msg.size) {
    if (blob.length < msg.size) throw new TruncatedError(`truncated compressed frame in ${label}: the data part has ${blob.length} of the ${msg.size} bytes dimage_d-1.0 announces`, at);
    throw new FormatError(`frame data of ${label} has ${blob.length} bytes, dimage_d-1.0 announces ${msg.size}`, { ...at, field: 'size' });
  }
  if (opts.verifyHash && msg.hash !== undefined) {
    const md5 = createHash('md5').update(blob).digest('hex');
    if (md5 !== msg.hash.toLowerCase()) throw new FormatError(`frame data of ${label} has md5 ${md5}, dimage-1.0 says ${msg.hash}`, { ...at, field: 'hash' });
  }
  if (enc.bitshuffleBits !== undefined && enc.bitshuffleBits !== bpp * 8) {
    throw new FormatError(`encoding '${msg.encoding}' shuffles ${enc.bitshuffleBits}-bit elements but the type is ${msg.type}`, { ...at, field: 'encoding' });
  }
  try {
    if (enc.bitshuffleBits !== undefined) return bitshuffleLz4Decompress(blob, bpp as BitshuffleElemSize, { expectedBytes });
    if (enc.lz4) return lz4DecompressBlock(blob, expectedBytes);
  } catch (err) {
    if (err instanceof TruncatedError) throw new TruncatedError(`truncated compressed frame in ${label}, data part ${blob.length} bytes: ${err.message}`, at, { cause: err });
    if (err instanceof DiffractError) throw new FormatError(`corrupt compressed frame in ${label}: ${err.message}`, at, { cause: err });
    throw err;
  }
  if (blob.length < expectedBytes) throw new TruncatedError(`truncated frame in ${label}: ${blob.length} of ${expectedBytes} bytes`, at);
  if (blob.length > expectedBytes) throw new FormatError(`frame data of ${label} has ${blob.length} bytes, ${expectedBytes} expected`, at);
  return blob.slice();
}

/** Image header for a Dectris stream frame (`ImageHeader` with its own format name). */
export type DectrisImageHeader = Omit<ImageHeader, 'format'> & { format: 'eiger-stream' };

/** A decoded stream frame: a DetectorImage whose header says `format: 'eiger-stream'`. */
export type DectrisDetectorImage = Omit<DetectorImage, 'header'> & { header: DectrisImageHeader };

/** Pixels as Int32 with the marker mapping of the module comment. */
export function dectrisPixels(bytes: Uint8Array, type: DectrisPixelType): Int32Array {
  const n = bytes.length / BYTES[type];
  const out = new Int32Array(n);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (type === 'uint32') {
    for (let i = 0; i < n; i++) out[i] = dv.getInt32(4 * i, true);
  } else if (type === 'uint16') {
    for (let i = 0; i < n; i++) {
      const v = dv.getUint16(2 * i, true);
      out[i] = v === 0xffff ? -1 : v;
    }
  } else {
    for (let i = 0; i < n; i++) {
      const v = bytes[i] as number;
      out[i] = v === 0xff ? -1 : v;
    }
  }
  return out;
}

/**
 * Decodes an image message to a detector frame (width = x, height = y).
 * `header` carries what the message itself says (exposure from `real_time`);
 * detector geometry lives in the series header's `config`, which the caller
 * may pass to fill pixel size, wavelength, distance, detector name.
 */
export function decodeDectrisImage(msg: DectrisImageMessage, opts: DectrisDecodeOptions & { config?: Record<string, unknown> } = {}): DectrisDetectorImage {
  const bytes = decodeDectrisFrame(msg, opts);
  const [width, height] = msg.shape;
  const raw = new Map<string, string>([
    ['series', String(msg.series)],
    ['frame', String(msg.frame)],
    ['encoding', msg.encoding],
    ['type', msg.type],
  ]);
  if (msg.hash !== undefined) raw.set('hash', msg.hash);
  if (msg.startTime !== undefined) raw.set('start_time', String(msg.startTime));
  if (msg.stopTime !== undefined) raw.set('stop_time', String(msg.stopTime));
  if (msg.realTime !== undefined) raw.set('real_time', String(msg.realTime));
  const header: DectrisImageHeader = { format: 'eiger-stream', raw, lines: [...raw].map(([k, v]) => `${k}=${v}`) };
  if (msg.realTime !== undefined) header.exposureTime = msg.realTime * 1e-9;
  const cfg = opts.config;
  if (cfg !== undefined) {
    const num = (k: string): number | undefined => (typeof cfg[k] === 'number' && Number.isFinite(cfg[k]) ? (cfg[k] as number) : undefined);
    if (typeof cfg.description === 'string') header.detector = cfg.description;
    if (typeof cfg.detector_number === 'string') header.detectorSerial = cfg.detector_number;
    if (typeof cfg.data_collection_date === 'string') header.timestamp = cfg.data_collection_date;
    const wl = num('wavelength');
    if (wl !== undefined) header.wavelength = wl;
    const dist = num('detector_distance');
    if (dist !== undefined) header.distance = dist * 1000;
    const px = num('x_pixel_size');
    const py = num('y_pixel_size');
    if (px !== undefined && py !== undefined) header.pixelSize = [px * 1000, py * 1000];
    const bx = num('beam_center_x');
    const by = num('beam_center_y');
    if (bx !== undefined && by !== undefined) header.beamCentre = { x: bx, y: by, unit: 'px' };
    if (typeof cfg.sensor_material === 'string') header.sensorMaterial = cfg.sensor_material;
    const th = num('sensor_thickness');
    if (th !== undefined) header.sensorThickness = th * 1000;
    const cut = num('countrate_correction_count_cutoff');
    if (cut !== undefined) header.saturation = cut;
  }
  return { width, height, pixels: dectrisPixels(bytes, msg.type), header, source: { file: msg.source ?? '', frame: msg.frame } };
}

function asParts(item: unknown, index: number, file: string): Uint8Array[] {
  if (!Array.isArray(item) || item.length === 0 || !item.every((p) => p instanceof Uint8Array)) {
    throw new FormatError(`recorded item ${index} is not a multipart message (a non-empty list of byte strings)`, { file });
  }
  return item as Uint8Array[];
}

/**
 * The messages of a raw Dectris stream recording (`.cbors[.gz]`: one CBOR
 * item per multipart message, a list of byte strings, no tags), in order.
 */
export async function* readDectrisRecording(path: string): AsyncGenerator<DectrisMessage> {
  let index = 0;
  for await (const item of readCborsItems(path)) {
    yield parseDectrisMessage(asParts(item, index, path), { file: path });
    index++;
  }
}

export interface DectrisStreamOptions {
  /** give up after this many ms without a message (TruncatedError); default: wait forever */
  timeoutMs?: number;
  /** end the iteration after dseries_end-1.0 (default true) */
  untilSeriesEnd?: boolean;
  signal?: AbortSignal;
}

/**
 * Connects a ZeroMQ PULL socket to `endpoint` (e.g. tcp://eiger:9999) and
 * yields the parsed messages until `dseries_end-1.0`. A silence longer than
 * `timeoutMs` → TruncatedError naming the endpoint and how many messages came.
 * Aborting `signal` ends the iteration quietly.
 */
export async function* connectDectrisStream(endpoint: string, opts: DectrisStreamOptions = {}): AsyncGenerator<DectrisMessage> {
  const zmq = await loadZeromq(endpoint);
  const sock = new zmq.Pull(opts.timeoutMs !== undefined ? { receiveTimeout: opts.timeoutMs, linger: 0 } : { linger: 0 });
  const onAbort = (): void => sock.close();
  opts.signal?.addEventListener('abort', onAbort);
  let received = 0;
  try {
    try {
      sock.connect(endpoint);
    } catch (err) {
      throw new InvalidValueError(`cannot connect to ${endpoint}: ${err instanceof Error ? err.message : String(err)}`, { field: endpoint });
    }
    for (;;) {
      let parts: Buffer[];
      try {
        parts = await sock.receive();
      } catch (err) {
        if (opts.signal?.aborted || sock.closed) return;
        if ((err as { code?: string }).code === 'EAGAIN') {
          throw new TruncatedError(`no message for ${opts.timeoutMs ?? 0} ms before dseries_end-1.0 (${received} messages received)`, { file: endpoint });
        }
        throw new FileAccessError(`receiving from ${endpoint} failed: ${err instanceof Error ? err.message : String(err)}`, { file: endpoint }, { cause: err });
      }
      received++;
      const msg = parseDectrisMessage(
        parts.map((b) => new Uint8Array(b.buffer, b.byteOffset, b.byteLength)),
        { file: endpoint },
      );
      yield msg;
      if (msg.htype === 'dseries_end-1.0' && (opts.untilSeriesEnd ?? true)) return;
    }
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
    if (!sock.closed) sock.close();
  }
}
