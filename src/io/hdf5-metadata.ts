/**
 * HDF5 metadata of untrusted files, read in a worker thread with a time limit
 * (issue 13). h5wasm can loop forever on a corrupt file (a mutated NeXus
 * master made it spin reading an attribute table), and synchronous
 * WebAssembly cannot be interrupted on the thread that runs it. So the
 * metadata reads that come first on a user's file (the frame layout, the
 * NeXus header of a series, the NXmx values of a geometry) run in one worker
 * thread (src/io/hdf5-metadata-worker.ts, its own h5wasm with the compression
 * plugins), and a read that has not finished within the limit terminates the
 * worker (V8 stops running WebAssembly there) and becomes a FormatError naming
 * the file. The next read starts a fresh worker.
 *
 * One worker serves the whole process, one request at a time; it is unref'd
 * while idle (it never keeps a process alive) and ends after IDLE_MS idle.
 * The limit counts from when the worker starts the read (not its start-up):
 * DIFFRACT_HDF5_METADATA_TIMEOUT_S seconds when set, else
 * HDF5_METADATA_TIMEOUT_S.
 */
import { Worker } from 'node:worker_threads';
import { FormatError, invariant } from '../errors.ts';
import { deserializeError, workerBootstrap, type SerializedError } from './worker-bootstrap.ts';

/** The default time limit of one metadata read, seconds. */
export const HDF5_METADATA_TIMEOUT_S = 60;

/** A worker idle this long ends (ms). */
const IDLE_MS = 10_000;

/** What the metadata worker reads. */
export type MetadataRequest =
  /** the frame layout and NeXus header of an image series (`openHdf5Series`) */
  | { op: 'series'; file: string; dataset?: string; candidates?: readonly string[] }
  /** the frame layout and NXmx values of a geometry file (`experimentFromNexus`) */
  | { op: 'nexus'; file: string };

/** Messages to the metadata worker. */
export interface MetadataMessage {
  id: number;
  request: MetadataRequest;
}

/** Messages from the metadata worker: `started` just before the read, then its result or error. */
export type MetadataReply = { id: number; type: 'started' } | { id: number; type: 'done'; value: unknown } | { id: number; type: 'error'; error: SerializedError };

/** The time limit in seconds (DIFFRACT_HDF5_METADATA_TIMEOUT_S or the default). */
export function metadataTimeoutS(): number {
  const v = Number(process.env.DIFFRACT_HDF5_METADATA_TIMEOUT_S ?? '');
  return Number.isFinite(v) && v > 0 ? v : HDF5_METADATA_TIMEOUT_S;
}

interface Job {
  message: MetadataMessage;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
}

let worker: Worker | undefined;
let current: { job: Job; timer?: NodeJS.Timeout } | undefined;
const queue: Job[] = [];
let nextId = 0;
let idleTimer: NodeJS.Timeout | undefined;

function stopWorker(): void {
  const w = worker;
  worker = undefined;
  if (w !== undefined) void w.terminate();
}

function finish(settle: (job: Job) => void): void {
  const c = current;
  current = undefined;
  if (c === undefined) return;
  if (c.timer !== undefined) clearTimeout(c.timer);
  settle(c.job);
  pump();
}

function startWorker(): Worker {
  const w = new Worker(workerBootstrap('hdf5-metadata-worker'), { eval: true });
  w.on('message', (msg: MetadataReply) => {
    if (w !== worker || current === undefined || msg.id !== current.job.message.id) return;
    if (msg.type === 'started') {
      const limit = metadataTimeoutS();
      const file = current.job.message.request.file;
      current.timer = setTimeout(() => {
        stopWorker();
        finish((job) => job.reject(new FormatError(`HDF5 metadata could not be read within ${limit} s: damaged file?`, { file })));
      }, limit * 1000);
    } else if (msg.type === 'done') {
      finish((job) => job.resolve(msg.value));
    } else {
      finish((job) => job.reject(deserializeError(msg.error)));
    }
  });
  const fail = (why: string, cause?: unknown): void => {
    if (w !== worker) return;
    worker = undefined;
    finish((job) => job.reject(new FormatError(`HDF5 metadata worker failed: ${why}`, { file: job.message.request.file }, { cause })));
  };
  w.on('error', (err) => fail(err.message.split('\n')[0] ?? 'error', err));
  w.on('exit', (code) => fail(`it stopped (exit code ${code})`));
  return w;
}

function pump(): void {
  if (current !== undefined) return;
  const job = queue.shift();
  if (job === undefined) {
    worker?.unref();
    if (worker !== undefined) {
      idleTimer = setTimeout(stopWorker, IDLE_MS);
      idleTimer.unref();
    }
    return;
  }
  if (idleTimer !== undefined) clearTimeout(idleTimer);
  idleTimer = undefined;
  worker ??= startWorker();
  worker.ref();
  current = { job };
  worker.postMessage(job.message);
}

/**
 * Reads `request` in the metadata worker: its result (of the type the worker
 * gives for that op), the worker's typed error, or a FormatError naming the
 * file when the read did not finish within the time limit.
 */
export function readHdf5Metadata<T>(request: MetadataRequest): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    queue.push({ message: { id: nextId++, request }, resolve: (v) => resolve(v as T), reject });
    pump();
    invariant(current !== undefined, 'a metadata read is in flight');
  });
}
