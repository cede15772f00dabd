/**
 * A failed HDF5 write is never published (issue 13: on a full disk HDF5 closed
 * "successfully" and a corrupt wedge file was renamed into place as finished).
 * The full disk is simulated: DIFFRACT_FAULT_SHORT_WRITE cuts the written
 * temporary file to half, as a write that ran out of space leaves it.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FileAccessError } from '../../src/errors.ts';
import { readHdf5, writeHdf5Atomic, writeTableGroup } from '../../src/io/hdf5.ts';

const root = mkdtempSync(join(tmpdir(), 'diffract-h5write-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const write = (path: string, scale: number): Promise<void> =>
  writeHdf5Atomic(path, (f) => {
    writeTableGroup(f, 't', { x: Float64Array.from({ length: 20_000 }, (_v, i) => i * scale) });
  });

async function withShortWrites<T>(marker: string, fn: () => Promise<T>): Promise<T> {
  process.env.DIFFRACT_FAULT_SHORT_WRITE = marker;
  try {
    return await fn();
  } finally {
    delete process.env.DIFFRACT_FAULT_SHORT_WRITE;
  }
}

describe('writeHdf5Atomic on a write that ends short', () => {
  it('throws one FileAccessError naming the target; the earlier file stays byte for byte, no temporary is left', async () => {
    const target = join(root, 'victim.h5');
    await write(target, 1);
    const before = readFileSync(target);
    const err = await withShortWrites('victim', () => write(target, 2)).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(FileAccessError);
    const msg = (err as FileAccessError).message;
    expect(msg).toMatch(new RegExp(`^${target.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: writing HDF5 failed: the written file is incomplete \\(truncated HDF5 file: \\d+ bytes, its superblock says \\d+; disk full\\?\\); nothing was replaced$`));
    expect(readFileSync(target).equals(before)).toBe(true);
    expect(readdirSync(root).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    // the earlier content reads back
    const x = await readHdf5(target, (f) => (f.get('t/x') as { value: Float64Array }).value);
    expect(x[19_999]).toBe(19_999);
  });

  it('a new file that ends short does not appear at all; other paths are written normally', async () => {
    const target = join(root, 'victim-new.h5');
    await expect(withShortWrites('victim-new', () => write(target, 1))).rejects.toBeInstanceOf(FileAccessError);
    expect(readdirSync(root)).not.toContain('victim-new.h5');
    const other = join(root, 'other.h5');
    await withShortWrites('victim-new', () => write(other, 3));
    const x = await readHdf5(other, (f) => (f.get('t/x') as { value: Float64Array }).value);
    expect(x[10]).toBe(30);
  });
});
