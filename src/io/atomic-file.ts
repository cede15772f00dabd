/**
 * Atomic file writes: the bytes go to a temporary file beside the target, which
 * is renamed into place only when complete, so a reader (or a rerun after a
 * crash) sees either the old file or the whole new one, never a partial file.
 */
import { randomBytes } from 'node:crypto';
import { renameSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { rename, rm, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { FileAccessError } from '../errors.ts';

/**
 * Fault injection for tests of write failures (a full disk): when the
 * environment variable DIFFRACT_FAULT_ENOSPC is set and `path` contains its
 * value, the write fails as the file system would with ENOSPC. Never set in
 * normal use.
 */
export function simulatedWriteFault(path: string): void {
  const marker = process.env.DIFFRACT_FAULT_ENOSPC;
  if (marker === undefined || marker === '' || !path.includes(marker)) return;
  const err = new Error(`ENOSPC: no space left on device, write '${path}'`) as NodeJS.ErrnoException;
  err.code = 'ENOSPC';
  throw err;
}

/**
 * Fault injection for tests of a write that fails silently (HDF5 on a full
 * disk closes without an error but leaves the file short): when the
 * environment variable DIFFRACT_FAULT_SHORT_WRITE is set and `path` contains
 * its value, the written temporary file `tmp` is cut to half its length.
 * Never set in normal use.
 */
export function simulatedShortWrite(path: string, tmp: string): void {
  const marker = process.env.DIFFRACT_FAULT_SHORT_WRITE;
  if (marker === undefined || marker === '' || !path.includes(marker)) return;
  truncateSync(tmp, Math.floor(statSync(tmp).size / 2));
}

/**
 * This host's name as it appears in temporary file names: letters, digits and
 * '-' only (anything else becomes '_'), so that processes on different hosts
 * writing into one shared folder (the shards of `diffract run --shard`) never
 * pick the same temporary name even when their process ids are equal.
 */
export function hostTag(): string {
  return hostname().replace(/[^A-Za-z0-9-]/g, '_') || 'host';
}

/** A hidden temporary name beside `path`, unique to this host, process and call: `.<name>~<host>.<pid>-<8 hex>.tmp`. */
export function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}~${hostTag()}.${process.pid}-${randomBytes(4).toString('hex')}.tmp`);
}

/** The host and process that wrote a temporary file of `tempPathFor` (host null: the older `.<name>.<pid>-<hex>.tmp` form), or null when `name` is not one. */
export function tempFileOwner(name: string): { host: string | null; pid: number } | null {
  const m = /^\..+?(?:~([A-Za-z0-9_-]+))?\.(\d+)-[0-9a-f]{8}\.tmp$/.exec(name);
  if (m === null) return null;
  return { host: m[1] ?? null, pid: Number(m[2]) };
}

function writeError(path: string, err: unknown): FileAccessError {
  const code = (err as NodeJS.ErrnoException).code;
  const why = code === 'ENOSPC' ? 'no space left on device (ENOSPC)' : code === 'EDQUOT' ? 'disk quota exceeded (EDQUOT)' : (code ?? String(err));
  return new FileAccessError(`cannot write the file: ${why}; nothing was replaced`, { file: path }, { cause: err });
}

export async function writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
  const tmp = tempPathFor(path);
  try {
    await writeFile(tmp, data);
    simulatedWriteFault(path);
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw writeError(path, err);
  }
}

export function writeFileAtomicSync(path: string, data: Uint8Array | string): void {
  const tmp = tempPathFor(path);
  try {
    writeFileSync(tmp, data);
    simulatedWriteFault(path);
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw writeError(path, err);
  }
}
