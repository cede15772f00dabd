/**
 * Frame sources for photon-level reduction. Every source is an async iterator
 * of `SourceEvent`s — detector headers, frames, series ends and Sardana motor
 * messages — each carrying the event number that ties streams together:
 *
 * - `cborsEvents(path)`: a recorded `.cbors[.gz]` stream (src/io/cbors.ts);
 *   STINS streams give stream1 messages, `sardana` streams motor messages;
 * - `h5StackEvents(path, dataset)`: an HDF5 frame stack (N × rows × cols),
 *   read through the one HDF5 frame reader (src/io/sources/);
 * - `zmqPullEvents(endpoint)`: a live ZeroMQ PULL socket speaking stream1;
 * - `arrayEvents(frames)`: frames already in memory (tests, notebooks);
 * - `mergeEvents(a, b, …)`: several sources in event-number order (a detector
 *   recording and its Sardana recording).
 */
import { loadZeromq } from '../io/zmq.ts';
import { FileAccessError, InvalidValueError } from '../errors.ts';
import { readCbors } from '../io/cbors.ts';
import { openHdf5Frames } from '../io/sources/hdf5-frames.ts';
import { storedType } from '../io/sources/pixels.ts';
import { parseSardana, type SardanaMessage } from '../io/sardana.ts';
import { parseStream1, type FrameArray, type FrameType, type Stream1Header } from '../io/stream1.ts';
import { logOnce } from '../util/log.ts';

interface EventBase {
  eventNumber: number;
  /** the file, socket or label the event came from */
  source: string;
}

export interface HeaderEvent extends EventBase {
  kind: 'header';
  stream: string;
  header: Stream1Header;
}

export interface FrameEvent extends EventBase {
  kind: 'frame';
  stream: string;
  /** the frame number within its series */
  frame: number;
  /** [rows, cols] */
  shape: [number, number];
  type: FrameType;
  data: FrameArray;
  /**
   * true when `data` alone uses its buffer and nothing else holds it (a
   * frame read fresh from a file): a consumer may then move the buffer to
   * another thread instead of copying it. Absent: the caller's own array.
   */
  owned?: boolean;
  createdAt?: string;
}

export interface SeriesEndEvent extends EventBase {
  kind: 'series-end';
  stream: string;
}

export interface MotorEvent extends EventBase {
  kind: 'motor';
  stream: string;
  message: SardanaMessage;
}

export type SourceEvent = HeaderEvent | FrameEvent | SeriesEndEvent | MotorEvent;

export interface CborsSourceOptions {
  /** skip stream1 messages with an unknown htype instead of failing (default false) */
  skipUnknown?: boolean;
}

/** The events of a `.cbors[.gz]` recording. Streams of unknown types are skipped with one notice. */
export async function* cborsEvents(path: string, opts: CborsSourceOptions = {}): AsyncGenerator<SourceEvent> {
  for await (const ev of readCbors(path)) {
    for (const [stream, { type, parts }] of ev.streams) {
      const where = { file: path, frame: ev.index, field: stream };
      if (type === 'sardana') {
        yield { kind: 'motor', stream, eventNumber: ev.eventNumber, source: path, message: parseSardana(parts, where) };
      } else if (type === 'STINS') {
        const msg = parseStream1(parts, { where, skipUnknown: opts.skipUnknown ?? false });
        if (msg === null) {
          logOnce(`skip-htype-${path}`, 'warn', `${path}: skipping stream1 messages of unknown htype (first at event ${ev.eventNumber})`);
          continue;
        }
        if (msg.htype === 'header') yield { kind: 'header', stream, eventNumber: ev.eventNumber, source: path, header: msg };
        else if (msg.htype === 'series_end') yield { kind: 'series-end', stream, eventNumber: ev.eventNumber, source: path };
        else {
          const fe: FrameEvent = { kind: 'frame', stream, eventNumber: ev.eventNumber, source: path, frame: msg.frame, shape: msg.shape, type: msg.type, data: msg.data };
          if (ev.createdAt !== undefined) fe.createdAt = ev.createdAt;
          yield fe;
        }
      } else {
        logOnce(`skip-stream-${path}-${type}`, 'notice', `${path}: stream '${stream}' of type '${type}' is not used (only STINS and sardana)`);
      }
    }
  }
}

function rank(e: SourceEvent): number {
  return e.kind === 'motor' ? 1 : 0;
}

/**
 * Merges sources by event number. At equal event numbers detector events come
 * before motor events, so a Sardana record closes a step that includes the
 * frame of its own event.
 */
export async function* mergeEvents(...sources: AsyncIterable<SourceEvent>[]): AsyncGenerator<SourceEvent> {
  const its = sources.map((s) => s[Symbol.asyncIterator]());
  const heads: Array<SourceEvent | null> = await Promise.all(its.map(async (it) => ((await it.next()).value as SourceEvent | undefined) ?? null));
  try {
    for (;;) {
      let best = -1;
      for (let k = 0; k < heads.length; k++) {
        const h = heads[k];
        if (h == null) continue;
        const b = best >= 0 ? heads[best] : null;
        if (b == null || h.eventNumber < b.eventNumber || (h.eventNumber === b.eventNumber && rank(h) < rank(b))) best = k;
      }
      if (best < 0) return;
      const ev = heads[best] as SourceEvent;
      const next = await (its[best] as AsyncIterator<SourceEvent>).next();
      heads[best] = next.done ? null : next.value;
      yield ev;
    }
  } finally {
    await Promise.all(its.map((it) => it.return?.()));
  }
}

/** In-memory frames as a series (event numbers 1…n, header at 0, series end at n + 1). */
export async function* arrayEvents(frames: readonly FrameArray[], shape: [number, number], opts: { stream?: string; source?: string; filename?: string; firstEvent?: number } = {}): AsyncGenerator<SourceEvent> {
  const stream = opts.stream ?? 'memory';
  const source = opts.source ?? 'memory';
  const first = opts.firstEvent ?? 0;
  const header: Stream1Header = { htype: 'header', info: {} };
  if (opts.filename !== undefined) header.filename = opts.filename;
  yield { kind: 'header', stream, source, eventNumber: first, header };
  for (const [k, data] of frames.entries()) {
    yield { kind: 'frame', stream, source, eventNumber: first + k + 1, frame: k, shape, type: frameTypeOf(data), data };
  }
  yield { kind: 'series-end', stream, source, eventNumber: first + frames.length + 1 };
}

/** The stored type of a frame array. */
export const frameTypeOf = storedType;

const H5_CANDIDATES = ['/entry/data/data', '/entry/instrument/balor/data', '/entry/instrument/pilatus/data', '/data'];

/**
 * An HDF5 frame stack: dataset `dataset` (default: a NeXus/Eiger master's
 * data_NNNNNN links, else the first of /entry/data/data,
 * /entry/instrument/{balor,pilatus}/data, /data that exists) of shape
 * N × rows × cols (or rows × cols: one frame), read one frame at a time as
 * stored, through the frame-source layer's HDF5 reader (compression plugins
 * registered: bitshuffle-LZ4, LZ4, …). Event numbers 1…N; the header names
 * the file as the raw file.
 */
export async function* h5StackEvents(path: string, dataset?: string): AsyncGenerator<SourceEvent> {
  const source = await openHdf5Frames(path, { candidates: H5_CANDIDATES, ...(dataset !== undefined ? { dataset } : {}) });
  try {
    const name = source.dataset;
    const header: Stream1Header = { htype: 'header', filename: path, info: { dataset: name } };
    yield { kind: 'header', stream: name, source: path, eventNumber: 0, header };
    for (let k = 0; k < source.length; k++) {
      const f = await source.readStored(k);
      // each frame is decoded into a buffer of its own, which only this event holds
      yield { kind: 'frame', stream: name, source: path, eventNumber: k + 1, frame: k, shape: [f.height, f.width], type: f.type, data: f.data, owned: true };
    }
    yield { kind: 'series-end', stream: name, source: path, eventNumber: source.length + 1 };
  } finally {
    await source.close();
  }
}

export interface ZmqSourceOptions {
  /** stream name given to the events (default 'live') */
  stream?: string;
  /** stop after this many ms without a message (default: wait forever) */
  idleTimeoutMs?: number;
  /** end the iteration after a series_end (default true) */
  untilSeriesEnd?: boolean;
  /** skip unknown htypes instead of failing (default false) */
  skipUnknown?: boolean;
  signal?: AbortSignal;
}

/**
 * A live ZeroMQ PULL socket speaking stream1 (connects to `endpoint`, e.g.
 * tcp://detector:9999). Event numbers count messages from 0. Needs the npm
 * package `zeromq`; without it this throws a UsageError saying so.
 */
export async function* zmqPullEvents(endpoint: string, opts: ZmqSourceOptions = {}): AsyncGenerator<SourceEvent> {
  const zmq = await loadZeromq(endpoint);
  const stream = opts.stream ?? 'live';
  const sock = new zmq.Pull(opts.idleTimeoutMs !== undefined ? { receiveTimeout: opts.idleTimeoutMs } : {});
  const onAbort = (): void => sock.close();
  opts.signal?.addEventListener('abort', onAbort);
  try {
    try {
      sock.connect(endpoint);
    } catch (err) {
      throw new InvalidValueError(`cannot connect to ${endpoint}: ${err instanceof Error ? err.message : String(err)}`, { field: endpoint });
    }
    let eventNumber = 0;
    for (;;) {
      let parts: Buffer[];
      try {
        parts = await sock.receive();
      } catch (err) {
        if (opts.signal?.aborted || sock.closed) return;
        if ((err as { code?: string }).code === 'EAGAIN') return; // idle timeout
        throw new FileAccessError(`receiving from ${endpoint} failed: ${err instanceof Error ? err.message : String(err)}`, { file: endpoint }, { cause: err });
      }
      const where = { file: endpoint, frame: eventNumber };
      const msg = parseStream1(parts.map((b) => new Uint8Array(b.buffer, b.byteOffset, b.byteLength)), { where, skipUnknown: opts.skipUnknown ?? false });
      if (msg !== null) {
        if (msg.htype === 'header') yield { kind: 'header', stream, source: endpoint, eventNumber, header: msg };
        else if (msg.htype === 'image') yield { kind: 'frame', stream, source: endpoint, eventNumber, frame: msg.frame, shape: msg.shape, type: msg.type, data: msg.data };
        else {
          yield { kind: 'series-end', stream, source: endpoint, eventNumber };
          if (opts.untilSeriesEnd ?? true) return;
        }
      }
      eventNumber++;
    }
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
    if (!sock.closed) sock.close();
  }
}

/**
 * Opens a source by name: `tcp://…`/`ipc://…` → ZeroMQ PULL; `FILE.h5[:/dataset]`
 * or `.hdf5`/`.nxs` → HDF5 stack; anything else → a `.cbors[.gz]` recording.
 */
export function openSource(spec: string, opts: CborsSourceOptions & { idleTimeoutMs?: number } = {}): AsyncGenerator<SourceEvent> {
  if (/^(tcp|ipc|inproc):\/\//.test(spec)) {
    const z: ZmqSourceOptions = {};
    if (opts.idleTimeoutMs !== undefined) z.idleTimeoutMs = opts.idleTimeoutMs;
    if (opts.skipUnknown !== undefined) z.skipUnknown = opts.skipUnknown;
    return zmqPullEvents(spec, z);
  }
  const m = /^(.*\.(?:h5|hdf5|nxs))(?::(\/.*))?$/i.exec(spec);
  if (m !== null) return h5StackEvents(m[1] as string, m[2]);
  return cborsEvents(spec, opts);
}
