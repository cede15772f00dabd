/** Test-side encoders of LZ4 and bitshuffle-LZ4 data and of Dectris image messages (the reader has decoders only), shared by the Dectris stream tests and fuzz tests. */
import { createHash } from 'node:crypto';

const json = (o: Record<string, unknown>): Uint8Array => new Uint8Array(Buffer.from(JSON.stringify(o), 'utf8'));

/** One LZ4 block holding `data` as a single literal run (valid LZ4, no compression). */
export function lz4Literals(data: Uint8Array): Uint8Array {
  const ext: number[] = [];
  let token = data.length << 4;
  if (data.length >= 15) {
    token = 0xf0;
    let n = data.length - 15;
    for (; n >= 255; n -= 255) ext.push(255);
    ext.push(n);
  }
  return Buffer.concat([Uint8Array.from([token, ...ext]), data]);
}

/** Bitshuffle of `n` elements of `e` bytes (n a multiple of 8), naive, per bit: the oracle for the fast unshuffle. */
export function bitshuffleBlock(src: Uint8Array, n: number, e: number): Uint8Array {
  const out = new Uint8Array(n * e);
  const nb = n / 8;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < e; j++) {
      const v = src[i * e + j] as number;
      for (let b = 0; b < 8; b++) if ((v >> b) & 1) out[(8 * j + b) * nb + (i >> 3)]! |= 1 << (i & 7);
    }
  }
  return out;
}

/** The bitshuffle-LZ4 stream of `data` (elements of `e` bytes): 12-byte header, bitshuffled LZ4 blocks, the leftover elements raw. */
export function bslz4(data: Uint8Array, e: number, blockElems = 8192 / e): Uint8Array {
  const count = data.length / e;
  const head = Buffer.alloc(12);
  head.writeBigUInt64BE(BigInt(data.length), 0);
  head.writeUInt32BE(blockElems * e, 8);
  const parts: Uint8Array[] = [head];
  let i = 0;
  while (count - i >= 8) {
    let n = Math.min(blockElems, count - i);
    n -= n % 8;
    const lz = lz4Literals(bitshuffleBlock(data.subarray(i * e, (i + n) * e), n, e));
    const size = Buffer.alloc(4);
    size.writeUInt32BE(lz.length, 0);
    parts.push(size, lz);
    i += n;
  }
  parts.push(data.subarray(i * e));
  return Buffer.concat(parts);
}

function bytesOf(a: Uint16Array | Uint32Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/** The four parts of a Dectris `dimage-1.0` message holding `values` with `encoding` ('<', 'lz4<' or 'bs16-lz4<' / 'bs32-lz4<'). */
export function imageParts(series: number, frame: number, values: Uint16Array | Uint32Array, shape: [number, number], encoding: string): Uint8Array[] {
  const type = values instanceof Uint16Array ? 'uint16' : 'uint32';
  const e = values.BYTES_PER_ELEMENT;
  const raw = bytesOf(values);
  const blob = encoding === '<' ? raw : encoding === 'lz4<' ? lz4Literals(raw) : bslz4(raw, e);
  const hash = createHash('md5').update(blob).digest('hex');
  return [
    json({ htype: 'dimage-1.0', series, frame, hash }),
    json({ htype: 'dimage_d-1.0', shape, type, encoding, size: blob.length }),
    blob,
    json({ htype: 'dconfig-1.0', start_time: 1000 * frame, stop_time: 1000 * frame + 500, real_time: 500 }),
  ];
}
