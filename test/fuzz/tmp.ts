/** A temporary folder for fuzz inputs that a reader must take as a file. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';

/** A folder removed after the suite; `put(name, bytes)` writes a file there and gives its path. */
export function fuzzFolder(prefix: string): { dir: string; put: (name: string, data: Uint8Array | string) => string } {
  const dir = mkdtempSync(join(tmpdir(), `diffract-fuzz-${prefix}-`));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  return {
    dir,
    put: (name, data) => {
      const p = join(dir, name);
      writeFileSync(p, data);
      return p;
    },
  };
}
