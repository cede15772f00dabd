/**
 * The file layout of `diffract integrate` / `diffract filter` and of the
 * runner's wedge and integrated files (docs/tables.md): the root attributes,
 * the columns of the voxel tables (`included`, `excluded`; `voxels` for the
 * filter) and the `wedges` table. Tables are appended wedge by wedge
 * (`AppendableTable`, src/io/voxel-tables.ts).
 */
import type { IntegrationSetup, FilterTable, VoxelTable } from '../pipeline/voxel-integrate.ts';
import { InvalidValueError } from '../errors.ts';
import { readHdf5, setAttributes, writeHdf5Atomic, type ColumnArray, type H5Dataset, type H5File, type H5Group } from './hdf5.ts';
import { AppendableTable, readTableGroups, toI64, toU64, VOXEL_TABLES_FORMAT, VOXEL_TABLES_VERSION } from './voxel-tables.ts';

export type RootAttributes = Record<string, string | number | readonly number[]>;

/** Root attributes describing the run. */
export function rootAttributes(command: string, expt: string, setup: IntegrationSetup, corrections = 'none'): RootAttributes {
  const quanta: Record<string, number> = setup.weights !== undefined ? { kappa_quantum: setup.weights.kappa, d3s_quantum: setup.weights.d3s } : {};
  return {
    format: VOXEL_TABLES_FORMAT,
    version: VOXEL_TABLES_VERSION,
    command,
    expt,
    ndiv: [...setup.ndiv],
    max_count: setup.maxCount,
    window: setup.window,
    filter: setup.filter ? 1 : 0,
    wedge_frames: setup.wedgeFrames,
    detector: setup.counting.kind,
    gain: setup.counting.params.integrating !== undefined ? 1 / setup.counting.params.integrating.invGain : 1,
    pedestal: setup.counting.params.integrating?.pedestal ?? 0,
    trusted_lo: setup.counting.params.trustedLo,
    trusted_hi: setup.counting.params.trustedHi,
    static_masked_pixels: setup.staticMask.valid.length - setup.staticMask.valid.reduce((s, v) => s + v, 0),
    background_frames: setup.background?.length ?? 0,
    frame_index: '0-based offset of the frame in the scan; mean scan-frame z = frame_sum / pixels + 0.5',
    pixel_sums: 'x_sum, y_sum: column and row of the pixel in its panel; panel_sum: panel index; mean pixel centre = x_sum / pixels + 0.5, y_sum / pixels + 0.5',
    corrections,
    ...quanta,
  };
}

/**
 * A voxel table's columns under their file names, as held in memory (the
 * 64-bit sums as f64): what `correctVoxels` reads, whether from a file or
 * straight from an integration (stills extraction).
 */
export function voxelColumnArrays(t: VoxelTable, withReason: boolean): Record<string, Exclude<ColumnArray, BigInt64Array | BigUint64Array>> {
  const cols: Record<string, Exclude<ColumnArray, BigInt64Array | BigUint64Array>> = {
    H: t.H,
    K: t.K,
    L: t.L,
    ix: t.ix,
    iy: t.iy,
    iz: t.iz,
    h: t.h,
    k: t.k,
    l: t.l,
    counts: t.counts,
    pixels: t.pixels,
    frame_sum: t.frameSum,
    wedge: t.wedge,
  };
  if (withReason) cols.reason = t.reason;
  if (t.bgCounts !== undefined && t.bgPixels !== undefined) {
    cols.bg_counts = t.bgCounts;
    cols.bg_pixels = t.bgPixels;
  }
  cols.x_sum = t.xSum;
  cols.y_sum = t.ySum;
  cols.panel_sum = t.panelSum;
  if (t.kappaSum !== undefined && t.d3sSum !== undefined) {
    cols.kappa_sum = t.kappaSum;
    cols.d3s_sum = t.d3sSum;
  }
  return cols;
}

/** Columns written as unsigned 64-bit integers. */
const U64_COLUMNS = ['counts', 'pixels', 'frame_sum', 'bg_counts', 'bg_pixels', 'x_sum', 'y_sum', 'panel_sum'] as const;

/** Columns of a voxel table in the file layout. */
export function voxelColumns(t: VoxelTable, withReason: boolean): Record<string, ColumnArray> {
  const cols: Record<string, ColumnArray> = voxelColumnArrays(t, withReason);
  for (const name of U64_COLUMNS) {
    const v = cols[name];
    if (v !== undefined) cols[name] = toU64(v as Float64Array);
  }
  return cols;
}

/** Columns of the filter's `voxels` table. */
export function filterColumns(t: FilterTable): Record<string, ColumnArray> {
  return {
    ...voxelColumns(t, true),
    lambda: t.lambda,
    divergence: t.divergence,
    delta: t.delta,
    neighbourhood_pixels: t.neighbourhoodPixels,
  };
}

/** One row of the `wedges` table. */
export interface WedgeSummary {
  index: number;
  firstFrame: number;
  frames: number;
  backend: string;
  cells: number;
  occupied: number;
  participants: number;
  outliers: number;
  overflow: number;
  includedCounts: number;
  excludedCounts: number;
  maskedPixelFrames: number;
  maskedSum: number;
  frameSum: number;
  divergenceBefore: number;
  divergenceAfter: number;
  exhausted: boolean;
  seconds: number;
}

/** Appends the `wedges` table (one row per wedge). */
export function writeWedgeRows(file: H5File, rows: readonly WedgeSummary[]): void {
  const t = new AppendableTable(file, 'wedges');
  const col = (f: (s: WedgeSummary) => number): Float64Array => Float64Array.from(rows, f);
  t.append({
    wedge: Uint32Array.from(rows, (s) => s.index),
    first_frame: Uint32Array.from(rows, (s) => s.firstFrame),
    frames: Uint32Array.from(rows, (s) => s.frames),
    cells: Uint32Array.from(rows, (s) => s.cells),
    occupied: Uint32Array.from(rows, (s) => s.occupied),
    participants: Uint32Array.from(rows, (s) => s.participants),
    outliers: Uint32Array.from(rows, (s) => s.outliers),
    overflow: Uint32Array.from(rows, (s) => s.overflow),
    included_counts: toU64(col((s) => s.includedCounts)),
    excluded_counts: toU64(col((s) => s.excludedCounts)),
    masked_pixel_frames: toU64(col((s) => s.maskedPixelFrames)),
    masked_sum: toI64(col((s) => s.maskedSum)),
    frame_sum: toI64(col((s) => s.frameSum)),
    divergence_before: col((s) => s.divergenceBefore),
    divergence_after: col((s) => s.divergenceAfter),
    exhausted: Uint8Array.from(rows, (s) => (s.exhausted ? 1 : 0)),
  });
  t.close();
}

/**
 * The `included` and `excluded` tables of an integrate file, appended wedge by
 * wedge (created at the first wedge); after `close`, `writeWedgeRows` and the
 * root attributes complete the file.
 */
export class IntegrateFileWriter {
  private included: AppendableTable | undefined;
  private excluded: AppendableTable | undefined;

  constructor(private readonly file: H5File) {}

  /** Appends one wedge's tables. */
  append(included: VoxelTable, excluded: VoxelTable): void {
    this.included ??= new AppendableTable(this.file, 'included');
    this.excluded ??= new AppendableTable(this.file, 'excluded');
    this.included.append(voxelColumns(included, false));
    this.excluded.append(voxelColumns(excluded, true));
  }

  /** Writes the tables' row counts (after the last wedge; then the wedge rows and the root attributes follow). */
  close(): void {
    this.included?.close();
    this.excluded?.close();
  }
}

/** What an integrate file holds: the two tables, the wedge rows, the root attributes (an integrate stage's result fits). */
export interface IntegrateFileContent {
  included: VoxelTable;
  excluded: VoxelTable;
  wedges: readonly WedgeSummary[];
  attributes: RootAttributes;
}

/** Writes an integrate file (atomically: it appears only when complete). */
export async function writeIntegrateFile(path: string, c: IntegrateFileContent): Promise<void> {
  await writeHdf5Atomic(path, (file) => {
    const inc = new AppendableTable(file, 'included');
    inc.append(voxelColumns(c.included, false));
    inc.close();
    const exc = new AppendableTable(file, 'excluded');
    exc.append(voxelColumns(c.excluded, true));
    exc.close();
    writeWedgeRows(file, c.wedges);
    setAttributes(file, c.attributes);
  });
}

/** Writes one wedge as an integrate file (the runner's wedge checkpoints). */
export async function writeWedgeFile(path: string, included: VoxelTable, excluded: VoxelTable, row: WedgeSummary, attrs: RootAttributes): Promise<void> {
  await writeIntegrateFile(path, { included, excluded, wedges: [row], attributes: attrs });
}

/** Totals over the `wedges` rows of integrate files. */
export interface WedgeTotals {
  occupied: number;
  /** outliers + overflow */
  excluded: number;
  includedCounts: number;
  excludedCounts: number;
}

/**
 * Concatenates wedge files (each an integrate file of one wedge) into one
 * integrate file: tables `included`, `excluded`, `wedges` in order, the root
 * attributes of the first. Returns the totals of the wedge rows.
 */
export async function assembleWedgeFiles(out: string, wedgeFiles: readonly string[]): Promise<WedgeTotals> {
  const parts: { attrs: Record<string, string | number | number[] | string[]>; tables: Map<string, Map<string, ColumnArray>> }[] = [];
  for (const f of wedgeFiles) parts.push(await readWritable(f));
  const totals: WedgeTotals = { occupied: 0, excluded: 0, includedCounts: 0, excludedCounts: 0 };
  for (const p of parts) {
    const w = p.tables.get('wedges');
    const n = (c: string): number => Number((w?.get(c) as ArrayLike<number | bigint> | undefined)?.[0] ?? 0);
    totals.occupied += n('occupied');
    totals.excluded += n('outliers') + n('overflow');
    totals.includedCounts += n('included_counts');
    totals.excludedCounts += n('excluded_counts');
  }
  await writeHdf5Atomic(out, (file) => {
    for (const name of ['included', 'excluded', 'wedges']) {
      const t = new AppendableTable(file, name);
      parts.forEach((p, i) => {
        const cols = p.tables.get(name);
        if (cols === undefined) throw new InvalidValueError(`wedge file has no table '${name}'`, { file: wedgeFiles[i] ?? out });
        t.append(Object.fromEntries(cols));
      });
      t.close();
    }
    setAttributes(file, parts[0]?.attrs ?? {});
  });
  return totals;
}

/** A file's tables as stored, and its root attributes as writable values. */
async function readWritable(path: string): Promise<{ attrs: Record<string, string | number | number[] | string[]>; tables: Map<string, Map<string, ColumnArray>> }> {
  const raw = await readTableGroups(path);
  const attrs: Record<string, string | number | number[] | string[]> = {};
  for (const [k, v] of Object.entries(raw.attrs)) {
    if (typeof v === 'string' || typeof v === 'number') attrs[k] = v;
    else if (typeof v === 'bigint') attrs[k] = Number(v);
    else if (ArrayBuffer.isView(v)) attrs[k] = Array.from(v as unknown as ArrayLike<number | bigint>, Number);
    else if (Array.isArray(v)) attrs[k] = v.map((x) => (typeof x === 'string' ? x : Number(x))) as number[] | string[];
  }
  return { attrs, tables: raw.tables };
}

/** The columns every wedge file holds in each table (optional columns, e.g. bg_counts, are not required). */
const WEDGE_FILE_COLUMNS: Record<string, readonly string[]> = {
  included: ['H', 'K', 'L', 'ix', 'iy', 'iz', 'h', 'k', 'l', 'counts', 'pixels', 'frame_sum', 'wedge', 'x_sum', 'y_sum', 'panel_sum'],
  excluded: ['H', 'K', 'L', 'ix', 'iy', 'iz', 'h', 'k', 'l', 'counts', 'pixels', 'frame_sum', 'wedge', 'reason', 'x_sum', 'y_sum', 'panel_sum'],
  wedges: ['wedge', 'first_frame', 'frames', 'occupied', 'outliers', 'overflow', 'included_counts', 'excluded_counts'],
};

/**
 * Why the wedge file at `path` (wedge `index`) cannot be reused, or null when
 * it can: it opens as HDF5 at its full length, holds the voxel-tables format
 * attribute, the tables `included`, `excluded`, `wedges` with every required
 * column as long as the table's `nrows`, and one wedge row with this index.
 * Checks the layout only (shapes, not values), so it costs little.
 */
export async function wedgeFileProblem(path: string, index: number): Promise<string | null> {
  try {
    return await readHdf5(path, (file) => {
      const format = (file as unknown as { attrs: Record<string, { value: unknown } | undefined> }).attrs.format?.value;
      if (format !== VOXEL_TABLES_FORMAT) return `format attribute is '${String(format)}', not '${VOXEL_TABLES_FORMAT}'`;
      for (const [table, columns] of Object.entries(WEDGE_FILE_COLUMNS)) {
        const g = file.get(table) as H5Group | null;
        if (g === null || typeof (g as { keys?: unknown }).keys !== 'function') return `no table '${table}'`;
        const nrows = Number((g as unknown as { attrs: Record<string, { value: unknown } | undefined> }).attrs.nrows?.value);
        if (!Number.isInteger(nrows) || nrows < 0) return `table '${table}' has no row count`;
        for (const col of columns) {
          const ds = g.get(col) as H5Dataset | null;
          if (ds === null || ds.shape?.[0] !== nrows) return `table '${table}': column '${col}' is ${ds === null ? 'missing' : `${String(ds.shape?.[0])} rows long, not ${nrows}`}`;
        }
      }
      const w = (file.get('wedges/wedge') as H5Dataset).value as ArrayLike<number>;
      if (w.length !== 1 || w[0] !== index) return `holds wedge ${Array.from(w).join(', ')}, not wedge ${index}`;
      return null;
    });
  } catch (err) {
    return (err instanceof Error ? err.message : String(err)).replace(`${path}: `, '').split('\n')[0] ?? 'unreadable';
  }
}
