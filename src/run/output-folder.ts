/**
 * The output folder of `diffract run`, made ready before any computation: every
 * missing folder is created one level at a time (Node's recursive mkdir loops
 * forever under /proc), the kernel's virtual file systems (/proc, /sys) are
 * refused, and a probe file is written and removed, so an unusable `output` is
 * one line naming the key, not an error after hours of work.
 */
import { mkdirSync, rmSync, statfsSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { FileAccessError } from '../errors.ts';
import { tempPathFor } from '../io/atomic-file.ts';

/** statfs magic numbers of file systems that hold no files (linux/magic.h). */
const VIRTUAL_FILE_SYSTEMS = new Map<number, string>([
  [0x9fa0, 'proc'],
  [0x62656572, 'sysfs'],
  [0x64626720, 'debugfs'],
  [0x27e0eb, 'cgroup'],
  [0x63677270, 'cgroup2'],
]);

function codeOf(err: unknown): string {
  return (err as NodeJS.ErrnoException).code ?? String(err);
}

/** Creates `dir` (and missing parents) and checks that a file can be written there; throws a FileAccessError naming `field`. */
export function prepareOutputFolder(dir: string, field = 'output'): void {
  const fail = (why: string, cause?: unknown): FileAccessError => new FileAccessError(`cannot use the output folder: ${why}`, { file: dir, field }, cause === undefined ? undefined : { cause });
  const missing: string[] = [];
  let p = resolve(dir);
  for (;;) {
    let isDir: boolean;
    try {
      isDir = statSync(p).isDirectory();
    } catch (err) {
      const code = codeOf(err);
      if (code !== 'ENOENT' || dirname(p) === p) throw fail(`${p}: ${code}`, err);
      missing.push(p);
      p = dirname(p);
      continue;
    }
    if (!isDir) throw fail(`${p} is not a folder`);
    break;
  }
  let fsType: number;
  try {
    fsType = statfsSync(p).type;
  } catch (err) {
    throw fail(`${p}: ${codeOf(err)}`, err);
  }
  const virtual = VIRTUAL_FILE_SYSTEMS.get(fsType);
  if (virtual !== undefined) throw fail(`${p} is on the kernel's ${virtual} file system, which holds no files`);
  for (const m of missing.reverse()) {
    try {
      mkdirSync(m);
    } catch (err) {
      if (codeOf(err) !== 'EEXIST') throw fail(`cannot create ${m} (${codeOf(err)})`, err);
    }
  }
  const probe = tempPathFor(join(dir, 'write-probe'));
  try {
    writeFileSync(probe, 'diffract write probe\n');
  } catch (err) {
    rmSync(probe, { force: true });
    throw fail(`cannot write a file there (${codeOf(err)})`, err);
  }
  rmSync(probe, { force: true });
}
