/** Fuzz: the miniCBF reader takes mutants of a real Pilatus frame (cut small) and gives an image or a typed error (issue 13). */
import { describe, expect, it } from 'vitest';
import { InvalidValueError, TruncatedError } from '../../src/errors.ts';
import type { DetectorImage } from '../../src/io/image.ts';
import { decodeCbf, encodeCbf } from '../../src/io/cbf.ts';
import { errorOf } from '../io/helpers.ts';
import { expectTypedOrValid, fuzz, mutantArb } from './mutate.ts';
import { smallCbf } from './seeds.ts';

const FILE = 'fuzz-frame.cbf';

function validImage(img: DetectorImage): void {
  expect(Number.isSafeInteger(img.width) && img.width > 0).toBe(true);
  expect(Number.isSafeInteger(img.height) && img.height > 0).toBe(true);
  expect(img.pixels.length).toBe(img.width * img.height);
}

/** `bytes` with one header line's value replaced. */
function withHeader(bytes: Uint8Array, key: string, value: string): Uint8Array {
  const text = Buffer.from(bytes).toString('latin1');
  const re = new RegExp(`${key}: [^\\r\\n]*`);
  expect(re.test(text)).toBe(true);
  return new Uint8Array(Buffer.from(text.replace(re, `${key}: ${value}`), 'latin1'));
}

describe('CBF reader fuzz', () => {
  const seed = smallCbf();
  const binaryAt = Buffer.from(seed).indexOf(Buffer.from([0x0c, 0x1a, 0x04, 0xd5]));

  it('the seed is a valid frame (24×16 of the real l-cysteine image)', () => {
    const img = decodeCbf(seed, FILE);
    expect([img.width, img.height]).toEqual([24, 16]);
    expect(img.header.wavelength).toBeCloseTo(0.6889, 6);
  });

  it('mutants give an image or a typed error naming the file', () => {
    fuzz([mutantArb([seed], { focus: binaryAt + 8 })], (bytes) => expectTypedOrValid(() => decodeCbf(bytes, FILE), FILE, validImage), 600);
  });

  it('mutants with the MD5 check off reach the byte-offset decoder', () => {
    fuzz([mutantArb([seed])], (bytes) => expectTypedOrValid(() => decodeCbf(bytes, FILE, 3, { verifyMd5: false }), FILE, validImage), 400);
  });

  it('a header claiming a huge image is refused before allocating', () => {
    for (const [w, h] of [[100000, 100000], [65536, 32768], [1 << 20, 1]] as const) {
      let bytes = withHeader(seed, 'X-Binary-Size-Fastest-Dimension', String(w));
      bytes = withHeader(bytes, 'X-Binary-Size-Second-Dimension', String(h));
      bytes = withHeader(bytes, 'X-Binary-Number-of-Elements', String(w * h));
      const err = errorOf(() => decodeCbf(bytes, FILE, undefined, { verifyMd5: false }));
      expect(err).toBeInstanceOf(TruncatedError);
      expect(err.message).toContain(FILE);
    }
  });

  it('an X-Binary-Size beyond the file is a TruncatedError, not an allocation', () => {
    const err = errorOf(() => decodeCbf(withHeader(seed, 'X-Binary-Size', '99999999999'), FILE));
    expect(err).toBeInstanceOf(TruncatedError);
    const bad = errorOf(() => decodeCbf(withHeader(seed, 'X-Binary-Size', '1e9'), FILE));
    expect(bad).toBeInstanceOf(InvalidValueError);
    expect(bad.field).toBe('X-Binary-Size');
  });

  it('every byte-offset escape width decodes back (seed with large deltas)', () => {
    const pixels = new Int32Array([0, 127, -128, 32767, -32768, 2147483647, -2147483648, 5]);
    const img = decodeCbf(encodeCbf({ width: 4, height: 2, pixels }), FILE);
    expect([...img.pixels]).toEqual([...pixels]);
  });
});
