/** Small helpers shared by the test/io suites. */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DiffractError } from '../../src/errors.ts';

/** The DiffractError thrown by `fn` (fails when it throws nothing or something else). */
export function errorOf(fn: () => unknown): DiffractError {
  try {
    fn();
  } catch (err) {
    if (err instanceof DiffractError) return err;
    throw err;
  }
  throw new Error('expected a DiffractError, nothing was thrown');
}

/** The DiffractError a promise rejects with. */
export async function rejectionOf(p: Promise<unknown>): Promise<DiffractError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof DiffractError) return err;
    throw err;
  }
  throw new Error('expected a DiffractError, the promise resolved');
}

/** Sum of the pixels (exact: |sum| stays far below 2⁵³ here). */
export function pixelSum(pixels: Int32Array): number {
  let s = 0;
  for (let i = 0; i < pixels.length; i++) s += pixels[i]!;
  return s;
}

/** MD5 (hex) of the pixels as little-endian int32 (the reference script's convention; the host is little-endian). */
export function pixelMd5(pixels: Int32Array): string {
  return createHash('md5').update(new Uint8Array(pixels.buffer, pixels.byteOffset, pixels.byteLength)).digest('hex');
}

/** A seeded PRNG (mulberry32) giving floats in [0, 1). */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A fresh temporary folder and its remover. */
export function tempDir(prefix: string): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), `diffract-${prefix}-`));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** bytes → latin1 text and back (1:1, safe for binary data) */
export function asText(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
}
export function fromText(text: string): Uint8Array {
  return new Uint8Array(Buffer.from(text, 'latin1'));
}
