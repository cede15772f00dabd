/**
 * Which sources `POST /api/source` may switch the viewer to: the sources it
 * was started with (as given, and their files), and files under the folders
 * allowed explicitly (`diffract view --allow DIR`). Anything else is refused
 * with a 403 before it is opened or even looked up, so the page (or anything
 * that reaches the port) cannot make the server open, size or serve an
 * arbitrary file it can read (issue 13: /etc/shadow was opened and any HDF5
 * could be read back through /api/image).
 *
 * Paths are compared after resolving symbolic links (and `..`), so a link or
 * a relative path cannot lead out of an allowed folder.
 */
import { realpathSync, statSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { UsageError } from '../errors.ts';
import { HttpError } from './http.ts';
import { sourceSpecFile } from './live.ts';

/** `path` with its symbolic links resolved, as far as it exists (a missing file: its folder's real path and its name). */
function canonical(path: string): string {
  const abs = resolve(path);
  try {
    return realpathSync(abs);
  } catch {
    try {
      return join(realpathSync(dirname(abs)), basename(abs));
    } catch {
      return abs;
    }
  }
}

function inside(file: string, folder: string): boolean {
  const r = relative(folder, file);
  return r !== '' && !r.startsWith('..') && !isAbsolute(r);
}

/** Refuses an allowed folder that does not exist or is not a folder (UsageError naming --allow). */
export function checkAllowFolders(folders: readonly string[]): void {
  for (const f of folders) {
    const st = statSync(f, { throwIfNoEntry: false });
    if (st === undefined || !st.isDirectory()) throw new UsageError(`--allow needs an existing folder, got '${f}'${st === undefined ? ' (no such folder)' : ' (not a folder)'}`, { field: '--allow' });
  }
}

export class SourceAllowList {
  private readonly specs: ReadonlySet<string>;
  private readonly files: ReadonlySet<string>;
  private readonly folders: readonly string[];

  /** `initial`: the sources given at the start; `folders`: existing folders whose files (at any depth) may be opened. */
  constructor(initial: readonly string[], folders: readonly string[] = []) {
    checkAllowFolders(folders);
    this.specs = new Set(initial);
    this.files = new Set(initial.map(sourceSpecFile).filter((p): p is string => p !== null).map(canonical));
    this.folders = folders.map(canonical);
  }

  /** Whether `spec` may be opened. ZeroMQ endpoints only as given at the start. */
  allows(spec: string): boolean {
    if (this.specs.has(spec)) return true;
    const file = sourceSpecFile(spec);
    if (file === null || file.trim() === '') return false;
    const c = canonical(file);
    return this.files.has(c) || this.folders.some((d) => inside(c, d));
  }

  /** Throws a 403 naming the first of `specs` that is not allowed. */
  check(specs: readonly string[]): void {
    for (const s of specs) {
      if (this.allows(s)) continue;
      const where = this.folders.length > 0 ? `, and files under the --allow folders (${this.folders.length})` : '; start it with --allow DIR to open other files';
      throw new HttpError(403, `${s}: not allowed: the viewer opens only the sources given on its command line${where}`);
    }
  }
}
