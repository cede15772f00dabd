/**
 * DIALS reflection table writer (`.refl`, msgpack): the inverse of the msgpack
 * branch of `dials-refl.ts`, whose module comment gives the layout:
 * `["dials::af::reflection_table", 1, {identifiers, nrows, data}]`, with
 * `identifiers` a map from the integer experiment id (the `id` column) to the
 * experiment's identifier, and `data` a map from column name to
 * `[type_name, [count, blob]]`, the blob holding `count` little-endian elements
 * packed without padding (`std::string` columns: a plain array of strings).
 */
import { encode as msgpackEncode } from '@msgpack/msgpack';
import { InvalidValueError } from '../errors.ts';
import type { DecodedColumnType } from './dials-refl.ts';

/** One column to write: its values, `width` per row (row-major). */
export type WriteColumn =
  | { type: 'int' | 'int6' | 'cctbx::miller::index<>'; data: Int32Array | readonly number[] }
  | { type: 'std::size_t'; data: readonly number[] | Float64Array }
  | { type: 'double' | 'vec2<double>' | 'vec3<double>' | 'mat3<double>'; data: Float64Array | readonly number[] }
  | { type: 'bool'; data: Uint8Array | readonly number[] }
  | { type: 'std::string'; data: readonly string[] };

const WIDTH: Record<DecodedColumnType, number> = {
  bool: 1,
  int: 1,
  'std::size_t': 1,
  double: 1,
  'std::string': 1,
  'vec2<double>': 2,
  'vec3<double>': 3,
  'mat3<double>': 9,
  int6: 6,
  'cctbx::miller::index<>': 3,
};

function blob(name: string, c: Exclude<WriteColumn, { type: 'std::string' }>, nrows: number): Uint8Array {
  const n = nrows * WIDTH[c.type];
  if (c.data.length !== n) throw new InvalidValueError(`column has ${c.data.length} values, expected ${nrows} rows × ${WIDTH[c.type]}`, { field: name });
  switch (c.type) {
    case 'bool': {
      const out = new Uint8Array(n);
      for (let i = 0; i < n; i++) out[i] = (c.data[i] as number) !== 0 ? 1 : 0;
      return out;
    }
    case 'int':
    case 'int6':
    case 'cctbx::miller::index<>': {
      const dv = new DataView(new ArrayBuffer(4 * n));
      for (let i = 0; i < n; i++) {
        const v = c.data[i] as number;
        if (!(Number.isInteger(v) && v >= -2147483648 && v <= 2147483647)) throw new InvalidValueError(`row ${Math.floor(i / WIDTH[c.type])}: ${v} is not a 32-bit integer`, { field: name });
        dv.setInt32(4 * i, v, true);
      }
      return new Uint8Array(dv.buffer);
    }
    case 'std::size_t': {
      const dv = new DataView(new ArrayBuffer(8 * n));
      for (let i = 0; i < n; i++) {
        const v = c.data[i] as number;
        if (!(Number.isSafeInteger(v) && v >= 0)) throw new InvalidValueError(`row ${i}: ${v} is not a size_t`, { field: name });
        dv.setBigUint64(8 * i, BigInt(v), true);
      }
      return new Uint8Array(dv.buffer);
    }
    default: {
      const dv = new DataView(new ArrayBuffer(8 * n));
      for (let i = 0; i < n; i++) dv.setFloat64(8 * i, c.data[i] as number, true);
      return new Uint8Array(dv.buffer);
    }
  }
}

/** The bytes of a msgpack `.refl` holding `columns` (`nrows` rows each) and the id → identifier map. */
export function encodeReflectionTable(nrows: number, columns: ReadonlyMap<string, WriteColumn> | Record<string, WriteColumn>, identifiers: ReadonlyMap<number, string>): Uint8Array {
  if (!(Number.isSafeInteger(nrows) && nrows >= 0)) throw new InvalidValueError(`nrows must be an integer ≥ 0, got ${nrows}`, { field: 'nrows' });
  const entries = columns instanceof Map ? [...columns.entries()] : Object.entries(columns);
  const data: Record<string, unknown> = {};
  for (const [name, c] of entries) {
    if (c.type === 'std::string') {
      if (c.data.length !== nrows) throw new InvalidValueError(`column has ${c.data.length} values, expected ${nrows}`, { field: name });
      data[name] = [c.type, [...c.data]];
    } else {
      data[name] = [c.type, [nrows, blob(name, c, nrows)]];
    }
  }
  // the encoder writes string keys only; `identifiers` has integer keys, so the
  // top level is assembled from encoded pieces: [magic, 1, {identifiers, nrows, data}]
  const ids = [...identifiers.entries()].sort((a, b) => a[0] - b[0]);
  const parts: Uint8Array[] = [Uint8Array.of(0x93), msgpackEncode('dials::af::reflection_table'), msgpackEncode(1), Uint8Array.of(0x83), msgpackEncode('identifiers'), mapHeader(ids.length)];
  for (const [id, ident] of ids) parts.push(msgpackEncode(id), msgpackEncode(ident));
  parts.push(msgpackEncode('nrows'), msgpackEncode(nrows), msgpackEncode('data'), msgpackEncode(data));
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** A msgpack map header for `n` entries. */
function mapHeader(n: number): Uint8Array {
  if (n < 16) return Uint8Array.of(0x80 + n);
  if (n < 0x10000) return Uint8Array.of(0xde, n >> 8, n & 0xff);
  return Uint8Array.of(0xdf, (n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff);
}
