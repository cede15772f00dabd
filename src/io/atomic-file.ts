/**
 * Atomic file writes: the bytes go to a temporary file beside the target, which
 * is renamed into place only when complete, so a reader (or a rerun after a
 * crash) sees either the old file or the whole new one, never a partial file.
 */
import { randomBytes } from 'node:crypto';
import { renameSync, rmSync, writeFileSync } from 'node:fs';
import { rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { FileAccessError } from '../errors.ts';

/** A hidden temporary name beside `path`, unique to this process and call. */
export function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}-${randomBytes(4).toString('hex')}.tmp`);
}

function writeError(path: string, err: unknown): FileAccessError {
  return new FileAccessError(`cannot write the file (${(err as NodeJS.ErrnoException).code ?? String(err)})`, { file: path }, { cause: err });
}

export async function writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
  const tmp = tempPathFor(path);
  try {
    await writeFile(tmp, data);
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
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw writeError(path, err);
  }
}
