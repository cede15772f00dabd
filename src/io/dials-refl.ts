/**
 * DIALS reflection tables (`.refl`).
 *
 * Two on-disk encodings exist and both are read here:
 *
 * 1. **msgpack** (every DIALS since 2019): a 3-array
 *    `["dials::af::reflection_table", 1, {identifiers, nrows, data}]`, where
 *    `identifiers` maps the integer experiment id (the `id` column) to the
 *    experiment's identifier string, and `data` maps each column name to
 *    `[type_name, [count, bin]]`. The blob holds `count` fixed-size elements,
 *    little-endian, packed without padding. Type names and element sizes:
 *
 *    | type name                | per row        | decoded as                 |
 *    | ------------------------ | -------------- | -------------------------- |
 *    | `bool`                   | 1 byte         | Uint8Array, width 1 (0/1)  |
 *    | `int`                    | int32          | Int32Array, width 1        |
 *    | `std::size_t`            | uint64         | Float64Array, width 1 (*)  |
 *    | `double`                 | f64            | Float64Array, width 1      |
 *    | `vec2<double>`           | 2 × f64        | Float64Array, width 2      |
 *    | `vec3<double>`           | 3 × f64        | Float64Array, width 3      |
 *    | `mat3<double>`           | 9 × f64        | Float64Array, width 9 (row-major) |
 *    | `int6`                   | 6 × int32      | Int32Array, width 6        |
 *    | `cctbx::miller::index<>` | 3 × int32      | Int32Array, width 3 (h,k,l)|
 *    | `std::string`            | msgpack array of strings | string[], width 1 |
 *    | `Shoebox<>`              | pixel arrays   | not decoded: listed in `skipped` |
 *
 *    (*) `std::size_t` values (flags, panel, partial_id) become numbers; a value
 *    beyond 2^53 cannot be represented exactly and is refused with an
 *    InvalidValueError naming the column.
 *
 * 2. **Python pickle** (older DIALS, e.g. `l-cysteine/scaled/scaled_30.refl`):
 *    a protocol-2 pickle of `dials_array_family_flex_ext.reflection_table`
 *    whose state is `(2, {id: identifier}, nrows, ncols, {name: flex array})`
 *    (`(1, nrows, ncols, {…})` for the version without identifiers). Each flex
 *    array's state is `(flex_grid, bytes)`, the bytes being cctbx's
 *    "single-buffered" encoding: the element count, then each scalar in the
 *    base-256 variable-length form (integers: a header byte whose low 7 bits give
 *    the encoded length and whose top bit is the sign, then the magnitude's bytes,
 *    least significant first; doubles: the same header, then the normalized
 *    mantissa's bytes, most significant first, then the binary exponent as an
 *    integer; bools: the characters '1'/'0'). Only the pickle opcodes such a file
 *    uses are interpreted and no Python object is ever constructed: any class
 *    outside the flex types listed above is reported, never executed.
 *
 * The decoder is pure (`decodeReflectionTable`); `readReflectionTable` only adds
 * the file read.
 */
import { readFile } from 'node:fs/promises';
import { decode as msgpackDecode } from '@msgpack/msgpack';
import { FileAccessError, FormatError, InvalidValueError, MissingFieldError } from '../errors.ts';

/** The column type names DIALS writes. */
export type DialsColumnType =
  | 'bool'
  | 'int'
  | 'std::size_t'
  | 'double'
  | 'std::string'
  | 'vec2<double>'
  | 'vec3<double>'
  | 'mat3<double>'
  | 'int6'
  | 'cctbx::miller::index<>'
  | 'Shoebox<>';

/** The array each decodable column type becomes. */
export interface ColumnDataByType {
  bool: Uint8Array;
  int: Int32Array;
  'std::size_t': Float64Array;
  double: Float64Array;
  'std::string': string[];
  'vec2<double>': Float64Array;
  'vec3<double>': Float64Array;
  'mat3<double>': Float64Array;
  int6: Int32Array;
  'cctbx::miller::index<>': Int32Array;
}
export type DecodedColumnType = keyof ColumnDataByType;
export type ColumnData = ColumnDataByType[DecodedColumnType];

export interface Column<T extends DecodedColumnType = DecodedColumnType> {
  name: string;
  /** the DIALS type name */
  type: T;
  /** components per row: 1, 2, 3, 6 or 9; row r's components are data[r*width .. r*width+width) */
  width: number;
  data: ColumnDataByType[T];
}

/** A column present in the file but not decoded (e.g. `Shoebox<>`). */
export interface SkippedColumn {
  name: string;
  type: string;
  reason: string;
}

export interface ReflectionTable {
  /** the file it came from (as given), for messages */
  source: string;
  /** 'msgpack' or 'pickle' */
  encoding: 'msgpack' | 'pickle';
  nrows: number;
  /** `id` column value → experiment identifier */
  identifiers: Map<number, string>;
  columns: Map<string, Column>;
  /** columns present in the file that are not decoded, with the reason */
  skipped: SkippedColumn[];
}

interface TypeInfo {
  width: number;
  /** bytes per row in the msgpack blob */
  bytes: number;
}

const TYPE_INFO: Record<Exclude<DecodedColumnType, 'std::string'>, TypeInfo> = {
  bool: { width: 1, bytes: 1 },
  int: { width: 1, bytes: 4 },
  'std::size_t': { width: 1, bytes: 8 },
  double: { width: 1, bytes: 8 },
  'vec2<double>': { width: 2, bytes: 16 },
  'vec3<double>': { width: 3, bytes: 24 },
  'mat3<double>': { width: 9, bytes: 72 },
  int6: { width: 6, bytes: 24 },
  'cctbx::miller::index<>': { width: 3, bytes: 12 },
};

const SHOEBOX_NOTE = 'Shoebox<> columns (pixel data) are not decoded; nothing in diffract reads them yet';

function isDecodedType(t: string): t is DecodedColumnType {
  return t === 'std::string' || Object.prototype.hasOwnProperty.call(TYPE_INFO, t);
}

// ---------------------------------------------------------------------------
// public API

/** Reads and decodes a DIALS `.refl` file (msgpack or legacy pickle). */
export async function readReflectionTable(path: string): Promise<ReflectionTable> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a folder, not a .refl file' : `cannot read (${code ?? String(err)})`;
    throw new FileAccessError(why, { file: path }, { cause: err });
  }
  return decodeReflectionTable(bytes, path);
}

/** Decodes the bytes of a `.refl` file; `file` names it in errors. */
export function decodeReflectionTable(bytes: Uint8Array, file: string): ReflectionTable {
  if (bytes.length === 0) throw new FormatError('empty file, not a DIALS reflection table', { file });
  if (bytes[0] === 0x80) return decodePickle(bytes, file);
  return decodeMsgpack(bytes, file);
}

/**
 * The column `name`, checked against `expectedType` (one type name or a list).
 * Throws MissingFieldError naming the file and the column when it is absent,
 * InvalidValueError when it has another type or was not decoded.
 */
export function getColumn<T extends DecodedColumnType>(table: ReflectionTable, name: string, expectedType: T | readonly T[]): Column<T>;
export function getColumn(table: ReflectionTable, name: string): Column;
export function getColumn(table: ReflectionTable, name: string, expectedType?: DecodedColumnType | readonly DecodedColumnType[]): Column {
  const col = table.columns.get(name);
  if (col === undefined) {
    const skipped = table.skipped.find((s) => s.name === name);
    if (skipped !== undefined) {
      throw new InvalidValueError(`column of type ${skipped.type} is present but not decoded: ${skipped.reason}`, { file: table.source, field: name });
    }
    throw new MissingFieldError(`reflection table has no column '${name}' (it has: ${columnList(table)})`, { file: table.source, field: name });
  }
  if (expectedType !== undefined) {
    const allowed: readonly string[] = typeof expectedType === 'string' ? [expectedType] : expectedType;
    if (!allowed.includes(col.type)) {
      throw new InvalidValueError(`column has type ${col.type}, expected ${allowed.join(' or ')}`, { file: table.source, field: name });
    }
  }
  return col;
}

/** Whether the table has the (decoded) column. */
export function hasColumn(table: ReflectionTable, name: string): boolean {
  return table.columns.has(name);
}

function columnList(table: ReflectionTable): string {
  const names = [...table.columns.keys()].sort();
  if (names.length === 0) return 'no columns';
  return names.length > 40 ? `${names.slice(0, 40).join(', ')}, …` : names.join(', ');
}

// ---------------------------------------------------------------------------
// msgpack

const MAGIC = 'dials::af::reflection_table';

function decodeMsgpack(bytes: Uint8Array, file: string): ReflectionTable {
  let root: unknown;
  try {
    root = msgpackDecode(bytes, { useBigInt64: false, mapKeyConverter: (k) => (typeof k === 'number' || typeof k === 'string' ? k : String(k)) });
  } catch (err) {
    throw new FormatError(`not a valid msgpack DIALS reflection table (${err instanceof Error ? err.message : String(err)})`, { file }, { cause: err });
  }
  if (!Array.isArray(root) || root.length !== 3) {
    throw new FormatError('not a DIALS reflection table: expected a 3-element msgpack array at the top', { file });
  }
  const [magic, version, payload] = root as [unknown, unknown, unknown];
  const magicText = magic instanceof Uint8Array ? new TextDecoder().decode(magic) : magic;
  if (magicText !== MAGIC) throw new FormatError(`not a DIALS reflection table: header is ${JSON.stringify(String(magicText)).slice(0, 60)}`, { file });
  if (version !== 1) throw new FormatError(`unsupported reflection table version ${String(version)} (this reader knows version 1)`, { file });
  if (!isRecord(payload)) throw new FormatError('reflection table payload is not a map', { file });

  const nrows = payload.nrows;
  if (typeof nrows !== 'number' || !Number.isInteger(nrows) || nrows < 0) {
    throw new FormatError(`'nrows' missing or not a non-negative integer`, { file, field: 'nrows' });
  }
  const identifiers = new Map<number, string>();
  if (payload.identifiers !== undefined) {
    if (!isRecord(payload.identifiers)) throw new FormatError('identifiers is not a map', { file, field: 'identifiers' });
    for (const [k, v] of Object.entries(payload.identifiers)) {
      const id = Number(k);
      if (!Number.isInteger(id) || typeof v !== 'string') throw new FormatError(`bad identifier entry ${k}`, { file, field: 'identifiers' });
      identifiers.set(id, v);
    }
  }
  const data = payload.data;
  if (!isRecord(data)) throw new FormatError(`'data' missing or not a map`, { file, field: 'data' });

  const columns = new Map<string, Column>();
  const skipped: SkippedColumn[] = [];
  for (const [name, entry] of Object.entries(data)) {
    if (!Array.isArray(entry) || entry.length !== 2 || typeof entry[0] !== 'string') {
      throw new FormatError('column entry is not [type, data]', { file, field: name });
    }
    const type = entry[0];
    const body: unknown = entry[1];
    if (type === 'Shoebox<>') {
      skipped.push({ name, type, reason: SHOEBOX_NOTE });
      continue;
    }
    if (!isDecodedType(type)) {
      throw new FormatError(`unknown column type '${type}'`, { file, field: name });
    }
    if (type === 'std::string') {
      columns.set(name, decodeStringColumn(body, nrows, file, name));
      continue;
    }
    if (!Array.isArray(body) || body.length !== 2 || typeof body[0] !== 'number' || !(body[1] instanceof Uint8Array)) {
      throw new FormatError(`column data is not [count, binary]`, { file, field: name });
    }
    const count = body[0];
    const blob = body[1];
    if (count !== nrows) throw new FormatError(`column has ${count} rows, table says ${nrows}`, { file, field: name });
    columns.set(name, decodeBlob(type, blob, nrows, file, name));
  }
  return { source: file, encoding: 'msgpack', nrows, identifiers, columns, skipped };
}

function decodeStringColumn(body: unknown, nrows: number, file: string, name: string): Column<'std::string'> {
  // DIALS packs string columns as a plain msgpack array of strings; accept [count, [..]] as well.
  let arr: unknown = body;
  if (Array.isArray(body) && body.length === 2 && typeof body[0] === 'number' && Array.isArray(body[1])) arr = body[1];
  if (!Array.isArray(arr) || arr.length !== nrows || !arr.every((s) => typeof s === 'string')) {
    throw new FormatError(`std::string column is not an array of ${nrows} strings`, { file, field: name });
  }
  return { name, type: 'std::string', width: 1, data: arr as string[] };
}

const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function decodeBlob(type: Exclude<DecodedColumnType, 'std::string'>, blob: Uint8Array, nrows: number, file: string, name: string): Column {
  const info = TYPE_INFO[type];
  if (blob.length !== nrows * info.bytes) {
    throw new FormatError(`binary column holds ${blob.length} bytes, expected ${nrows} rows × ${info.bytes} = ${nrows * info.bytes}`, { file, field: name });
  }
  const n = nrows * info.width;
  // copy into an aligned buffer of our own (the blob is a view into the file bytes)
  const own = new Uint8Array(blob.length);
  own.set(blob);
  const dv = new DataView(own.buffer);
  switch (type) {
    case 'bool':
      return { name, type, width: 1, data: own };
    case 'int':
    case 'int6':
    case 'cctbx::miller::index<>': {
      let data: Int32Array;
      if (HOST_LITTLE_ENDIAN) data = new Int32Array(own.buffer, 0, n);
      else {
        data = new Int32Array(n);
        for (let i = 0; i < n; i++) data[i] = dv.getInt32(4 * i, true);
      }
      return { name, type, width: info.width, data };
    }
    case 'std::size_t': {
      const data = new Float64Array(nrows);
      for (let i = 0; i < nrows; i++) {
        const v = dv.getBigUint64(8 * i, true);
        if (v > BigInt(Number.MAX_SAFE_INTEGER)) {
          throw new InvalidValueError(`row ${i}: size_t value ${v} exceeds 2^53 and cannot be held exactly`, { file, field: name });
        }
        data[i] = Number(v);
      }
      return { name, type, width: 1, data };
    }
    case 'double':
    case 'vec2<double>':
    case 'vec3<double>':
    case 'mat3<double>': {
      let data: Float64Array;
      if (HOST_LITTLE_ENDIAN) data = new Float64Array(own.buffer, 0, n);
      else {
        data = new Float64Array(n);
        for (let i = 0; i < n; i++) data[i] = dv.getFloat64(8 * i, true);
      }
      return { name, type, width: info.width, data };
    }
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
}

// ---------------------------------------------------------------------------
// legacy pickle

/** A Python object reference produced by GLOBAL (never resolved to code). */
class PyGlobal {
  constructor(
    readonly module: string,
    readonly name: string,
  ) {}
  get qualified(): string {
    return `${this.module}.${this.name}`;
  }
}
/** The result of REDUCE/NEWOBJ on a PyGlobal: the class and its arguments, plus BUILD's state. */
class PyObject {
  state: PyValue = null;
  constructor(
    readonly cls: PyGlobal,
    readonly args: PyValue[],
  ) {}
}
class PyTuple {
  constructor(readonly items: PyValue[]) {}
}
class PyDict {
  readonly entries: [PyValue, PyValue][] = [];
}
class Mark {}
type PyValue = null | boolean | number | string | Uint8Array | PyValue[] | PyTuple | PyDict | PyGlobal | PyObject;
type StackItem = PyValue | Mark;

const MARK = new Mark();

class PickleReader {
  pos = 0;
  private readonly dv: DataView;
  constructor(
    private readonly b: Uint8Array,
    private readonly file: string,
  ) {
    this.dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  }
  need(n: number): void {
    if (this.pos + n > this.b.length) throw new FormatError(`pickle ends early (at byte ${this.pos}, ${n} more bytes needed)`, { file: this.file });
  }
  u8(): number {
    this.need(1);
    return this.b[this.pos++]!;
  }
  u16(): number {
    this.need(2);
    const v = this.dv.getUint16(this.pos, true);
    this.pos += 2;
    return v;
  }
  i32(): number {
    this.need(4);
    const v = this.dv.getInt32(this.pos, true);
    this.pos += 4;
    return v;
  }
  u32(): number {
    this.need(4);
    const v = this.dv.getUint32(this.pos, true);
    this.pos += 4;
    return v;
  }
  u64(): number {
    this.need(8);
    const v = this.dv.getBigUint64(this.pos, true);
    this.pos += 8;
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new FormatError('pickle length beyond 2^53', { file: this.file });
    return Number(v);
  }
  f64be(): number {
    this.need(8);
    const v = this.dv.getFloat64(this.pos, false);
    this.pos += 8;
    return v;
  }
  bytes(n: number): Uint8Array {
    this.need(n);
    const v = this.b.subarray(this.pos, this.pos + n);
    this.pos += n;
    return v;
  }
  line(): string {
    const start = this.pos;
    while (this.pos < this.b.length && this.b[this.pos] !== 0x0a) this.pos++;
    if (this.pos >= this.b.length) throw new FormatError('pickle ends inside a GLOBAL name', { file: this.file });
    const s = latin1(this.b.subarray(start, this.pos));
    this.pos++;
    return s;
  }
}

function latin1(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i += 4096) s += String.fromCharCode(...b.subarray(i, Math.min(b.length, i + 4096)));
  return s;
}
const utf8 = new TextDecoder('utf-8');

function signedLE(b: Uint8Array): number {
  if (b.length === 0) return 0;
  let v = 0;
  for (let i = b.length - 1; i >= 0; i--) v = v * 256 + b[i]!;
  if ((b[b.length - 1]! & 0x80) !== 0) v -= 2 ** (8 * b.length);
  if (!Number.isSafeInteger(v)) throw new RangeError('pickle integer beyond 2^53');
  return v;
}

/** Runs the pickle's opcodes into plain values; no Python code or object is created. */
function unpickle(bytes: Uint8Array, file: string): PyValue {
  const r = new PickleReader(bytes, file);
  const stack: StackItem[] = [];
  const memo = new Map<number, PyValue>();
  const fail = (msg: string): never => {
    throw new FormatError(`${msg} (pickle byte ${r.pos})`, { file });
  };
  const pop = (): PyValue => {
    const v = stack.pop();
    if (v === undefined || v instanceof Mark) return fail('pickle stack underflow');
    return v as PyValue;
  };
  const top = (): PyValue => {
    const v = stack[stack.length - 1];
    if (v === undefined || v instanceof Mark) return fail('pickle stack underflow');
    return v as PyValue;
  };
  const popMark = (): PyValue[] => {
    let i = stack.length - 1;
    while (i >= 0 && !(stack[i] instanceof Mark)) i--;
    if (i < 0) fail('pickle MARK missing');
    const items = stack.splice(i + 1) as PyValue[];
    stack.pop();
    return items;
  };
  const memoPut = (idx: number): void => {
    memo.set(idx, top());
  };
  const memoGet = (idx: number): void => {
    const v = memo.get(idx);
    if (v === undefined) fail(`pickle memo ${idx} unset`);
    stack.push(v as PyValue);
  };
  const reduce = (callable: PyValue, args: PyValue): PyValue => {
    if (!(callable instanceof PyGlobal)) return fail('pickle REDUCE on something that is not a class');
    const argList = args instanceof PyTuple ? args.items : [];
    // Python 3 pickles bytes at protocol 2 as _codecs.encode(text, 'latin1')
    if (callable.qualified === '_codecs.encode' && typeof argList[0] === 'string') {
      const text = argList[0];
      const out = new Uint8Array(text.length);
      for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i) & 0xff;
      return out;
    }
    return new PyObject(callable, argList);
  };

  for (;;) {
    const op = r.u8();
    switch (op) {
      case 0x80: // PROTO
        r.u8();
        break;
      case 0x95: // FRAME
        r.u64();
        break;
      case 0x2e: // STOP
        return pop();
      case 0x28: // MARK
        stack.push(MARK);
        break;
      case 0x63: { // GLOBAL
        const module = r.line();
        const name = r.line();
        stack.push(new PyGlobal(module, name));
        break;
      }
      case 0x93: { // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof name !== 'string' || typeof module !== 'string') fail('pickle STACK_GLOBAL needs two strings');
        stack.push(new PyGlobal(module as string, name as string));
        break;
      }
      case 0x71: // BINPUT
        memoPut(r.u8());
        break;
      case 0x72: // LONG_BINPUT
        memoPut(r.u32());
        break;
      case 0x94: // MEMOIZE
        memoPut(memo.size);
        break;
      case 0x68: // BINGET
        memoGet(r.u8());
        break;
      case 0x6a: // LONG_BINGET
        memoGet(r.u32());
        break;
      case 0x29: // EMPTY_TUPLE
        stack.push(new PyTuple([]));
        break;
      case 0x85: // TUPLE1
        stack.push(new PyTuple([pop()]));
        break;
      case 0x86: { // TUPLE2
        const b = pop();
        const a = pop();
        stack.push(new PyTuple([a, b]));
        break;
      }
      case 0x87: { // TUPLE3
        const c = pop();
        const b = pop();
        const a = pop();
        stack.push(new PyTuple([a, b, c]));
        break;
      }
      case 0x74: // TUPLE
        stack.push(new PyTuple(popMark()));
        break;
      case 0x5d: // EMPTY_LIST
        stack.push([]);
        break;
      case 0x61: { // APPEND
        const v = pop();
        const list = top();
        if (!Array.isArray(list)) fail('pickle APPEND to a non-list');
        (list as PyValue[]).push(v);
        break;
      }
      case 0x65: { // APPENDS
        const items = popMark();
        const list = top();
        if (!Array.isArray(list)) fail('pickle APPENDS to a non-list');
        (list as PyValue[]).push(...items);
        break;
      }
      case 0x6c: // LIST
        stack.push(popMark());
        break;
      case 0x7d: // EMPTY_DICT
        stack.push(new PyDict());
        break;
      case 0x64: { // DICT
        const items = popMark();
        const d = new PyDict();
        for (let i = 0; i + 1 < items.length; i += 2) d.entries.push([items[i]!, items[i + 1]!]);
        stack.push(d);
        break;
      }
      case 0x73: { // SETITEM
        const v = pop();
        const k = pop();
        const d = top();
        if (!(d instanceof PyDict)) fail('pickle SETITEM on a non-dict');
        (d as PyDict).entries.push([k, v]);
        break;
      }
      case 0x75: { // SETITEMS
        const items = popMark();
        const d = top();
        if (!(d instanceof PyDict)) fail('pickle SETITEMS on a non-dict');
        for (let i = 0; i + 1 < items.length; i += 2) (d as PyDict).entries.push([items[i]!, items[i + 1]!]);
        break;
      }
      case 0x4e: // NONE
        stack.push(null);
        break;
      case 0x88: // NEWTRUE
        stack.push(true);
        break;
      case 0x89: // NEWFALSE
        stack.push(false);
        break;
      case 0x4b: // BININT1
        stack.push(r.u8());
        break;
      case 0x4d: // BININT2
        stack.push(r.u16());
        break;
      case 0x4a: // BININT
        stack.push(r.i32());
        break;
      case 0x8a: { // LONG1
        const n = r.u8();
        try {
          stack.push(signedLE(r.bytes(n)));
        } catch {
          fail('pickle integer beyond 2^53');
        }
        break;
      }
      case 0x47: // BINFLOAT
        stack.push(r.f64be());
        break;
      case 0x55: // SHORT_BINSTRING (Python 2 str: bytes)
        stack.push(r.bytes(r.u8()));
        break;
      case 0x54: // BINSTRING
        stack.push(r.bytes(r.u32()));
        break;
      case 0x43: // SHORT_BINBYTES
        stack.push(r.bytes(r.u8()));
        break;
      case 0x42: // BINBYTES
        stack.push(r.bytes(r.u32()));
        break;
      case 0x8e: // BINBYTES8
        stack.push(r.bytes(r.u64()));
        break;
      case 0x8c: // SHORT_BINUNICODE
        stack.push(utf8.decode(r.bytes(r.u8())));
        break;
      case 0x58: // BINUNICODE
        stack.push(utf8.decode(r.bytes(r.u32())));
        break;
      case 0x8d: // BINUNICODE8
        stack.push(utf8.decode(r.bytes(r.u64())));
        break;
      case 0x52: { // REDUCE
        const args = pop();
        const callable = pop();
        stack.push(reduce(callable, args));
        break;
      }
      case 0x81: { // NEWOBJ
        const args = pop();
        const cls = pop();
        stack.push(reduce(cls, args));
        break;
      }
      case 0x62: { // BUILD
        const state = pop();
        const obj = top();
        if (!(obj instanceof PyObject)) fail('pickle BUILD on something that is not an object');
        (obj as PyObject).state = state;
        break;
      }
      default:
        fail(`unsupported pickle opcode 0x${op.toString(16).padStart(2, '0')}`);
    }
  }
}

/** flex class (module.name) → the DIALS column type name. */
const FLEX_TYPES: Record<string, DialsColumnType> = {
  'scitbx_array_family_flex_ext.bool': 'bool',
  'scitbx_array_family_flex_ext.int': 'int',
  'scitbx_array_family_flex_ext.size_t': 'std::size_t',
  'scitbx_array_family_flex_ext.double': 'double',
  'scitbx_array_family_flex_ext.std_string': 'std::string',
  'scitbx_array_family_flex_ext.vec2_double': 'vec2<double>',
  'scitbx_array_family_flex_ext.vec3_double': 'vec3<double>',
  'scitbx_array_family_flex_ext.mat3_double': 'mat3<double>',
  'dials_array_family_flex_ext.int6': 'int6',
  'cctbx_array_family_flex_ext.miller_index': 'cctbx::miller::index<>',
  'dials_array_family_flex_ext.shoebox': 'Shoebox<>',
};

function pyText(v: PyValue): string | undefined {
  if (typeof v === 'string') return v;
  if (v instanceof Uint8Array) return utf8.decode(v);
  return undefined;
}

function decodePickle(bytes: Uint8Array, file: string): ReflectionTable {
  const root = unpickle(bytes, file);
  if (!(root instanceof PyObject) || root.cls.qualified !== 'dials_array_family_flex_ext.reflection_table') {
    const what = root instanceof PyObject ? root.cls.qualified : typeof root;
    throw new FormatError(`pickle holds ${what}, not a DIALS reflection_table`, { file });
  }
  const st = root.state;
  if (!(st instanceof PyTuple)) throw new FormatError('reflection_table pickle has no state tuple', { file });
  let identifiersValue: PyValue = null;
  let nrowsValue: PyValue;
  let colsValue: PyValue;
  const version = st.items[0];
  if (version === 2 && st.items.length === 5) {
    [, identifiersValue, nrowsValue, , colsValue] = st.items as [PyValue, PyValue, PyValue, PyValue, PyValue];
  } else if (version === 1 && st.items.length === 4) {
    [, nrowsValue, , colsValue] = st.items as [PyValue, PyValue, PyValue, PyValue];
  } else {
    throw new FormatError(`unsupported reflection_table pickle version ${String(version)} with ${st.items.length} state items`, { file });
  }
  if (typeof nrowsValue !== 'number' || !Number.isInteger(nrowsValue) || nrowsValue < 0) {
    throw new FormatError('reflection_table pickle: row count is not an integer', { file, field: 'nrows' });
  }
  const nrows = nrowsValue;
  const identifiers = new Map<number, string>();
  if (identifiersValue instanceof PyDict) {
    for (const [k, v] of identifiersValue.entries) {
      const text = pyText(v);
      if (typeof k !== 'number' || text === undefined) throw new FormatError('bad experiment identifier entry', { file, field: 'identifiers' });
      identifiers.set(k, text);
    }
  }
  if (!(colsValue instanceof PyDict)) throw new FormatError('reflection_table pickle: columns are not a dict', { file, field: 'data' });
  const columns = new Map<string, Column>();
  const skipped: SkippedColumn[] = [];
  for (const [k, v] of colsValue.entries) {
    const name = pyText(k);
    if (name === undefined) throw new FormatError('column name is not a string', { file });
    if (!(v instanceof PyObject)) throw new FormatError('column is not a flex array', { file, field: name });
    const type = FLEX_TYPES[v.cls.qualified];
    if (type === undefined) throw new FormatError(`unknown column class ${v.cls.qualified}`, { file, field: name });
    if (type === 'Shoebox<>') {
      skipped.push({ name, type, reason: SHOEBOX_NOTE });
      continue;
    }
    if (type === 'std::string') {
      skipped.push({ name, type, reason: 'std::string columns in legacy pickle files are not decoded' });
      continue;
    }
    const state = v.state;
    if (!(state instanceof PyTuple) || state.items.length !== 2 || !(state.items[1] instanceof Uint8Array)) {
      throw new FormatError('flex array pickle state is not (grid, bytes)', { file, field: name });
    }
    columns.set(name, decodeSingleBuffered(type, state.items[1], nrows, file, name));
  }
  return { source: file, encoding: 'pickle', nrows, identifiers, columns, skipped };
}

/** Reads cctbx's base-256 single-buffered flex encoding. */
class Base256 {
  pos = 0;
  constructor(
    private readonly b: Uint8Array,
    private readonly file: string,
    private readonly field: string,
  ) {}
  private header(): number {
    if (this.pos >= this.b.length) throw new FormatError(`flex data ends early at byte ${this.pos}`, { file: this.file, field: this.field });
    return this.b[this.pos]!;
  }
  /** a signed or unsigned integer */
  int(): number {
    const h = this.header();
    const len = h & 0x7f;
    if (len === 0) {
      this.pos++;
      return 0;
    }
    if (this.pos + len > this.b.length) throw new FormatError(`flex data ends early at byte ${this.pos}`, { file: this.file, field: this.field });
    let v = 0;
    for (let i = len - 1; i >= 1; i--) v = v * 256 + this.b[this.pos + i]!;
    this.pos += len;
    return h > 128 ? -v : v;
  }
  double(): number {
    const h = this.header();
    const len = h & 0x7f;
    if (len === 0) {
      this.pos++;
      return 0;
    }
    if (this.pos + len > this.b.length) throw new FormatError(`flex data ends early at byte ${this.pos}`, { file: this.file, field: this.field });
    let f = 0;
    for (let i = len - 1; i >= 1; i--) f = (f + this.b[this.pos + i]!) / 256;
    this.pos += len;
    const e = this.int();
    // ldexp(f, e) in two steps so that 2^e itself cannot overflow or underflow
    const e1 = Math.trunc(e / 2);
    const v = f * 2 ** e1 * 2 ** (e - e1);
    return h > 128 ? -v : v;
  }
  bool(): number {
    const h = this.header();
    this.pos++;
    return h === 0x31 ? 1 : 0;
  }
}

function decodeSingleBuffered(type: Exclude<DecodedColumnType, 'std::string'>, b: Uint8Array, nrows: number, file: string, name: string): Column {
  const rd = new Base256(b, file, name);
  const count = rd.int();
  const width = TYPE_INFO[type].width;
  if (count !== nrows) throw new FormatError(`column has ${count} rows, table says ${nrows}`, { file, field: name });
  const n = nrows * width;
  let col: Column;
  switch (type) {
    case 'bool': {
      const data = new Uint8Array(n);
      for (let i = 0; i < n; i++) data[i] = rd.bool();
      col = { name, type, width, data };
      break;
    }
    case 'int':
    case 'int6':
    case 'cctbx::miller::index<>': {
      const data = new Int32Array(n);
      for (let i = 0; i < n; i++) data[i] = rd.int();
      col = { name, type, width, data };
      break;
    }
    case 'std::size_t': {
      const data = new Float64Array(n);
      for (let i = 0; i < n; i++) {
        const v = rd.int();
        if (!Number.isSafeInteger(v)) throw new InvalidValueError(`row ${i}: size_t value exceeds 2^53 and cannot be held exactly`, { file, field: name });
        data[i] = v;
      }
      col = { name, type, width, data };
      break;
    }
    default: {
      const data = new Float64Array(n);
      for (let i = 0; i < n; i++) data[i] = rd.double();
      col = { name, type, width, data };
    }
  }
  if (rd.pos !== b.length && !(rd.pos === b.length - 1 && b[rd.pos] === 0)) {
    throw new FormatError(`flex data has ${b.length - rd.pos} bytes left over after ${nrows} rows`, { file, field: name });
  }
  return col;
}
