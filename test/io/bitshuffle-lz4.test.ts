/**
 * The pure-TS LZ4 / bitshuffle-LZ4 / HDF5-LZ4 decoders against real Eiger
 * HDF5 chunks (reference md5 sums from ../shared/data/README.md, computed with
 * the native HDF5 library and the C filter plugins), a test-only encoder
 * (bitshuffle + literal-only LZ4) for exact round trips, and fuzzing: cut or
 * corrupted inputs give typed errors only and never hang.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DiffractError, FormatError, TruncatedError } from '../../src/errors.ts';
import {
  bitshuffleLz4Decompress,
  bitshuffleLz4Extent,
  bitunshuffleBlock,
  hdf5Lz4Decompress,
  lz4DecompressBlock,
  type BitshuffleElemSize,
} from '../../src/io/bitshuffle-lz4.ts';
import { mulberry32 } from '../../src/util/random.ts';
import { sharedData } from '../helpers/paths.ts';
import { bitshuffleBlock as bitshuffleBlockNaive } from './dectris-encode.ts';

/** Deterministic PRNG. */
const rng = (seed: number): (() => number) => mulberry32(seed);

/** Test-only LZ4 block holding `data` as literals only (valid LZ4: one literal-only sequence). */
function lz4Literals(data: Uint8Array): Uint8Array {
  const len: number[] = [];
  let n = data.length;
  let token: number;
  if (n < 15) token = n << 4;
  else {
    token = 0xf0;
    n -= 15;
    while (n >= 255) {
      len.push(255);
      n -= 255;
    }
    len.push(n);
  }
  const out = new Uint8Array(1 + len.length + data.length);
  out[0] = token;
  out.set(len, 1);
  out.set(data, 1 + len.length);
  return out;
}

/** Test-only bitshuffle-LZ4 encoder (12-byte header, literal-only LZ4 blocks, raw trailing elements). */
function encodeBitshuffleLz4(data: Uint8Array, e: number, blockElems: number): Uint8Array {
  const count = data.length / e;
  const chunks: Uint8Array[] = [];
  const head = new Uint8Array(12);
  const dv = new DataView(head.buffer);
  dv.setBigUint64(0, BigInt(data.length));
  dv.setUint32(8, blockElems * e);
  chunks.push(head);
  let i = 0;
  while (count - i >= 8) {
    let n = Math.min(blockElems, count - i);
    n -= n % 8;
    const shuffled = bitshuffleBlockNaive(data.subarray(i * e, (i + n) * e), n, e);
    const lz = lz4Literals(shuffled);
    const size = new Uint8Array(4);
    new DataView(size.buffer).setUint32(0, lz.length);
    chunks.push(size, lz);
    i += n;
  }
  chunks.push(data.subarray(i * e));
  return Buffer.concat(chunks);
}

function randomBytes(n: number, r: () => number, sparse = false): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = sparse ? (r() < 0.1 ? Math.floor(r() * 256) : 0) : Math.floor(r() * 256);
  return out;
}

/** Runs fn; returns the DiffractError, or null when it succeeded. Anything else fails the test. */
function typedOutcome(fn: () => unknown): DiffractError | null {
  try {
    fn();
    return null;
  } catch (err) {
    if (err instanceof DiffractError) return err;
    throw err;
  }
}

const md5 = (b: Uint8Array): string => createHash('md5').update(b).digest('hex');

/** README "Eiger HDF5: reference values": frames in file order. */
const H5_CASES: Array<{ file: string; n: number; e: 2 | 4; filter: 'bslz4' | 'lz4'; frames: Array<{ sum: number; max: number; md5: string }> }> = [
  {
    file: 'eiger1_testmode10_2datafiles_4images_bslz4_data_000001.h5',
    n: 1065 * 1030,
    e: 2,
    filter: 'bslz4',
    frames: [
      { sum: 2511479273, max: 65535, md5: '2c23b22cfe1507ed3900f81a6a53c278' },
      { sum: 2511479273, max: 65535, md5: '0248398a0f86ab73c0c115109fcbf7d4' },
    ],
  },
  {
    file: 'eiger2_simread7_2datafiles_4images_bslz4_data_000001.h5',
    n: 512 * 1028,
    e: 2,
    filter: 'bslz4',
    frames: [
      { sum: 3648540, max: 7, md5: 'dcb50212fb2652d200b3e9aafc594f84' },
      { sum: 3648540, max: 7, md5: 'dbdce80d7a1626fa2bee9dfbdeb5a545' },
    ],
  },
  {
    file: 'eiger2_simread7_2datafiles_4images_bslz4_uint32_data_000001.h5',
    n: 512 * 1028,
    e: 4,
    filter: 'bslz4',
    frames: [
      { sum: 21891240, max: 42, md5: '94387af2d9b347b88d4c5f445d7f7c53' },
      { sum: 21891240, max: 42, md5: 'c7bfc1f2570b9ca56a629ea9dcc21398' },
    ],
  },
  {
    file: 'eiger2_simread7_2datafiles_4images_lz4_data_000001.h5',
    n: 512 * 1028,
    e: 2,
    filter: 'lz4',
    frames: [
      { sum: 3648540, max: 7, md5: '1174fc695763c50861d88af303eb41fb' },
      { sum: 3648540, max: 7, md5: '1ae276132e221b152b51fd1b029244f5' },
    ],
  },
];

/**
 * Locates the raw chunks of a one-chunk-per-frame dataset inside the HDF5 file
 * by their 12-byte filter header (uint64 BE frame bytes + uint32 BE block
 * bytes 8192): h5wasm 0.10.3 has no raw chunk read. Returns the file offsets.
 */
function chunkOffsets(file: Uint8Array, frameBytes: number): number[] {
  const pat = Buffer.alloc(12);
  pat.writeBigUInt64BE(BigInt(frameBytes), 0);
  pat.writeUInt32BE(8192, 8);
  const buf = Buffer.from(file.buffer, file.byteOffset, file.byteLength);
  const out: number[] = [];
  for (let i = buf.indexOf(pat); i >= 0; i = buf.indexOf(pat, i + 1)) out.push(i);
  return out;
}

/** The exact extent of an HDF5-LZ4 (32004) stream starting at `at` (walks the block sizes). */
function hdf5Lz4Extent(b: Uint8Array, at: number): number {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const total = Number(dv.getBigUint64(at));
  const block = dv.getUint32(at + 8);
  let ip = at + 12;
  for (let op = 0; op < total; op += Math.min(block, total - op)) ip += 4 + dv.getUint32(ip);
  return ip - at;
}

function chunkOf(c: (typeof H5_CASES)[number], bytes: Uint8Array, at: number): Uint8Array {
  const rest = bytes.subarray(at);
  const len = c.filter === 'bslz4' ? bitshuffleLz4Extent(rest, c.e) : hdf5Lz4Extent(bytes, at);
  return rest.subarray(0, len);
}

function decodeChunk(c: (typeof H5_CASES)[number], chunk: Uint8Array): Uint8Array {
  const expectedBytes = c.n * c.e;
  return c.filter === 'bslz4' ? bitshuffleLz4Decompress(chunk, c.e, { expectedBytes }) : hdf5Lz4Decompress(chunk, { expectedBytes });
}

describe('real Eiger HDF5 chunks (filters 32008 bitshuffle-LZ4 and 32004 LZ4)', () => {
  for (const c of H5_CASES) {
    it(`decodes both frames of ${c.file} to the reference md5, sum and max`, () => {
      const bytes = new Uint8Array(readFileSync(sharedData('eiger', c.file)));
      const offsets = chunkOffsets(bytes, c.n * c.e);
      expect(offsets.length).toBe(2);
      const got = offsets.map((at) => {
        const out = decodeChunk(c, chunkOf(c, bytes, at));
        const vals = c.e === 2 ? new Uint16Array(out.buffer, out.byteOffset, c.n) : new Uint32Array(out.buffer, out.byteOffset, c.n);
        let sum = 0;
        let max = 0;
        for (const v of vals) {
          sum += v;
          if (v > max) max = v;
        }
        return { sum, max, md5: md5(out) };
      });
      expect(got).toEqual(c.frames);
    });
  }

  it('cut real chunks give TruncatedError, corrupted ones typed errors only (fuzz)', () => {
    const r = rng(7);
    for (const c of [H5_CASES[1]!, H5_CASES[3]!]) {
      const bytes = new Uint8Array(readFileSync(sharedData('eiger', c.file)));
      const chunk = chunkOf(c, bytes, chunkOffsets(bytes, c.n * c.e)[0]!);
      for (let k = 0; k < 40; k++) {
        const cut = Math.floor(r() * chunk.length);
        const err = typedOutcome(() => decodeChunk(c, chunk.subarray(0, cut)));
        expect(err).toBeInstanceOf(TruncatedError);
      }
      for (let k = 0; k < 60; k++) {
        const bad = chunk.slice();
        const flips = 1 + Math.floor(r() * 4);
        for (let f = 0; f < flips; f++) bad[Math.floor(r() * bad.length)] = Math.floor(r() * 256);
        typedOutcome(() => decodeChunk(c, bad)); // success (a flipped literal) or a DiffractError
      }
    }
  });
});

describe('bitshuffle-LZ4 round trips (test-only encoder: literal-only LZ4)', () => {
  it('fast unshuffle equals the naive bit transpose for every element size', () => {
    const r = rng(1);
    for (const e of [1, 2, 4, 8]) {
      for (const n of [8, 16, 64, 2048]) {
        const data = randomBytes(n * e, r);
        const shuffled = bitshuffleBlockNaive(data, n, e);
        const back = new Uint8Array(n * e);
        bitunshuffleBlock(shuffled, 0, back, 0, n, e);
        expect(md5(back)).toBe(md5(data));
      }
    }
  });

  it('random data of awkward sizes (partial last block, count mod 8 ≠ 0, fewer than 8) decodes exactly', () => {
    const r = rng(2);
    const cases: Array<[BitshuffleElemSize, number, number]> = [
      [4, 2048 * 3, 2048],
      [4, 2048 * 2 + 8 * 5 + 3, 2048],
      [2, 4096 + 7, 4096],
      [2, 5, 4096],
      [1, 8192 * 2 + 1, 8192],
      [4, 0, 2048],
      [8, 1000, 128],
    ];
    for (const [e, count, blockElems] of cases) {
      for (const sparse of [false, true]) {
        const data = randomBytes(count * e, r, sparse);
        const enc = encodeBitshuffleLz4(data, e, blockElems);
        const out = bitshuffleLz4Decompress(enc, e, { expectedBytes: count * e });
        expect(md5(out)).toBe(md5(data));
        expect(bitshuffleLz4Extent(enc, e)).toBe(enc.length);
      }
    }
  });

  it('every prefix of a stream is a TruncatedError; bad headers and extra bytes are FormatErrors', () => {
    const r = rng(3);
    const data = randomBytes((2048 + 8 * 3 + 5) * 4, r, true);
    const enc = encodeBitshuffleLz4(data, 4, 2048);
    for (let cut = 0; cut < enc.length; cut++) {
      expect(typedOutcome(() => bitshuffleLz4Decompress(enc.subarray(0, cut), 4))).toBeInstanceOf(TruncatedError);
    }
    expect(typedOutcome(() => bitshuffleLz4Decompress(enc, 4, { expectedBytes: data.length + 4 }))).toBeInstanceOf(FormatError);
    expect(typedOutcome(() => bitshuffleLz4Decompress(Buffer.concat([enc, new Uint8Array(3)]), 4))).toBeInstanceOf(FormatError);
    expect(md5(bitshuffleLz4Decompress(Buffer.concat([enc, new Uint8Array(3)]), 4, { trailing: 'ignore' }))).toBe(md5(data));
    const odd = enc.slice();
    new DataView(odd.buffer).setUint32(8, 100); // 25 elements: not a multiple of 8
    expect(typedOutcome(() => bitshuffleLz4Decompress(odd, 4))).toBeInstanceOf(FormatError);
    const huge = enc.slice();
    new DataView(huge.buffer).setUint32(0, 0x7fffffff); // ~2^62 bytes
    expect(typedOutcome(() => bitshuffleLz4Decompress(huge, 4))).toBeInstanceOf(FormatError);
  });
});

describe('LZ4 block', () => {
  const text = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'latin1'));

  it('decodes matches: overlapping copies, offset 1 runs, long literal and match lengths', () => {
    // "abc" then match offset 3 length 10 → "abcabcabcabca", then literals "XYZ"
    const b1 = Uint8Array.from([0x36, ...text('abc'), 3, 0, 0x30, ...text('XYZ')]);
    expect(Buffer.from(lz4DecompressBlock(b1, 16)).toString('latin1')).toBe('abcabcabcabcaXYZ');
    // "z" then offset 1, match length 4 + 15 + 255 + 10 = 284, then "!"
    const b2 = Uint8Array.from([0x1f, ...text('z'), 1, 0, 255, 10, 0x10, ...text('!')]);
    expect(Buffer.from(lz4DecompressBlock(b2, 286)).toString('latin1')).toBe('z'.repeat(285) + '!');
    // a literal run of 300 bytes (15 + 255 + 30)
    const lit = randomBytes(300, rng(4));
    expect(md5(lz4DecompressBlock(lz4Literals(lit), 300))).toBe(md5(lit));
    expect(lz4DecompressBlock(Uint8Array.from([0]), 0).length).toBe(0);
  });

  it('refuses bad offsets, output overruns and early ends with typed errors', () => {
    expect(typedOutcome(() => lz4DecompressBlock(Uint8Array.from([0x10, 65, 0, 0, 0x00]), 10))).toBeInstanceOf(FormatError); // offset 0
    expect(typedOutcome(() => lz4DecompressBlock(Uint8Array.from([0x10, 65, 2, 0, 0x00]), 10))).toBeInstanceOf(FormatError); // before start
    expect(typedOutcome(() => lz4DecompressBlock(Uint8Array.from([0x1f, 65, 1, 0, 40, 0x00]), 10))).toBeInstanceOf(FormatError); // overrun
    expect(typedOutcome(() => lz4DecompressBlock(lz4Literals(text('hello')), 4))).toBeInstanceOf(FormatError); // literals overrun
    expect(typedOutcome(() => lz4DecompressBlock(lz4Literals(text('hello')), 6))).toBeInstanceOf(TruncatedError); // ends short
    expect(typedOutcome(() => lz4DecompressBlock(Uint8Array.from([0x50, 65, 66]), 5))).toBeInstanceOf(TruncatedError); // literals past end
    expect(typedOutcome(() => lz4DecompressBlock(Uint8Array.from([0x10, 65, 1]), 5))).toBeInstanceOf(TruncatedError); // offset cut
    expect(typedOutcome(() => lz4DecompressBlock(Uint8Array.from([0xf0, 255, 255]), 5))).toBeInstanceOf(TruncatedError); // length cut
    expect(typedOutcome(() => lz4DecompressBlock(new Uint8Array(0), 0))).toBeInstanceOf(TruncatedError);
  });

  it('random garbage never throws anything but typed errors and finishes quickly', () => {
    const r = rng(5);
    const t0 = performance.now();
    for (let k = 0; k < 2000; k++) {
      const junk = randomBytes(1 + Math.floor(r() * 200), r);
      typedOutcome(() => lz4DecompressBlock(junk, Math.floor(r() * 4000)));
      typedOutcome(() => bitshuffleLz4Decompress(junk, 2, { maxBytes: 1 << 20 }));
      typedOutcome(() => hdf5Lz4Decompress(junk, { maxBytes: 1 << 20 }));
    }
    expect(performance.now() - t0).toBeLessThan(5000);
  });
});
