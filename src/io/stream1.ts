/**
 * "stream1" detector messages (the STINS style used by MAX IV's detector
 * ingesters and dranspose): a multipart message whose first part is JSON with
 * `htype`:
 *
 * - `header`: start of a series; may name the raw `filename`; a second JSON part
 *   may carry acquisition settings (energy, exposure time, …);
 * - `image`: one frame; `frame` (0-based index in the series), `shape`
 *   [rows, cols], `type` (numpy dtype name, e.g. 'float32', 'uint16'),
 *   `compression` ('none'); the next part is the raw little-endian array;
 * - `series_end`: end of the series.
 *
 * Only uncompressed frames are decoded ('none'); a compressed frame
 * ('bslz4', 'lz4') is a FormatError that names the compression. An `htype`
 * outside the three is a FormatError unless the caller asks to skip it.
 */
import { FormatError, TruncatedError, type ErrorLocation } from '../errors.ts';

export type FrameArray = Float32Array | Float64Array | Uint16Array | Uint32Array | Int32Array | Int16Array | Uint8Array | Int8Array;
export type FrameType = 'float32' | 'float64' | 'uint16' | 'uint32' | 'int32' | 'int16' | 'uint8' | 'int8';

export interface Stream1Header {
  htype: 'header';
  msgNumber?: number;
  filename?: string;
  /** the JSON parts after the first, parsed (settings such as energy, exptime) */
  info: Record<string, unknown>;
}

export interface Stream1Image {
  htype: 'image';
  msgNumber?: number;
  frame: number;
  /** [rows, cols] */
  shape: [number, number];
  type: FrameType;
  data: FrameArray;
  /** the JSON header, as sent */
  meta: Record<string, unknown>;
}

export interface Stream1End {
  htype: 'series_end';
  msgNumber?: number;
}

export type Stream1Message = Stream1Header | Stream1Image | Stream1End;

const TYPE_ALIASES: Record<string, FrameType> = {
  float32: 'float32',
  '<f4': 'float32',
  float64: 'float64',
  '<f8': 'float64',
  uint16: 'uint16',
  '<u2': 'uint16',
  uint32: 'uint32',
  '<u4': 'uint32',
  int32: 'int32',
  '<i4': 'int32',
  int16: 'int16',
  '<i2': 'int16',
  uint8: 'uint8',
  '|u1': 'uint8',
  int8: 'int8',
  '|i1': 'int8',
};

const BYTES: Record<FrameType, number> = { float32: 4, float64: 8, uint16: 2, uint32: 4, int32: 4, int16: 2, uint8: 1, int8: 1 };

function parseJsonPart(part: Uint8Array, where: ErrorLocation): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(part.buffer, part.byteOffset, part.byteLength).toString('utf8'));
  } catch (err) {
    throw new FormatError(`stream1 message part is not JSON: ${(err as Error).message.replace(/\s+/g, ' ')}`, where, { cause: err });
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new FormatError('stream1 message part is not a JSON object', where);
  return v as Record<string, unknown>;
}

/** A typed array over a copy of `bytes` (copied so the view is aligned and owns its memory). */
export function typedFrame(bytes: Uint8Array, type: FrameType): FrameArray {
  const copy = new ArrayBuffer(bytes.byteLength);
  new Uint8Array(copy).set(bytes);
  switch (type) {
    case 'float32':
      return new Float32Array(copy);
    case 'float64':
      return new Float64Array(copy);
    case 'uint16':
      return new Uint16Array(copy);
    case 'uint32':
      return new Uint32Array(copy);
    case 'int32':
      return new Int32Array(copy);
    case 'int16':
      return new Int16Array(copy);
    case 'uint8':
      return new Uint8Array(copy);
    case 'int8':
      return new Int8Array(copy);
  }
}

export interface Stream1ParseOptions {
  /** where the message came from, for error messages */
  where?: ErrorLocation;
  /** return null for an unknown htype instead of throwing (default false) */
  skipUnknown?: boolean;
}

/** Parses one stream1 multipart message. */
export function parseStream1(parts: readonly Uint8Array[], opts: Stream1ParseOptions = {}): Stream1Message | null {
  const where = opts.where ?? {};
  const first = parts[0];
  if (first === undefined) throw new FormatError('empty stream1 message (no parts)', where);
  const head = parseJsonPart(first, where);
  const htype = head.htype;
  const msgNumber = typeof head.msg_number === 'number' ? head.msg_number : undefined;
  if (htype === 'header') {
    const info: Record<string, unknown> = {};
    for (const p of parts.slice(1)) Object.assign(info, parseJsonPart(p, where));
    const h: Stream1Header = { htype: 'header', info };
    if (msgNumber !== undefined) h.msgNumber = msgNumber;
    if (typeof head.filename === 'string' && head.filename !== '') h.filename = head.filename;
    return h;
  }
  if (htype === 'series_end') {
    const e: Stream1End = { htype: 'series_end' };
    if (msgNumber !== undefined) e.msgNumber = msgNumber;
    return e;
  }
  if (htype === 'image') {
    const frame = head.frame;
    const shape = head.shape;
    if (typeof frame !== 'number' || !Number.isInteger(frame) || frame < 0) throw new FormatError('stream1 image without a valid frame number', { ...where, field: 'frame' });
    const at = { ...where, frame };
    if (!Array.isArray(shape) || shape.length !== 2 || !shape.every((s) => typeof s === 'number' && Number.isInteger(s) && s > 0)) {
      throw new FormatError(`stream1 image shape ${JSON.stringify(shape)} is not [rows, cols]`, { ...at, field: 'shape' });
    }
    const type = TYPE_ALIASES[String(head.type)];
    if (type === undefined) throw new FormatError(`stream1 image type '${String(head.type)}' is not supported`, { ...at, field: 'type' });
    const compression = head.compression ?? 'none';
    if (compression !== 'none') throw new FormatError(`stream1 image compression '${String(compression)}' is not supported (only 'none')`, { ...at, field: 'compression' });
    const blob = parts[1];
    if (blob === undefined) throw new TruncatedError('stream1 image message has no data part', at);
    const [rows, cols] = shape as [number, number];
    const expected = rows * cols * BYTES[type];
    if (blob.byteLength < expected) throw new TruncatedError(`stream1 image data has ${blob.byteLength} bytes, shape ${rows}×${cols} ${type} needs ${expected}`, at);
    if (blob.byteLength > expected) throw new FormatError(`stream1 image data has ${blob.byteLength} bytes, shape ${rows}×${cols} ${type} needs ${expected}`, at);
    const img: Stream1Image = { htype: 'image', frame, shape: [rows, cols], type, data: typedFrame(blob, type), meta: head };
    if (msgNumber !== undefined) img.msgNumber = msgNumber;
    return img;
  }
  if (opts.skipUnknown) return null;
  throw new FormatError(`unknown stream1 message type htype=${JSON.stringify(htype)} (expected header, image or series_end)`, { ...where, field: 'htype' });
}

/** Encodes a stream1 message as parts (tests, replay over ZeroMQ). */
export function encodeStream1(msg: { htype: 'header'; filename?: string; msgNumber?: number } | { htype: 'series_end'; msgNumber?: number } | { htype: 'image'; frame: number; data: FrameArray; shape: [number, number]; type: FrameType; msgNumber?: number }): Uint8Array[] {
  const json = (o: Record<string, unknown>): Uint8Array => new Uint8Array(Buffer.from(JSON.stringify(o), 'utf8'));
  if (msg.htype === 'image') {
    const head = { htype: 'image', msg_number: msg.msgNumber ?? msg.frame, frame: msg.frame, shape: msg.shape, type: msg.type, compression: 'none' };
    return [json(head), new Uint8Array(msg.data.buffer, msg.data.byteOffset, msg.data.byteLength)];
  }
  if (msg.htype === 'header') return [json({ htype: 'header', msg_number: msg.msgNumber ?? 0, filename: msg.filename ?? '' })];
  return [json({ htype: 'series_end', msg_number: msg.msgNumber ?? 0 })];
}
