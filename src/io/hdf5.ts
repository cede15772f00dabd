/**
 * HDF5 through h5wasm (Node build: files are opened on the real file system).
 *
 * - `writeHdf5Atomic` writes to a temporary file beside the target and renames
 *   it into place only after a successful close and a check that the file is
 *   as long as its superblock says (HDF5 on a full disk closes without an
 *   error), so an interrupted or failed write never leaves a file that looks
 *   complete.
 * - `checkHdf5File` refuses a missing, non-HDF5 or truncated file before
 *   h5wasm opens it (h5wasm would print pages of HDF5-DIAG lines).
 * - `readHdf5` opens read-only and always closes.
 * - `writeTableGroup` stores a columnar table as one 1-D dataset per column
 *   (an NXcollection-like group with `nrows`), the layout used by diffract's
 *   table outputs and readable by h5py as `f[group][column][()]`.
 *
 * Reproducible files: HDF5 stamps every object header with the time it was
 * created (h5wasm reads the clock through `Date.now`). While the build
 * callback runs (across its awaits: an async context, see `withFixedClock`)
 * and while the file is closed, `Date.now` is held at `HDF5_EPOCH_MS`
 * (SOURCE_DATE_EPOCH seconds when set, else 0), so the same content always
 * gives the same bytes: a resumed run's outputs equal an uninterrupted run's
 * byte for byte, and two runs of a stage command give identical files.
 *
 * - `h5Plugins` additionally puts the compression filter plugins of
 *   h5wasm-plugins (bitshuffle-LZ4 32008, LZ4 32004, Blosc, Zstd, …) on the
 *   HDF5 plugin search path, for reading Eiger/NeXus data files.
 *
 * h5wasm misbehaves when `globalThis.navigator` exists; the GPU code never sets
 * it (see src/host/dawn.ts).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import fs, { closeSync, existsSync, fstatSync, openSync, readSync } from 'node:fs';
import { rename, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import h5wasm from 'h5wasm/node';
import { install_local_plugins } from 'h5wasm-plugins';
import { DiffractError, FileAccessError, FormatError } from '../errors.ts';
import { simulatedShortWrite, simulatedWriteFault, tempPathFor } from './atomic-file.ts';

export type H5File = InstanceType<typeof h5wasm.File>;
export type H5Group = ReturnType<H5File['create_group']>;
export type H5Dataset = ReturnType<H5Group['create_dataset']>;
export type ColumnArray = Float64Array | Float32Array | Int32Array | Uint32Array | Uint16Array | Uint8Array | Int16Array | Int8Array | BigInt64Array | BigUint64Array;

let readyPromise: Promise<unknown> | null = null;

/** Resolves once the h5wasm module is initialized. */
export async function h5Ready(): Promise<void> {
  readyPromise ??= h5wasm.ready;
  await readyPromise;
}

/** The object time stamped into written files, ms since 1970 (see the module comment). */
export const HDF5_EPOCH_MS = /^\d+$/.test(process.env.SOURCE_DATE_EPOCH ?? '') ? Number(process.env.SOURCE_DATE_EPOCH) * 1000 : 0;

/**
 * The builds under way in the current async context. `Date.now` is replaced
 * once by a function that answers HDF5_EPOCH_MS inside a build (across its
 * awaits too, which a swap of `Date.now` for the synchronous part cannot do:
 * a streaming build such as `diffract integrate`'s stamped the wall clock into
 * every object it made after its first await) and the real clock everywhere
 * else, so code running beside a build is not affected.
 */
const inBuild = new AsyncLocalStorage<true>();
let clockInstalled = false;

function installFixedClock(): void {
  if (clockInstalled) return;
  clockInstalled = true;
  const real = Date.now.bind(Date);
  Date.now = () => (inBuild.getStore() === true ? HDF5_EPOCH_MS : real());
}

/** Runs `fn` (and whatever it awaits) with `Date.now` held at HDF5_EPOCH_MS. */
function withFixedClock<T>(fn: () => T): T {
  installFixedClock();
  return inBuild.run(true, fn);
}

let pluginsPromise: Promise<void> | null = null;

/** Resolves once h5wasm is initialized with the h5wasm-plugins compression filters (bitshuffle, LZ4, …) installed. */
export async function h5Plugins(): Promise<void> {
  pluginsPromise ??= h5wasm.ready.then((module) => {
    install_local_plugins(module);
  });
  await pluginsPromise;
}

/**
 * Checks a just-written temporary file before it is renamed into place: HDF5
 * reports a full disk only in diagnostics and closes "successfully" with a
 * file shorter than its superblock says, which must never be published.
 */
function verifyWritten(tmp: string, path: string): void {
  try {
    checkHdf5File(tmp);
  } catch (err) {
    const why = err instanceof Error ? err.message.replace(`${tmp}: `, '') : String(err);
    throw new FileAccessError(`writing HDF5 failed: the written file is incomplete (${why}; disk full?); nothing was replaced`, { file: path }, { cause: err });
  }
}

/** Builds an HDF5 file with `build`, checks that it was written completely, and renames it into place at `path`. */
export async function writeHdf5Atomic(path: string, build: (file: H5File) => void | Promise<void>): Promise<void> {
  await h5Ready();
  if (!existsSync(dirname(path))) throw new FileAccessError('the output folder does not exist', { file: path });
  const tmp = tempPathFor(path);
  let file: H5File | null = null;
  try {
    const f = withFixedClock(() => new h5wasm.File(tmp, 'w'));
    file = f;
    const pending = withFixedClock(() => build(f));
    if (pending instanceof Promise) await pending;
    withFixedClock(() => f.close());
    file = null;
    simulatedWriteFault(path);
    simulatedShortWrite(path, tmp);
    verifyWritten(tmp, path);
    await rename(tmp, path);
  } catch (err) {
    try {
      file?.close();
    } catch {
      // already failing
    }
    await unlink(tmp).catch(() => undefined);
    if (err instanceof Error && 'kind' in err) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOSPC' ? 'no space left on device (ENOSPC)' : err instanceof Error ? err.message : String(err);
    throw new FileAccessError(`writing HDF5 failed: ${why}; nothing was replaced`, { file: path }, { cause: err });
  }
}

/** The 8 bytes every HDF5 superblock starts with. */
const HDF5_SIGNATURE = Buffer.from([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]);

/** Little-endian unsigned integer of `size` bytes (the superblock's "size of offsets"); NaN for an undefined address (all ones). */
function readOffset(buf: Buffer, at: number, size: number): number {
  let v = 0;
  let allOnes = true;
  for (let i = size - 1; i >= 0; i--) {
    const b = buf[at + i]!;
    if (b !== 0xff) allOnes = false;
    v = v * 256 + b;
  }
  return allOnes ? Number.NaN : v;
}

/**
 * The end-of-file address of an HDF5 superblock starting at `buf[0]` (its
 * declared length of the file, relative to the base address), with the base
 * address; null when the superblock version is one this check does not know.
 */
function declaredEnd(buf: Buffer): { base: number; eof: number } | null {
  const version = buf[8]!;
  if (version === 0 || version === 1) {
    const so = buf[13]!;
    const at = version === 0 ? 24 : 28; // v1 adds indexed-storage K and 2 reserved bytes
    if (buf.length < at + 4 * so) return null;
    return { base: readOffset(buf, at, so), eof: readOffset(buf, at + 2 * so, so) };
  }
  if (version === 2 || version === 3) {
    const so = buf[9]!;
    if (buf.length < 12 + 4 * so) return null;
    return { base: readOffset(buf, 12, so), eof: readOffset(buf, 12 + 2 * so, so) };
  }
  return null;
}

/**
 * Checks that `path` is an HDF5 file before h5wasm opens it (h5wasm prints
 * dozens of HDF5-DIAG lines and returns a broken handle otherwise): a missing
 * file is a FileAccessError 'no such file'; a folder, a file without the HDF5
 * signature (at offset 0, 512, 1024, 2048, … as the format allows) or one
 * shorter than its superblock's end-of-file address (truncated) a FormatError.
 */
export function checkHdf5File(path: string): void {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new FileAccessError('no such file', { file: path }, { cause: err });
    throw new FileAccessError(`cannot open the file (${code ?? String(err)})`, { file: path }, { cause: err });
  }
  try {
    const st = fstatSync(fd);
    if (st.isDirectory()) throw new FileAccessError('is a directory, not an HDF5 file', { file: path });
    const size = st.size;
    const head = Buffer.alloc(96);
    for (let at = 0; at + HDF5_SIGNATURE.length <= size; at = at === 0 ? 512 : at * 2) {
      const n = readSync(fd, head, 0, head.length, at);
      if (!head.subarray(0, HDF5_SIGNATURE.length).equals(HDF5_SIGNATURE)) continue;
      const end = declaredEnd(head.subarray(0, n));
      if (end !== null && Number.isFinite(end.eof)) {
        const expected = (Number.isFinite(end.base) ? end.base : at) + end.eof;
        if (size < expected) throw new FormatError(`truncated HDF5 file: ${size} bytes, its superblock says ${expected}`, { file: path });
      }
      return;
    }
    throw new FormatError(size === 0 ? 'empty file, not HDF5' : 'not an HDF5 file (no HDF5 signature)', { file: path });
  } finally {
    closeSync(fd);
  }
}

/**
 * True for an error raised by h5wasm when a file's structure is corrupt: a plain
 * `Error` from its C++ layer (e.g. 'error - name not defined!'), or the
 * WebAssembly RuntimeError of an HDF5 `abort()` (seen when freeing the strings of
 * a corrupt attribute; the module stays usable afterwards), as opposed to a
 * TypeError/RangeError or an invariant of diffract's code.
 */
export function isH5wasmError(err: unknown): err is Error {
  if (err instanceof Error && err.name === 'RuntimeError' && err.message.startsWith('Aborted(')) return true;
  return err instanceof Error && Object.getPrototypeOf(err) === Error.prototype && !err.message.startsWith('internal invariant failed');
}

/** The FormatError naming `file` for h5wasm error `err` (one line). */
export function corruptHdf5(file: string, err: Error): FormatError {
  return new FormatError(`corrupt HDF5 file (h5wasm: ${err.message.replace(/\s+/g, ' ').trim()})`, { file }, { cause: err });
}

/** `fn()`, with h5wasm's own errors on a corrupt file turned into a FormatError naming `file`. */
export function h5Guard<T>(file: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (isH5wasmError(err)) throw corruptHdf5(file, err);
    throw err;
  }
}

/** Opens `path` read-only, runs `fn`, closes. h5wasm's own errors on a corrupt file become a FormatError naming it. */
export async function readHdf5<T>(path: string, fn: (file: H5File) => T | Promise<T>): Promise<T> {
  await h5Ready();
  checkHdf5File(path);
  const file = readQuietly(path, () => new h5wasm.File(path, 'r'), 'not a readable HDF5 file');
  try {
    return await readQuietly(path, () => fn(file));
  } catch (err) {
    // an h5wasm error after the first await of an async reader
    if (isH5wasmError(err)) throw corruptHdf5(path, err);
    throw err;
  } finally {
    h5Guard(path, () => file.close());
  }
}

/** The first line of an error's message. */
export function errMessage(err: unknown): string {
  const m = err instanceof Error ? err.message : String(err);
  return m.split('\n')[0] ?? m;
}

/**
 * Runs the synchronous h5wasm call(s) `fn` with what the HDF5 library and its
 * filter plugins print kept in `diagnostics` (the raw text, in pieces that
 * need not end at line breaks) instead of the terminal; returns its value or
 * rethrows its error. h5wasm's Node build (NODERAWFS) writes through
 * `fs.writeSync` on descriptors 2 (HDF5-DIAG error stacks, dozens of lines
 * for one damaged chunk) and 1 (the LZ4 plugin's 'decompressed size not the
 * same'), while a diffract error is one line (`hdf5Diagnosis` sums them up).
 * Only this thread's synchronous code runs meanwhile: nothing else is caught.
 */
export function quietHdf5<T>(fn: () => T, diagnostics: string[]): T {
  const real = fs.writeSync;
  const capture = (fd: number, data: string | NodeJS.ArrayBufferView, ...rest: unknown[]): number => {
    if (fd !== 1 && fd !== 2) return (real as (...a: unknown[]) => number)(fd, data, ...rest);
    let text: string;
    let n: number;
    if (typeof data === 'string') {
      text = data;
      n = Buffer.byteLength(data);
    } else {
      const offset = typeof rest[0] === 'number' ? rest[0] : 0;
      n = typeof rest[1] === 'number' ? rest[1] : data.byteLength - offset;
      text = Buffer.from(data.buffer, data.byteOffset + offset, n).toString('utf8');
    }
    if (diagnostics.length < 10_000) diagnostics.push(text);
    return n;
  };
  fs.writeSync = capture as typeof fs.writeSync;
  try {
    return fn();
  } finally {
    fs.writeSync = real;
  }
}

/**
 * The innermost cause of an HDF5 error stack (the HDF5-DIAG lines the library
 * prints: `  #008: …/H5Z.c line 1489 in H5Z_pipeline(): filter returned failure
 * during read`), as ` (HDF5: <cause>)` to append to a message; '' when none.
 */
export function hdf5Diagnosis(diagnostics: readonly string[]): string {
  let cause = '';
  for (const l of diagnostics.join('').split('\n')) {
    const m = /^\s*#\d+: .* in [\w.]+\(\): (.*)$/.exec(l);
    if (m !== null) cause = (m[1] as string).trim();
  }
  return cause === '' ? '' : ` (HDF5: ${cause})`;
}

/**
 * Runs synchronous h5wasm reading `fn` with HDF5's printed diagnostics kept
 * off stderr (`quietHdf5`); a failure that HDF5 explained (a damaged file)
 * becomes one FormatError naming `file`, `what` first. diffract's own errors
 * pass unchanged, and so does any other error (a bug, not the file).
 */
export function readQuietly<T>(file: string, fn: () => T, what = 'damaged HDF5 file'): T {
  const diagnostics: string[] = [];
  try {
    return quietHdf5(fn, diagnostics);
  } catch (err) {
    if (err instanceof DiffractError || (diagnostics.length === 0 && what === 'damaged HDF5 file')) throw err;
    throw new FormatError(`${what}: ${errMessage(err)}${hdf5Diagnosis(diagnostics)}`, { file }, { cause: err });
  }
}

/** Writes string/number attributes on a group or dataset. */
export function setAttributes(target: { create_attribute(name: string, data: string | number | number[] | string[]): void }, attrs: Record<string, string | number | readonly number[] | readonly string[]>): void {
  for (const [k, v] of Object.entries(attrs)) target.create_attribute(k, (Array.isArray(v) ? [...v] : v) as string | number | number[] | string[]);
}

/** Stores a columnar table: group `name` with one dataset per column and attribute `nrows`. */
export function writeTableGroup(parent: H5Group | H5File, name: string, columns: Record<string, ColumnArray>, attrs: Record<string, string | number> = {}): H5Group {
  const g = parent.create_group(name);
  let nrows = -1;
  for (const [col, data] of Object.entries(columns)) {
    if (nrows < 0) nrows = data.length;
    g.create_dataset({ name: col, data, shape: [data.length] });
  }
  setAttributes(g, { NX_class: 'NXcollection', nrows: Math.max(0, nrows), ...attrs });
  return g;
}

/**
 * Creates a rows × cols dataset and writes it in slabs of whole rows, each
 * filled by `fill(row0, out)` (`out` holds `out.length / cols` rows; the last
 * slab may be shorter): the data never exists whole, neither in JavaScript
 * nor in the HDF5 heap. The dataset is chunked by slab (about 2 MiB each).
 */
export function writeRowSlabs<T extends Float64Array | Uint32Array>(group: H5Group, name: string, rows: number, cols: number, make: (n: number) => T, fill: (row0: number, out: T) => void): H5Dataset {
  const bytes = make(0).BYTES_PER_ELEMENT;
  const slabRows = Math.max(1, Math.min(rows, Math.floor((2 << 20) / (bytes * cols))));
  const d = group.create_dataset({ name, data: make(0), shape: [0, cols], maxshape: [rows, cols], chunks: [slabRows, cols] });
  d.resize([rows, cols]);
  const slab = make(slabRows * cols);
  for (let r0 = 0; r0 < rows; r0 += slabRows) {
    const n = Math.min(slabRows, rows - r0);
    const out = n === slabRows ? slab : (slab.subarray(0, n * cols) as T);
    fill(r0, out);
    d.write_slice([[r0, r0 + n], [0, cols]], out);
  }
  return d;
}
