/**
 * HDF5 through h5wasm (Node build: files are opened on the real file system).
 *
 * - `writeHdf5Atomic` writes to a temporary file beside the target and renames
 *   it into place only after a successful close, so an interrupted or failed
 *   write never leaves a file that looks complete.
 * - `readHdf5` opens read-only and always closes.
 * - `writeTableGroup` stores a columnar table as one 1-D dataset per column
 *   (an NXcollection-like group with `nrows`), the layout used by diffract's
 *   table outputs and readable by h5py as `f[group][column][()]`.
 *
 * Reproducible files: HDF5 stamps every object header with the time it was
 * created (h5wasm reads the clock through `Date.now`). While the build
 * callback runs synchronously and while the file is closed, `Date.now` is held
 * at `HDF5_EPOCH_MS` (SOURCE_DATE_EPOCH seconds when set, else 0), so the same
 * content always gives the same bytes: a resumed run's outputs equal an
 * uninterrupted run's byte for byte. Work done after an `await` inside the
 * build runs with the real clock (only synchronous builds are byte-stable).
 *
 * - `h5Plugins` additionally puts the compression filter plugins of
 *   h5wasm-plugins (bitshuffle-LZ4 32008, LZ4 32004, Blosc, Zstd, …) on the
 *   HDF5 plugin search path, for reading Eiger/NeXus data files.
 *
 * h5wasm misbehaves when `globalThis.navigator` exists; the GPU code never sets
 * it (see src/host/dawn.ts).
 */
import { existsSync } from 'node:fs';
import { rename, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import h5wasm from 'h5wasm/node';
import { install_local_plugins } from 'h5wasm-plugins';
import { FileAccessError, FormatError } from '../errors.ts';
import { simulatedWriteFault, tempPathFor } from './atomic-file.ts';

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

/** Runs `fn` with `Date.now` held at HDF5_EPOCH_MS (synchronous code only). */
function withFixedClock<T>(fn: () => T): T {
  const real = Date.now;
  Date.now = () => HDF5_EPOCH_MS;
  try {
    return fn();
  } finally {
    Date.now = real;
  }
}

let pluginsPromise: Promise<void> | null = null;

/** Resolves once h5wasm is initialized with the h5wasm-plugins compression filters (bitshuffle, LZ4, …) installed. */
export async function h5Plugins(): Promise<void> {
  pluginsPromise ??= h5wasm.ready.then((module) => {
    install_local_plugins(module);
  });
  await pluginsPromise;
}

/** Builds an HDF5 file with `build` and renames it into place at `path`. */
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

/** Opens `path` read-only, runs `fn`, closes. */
export async function readHdf5<T>(path: string, fn: (file: H5File) => T | Promise<T>): Promise<T> {
  await h5Ready();
  if (!existsSync(path)) throw new FileAccessError('no such file', { file: path });
  let file: H5File;
  try {
    file = new h5wasm.File(path, 'r');
  } catch (err) {
    throw new FormatError(`not a readable HDF5 file: ${err instanceof Error ? err.message : String(err)}`, { file: path }, { cause: err });
  }
  try {
    return await fn(file);
  } finally {
    file.close();
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
