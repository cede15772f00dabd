/**
 * What the run report (report.html) shows, collected from a run's stage files:
 *
 * - map slices h = 0, k = 0, l = 0: from the exported NeXus map (only the
 *   three planes are read, as hyperslabs of /entry/map/intensity) or from a
 *   dense grid in memory;
 * - the radial average of the merged diffuse map vs |s|: from the merged
 *   table's `I`, `s` and `multiplicity` columns (absolute stage file when
 *   there is one, else the merge stage file);
 * - the scale model (groups `scale_a` … `scale_d`, `history`) of the scale
 *   stage file: b(φ), a(x, y) at the middle φ node, c(|s|) at a few φ nodes,
 *   d per panel;
 * - the Poisson filter's excluded fraction per wedge, from each integrate
 *   file's `wedges` table;
 * - CC½ per shell (`cchalf`, `cchalf_bragg` of the merge stage file);
 * - the absolute-scale curves (`curves` group and attributes of the absolute
 *   stage file);
 * - the run summary passed in by the caller, completed from the stage files'
 *   attributes where it leaves something out (backend, adapter, CC½, K).
 *
 * Only these groups and columns are read (never an observation table or a
 * whole map). A section whose input is not given (null) or cannot be read
 * becomes `{ absent: reason }`, so the report is written whatever stage is
 * missing.
 */
import { existsSync } from 'node:fs';
import type { DenseGrid } from '../export/dense-grid.ts';
import { type Cell6 } from '../export/cell.ts';
import { sliceAspect, type MapAxis, type SlicePlane } from '../export/slices.ts';
import { readHdf5, type H5Dataset, type H5File, type H5Group } from '../io/hdf5.ts';
import type { StageFile } from '../io/observation-file.ts';
import type { ObservationMeta } from '../pipeline/observations.ts';
import { readScaleModel, type ScaleModel } from '../scaling/index.ts';

/** A section that could not be filled, and why. */
export interface Absent {
  absent: string;
}

export type Part<T> = T | Absent;

/** Whether a section is absent. */
export function isAbsent<T extends object>(p: Part<T>): p is Absent {
  return 'absent' in p;
}

/** The run summary the caller passes (every field optional; shown as given, in the order given). */
export interface ReportSummary {
  /** page title (default 'diffract run report') */
  title?: string;
  /** a line under the title (e.g. the config file); a date appears only if the caller puts one here */
  subtitle?: string;
  backend?: string;
  adapter?: string;
  /** wall time per stage, in run order */
  stages?: readonly { name: string; seconds: number; status?: string }[];
  /** named counts (frames, observations, voxels, …), in display order */
  counts?: Readonly<Record<string, number>>;
  /** named masked fractions (0…1), e.g. per sweep */
  maskedFractions?: Readonly<Record<string, number>>;
  /** overall CC½ (default: the merge stage file's `diffuse_cchalf`, `bragg_cchalf`) */
  cchalf?: { diffuse?: number | null; bragg?: number | null };
  /** absolute scale factor K (default: the absolute stage file's `scale_factor`; null: skipped) */
  scaleFactor?: number | null;
  /** any other rows: label → value */
  extra?: Readonly<Record<string, string | number>>;
}

/** A dense map in memory (src/export/dense-grid.ts). */
export type MapGrid = Pick<DenseGrid, 'data' | 'shape' | 'origin' | 'ndiv'>;

/** The exported map: the NeXus file of `diffract export`, or a dense grid in memory. */
export type ReportMapInput = { nexus: string } | { grid: MapGrid; units?: string; label?: string };

export interface ReportOptions {
  /** radial-average bins, equal widths in |s| from 0 to the largest |s| (default 50) */
  radialBins?: number;
  /** merged table of the radial average: 'absolute' (default when given) or 'merged' */
  radialSource?: 'absolute' | 'merged';
  /** φ nodes drawn for c(|s|) per sweep (default 4) */
  cPhiNodes?: number;
}

/** One shot of a stills run, as the run summary and the report list it. */
export interface StillsShot {
  shot: number;
  identifier: string;
  /** used: merged; rejected: by the scaling (fit failed, outlier scale, too few rows); skipped: not processed (`on_bad_shot: skip`) */
  status: 'used' | 'rejected' | 'skipped';
  /** why it was rejected or skipped ('' when used) */
  reason: string;
  /** p_order coordinate (NaN when skipped) */
  pOrder: number;
  /** the shot's scale b (NaN when skipped) */
  b: number;
  /** masked fraction of the 2D Bragg mask (NaN when skipped) */
  maskedFraction: number;
  /** observation rows extracted */
  rows: number;
}

/** What a stills run adds to the report: the shots and the Bragg reference's partialities. */
export interface StillsData {
  /** the p_order axis label */
  pOrderLabel: string;
  shots: readonly StillsShot[];
  /** partiality histogram: edges (n + 1), counts (n), and the threshold below which rows are left out; null: no Bragg reference */
  partiality: { edges: readonly number[]; counts: readonly number[]; threshold: number } | null;
}

export interface ReportInputs {
  /** one integrate (voxel tables) file per sweep, in sweep order (sweep number k of the scale model is entry k) */
  integrated: readonly { sweep: string; file: string }[];
  /** stage files; null when the stage did not run */
  scaled: string | null;
  merged: string | null;
  absolute: string | null;
  map: ReportMapInput | null;
  summary: ReportSummary;
  options?: ReportOptions;
  /** a stills run: shots (scale vs p_order, masked fractions, used/rejected/skipped) and partialities */
  stills?: StillsData;
}

/** One central plane of the map (SlicePlane of src/export/slices.ts without the grid index: [row][col], row 0 at the bottom). */
export interface ReportSlice extends Omit<SlicePlane, 'index'> {
  /** row step / column step in Å⁻¹ (1 when the cell is unknown) */
  aspect: number;
}

export interface SliceSet {
  source: string;
  units: string;
  planes: ReportSlice[];
}

export interface RadialProfile {
  source: string;
  table: string;
  units: string;
  /** bin edges (Å⁻¹) */
  sLow: number[];
  sHigh: number[];
  /** multiplicity-weighted mean |s| and intensity of the bin (NaN when empty) */
  s: number[];
  mean: number[];
  /** full-sphere grid points (Σ multiplicity) and merged rows in the bin */
  points: number[];
  rows: number[];
}

export interface ScaleB {
  key: number;
  label: string;
  phi: number[];
  value: number[];
}

export interface ScaleA {
  key: number;
  label: string;
  /** the φ node shown (the middle one) and the node count */
  phi: number;
  nPhi: number;
  x: number[];
  y: number[];
  /** [y][x], x fastest */
  values: number[];
}

export interface ScaleC {
  key: number;
  label: string;
  s: number[];
  curves: { phi: number; value: number[] }[];
}

export interface ScaleD {
  panel: number;
  /** mean, min and max over the panel's nodes (one node in panel mode) */
  mean: number;
  min: number;
  max: number;
  nodes: number;
}

export interface ScaleData {
  source: string;
  b: ScaleB[];
  a: ScaleA[];
  c: ScaleC[];
  d: ScaleD[];
  dMode: 'panel' | 'map';
  history: { stage: string; iteration: number; chi2: number; rejected: number }[];
  /** root attributes worth a line: chi2, iterations, rejected, observations, voxels */
  stats: Record<string, number>;
}

export interface SweepFilter {
  sweep: string;
  file: string;
  wedge: number[];
  firstFrame: number[];
  frames: number[];
  occupied: number[];
  outliers: number[];
  overflow: number[];
  /** (outliers + overflow) / occupied per wedge (NaN when nothing is occupied) */
  fraction: number[];
  total: { occupied: number; excluded: number; fraction: number };
}

export interface FilterData {
  sweeps: SweepFilter[];
  /** sweeps whose file could not be read */
  missing: { sweep: string; reason: string }[];
}

export interface CchalfShells {
  table: string;
  sMin: number[];
  sMax: number[];
  n: number[];
  cchalf: number[];
  completeness: number[];
  overall: number;
}

export interface CchalfData {
  source: string;
  tables: CchalfShells[];
}

export interface AbsoluteData {
  source: string;
  scaleFactor: number;
  cutoff: number;
  electrons: number;
  cellVolume: number;
  composition: string;
  sLow: number[];
  s: number[];
  completeness: number[];
  observed: number[];
  theory: number[];
  ratio: number[];
}

export interface ReportData {
  title: string;
  summary: ReportSummary;
  meta: ObservationMeta | null;
  /** the inputs, for the page's list of files */
  files: { label: string; path: string }[];
  slices: Part<SliceSet>;
  radial: Part<RadialProfile>;
  scale: Part<ScaleData>;
  filter: Part<FilterData>;
  cchalf: Part<CchalfData>;
  absolute: Part<AbsoluteData>;
  /** present for stills runs (then the rotation-only sections are left out) */
  stills?: StillsData;
}

// ---------------------------------------------------------------- reading

interface GroupRead {
  attrs: Record<string, unknown>;
  columns: Map<string, ArrayLike<number>>;
}

interface FileRead {
  attrs: Record<string, unknown>;
  groups: Map<string, GroupRead>;
}

function attrsOf(entity: unknown): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const attrs = (entity as { attrs: Record<string, { value: unknown }> }).attrs;
  for (const [k, a] of Object.entries(attrs)) out[k] = a.value;
  return out;
}

function numericArray(v: unknown): ArrayLike<number> | null {
  if (v instanceof BigUint64Array || v instanceof BigInt64Array) return Float64Array.from(v, (x) => Number(x));
  if (ArrayBuffer.isView(v) && !(v instanceof DataView)) return v as unknown as ArrayLike<number>;
  return null;
}

function isGroup(x: unknown): x is H5Group {
  return x !== null && typeof (x as { keys?: unknown }).keys === 'function';
}

/** Root attributes and the named groups (listed columns, or every column with '*'); missing groups are left out. */
async function readSelected(path: string, wanted: Record<string, readonly string[] | '*'>): Promise<FileRead> {
  return readHdf5(path, (file: H5File) => {
    const names = new Set(file.keys());
    const groups = new Map<string, GroupRead>();
    for (const [name, cols] of Object.entries(wanted)) {
      if (!names.has(name)) continue;
      const g = file.get(name);
      if (!isGroup(g)) continue;
      const columns = new Map<string, ArrayLike<number>>();
      const present = new Set(g.keys());
      for (const col of cols === '*' ? [...present] : cols) {
        if (!present.has(col)) continue;
        const arr = numericArray((g.get(col) as H5Dataset | null)?.value);
        if (arr !== null) columns.set(col, arr);
      }
      groups.set(name, { attrs: attrsOf(g), columns });
    }
    return { attrs: attrsOf(file), groups };
  });
}

function num(v: unknown): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  if (ArrayBuffer.isView(v) && (v as unknown as ArrayLike<number>).length === 1) return Number((v as unknown as ArrayLike<number>)[0]);
  if (typeof v === 'string' && v.trim() !== '') return Number(v);
  return NaN;
}

function numbers(v: unknown): number[] {
  if (ArrayBuffer.isView(v) && !(v instanceof DataView)) return Array.from(v as unknown as ArrayLike<number | bigint>, Number);
  if (Array.isArray(v)) return v.map(Number);
  return typeof v === 'number' ? [v] : [];
}

function metaOf(attrs: Record<string, unknown>): ObservationMeta | null {
  const ndiv = numbers(attrs.ndiv);
  const cell = numbers(attrs.cell);
  if (ndiv.length !== 3 || cell.length !== 6 || typeof attrs.hall !== 'string') return null;
  return { ndiv: [ndiv[0]!, ndiv[1]!, ndiv[2]!], hall: attrs.hall, cell: [cell[0]!, cell[1]!, cell[2]!, cell[3]!, cell[4]!, cell[5]!], wavelength: num(attrs.wavelength) };
}

function column(g: GroupRead | undefined, name: string, what: string): ArrayLike<number> {
  const c = g?.columns.get(name);
  if (c === undefined) throw new Error(`${what} has no column '${name}'`);
  return c;
}

function list(a: ArrayLike<number>): number[] {
  return Array.from(a, Number);
}

function reason(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

async function section<T extends object>(what: string, path: string | null, fn: (path: string) => Promise<T>): Promise<Part<T>> {
  if (path === null) return { absent: `no ${what} (the stage did not run)` };
  if (!existsSync(path)) return { absent: `no ${what}: ${path} does not exist` };
  try {
    return await fn(path);
  } catch (err) {
    return { absent: `could not read the ${what} ${path}: ${reason(err)}` };
  }
}

// ---------------------------------------------------------------- sections

/**
 * Radial average of a merged table: bins of equal width in |s| from 0 to the
 * largest |s|; each row counts `multiplicity` times (the full-sphere grid
 * points it stands for; 1 when unknown or 0); rows with a non-finite I or |s|
 * are skipped.
 */
export function radialAverage(table: { I: ArrayLike<number>; s: ArrayLike<number>; multiplicity?: ArrayLike<number> }, bins: number): Pick<RadialProfile, 'sLow' | 'sHigh' | 's' | 'mean' | 'points' | 'rows'> {
  const nb = Math.max(1, Math.floor(bins));
  let top = 0;
  for (let i = 0; i < table.I.length; i++) {
    const s = table.s[i] as number;
    if (Number.isFinite(s) && Number.isFinite(table.I[i] as number) && s > top) top = s;
  }
  if (!(top > 0)) top = 1;
  const sw = new Float64Array(nb);
  const iw = new Float64Array(nb);
  const w = new Float64Array(nb);
  const rows = new Array<number>(nb).fill(0);
  for (let i = 0; i < table.I.length; i++) {
    const I = table.I[i] as number;
    const s = table.s[i] as number;
    if (!Number.isFinite(I) || !Number.isFinite(s) || s < 0) continue;
    const m = table.multiplicity !== undefined ? (table.multiplicity[i] as number) : 1;
    const weight = m > 0 ? m : 1;
    const k = Math.min(nb - 1, Math.floor((s / top) * nb));
    sw[k]! += weight * s;
    iw[k]! += weight * I;
    w[k]! += weight;
    rows[k]! += 1;
  }
  const sLow: number[] = [];
  const sHigh: number[] = [];
  for (let k = 0; k < nb; k++) {
    sLow.push((top * k) / nb);
    sHigh.push(k === nb - 1 ? top : (top * (k + 1)) / nb);
  }
  return {
    sLow,
    sHigh,
    s: Array.from(w, (x, k) => (x > 0 ? sw[k]! / x : NaN)),
    mean: Array.from(w, (x, k) => (x > 0 ? iw[k]! / x : NaN)),
    points: Array.from(w),
    rows,
  };
}

async function readSlicesNexus(path: string, fallbackCell: Cell6 | null): Promise<SliceSet> {
  return readHdf5(path, (file: H5File) => {
    const ds = file.get('entry/map/intensity') as H5Dataset | null;
    if (ds === null || typeof (ds as { slice?: unknown }).slice !== 'function') throw new Error('no dataset /entry/map/intensity');
    const shape = ds.shape;
    if (shape === null || shape.length !== 3) throw new Error('/entry/map/intensity is not 3-D');
    const [nh, nk, nl] = shape as [number, number, number];
    const origin: number[] = [];
    const ndiv: number[] = [];
    for (const a of ['h', 'k', 'l']) {
      const ax = file.get(`entry/map/${a}`) as H5Dataset | null;
      if (ax === null) throw new Error(`no axis /entry/map/${a}`);
      const at = attrsOf(ax);
      origin.push(num(at.fine_origin));
      ndiv.push(num(at.ndiv));
    }
    if (origin.some((v) => !Number.isInteger(v)) || ndiv.some((v) => !(v >= 1))) throw new Error('the map axes lack fine_origin / ndiv');
    const units = String(attrsOf(ds).units ?? 'arbitrary');
    let cell = fallbackCell;
    const abc = file.get('entry/sample/unit_cell_abc') as H5Dataset | null;
    const ang = file.get('entry/sample/unit_cell_alphabetagamma') as H5Dataset | null;
    if (abc !== null && ang !== null) {
      const v = [...numbers(abc.value), ...numbers(ang.value)];
      if (v.length === 6 && v.every(Number.isFinite)) cell = [v[0]!, v[1]!, v[2]!, v[3]!, v[4]!, v[5]!];
    }
    const n = [nh, nk, nl];
    const planes: ReportSlice[] = [];
    (['h', 'k', 'l'] as const).forEach((axis, a) => {
      const zero = -(origin[a] as number);
      const idx = zero >= 0 && zero < (n[a] as number) ? zero : Math.floor((n[a] as number) / 2);
      const ranges: [number, number][] = [
        [0, nh],
        [0, nk],
        [0, nl],
      ];
      ranges[a] = [idx, idx + 1];
      const raw = ds.slice(ranges);
      const arr = numericArray(raw);
      if (arr === null) throw new Error(`cannot read the ${axis} plane`);
      const [ra, ca] = ([0, 1, 2] as const).filter((x) => x !== a) as [0 | 1 | 2, 0 | 1 | 2];
      planes.push(
        planeOf(axis, (origin[a] as number) + idx, ndiv[a] as number, { ra, ca, rows: n[ra] as number, cols: n[ca] as number, rowOrigin: origin[ra] as number, colOrigin: origin[ca] as number, rowNdiv: ndiv[ra] as number, colNdiv: ndiv[ca] as number }, Float32Array.from(arr), cell),
      );
    });
    return { source: path, units, planes };
  });
}

const AXES: readonly MapAxis[] = ['h', 'k', 'l'];

function planeOf(
  axis: MapAxis,
  fine: number,
  n: number,
  g: { ra: 0 | 1 | 2; ca: 0 | 1 | 2; rows: number; cols: number; rowOrigin: number; colOrigin: number; rowNdiv: number; colNdiv: number },
  data: Float32Array,
  cell: Cell6 | null,
): ReportSlice {
  const rowAxis = AXES[g.ra] as MapAxis;
  const colAxis = AXES[g.ca] as MapAxis;
  let aspect = 1;
  if (cell !== null) {
    try {
      aspect = sliceAspect({ rowAxis, colAxis, rowNdiv: g.rowNdiv, colNdiv: g.colNdiv }, cell);
    } catch {
      aspect = 1;
    }
  }
  return { axis, fine, value: fine / n, rowAxis, colAxis, rows: g.rows, cols: g.cols, rowOrigin: g.rowOrigin, colOrigin: g.colOrigin, rowNdiv: g.rowNdiv, colNdiv: g.colNdiv, aspect, data };
}

/** The three central planes of a dense grid (as slicePlane: through fine index 0, or the middle plane). */
export function slicesOfGrid(grid: MapGrid, cell: Cell6 | null): ReportSlice[] {
  const [nh, nk, nl] = grid.shape;
  const n = [nh, nk, nl];
  return AXES.map((axis, a) => {
    const zero = -grid.origin[a]!;
    const idx = zero >= 0 && zero < n[a]! ? zero : Math.floor(n[a]! / 2);
    const [ra, ca] = ([0, 1, 2] as const).filter((x) => x !== a) as [0 | 1 | 2, 0 | 1 | 2];
    const rows = n[ra]!;
    const cols = n[ca]!;
    const data = new Float32Array(rows * cols);
    const ijk = [0, 0, 0];
    ijk[a] = idx;
    for (let r = 0; r < rows; r++) {
      ijk[ra] = r;
      for (let c = 0; c < cols; c++) {
        ijk[ca] = c;
        data[r * cols + c] = grid.data[(ijk[0]! * nk + ijk[1]!) * nl + ijk[2]!]!;
      }
    }
    return planeOf(axis, grid.origin[a]! + idx, grid.ndiv[a]!, { ra, ca, rows, cols, rowOrigin: grid.origin[ra]!, colOrigin: grid.origin[ca]!, rowNdiv: grid.ndiv[ra]!, colNdiv: grid.ndiv[ca]! }, data, cell);
  });
}

function sweepLabel(key: number, integrated: ReportInputs['integrated']): string {
  const s = integrated[key];
  return s !== undefined ? `${s.sweep} (sweep ${key})` : `sweep ${key}`;
}

/** φ-node indices to draw: all when ≤ count, else count evenly spread (first and last included). */
function pickNodes(n: number, count: number): number[] {
  if (n <= count) return Array.from({ length: n }, (_v, i) => i);
  const out: number[] = [];
  for (let j = 0; j < count; j++) {
    const i = Math.round((j * (n - 1)) / Math.max(1, count - 1));
    if (out[out.length - 1] !== i) out.push(i);
  }
  return out;
}

/** The report's view of a scale model (see ScaleData). */
export function scaleView(model: ScaleModel, integrated: ReportInputs['integrated'], cPhiNodes = 4): Pick<ScaleData, 'a' | 'b' | 'c' | 'd' | 'dMode'> {
  const b: ScaleB[] = model.b.grids.map((g) => ({ key: g.key, label: sweepLabel(g.key, integrated), phi: list(g.axes[0]!), value: list(g.values) }));
  const a: ScaleA[] = model.a.grids.map((g) => {
    const [xs, ys, phis] = g.axes as [Float64Array, Float64Array, Float64Array];
    const mid = Math.floor((phis.length - 1) / 2);
    const plane = xs.length * ys.length;
    return { key: g.key, label: sweepLabel(g.key, integrated), phi: phis[mid]!, nPhi: phis.length, x: list(xs), y: list(ys), values: list(g.values.subarray(mid * plane, (mid + 1) * plane)) };
  });
  const c: ScaleC[] = model.c.grids.map((g) => {
    const [ss, phis] = g.axes as [Float64Array, Float64Array];
    const ns = ss.length;
    return { key: g.key, label: sweepLabel(g.key, integrated), s: list(ss), curves: pickNodes(phis.length, cPhiNodes).map((j) => ({ phi: phis[j]!, value: list(g.values.subarray(j * ns, (j + 1) * ns)) })) };
  });
  const d: ScaleD[] = model.d.grids.map((g) => {
    let lo = Infinity;
    let hi = -Infinity;
    let sum = 0;
    for (const v of g.values) {
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
      sum += v;
    }
    return { panel: g.key, mean: sum / Math.max(1, g.values.length), min: lo, max: hi, nodes: g.values.length };
  });
  return { a, b, c, d, dMode: model.d.axisColumns.length > 0 ? 'map' : 'panel' };
}

async function readScale(path: string, integrated: ReportInputs['integrated'], cPhiNodes: number): Promise<ScaleData> {
  const f = await readSelected(path, { scale_a: '*', scale_b: '*', scale_c: '*', scale_d: '*', history: '*' });
  const meta = metaOf(f.attrs) ?? { ndiv: [1, 1, 1], hall: '', cell: [1, 1, 1, 90, 90, 90], wavelength: 1 };
  const sf: StageFile = { stage: String(f.attrs.stage ?? ''), meta, attrs: f.attrs, groups: f.groups };
  const model = readScaleModel(sf, path);
  const h = f.groups.get('history');
  const history: ScaleData['history'] = [];
  if (h !== undefined) {
    const names = String(h.attrs.stage_names ?? '').split(',');
    const st = column(h, 'stage', 'history');
    const it = column(h, 'iteration', 'history');
    const chi2 = column(h, 'chi2', 'history');
    const rej = column(h, 'rejected', 'history');
    for (let i = 0; i < st.length; i++) history.push({ stage: names[st[i]!] ?? String(st[i]), iteration: Number(it[i]), chi2: Number(chi2[i]), rejected: Number(rej[i]) });
  }
  const stats: Record<string, number> = {};
  for (const k of ['chi2', 'iterations', 'rejected', 'observations', 'voxels']) {
    const v = num(f.attrs[k]);
    if (Number.isFinite(v)) stats[k] = v;
  }
  return { source: path, ...scaleView(model, integrated, cPhiNodes), history, stats };
}

/** Excluded fraction per wedge from a `wedges` table's columns. */
export function filterOfWedges(sweep: string, file: string, w: { wedge: ArrayLike<number>; first_frame: ArrayLike<number>; frames: ArrayLike<number>; occupied: ArrayLike<number>; outliers: ArrayLike<number>; overflow: ArrayLike<number> }): SweepFilter {
  const occupied = list(w.occupied);
  const outliers = list(w.outliers);
  const overflow = list(w.overflow);
  const fraction = occupied.map((o, i) => (o > 0 ? (outliers[i]! + overflow[i]!) / o : NaN));
  const occ = occupied.reduce((s, v) => s + v, 0);
  const exc = outliers.reduce((s, v) => s + v, 0) + overflow.reduce((s, v) => s + v, 0);
  return { sweep, file, wedge: list(w.wedge), firstFrame: list(w.first_frame), frames: list(w.frames), occupied, outliers, overflow, fraction, total: { occupied: occ, excluded: exc, fraction: occ > 0 ? exc / occ : NaN } };
}

async function readFilter(integrated: ReportInputs['integrated']): Promise<Part<FilterData>> {
  if (integrated.length === 0) return { absent: 'no integrate files given' };
  const sweeps: SweepFilter[] = [];
  const missing: FilterData['missing'] = [];
  const cols = ['wedge', 'first_frame', 'frames', 'occupied', 'outliers', 'overflow'] as const;
  for (const { sweep, file } of integrated) {
    try {
      if (!existsSync(file)) throw new Error(`${file} does not exist`);
      const f = await readSelected(file, { wedges: cols });
      const g = f.groups.get('wedges');
      if (g === undefined) throw new Error(`${file} has no 'wedges' table`);
      const get = (c: (typeof cols)[number]): ArrayLike<number> => column(g, c, `${file} wedges`);
      sweeps.push(filterOfWedges(sweep, file, { wedge: get('wedge'), first_frame: get('first_frame'), frames: get('frames'), occupied: get('occupied'), outliers: get('outliers'), overflow: get('overflow') }));
    } catch (err) {
      missing.push({ sweep, reason: reason(err) });
    }
  }
  if (sweeps.length === 0) return { absent: `no integrate file could be read (${missing.map((m) => `${m.sweep}: ${m.reason}`).join('; ')})` };
  return { sweeps, missing };
}

function shellsOf(g: GroupRead, table: string): CchalfShells {
  const what = `group cchalf (${table})`;
  return {
    table,
    sMin: list(column(g, 's_min', what)),
    sMax: list(column(g, 's_max', what)),
    n: list(column(g, 'n', what)),
    cchalf: list(column(g, 'cchalf', what)),
    completeness: g.columns.has('completeness') ? list(column(g, 'completeness', what)) : [],
    overall: num(g.attrs.cchalf_overall),
  };
}

async function readAbsolute(path: string): Promise<AbsoluteData> {
  const f = await readSelected(path, { curves: '*' });
  const g = f.groups.get('curves');
  if (g === undefined) throw new Error("no 'curves' group");
  const w = 'group curves';
  return {
    source: path,
    scaleFactor: num(f.attrs.scale_factor),
    cutoff: num(f.attrs.cutoff),
    electrons: num(f.attrs.electrons),
    cellVolume: num(f.attrs.cell_volume),
    composition: typeof f.attrs.composition === 'string' ? f.attrs.composition : '',
    sLow: list(column(g, 's_low', w)),
    s: list(column(g, 's', w)),
    completeness: list(column(g, 'completeness', w)),
    observed: list(column(g, 'observed', w)),
    theory: list(column(g, 'theory', w)),
    ratio: list(column(g, 'ratio', w)),
  };
}

/** Collects everything the report shows (see the module comment). */
export async function collectReportData(inputs: ReportInputs): Promise<ReportData> {
  const opts = inputs.options ?? {};
  const summary: ReportSummary = { ...inputs.summary };
  let meta: ObservationMeta | null = null;

  // merge stage file: root attributes, CC½ shells
  let mergeAttrs: Record<string, unknown> | null = null;
  const cchalf = await section('merge stage file', inputs.merged, async (path) => {
    const f = await readSelected(path, { cchalf: '*', cchalf_bragg: '*' });
    mergeAttrs = f.attrs;
    meta = metaOf(f.attrs);
    const tables: CchalfShells[] = [];
    const d = f.groups.get('cchalf');
    if (d !== undefined) tables.push(shellsOf(d, 'diffuse'));
    const b = f.groups.get('cchalf_bragg');
    if (b !== undefined) tables.push(shellsOf(b, 'bragg'));
    if (tables.length === 0) throw new Error("no 'cchalf' group");
    return { source: path, tables };
  });
  const absolute = await section('absolute stage file', inputs.absolute, readAbsolute);

  // radial average from the merged diffuse table
  const useAbsolute = (opts.radialSource ?? 'absolute') === 'absolute' && inputs.absolute !== null && !isAbsent(absolute);
  const radialPath = useAbsolute ? inputs.absolute : inputs.merged;
  const radial = await section(useAbsolute ? 'absolute stage file' : 'merge stage file', radialPath, async (path) => {
    const f = await readSelected(path, { diffuse: ['I', 's', 'multiplicity'] });
    const g = f.groups.get('diffuse');
    if (g === undefined) throw new Error("no merged table 'diffuse'");
    meta ??= metaOf(f.attrs);
    const I = column(g, 'I', 'table diffuse');
    const s = column(g, 's', 'table diffuse');
    const m = g.columns.get('multiplicity');
    const units = typeof f.attrs.units === 'string' ? f.attrs.units : 'relative units';
    return { source: path, table: 'diffuse', units, ...radialAverage(m !== undefined ? { I, s, multiplicity: m } : { I, s }, opts.radialBins ?? 50) };
  });

  const scale = await section('scale stage file', inputs.scaled, (path) => readScale(path, inputs.integrated, opts.cPhiNodes ?? 4));
  const filter = inputs.stills !== undefined ? { absent: 'stills: no Poisson filter (2D Bragg masks per shot)' } : await readFilter(inputs.integrated);

  const metaNow = meta as ObservationMeta | null;
  let slices: Part<SliceSet>;
  const map = inputs.map;
  if (map === null) slices = { absent: 'no exported map (export did not run or wrote no NeXus file)' };
  else if ('nexus' in map) slices = await section('map', map.nexus, (path) => readSlicesNexus(path, metaNow?.cell ?? null));
  else slices = { source: map.label ?? 'dense grid in memory', units: map.units ?? 'arbitrary', planes: slicesOfGrid(map.grid, metaNow?.cell ?? null) };

  // complete the summary from the stage files
  const ma = mergeAttrs as Record<string, unknown> | null;
  if (ma !== null) {
    summary.backend ??= typeof ma.backend === 'string' ? ma.backend : undefined;
    summary.adapter ??= typeof ma.adapter === 'string' ? ma.adapter : undefined;
    const cd = num(ma.diffuse_cchalf);
    const cb = num(ma.bragg_cchalf);
    summary.cchalf = { diffuse: summary.cchalf?.diffuse ?? (Number.isFinite(cd) ? cd : null), bragg: summary.cchalf?.bragg ?? (Number.isFinite(cb) ? cb : null) };
  }
  if (summary.scaleFactor === undefined) summary.scaleFactor = isAbsent(absolute) ? null : absolute.scaleFactor;
  for (const k of Object.keys(summary) as (keyof ReportSummary)[]) if (summary[k] === undefined) delete summary[k];

  const files: ReportData['files'] = [
    ...inputs.integrated.map((s) => ({ label: `integrate (${s.sweep})`, path: s.file })),
    ...(inputs.scaled !== null ? [{ label: 'scale', path: inputs.scaled }] : []),
    ...(inputs.merged !== null ? [{ label: 'merge', path: inputs.merged }] : []),
    ...(inputs.absolute !== null ? [{ label: 'absolute', path: inputs.absolute }] : []),
    ...(map !== null && 'nexus' in map ? [{ label: 'map', path: map.nexus }] : []),
  ];
  return { title: summary.title ?? 'diffract run report', summary, meta: metaNow, files, slices, radial, scale, filter, cchalf, absolute, ...(inputs.stills !== undefined ? { stills: inputs.stills } : {}) };
}
