import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FileAccessError, FormatError, InvalidValueError, MissingFieldError, TruncatedError } from '../../src/errors.ts';
import { decodeSmv, encodeSmv, readSmv, writeSmv, type SmvByteOrder, type SmvType } from '../../src/io/smv.ts';
import { sharedData } from '../helpers/paths.ts';
import { asText, errorOf, fromText, pixelMd5, pixelSum, rejectionOf, seeded, tempDir } from './helpers.ts';
import { SNASE } from './reference/values.ts';

describe('SMV: real snase frames', () => {
  const timings: number[] = [];
  afterAll(() => {
    const sorted = [...timings].sort((a, b) => a - b);
    console.log(`[smv] decode of a 1024×1024 uint16 frame: median ${sorted[sorted.length >> 1]?.toFixed(2)} ms`);
  });

  it.each(SNASE.map((r, i) => [i, r] as const))('frame %i decodes to the reference pixels and header', (i, ref) => {
    const file = sharedData('snase', 'images', ref.file);
    const bytes = readFileSync(file);
    const t0 = performance.now();
    const img = decodeSmv(bytes, file, i);
    timings.push(performance.now() - t0);
    expect([img.width, img.height]).toEqual([1024, 1024]);
    expect(img.source).toEqual({ file, frame: i });
    expect(pixelSum(img.pixels)).toBe(ref.sum);
    expect(pixelMd5(img.pixels)).toBe(ref.md5);
    expect(img.pixels[512 * 1024 + 512]).toBe(ref.px512);
    expect(img.pixels[100 * 1024 + 900]).toBe(ref.px900x100);
    let max = 0;
    for (let k = 0; k < img.pixels.length; k++) max = Math.max(max, img.pixels[k]!);
    expect(max).toBe(65534);

    const h = img.header;
    expect(h.format).toBe('smv');
    expect(h.phi).toBe(ref.phi);
    expect(h.startAngle).toBe(ref.phi); // OSC_START = PHI in these files
    expect(h.angleIncrement).toBe(0); // OSC_RANGE=0.000: stills
    expect(h.wavelength).toBeCloseTo(0.908, 10);
    expect(h.distance).toBeCloseTo(57.43, 10);
    expect(h.pixelSize).toEqual([0.08, 0.08]);
    expect(h.exposureTime).toBe(2);
    expect(h.beamCentre).toEqual({ x: 40.02, y: 42.64, unit: 'mm' });
    expect(h.saturation).toBe(65535);
    expect(h.pedestal).toBe(0);
    expect(h.detectorSerial).toBe('010');
    expect(h.oscillationAxis).toBe('phi');
    expect(h.timestamp).toBe('Thu May 15 13:17:42 2008');
    expect(h.raw.get('HEADER_BYTES')).toBe('512');
    expect(h.raw.get('BYTE_ORDER')).toBe('little_endian');
    expect(h.raw.get('DENZO_X_BEAM')).toBe('41.840');
    expect(h.lines[0]).toBe('HEADER_BYTES=512');
  });
});

describe('SMV: round trip in both byte orders and widths', () => {
  const cases: [SmvByteOrder, SmvType][] = [
    ['little_endian', 'unsigned_short'],
    ['big_endian', 'unsigned_short'],
    ['little_endian', 'unsigned_long'],
    ['big_endian', 'unsigned_long'],
  ];
  it.each(cases)('%s %s', (byteOrder, type) => {
    const rand = seeded(type === 'unsigned_short' ? 7 : 11);
    const w = 129;
    const h = 77;
    const max = type === 'unsigned_short' ? 65535 : 2147483647;
    const px = Int32Array.from({ length: w * h }, (_, k) => (k < 3 ? [0, max, 1][k]! : Math.floor(rand() * (max + 1))));
    const bytes = encodeSmv({ width: w, height: h, pixels: px, byteOrder, type, fields: { WAVELENGTH: 1.0332, PHI: 12.5, DETECTOR_SN: 'sim' } });
    const text = asText(bytes);
    expect(text.startsWith('{\nHEADER_BYTES=  512;\n')).toBe(true);
    expect(bytes.length).toBe(512 + w * h * (type === 'unsigned_short' ? 2 : 4));
    // the first pixel value `max` is at byte 512 + bpp, in the chosen byte order
    const second = bytes.subarray(512 + (type === 'unsigned_short' ? 2 : 4), 512 + (type === 'unsigned_short' ? 4 : 8));
    const expected = type === 'unsigned_short' ? [0xff, 0xff] : byteOrder === 'little_endian' ? [0xff, 0xff, 0xff, 0x7f] : [0x7f, 0xff, 0xff, 0xff];
    expect([...second]).toEqual(expected);
    // odd byte offset: the decoder copes with unaligned pixel data
    for (const shift of [0, 1]) {
      const buf = new Uint8Array(bytes.length + shift);
      buf.set(bytes, shift);
      const img = decodeSmv(buf.subarray(shift), 'sim.img');
      expect([img.width, img.height]).toEqual([w, h]);
      expect(pixelMd5(img.pixels)).toBe(pixelMd5(px));
      expect(img.header.raw.get('TYPE')).toBe(type);
      expect(img.header.wavelength).toBeCloseTo(1.0332, 10);
      expect(img.header.phi).toBe(12.5);
      expect(img.header.detectorSerial).toBe('sim');
    }
  });

  it('writes and reads a file', async () => {
    const tmp = tempDir('smv');
    try {
      const path = join(tmp.dir, 'frame_001.img');
      const px = Int32Array.from({ length: 64 }, (_, k) => k * 1000);
      await writeSmv(path, { width: 8, height: 8, pixels: px, byteOrder: 'big_endian' });
      const img = await readSmv(path);
      expect([...img.pixels]).toEqual([...px]);
      expect(img.source.file).toBe(path);
    } finally {
      tmp.remove();
    }
  });

  it('refuses values that do not fit the type', () => {
    const err = errorOf(() => encodeSmv({ width: 2, height: 1, pixels: Int32Array.from([1, 70000]) }));
    expect(err).toBeInstanceOf(InvalidValueError);
    expect(err.message).toContain('70000');
    expect(errorOf(() => encodeSmv({ width: 2, height: 1, pixels: Int32Array.from([-1, 0]), type: 'unsigned_long' }))).toBeInstanceOf(
      InvalidValueError,
    );
    expect(errorOf(() => encodeSmv({ width: 1, height: 1, pixels: new Int32Array(1), fields: { NOTE: 'a;b' } }))).toBeInstanceOf(
      InvalidValueError,
    );
  });
});

describe('SMV: bad input gives typed errors naming the file', () => {
  const FILE = '/data/snc_broken_00003.img';
  const good = encodeSmv({ width: 16, height: 8, pixels: Int32Array.from({ length: 128 }, (_, k) => k) });
  const text = asText(good);
  const edit = (from: string, to: string): Uint8Array => {
    expect(text).toContain(from);
    return fromText(text.replace(from, to));
  };

  it('not an SMV header', () => {
    const err = errorOf(() => decodeSmv(fromText('P5\n16 8\n255\n'), FILE, 2));
    expect(err).toBeInstanceOf(FormatError);
    expect(err.message).toContain(FILE);
    expect(err.message).toContain('frame 2');
    const unclosed = errorOf(() => decodeSmv(fromText('{\nHEADER_BYTES=512;\nSIZE1=16;'), FILE));
    expect(unclosed).toBeInstanceOf(TruncatedError);
    expect(unclosed.message).toContain("'}'");
    const json = errorOf(() => decodeSmv(fromText('{"a": 1}'), FILE));
    expect(json).toBeInstanceOf(MissingFieldError);
    expect(json.field).toBe('HEADER_BYTES');
  });

  it('missing and unusable fields', () => {
    const size = errorOf(() => decodeSmv(edit('SIZE1=16;', 'SIZEX=16;'), FILE, 5));
    expect(size).toBeInstanceOf(MissingFieldError);
    expect(size.field).toBe('SIZE1');
    expect(size.message).toContain(FILE);
    expect(size.message).toContain('frame 5');
    const bad = errorOf(() => decodeSmv(edit('SIZE2=8;', 'SIZE2=-8;'), FILE));
    expect(bad).toBeInstanceOf(InvalidValueError);
    expect(bad.field).toBe('SIZE2');
    const order = errorOf(() => decodeSmv(edit('BYTE_ORDER=little_endian;', 'BYTE_ORDER=middle_endian;'), FILE));
    expect(order).toBeInstanceOf(InvalidValueError);
    expect(order.field).toBe('BYTE_ORDER');
    const type = errorOf(() => decodeSmv(edit('TYPE=unsigned_short;', 'TYPE=float_ieee;'), FILE));
    expect(type).toBeInstanceOf(InvalidValueError);
    expect(type.field).toBe('TYPE');
    expect(type.message).toContain('float_ieee');
    const header = errorOf(() => decodeSmv(edit('HEADER_BYTES=  512;', 'HEADER_BYTES=   16;'), FILE));
    expect(header).toBeInstanceOf(FormatError);
    expect(header.field).toBe('HEADER_BYTES');
  });

  it('short data', () => {
    const err = errorOf(() => decodeSmv(good.subarray(0, good.length - 3), FILE, 1));
    expect(err).toBeInstanceOf(TruncatedError);
    expect(err.message).toContain('need 256 bytes');
    expect(err.message).toContain(FILE);
    expect(err.frame).toBe(1);
    const wrongSize = errorOf(() => decodeSmv(good, FILE, 1, { expectedSize: [1024, 1024] }));
    expect(wrongSize).toBeInstanceOf(InvalidValueError);
    expect(wrongSize.message).toContain('16×8');
  });

  it('32-bit values above 2³¹−1', () => {
    const bytes = encodeSmv({ width: 2, height: 2, pixels: Int32Array.from([1, 2, 3, 4]), type: 'unsigned_long' });
    bytes.set([0xff, 0xff, 0xff, 0xff], 512 + 3 * 4);
    const err = errorOf(() => decodeSmv(bytes, FILE));
    expect(err).toBeInstanceOf(InvalidValueError);
    expect(err.message).toContain('pixel (x=1, y=1) holds 4294967295');
    expect(err.message).toContain(FILE);
  });

  it('missing file', async () => {
    const err = await rejectionOf(readSmv('/nonexistent/snc_00001.img'));
    expect(err).toBeInstanceOf(FileAccessError);
    expect(err.message).toContain('/nonexistent/snc_00001.img');
  });
});
