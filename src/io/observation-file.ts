/**
 * HDF5 files of the scaling/merging stages (layouts in docs/correct.md, docs/scale.md, docs/merge.md, docs/absolute.md, docs/export.md): root
 * attributes `format`, `version`, `stage`, `ndiv`, `hall`, `cell`,
 * `wavelength`, plus stage-specific ones; one group per table (one 1-D
 * dataset per column, attribute `nrows`), and any extra groups a stage adds.
 * Files are written atomically (temporary name, then rename).
 */
import { InvalidValueError, MissingFieldError } from '../errors.ts';
import {
  emptyMerged,
  emptyObservations,
  MERGED_COLUMNS,
  OBSERVATION_COLUMNS,
  type MergedColumn,
  type MergedTable,
  type ObservationColumn,
  type ObservationMeta,
  type ObservationTable,
} from '../pipeline/observations.ts';
import { readHdf5, setAttributes, writeHdf5Atomic, writeTableGroup, type ColumnArray, type H5Dataset, type H5File, type H5Group } from './hdf5.ts';

export const STAGE_FILE_FORMAT = 'diffract-stage';
export const STAGE_FILE_VERSION = 1;

export type StageName = 'correct' | 'combine' | 'scale' | 'merge' | 'absolute' | 'export';

export interface StageFileContent {
  stage: StageName;
  meta: ObservationMeta;
  /** extra root attributes */
  attrs?: Record<string, string | number | readonly number[]>;
  observations?: Record<string, ObservationTable>;
  merged?: Record<string, MergedTable>;
  /** other columnar groups (e.g. scale-function control points, shells) */
  groups?: Record<string, { columns: Record<string, ColumnArray>; attrs?: Record<string, string | number> }>;
}

export interface StageFile {
  stage: string;
  meta: ObservationMeta;
  attrs: Record<string, unknown>;
  /** every group as column name → array (64-bit integer columns as Float64Array) */
  groups: Map<string, { columns: Map<string, ArrayLike<number>>; attrs: Record<string, unknown> }>;
}

function asColumns(t: object): Record<string, ColumnArray> {
  return t as unknown as Record<string, ColumnArray>;
}

/** Writes a stage file atomically. */
export async function writeStageFile(path: string, content: StageFileContent, build?: (file: H5File) => void): Promise<void> {
  await writeHdf5Atomic(path, (file) => {
    setAttributes(file, {
      format: STAGE_FILE_FORMAT,
      version: STAGE_FILE_VERSION,
      stage: content.stage,
      ndiv: [...content.meta.ndiv],
      hall: content.meta.hall,
      cell: [...content.meta.cell],
      wavelength: content.meta.wavelength,
      ...(content.attrs ?? {}),
    });
    for (const [name, t] of Object.entries(content.observations ?? {})) writeTableGroup(file, name, asColumns(t), { table: 'observations' });
    for (const [name, t] of Object.entries(content.merged ?? {})) writeTableGroup(file, name, asColumns(t), { table: 'merged' });
    for (const [name, g] of Object.entries(content.groups ?? {})) writeTableGroup(file, name, g.columns, g.attrs ?? {});
    build?.(file);
  });
}

function attrsOf(entity: unknown): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const attrs = (entity as { attrs: Record<string, { value: unknown }> }).attrs;
  for (const [k, a] of Object.entries(attrs)) out[k] = a.value;
  return out;
}

function numbers(v: unknown, n: number, field: string, file: string): number[] {
  const arr = ArrayBuffer.isView(v) ? Array.from(v as unknown as ArrayLike<number>, Number) : Array.isArray(v) ? v.map(Number) : [];
  if (arr.length !== n || arr.some((x) => !Number.isFinite(x))) throw new MissingFieldError(`attribute '${field}' must hold ${n} numbers`, { file, field });
  return arr;
}

/** Reads a stage file (any stage). */
export async function readStageFile(path: string): Promise<StageFile> {
  return readHdf5(path, (file) => {
    const attrs = attrsOf(file);
    if (attrs.format !== STAGE_FILE_FORMAT) throw new InvalidValueError(`not a ${STAGE_FILE_FORMAT} file (format attribute '${String(attrs.format)}')`, { file: path, field: 'format' });
    const ndiv = numbers(attrs.ndiv, 3, 'ndiv', path) as [number, number, number];
    const cell = numbers(attrs.cell, 6, 'cell', path) as [number, number, number, number, number, number];
    if (typeof attrs.hall !== 'string') throw new MissingFieldError("attribute 'hall' is missing", { file: path, field: 'hall' });
    const wavelength = Number(attrs.wavelength);
    if (!(wavelength > 0)) throw new MissingFieldError("attribute 'wavelength' is missing", { file: path, field: 'wavelength' });
    const groups: StageFile['groups'] = new Map();
    for (const name of file.keys()) {
      const g = file.get(name) as H5Group | null;
      if (g === null || typeof (g as { keys?: unknown }).keys !== 'function') continue;
      const columns = new Map<string, ArrayLike<number>>();
      for (const col of g.keys()) {
        const ds = g.get(col) as H5Dataset | null;
        const v = ds?.value;
        if (v instanceof BigUint64Array || v instanceof BigInt64Array) columns.set(col, Float64Array.from(v, (x) => Number(x)));
        else if (ArrayBuffer.isView(v)) columns.set(col, v as unknown as ArrayLike<number>);
      }
      groups.set(name, { columns, attrs: attrsOf(g) });
    }
    return { stage: String(attrs.stage), meta: { ndiv, hall: attrs.hall, cell, wavelength }, attrs, groups };
  });
}

function typedGroup<T extends object>(sf: StageFile, name: string, path: string, ctors: Record<string, new (n: number) => ArrayLike<number>>, empty: (n: number) => T): T {
  const g = sf.groups.get(name);
  if (g === undefined) throw new MissingFieldError(`no table '${name}' (stage '${sf.stage}')`, { file: path, field: name });
  const nrows = Number(g.attrs.nrows ?? 0);
  const out = empty(nrows) as Record<string, { set(a: ArrayLike<number>): void; length: number }>;
  for (const col of Object.keys(ctors)) {
    const data = g.columns.get(col);
    if (data === undefined) throw new MissingFieldError(`table '${name}' has no column '${col}'`, { file: path, field: `${name}/${col}` });
    if (data.length !== nrows) throw new InvalidValueError(`column '${name}/${col}' has ${data.length} rows, the table says ${nrows}`, { file: path, field: `${name}/${col}` });
    (out[col] as { set(a: ArrayLike<number>): void }).set(data);
  }
  return out as unknown as T;
}

/** An observation table of a stage file. */
export function observationsOf(sf: StageFile, name: string, path: string): ObservationTable {
  return typedGroup(sf, name, path, OBSERVATION_COLUMNS as unknown as Record<ObservationColumn, new (n: number) => ArrayLike<number>>, emptyObservations);
}

/** A merged table of a stage file. */
export function mergedOf(sf: StageFile, name: string, path: string): MergedTable {
  return typedGroup(sf, name, path, MERGED_COLUMNS as unknown as Record<MergedColumn, new (n: number) => ArrayLike<number>>, emptyMerged);
}
