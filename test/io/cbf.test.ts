import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FileAccessError, FormatError, InvalidValueError, MissingFieldError, TruncatedError } from '../../src/errors.ts';
import { compressByteOffset, decodeCbf, decompressByteOffset, encodeCbf, readCbf, writeCbf } from '../../src/io/cbf.ts';
import { sharedData } from '../helpers/paths.ts';
import { asText, errorOf, fromText, pixelMd5, pixelSum, rejectionOf, seeded, tempDir } from './helpers.ts';
import { L_CYSTEINE, L_CYSTEINE_BAD_PIXELS, L_CYSTEINE_GAP_PIXELS, L_CYSTEINE_PIXELS } from './reference/values.ts';

const W = 1475;
const H = 1679;
const imagePath = (name: string): string => sharedData('l-cysteine', 'images', name);

/** −1 exactly where the Pilatus 2M has no sensor: 3×8 modules of 487×195 pixels, gaps of 7 (x) and 17 (y) pixels. */
function isModuleGap(x: number, y: number): boolean {
  const inModuleX = x % (487 + 7) < 487;
  const inModuleY = y % (195 + 17) < 195;
  return !(inModuleX && inModuleY);
}

describe('miniCBF: real l-cysteine Pilatus 2M frames', () => {
  const timings: number[] = [];
  afterAll(() => {
    const sorted = [...timings].sort((a, b) => a - b);
    console.log(`[cbf] decode of a ${W}×${H} frame incl. MD5: median ${sorted[sorted.length >> 1]?.toFixed(1)} ms, min ${sorted[0]?.toFixed(1)} ms`);
  });

  it.each(L_CYSTEINE.map((r, i) => [i, r] as const))('frame %i decodes to the reference pixels', (i, ref) => {
    const file = imagePath(ref.file);
    const bytes = readFileSync(file);
    const t0 = performance.now();
    const img = decodeCbf(bytes, file, i);
    timings.push(performance.now() - t0);
    expect([img.width, img.height]).toEqual([W, H]);
    expect(img.source).toEqual({ file, frame: i });
    expect(pixelSum(img.pixels)).toBe(ref.sum);
    expect(pixelMd5(img.pixels)).toBe(ref.md5);
    let gaps = 0;
    let bad = 0;
    let counts = 0;
    let max = -Infinity;
    for (let k = 0; k < img.pixels.length; k++) {
      const v = img.pixels[k]!;
      if (v === -1) gaps++;
      else if (v === -2) bad++;
      if (v >= 0) counts += v;
      max = Math.max(max, v);
    }
    expect(gaps).toBe(L_CYSTEINE_GAP_PIXELS);
    expect(bad).toBe(L_CYSTEINE_BAD_PIXELS);
    expect(counts).toBe(ref.sumCounts);
    expect(max).toBe(ref.max);
    expect(img.pixels[ref.maxAt[1] * W + ref.maxAt[0]]).toBe(ref.max);
    for (const [frame, x, y, value] of L_CYSTEINE_PIXELS) {
      if (frame === i) expect(img.pixels[y * W + x]).toBe(value);
    }
    // plausible photon counts: mostly empty 0.1° frames, nothing near the count cut-off
    expect(counts / (W * H - gaps - bad)).toBeLessThan(0.1);
    expect(max).toBeLessThan(img.header.saturation!);
  });

  it('−1 marks exactly the module gaps of a Pilatus 2M (24 modules of 487×195)', async () => {
    const img = await readCbf(imagePath('l-cyst_01_00001.cbf'));
    let mismatches = 0;
    let expectedGaps = 0;
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        const gap = isModuleGap(x, y);
        if (gap) expectedGaps++;
        if (gap !== (img.pixels[y * W + x] === -1)) mismatches++;
      }
    }
    expect(expectedGaps).toBe(W * H - 24 * 487 * 195);
    expect(expectedGaps).toBe(L_CYSTEINE_GAP_PIXELS);
    expect(mismatches).toBe(0);
  });

  it('reads the PILATUS header fields in diffract units', async () => {
    const img = await readCbf(imagePath('l-cyst_01_00001.cbf'));
    const h = img.header;
    expect(h.format).toBe('cbf');
    expect(h.wavelength).toBeCloseTo(0.6889, 10);
    expect(h.exposureTime).toBeCloseTo(0.0964, 10);
    expect(h.exposurePeriod).toBeCloseTo(0.1, 10);
    expect(h.startAngle).toBe(-145);
    expect(h.angleIncrement).toBeCloseTo(0.1, 10);
    expect(h.pixelSize?.[0]).toBeCloseTo(0.172, 10); // 172e-6 m
    expect(h.pixelSize?.[1]).toBeCloseTo(0.172, 10);
    expect(h.distance).toBeCloseTo(160, 10); // 0.16000 m
    expect(h.beamCentre).toEqual({ x: 730, y: 865, unit: 'px' });
    expect(h.saturation).toBe(388705);
    expect(h.detector).toBe('PILATUS 2M, S/N 24-0107 Diamond');
    expect(h.detectorSerial).toBe('24-0107');
    expect(h.timestamp).toBe('2016-03-05T09:01:45.613');
    expect(h.sensorMaterial).toBe('Silicon');
    expect(h.sensorThickness).toBeCloseTo(0.32, 10);
    expect(h.oscillationAxis).toBe('OMEGA');
    expect(h.omega).toBe(-145);
    expect(h.chi).toBeCloseTo(-54.7, 10);
    expect(h.phi).toBe(0);
    expect(h.twoTheta).toBe(30);
    expect(h.polarization).toBeCloseTo(0.99, 10);
    // raw map: PILATUS lines, CIF items and the binary MIME fields
    expect(h.raw.get('Wavelength')).toBe('0.68890 A');
    expect(h.raw.get('Tau')).toBe('124.0e-09 s');
    expect(h.raw.get('_array_data.header_convention')).toBe('PILATUS_1.2');
    expect(h.raw.get('X-Binary-Size')).toBe('2476549');
    expect(h.raw.get('Content-MD5')).toBe('WJ+xxsiUxrAgcDo0PSzCoA==');
    expect(h.lines[0]).toBe('Detector: PILATUS 2M, S/N 24-0107 Diamond');
    expect(h.lines).toHaveLength(37);
    // the later frames step by the increment
    const f5 = await readCbf(imagePath('l-cyst_01_00005.cbf'));
    expect(f5.header.startAngle).toBeCloseTo(-144.6, 10);
  });

  it('compresses a real frame back to the detector’s own bytes', () => {
    const file = imagePath('l-cyst_01_00004.cbf');
    const bytes = readFileSync(file);
    const img = decodeCbf(bytes, file);
    const start = bytes.indexOf(Buffer.from([0x0c, 0x1a, 0x04, 0xd5])) + 4;
    const size = Number(img.header.raw.get('X-Binary-Size'));
    const ours = compressByteOffset(img.pixels);
    expect(ours.length).toBe(size);
    expect(Buffer.compare(Buffer.from(ours), bytes.subarray(start, start + size))).toBe(0);
  });
});

describe('byte-offset compression', () => {
  it('writes every escape width as the format defines it', () => {
    // Δ: 0, 127 (1 byte), −128 and 32767 (16-bit), −32768 (32-bit: −32768 is the 16-bit escape),
    // 2147483649 and −4294967295 (64-bit)
    const values = Int32Array.from([0, 127, -1, 32766, -2, 2147483647, -2147483648]);
    const expected = [
      0x00,
      0x7f,
      0x80, 0x80, 0xff,
      0x80, 0xff, 0x7f,
      0x80, 0x00, 0x80, 0x00, 0x80, 0xff, 0xff,
      0x80, 0x00, 0x80, 0x00, 0x00, 0x00, 0x80, 0x01, 0x00, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00,
      0x80, 0x00, 0x80, 0x00, 0x00, 0x00, 0x80, 0x01, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff,
    ];
    const packed = compressByteOffset(values);
    expect([...packed]).toEqual(expected);
    const out = new Int32Array(values.length);
    const r = decompressByteOffset(packed, 0, packed.length, out);
    expect(r).toEqual({ decoded: values.length, end: packed.length, cutEscape: false });
    expect([...out]).toEqual([...values]);
  });

  it('reads a 32-bit delta written in 64-bit form', () => {
    // 1000 as a 64-bit delta (legal, if not the shortest form)
    const packed = Uint8Array.from([0x80, 0x00, 0x80, 0x00, 0x00, 0x00, 0x80, 0xe8, 0x03, 0, 0, 0, 0, 0, 0, 0x05]);
    const out = new Int32Array(2);
    decompressByteOffset(packed, 0, packed.length, out);
    expect([...out]).toEqual([1000, 1005]);
  });

  it('round-trips random Int32 images through encodeCbf/decodeCbf bit for bit', () => {
    const rand = seeded(20240611);
    const w = 317;
    const h = 211;
    for (let trial = 0; trial < 4; trial++) {
      const px = new Int32Array(w * h);
      for (let k = 0; k < px.length; k++) {
        const u = rand();
        px[k] =
          u < 0.5 ? Math.floor(rand() * 20) // small counts: 1-byte deltas
          : u < 0.7 ? Math.floor(rand() * 60000) - 30000 // 16-bit deltas
          : u < 0.8 ? Math.floor(rand() * 2e9) - 1e9 // 32-bit deltas
          : u < 0.85 ? (rand() < 0.5 ? 2147483647 : -2147483648) // extremes: 64-bit deltas
          : u < 0.95 ? -1 // gap marker
          : -2; // bad marker
      }
      const bytes = encodeCbf({ width: w, height: h, pixels: px, headerLines: [`Trial ${trial}`], name: `t${trial}` });
      const img = decodeCbf(bytes, 'memory.cbf');
      expect([img.width, img.height]).toEqual([w, h]);
      expect(pixelMd5(img.pixels)).toBe(pixelMd5(px));
      expect(img.header.lines).toEqual([`Trial ${trial}`]);
    }
  });

  it('writes a miniCBF laid out as the detectors and CBFlib write it', async () => {
    const px = Int32Array.from({ length: 12 }, (_, k) => k * 1000 - 1);
    const headerLines = ['Detector: PILATUS 2M, S/N 24-0107', 'Wavelength 0.68890 A', 'Start_angle -145.0000 deg.'];
    const bytes = encodeCbf({ width: 4, height: 3, pixels: px, headerLines });
    const text = asText(bytes);
    expect(text.startsWith('###CBF: VERSION 1.5')).toBe(true);
    expect(text).toContain('\r\n_array_data.header_convention "PILATUS_1.2"\r\n_array_data.header_contents\r\n;\r\n# Detector: PILATUS 2M');
    expect(text).toContain('\r\n_array_data.data\r\n;\r\n--CIF-BINARY-FORMAT-SECTION--\r\n');
    expect(text).toContain('conversions="x-CBF_BYTE_OFFSET"');
    expect(text).toContain('X-Binary-Element-Type: "signed 32-bit integer"');
    expect(text).toContain('X-Binary-Size-Fastest-Dimension: 4\r\nX-Binary-Size-Second-Dimension: 3');
    expect(text).toContain('\r\n\r\n\x0c\x1a\x04\xd5');
    expect(text.endsWith('\r\n--CIF-BINARY-FORMAT-SECTION----\r\n;\r\n\r\n')).toBe(true);
    const img = decodeCbf(bytes, 'x.cbf');
    expect([...img.pixels]).toEqual([...px]);
    expect(img.header.wavelength).toBeCloseTo(0.6889, 10);
    expect(img.header.startAngle).toBe(-145);
    // and through the file system
    const tmp = tempDir('cbf');
    try {
      const path = join(tmp.dir, 'sim_00001.cbf');
      await writeCbf(path, { width: 4, height: 3, pixels: px, headerLines });
      const back = await readCbf(path);
      expect([...back.pixels]).toEqual([...px]);
      expect(back.source.file).toBe(path);
    } finally {
      tmp.remove();
    }
  });

  it('refuses images it cannot write', () => {
    expect(errorOf(() => encodeCbf({ width: 3, height: 3, pixels: new Int32Array(8) }))).toBeInstanceOf(InvalidValueError);
    expect(errorOf(() => encodeCbf({ width: 0, height: 3, pixels: new Int32Array(0) }))).toBeInstanceOf(InvalidValueError);
    expect(
      errorOf(() => encodeCbf({ width: 1, height: 1, pixels: new Int32Array(1), headerLines: ['a\r\nb'] })),
    ).toBeInstanceOf(InvalidValueError);
  });
});

describe('miniCBF: bad input gives typed errors naming the file', () => {
  const W0 = 40;
  const H0 = 30;
  const px = Int32Array.from({ length: W0 * H0 }, (_, k) => (k * 7919) % 5000 - 2);
  const good = encodeCbf({ width: W0, height: H0, pixels: px, headerLines: ['Wavelength 1.0 A'] });
  const text = asText(good);
  const FILE = '/data/broken_00007.cbf';
  /** the same file with one header text replaced (binary bytes untouched) */
  const edit = (from: string | RegExp, to: string): Uint8Array => {
    const out = text.replace(from, to);
    expect(out).not.toBe(text);
    return fromText(out);
  };
  const noMd5 = (t: string): string => t.replace(/Content-MD5: [^\r]*\r\n/, '');
  const markerAt = text.indexOf('\x0c\x1a\x04\xd5');
  const dataSize = Number(/X-Binary-Size: (\d+)/.exec(text)![1]);

  it('names the file and the frame', () => {
    const err = errorOf(() => decodeCbf(fromText('not an image at all'), FILE, 6));
    expect(err).toBeInstanceOf(FormatError);
    expect(err.message).toContain(FILE);
    expect(err.message).toContain('frame 6');
    expect(err.file).toBe(FILE);
    expect(err.frame).toBe(6);
  });

  it('no binary marker', () => {
    const err = errorOf(() => decodeCbf(edit('\x0c\x1a\x04\xd5', '\x00\x00\x00\x00'), FILE));
    expect(err).toBeInstanceOf(FormatError);
    expect(err.message).toMatch(/start marker/);
    expect(err.message).toContain(FILE);
  });

  it('missing or garbled dimensions', () => {
    const missing = errorOf(() => decodeCbf(edit('X-Binary-Size-Fastest-Dimension', 'X-Binary-Size-Fastest-Dimensiom'), FILE, 2));
    expect(missing).toBeInstanceOf(MissingFieldError);
    expect(missing.field).toBe('X-Binary-Size-Fastest-Dimension');
    expect(missing.message).toContain(FILE);
    expect(missing.message).toContain('frame 2');
    const garbled = errorOf(() => decodeCbf(edit('X-Binary-Size-Fastest-Dimension: 40', 'X-Binary-Size-Fastest-Dimension: 4x'), FILE));
    expect(garbled).toBeInstanceOf(InvalidValueError);
    expect(garbled.field).toBe('X-Binary-Size-Fastest-Dimension');
    expect(garbled.message).toContain("'4x'");
    const size = errorOf(() => decodeCbf(edit(/X-Binary-Size: \d+/, 'X-Binary-Sise: 1'), FILE));
    expect(size).toBeInstanceOf(MissingFieldError);
    expect(size.field).toBe('X-Binary-Size');
  });

  it('element count ≠ fast × slow', () => {
    const count = errorOf(() => decodeCbf(edit('X-Binary-Number-of-Elements: 1200', 'X-Binary-Number-of-Elements: 1201'), FILE));
    expect(count).toBeInstanceOf(InvalidValueError);
    expect(count.message).toContain('1201 elements');
    // dimensions that say fewer elements than the data hold
    const fewer = errorOf(() =>
      decodeCbf(
        fromText(noMd5(text).replace('X-Binary-Number-of-Elements: 1200', 'X-Binary-Number-of-Elements: 1160').replace('Second-Dimension: 30', 'Second-Dimension: 29')),
        FILE,
      ),
    );
    expect(fewer).toBeInstanceOf(InvalidValueError);
    expect(fewer.message).toContain('hold 1200 elements');
    // and more than they hold: the data run out
    const more = errorOf(() =>
      decodeCbf(
        fromText(noMd5(text).replace('X-Binary-Number-of-Elements: 1200', 'X-Binary-Number-of-Elements: 1240').replace('Second-Dimension: 30', 'Second-Dimension: 31')),
        FILE,
      ),
    );
    expect(more).toBeInstanceOf(TruncatedError);
    expect(more.message).toContain('after 1200 of 1240 elements');
  });

  it('a size other than the caller expects', () => {
    const err = errorOf(() => decodeCbf(good, FILE, 3, { expectedSize: [1475, 1679] }));
    expect(err).toBeInstanceOf(InvalidValueError);
    expect(err.message).toContain('40×30');
    expect(err.message).toContain('1475×1679');
    expect(err.message).toContain('frame 3');
  });

  it('truncated file: fewer bytes than X-Binary-Size', () => {
    const cut = good.subarray(0, markerAt + 4 + Math.floor(dataSize / 2));
    const err = errorOf(() => decodeCbf(cut, FILE, 1));
    expect(err).toBeInstanceOf(TruncatedError);
    expect(err.message).toContain(`should be ${dataSize} bytes`);
    expect(err.message).toContain(FILE);
    expect(err.frame).toBe(1);
  });

  it('decompression running off the end of the data, also inside an escape', () => {
    const short = errorOf(() => decodeCbf(fromText(noMd5(text).replace(`X-Binary-Size: ${dataSize}`, `X-Binary-Size: ${dataSize - 40}`)), FILE));
    expect(short).toBeInstanceOf(TruncatedError);
    expect(short.message).toMatch(/end after \d+ of 1200 elements/);
    // data ending on an escape byte
    const px2 = Int32Array.from([5, 1000]);
    const t2 = noMd5(asText(encodeCbf({ width: 2, height: 1, pixels: px2 })));
    const size2 = Number(/X-Binary-Size: (\d+)/.exec(t2)![1]); // 1 + 3 bytes
    const escape = errorOf(() => decodeCbf(fromText(t2.replace(`X-Binary-Size: ${size2}`, `X-Binary-Size: ${size2 - 1}`)), FILE));
    expect(escape).toBeInstanceOf(TruncatedError);
    expect(escape.message).toContain('inside an escape sequence');
  });

  it('unsupported element type, compression and byte order', () => {
    const type = errorOf(() => decodeCbf(edit('"signed 32-bit integer"', '"signed 32-bit real IEEE"'), FILE));
    expect(type).toBeInstanceOf(InvalidValueError);
    expect(type.field).toBe('X-Binary-Element-Type');
    expect(type.message).toContain('signed 32-bit real IEEE');
    const packed = errorOf(() => decodeCbf(edit('x-CBF_BYTE_OFFSET', 'x-CBF_PACKED'), FILE));
    expect(packed).toBeInstanceOf(InvalidValueError);
    expect(packed.message).toContain('x-CBF_PACKED');
    const order = errorOf(() => decodeCbf(edit('LITTLE_ENDIAN', 'BIG_ENDIAN'), FILE));
    expect(order).toBeInstanceOf(InvalidValueError);
    expect(order.field).toBe('X-Binary-Element-Byte-Order');
  });

  it('values out of the element type’s range', () => {
    const t = noMd5(asText(encodeCbf({ width: 2, height: 1, pixels: Int32Array.from([7, -5]) })));
    const err = errorOf(() => decodeCbf(fromText(t.replace('"signed 32-bit integer"', '"unsigned 16-bit integer"')), FILE));
    expect(err).toBeInstanceOf(InvalidValueError);
    expect(err.message).toContain('pixel (x=1, y=0) holds -5');
    const u32 = errorOf(() => decodeCbf(fromText(t.replace('"signed 32-bit integer"', '"unsigned 32-bit integer"')), FILE));
    expect(u32).toBeInstanceOf(InvalidValueError);
    expect(u32.message).toContain('4294967291');
  });

  it('MD5 mismatch', () => {
    // small deltas only, so that flipping the low bit of a data byte keeps the stream well formed
    const smooth = encodeCbf({ width: W0, height: H0, pixels: Int32Array.from({ length: W0 * H0 }, (_, k) => k % 50) });
    const bad = Uint8Array.from(smooth);
    bad[asText(smooth).indexOf('\x0c\x1a\x04\xd5') + 4 + 10]! ^= 0x01;
    const err = errorOf(() => decodeCbf(bad, FILE, 4));
    expect(err).toBeInstanceOf(FormatError);
    expect(err.field).toBe('Content-MD5');
    expect(err.message).toContain(FILE);
    expect(err.message).toContain('frame 4');
    // with the check off, the (corrupt) data decode
    expect(decodeCbf(bad, FILE, 4, { verifyMd5: false }).pixels.length).toBe(W0 * H0);
  });

  it('missing file', async () => {
    const err = await rejectionOf(readCbf('/nonexistent/l-cyst_01_00099.cbf', { frame: 98 }));
    expect(err).toBeInstanceOf(FileAccessError);
    expect(err.message).toContain('/nonexistent/l-cyst_01_00099.cbf');
    expect(err.message).toContain('frame 98');
  });
});
