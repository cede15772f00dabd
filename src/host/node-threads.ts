/**
 * CPU threads: how many, and a generic pool of `node:worker_threads` workers.
 *
 * Thread count (`resolveThreads`): the `--threads N` flag (or a run config's
 * `threads:`) when given, else the environment variable DIFFRACT_THREADS, else
 * `os.availableParallelism()`. A bad value is a one-line `UsageError` naming
 * `--threads` or `DIFFRACT_THREADS`.
 *
 * Pool (`WorkerPool<Req, Res>`), main-thread side:
 *
 *     const pool = new WorkerPool<MyReq, MyRes>(workerUrl(import.meta.url, 'my-worker'), { size: 4, name: 'my kernel' });
 *     const res = await pool.run(req, [transferables]);   // least-busy worker
 *     const one = await pool.run(req, [], 2);             // worker 2 (its private state)
 *     const all = await pool.broadcast(setupReq);         // every worker, results in worker order
 *     await pool.destroy();                               // safe twice; also safe never to call
 *
 * Worker side (the entry module, e.g. `my-worker.ts` beside its caller):
 *
 *     serveWorker<MyReq, MyRes>(async (req, workerData) => ({ value: res, transfer: [res.buf.buffer] }));
 *
 * - Inputs: put large read-only arrays in SharedArrayBuffers (send them once,
 *   e.g. in a broadcast setup request; the workers keep them); results come
 *   back as transferables (no copy). A worker answers its requests one at a
 *   time, in the order they came.
 * - Errors thrown in a worker come back as the same typed diffract error
 *   (class, message and location); a worker that dies fails its requests with
 *   a plain Error (a bug) and the pool stays failed.
 * - Entry resolution (`workerUrl`): from the TypeScript sources (a checkout,
 *   tsx, vitest) the worker registers tsx's loader first and imports the `.ts`
 *   entry; from the compiled dist/ it imports the `.js` entry directly.
 * - Workers are unref'd while idle, so a pool never keeps the process alive;
 *   `destroy()` terminates them.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parentPort, Worker, workerData, type ResourceLimits, type Transferable } from 'node:worker_threads';
import {
  DiffractError,
  FileAccessError,
  FormatError,
  invariant,
  InvalidValueError,
  MissingFieldError,
  TruncatedError,
  UsageError,
  type ErrorLocation,
} from '../errors.ts';
import { threadCount } from './thread-count.ts';

export { MAX_THREADS, THREADS_ENV } from './thread-count.ts';

/**
 * The number of CPU threads to use: `flag` (the `--threads` value or the run
 * config's `threads`, named `source` in errors), else `env.DIFFRACT_THREADS`,
 * else the machine's available parallelism.
 */
export function resolveThreads(flag?: number | string, env: Record<string, string | undefined> = process.env, source = '--threads'): number {
  return threadCount(flag, env, availableParallelism(), source);
}

/** An error as it crosses a thread boundary. */
export interface SerializedError {
  name: string;
  message: string;
  file?: string;
  frame?: number;
  field?: string;
}

/** The transferable form of an error thrown in a worker. */
export function serializeError(err: unknown): SerializedError {
  const out: SerializedError = { name: err instanceof Error ? err.name : 'Error', message: err instanceof Error ? err.message : String(err) };
  if (err instanceof DiffractError) {
    if (err.file !== undefined) out.file = err.file;
    if (err.frame !== undefined) out.frame = err.frame;
    if (err.field !== undefined) out.field = err.field;
  }
  return out;
}

const ERROR_CLASSES: Record<string, new (message: string, where?: ErrorLocation, options?: { cause?: unknown }) => DiffractError> = {
  FormatError,
  TruncatedError,
  MissingFieldError,
  InvalidValueError,
  FileAccessError,
  UsageError,
};

/** Rebuilds a worker's error as the same typed error (same message and location). */
export function deserializeError(e: SerializedError): Error {
  const Cls = ERROR_CLASSES[e.name];
  if (Cls === undefined) return new Error(e.message);
  const where: ErrorLocation = {};
  if (e.file !== undefined) where.file = e.file;
  if (e.frame !== undefined) where.frame = e.frame;
  if (e.field !== undefined) where.field = e.field;
  const prefix = new DiffractError('probe', '', where).message; // "file, frame k: " or ''
  const bare = prefix !== '' && e.message.startsWith(prefix) ? e.message.slice(prefix.length) : e.message;
  return new Cls(bare, where);
}

/** File URL of a package export's `import` target (read from its package.json; works where import.meta.resolve does not). */
export function exportUrl(pkgName: string, subpath: string): string {
  const req = createRequire(import.meta.url);
  // not req.resolve(`${pkgName}/package.json`): a package's exports may not list it
  const pkgPath = (req.resolve.paths(pkgName) ?? []).map((dir) => join(dir, pkgName, 'package.json')).find((p) => existsSync(p));
  invariant(pkgPath !== undefined, `package ${pkgName} is installed`);
  const pkg = JSON.parse(readFileSync(pkgPath, 'utf8')) as { exports?: Record<string, { import?: string | { default?: string } } | string> };
  const e = pkg.exports?.[subpath];
  const rel = typeof e === 'string' ? e : typeof e?.import === 'string' ? e.import : e?.import?.default;
  invariant(rel !== undefined, `${pkgName} exports ${subpath}`);
  return pathToFileURL(resolve(dirname(pkgPath), rel)).href;
}

/**
 * The URL of a worker entry module `<baseName>.ts` (TypeScript sources) or
 * `<baseName>.js` (compiled dist/) beside the module whose `import.meta.url`
 * is `metaUrl`.
 */
export function workerUrl(metaUrl: string, baseName: string): URL {
  return new URL(`./${baseName}${metaUrl.endsWith('.ts') ? '.ts' : '.js'}`, metaUrl);
}

/**
 * JavaScript that loads a worker entry: from the TypeScript sources it
 * registers tsx's ESM loader in the new thread first (a Worker does not
 * inherit the parent's loader hooks, and `--import` in a Worker's execArgv is
 * not honoured everywhere); `preload` URLs are imported before either (a large
 * plain-JS module loads much faster without the loader).
 */
export function workerBootstrap(entry: URL, preload: string[] = []): string {
  const pre = preload.map((u) => `.then(() => import(${JSON.stringify(u)}))`).join('');
  const target = JSON.stringify(entry.href);
  if (!entry.href.endsWith('.ts')) return `Promise.resolve()${pre}.then(() => import(${target}));`;
  const tsx = JSON.stringify(exportUrl('tsx', './esm/api'));
  return `Promise.resolve()${pre}.then(() => import(${tsx})).then((m) => { m.register(); return import(${target}); });`;
}

/** What a worker's handler returns: the result, and the buffers to hand over with it. */
export interface WorkerAnswer<Res> {
  value: Res;
  transfer?: Transferable[];
}

type Envelope<Req> = { id: number; req: Req };
type Reply<Res> = { id: number; ok: true; value: Res } | { id: number; ok: false; error: SerializedError };

/**
 * Serves requests in a worker entry module: `handler(req, workerData)` runs
 * for each request, one at a time in arrival order; its value (or error)
 * goes back to the pool.
 */
export function serveWorker<Req, Res>(handler: (req: Req, data: unknown) => WorkerAnswer<Res> | Promise<WorkerAnswer<Res>>): void {
  const port = parentPort;
  invariant(port !== null, 'serveWorker runs in a worker thread');
  const data: unknown = workerData;
  let chain: Promise<void> = Promise.resolve();
  port.on('message', (msg: Envelope<Req>) => {
    chain = chain.then(async () => {
      try {
        const answer = await handler(msg.req, data);
        const reply: Reply<Res> = { id: msg.id, ok: true, value: answer.value };
        port.postMessage(reply, answer.transfer ?? []);
      } catch (err) {
        const reply: Reply<Res> = { id: msg.id, ok: false, error: serializeError(err) };
        port.postMessage(reply);
      }
    });
  });
}

export interface WorkerPoolOptions {
  /** number of worker threads (≥ 1) */
  size: number;
  /** `workerData` of every worker (structured-cloned; SharedArrayBuffers are shared) */
  workerData?: unknown;
  /** module URLs imported before the entry (see `workerBootstrap`) */
  preload?: string[];
  /** names the pool in errors */
  name?: string;
  /**
   * caps of each worker's V8 heap (`node:worker_threads` resourceLimits), e.g.
   * a small young generation for workers that allocate little JavaScript:
   * V8 otherwise grows it to 16 MiB semi-spaces as the run goes on, which
   * shows as resident memory rising with the number of frames
   */
  resourceLimits?: ResourceLimits;
}

interface Slot {
  worker: Worker;
  inFlight: Set<number>;
}

/** A fixed set of worker threads running one entry module (see the module comment). */
export class WorkerPool<Req, Res> {
  private readonly slots: Slot[] = [];
  private readonly pending = new Map<number, { resolve: (v: Res) => void; reject: (e: unknown) => void }>();
  private nextId = 0;
  private dead: Error | undefined;
  private destroyed = false;
  private readonly name: string;

  constructor(entry: URL, opts: WorkerPoolOptions) {
    invariant(Number.isSafeInteger(opts.size) && opts.size >= 1, `worker pool size ${opts.size} is a positive integer`);
    this.name = opts.name ?? 'worker';
    const code = workerBootstrap(entry, opts.preload);
    for (let k = 0; k < opts.size; k++) {
      const worker = new Worker(code, { eval: true, workerData: opts.workerData, ...(opts.resourceLimits !== undefined ? { resourceLimits: opts.resourceLimits } : {}) });
      worker.unref();
      const slot: Slot = { worker, inFlight: new Set() };
      worker.on('message', (msg: Reply<Res>) => {
        const p = this.pending.get(msg.id);
        this.pending.delete(msg.id);
        slot.inFlight.delete(msg.id);
        if (slot.inFlight.size === 0) worker.unref();
        if (p === undefined) return;
        if (msg.ok) p.resolve(msg.value);
        else p.reject(deserializeError(msg.error));
      });
      worker.on('error', (err) => this.fail(slot, new Error(`${this.name} thread failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err })));
      worker.on('exit', (code) => {
        if (slot.inFlight.size > 0) this.fail(slot, new Error(`${this.name} thread stopped (exit code ${code})`));
      });
      this.slots.push(slot);
    }
  }

  /** The number of worker threads. */
  get size(): number {
    return this.slots.length;
  }

  /**
   * Sends `req` to worker `worker` (default: the one with the fewest requests
   * in flight), handing over `transfer`; resolves with its answer.
   */
  run(req: Req, transfer: Transferable[] = [], worker?: number): Promise<Res> {
    if (this.dead !== undefined) return Promise.reject(this.dead);
    invariant(!this.destroyed, `${this.name} pool is used after destroy()`);
    const slot = worker === undefined ? this.slots.reduce((a, b) => (b.inFlight.size < a.inFlight.size ? b : a)) : this.slots[worker];
    invariant(slot !== undefined, `worker ${worker} exists in a pool of ${this.slots.length}`);
    const id = this.nextId++;
    const p = new Promise<Res>((res, rej) => this.pending.set(id, { resolve: res, reject: rej }));
    if (slot.inFlight.size === 0) slot.worker.ref();
    slot.inFlight.add(id);
    const env: Envelope<Req> = { id, req };
    slot.worker.postMessage(env, transfer);
    return p;
  }

  /** Sends `req` to every worker (not transferred: SharedArrayBuffers are shared, the rest cloned); answers in worker order. */
  broadcast(req: Req): Promise<Res[]> {
    return Promise.all(this.slots.map((_, k) => this.run(req, [], k)));
  }

  /** Terminates the workers; requests in flight are rejected. Safe to call twice. */
  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    const slots = this.slots.splice(0);
    const err = new Error(`${this.name} pool was destroyed`);
    for (const s of slots) s.inFlight.clear();
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
    await Promise.all(slots.map((s) => s.worker.terminate()));
  }

  private fail(slot: Slot, err: Error): void {
    this.dead ??= err;
    for (const id of slot.inFlight) {
      this.pending.get(id)?.reject(err);
      this.pending.delete(id);
    }
    slot.inFlight.clear();
  }
}
