/** The .npy writer and reader (src/io/npy.ts). */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DiffractError, FormatError, TruncatedError } from '../../src/errors.ts';
import { decodeNpy, encodeNpy, readNpy, writeNpy } from '../../src/io/npy.ts';

const dir = mkdtempSync(join(tmpdir(), 'diffract-npy-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function headerText(bytes: Uint8Array): string {
  const len = bytes[8]! + 256 * bytes[9]!;
  return Buffer.from(bytes.subarray(10, 10 + len)).toString('latin1');
}

describe('npy', () => {
  it('writes a version 1.0 header that NumPy accepts, data 64-byte aligned', () => {
    const bytes = encodeNpy(new Float32Array([1, 2, 3, 4, 5, 6]), [2, 3]);
    expect(Array.from(bytes.subarray(0, 8))).toEqual([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
    const header = headerText(bytes);
    expect(header).toMatch(/^\{'descr': '<f4', 'fortran_order': False, 'shape': \(2, 3\), \} *\n$/);
    expect((10 + header.length) % 64).toBe(0);
    expect(bytes.length).toBe(10 + header.length + 6 * 4);
    // little-endian f32 body
    const body = new DataView(bytes.buffer, bytes.byteOffset + 10 + header.length);
    expect(body.getFloat32(4 * 5, true)).toBe(6);
  });

  it('writes 1-d shapes as a one-element tuple', () => {
    expect(headerText(encodeNpy(new Int32Array(7), [7]))).toContain("'shape': (7,)");
    expect(headerText(encodeNpy(new Float64Array(1), []))).toContain("'shape': ()");
  });

  const cases = [
    ['<f4', new Float32Array([0, -1.5, Math.fround(Math.PI), Number.POSITIVE_INFINITY, 3.4e38, 1e-40])],
    ['<f8', new Float64Array([0, -1.5, Math.PI, Number.MIN_VALUE, -1e300, Number.NaN])],
    ['<i4', new Int32Array([0, -1, -2, 2147483647, -2147483648, 42])],
    ['<u4', new Uint32Array([0, 1, 4294967295, 7, 8, 9])],
    ['<i2', new Int16Array([0, -32768, 32767, 1, 2, 3])],
    ['<u2', new Uint16Array([0, 65535, 1, 2, 3, 4])],
    ['|u1', new Uint8Array([0, 255, 1, 2, 3, 4])],
    ['|i1', new Int8Array([0, -128, 127, 1, 2, 3])],
  ] as const;
  for (const [dtype, data] of cases) {
    it(`round-trips ${dtype} through a file`, () => {
      const path = join(dir, `a${dtype.slice(1)}.npy`);
      writeNpy(path, data, [3, 2, 1]);
      const back = readNpy(path);
      expect(back.dtype).toBe(dtype);
      expect(back.shape).toEqual([3, 2, 1]);
      expect(back.data.constructor).toBe(data.constructor);
      expect(Array.from(back.data)).toEqual(Array.from(data));
    });
  }

  it('round-trips a large 3-d float32 array bit for bit', () => {
    const data = new Float32Array(31 * 17 * 5);
    for (let i = 0; i < data.length; i++) data[i] = Math.sin(i) * 1e3;
    const back = decodeNpy(encodeNpy(data, [31, 17, 5]));
    expect(back.shape).toEqual([31, 17, 5]);
    expect(Buffer.from((back.data as Float32Array).buffer).equals(Buffer.from(data.buffer))).toBe(true);
  });

  it('reads version 2.0 headers and Fortran-order refusals', () => {
    const v1 = encodeNpy(new Int32Array([5, 6]), [2]);
    const header = headerText(v1);
    const v2 = new Uint8Array(12 + header.length + 8);
    v2.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 2, 0]);
    new DataView(v2.buffer).setUint32(8, header.length, true);
    v2.set(Buffer.from(header, 'latin1'), 12);
    v2.set(v1.subarray(10 + header.length), 12 + header.length);
    expect(Array.from(decodeNpy(v2).data)).toEqual([5, 6]);

    const fortran = Buffer.from(v1);
    fortran.write("'fortran_order': True, ", header.indexOf("'fortran_order'") + 10, 'latin1');
    expect(() => decodeNpy(fortran, 'f.npy')).toThrow(FormatError);
  });

  it('refuses garbage with typed errors', () => {
    const good = encodeNpy(new Float32Array(100), [10, 10]);
    expect(() => decodeNpy(new Uint8Array(5))).toThrow(TruncatedError);
    expect(() => decodeNpy(new Uint8Array(64), 'x.npy')).toThrow(FormatError);
    expect(() => decodeNpy(good.subarray(0, good.length - 1), 'short.npy')).toThrow(TruncatedError);
    const bigEndian = Buffer.from(good);
    bigEndian.write('>f4', headerText(good).indexOf('<f4') + 10, 'latin1');
    expect(() => decodeNpy(bigEndian)).toThrow(FormatError);
    expect(() => readNpy(join(dir, 'missing.npy'))).toThrow(DiffractError);
    expect(() => encodeNpy(new Float32Array(5), [2, 3])).toThrow(RangeError);
  });

  it('leaves no temporary file behind', () => {
    const path = join(dir, 'atomic.npy');
    writeNpy(path, new Float32Array([1]), [1]);
    expect(readFileSync(path).length).toBe(encodeNpy(new Float32Array([1]), [1]).length);
    expect(readdirSync(dir).filter((f) => f.includes('.tmp-'))).toEqual([]);
  });
});
