/**
 * The HDF5 layout of `diffract integrate` and `diffract filter` (documented
 * in docs/tables.md): columnar tables, one 1-D dataset per column, appended
 * wedge by wedge (chunked datasets with an unlimited first dimension), so a
 * long series is written without holding its tables in memory.
 *
 * Writing goes through `writeHdf5Atomic` (src/io/hdf5.ts): the file appears
 * only when complete.
 */
import { InvalidValueError } from '../errors.ts';
import { readHdf5, setAttributes, type ColumnArray, type H5Dataset, type H5File, type H5Group } from './hdf5.ts';

export const VOXEL_TABLES_FORMAT = 'diffract-voxel-tables';
export const VOXEL_TABLES_VERSION = 1;

const CHUNK = 8192;

/** A table group whose columns grow by `append`. */
export class AppendableTable {
  private readonly datasets = new Map<string, H5Dataset>();
  private rows = 0;
  readonly group: H5Group;

  constructor(parent: H5File | H5Group, name: string, attrs: Record<string, string | number> = {}) {
    this.group = parent.create_group(name);
    setAttributes(this.group, { NX_class: 'NXcollection', ...attrs });
  }

  get nrows(): number {
    return this.rows;
  }

  /** Appends rows; every call must give the same columns with equal lengths. */
  append(columns: Record<string, ColumnArray>): void {
    const names = Object.keys(columns);
    const n = (columns[names[0] ?? ''] ?? new Uint8Array(0)).length;
    for (const [name, data] of Object.entries(columns)) {
      if (data.length !== n) throw new Error(`internal invariant failed: column ${name} has ${data.length} rows, not ${n}`);
      let ds = this.datasets.get(name);
      if (ds === undefined) {
        if (this.rows !== 0) throw new Error(`internal invariant failed: column ${name} appears after rows were written`);
        const empty = new (data.constructor as new (k: number) => ColumnArray)(0);
        ds = this.group.create_dataset({ name, data: empty, shape: [0], maxshape: [null], chunks: [CHUNK] });
        this.datasets.set(name, ds);
      }
      if (n === 0) continue;
      ds.resize([this.rows + n]);
      ds.write_slice([[this.rows, this.rows + n]], data);
    }
    if (this.datasets.size !== names.length) throw new Error('internal invariant failed: appended columns differ between calls');
    this.rows += n;
  }

  /** Writes the `nrows` attribute (call once, after the last append). */
  close(): void {
    setAttributes(this.group, { nrows: this.rows });
  }
}

/** u64 columns from exact integer doubles. */
export function toU64(values: Float64Array): BigUint64Array {
  const out = new BigUint64Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = BigInt(values[i] as number);
  return out;
}

export function toI64(values: Float64Array): BigInt64Array {
  const out = new BigInt64Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = BigInt(values[i] as number);
  return out;
}

/** A table read back: column name → array (u64/i64 columns as Float64Array, exact below 2^53). */
export type ReadTable = Map<string, Float64Array | Float32Array | Int32Array | Uint32Array | Uint8Array | Int8Array | Uint16Array | Int16Array>;

export interface VoxelTablesFile {
  attrs: Record<string, unknown>;
  tables: Map<string, ReadTable>;
}

function attrsOf(entity: { attrs: Record<string, { value: unknown }> }): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, a] of Object.entries(entity.attrs)) out[k] = a.value;
  return out;
}

/** Every table group of an HDF5 file with its columns as stored (u64/i64 as BigUint64Array/BigInt64Array), and the root attributes. */
export async function readTableGroups(path: string): Promise<{ attrs: Record<string, unknown>; tables: Map<string, Map<string, ColumnArray>> }> {
  return readHdf5(path, (file) => {
    const attrs = attrsOf(file as unknown as { attrs: Record<string, { value: unknown }> });
    const tables = new Map<string, Map<string, ColumnArray>>();
    for (const name of file.keys()) {
      const g = file.get(name) as H5Group | null;
      if (g === null || typeof (g as { keys?: unknown }).keys !== 'function') continue;
      const cols = new Map<string, ColumnArray>();
      for (const col of g.keys()) {
        const v = (g.get(col) as H5Dataset | null)?.value;
        if (ArrayBuffer.isView(v)) cols.set(col, v as ColumnArray);
      }
      tables.set(name, cols);
    }
    return { attrs, tables };
  });
}

/** Reads every table group of a voxel-tables file (u64/i64 columns as Float64Array). */
export async function readVoxelTables(path: string): Promise<VoxelTablesFile> {
  const raw = await readTableGroups(path);
  if (raw.attrs.format !== VOXEL_TABLES_FORMAT) throw new InvalidValueError(`not a ${VOXEL_TABLES_FORMAT} file (format attribute '${String(raw.attrs.format)}')`, { file: path });
  const tables = new Map<string, ReadTable>();
  for (const [name, cols] of raw.tables) {
    const table: ReadTable = new Map();
    for (const [col, v] of cols) table.set(col, v instanceof BigUint64Array || v instanceof BigInt64Array ? Float64Array.from(v, (x) => Number(x)) : v);
    tables.set(name, table);
  }
  return { attrs: raw.attrs, tables };
}
