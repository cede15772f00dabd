/** Atomic file writes: a temporary file beside the target, then a rename. */
import { randomBytes } from 'node:crypto';
import { rm, rename, writeFile } from 'node:fs/promises';
import { FileAccessError } from '../errors.ts';

/** Writes `data` to `path` so that readers see either the old file or the whole new one. */
export async function writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    await writeFile(tmp, data);
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw new FileAccessError(`cannot write: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { file: path }, { cause: err });
  }
}
