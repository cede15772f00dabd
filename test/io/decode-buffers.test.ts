/**
 * Issue 14: a reader that reuses its buffers from frame to frame (the CPU
 * workers, and the single-thread CPU engine) gets the same pixels as a fresh
 * decode. The pixel buffer is reused only at the image's size and every
 * element is overwritten (a buffer left full of other values decodes the
 * same); the file bytes go into a scratch that grows when a file does not fit.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FileAccessError } from '../../src/errors.ts';
import { decodeCbf, encodeCbf } from '../../src/io/cbf.ts';
import type { ReadScratch } from '../../src/io/image.ts';
import { readImage } from '../../src/io/series.ts';
import { decodeSmv, encodeSmv, type SmvByteOrder, type SmvType } from '../../src/io/smv.ts';
import { pixelMd5, seeded, tempDir } from './helpers.ts';

const tmp = tempDir('decode-buffers');
afterAll(() => tmp.remove());

function randomImage(seed: number, w: number, h: number, lo: number, hi: number): Int32Array {
  const rand = seeded(seed);
  return Int32Array.from({ length: w * h }, () => lo + Math.floor(rand() * (hi - lo + 1)));
}

describe('decoding into reused buffers (issue 14)', () => {
  it('CBF: a buffer of the image size is filled (whatever it held), another size is left alone', () => {
    const [w, h] = [53, 41];
    const a = randomImage(1, w, h, -2, 5000);
    const b = randomImage(2, w, h, -2, 70000);
    const into = new Int32Array(w * h).fill(123456789);
    for (const px of [a, b, a]) {
      const img = decodeCbf(encodeCbf({ width: w, height: h, pixels: px, headerLines: [], name: 'x' }), 'x.cbf', 0, {}, into);
      expect(img.pixels).toBe(into);
      expect(pixelMd5(img.pixels)).toBe(pixelMd5(px));
    }
    const small = new Int32Array(5).fill(9);
    const other = decodeCbf(encodeCbf({ width: w, height: h, pixels: b, headerLines: [], name: 'x' }), 'x.cbf', 0, {}, small);
    expect(other.pixels).not.toBe(small);
    expect(pixelMd5(other.pixels)).toBe(pixelMd5(b));
    expect(Array.from(small)).toEqual([9, 9, 9, 9, 9]);
  });

  it('SMV: every type and byte order decodes into a dirty buffer as into a fresh one', () => {
    const [w, h] = [37, 29];
    for (const type of ['unsigned_short', 'unsigned_long'] as SmvType[]) {
      for (const byteOrder of ['little_endian', 'big_endian'] as SmvByteOrder[]) {
        const px = randomImage(3, w, h, 0, type === 'unsigned_short' ? 65535 : 2 ** 31 - 1);
        const bytes = encodeSmv({ width: w, height: h, pixels: px, type, byteOrder });
        const into = new Int32Array(w * h).fill(-7);
        const img = decodeSmv(bytes, 'x.img', 0, {}, into);
        expect(img.pixels).toBe(into);
        expect(pixelMd5(img.pixels)).toBe(pixelMd5(decodeSmv(bytes, 'x.img').pixels));
        expect(pixelMd5(img.pixels)).toBe(pixelMd5(px));
      }
    }
  });

  it('readImage: files read into one growing scratch and decoded into one buffer give each file\'s pixels', async () => {
    const [w, h] = [64, 48];
    const images = [randomImage(4, w, h, 0, 3), randomImage(5, w, h, 0, 2 ** 30), randomImage(6, w, h, -1, 10)];
    const files = images.map((px, i) => {
      const file = join(tmp.dir, `f${i}.cbf`);
      writeFileSync(file, encodeCbf({ width: w, height: h, pixels: px, headerLines: [], name: `f${i}` }));
      return file;
    });
    const scratch: ReadScratch = { bytes: new Uint8Array(10) };
    const pixels = new Int32Array(w * h);
    // small file, large file (the scratch grows), small again (read into the grown scratch)
    for (const [i, file] of files.entries()) {
      const img = await readImage(file, { frame: i }, { file: scratch, pixels });
      expect(img.pixels).toBe(pixels);
      expect(pixelMd5(img.pixels), file).toBe(pixelMd5(images[i]!));
      expect(img.source).toEqual({ file, frame: i });
    }
    expect(scratch.bytes.length).toBeGreaterThan(w * h * 4);
    const missing = await readImage(join(tmp.dir, 'none.cbf'), { frame: 3 }, { file: scratch }).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(FileAccessError);
    expect((missing as Error).message).toMatch(/none\.cbf.*frame 3.*no such file|no such file/);
  });
});
