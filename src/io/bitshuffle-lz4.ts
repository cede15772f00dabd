/**
 * Pure-TypeScript decoders for the compressed frames Dectris Eiger detectors
 * send and write: LZ4 blocks, bitshuffle + LZ4, and the HDF5 LZ4 filter framing.
 *
 * There is no well-kept, maintained npm package for bitshuffle in this
 * project's (offline) registry, so these are written here from the published
 * formats. The HDF5 reading path does not use them: it decodes chunks with the
 * compiled bitshuffle/LZ4 filters of `h5wasm-plugins`. These decoders serve the
 * ZeroMQ stream (`dectris-stream.ts`) and are checked against the same real
 * Eiger HDF5 chunks (see test/io/bitshuffle-lz4.test.ts).
 *
 * Formats:
 *
 * - **LZ4 block** (lz4 `doc/lz4_Block_format.md`): a sequence of
 *   `token` (high nibble: literal count, low nibble: match length − 4; a nibble
 *   of 15 continues in following bytes, each added, until a byte < 255),
 *   the literals, then a 2-byte little-endian match offset (1…65535, counted
 *   back from the current output end; the match may overlap its own output),
 *   then the match-length continuation bytes. The last sequence has literals
 *   only and ends the block. No frame header, no checksum: the output size
 *   comes from elsewhere.
 * - **bitshuffle + LZ4** (HDF5 filter 32008 with LZ4, and the Dectris stream
 *   encodings `bs8-lz4<`, `bs16-lz4<`, `bs32-lz4<`): a 12-byte header —
 *   uint64 big-endian uncompressed byte count, uint32 big-endian block size in
 *   **bytes** (block elements × element size; 0 means the bitshuffle default of
 *   8192 bytes) — then, per block, a uint32 big-endian compressed size and an
 *   LZ4 block. A block holds `blockElems` elements (a multiple of 8); the last
 *   compressed block holds the rest rounded down to a multiple of 8, and the
 *   final `count mod 8` elements follow uncompressed and unshuffled. Each
 *   decompressed block is bit-transposed: row `8·j + b` (n/8 bytes) holds bit
 *   `b` of byte `j` of every element, element `i` at bit `i mod 8` of byte
 *   `⌊i/8⌋` of the row.
 * - **HDF5 LZ4 filter** (32004): uint64 BE total byte count, uint32 BE block
 *   size in bytes, then per block (each `min(blockSize, remaining)` bytes of
 *   output) a uint32 BE compressed size and an LZ4 block; a block whose
 *   compressed size equals its output size is stored raw.
 * - The Dectris stream encoding `lz4<` is one LZ4 block of the whole frame,
 *   "without any additional data like block size" (SIMPLON stream API).
 *
 * Invariants (every decoder): a read past the end of the input is a
 * TruncatedError; output that would go past the size the header or the caller
 * says, a match offset reaching before the start of the output, a header that
 * disagrees with the expected size, or output shorter than promised by a
 * complete block is a FormatError. Nothing else is thrown, and every loop
 * consumes input, so corrupt data cannot hang a decoder.
 */
import { FormatError, TruncatedError, type ErrorLocation } from '../errors.ts';

/** Element sizes (bytes) bitshuffle handles here. */
export type BitshuffleElemSize = 1 | 2 | 4 | 8;

/** Largest output a decoder allocates unless the caller says otherwise (bytes). */
export const DEFAULT_MAX_OUTPUT_BYTES = 2 ** 31 - 1;
/** Upper bound of LZ4's output per input byte, rounded up (a length-extension byte adds at most 255). */
const LZ4_MAX_RATIO = 256;

/** The bitshuffle default block (bytes) used when a header stores block size 0. */
const BSHUF_TARGET_BLOCK_BYTES = 8192;
/** Smallest recommended default block (elements). */
const BSHUF_MIN_RECOMMEND_BLOCK = 128;

const HEADER_BYTES = 12;

/** Signals "input ended" from the inner LZ4 loop (turned into a typed error by the caller). */
class Lz4InputEnd {
  constructor(readonly message: string) {}
}
/** Signals "data is inconsistent" from the inner LZ4 loop. */
class Lz4Corrupt {
  constructor(readonly message: string) {}
}

/**
 * Decodes the LZ4 block `src[srcStart, srcEnd)` into `dst[dstStart, dstEnd)`.
 * Returns the number of bytes written. Throws Lz4InputEnd / Lz4Corrupt.
 * A block that ends cleanly after a literal run before `dstEnd` is reached is
 * not an error here: the caller compares the count with what it expects.
 */
function lz4Into(src: Uint8Array, srcStart: number, srcEnd: number, dst: Uint8Array, dstStart: number, dstEnd: number): number {
  let ip = srcStart;
  let op = dstStart;
  for (;;) {
    if (ip >= srcEnd) throw new Lz4InputEnd(`the LZ4 block ends at byte ${ip - srcStart} where a sequence token should follow`);
    const token = src[ip++] as number;
    let lit = token >>> 4;
    if (lit === 15) {
      let b: number;
      do {
        if (ip >= srcEnd) throw new Lz4InputEnd(`the LZ4 block ends inside a literal-length field (byte ${ip - srcStart})`);
        b = src[ip++] as number;
        lit += b;
      } while (b === 255);
    }
    if (lit > 0) {
      if (lit > srcEnd - ip) throw new Lz4InputEnd(`a run of ${lit} literals at byte ${ip - srcStart} goes past the end of the LZ4 block (${srcEnd - srcStart} bytes)`);
      if (lit > dstEnd - op) throw new Lz4Corrupt(`a run of ${lit} literals would write past the expected output size (${dstEnd - dstStart} bytes) at output byte ${op - dstStart}`);
      if (lit < 32) {
        for (let k = 0; k < lit; k++) dst[op + k] = src[ip + k] as number;
      } else {
        dst.set(src.subarray(ip, ip + lit), op);
      }
      ip += lit;
      op += lit;
    }
    if (ip === srcEnd) return op - dstStart; // last sequence: literals only
    if (srcEnd - ip < 2) throw new Lz4InputEnd(`the LZ4 block ends inside a match offset (byte ${ip - srcStart})`);
    const offset = (src[ip] as number) | ((src[ip + 1] as number) << 8);
    ip += 2;
    if (offset === 0) throw new Lz4Corrupt(`match offset 0 at byte ${ip - 2 - srcStart} of the LZ4 block`);
    if (offset > op - dstStart) throw new Lz4Corrupt(`match offset ${offset} at byte ${ip - 2 - srcStart} reaches before the start of the output (${op - dstStart} bytes written)`);
    let ml = token & 15;
    if (ml === 15) {
      let b: number;
      do {
        if (ip >= srcEnd) throw new Lz4InputEnd(`the LZ4 block ends inside a match-length field (byte ${ip - srcStart})`);
        b = src[ip++] as number;
        ml += b;
      } while (b === 255);
    }
    ml += 4;
    if (ml > dstEnd - op) throw new Lz4Corrupt(`a match of ${ml} bytes would write past the expected output size (${dstEnd - dstStart} bytes) at output byte ${op - dstStart}`);
    const from = op - offset;
    if (offset >= ml) {
      dst.copyWithin(op, from, from + ml);
    } else if (offset === 1) {
      dst.fill(dst[from] as number, op, op + ml);
    } else {
      for (let k = 0; k < ml; k++) dst[op + k] = dst[from + k] as number;
    }
    op += ml;
  }
}

function readU32BE(b: Uint8Array, at: number): number {
  return (((b[at] as number) << 24) | ((b[at + 1] as number) << 16) | ((b[at + 2] as number) << 8) | (b[at + 3] as number)) >>> 0;
}

/** uint64 BE as a number; values above 2⁵³ are a FormatError (no frame is that large). */
function readU64BE(b: Uint8Array, at: number, where: ErrorLocation, what: string): number {
  const hi = readU32BE(b, at);
  const lo = readU32BE(b, at + 4);
  if (hi >= 2 ** 21) throw new FormatError(`${what}: the header's byte count (uint64 at byte ${at}) is implausibly large`, where);
  return hi * 2 ** 32 + lo;
}

function checkOutputSize(total: number, opts: DecodeOptions, what: string): void {
  const where = opts.where ?? {};
  if (opts.expectedBytes !== undefined && total !== opts.expectedBytes) {
    throw new FormatError(`${what}: the header says ${total} uncompressed bytes, the frame needs ${opts.expectedBytes}`, where);
  }
  const max = opts.maxBytes ?? DEFAULT_MAX_OUTPUT_BYTES;
  if (total > max) throw new FormatError(`${what}: the header says ${total} uncompressed bytes, more than the limit of ${max}`, where);
}

/** Options shared by the decoders. */
export interface DecodeOptions {
  /** the uncompressed size the caller knows (shape × element size); a header that disagrees is a FormatError */
  expectedBytes?: number;
  /** refuse headers announcing more than this many bytes (default 2³¹−1) */
  maxBytes?: number;
  /** bytes after the last block: 'error' (default) or 'ignore' (e.g. a chunk located inside a larger file) */
  trailing?: 'error' | 'ignore';
  /** where the data came from, for error messages */
  where?: ErrorLocation;
}

/**
 * Decompresses one raw LZ4 block (no header) that must produce exactly
 * `expectedBytes` bytes. Input that ends first → TruncatedError; output past
 * `expectedBytes`, a bad offset, or bytes left after the last sequence →
 * FormatError.
 */
export function lz4DecompressBlock(input: Uint8Array, expectedBytes: number, where: ErrorLocation = {}): Uint8Array {
  if (!Number.isInteger(expectedBytes) || expectedBytes < 0) throw new FormatError(`LZ4: expected size ${expectedBytes} is not a byte count`, where);
  if (expectedBytes > DEFAULT_MAX_OUTPUT_BYTES) throw new FormatError(`LZ4: ${expectedBytes} uncompressed bytes expected, more than the limit of ${DEFAULT_MAX_OUTPUT_BYTES}`, where);
  // checked before allocating: each LZ4 input byte gives at most 255 output bytes (a match-length extension byte)
  if (expectedBytes > LZ4_MAX_RATIO * input.length + 32) {
    throw new TruncatedError(`LZ4: ${input.length} compressed bytes cannot give the ${expectedBytes} bytes expected (at most ${LZ4_MAX_RATIO} per byte)`, where);
  }
  const out = new Uint8Array(expectedBytes);
  let n: number;
  try {
    n = lz4Into(input, 0, input.length, out, 0, expectedBytes);
  } catch (err) {
    if (err instanceof Lz4InputEnd) throw new TruncatedError(`LZ4: ${err.message}`, where);
    if (err instanceof Lz4Corrupt) throw new FormatError(`LZ4: ${err.message}`, where);
    throw err;
  }
  if (n !== expectedBytes) throw new TruncatedError(`LZ4: the compressed stream (${input.length} bytes) ends after ${n} of ${expectedBytes} output bytes`, where);
  return out;
}

/**
 * Undoes the bit transpose of one bitshuffle block: `n` elements (n a multiple
 * of 8) of `elemSize` bytes from `src[srcOff…]` to `dst[dstOff…]`. Each group
 * of 8 row bytes is an 8×8 bit matrix, transposed in two 32-bit halves.
 */
export function bitunshuffleBlock(src: Uint8Array, srcOff: number, dst: Uint8Array, dstOff: number, n: number, elemSize: number): void {
  if (n % 8 !== 0) throw new FormatError(`bitshuffle: a block of ${n} elements is not a multiple of 8`);
  const nb = n >>> 3;
  const e = elemSize;
  for (let j = 0; j < e; j++) {
    const r0 = srcOff + 8 * j * nb;
    for (let g = 0; g < nb; g++) {
      const p = r0 + g;
      let lo = (src[p] as number) | ((src[p + nb] as number) << 8) | ((src[p + 2 * nb] as number) << 16) | ((src[p + 3 * nb] as number) << 24);
      let hi = (src[p + 4 * nb] as number) | ((src[p + 5 * nb] as number) << 8) | ((src[p + 6 * nb] as number) << 16) | ((src[p + 7 * nb] as number) << 24);
      let t = (lo ^ (lo >>> 7)) & 0x00aa00aa;
      lo = lo ^ t ^ (t << 7);
      t = (hi ^ (hi >>> 7)) & 0x00aa00aa;
      hi = hi ^ t ^ (t << 7);
      t = (lo ^ (lo >>> 14)) & 0x0000cccc;
      lo = lo ^ t ^ (t << 14);
      t = (hi ^ (hi >>> 14)) & 0x0000cccc;
      hi = hi ^ t ^ (t << 14);
      t = (lo ^ (hi << 4)) & 0xf0f0f0f0;
      lo ^= t;
      hi ^= t >>> 4;
      const q = dstOff + 8 * g * e + j;
      dst[q] = lo & 255;
      dst[q + e] = (lo >>> 8) & 255;
      dst[q + 2 * e] = (lo >>> 16) & 255;
      dst[q + 3 * e] = lo >>> 24;
      dst[q + 4 * e] = hi & 255;
      dst[q + 5 * e] = (hi >>> 8) & 255;
      dst[q + 6 * e] = (hi >>> 16) & 255;
      dst[q + 7 * e] = hi >>> 24;
    }
  }
}

/** The bitshuffle default block size in elements for an element size. */
export function bitshuffleDefaultBlockElems(elemSize: number): number {
  const b = Math.floor(BSHUF_TARGET_BLOCK_BYTES / elemSize / 8) * 8;
  return Math.max(b, BSHUF_MIN_RECOMMEND_BLOCK);
}

/**
 * Decompresses bitshuffle + LZ4 data with the 12-byte header (HDF5 filter
 * 32008 chunk, Dectris `bs<N>-lz4<` blob). Returns the unshuffled
 * little-endian element bytes.
 */
export function bitshuffleLz4Decompress(input: Uint8Array, elemSize: BitshuffleElemSize, opts: DecodeOptions = {}): Uint8Array {
  const where = opts.where ?? {};
  const what = 'bitshuffle-LZ4';
  if (input.length < HEADER_BYTES) throw new TruncatedError(`${what}: ${input.length} bytes, shorter than the 12-byte header`, where);
  const total = readU64BE(input, 0, where, what);
  const blockBytes = readU32BE(input, 8);
  if (total % elemSize !== 0) throw new FormatError(`${what}: ${total} uncompressed bytes is not a whole number of ${elemSize}-byte elements`, where);
  checkOutputSize(total, opts, what);
  const blockElems = blockBytes === 0 ? bitshuffleDefaultBlockElems(elemSize) : blockBytes / elemSize;
  if (!Number.isInteger(blockElems) || blockElems % 8 !== 0) {
    throw new FormatError(`${what}: block size ${blockBytes} bytes is not a multiple of 8 ${elemSize}-byte elements`, where);
  }
  const count = total / elemSize;
  const nFull = Math.floor(count / blockElems);
  const rest = count % blockElems;
  const lastElems = rest - (rest % 8);
  const nBlocks = nFull + (lastElems > 0 ? 1 : 0);
  const out = new Uint8Array(total);
  const tmp = new Uint8Array(Math.min(blockElems, Math.max(count, 8)) * elemSize);
  let ip = HEADER_BYTES;
  let op = 0;
  for (let b = 0; b < nBlocks; b++) {
    const n = b < nFull ? blockElems : lastElems;
    const nbytes = n * elemSize;
    if (input.length - ip < 4) {
      throw new TruncatedError(`${what}: the data ends at byte ${input.length} before block ${b} of ${nBlocks} (its size field needs 4 bytes at byte ${ip}); ${op} of ${total} bytes decoded`, where);
    }
    const csize = readU32BE(input, ip);
    ip += 4;
    if (csize > input.length - ip) {
      throw new TruncatedError(`${what}: block ${b} of ${nBlocks} needs ${csize} bytes at byte ${ip}, only ${input.length - ip} remain; ${op} of ${total} bytes decoded`, where);
    }
    let got: number;
    try {
      got = lz4Into(input, ip, ip + csize, tmp, 0, nbytes);
    } catch (err) {
      // the block's framing is complete, so running out of its bytes means corrupt data
      if (err instanceof Lz4InputEnd || err instanceof Lz4Corrupt) throw new FormatError(`${what}: block ${b} of ${nBlocks} (at byte ${ip}) is corrupt: ${err.message}`, where);
      throw err;
    }
    if (got !== nbytes) throw new FormatError(`${what}: block ${b} of ${nBlocks} (at byte ${ip}) decodes to ${got} bytes, expected ${nbytes}`, where);
    bitunshuffleBlock(tmp, 0, out, op, n, elemSize);
    ip += csize;
    op += nbytes;
  }
  const leftover = (count % 8) * elemSize;
  if (leftover > input.length - ip) {
    throw new TruncatedError(`${what}: the ${leftover} uncompressed trailing bytes at byte ${ip} go past the end of the data (${input.length} bytes)`, where);
  }
  out.set(input.subarray(ip, ip + leftover), op);
  ip += leftover;
  if (ip !== input.length && (opts.trailing ?? 'error') === 'error') {
    throw new FormatError(`${what}: ${input.length - ip} bytes follow the last block (data ends at byte ${ip})`, where);
  }
  return out;
}

/** Number of input bytes a bitshuffle-LZ4 stream occupies (walks the block sizes; for locating chunks). */
export function bitshuffleLz4Extent(input: Uint8Array, elemSize: BitshuffleElemSize, where: ErrorLocation = {}): number {
  const what = 'bitshuffle-LZ4';
  if (input.length < HEADER_BYTES) throw new TruncatedError(`${what}: shorter than the 12-byte header`, where);
  const total = readU64BE(input, 0, where, what);
  const blockBytes = readU32BE(input, 8);
  const blockElems = blockBytes === 0 ? bitshuffleDefaultBlockElems(elemSize) : blockBytes / elemSize;
  if (total % elemSize !== 0 || !Number.isInteger(blockElems) || blockElems % 8 !== 0) throw new FormatError(`${what}: inconsistent header`, where);
  const count = total / elemSize;
  const rest = count % blockElems;
  const nBlocks = Math.floor(count / blockElems) + (rest - (rest % 8) > 0 ? 1 : 0);
  let ip = HEADER_BYTES;
  for (let b = 0; b < nBlocks; b++) {
    if (input.length - ip < 4) throw new TruncatedError(`${what}: ends before block ${b}`, where);
    ip += 4 + readU32BE(input, ip);
    if (ip > input.length) throw new TruncatedError(`${what}: block ${b} goes past the end`, where);
  }
  ip += (count % 8) * elemSize;
  if (ip > input.length) throw new TruncatedError(`${what}: trailing elements go past the end`, where);
  return ip;
}

/** Decompresses data in the HDF5 LZ4 filter (32004) framing. */
export function hdf5Lz4Decompress(input: Uint8Array, opts: DecodeOptions = {}): Uint8Array {
  const where = opts.where ?? {};
  const what = 'HDF5-LZ4';
  if (input.length < HEADER_BYTES) throw new TruncatedError(`${what}: ${input.length} bytes, shorter than the 12-byte header`, where);
  const total = readU64BE(input, 0, where, what);
  const blockBytes = readU32BE(input, 8);
  checkOutputSize(total, opts, what);
  if (blockBytes === 0 && total > 0) throw new FormatError(`${what}: block size 0`, where);
  const out = new Uint8Array(total);
  let ip = HEADER_BYTES;
  let op = 0;
  let b = 0;
  while (op < total) {
    const nbytes = Math.min(blockBytes, total - op);
    if (input.length - ip < 4) throw new TruncatedError(`${what}: the data ends at byte ${input.length} before block ${b}; ${op} of ${total} bytes decoded`, where);
    const csize = readU32BE(input, ip);
    ip += 4;
    if (csize > input.length - ip) throw new TruncatedError(`${what}: block ${b} needs ${csize} bytes at byte ${ip}, only ${input.length - ip} remain; ${op} of ${total} bytes decoded`, where);
    if (csize === nbytes) {
      out.set(input.subarray(ip, ip + csize), op);
    } else {
      let got: number;
      try {
        got = lz4Into(input, ip, ip + csize, out, op, op + nbytes);
      } catch (err) {
        if (err instanceof Lz4InputEnd || err instanceof Lz4Corrupt) throw new FormatError(`${what}: block ${b} (at byte ${ip}) is corrupt: ${err.message}`, where);
        throw err;
      }
      if (got !== nbytes) throw new FormatError(`${what}: block ${b} (at byte ${ip}) decodes to ${got} bytes, expected ${nbytes}`, where);
    }
    ip += csize;
    op += nbytes;
    b++;
  }
  if (ip !== input.length && (opts.trailing ?? 'error') === 'error') {
    throw new FormatError(`${what}: ${input.length - ip} bytes follow the last block (data ends at byte ${ip})`, where);
  }
  return out;
}
