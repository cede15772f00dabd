/**
 * Small but real stage files for the report tests, written through the
 * project's own writers: integrate files (writeHdf5Atomic + AppendableTable,
 * the `wedges` layout of docs/tables.md), a scale stage file
 * (scaleModelGroups + history), a merge stage file (merged tables + CC½ shell
 * groups), an absolute stage file (curves) and a NeXus map (writeNexusMap of
 * a dense grid expanded from the merged table).
 */
import { join } from 'node:path';
import { denseGrid, type DenseGrid } from '../../src/export/dense-grid.ts';
import { writeNexusMap } from '../../src/export/nexus.ts';
import { slicePlane } from '../../src/export/slices.ts';
import { setAttributes, writeHdf5Atomic } from '../../src/io/hdf5.ts';
import { writeStageFile } from '../../src/io/observation-file.ts';
import { AppendableTable } from '../../src/io/voxel-tables.ts';
import { reciprocalMetric, sLength } from '../../src/merge/metric.ts';
import { emptyMerged, emptyObservations, splitFine, type MergedTable, type ObservationMeta } from '../../src/pipeline/observations.ts';
import { linspace, type ScaleGrid } from '../../src/scaling/grid.ts';
import { scaleModelGroups, type ScaleModel } from '../../src/scaling/index.ts';

export const META: ObservationMeta = { ndiv: [3, 3, 3], hall: ' P 1', cell: [40, 50, 60, 90, 90, 90], wavelength: 1 };

/** identity and inversion (Laue group -1) */
export const BAR1: number[][] = [
  [1, 0, 0, 0, 1, 0, 0, 0, 1],
  [-1, 0, 0, 0, -1, 0, 0, 0, -1],
];

/** The intensity of the synthetic map: a known function of |s| (linear, so a bin's mean is f(mean |s|)). */
export function mapIntensity(s: number): number {
  return 3 + 2 * s;
}

/**
 * A P-1 merged table on the ASU half-space (fh > 0, or fh = 0 and fk > 0, or
 * fh = fk = 0 and fl ≥ 0) of a box |f| ≤ R, I = mapIntensity(|s|) with |s|
 * the stored float32 value, multiplicity 2 (1 at the origin).
 */
export function mergedMap(R: number, meta: ObservationMeta = META): MergedTable {
  const metric = reciprocalMetric(meta.cell);
  const rows: [number, number, number][] = [];
  for (let fh = 0; fh <= R; fh++) {
    for (let fk = -R; fk <= R; fk++) {
      for (let fl = -R; fl <= R; fl++) {
        if (fh === 0 && (fk < 0 || (fk === 0 && fl < 0))) continue;
        rows.push([fh, fk, fl]);
      }
    }
  }
  const m = emptyMerged(rows.length);
  rows.forEach(([fh, fk, fl], i) => {
    const [H, dh] = splitFine(fh, meta.ndiv[0]);
    const [K, dk] = splitFine(fk, meta.ndiv[1]);
    const [L, dl] = splitFine(fl, meta.ndiv[2]);
    m.H[i] = H;
    m.K[i] = K;
    m.L[i] = L;
    m.dh[i] = dh;
    m.dk[i] = dk;
    m.dl[i] = dl;
    m.s[i] = sLength(metric, fh / meta.ndiv[0], fk / meta.ndiv[1], fl / meta.ndiv[2]);
    m.I[i] = mapIntensity(m.s[i]!);
    m.sigma[i] = 0.1;
    m.n[i] = 4;
    m.multiplicity[i] = fh === 0 && fk === 0 && fl === 0 ? 1 : 2;
    m.fraction[i] = 1;
  });
  return m;
}

export interface WedgeRow {
  occupied: number;
  outliers: number;
  overflow: number;
  frames: number;
}

/** An integrate file with a `wedges` table (and nothing else of size). */
export async function writeIntegrateFile(path: string, wedges: readonly WedgeRow[]): Promise<void> {
  await writeHdf5Atomic(path, (file) => {
    setAttributes(file, { format: 'diffract-voxel-tables', version: 1, command: 'integrate', ndiv: [3, 3, 3], backend: 'cpu' });
    const t = new AppendableTable(file, 'wedges');
    let first = 0;
    const firstFrame = wedges.map((w) => {
      const f = first;
      first += w.frames;
      return f;
    });
    t.append({
      wedge: Uint32Array.from(wedges, (_w, i) => i),
      first_frame: Uint32Array.from(firstFrame),
      frames: Uint32Array.from(wedges, (w) => w.frames),
      cells: Uint32Array.from(wedges, (w) => w.occupied),
      occupied: Uint32Array.from(wedges, (w) => w.occupied),
      participants: Uint32Array.from(wedges, (w) => w.occupied - w.overflow),
      outliers: Uint32Array.from(wedges, (w) => w.outliers),
      overflow: Uint32Array.from(wedges, (w) => w.overflow),
      included_counts: BigUint64Array.from(wedges, () => 100n),
      excluded_counts: BigUint64Array.from(wedges, () => 10n),
      exhausted: Uint8Array.from(wedges, () => 0),
    });
    t.close();
  });
}

function grid(key: number, axes: Float64Array[], f: (i: number) => number): ScaleGrid {
  const n = axes.reduce((p, a) => p * a.length, 1);
  return { key, axes, values: Float64Array.from({ length: n }, (_v, i) => f(i)) };
}

/** A hand-made scale model: 2 sweeps (b: 11 nodes over 0…30°, a: 3×4×3, c: 5×4), 4 panels (one factor each). */
export function scaleModel(): ScaleModel {
  const sweeps = [0, 1];
  return {
    b: { name: 'b', keyColumn: 'sweep', axisColumns: ['phi'], grids: sweeps.map((k) => grid(k, [linspace(0, 30, 11)], (i) => 1 + 0.05 * (k + 1) * Math.sin(i))) },
    a: { name: 'a', keyColumn: 'sweep', axisColumns: ['x', 'y', 'phi'], grids: sweeps.map((k) => grid(k, [linspace(0, 100, 3), linspace(0, 120, 4), linspace(0, 30, 3)], (i) => 0.9 + 0.01 * i + 0.1 * k)) },
    c: { name: 'c', keyColumn: 'sweep', axisColumns: ['s', 'phi'], grids: sweeps.map((k) => grid(k, [linspace(0.05, 0.5, 5), linspace(0, 30, 4)], (i) => 0.02 * (i % 5) + 0.01 * k)) },
    d: { name: 'd', keyColumn: 'panel', axisColumns: [], grids: [1, 0.9, 1.1, 1.05].map((v, p) => ({ key: p, axes: [], values: Float64Array.of(v) })) },
  };
}

export interface Fixture {
  integrated: { sweep: string; file: string }[];
  wedges: WedgeRow[][];
  scaled: string;
  model: ScaleModel;
  merged: string;
  absolute: string;
  nexus: string;
  grid: DenseGrid;
  table: MergedTable;
  cchalf: { diffuse: number[]; bragg: number[] };
  curves: { s: number[]; observed: number[]; theory: number[]; ratio: number[] };
  scaleFactor: number;
  cutoff: number;
}

/** Writes every stage file of a small run into `dir`. */
export async function writeFixture(dir: string): Promise<Fixture> {
  const wedges: WedgeRow[][] = [
    [
      { occupied: 1000, outliers: 30, overflow: 5, frames: 10 },
      { occupied: 1200, outliers: 12, overflow: 0, frames: 10 },
      { occupied: 900, outliers: 45, overflow: 9, frames: 10 },
    ],
    [
      { occupied: 500, outliers: 5, overflow: 5, frames: 5 },
      { occupied: 0, outliers: 0, overflow: 0, frames: 5 },
    ],
  ];
  const integrated = [
    { sweep: 'run1', file: join(dir, 'integrated_run1.h5') },
    { sweep: 'run2', file: join(dir, 'integrated_run2.h5') },
  ];
  for (let i = 0; i < 2; i++) await writeIntegrateFile(integrated[i]!.file, wedges[i]!);

  const model = scaleModel();
  const scaled = join(dir, 'scaled.h5');
  await writeStageFile(scaled, {
    stage: 'scale',
    meta: META,
    attrs: { chi2: 1.03, iterations: 5, rejected: 7, observations: 1234 },
    observations: { diffuse: emptyObservations(20) },
    groups: {
      ...scaleModelGroups(model),
      history: {
        columns: { stage: Uint8Array.of(0, 0, 1, 4), iteration: Uint32Array.of(1, 2, 1, 1), chi2: Float64Array.of(3, 1.5, 1.1, 1.03), rejected: Uint32Array.of(0, 0, 3, 7) },
        attrs: { stage_names: 'b,bc,c,d,a' },
      },
    },
  });

  const table = mergedMap(8);
  const bragg = mergedMap(1);
  const cchalf = { diffuse: [0.99, 0.95, 0.8, 0.5], bragg: [0.999, 0.99, 0.97, 0.9] };
  const shells = (cc: number[]): Record<string, Float64Array | Uint32Array> => ({
    s_min: Float64Array.from(cc, (_v, k) => 0.01 + 0.02 * k),
    s_max: Float64Array.from(cc, (_v, k) => 0.03 + 0.02 * k),
    n: Uint32Array.from(cc, (_v, k) => 100 + k),
    cchalf: Float64Array.from(cc),
    n_merged: Uint32Array.from(cc, () => 120),
    mean_i: Float64Array.from(cc, () => 3),
    mean_sigma: Float64Array.from(cc, () => 0.1),
    completeness: Float64Array.from(cc, () => 0.9),
  });
  const merged = join(dir, 'merged.h5');
  await writeStageFile(merged, {
    stage: 'merge',
    meta: META,
    attrs: { backend: 'cpu', adapter: 'CPU', diffuse_cchalf: 0.97, bragg_cchalf: 0.995 },
    merged: { diffuse: table, bragg },
    groups: {
      cchalf: { columns: shells(cchalf.diffuse), attrs: { table: 'diffuse', cchalf_overall: 0.97, n_overall: 406, completeness_overall: 0.9 } },
      cchalf_bragg: { columns: shells(cchalf.bragg), attrs: { table: 'bragg', cchalf_overall: 0.995, n_overall: 406, completeness_overall: 0.9 } },
    },
  });

  const scaleFactor = 2.5;
  const cutoff = 0.08;
  const nS = 10;
  const s = Array.from({ length: nS }, (_v, k) => 0.01 * (k + 1));
  const observed = s.map((x) => 100 * x ** 3);
  const theory = s.map((x) => scaleFactor * 100 * x ** 3 * (1 + 0.05 * (x - cutoff)) - 0.001);
  const ratio = theory.map((t, k) => t / observed[k]!);
  const absTable = mergedMap(8);
  for (let i = 0; i < absTable.I.length; i++) absTable.I[i] = scaleFactor * absTable.I[i]!;
  const absolute = join(dir, 'absolute.h5');
  await writeStageFile(absolute, {
    stage: 'absolute',
    meta: META,
    attrs: { source: merged, scale_factor: scaleFactor, cutoff, electrons: 1000, cell_volume: 120000, forward_term: 8.3, composition: 'C100 H200', units: 'electron units per unit cell', compton_subtracted: 'diffuse' },
    merged: { diffuse: absTable },
    groups: {
      curves: {
        columns: {
          s_low: Float64Array.from(s, (x) => x - 0.01),
          s: Float64Array.from(s),
          completeness: Float64Array.from(s, () => 0.5),
          observed: Float64Array.from(observed),
          theory: Float64Array.from(theory),
          ratio: Float64Array.from(ratio),
          shell_observed: Float64Array.from(s, () => 1),
          shell_theory: Float64Array.from(s, () => 1),
        },
      },
    },
  });

  const g = denseGrid(table, META.ndiv, BAR1);
  const nexus = join(dir, 'map.nxs');
  await writeNexusMap(nexus, {
    grid: g,
    cell: META.cell,
    spaceGroup: { symbol: 'P -1' },
    units: 'arbitrary',
    provenance: { program: 'test', version: '0', date: '2000-01-01T00:00:00Z' },
    slices: (['h', 'k', 'l'] as const).map((a) => slicePlane(g, a)),
  });
  return { integrated, wedges, scaled, model, merged, absolute, nexus, grid: g, table, cchalf, curves: { s, observed, theory, ratio }, scaleFactor, cutoff };
}
