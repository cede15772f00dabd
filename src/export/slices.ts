/**
 * Planar slices through the dense grid and their colour-mapped PNG pictures.
 *
 * `slicePlane(grid, axis, index)` takes the plane at grid index `index` along
 * `axis` (default: the plane through fine index 0, i.e. h = 0, k = 0 or
 * l = 0). The plane's two remaining axes keep their grid order: the slower one
 * gives the rows, the faster one the columns (h-slice: rows k, columns l;
 * k-slice: rows h, columns l; l-slice: rows h, columns k), and `data` is
 * [row][col] with the column fastest.
 *
 * `renderSlicePng(plane, options)` draws it: column index to the right, row
 * index upwards (the first row is the bottom line of the picture), each grid
 * step `scale` pixels wide and `scale·aspect` pixels high (nearest neighbour),
 * colours from a perceptual map (viridis, or a blue-white-red diverging map
 * symmetric about 0) between robust limits (percentiles of the finite values,
 * default 1 and 99), non-finite points grey.
 */
import { PNG } from 'pngjs';
import { InvalidValueError } from '../errors.ts';
import { reciprocalCell, type Cell6 } from './cell.ts';
import type { DenseGrid } from './dense-grid.ts';

export type MapAxis = 'h' | 'k' | 'l';
export const MAP_AXES: readonly MapAxis[] = ['h', 'k', 'l'];

export interface SlicePlane {
  /** the axis held fixed, and the plane's grid index and fine index along it */
  axis: MapAxis;
  index: number;
  fine: number;
  /** fractional coordinate (r.l.u.) of the plane */
  value: number;
  rowAxis: MapAxis;
  colAxis: MapAxis;
  rows: number;
  cols: number;
  /** fine index of row 0 and column 0 */
  rowOrigin: number;
  colOrigin: number;
  /** subdivisions per cell along the row and column axes */
  rowNdiv: number;
  colNdiv: number;
  /** [row][col], column fastest */
  data: Float32Array;
}

function axisNumber(axis: MapAxis): 0 | 1 | 2 {
  return axis === 'h' ? 0 : axis === 'k' ? 1 : 2;
}

/** The plane of `grid` at grid index `index` along `axis` (default: through fine index 0, or the middle plane when 0 is outside). */
export function slicePlane(grid: Pick<DenseGrid, 'data' | 'shape' | 'origin' | 'ndiv'>, axis: MapAxis, index?: number): SlicePlane {
  const a = axisNumber(axis);
  const n = grid.shape[a];
  const zero = -grid.origin[a];
  const idx = index ?? (zero >= 0 && zero < n ? zero : Math.floor(n / 2));
  if (!Number.isInteger(idx) || idx < 0 || idx >= n) throw new InvalidValueError(`slice index ${idx} along ${axis} is outside 0…${n - 1}`, { field: 'slice' });
  const [ra, ca] = ([0, 1, 2] as const).filter((x) => x !== a) as [0 | 1 | 2, 0 | 1 | 2];
  const rows = grid.shape[ra];
  const cols = grid.shape[ca];
  const [, nk, nl] = grid.shape;
  const data = new Float32Array(rows * cols);
  const ijk = [0, 0, 0];
  ijk[a] = idx;
  for (let r = 0; r < rows; r++) {
    ijk[ra] = r;
    for (let c = 0; c < cols; c++) {
      ijk[ca] = c;
      data[r * cols + c] = grid.data[((ijk[0] as number) * nk + (ijk[1] as number)) * nl + (ijk[2] as number)] as number;
    }
  }
  const fine = grid.origin[a] + idx;
  return {
    axis,
    index: idx,
    fine,
    value: fine / grid.ndiv[a],
    rowAxis: MAP_AXES[ra] as MapAxis,
    colAxis: MAP_AXES[ca] as MapAxis,
    rows,
    cols,
    rowOrigin: grid.origin[ra],
    colOrigin: grid.origin[ca],
    rowNdiv: grid.ndiv[ra],
    colNdiv: grid.ndiv[ca],
    data,
  };
}

/**
 * Physical aspect (row step / column step, both in Å⁻¹) of a plane from the
 * reciprocal cell: the step along h is a* / n1, etc. The angle between the axes
 * is not drawn (the picture stays rectangular).
 */
export function sliceAspect(plane: Pick<SlicePlane, 'rowAxis' | 'colAxis' | 'rowNdiv' | 'colNdiv'>, cell: Cell6): number {
  const rc = reciprocalCell(cell);
  const len = (ax: MapAxis): number => rc[axisNumber(ax)] as number;
  return len(plane.rowAxis) / plane.rowNdiv / (len(plane.colAxis) / plane.colNdiv);
}

type Rgb = readonly [number, number, number];

function hex(s: string): Rgb {
  return [parseInt(s.slice(1, 3), 16), parseInt(s.slice(3, 5), 16), parseInt(s.slice(5, 7), 16)];
}

/** viridis at 9 equally spaced points (linear interpolation between them) */
const VIRIDIS: readonly Rgb[] = ['#440154', '#472d7b', '#3b528b', '#2c728e', '#21908c', '#27ad81', '#5dc863', '#aadc32', '#fde725'].map(hex);
/** ColorBrewer RdBu (7 classes), blue for low, red for high */
const DIVERGING: readonly Rgb[] = ['#2166ac', '#67a9cf', '#d1e5f0', '#f7f7f7', '#fddbc7', '#ef8a62', '#b2182b'].map(hex);

export type Colormap = 'viridis' | 'diverging';

/** The colour of t ∈ [0, 1] (clamped) in a colour map. */
export function colormapColor(map: Colormap, t: number): [number, number, number] {
  const stops = map === 'viridis' ? VIRIDIS : DIVERGING;
  const x = Math.max(0, Math.min(1, t)) * (stops.length - 1);
  const i = Math.min(stops.length - 2, Math.floor(x));
  const f = x - i;
  const a = stops[i] as Rgb;
  const b = stops[i + 1] as Rgb;
  return [Math.round(a[0] + f * (b[0] - a[0])), Math.round(a[1] + f * (b[1] - a[1])), Math.round(a[2] + f * (b[2] - a[2]))];
}

/** The p-th percentile (0…100, linear interpolation) of the finite values; NaN when there are none. */
export function percentile(values: ArrayLike<number>, p: number): number {
  const v: number[] = [];
  for (let i = 0; i < values.length; i++) {
    const x = values[i] as number;
    if (Number.isFinite(x)) v.push(x);
  }
  if (v.length === 0) return NaN;
  v.sort((x, y) => x - y);
  const pos = (Math.max(0, Math.min(100, p)) * (v.length - 1)) / 100;
  const i = Math.floor(pos);
  const f = pos - i;
  return i + 1 < v.length ? (v[i] as number) * (1 - f) + (v[i + 1] as number) * f : (v[i] as number);
}

export interface RenderOptions {
  colormap?: Colormap;
  /** explicit colour limits [low, high]; default: percentiles */
  limits?: readonly [number, number];
  /** percentiles for the limits (default [1, 99]); the diverging map uses ±max(|low|, |high|) */
  percentiles?: readonly [number, number];
  /** pixels per grid step along the columns (default: the smallest integer making the longer side ≥ 512 px, at most 16) */
  scale?: number;
  /** row step / column step in physical units (see sliceAspect; default 1) */
  aspect?: number;
  /** colour of non-finite points (default grey 128) */
  nanColor?: readonly [number, number, number];
}

export interface RenderedSlice {
  png: Buffer;
  width: number;
  height: number;
  /** the limits used */
  limits: [number, number];
  /** pixel size of one grid step */
  pixelWidth: number;
  pixelHeight: number;
}

/** Colour limits of a plane under the options (see RenderOptions). */
export function sliceLimits(plane: Pick<SlicePlane, 'data'>, options: Pick<RenderOptions, 'colormap' | 'limits' | 'percentiles'> = {}): [number, number] {
  if (options.limits !== undefined) return [options.limits[0], options.limits[1]];
  const [plo, phi] = options.percentiles ?? [1, 99];
  const lo = percentile(plane.data, plo);
  const hi = percentile(plane.data, phi);
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) return [0, 1];
  if ((options.colormap ?? 'viridis') === 'diverging') {
    const m = Math.max(Math.abs(lo), Math.abs(hi));
    return [-m, m];
  }
  return [lo, hi];
}

/** Draws a plane (see the module comment); returns the PNG bytes and the geometry used. */
export function renderSlice(plane: Pick<SlicePlane, 'data' | 'rows' | 'cols'>, options: RenderOptions = {}): RenderedSlice {
  const { rows, cols } = plane;
  if (rows < 1 || cols < 1 || plane.data.length !== rows * cols) throw new InvalidValueError(`plane ${rows}×${cols} does not match its ${plane.data.length} values`, { field: 'plane' });
  const map = options.colormap ?? 'viridis';
  const aspect = options.aspect ?? 1;
  if (!(aspect > 0 && Number.isFinite(aspect))) throw new InvalidValueError(`aspect must be positive, got ${aspect}`, { field: 'aspect' });
  const scale = options.scale ?? Math.min(16, Math.max(1, Math.ceil(512 / Math.max(cols, rows * aspect))));
  const pw = Math.max(1, Math.round(scale));
  const ph = Math.max(1, Math.round(scale * aspect));
  const width = cols * pw;
  const height = rows * ph;
  const limits = sliceLimits(plane, options);
  const [lo, hi] = limits;
  const span = hi - lo;
  const nan = options.nanColor ?? [128, 128, 128];
  const png = new PNG({ width, height });
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const v = plane.data[r * cols + c] as number;
      const rgb = Number.isFinite(v) ? colormapColor(map, span > 0 ? (v - lo) / span : 0.5) : nan;
      const y0 = (rows - 1 - r) * ph;
      for (let y = y0; y < y0 + ph; y++) {
        for (let x = c * pw; x < (c + 1) * pw; x++) {
          const o = 4 * (y * width + x);
          png.data[o] = rgb[0];
          png.data[o + 1] = rgb[1];
          png.data[o + 2] = rgb[2];
          png.data[o + 3] = 255;
        }
      }
    }
  }
  return { png: PNG.sync.write(png), width, height, limits, pixelWidth: pw, pixelHeight: ph };
}

/** The PNG bytes of a plane (see renderSlice). */
export function renderSlicePng(plane: Pick<SlicePlane, 'data' | 'rows' | 'cols'>, options: RenderOptions = {}): Buffer {
  return renderSlice(plane, options).png;
}
