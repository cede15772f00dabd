/**
 * Eiger HDF5 image input: the real Eiger data files decode to the reference
 * sums/max/md5 of ../shared/data/README.md (in-thread and through decode
 * workers), typed errors (missing file/dataset, range, a corrupt chunk naming
 * its frame), and worker decoding equal to in-thread decoding.
 */
import { createHash } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FileAccessError, FormatError, InvalidValueError, MissingFieldError } from '../../src/errors.ts';
import { openHdf5Series, pixelsFromNative, type NativeFrame } from '../../src/io/eiger-h5.ts';
import { sharedData } from '../helpers/paths.ts';

interface Ref {
  file: string;
  shape: [number, number, number];
  type: 'uint16' | 'uint32';
  frames: [number, number, string][];
}

const REFS: Ref[] = [
  {
    file: 'eiger1_testmode10_2datafiles_4images_bslz4_data_000001.h5',
    shape: [2, 1065, 1030],
    type: 'uint16',
    frames: [
      [2511479273, 65535, '2c23b22cfe1507ed3900f81a6a53c278'],
      [2511479273, 65535, '0248398a0f86ab73c0c115109fcbf7d4'],
    ],
  },
  {
    file: 'eiger2_simread7_2datafiles_4images_bslz4_data_000001.h5',
    shape: [2, 512, 1028],
    type: 'uint16',
    frames: [
      [3648540, 7, 'dcb50212fb2652d200b3e9aafc594f84'],
      [3648540, 7, 'dbdce80d7a1626fa2bee9dfbdeb5a545'],
    ],
  },
  {
    file: 'eiger2_simread7_2datafiles_4images_bslz4_uint32_data_000001.h5',
    shape: [2, 512, 1028],
    type: 'uint32',
    frames: [
      [21891240, 42, '94387af2d9b347b88d4c5f445d7f7c53'],
      [21891240, 42, 'c7bfc1f2570b9ca56a629ea9dcc21398'],
    ],
  },
  {
    file: 'eiger2_simread7_2datafiles_4images_lz4_data_000001.h5',
    shape: [2, 512, 1028],
    type: 'uint16',
    frames: [
      [3648540, 7, '1174fc695763c50861d88af303eb41fb'],
      [3648540, 7, '1ae276132e221b152b51fd1b029244f5'],
    ],
  },
];

function stats(native: NativeFrame): [number, number, string] {
  let sum = 0;
  let max = -Infinity;
  for (let i = 0; i < native.length; i++) {
    const v = native[i] as number;
    sum += v;
    if (v > max) max = v;
  }
  const md5 = createHash('md5').update(new Uint8Array(native.buffer, native.byteOffset, native.byteLength)).digest('hex');
  return [sum, max, md5];
}

const tmp = mkdtempSync(join(tmpdir(), 'diffract-eiger-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('real Eiger data files: reference values', () => {
  for (const ref of REFS) {
    it(`${ref.file} in-thread`, async () => {
      const s = await openHdf5Series({ file: sharedData('eiger', ref.file) });
      try {
        expect([s.length, s.height, s.width]).toEqual(ref.shape);
        expect(s.pixelType).toBe(ref.type);
        for (let i = 0; i < 2; i++) {
          const raw = await s.readRaw(i);
          expect(raw).toBeInstanceOf(ref.type === 'uint16' ? Uint16Array : Uint32Array);
          expect(stats(raw)).toEqual(ref.frames[i]);
        }
      } finally {
        s.close();
      }
    });

    it(`${ref.file} through decode workers`, async () => {
      const s = await openHdf5Series({ file: sharedData('eiger', ref.file), workers: 2 });
      const got: [number, number, string][] = [];
      for await (const raw of s.rawFrames()) got.push(stats(raw));
      expect(got).toEqual(ref.frames);
    });
  }

  it('DetectorImage: Int32 pixels equal to the native values, source and header', async () => {
    const file = sharedData('eiger', REFS[2]!.file);
    const s = await openHdf5Series({ file, first: 1, expectedSize: [1028, 512] });
    expect(s.length).toBe(1);
    const images = [];
    for await (const im of s) images.push(im);
    expect(images).toHaveLength(1);
    const im = images[0]!;
    const raw = await s.readRaw(0);
    s.close();
    expect(im.source).toEqual({ file, frame: 0 });
    expect(im.header.format).toBe('hdf5');
    expect(im.header.raw.get('image_nr')).toBe('2');
    expect(im.header.raw.get('dataset')).toBe('/entry/data/data');
    expect(Array.from(im.pixels)).toEqual(Array.from(raw));
  });
});

describe('pixel conversion', () => {
  it('uint32 values ≥ 2^31 become −1; uint16 values are kept', () => {
    expect(Array.from(pixelsFromNative(new Uint32Array([0, 7, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff])))).toEqual([0, 7, 0x7fffffff, -1, -1, -1]);
    expect(Array.from(pixelsFromNative(new Uint16Array([0, 65535, 65534])))).toEqual([0, 65535, 65534]);
  });
});

describe('errors', () => {
  const real = (): string => sharedData('eiger', REFS[1]!.file);

  it('a missing file is a FileAccessError naming it', async () => {
    const missing = join(tmp, 'nope_master.h5');
    const err = await openHdf5Series({ file: missing }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FileAccessError);
    expect((err as FileAccessError).file).toBe(missing);
  });

  it('a missing dataset is a MissingFieldError naming file and path', async () => {
    const err = await openHdf5Series({ file: real(), dataset: '/entry/data/nothing' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MissingFieldError);
    expect((err as MissingFieldError).file).toBe(real());
    expect((err as MissingFieldError).field).toBe('/entry/data/nothing');
  });

  it('a frame range outside the dataset is an InvalidValueError', async () => {
    await expect(openHdf5Series({ file: real(), first: 1, last: 2 })).rejects.toBeInstanceOf(InvalidValueError);
    await expect(openHdf5Series({ file: real(), first: -1 })).rejects.toBeInstanceOf(InvalidValueError);
    await expect(openHdf5Series({ file: real(), first: 1, last: 0 })).rejects.toBeInstanceOf(InvalidValueError);
    const s = await openHdf5Series({ file: real() });
    await expect(s.read(2)).rejects.toBeInstanceOf(InvalidValueError);
    s.close();
  });

  it('a wrong expected size is an InvalidValueError', async () => {
    await expect(openHdf5Series({ file: real(), expectedSize: [512, 1028] })).rejects.toBeInstanceOf(InvalidValueError);
  });

  // The bitshuffle-LZ4 chunk of each frame starts with a 12-byte header: the
  // uncompressed size (uint64 big-endian, 512·1028·2 = 0x101000) and the block
  // size (uint32 BE); then each block's compressed size (uint32 BE). Setting
  // the first block size of the second chunk to 2^31−1 makes that chunk
  // undecodable while the first one stays intact.
  function corruptCopy(): string {
    const bytes = Buffer.from(readFileSync(real()));
    const header = Buffer.from([0, 0, 0, 0, 0, 0x10, 0x10, 0x00]);
    const hits: number[] = [];
    for (let at = bytes.indexOf(header); at >= 0; at = bytes.indexOf(header, at + 1)) hits.push(at);
    expect(hits).toHaveLength(2);
    bytes.writeUInt32BE(0x7fffffff, hits[1]! + 12);
    const out = join(tmp, 'corrupt_data_000001.h5');
    writeFileSync(out, bytes);
    return out;
  }

  it('a corrupt chunk is a FormatError naming the file and frame; earlier frames decode', async () => {
    const file = corruptCopy();
    const s = await openHdf5Series({ file });
    const seen: number[] = [];
    let err: unknown;
    try {
      for await (const im of s) seen.push(im.source.frame);
    } catch (e) {
      err = e;
    }
    expect(seen).toEqual([0]);
    expect(err).toBeInstanceOf(FormatError);
    expect((err as FormatError).file).toBe(file);
    expect((err as FormatError).frame).toBe(1);
    expect((err as FormatError).message).toMatch(/frame 1/);
    // the reader recovers: frame 0 still decodes, and matches the reference
    expect(stats(await s.readRaw(0))).toEqual(REFS[1]!.frames[0]);
    await expect(s.readRaw(1)).rejects.toBeInstanceOf(FormatError);
    expect(stats(await s.readRaw(0))).toEqual(REFS[1]!.frames[0]);
    s.close();
  });

  it('a corrupt chunk through the workers: the same typed error, in order', async () => {
    const file = corruptCopy();
    const s = await openHdf5Series({ file, workers: 2 });
    const seen: number[] = [];
    let err: unknown;
    try {
      for await (const im of s) seen.push(im.source.frame);
    } catch (e) {
      err = e;
    }
    expect(seen).toEqual([0]);
    expect(err).toBeInstanceOf(FormatError);
    expect((err as FormatError).file).toBe(file);
    expect((err as FormatError).frame).toBe(1);
  });

  it('a data file copied under another name still reads (no master needed)', async () => {
    const copy = join(tmp, 'plain.h5');
    copyFileSync(real(), copy);
    const s = await openHdf5Series({ file: copy, dataset: 'entry/data/data' });
    expect(stats(await s.readRaw(1))).toEqual(REFS[1]!.frames[1]);
    s.close();
  });
});

describe('worker decoding', () => {
  it('gives the same images as in-thread decoding, in order; stopping early ends the workers', async () => {
    const file = sharedData('eiger', REFS[0]!.file);
    const a = await openHdf5Series({ file });
    const b = await openHdf5Series({ file, workers: 2, readAhead: 1 });
    const ia = [];
    for await (const im of a) ia.push(im);
    const ib = [];
    for await (const im of b) ib.push(im);
    expect(ib.map((im) => im.source)).toEqual(ia.map((im) => im.source));
    for (let i = 0; i < ia.length; i++) expect(Buffer.compare(Buffer.from(ib[i]!.pixels.buffer), Buffer.from(ia[i]!.pixels.buffer))).toBe(0);
    for await (const im of b) {
      expect(im.source.frame).toBe(0);
      break;
    }
  });
});
