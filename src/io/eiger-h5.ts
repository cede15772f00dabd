/**
 * Eiger / NeXus HDF5 image series, read one frame (one chunk) at a time.
 *
 * Layout (resolved by hdf5-layout.ts). A series is one 3-D numeric dataset [frames, slow, fast] (a 2-D
 * dataset is one frame), or, for a NeXus/Eiger master file, the datasets
 * `/entry/data/data_000001`, `data_000002`, … taken in name order and
 * concatenated. Those entries are usually HDF5 external links to data files
 * beside the master (h5wasm reports an external link and does not follow it,
 * so the data files are opened here: a relative link target is resolved
 * against the master file's folder). Without `dataset` the reader takes the
 * `data_NNNNNN` entries when `/entry/data` has them, else `/entry/data/data`.
 *
 * Frames. Frame i of the whole (concatenated) dataset is read as the
 * hyperslab [i, i+1) × all × all: with Eiger's one-chunk-per-frame layout
 * that decodes exactly one chunk; the dataset is never read whole. The
 * compression filters come from h5wasm-plugins (bitshuffle-LZ4 32008,
 * LZ4 32004, …) and HDF5's own deflate.
 *
 * Range and numbering. `first`…`last` (inclusive, 0-based in the whole
 * concatenated dataset) select the frames; `length = last − first + 1`.
 * `read(i)`, `readRaw(i)`, `source.frame` and the `frame` of every error are
 * the 0-based position i within that range (image number in the dataset =
 * first + i + 1 is in `header.raw.get('image_nr')`). `source.file` is the
 * file named by the caller (the master); errors about a chunk name the data
 * file that holds it.
 *
 * Pixels. `DetectorImage.pixels` is an Int32Array of the raw counts. Unsigned
 * 32-bit values ≥ 2³¹ (Eiger writes 0xFFFFFFFF for gap and defective pixels
 * when the firmware mask is applied) become −1, the Pilatus gap marker, as
 * the neggia/durin XDS plugins do; every other value is kept (a uint16 series
 * keeps 65535 as it is: with `saturation_value` it is outside the trusted
 * range). Float datasets must hold integer values to become pixels (else a
 * FormatError naming the frame); `readRaw(i)` gives any frame in its native type (Uint16Array,
 * Uint32Array, …, little-endian byte order on the platforms Node runs on).
 *
 * Workers. With `workers: n > 0` the iterator decodes frames ahead in n
 * node:worker_threads (src/io/hdf5-decode-worker.ts); each worker opens the
 * data files itself, decodes the frames given to it and transfers the native
 * buffer back. Frames are yielded in order; at most `readAhead` (default 2·n)
 * frames are requested or waiting beyond the one handed out, so memory stays
 * bounded; the workers end when iteration ends, fails or is stopped early.
 * `read`/`readRaw` always decode on the calling thread.
 *
 * Decoding isolation. A corrupt chunk can make a compression plugin trap
 * (WebAssembly RuntimeError) and leave that h5wasm instance's HDF5 state
 * broken, after which reads fail or return wrong pixels. So chunks are
 * decoded by a private h5wasm instance per thread (the shared `h5wasm/node`
 * one only reads metadata), which is discarded after any decode failure; the
 * next read builds a fresh one. Errors: missing file → FileAccessError; missing dataset →
 * MissingFieldError naming file and path; a frame that cannot be decoded →
 * FormatError naming the data file and the frame; a frame range outside the
 * dataset → InvalidValueError.
 */
import { existsSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { install_local_plugins } from 'h5wasm-plugins';
import { DiffractError, FileAccessError, FormatError, InvalidValueError, MissingFieldError, TruncatedError, UsageError, invariant, type ErrorLocation } from '../errors.ts';
import { h5Guard, h5Plugins, hdf5Diagnosis, quietHdf5 } from './hdf5.ts';
import { DEFAULT_DATASET, errMessage, openH5, resolveHdf5Layout, type Hdf5Layout, type NativeFrame, type PixelType } from './hdf5-layout.ts';
import { readHdf5Metadata, type MetadataRequest } from './hdf5-metadata.ts';
import { checkExpectedSize, type DetectorImage, type ImageHeader } from './image.ts';
import type { NexusHeaderInfo } from './nexus-geometry.ts';
import { pixelsFromNative } from './sources/pixels.ts';
import { deserializeError, exportUrl, workerBootstrap, type SerializedError } from './worker-bootstrap.ts';

export { pixelsFromNative } from './sources/pixels.ts';
export { DEFAULT_DATASET, openH5, resolveHdf5Layout, type DataBlock, type Hdf5Layout, type NativeFrame, type PixelType } from './hdf5-layout.ts';


export interface Hdf5SeriesOptions {
  /** an HDF5 data file or NeXus/Eiger master file */
  file: string;
  /** dataset path; default: the master's `/entry/data/data_NNNNNN` links, else the first of `candidates` that exists */
  dataset?: string;
  /** datasets tried in order when `dataset` is not named and there are no `data_NNNNNN` links (default [`/entry/data/data`]) */
  candidates?: readonly string[];
  /** first frame, 0-based in the whole dataset (default 0) */
  first?: number;
  /** last frame, inclusive (default: the last one) */
  last?: number;
  /** [fast, slow] every frame must have, e.g. the detector model's `imageSize` */
  expectedSize?: readonly [number, number];
  /** worker threads decoding ahead during iteration (default 0: decode on the calling thread) */
  workers?: number;
  /** frames requested ahead of the consumer with workers (default 2·workers) */
  readAhead?: number;
}

/** A series of frames in HDF5 (src/io/sources/hdf5-frames.ts makes it a `FrameSource`). */
export interface Hdf5Series extends AsyncIterable<DetectorImage> {
  /** number of frames in the range */
  readonly length: number;
  readonly width: number;
  readonly height: number;
  readonly pixelType: PixelType;
  /** the first and last frame of the range in the whole dataset */
  readonly range: readonly [number, number];
  readonly layout: Hdf5Layout;
  /** NeXus metadata read from the file (wavelength, distance, …), where present */
  readonly info: NexusHeaderInfo;
  /** decodes frame `index` (0-based in the range) */
  read(index: number): Promise<DetectorImage>;
  /** frame `index` in its native type, as stored */
  readRaw(index: number): Promise<NativeFrame>;
  /** a pass over the frames in their native type (through the workers when `workers > 0`) */
  rawFrames(): AsyncIterableIterator<NativeFrame>;
  /**
   * Frames start…start+count−1 (0-based in the range), in order, decoded ahead
   * by a pool of `workers` threads kept between calls (released by `close`);
   * frame numbers in images and errors are positions in the whole range.
   */
  frames(start: number, count: number): AsyncIterableIterator<DetectorImage>;
  /** closes the file handles kept by `read`/`readRaw` and the pool of `frames` (iteration opens and closes its own) */
  close(): Promise<void>;
  [Symbol.asyncIterator](): AsyncIterator<DetectorImage>;
}

const MAX_WORKERS = 64;


/** The low-level part of an h5wasm module instance used for decoding (see `decoderInstance`). */
interface DecoderModule {
  open(filename: string, mode: number, track_order: boolean, libver_low: number, libver_high: number): bigint;
  close_file(file_id: bigint): number;
  get_dataset_metadata(file_id: bigint, path: string): { size: number; shape: number[] | null };
  get_dataset_data(file_id: bigint, path: string, count: bigint[] | null, offset: bigint[] | null, strides: bigint[] | null, rdata_ptr: bigint): number;
  _malloc(n: number): number;
  _free(ptr: number): void;
  HEAPU8: Uint8Array;
  H5F_ACC_RDONLY: number;
  get_plugin_search_paths(): string[];
  insert_plugin_search_path(search_path: string, index: number): number;
}

type DecoderFactory = (arg: { noInitialRun: boolean }) => Promise<DecoderModule>;

let decoderFactory: Promise<DecoderFactory> | undefined;
let decoder: { module: DecoderModule; generation: number } | undefined;
let decoderGeneration = 0;

/**
 * This thread's private h5wasm instance for decoding chunks, separate from
 * the shared one (`h5wasm/node`) that reads metadata and writes outputs. A
 * corrupt chunk can make a compression plugin trap (WebAssembly
 * RuntimeError) and leave that instance's HDF5 state broken: later reads then
 * fail or, worse, return wrong pixels. So after any decode failure the
 * instance is dropped and the next read builds a fresh one; the shared
 * instance is never exposed to compressed chunk data.
 */
async function decoderInstance(): Promise<{ module: DecoderModule; generation: number }> {
  if (decoder !== undefined) return decoder;
  // the Emscripten factory behind h5wasm/node (dist/node/hdf5_util.js): each call makes an independent instance
  decoderFactory ??= import(new URL('./hdf5_util.js', exportUrl('h5wasm', './node')).href).then(
    (m: { default: DecoderFactory }) => m.default,
  );
  const module = await (await decoderFactory)({ noInitialRun: true });
  install_local_plugins(module);
  decoder = { module, generation: ++decoderGeneration };
  return decoder;
}

/** Drops the decoder instance `generation` (after a failure inside it). */
function dropDecoder(generation: number): void {
  if (decoder?.generation === generation) decoder = undefined;
}

const BYTES: Record<PixelType, number> = { uint8: 1, int8: 1, uint16: 2, int16: 2, uint32: 4, int32: 4, float32: 4, float64: 8 };

/**
 * Reads frames of a layout on the calling thread through the private decoder
 * instance, keeping the data files open until `close()`. Used in-thread and
 * by the decode workers.
 */
export class Hdf5FrameReader {
  readonly layout: Hdf5Layout;
  private readonly handles = new Map<string, bigint>();
  private generation = -1;
  private module: DecoderModule | undefined;

  constructor(layout: Hdf5Layout) {
    this.layout = layout;
  }

  /** Frame `index` of the whole dataset, native type; `frame` names it in errors (position in the caller's range). */
  async readNative(index: number, frame: number): Promise<NativeFrame> {
    const blocks = this.layout.blocks;
    const block = blocks.find((b) => index >= b.start && index < b.start + b.frames);
    if (block === undefined) throw new InvalidValueError(`frame ${index} is outside the dataset (0…${this.layout.frames - 1})`, { file: this.layout.file, frame });
    const inst = await decoderInstance();
    if (inst.generation !== this.generation) {
      // a new instance: file ids of the old one mean nothing here
      this.handles.clear();
      this.generation = inst.generation;
      this.module = inst.module;
    }
    const M = inst.module;
    let id = this.handles.get(block.file);
    if (id === undefined) {
      if (!existsSync(block.file)) throw new FileAccessError('no such file', { file: block.file, frame });
      const diagnostics: string[] = [];
      try {
        id = quietHdf5(() => M.open(block.file, M.H5F_ACC_RDONLY, false, -1, -1), diagnostics);
      } catch (err) {
        throw new FormatError(`not a readable HDF5 file: ${errMessage(err)}${hdf5Diagnosis(diagnostics)}`, { file: block.file, frame }, { cause: err });
      }
      this.handles.set(block.file, id);
    }
    const fileId = id;
    const local = index - block.start;
    const { width, height, pixelType } = this.layout;
    const n = width * height;
    const nbytes = n * BYTES[pixelType];
    let out: NativeFrame;
    let ptr = 0;
    // what HDF5 prints about a damaged chunk (HDF5-DIAG stacks) goes into the one error line
    const diagnostics: string[] = [];
    try {
      const meta = quietHdf5(() => M.get_dataset_metadata(fileId, block.dataset), diagnostics);
      if (meta.size !== BYTES[pixelType]) throw new Error(`element size ${meta.size} differs from the layout's ${pixelType}`);
      const rank3 = meta.shape?.length === 3;
      ptr = M._malloc(nbytes);
      if (ptr === 0) throw new Error(`cannot allocate ${nbytes} bytes`);
      const count = rank3 ? [1n, BigInt(height), BigInt(width)] : [BigInt(height), BigInt(width)];
      const offset = rank3 ? [BigInt(local), 0n, 0n] : [0n, 0n];
      const strides = rank3 ? [1n, 1n, 1n] : [1n, 1n];
      const status = quietHdf5(() => M.get_dataset_data(fileId, block.dataset, count, offset, strides, BigInt(ptr)), diagnostics);
      if (status < 0) throw new Error(`HDF5 read status ${status}`);
      out = nativeFromBuffer(M.HEAPU8.slice(ptr, ptr + nbytes).buffer, pixelType);
    } catch (err) {
      // the instance may be broken now (a trap inside a filter): never use it again
      this.handles.clear();
      dropDecoder(inst.generation);
      ptr = 0;
      throw new FormatError(
        `cannot decode the frame (image ${local} of ${block.dataset} in this file, filters ${this.layout.filters.join(', ') || 'none'}): ${errMessage(err)}${hdf5Diagnosis(diagnostics)}`,
        { file: block.file, frame },
        { cause: err },
      );
    } finally {
      if (ptr !== 0) M._free(ptr);
    }
    return out;
  }

  close(): void {
    const M = this.module;
    if (M !== undefined && decoder?.generation === this.generation) {
      for (const id of this.handles.values()) {
        try {
          M.close_file(id);
        } catch {
          // already unusable
        }
      }
    }
    this.handles.clear();
  }
}

/** A native frame rebuilt from a transferred buffer. */
export function nativeFromBuffer(buffer: ArrayBuffer, type: PixelType): NativeFrame {
  switch (type) {
    case 'uint8':
      return new Uint8Array(buffer);
    case 'int8':
      return new Int8Array(buffer);
    case 'uint16':
      return new Uint16Array(buffer);
    case 'int16':
      return new Int16Array(buffer);
    case 'uint32':
      return new Uint32Array(buffer);
    case 'int32':
      return new Int32Array(buffer);
    case 'float32':
      return new Float32Array(buffer);
    case 'float64':
      return new Float64Array(buffer);
  }
}

/** Messages to a decode worker. */
export type WorkerRequest = { type: 'decode'; id: number; index: number; frame: number };
/** Messages from a decode worker. */
export type WorkerReply =
  | { type: 'frame'; id: number; buffer: ArrayBuffer; pixelType: PixelType }
  | { type: 'error'; id: number; error: SerializedError };
/** `workerData` of a decode worker. */
export interface WorkerInit {
  layout: Hdf5Layout;
}

type Settled<T> = { ok: true; value: T } | { ok: false; error: unknown };

/** A pool of decode workers; each request goes to the worker with the fewest in flight. */
class DecodePool {
  private readonly workers: { worker: Worker; inFlight: Set<number> }[] = [];
  private readonly pending = new Map<number, { resolve: (v: NativeFrame) => void; reject: (e: unknown) => void }>();
  private nextId = 0;
  private dead: Error | undefined;

  constructor(layout: Hdf5Layout, n: number) {
    const init: WorkerInit = { layout };
    for (let k = 0; k < n; k++) {
      const worker = new Worker(workerBootstrap('hdf5-decode-worker'), { eval: true, workerData: init });
      const slot = { worker, inFlight: new Set<number>() };
      worker.on('message', (msg: WorkerReply) => {
        const p = this.pending.get(msg.id);
        this.pending.delete(msg.id);
        slot.inFlight.delete(msg.id);
        if (p === undefined) return;
        if (msg.type === 'frame') p.resolve(nativeFromBuffer(msg.buffer, msg.pixelType));
        else p.reject(deserializeError(msg.error));
      });
      const fail = (err: Error): void => {
        this.dead ??= err;
        for (const id of slot.inFlight) {
          this.pending.get(id)?.reject(err);
          this.pending.delete(id);
        }
        slot.inFlight.clear();
      };
      worker.on('error', (err) => fail(new FormatError(`HDF5 decode worker failed: ${errMessage(err)}`, { file: layout.file }, { cause: err })));
      worker.on('exit', (code) => {
        if (slot.inFlight.size > 0) fail(new FormatError(`HDF5 decode worker stopped (exit code ${code})`, { file: layout.file }));
      });
      this.workers.push(slot);
    }
  }

  decode(index: number, frame: number): Promise<Settled<NativeFrame>> {
    if (this.dead !== undefined) return Promise.resolve({ ok: false, error: this.dead });
    const slot = this.workers.reduce((a, b) => (b.inFlight.size < a.inFlight.size ? b : a));
    const id = this.nextId++;
    const p = new Promise<NativeFrame>((res, rej) => this.pending.set(id, { resolve: res, reject: rej }));
    slot.inFlight.add(id);
    const req: WorkerRequest = { type: 'decode', id, index, frame };
    slot.worker.postMessage(req);
    return p.then(
      (value): Settled<NativeFrame> => ({ ok: true, value }),
      (error: unknown): Settled<NativeFrame> => ({ ok: false, error }),
    );
  }

  async terminate(): Promise<void> {
    const ws = this.workers.splice(0);
    for (const s of ws) s.inFlight.clear();
    this.pending.clear();
    await Promise.all(ws.map((s) => s.worker.terminate()));
  }
}

function checkIndex(name: string, v: number | undefined, file: string): void {
  if (v !== undefined && !Number.isSafeInteger(v)) throw new InvalidValueError(`${name} must be an integer, got ${v}`, { file, field: name });
}

/**
 * Opens an HDF5 image series (see the module comment). Reads the layout and
 * the NeXus header fields now; frames are decoded on demand.
 */
export async function openHdf5Series(opts: Hdf5SeriesOptions): Promise<Hdf5Series> {
  const file = opts.file;
  // read in the metadata worker, under its time limit (h5wasm can loop forever on a corrupt file),
  // while this thread loads the h5wasm that decodes frames
  const request: MetadataRequest = { op: 'series', file };
  if (opts.dataset !== undefined) request.dataset = opts.dataset;
  if (opts.candidates !== undefined) request.candidates = opts.candidates;
  const [{ layout, info }] = await Promise.all([readHdf5Metadata<{ layout: Hdf5Layout; info: NexusHeaderInfo }>(request), h5Plugins()]);
  checkIndex('first', opts.first, file);
  checkIndex('last', opts.last, file);
  const first = opts.first ?? 0;
  const last = opts.last ?? layout.frames - 1;
  if (layout.frames === 0) throw new InvalidValueError('the dataset holds no frames', { file, field: layout.blocks[0]?.dataset ?? DEFAULT_DATASET });
  if (first < 0 || last < first || last >= layout.frames) {
    throw new InvalidValueError(`frame range ${first}…${last} is outside the dataset's frames 0…${layout.frames - 1}`, { file, field: 'frames' });
  }
  const workers = opts.workers ?? 0;
  if (!Number.isSafeInteger(workers) || workers < 0 || workers > MAX_WORKERS) {
    throw new InvalidValueError(`workers must be an integer 0…${MAX_WORKERS}, got ${workers}`, { field: 'workers' });
  }
  const readAhead = opts.readAhead ?? 2 * workers;
  if (!Number.isSafeInteger(readAhead) || readAhead < 1) {
    if (workers > 0) throw new InvalidValueError(`readAhead must be a positive integer, got ${readAhead}`, { field: 'readAhead' });
  }
  checkExpectedSize(layout.width, layout.height, opts.expectedSize, file, undefined);
  const length = last - first + 1;

  const headerBase = (): Omit<ImageHeader, 'raw' | 'lines'> => {
    const h: Omit<ImageHeader, 'raw' | 'lines'> = { format: 'hdf5' };
    Object.assign(h, info.header);
    return h;
  };

  const toImage = (native: NativeFrame, i: number): DetectorImage => {
    const index = first + i;
    const block = layout.blocks.find((b) => index >= b.start && index < b.start + b.frames);
    const raw = new Map<string, string>([
      ['dataset', block?.dataset ?? ''],
      ['data_file', block?.file ?? file],
      ['pixel_type', layout.pixelType],
      ['filters', layout.filters.join(', ')],
      ['image_nr', String(index + 1)],
    ]);
    const header: ImageHeader = { ...headerBase(), raw, lines: [...raw].map(([k, v]) => `${k} ${v}`) };
    const omega = info.omega;
    if (omega !== undefined && omega[index] !== undefined) header.startAngle = omega[index];
    return { width: layout.width, height: layout.height, pixels: pixelsFromNative(native, { file, frame: i }), header, source: { file, frame: i } };
  };

  let shared: Hdf5FrameReader | undefined;
  const readNative = async (index: number): Promise<NativeFrame> => {
    if (!Number.isSafeInteger(index) || index < 0 || index >= length) {
      throw new InvalidValueError(`frame ${index} is outside the series (0…${length - 1})`, { file, frame: index });
    }
    shared ??= new Hdf5FrameReader(layout);
    return shared.readNative(first + index, index);
  };

  async function* inThread(): AsyncGenerator<NativeFrame, void, undefined> {
    const reader = new Hdf5FrameReader(layout);
    try {
      for (let i = 0; i < length; i++) yield await reader.readNative(first + i, i);
    } finally {
      reader.close();
    }
  }

  async function* viaWorkers(): AsyncGenerator<NativeFrame, void, undefined> {
    const pool = new DecodePool(layout, Math.min(workers, length));
    const queue: Promise<Settled<NativeFrame>>[] = [];
    let next = 0;
    try {
      for (let i = 0; i < length; i++) {
        while (next < length && next <= i + readAhead) {
          queue.push(pool.decode(first + next, next));
          next++;
        }
        const r = await queue.shift();
        invariant(r !== undefined, 'a request per frame');
        if (!r.ok) throw r.error;
        yield r.value;
      }
    } finally {
      queue.length = 0;
      await pool.terminate();
    }
  }

  const rawFrames = (): AsyncGenerator<NativeFrame, void, undefined> => (workers > 0 ? viaWorkers() : inThread());

  let pool: DecodePool | undefined;
  async function* framesOf(start: number, count: number): AsyncGenerator<DetectorImage, void, undefined> {
    if (!Number.isSafeInteger(start) || !Number.isSafeInteger(count) || start < 0 || count < 0 || start + count > length) {
      throw new InvalidValueError(`frames ${start}…${start + count - 1} are outside the series (0…${length - 1})`, { file });
    }
    if (workers === 0) {
      for (let i = start; i < start + count; i++) yield toImage(await readNative(i), i);
      return;
    }
    pool ??= new DecodePool(layout, Math.min(workers, length));
    const p = pool;
    const queue: Promise<Settled<NativeFrame>>[] = [];
    let next = start;
    for (let i = start; i < start + count; i++) {
      while (next < start + count && next <= i + readAhead) {
        queue.push(p.decode(first + next, next));
        next++;
      }
      const r = await queue.shift();
      invariant(r !== undefined, 'a request per frame');
      if (!r.ok) {
        // a failed decode leaves the pool's instances suspect: start fresh next time
        pool = undefined;
        await Promise.allSettled(queue);
        await p.terminate();
        throw r.error;
      }
      yield toImage(r.value, i);
    }
  }

  async function* images(): AsyncGenerator<DetectorImage, void, undefined> {
    let i = 0;
    for await (const native of rawFrames()) {
      yield toImage(native, i);
      i++;
    }
  }

  return {
    length,
    width: layout.width,
    height: layout.height,
    pixelType: layout.pixelType,
    range: [first, last],
    layout,
    info,
    read: async (index) => toImage(await readNative(index), index),
    readRaw: async (index) => readNative(index),
    close: async () => {
      shared?.close();
      shared = undefined;
      const p = pool;
      pool = undefined;
      await p?.terminate();
    },
    rawFrames,
    frames: framesOf,
    [Symbol.asyncIterator]: () => images(),
  };
}
