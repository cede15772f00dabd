import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { denseGrid } from '../../src/export/dense-grid.ts';
import { sliceGroupName, writeNexusMap } from '../../src/export/nexus.ts';
import { slicePlane } from '../../src/export/slices.ts';
import { readHdf5, type H5Dataset, type H5Group } from '../../src/io/hdf5.ts';
import type { Ndiv } from '../../src/pipeline/observations.ts';
import { MMM, mergedFrom } from './helpers.ts';

const dir = mkdtempSync(join(tmpdir(), 'diffract-nexus-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function attr(e: unknown, name: string): unknown {
  return (e as { attrs: Record<string, { value: unknown }> }).attrs[name]?.value;
}

describe('writeNexusMap', () => {
  const ndiv: Ndiv = [3, 3, 5];
  const grid = denseGrid(
    mergedFrom(
      [
        { fine: [3, 2, 1], I: 10, sigma: 1 },
        { fine: [1, 0, 0], I: 4, sigma: 0.5 },
      ],
      ndiv,
    ),
    ndiv,
    MMM,
  );
  const cell = [10, 20, 40, 90, 90, 90] as const;

  it('writes NXroot → NXentry → NXdata with signal, axes, errors, units and values', async () => {
    const path = join(dir, 'map.nxs');
    const slice = { ...slicePlane(grid, 'l'), sigma: slicePlane({ ...grid, data: grid.sigma }, 'l').data };
    await writeNexusMap(path, {
      grid,
      cell,
      spaceGroup: { symbol: 'P 2 2 2', hall: ' P 2 2', number: 16 },
      units: 'e.u.',
      longName: 'diffuse intensity',
      provenance: { program: 'diffract', version: '9.9.9', date: '2025-01-02T03:04:05Z', inputs: { stage_file: 'in.h5', stage: 'merge', ndiv: [3, 3, 5] } },
      slices: [slice],
    });
    expect(readdirSync(dir).filter((f) => f.includes('.tmp'))).toEqual([]);
    await readHdf5(path, (f) => {
      expect(attr(f, 'default')).toBe('entry');
      expect(attr(f, 'NX_class')).toBe('NXroot');
      const entry = f.get('entry') as H5Group;
      expect(attr(entry, 'NX_class')).toBe('NXentry');
      expect(attr(entry, 'default')).toBe('map');
      const map = entry.get('map') as H5Group;
      expect(attr(map, 'NX_class')).toBe('NXdata');
      expect(attr(map, 'signal')).toBe('intensity');
      expect(attr(map, 'axes')).toEqual(['h', 'k', 'l']);
      expect([attr(map, 'h_indices'), attr(map, 'k_indices'), attr(map, 'l_indices')]).toEqual([0, 1, 2]);
      const I = map.get('intensity') as H5Dataset;
      expect(I.shape).toEqual([7, 5, 3]);
      expect(I.dtype).toBe('<f');
      expect(attr(I, 'units')).toBe('e.u.');
      expect(attr(I, 'long_name')).toBe('diffuse intensity');
      const v = I.value as Float32Array;
      // fine (−3, 2, −1) → grid (0, 4, 0); (1, 0, 0) → (4, 2, 1)
      expect(v[(0 * 5 + 4) * 3 + 0]).toBe(10);
      expect(v[(4 * 5 + 2) * 3 + 1]).toBe(4);
      expect(Number.isNaN(v[1]!)).toBe(true); // fine (−3, −2, 0)
      expect(Array.from(v).filter((x) => Number.isFinite(x))).toHaveLength(8 + 2);
      const E = map.get('intensity_errors') as H5Dataset;
      expect(E.shape).toEqual([7, 5, 3]);
      expect((E.value as Float32Array)[(4 * 5 + 2) * 3 + 1]).toBe(0.5);
      expect((map.get('count') as H5Dataset).value).toEqual(grid.count);
      const h = map.get('h') as H5Dataset;
      expect(Array.from(h.value as Float64Array)).toEqual([-1, -2 / 3, -1 / 3, 0, 1 / 3, 2 / 3, 1]);
      expect(attr(h, 'units')).toBe('rlu');
      expect(attr(h, 'fine_origin')).toBe(-3);
      const l = map.get('l') as H5Dataset;
      expect(Array.from(l.value as Float64Array)).toEqual([-0.2, 0, 0.2]);
      const sample = entry.get('sample') as H5Group;
      expect(attr(sample, 'NX_class')).toBe('NXsample');
      expect(Array.from((sample.get('unit_cell_abc') as H5Dataset).value as Float64Array)).toEqual([10, 20, 40]);
      expect(attr(sample.get('unit_cell_abc'), 'units')).toBe('angstrom');
      expect((sample.get('unit_cell_volume') as H5Dataset).value).toBeCloseTo(8000, 9);
      const rc = (sample.get('reciprocal_cell_abc') as H5Dataset).value as Float64Array;
      expect(rc[2]).toBeCloseTo(0.025, 12);
      const sg = sample.get('space_group') as H5Dataset;
      expect(sg.value).toBe('P 2 2 2');
      expect(attr(sg, 'hall')).toBe(' P 2 2');
      const proc = entry.get('process') as H5Group;
      expect(attr(proc, 'NX_class')).toBe('NXprocess');
      expect((proc.get('program') as H5Dataset).value).toBe('diffract');
      expect((proc.get('version') as H5Dataset).value).toBe('9.9.9');
      expect((proc.get('date') as H5Dataset).value).toBe('2025-01-02T03:04:05Z');
      expect(attr(proc, 'stage_file')).toBe('in.h5');
      expect(Array.from(attr(proc, 'ndiv') as Int32Array)).toEqual([3, 3, 5]);
      // slice l = 0: rows h, columns k
      expect(sliceGroupName(slice)).toBe('slice_l0');
      const s = entry.get('slice_l0') as H5Group;
      expect(attr(s, 'NX_class')).toBe('NXdata');
      expect(attr(s, 'axes')).toEqual(['h', 'k']);
      expect([attr(s, 'h_indices'), attr(s, 'k_indices')]).toEqual([0, 1]);
      expect(attr(s, 'slice_value')).toBe(0);
      const sd = s.get('intensity') as H5Dataset;
      expect(sd.shape).toEqual([7, 5]);
      expect((sd.value as Float32Array)[4 * 5 + 2]).toBe(4); // (h, k) = (1, 0)
      expect((s.get('intensity_errors') as H5Dataset).shape).toEqual([7, 5]);
      expect(Array.from((s.get('k') as H5Dataset).value as Float64Array)).toEqual([-2 / 3, -1 / 3, 0, 1 / 3, 2 / 3]);
    });
  });

  it('compresses large maps (gzip, one h-plane per chunk) without changing values', async () => {
    const big = denseGrid(mergedFrom([{ fine: [3, 2, 1], I: 10, sigma: 1 }], ndiv), ndiv, MMM, { range: { min: [-10, -10, -10], max: [10, 10, 10] } });
    const path = join(dir, 'big.nxs');
    await writeNexusMap(path, { grid: big, cell, spaceGroup: { symbol: 'P 2 2 2' }, provenance: { program: 'diffract', version: '0' } });
    await readHdf5(path, (f) => {
      const I = f.get('entry/map/intensity') as H5Dataset;
      expect(I.shape).toEqual([21, 21, 21]);
      expect((I as unknown as { filters: { name: string }[] }).filters.map((x) => x.name)).toEqual(['deflate']);
      const v = I.value as Float32Array;
      expect(v[((-3 + 10) * 21 + (2 + 10)) * 21 + (-1 + 10)]).toBe(10);
      expect(Array.from(v).filter((x) => Number.isFinite(x))).toHaveLength(8);
      expect(attr(f.get('entry/map/intensity'), 'units')).toBe('arbitrary');
    });
  });

  it('writes large maps in slabs of whole h-planes, values intact', async () => {
    const big = denseGrid(mergedFrom([{ fine: [3, 2, 1], I: 10, sigma: 1 }, { fine: [9, 0, 4], I: 2, sigma: 0.25 }], ndiv), ndiv, MMM, { range: { min: [-10, -10, -10], max: [10, 10, 10] } });
    const path = join(dir, 'slabs.nxs');
    // 21·21 = 441 values per plane, 1000 values per slab → 2 planes per write, 11 writes
    await writeNexusMap(path, { grid: big, cell, spaceGroup: { symbol: 'P 2 2 2' }, provenance: { program: 'diffract', version: '0' }, slabValues: 1000, gzip: 0 });
    await readHdf5(path, (f) => {
      const I = f.get('entry/map/intensity') as H5Dataset;
      expect(I.shape).toEqual([21, 21, 21]);
      const v = I.value as Float32Array;
      expect(v).toEqual(big.data); // NaN matches NaN
      expect(v[((9 + 10) * 21 + 10) * 21 + (-4 + 10)]).toBe(2);
      expect((f.get('entry/map/intensity_errors') as H5Dataset).value).toEqual(big.sigma);
      expect((f.get('entry/map/count') as H5Dataset).value).toEqual(big.count);
    });
  });

  it('names slices with m for negative fine indices', () => {
    expect(sliceGroupName({ axis: 'k', fine: -2 })).toBe('slice_km2');
    expect(sliceGroupName({ axis: 'h', fine: 3 })).toBe('slice_h3');
  });
});
