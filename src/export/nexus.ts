/**
 * The dense reciprocal-space map as a NeXus/HDF5 file (h5py, silx, NeXpy and
 * NeXus-aware viewers open and plot it; layout also in docs/export.md):
 *
 *   /                       @NX_class = NXroot, @default = entry, @creator, @file_time
 *   /entry                  NXentry, @default = map; title
 *     map                   NXdata, @signal = intensity, @axes = [h, k, l],
 *                           @h_indices = 0, @k_indices = 1, @l_indices = 2
 *       intensity           float32 [nh, nk, nl] (l fastest), NaN = unmeasured;
 *                           @units, @long_name
 *       intensity_errors    float32 [nh, nk, nl]: standard errors (NeXus DATA_errors)
 *       count               uint16 [nh, nk, nl]: ASU rows on the point (0 = unmeasured)
 *       h, k, l             float64 [n]: fractional Miller indices, @units = rlu,
 *                           @long_name; @fine_origin and @ndiv give the fine index
 *     sample                NXsample: unit_cell_abc (Å), unit_cell_alphabetagamma
 *                           (degree), unit_cell_volume (Å³), space_group (@hall,
 *                           @number), reciprocal_cell_abc (1/Å),
 *                           reciprocal_cell_alphabetagamma (degree)
 *     process               NXprocess: program, version, date, and the inputs
 *                           (stage file, stage, table, ndiv, …) as attributes
 *     slice_<axis><fine>    NXdata per requested slice: intensity [rows, cols],
 *                           intensity_errors when given, the two axes
 *
 * Arrays of 4096 points or more are gzip-compressed in chunks of one h-plane
 * and written in slabs of whole planes (h5wasm copies every write into its
 * 2 GiB heap, so a large map never goes in one piece).
 */
import { setAttributes, writeHdf5Atomic, type H5Dataset, type H5Group } from '../io/hdf5.ts';
import { directVolume, reciprocalCell, type Cell6 } from './cell.ts';
import { gridAxis, type DenseGrid } from './dense-grid.ts';
import type { SlicePlane } from './slices.ts';

type AttrValue = string | number | readonly number[] | readonly string[];

export interface NexusProvenance {
  program: string;
  version: string;
  /** ISO 8601 (default: now) */
  date?: string;
  /** written as attributes of /entry/process */
  inputs?: Record<string, AttrValue>;
}

export interface NexusMapInput {
  grid: Pick<DenseGrid, 'data' | 'sigma' | 'shape' | 'origin' | 'ndiv'> & { count?: Uint16Array };
  /** direct cell: a, b, c (Å), α, β, γ (degrees) */
  cell: Cell6;
  spaceGroup: { symbol: string; hall?: string; number?: number };
  /** units of the intensity (default 'arbitrary') */
  units?: string;
  /** long name of the intensity (default 'intensity') */
  longName?: string;
  title?: string;
  provenance: NexusProvenance;
  /** extra NXdata groups */
  slices?: readonly (SlicePlane & { sigma?: Float32Array })[];
  /** gzip level 0…9 (default 4; 0: no compression) */
  gzip?: number;
  /** values per write for large grids (default 8 Mi); tests lower it to exercise the slab path */
  slabValues?: number;
}

/** The NXdata group name of a slice: slice_h0, slice_k3, slice_lm2 (m for minus). */
export function sliceGroupName(plane: Pick<SlicePlane, 'axis' | 'fine'>): string {
  return `slice_${plane.axis}${plane.fine < 0 ? `m${-plane.fine}` : plane.fine}`;
}

function floatAttr(target: { create_attribute(name: string, data: number | number[], shape?: number[] | null, dtype?: string | null): void }, name: string, v: number | readonly number[]): void {
  if (typeof v === 'number') target.create_attribute(name, v, [], '<d');
  else target.create_attribute(name, [...v], [v.length], '<d');
}

/** Values per slab when a 3-D array goes to HDF5 in pieces (h5wasm copies each write into its 2 GiB heap). */
const SLAB_VALUES = 8 * 2 ** 20;

/**
 * A [nh, nk, nl] dataset, written in slabs of whole h-planes (chunked one plane
 * per chunk, gzip when `level` > 0) when the grid is large, in one piece otherwise.
 */
function gridDataset(g: H5Group, name: string, data: Float32Array | Uint16Array, shape: readonly [number, number, number], level: number, slabValues = SLAB_VALUES): H5Dataset {
  const [nh, nk, nl] = shape;
  const plane = nk * nl;
  const big = nh * plane >= 4096;
  if (!big) return g.create_dataset({ name, data, shape: [nh, nk, nl] });
  const compress = level > 0 ? { compression: 'gzip' as const, compression_opts: level } : {};
  const per = Math.max(1, Math.floor(slabValues / Math.max(1, plane)));
  if (per >= nh) return g.create_dataset({ name, data, shape: [nh, nk, nl], chunks: [1, nk, nl], ...compress });
  const ds = g.create_dataset({ name, data: data.subarray(0, per * plane), shape: [per, nk, nl], maxshape: [nh, nk, nl], chunks: [1, nk, nl], ...compress });
  ds.resize([nh, nk, nl]);
  for (let h0 = per; h0 < nh; h0 += per) {
    const h1 = Math.min(nh, h0 + per);
    ds.write_slice([[h0, h1], [], []], data.subarray(h0 * plane, h1 * plane));
  }
  return ds;
}

function axisDataset(g: H5Group, name: string, coords: Float64Array, fineOrigin: number, ndiv: number): void {
  const ds = g.create_dataset({ name, data: coords, shape: [coords.length] });
  setAttributes(ds, { units: 'rlu', long_name: `${name} (r.l.u.)`, fine_origin: fineOrigin, ndiv });
}

/** Writes the map file atomically (layout in the module comment). */
export async function writeNexusMap(path: string, input: NexusMapInput): Promise<void> {
  const { grid } = input;
  const [nh, nk, nl] = grid.shape;
  const level = input.gzip ?? 4;
  const slab = input.slabValues ?? SLAB_VALUES;
  const units = input.units ?? 'arbitrary';
  const longName = input.longName ?? 'intensity';
  await writeHdf5Atomic(path, (file) => {
    setAttributes(file, { NX_class: 'NXroot', default: 'entry', creator: `${input.provenance.program} ${input.provenance.version}`, file_time: input.provenance.date ?? new Date().toISOString() });
    const entry = file.create_group('entry');
    setAttributes(entry, { NX_class: 'NXentry', default: 'map' });
    entry.create_dataset({ name: 'title', data: input.title ?? `reciprocal-space map, ${input.spaceGroup.symbol}` });

    const map = entry.create_group('map');
    setAttributes(map, { NX_class: 'NXdata', signal: 'intensity', axes: ['h', 'k', 'l'], h_indices: 0, k_indices: 1, l_indices: 2 });
    const I = gridDataset(map, 'intensity', grid.data, grid.shape, level, slab);
    setAttributes(I, { units, long_name: longName });
    const E = gridDataset(map, 'intensity_errors', grid.sigma, grid.shape, level, slab);
    setAttributes(E, { units, long_name: `standard error of ${longName}` });
    if (grid.count !== undefined) {
      const C = gridDataset(map, 'count', grid.count, grid.shape, level, slab);
      setAttributes(C, { long_name: 'merged ASU rows on the point (0: unmeasured)' });
    }
    (['h', 'k', 'l'] as const).forEach((name, a) => axisDataset(map, name, gridAxis(grid, a as 0 | 1 | 2), grid.origin[a] as number, grid.ndiv[a] as number));

    const sample = entry.create_group('sample');
    setAttributes(sample, { NX_class: 'NXsample' });
    const c = input.cell;
    const rc = reciprocalCell(c);
    const put = (name: string, values: readonly number[], unit: string): void => {
      const ds = sample.create_dataset({ name, data: Float64Array.from(values), shape: [values.length] });
      setAttributes(ds, { units: unit });
    };
    put('unit_cell_abc', [c[0], c[1], c[2]], 'angstrom');
    put('unit_cell_alphabetagamma', [c[3], c[4], c[5]], 'degree');
    const vol = sample.create_dataset({ name: 'unit_cell_volume', data: Float64Array.of(directVolume(c)), shape: [] });
    setAttributes(vol, { units: 'angstrom^3' });
    put('reciprocal_cell_abc', [rc[0], rc[1], rc[2]], '1/angstrom');
    put('reciprocal_cell_alphabetagamma', [rc[3], rc[4], rc[5]], 'degree');
    const sg = sample.create_dataset({ name: 'space_group', data: input.spaceGroup.symbol });
    if (input.spaceGroup.hall !== undefined) setAttributes(sg, { hall: input.spaceGroup.hall });
    if (input.spaceGroup.number !== undefined) setAttributes(sg, { number: input.spaceGroup.number });

    const process = entry.create_group('process');
    setAttributes(process, { NX_class: 'NXprocess', ...(input.provenance.inputs ?? {}) });
    process.create_dataset({ name: 'program', data: input.provenance.program });
    process.create_dataset({ name: 'version', data: input.provenance.version });
    process.create_dataset({ name: 'date', data: input.provenance.date ?? new Date().toISOString() });

    for (const plane of input.slices ?? []) {
      const g = entry.create_group(sliceGroupName(plane));
      setAttributes(g, {
        NX_class: 'NXdata',
        signal: 'intensity',
        axes: [plane.rowAxis, plane.colAxis],
        [`${plane.rowAxis}_indices`]: 0,
        [`${plane.colAxis}_indices`]: 1,
        slice_axis: plane.axis,
        slice_fine_index: plane.fine,
        title: `${plane.axis} = ${plane.value}`,
      });
      floatAttr(g, 'slice_value', plane.value);
      const d = g.create_dataset({ name: 'intensity', data: plane.data, shape: [plane.rows, plane.cols] });
      setAttributes(d, { units, long_name: longName });
      if (plane.sigma !== undefined) {
        const e = g.create_dataset({ name: 'intensity_errors', data: plane.sigma, shape: [plane.rows, plane.cols] });
        setAttributes(e, { units });
      }
      axisDataset(g, plane.rowAxis, Float64Array.from({ length: plane.rows }, (_v, i) => (plane.rowOrigin + i) / plane.rowNdiv), plane.rowOrigin, plane.rowNdiv);
      axisDataset(g, plane.colAxis, Float64Array.from({ length: plane.cols }, (_v, i) => (plane.colOrigin + i) / plane.colNdiv), plane.colOrigin, plane.colNdiv);
    }
  });
}
