/**
 * Checkpoints of `diffract run`: which stage results (and which wedges) are
 * already done, keyed by a hash of everything they were computed from.
 *
 * - A key is the SHA-256 of the canonical JSON (object keys sorted) of the
 *   stage's settings and the keys of its inputs, so a changed setting changes
 *   the key of that stage and of every stage downstream of it, and of no other.
 * - Input files enter by fingerprint: small files that carry settings (the
 *   .expt, a mask, a sequence) by their content hash; image files by path,
 *   size and modification time (hashing terabytes of frames on every rerun
 *   would cost more than the work it saves).
 * - A stage's result files carry its key in their names
 *   (`integrated-<key>.h5`); a record `<stage>.json` in the checkpoint folder,
 *   written atomically after every result file is in place, says the stage is
 *   done. A result is taken as done only when its record exists, names the same
 *   key, and every file it lists exists: a run killed at any moment leaves at
 *   worst a temporary file (never taken as done, and swept at the next start)
 *   or a result without its record (recomputed). A listed HDF5 file that is
 *   not whole (no HDF5 signature, shorter than its superblock says: a write
 *   that ran out of disk) makes the stage not done, with a warning.
 * - Wedge results need no record: each is one file written atomically under a
 *   name holding its key, so its presence is the proof, once its layout is
 *   checked (`wedgeFileProblem`, src/io/integrate-file.ts).
 */
import { createHash } from 'node:crypto';
import { closeSync, existsSync, openSync, readdirSync, readFileSync, readSync, rmSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { FileAccessError } from '../errors.ts';
import { hostTag, tempFileOwner, writeFileAtomic } from '../io/atomic-file.ts';
import { checkHdf5File } from '../io/hdf5.ts';

/** JSON with object keys sorted (equal values → equal text). */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map((v) => canonicalJson(v)).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

/** The key of a piece of work: SHA-256 (hex) of the canonical JSON of what it depends on. */
export function hashKey(parts: unknown): string {
  return createHash('sha256').update(canonicalJson(parts)).digest('hex');
}

/** The first 16 hex digits of a key, for file names. */
export function shortKey(key: string): string {
  return key.slice(0, 16);
}

/** SHA-256 of a file's bytes (settings files, indexing results), read in pieces. */
export function contentHash(path: string): string {
  // read in 1 MiB pieces: a large .refl or .stream is hashed without holding it
  const hash = createHash('sha256');
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
    const buf = Buffer.allocUnsafe(HASH_PIECE_BYTES);
    for (let n = readSync(fd, buf, 0, buf.length, null); n > 0; n = readSync(fd, buf, 0, buf.length, null)) hash.update(buf.subarray(0, n));
    return hash.digest('hex');
  } catch (err) {
    throw new FileAccessError(`cannot read the file (${(err as NodeJS.ErrnoException).code ?? String(err)})`, { file: path }, { cause: err });
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

const HASH_PIECE_BYTES = 1 << 20;


/** What a finished stage left behind. */
export interface StageRecord {
  stage: string;
  key: string;
  /** result files (absolute paths here; the record on disk holds them relative to the output folder) */
  outputs: string[];
  /** the stage's summary (counts etc.) as it was when computed */
  summary: Record<string, unknown>;
}

/**
 * The checkpoint records of one output folder. The records hold the result
 * files relative to the output folder `root`, so that an output folder copied
 * or moved elsewhere reuses its own files (absolute paths made a copy reuse
 * the original's files and delete its own as unused). Records of older runs
 * with absolute paths still resolve to the same files.
 */
export class CheckpointStore {
  constructor(
    readonly dir: string,
    readonly root: string,
  ) {}

  private recordPath(stage: string): string {
    return join(this.dir, `${stage.replace(/[^A-Za-z0-9_.-]/g, '_')}.json`);
  }

  /**
   * The record of `stage` when it is done with exactly `key` and its result
   * files are whole, else null; `unusable` hears of a listed file that exists
   * but cannot be used (the stage is then recomputed).
   */
  done(stage: string, key: string, unusable?: (file: string, why: string) => void): StageRecord | null {
    const p = this.recordPath(stage);
    if (!existsSync(p)) return null;
    let rec: StageRecord;
    try {
      rec = JSON.parse(readFileSync(p, 'utf8')) as StageRecord;
    } catch {
      return null; // unreadable record: the work is redone
    }
    if (rec.key !== key || !Array.isArray(rec.outputs) || !rec.outputs.every((f) => typeof f === 'string')) return null;
    rec = { ...rec, outputs: rec.outputs.map((f) => resolve(this.root, f)) };
    if (!rec.outputs.every((f) => existsSync(f))) return null;
    for (const f of rec.outputs) {
      const why = outputProblem(f);
      if (why !== null) {
        unusable?.(f, why);
        return null;
      }
    }
    return rec;
  }

  /** Marks `stage` done (after its outputs are in place). */
  async put(rec: StageRecord): Promise<void> {
    const stored: StageRecord = { ...rec, outputs: rec.outputs.map((f) => relative(this.root, f)) };
    await writeFileAtomic(this.recordPath(rec.stage), `${JSON.stringify(stored, null, 1)}\n`);
  }
}

/** Why a checkpointed result file cannot be used, or null (HDF5 files: signature and length; others: present). */
export function outputProblem(file: string): string | null {
  if (!/\.(h5|nxs)$/.test(file)) return null;
  try {
    checkHdf5File(file);
    return null;
  } catch (err) {
    return (err instanceof Error ? err.message : String(err)).replace(`${file}: `, '');
  }
}

/** A temporary file of another host older than this is taken as abandoned (its writer cannot be asked whether it still runs). */
const FOREIGN_TEMPORARY_AGE_MS = 24 * 3600 * 1000;

/** Whether process `pid` of this host still runs. */
function processAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes temporary files (`.name~host.pid-xxxx.tmp`, src/io/atomic-file.ts)
 * left in `dir` by a killed run; returns how many. Shards of one run may write
 * into the folder at the same time, from this host and others, so only what
 * is certainly abandoned goes: this host's files whose process is gone, and
 * other hosts' files older than a day.
 */
export function sweepTemporaries(dir: string): number {
  if (!existsSync(dir)) return 0;
  const me = hostTag();
  let n = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) {
      n += sweepTemporaries(p);
      continue;
    }
    const owner = tempFileOwner(entry.name);
    if (owner === null) continue;
    const abandoned = owner.host === null || owner.host === me ? !processAlive(owner.pid) : ageMs(p) > FOREIGN_TEMPORARY_AGE_MS;
    if (abandoned) {
      rmSync(p, { force: true });
      n++;
    }
  }
  return n;
}

function ageMs(path: string): number {
  try {
    return Date.now() - statSync(path).mtimeMs;
  } catch {
    return 0; // gone already (renamed into place by its writer)
  }
}
