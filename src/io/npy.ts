/**
 * NumPy `.npy` files (format versions 1.0, 2.0 and 3.0 read; 1.0 written when
 * the header fits, else 2.0), C order only.
 *
 * Layout: the magic `\x93NUMPY`, two version bytes, the header length (uint16
 * LE for 1.0, uint32 LE for 2.0/3.0), then an ASCII Python dict literal
 * `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }` padded with
 * spaces and ending in '\n' so that the data starts on a 64-byte boundary,
 * then the raw array bytes.
 */
import { readFileSync } from 'node:fs';
import { FileAccessError, FormatError, TruncatedError } from '../errors.ts';
import { writeFileAtomicSync } from './atomic-file.ts';

/** The element types diffract writes and reads. */
export type NpyDtype = '<f4' | '<f8' | '<i4' | '<u4' | '<i2' | '<u2' | '|u1' | '|i1';

export type NpyData = Float32Array | Float64Array | Int32Array | Uint32Array | Int16Array | Uint16Array | Uint8Array | Int8Array;

export interface NpyArray {
  dtype: NpyDtype;
  shape: readonly number[];
  /** C order (last axis fastest) */
  data: NpyData;
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59] as const; // \x93NUMPY

const ITEM_SIZE: Record<NpyDtype, number> = { '<f4': 4, '<f8': 8, '<i4': 4, '<u4': 4, '<i2': 2, '<u2': 2, '|u1': 1, '|i1': 1 };

function dtypeOf(data: NpyData): NpyDtype {
  if (data instanceof Float32Array) return '<f4';
  if (data instanceof Float64Array) return '<f8';
  if (data instanceof Int32Array) return '<i4';
  if (data instanceof Uint32Array) return '<u4';
  if (data instanceof Int16Array) return '<i2';
  if (data instanceof Uint16Array) return '<u2';
  if (data instanceof Int8Array) return '|i1';
  return '|u1';
}

function product(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** The bytes of a .npy file holding `data` with `shape` (C order, little-endian). */
export function encodeNpy(data: NpyData, shape: readonly number[]): Uint8Array {
  if (shape.some((n) => !Number.isInteger(n) || n < 0)) throw new RangeError(`npy: bad shape (${shape.join(', ')})`);
  if (product(shape) !== data.length) throw new RangeError(`npy: shape (${shape.join(', ')}) holds ${product(shape)} elements, data has ${data.length}`);
  const dtype = dtypeOf(data);
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  const dict = `{'descr': '${dtype}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  let version = 1;
  let prefix = 10;
  let total = Math.ceil((prefix + dict.length + 1) / 64) * 64;
  if (total - prefix > 0xffff) {
    version = 2;
    prefix = 12;
    total = Math.ceil((prefix + dict.length + 1) / 64) * 64;
  }
  const headerLen = total - prefix;
  const header = dict.padEnd(headerLen - 1, ' ') + '\n';
  const itemSize = ITEM_SIZE[dtype];
  const out = new Uint8Array(total + data.length * itemSize);
  out.set(MAGIC, 0);
  out[6] = version;
  out[7] = 0;
  const view = new DataView(out.buffer);
  if (version === 1) view.setUint16(8, headerLen, true);
  else view.setUint32(8, headerLen, true);
  for (let i = 0; i < header.length; i++) out[prefix + i] = header.charCodeAt(i);
  // typed arrays are little-endian on every platform Node runs on; write explicitly anyway
  const body = new DataView(out.buffer, total);
  switch (dtype) {
    case '<f4':
      for (let i = 0; i < data.length; i++) body.setFloat32(4 * i, data[i] as number, true);
      break;
    case '<f8':
      for (let i = 0; i < data.length; i++) body.setFloat64(8 * i, data[i] as number, true);
      break;
    case '<i4':
      for (let i = 0; i < data.length; i++) body.setInt32(4 * i, data[i] as number, true);
      break;
    case '<u4':
      for (let i = 0; i < data.length; i++) body.setUint32(4 * i, data[i] as number, true);
      break;
    case '<i2':
      for (let i = 0; i < data.length; i++) body.setInt16(2 * i, data[i] as number, true);
      break;
    case '<u2':
      for (let i = 0; i < data.length; i++) body.setUint16(2 * i, data[i] as number, true);
      break;
    case '|i1':
    case '|u1':
      out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), total);
      break;
  }
  return out;
}

function parseHeader(text: string, file: string | undefined): { dtype: NpyDtype; shape: number[] } {
  const where = file === undefined ? {} : { file };
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(text)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(text)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(text)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) {
    throw new FormatError(`npy header is not a descr/fortran_order/shape dict: ${JSON.stringify(text.trim())}`, where);
  }
  if (fortran === 'True') throw new FormatError('npy arrays in Fortran order are not supported', { ...where, field: 'fortran_order' });
  const normalized = descr === '<u1' ? '|u1' : descr === '<i1' ? '|i1' : descr;
  if (!(normalized in ITEM_SIZE)) throw new FormatError(`npy dtype '${descr}' is not supported (little-endian f4, f8, i4, u4, i2, u2, u1, i1)`, { ...where, field: 'descr' });
  const shape = shapeText
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
    .map(Number);
  if (shape.some((n) => !Number.isInteger(n) || n < 0)) throw new FormatError(`npy shape (${shapeText}) is not a tuple of sizes`, { ...where, field: 'shape' });
  return { dtype: normalized as NpyDtype, shape };
}

/** Parses .npy bytes. `file` names the source in error messages. */
export function decodeNpy(bytes: Uint8Array, file?: string): NpyArray {
  const where = file === undefined ? {} : { file };
  if (bytes.length < 10) throw new TruncatedError(`npy file of ${bytes.length} bytes is shorter than its preamble`, where);
  for (let i = 0; i < MAGIC.length; i++) {
    if (bytes[i] !== MAGIC[i]) throw new FormatError('not a .npy file (bad magic)', where);
  }
  const major = bytes[6] as number;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let prefix: number;
  let headerLen: number;
  if (major === 1) {
    prefix = 10;
    headerLen = view.getUint16(8, true);
  } else if (major === 2 || major === 3) {
    if (bytes.length < 12) throw new TruncatedError('npy preamble truncated', where);
    prefix = 12;
    headerLen = view.getUint32(8, true);
  } else {
    throw new FormatError(`npy format version ${major}.${bytes[7]} is not supported`, where);
  }
  if (bytes.length < prefix + headerLen) throw new TruncatedError('npy header truncated', where);
  const headerBytes = bytes.subarray(prefix, prefix + headerLen);
  const text = major === 3 ? new TextDecoder('utf-8').decode(headerBytes) : String.fromCharCode(...headerBytes);
  const { dtype, shape } = parseHeader(text, file);
  const n = product(shape);
  const itemSize = ITEM_SIZE[dtype];
  const start = prefix + headerLen;
  if (bytes.length < start + n * itemSize) {
    throw new TruncatedError(`npy data holds ${bytes.length - start} bytes, shape (${shape.join(', ')}) of ${dtype} needs ${n * itemSize}`, where);
  }
  const body = new DataView(bytes.buffer, bytes.byteOffset + start, n * itemSize);
  let data: NpyData;
  switch (dtype) {
    case '<f4': {
      const a = new Float32Array(n);
      for (let i = 0; i < n; i++) a[i] = body.getFloat32(4 * i, true);
      data = a;
      break;
    }
    case '<f8': {
      const a = new Float64Array(n);
      for (let i = 0; i < n; i++) a[i] = body.getFloat64(8 * i, true);
      data = a;
      break;
    }
    case '<i4': {
      const a = new Int32Array(n);
      for (let i = 0; i < n; i++) a[i] = body.getInt32(4 * i, true);
      data = a;
      break;
    }
    case '<u4': {
      const a = new Uint32Array(n);
      for (let i = 0; i < n; i++) a[i] = body.getUint32(4 * i, true);
      data = a;
      break;
    }
    case '<i2': {
      const a = new Int16Array(n);
      for (let i = 0; i < n; i++) a[i] = body.getInt16(2 * i, true);
      data = a;
      break;
    }
    case '<u2': {
      const a = new Uint16Array(n);
      for (let i = 0; i < n; i++) a[i] = body.getUint16(2 * i, true);
      data = a;
      break;
    }
    case '|u1': {
      // copy (a Node Buffer's slice() is a view into a shared pool)
      const a = new Uint8Array(n);
      a.set(bytes.subarray(start, start + n));
      data = a;
      break;
    }
    case '|i1': {
      const a = new Int8Array(n);
      a.set(new Int8Array(bytes.buffer, bytes.byteOffset + start, n));
      data = a;
      break;
    }
  }
  return { dtype, shape, data };
}

/** Writes a .npy file atomically (a temporary file beside it, then a rename). */
export function writeNpy(path: string, data: NpyData, shape: readonly number[]): void {
  writeFileAtomicSync(path, encodeNpy(data, shape));
}

export function readNpy(path: string): NpyArray {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    throw new FileAccessError(`cannot read: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { file: path }, { cause: err });
  }
  return decodeNpy(bytes, path);
}
