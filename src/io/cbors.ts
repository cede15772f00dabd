/**
 * Recorded event streams (`.cbors`, optionally gzipped): a CBOR sequence in
 * which every item is (optionally tag 55799, "self-described CBOR", wrapping)
 * tag 42877 = `[event_number, {stream_name: tag 42878 [type, [part, …]]}, created_at]`.
 * This is the dranspose ingester recording: one item per event, holding the
 * ZeroMQ multipart message (`part`s, byte strings) each stream sent for that
 * event. `type` names the message style of the stream: `STINS` (stream1
 * detector messages, see stream1.ts) or `sardana` (motor records, see
 * sardana.ts).
 *
 * The reader is streaming: the file is read in chunks (through gunzip when the
 * first two bytes are the gzip magic) and items are decoded as soon as they are
 * complete, so a 150 MB recording never sits in memory at once.
 *
 * Errors: a gzip stream or a CBOR item cut short → TruncatedError naming the
 * file and the event index; bytes that are not a CBOR sequence of events →
 * FormatError; a file holding no item at all (empty, or gzip of nothing) →
 * FormatError ("holds no events"), never a silent success; a folder or a
 * missing path → FileAccessError naming it.
 */
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { createGunzip } from 'node:zlib';
import { Decoder, Tag } from 'cbor-x';
import { FileAccessError, FormatError, TruncatedError } from '../errors.ts';

/** The parts one stream sent for one event. */
export interface StreamParts {
  /** the message style, e.g. 'STINS' (stream1) or 'sardana' */
  type: string;
  /** the multipart message: one byte string per part */
  parts: Uint8Array[];
}

/** One recorded event. */
export interface RecordedEvent {
  eventNumber: number;
  streams: Map<string, StreamParts>;
  /** `created_at` as recorded (ISO text), when present */
  createdAt?: string;
  /** 0-based index of the item in the file */
  index: number;
}

const TAG_SELF_DESCRIBED = 55799;
const TAG_EVENT = 42877;
const TAG_STREAM = 42878;

function untag(v: unknown, tag: number): unknown {
  if (v instanceof Tag && v.tag === tag) return v.value as unknown;
  return undefined;
}

function asBytes(v: unknown): Uint8Array | undefined {
  if (v instanceof Uint8Array) return v;
  return undefined;
}

/** Turns one decoded CBOR item into an event (FormatError when its structure is not the recording's). */
export function toRecordedEvent(item: unknown, index: number, file?: string): RecordedEvent {
  const where = { file, frame: index };
  let v: unknown = item;
  if (v instanceof Tag && v.tag === TAG_SELF_DESCRIBED) v = v.value as unknown;
  const inner = untag(v, TAG_EVENT);
  if (!Array.isArray(inner) || inner.length < 2) {
    throw new FormatError(`item ${index} is not an event record (expected tag ${TAG_EVENT} [event_number, streams, created_at])`, where);
  }
  const [ev, streamsRaw, created] = inner as unknown[];
  if (typeof ev !== 'number' || !Number.isInteger(ev)) throw new FormatError(`item ${index}: event_number is not an integer`, { ...where, field: 'event_number' });
  const entries: Array<[string, unknown]> =
    streamsRaw instanceof Map ? [...(streamsRaw as Map<unknown, unknown>)].map(([k, x]) => [String(k), x]) : streamsRaw !== null && typeof streamsRaw === 'object' ? Object.entries(streamsRaw) : [];
  if (!(streamsRaw instanceof Map) && (streamsRaw === null || typeof streamsRaw !== 'object' || Array.isArray(streamsRaw))) {
    throw new FormatError(`event ${ev}: the streams entry is not a map`, { ...where, field: 'streams' });
  }
  const streams = new Map<string, StreamParts>();
  for (const [name, sv] of entries) {
    const s = untag(sv, TAG_STREAM);
    if (!Array.isArray(s) || s.length < 2 || typeof s[0] !== 'string' || !Array.isArray(s[1])) {
      throw new FormatError(`event ${ev}: stream '${name}' is not tag ${TAG_STREAM} [type, [parts]]`, { ...where, field: name });
    }
    const parts: Uint8Array[] = [];
    for (const [k, p] of (s[1] as unknown[]).entries()) {
      const b = asBytes(p);
      if (b === undefined) throw new FormatError(`event ${ev}: stream '${name}' part ${k} is not a byte string`, { ...where, field: name });
      parts.push(b);
    }
    streams.set(name, { type: s[0], parts });
  }
  const out: RecordedEvent = { eventNumber: ev, streams, index };
  if (typeof created === 'string') out.createdAt = created;
  return out;
}

function isIncomplete(err: unknown): err is Error & { incomplete: true; lastPosition?: number } {
  return err instanceof Error && (err as { incomplete?: unknown }).incomplete === true;
}

async function isGzipFile(path: string): Promise<boolean> {
  let fh;
  try {
    fh = await open(path, 'r');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new FileAccessError(code === 'ENOENT' ? 'no such file' : `cannot open: ${code ?? String(err)}`, { file: path }, { cause: err });
  }
  try {
    if ((await fh.stat()).isDirectory()) throw new FileAccessError('is a folder, not a .cbors recording', { file: path });
    const b = Buffer.alloc(2);
    const { bytesRead } = await fh.read(b, 0, 2, 0);
    return bytesRead === 2 && b[0] === 0x1f && b[1] === 0x8b;
  } finally {
    await fh.close();
  }
}

/** Byte chunks of a file, gunzipped when it is gzip. Truncated gzip → TruncatedError. */
async function* fileChunks(path: string): AsyncGenerator<Buffer> {
  const gz = await isGzipFile(path);
  const raw = createReadStream(path, { highWaterMark: 1 << 20 });
  const stream = gz ? raw.pipe(createGunzip({ chunkSize: 1 << 20 })) : raw;
  if (gz) raw.on('error', (err) => stream.destroy(err));
  try {
    for await (const chunk of stream) yield chunk as Buffer;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'Z_BUF_ERROR' || /unexpected end of file/i.test(String((err as Error).message))) {
      throw new TruncatedError('the gzip stream ends early (file cut short)', { file: path }, { cause: err });
    }
    if (code === 'Z_DATA_ERROR') throw new FormatError(`corrupt gzip data: ${(err as Error).message}`, { file: path }, { cause: err });
    throw new FileAccessError(`reading failed: ${code ?? String(err)}`, { file: path }, { cause: err });
  } finally {
    stream.destroy();
  }
}

/**
 * Decodes a CBOR sequence from byte chunks, yielding each item once it is
 * complete. Re-decoding is attempted only when the pending bytes have doubled
 * since the last incomplete attempt, so large items cost O(n) copying.
 */
export async function* cborSequence(chunks: AsyncIterable<Uint8Array>, file?: string): AsyncGenerator<unknown> {
  const decoder = new Decoder({ mapsAsObjects: true });
  let pending: Uint8Array[] = [];
  let pendingBytes = 0;
  let nextAttempt = 0;
  let index = 0;
  const attempt = function* (final: boolean): Generator<unknown> {
    if (pendingBytes === 0) return;
    const buf = pending.length === 1 ? (pending[0] as Uint8Array) : Buffer.concat(pending, pendingBytes);
    pending = [buf];
    const items: unknown[] = [];
    let consumed = 0;
    try {
      decoder.decodeMultiple(buf, (v: unknown) => {
        items.push(v);
      });
      consumed = buf.length;
    } catch (err) {
      if (!isIncomplete(err)) {
        throw new FormatError(`CBOR item ${index + items.length} cannot be decoded: ${(err as Error).message}`, { file, frame: index + items.length }, { cause: err });
      }
      consumed = err.lastPosition ?? 0;
      if (final) {
        for (const it of items) yield it;
        throw new TruncatedError(`the recording ends inside item ${index + items.length} (${buf.length - consumed} bytes of an incomplete CBOR item)`, {
          file,
          frame: index + items.length,
        });
      }
    }
    index += items.length;
    const rest = buf.subarray(consumed);
    pending = rest.length > 0 ? [rest] : [];
    pendingBytes = rest.length;
    nextAttempt = 2 * pendingBytes;
    for (const it of items) yield it;
  };
  for await (const chunk of chunks) {
    pending.push(chunk);
    pendingBytes += chunk.length;
    if (pendingBytes >= nextAttempt) yield* attempt(false);
  }
  yield* attempt(true);
  if (index === 0) throw new FormatError('holds no events (the recording is empty)', { file });
}

/** The events of a recording, in file order. */
export async function* readCbors(path: string): AsyncGenerator<RecordedEvent> {
  let index = 0;
  for await (const item of cborSequence(fileChunks(path), path)) {
    yield toRecordedEvent(item, index, path);
    index++;
  }
}

/**
 * The raw CBOR items of a `.cbors[.gz]` file, in file order, without the event
 * structure (for raw recordings such as dranspose's ZeroMQ captures, where
 * each item is one multipart message as a list of byte strings, no tags).
 * Same errors as `readCbors` for truncated or undecodable data.
 */
export async function* readCborsItems(path: string): AsyncGenerator<unknown> {
  yield* cborSequence(fileChunks(path), path);
}
