/**
 * The scale model (mdx2): I_obs ≈ a(x, y, φ) · d · (b(φ) · I_v + c(|s|, φ)).
 *
 * Every function is a set of regular grids with multilinear interpolation,
 * one grid per sweep for a, b and c, and one per panel for d (a single node,
 * "one factor per panel", or an (x, y) map of the panel). Outside a grid's
 * node range the edge value holds.
 *
 * In the stage file each function is one group `scale_<name>` with one row
 * per node: the key column (sweep or panel), one column per axis holding the
 * node's coordinate, and `value`; nodes of a grid run first axis fastest.
 */
import { InvalidValueError, MissingFieldError } from '../errors.ts';
import type { ColumnArray } from '../io/hdf5.ts';
import type { StageFile } from '../io/observation-file.ts';
import { emptyObservations, observationCount, OBSERVATION_COLUMNS, type ObservationColumn, type ObservationTable } from '../pipeline/observations.ts';
import { gridSize, gridStrides, gridTaps, type ScaleGrid } from './grid.ts';

export type ScaleFunctionName = 'a' | 'b' | 'c' | 'd';
export type AxisColumn = 'phi' | 'x' | 'y' | 's';

export interface ScaleFunction {
  name: ScaleFunctionName;
  /** observation column that picks the grid: sweep (a, b, c) or panel (d) */
  keyColumn: 'sweep' | 'panel';
  /** observation columns of the grid axes, in axis order */
  axisColumns: AxisColumn[];
  grids: ScaleGrid[];
}

export interface ScaleModel {
  /** absorption-like smooth scale on the detector and in φ: axes x, y, φ */
  a: ScaleFunction;
  /** scale vs rotation: axis φ */
  b: ScaleFunction;
  /** offset (≥ 0): axes |s|, φ */
  c: ScaleFunction;
  /** detector: per panel, no axis (one factor) or axes x, y (a map) */
  d: ScaleFunction;
}

export const FUNCTION_AXES: Record<Exclude<ScaleFunctionName, 'd'>, AxisColumn[]> = { a: ['x', 'y', 'phi'], b: ['phi'], c: ['s', 'phi'] };

/** Evaluates one function at the rows of a table (grids looked up by key once). */
export class FunctionEvaluator {
  readonly fn: ScaleFunction;
  readonly D: number;
  readonly taps: number;
  /** first parameter of each grid in the concatenated parameter vector */
  readonly offsets: number[];
  readonly parameters: number;
  private readonly byKey = new Map<number, number>();
  private readonly strides: number[][];
  private readonly keyCol: ArrayLike<number>;
  private readonly cols: ArrayLike<number>[];
  private readonly point: Float64Array;
  private readonly scratchIdx = new Int32Array(8);
  private readonly scratchW = new Float64Array(8);

  constructor(fn: ScaleFunction, obs: ObservationTable) {
    this.fn = fn;
    this.D = fn.axisColumns.length;
    this.taps = 2 ** this.D;
    this.offsets = [];
    let n = 0;
    fn.grids.forEach((g, gi) => {
      this.byKey.set(g.key, gi);
      this.offsets.push(n);
      n += gridSize(g.axes);
    });
    this.parameters = n;
    this.strides = fn.grids.map((g) => gridStrides(g.axes));
    this.keyCol = obs[fn.keyColumn];
    this.cols = fn.axisColumns.map((c) => obs[c]);
    this.point = new Float64Array(this.D);
  }

  /** Grid index of row i (throws when the model has no grid for its sweep or panel). */
  gridOf(i: number): number {
    const key = this.keyCol[i]!;
    const g = this.byKey.get(key);
    if (g === undefined) throw new InvalidValueError(`row ${i}: the scale model has no '${this.fn.name}' function for ${this.fn.keyColumn} ${key}`, { field: this.fn.keyColumn });
    return g;
  }

  /** Taps of row i: global parameter indices and weights; returns the count (2^D). */
  tapsOf(i: number, gi: number, idx: Int32Array, w: Float64Array): number {
    const g = this.fn.grids[gi]!;
    for (let k = 0; k < this.D; k++) this.point[k] = this.cols[k]![i]!;
    const T = gridTaps(g.axes, this.strides[gi]!, this.point, idx, w);
    const off = this.offsets[gi]!;
    for (let t = 0; t < T; t++) idx[t]! += off;
    return T;
  }

  valueAt(i: number): number {
    const gi = this.gridOf(i);
    const T = this.tapsOf(i, gi, this.scratchIdx, this.scratchW);
    const values = this.fn.grids[gi]!.values;
    const off = this.offsets[gi]!;
    let v = 0;
    for (let t = 0; t < T; t++) v += this.scratchW[t]! * values[this.scratchIdx[t]! - off]!;
    return v;
  }

  /** Values at every row into out. */
  valuesInto(out: Float64Array): void {
    for (let i = 0; i < out.length; i++) out[i] = this.valueAt(i);
  }
}

export interface ScaleFactors {
  a: Float64Array;
  b: Float64Array;
  c: Float64Array;
  d: Float64Array;
}

/** a, b, c, d at every row of a table. */
export function scaleFactors(model: ScaleModel, obs: ObservationTable): ScaleFactors {
  const n = observationCount(obs);
  const out: ScaleFactors = { a: new Float64Array(n), b: new Float64Array(n), c: new Float64Array(n), d: new Float64Array(n) };
  for (const name of ['a', 'b', 'c', 'd'] as const) new FunctionEvaluator(model[name], obs).valuesInto(out[name]);
  return out;
}

/** a, b, c, d at row i of a table. */
export function evaluateScale(model: ScaleModel, obs: ObservationTable, i: number): { a: number; b: number; c: number; d: number } {
  return {
    a: new FunctionEvaluator(model.a, obs).valueAt(i),
    b: new FunctionEvaluator(model.b, obs).valueAt(i),
    c: new FunctionEvaluator(model.c, obs).valueAt(i),
    d: new FunctionEvaluator(model.d, obs).valueAt(i),
  };
}

/**
 * A scaled copy of the table: I' = (I/(a·d) − c)/b and σ' = σ/|a·d·b| (the
 * intensity on the scale of the merged map); every other column copied.
 */
export function applyScaleModel(obs: ObservationTable, model: ScaleModel): ObservationTable {
  const n = observationCount(obs);
  const f = scaleFactors(model, obs);
  const out = emptyObservations(0);
  for (const name of Object.keys(OBSERVATION_COLUMNS) as ObservationColumn[]) {
    (out as unknown as Record<string, unknown>)[name] = obs[name].slice();
  }
  for (let i = 0; i < n; i++) {
    const ad = f.a[i]! * f.d[i]!;
    const b = f.b[i]!;
    out.I[i] = (obs.I[i]! / ad - f.c[i]!) / b;
    out.sigma[i] = obs.sigma[i]! / Math.abs(ad * b);
  }
  return out;
}

const DESCRIPTIONS: Record<ScaleFunctionName, string> = {
  a: 'smooth scale a(x, y, phi), trilinear; one grid per sweep',
  b: 'scale b(phi), piecewise linear; one grid per sweep',
  c: 'offset c(s, phi) >= 0, bilinear; one grid per sweep',
  d: 'detector scale d, one grid per panel (no axis: one factor; x, y: a map)',
};

/** Columnar groups of the model for the stage file (`scale_a`, `scale_b`, `scale_c`, `scale_d`). */
export function scaleModelGroups(model: ScaleModel): Record<string, { columns: Record<string, ColumnArray>; attrs: Record<string, string | number> }> {
  const out: Record<string, { columns: Record<string, ColumnArray>; attrs: Record<string, string | number> }> = {};
  for (const name of ['a', 'b', 'c', 'd'] as const) {
    const fn = model[name];
    const rows = fn.grids.reduce((n, g) => n + gridSize(g.axes), 0);
    const key = new Uint16Array(rows);
    const axes = fn.axisColumns.map(() => new Float64Array(rows));
    const value = new Float64Array(rows);
    let r = 0;
    for (const g of fn.grids) {
      const size = gridSize(g.axes);
      const strides = gridStrides(g.axes);
      for (let j = 0; j < size; j++, r++) {
        key[r] = g.key;
        g.axes.forEach((ax, k) => {
          axes[k]![r] = ax[Math.floor(j / strides[k]!) % ax.length]!;
        });
        value[r] = g.values[j]!;
      }
    }
    const columns: Record<string, ColumnArray> = { [fn.keyColumn]: key };
    fn.axisColumns.forEach((c, k) => {
      columns[c] = axes[k]!;
    });
    columns.value = value;
    out[`scale_${name}`] = {
      columns,
      attrs: {
        function: DESCRIPTIONS[name],
        key: fn.keyColumn,
        axes: fn.axisColumns.join(','),
        grids: fn.grids.length,
        shape: fn.grids.map((g) => g.axes.map((a) => a.length).join('x') || '1').join(';'),
        order: 'one row per node; nodes of a grid first axis fastest',
      },
    };
  }
  return out;
}

function sortedUnique(values: ArrayLike<number>, from: number, to: number): Float64Array {
  const s = Float64Array.from({ length: to - from }, (_v, i) => values[from + i]!).sort();
  let m = 0;
  for (let i = 0; i < s.length; i++) if (i === 0 || s[i] !== s[m - 1]) s[m++] = s[i]!;
  return s.slice(0, m);
}

/** The scale model stored in a stage file (groups written from scaleModelGroups). */
export function readScaleModel(sf: StageFile, path = 'stage file'): ScaleModel {
  const read = (name: ScaleFunctionName): ScaleFunction => {
    const gname = `scale_${name}`;
    const g = sf.groups.get(gname);
    if (g === undefined) throw new MissingFieldError(`no scale model group '${gname}'`, { file: path, field: gname });
    const keyColumn = String(g.attrs.key ?? (name === 'd' ? 'panel' : 'sweep'));
    if (keyColumn !== 'sweep' && keyColumn !== 'panel') throw new InvalidValueError(`attribute 'key' must be sweep or panel, got '${keyColumn}'`, { file: path, field: `${gname}/key` });
    const axesAttr = String(g.attrs.axes ?? '');
    const axisColumns = (axesAttr === '' ? [] : axesAttr.split(',')) as AxisColumn[];
    for (const c of axisColumns) {
      if (!['phi', 'x', 'y', 's'].includes(c)) throw new InvalidValueError(`unknown axis '${c}'`, { file: path, field: `${gname}/axes` });
    }
    const col = (c: string): ArrayLike<number> => {
      const v = g.columns.get(c);
      if (v === undefined) throw new MissingFieldError(`group '${gname}' has no column '${c}'`, { file: path, field: `${gname}/${c}` });
      return v;
    };
    const keys = col(keyColumn);
    const value = col('value');
    const axisData = axisColumns.map(col);
    const grids: ScaleGrid[] = [];
    let r0 = 0;
    while (r0 < keys.length) {
      let r1 = r0;
      while (r1 < keys.length && keys[r1] === keys[r0]) r1++;
      const axes = axisData.map((a) => sortedUnique(a, r0, r1));
      const size = gridSize(axes);
      const strides = gridStrides(axes);
      const bad = size !== r1 - r0 || axes.some((a) => a.length < 2) || axisData.some((a, k) => {
        for (let j = 0; j < size; j++) if (a[r0 + j] !== axes[k]![Math.floor(j / strides[k]!) % axes[k]!.length]) return true;
        return false;
      });
      if (bad) throw new InvalidValueError(`rows ${r0}…${r1 - 1} (${keyColumn} ${keys[r0]}) are not a regular grid with ≥ 2 nodes per axis, first axis fastest`, { file: path, field: gname });
      grids.push({ key: keys[r0]!, axes, values: Float64Array.from({ length: size }, (_v, j) => value[r0 + j]!) });
      r0 = r1;
    }
    return { name, keyColumn, axisColumns, grids };
  };
  return { a: read('a'), b: read('b'), c: read('c'), d: read('d') };
}
