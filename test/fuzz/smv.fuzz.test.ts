/** Fuzz: the SMV reader takes mutants of a real ADSC frame (cut small) and gives an image or a typed error (issue 13). */
import { describe, expect, it } from 'vitest';
import { TruncatedError } from '../../src/errors.ts';
import type { DetectorImage } from '../../src/io/image.ts';
import { decodeSmv, encodeSmv } from '../../src/io/smv.ts';
import { errorOf } from '../io/helpers.ts';
import { expectTypedOrValid, fuzz, mutantArb } from './mutate.ts';
import { crop, smallSmv } from './seeds.ts';

const FILE = 'fuzz-frame.img';

function validImage(img: DetectorImage): void {
  expect(Number.isSafeInteger(img.width) && img.width > 0).toBe(true);
  expect(Number.isSafeInteger(img.height) && img.height > 0).toBe(true);
  expect(img.pixels.length).toBe(img.width * img.height);
}

describe('SMV reader fuzz', () => {
  const seed = smallSmv();
  const base = decodeSmv(seed, FILE);
  const big = encodeSmv({ width: 8, height: 6, pixels: crop(base.pixels, base.width, 8, 6), byteOrder: 'big_endian', type: 'unsigned_long', fields: { WAVELENGTH: 0.908 } });

  it('the seeds are valid frames (cut from the real snase image)', () => {
    expect([base.width, base.height]).toEqual([20, 12]);
    expect(base.header.wavelength).toBeCloseTo(0.908, 6);
    expect([...decodeSmv(big, FILE).pixels]).toEqual([...crop(base.pixels, base.width, 8, 6)]);
  });

  it('mutants give an image or a typed error naming the file', () => {
    fuzz([mutantArb([seed, big], { focus: 512 })], (bytes) => expectTypedOrValid(() => decodeSmv(bytes, FILE), FILE, validImage), 800);
  });

  it('a header claiming a huge image is refused before allocating', () => {
    const text = Buffer.from(seed).toString('latin1');
    for (const [w, h] of [[100000, 100000], [65536, 65536], [1 << 30, 4]] as const) {
      const bytes = Buffer.from(text.replace(/SIZE1=\d+;/, `SIZE1=${w};`).replace(/SIZE2=\d+;/, `SIZE2=${h};`), 'latin1');
      const err = errorOf(() => decodeSmv(bytes, FILE));
      expect(err).toBeInstanceOf(TruncatedError);
      expect(err.message).toContain(FILE);
    }
    const hb = Buffer.from(text.replace(/HEADER_BYTES=\s*\d+;/, 'HEADER_BYTES=99999999999;'), 'latin1');
    expect(errorOf(() => decodeSmv(hb, FILE))).toBeInstanceOf(TruncatedError);
  });
});
