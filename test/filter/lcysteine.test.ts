/**
 * Acceptance on real data: the 10 l-cysteine frames (Pilatus 2M, photon
 * counting) as one wedge. The strong indexed reflections of DIALS'
 * `11_integrated.refl` (I/σ ≥ 5 with the summation intensity,
 * intensity.sum.value / sqrt(intensity.sum.variance)) are located at their
 * `xyzcal.px`, mapped to hkl through the hkl-map kernel and looked up in the
 * voxel grid: the filter must exclude the voxels of ≥ 90 % of them while
 * excluding ≤ 5 % of all occupied voxels. The CPU twins must agree with the
 * GPU run on these data (accumulation of two frames, the wedge's statistics
 * and mask).
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cellSlot } from '../../src/grid/cell-table.ts';
import { cellOf, flatSub, subOf, subvoxelsPerCell } from '../../src/grid/subvoxel.ts';
import { loadExperiments, pickExperiment } from '../../src/geometry/load.ts';
import type { Experiment } from '../../src/geometry/model.ts';
import { Engine } from '../../src/host/engine.ts';
import { getColumn, readReflectionTable } from '../../src/io/dials-refl.ts';
import { openImageSeries } from '../../src/io/series.ts';
import { hklAtPositions } from '../../src/pipeline/hkl-positions.ts';
import { frameRows, integrateSeries, prepareIntegration, tableTotals, wedgeTables, type WedgeResult } from '../../src/pipeline/voxel-integrate.ts';
import { filterStatsCpu } from '../../src/kernels/filter-stats.ts';
import { voxelAccumulateCpu, voxelAccumulateGpu, type FrameBatch } from '../../src/kernels/voxel-accumulate.ts';
import { greedyPoissonFilter } from '../../src/grid/poisson-filter.ts';
import { gpuTestsDisabled } from '../helpers/gpu.ts';
import { sharedData } from '../helpers/paths.ts';
import { firstDifference } from './helpers.ts';

let exp: Experiment;
let engine: Engine;
let result: WedgeResult;
const frames: Int32Array[] = [];
let realCheck: { accumulateDifference: string | null; words: number };

beforeAll(async () => {
  const expt = sharedData('l-cysteine', '11_integrated.expt');
  exp = pickExperiment(await loadExperiments(expt), 0);
  const dir = sharedData('l-cysteine', 'images');
  const files = readdirSync(dir).filter((f) => f.endsWith('.cbf')).sort().map((f) => join(dir, f));
  expect(files.length).toBe(10);
  engine = gpuTestsDisabled() ? Engine.cpu() : await Engine.create({ backend: 'gpu' });
  const setup = prepareIntegration(exp, { wedgeFrames: 10 });
  // keep the decoded frames for the CPU comparison (tap the stream as it goes)
  const series = openImageSeries({ files, expectedSize: exp.detector.panels[0]!.imageSize });
  const tap = {
    length: series.length,
    async *[Symbol.asyncIterator]() {
      for await (const img of series) {
        frames.push(img.pixels);
        yield img;
      }
    },
  };
  for await (const r of integrateSeries(engine, setup, tap)) result = r;
  await mapStrongReflections();
  // voxel-accumulate of two frames on both backends, with the wedge's table
  const two: FrameBatch = {
    rows: frameRows(exp, [3, 7]),
    index: Uint32Array.from([3, 7]),
    pixels: new Int32Array(2 * frames[3]!.length),
  };
  two.pixels.set(frames[3]!, 0);
  two.pixels.set(frames[7]!, frames[3]!.length);
  const accSetup = { table: result.acc.table, maxCount: result.acc.maxCount, vectors: setup.vectors, valid: setup.valid, counting: setup.counting.params, batches: [two] };
  const cpuAcc = voxelAccumulateCpu(accSetup);
  const other = engine.gpu !== null ? await voxelAccumulateGpu(engine.gpu, accSetup) : cpuAcc;
  realCheck = { accumulateDifference: firstDifference(cpuAcc.acc, other.acc), words: cpuAcc.acc.length };
  // dawn.node busy-polls a core while a device lives: release it before the CPU-path comparison
  engine.destroy();
});
afterAll(() => engine?.destroy());

interface Strong {
  rows: number[];
  hkl: Int32Array;
  isigma: number[];
  mapped: { h: ArrayLike<number>; k: ArrayLike<number>; l: ArrayLike<number> };
}
let strong: Strong;

async function mapStrongReflections(): Promise<void> {
  const t = await readReflectionTable(sharedData('l-cysteine', '11_integrated.refl'));
  const I = getColumn(t, 'intensity.sum.value', 'double').data;
  const V = getColumn(t, 'intensity.sum.variance', 'double').data;
  const hkl = getColumn(t, 'miller_index', 'cctbx::miller::index<>').data;
  const xyz = getColumn(t, 'xyzcal.px', 'vec3<double>').data;
  const rows: number[] = [];
  for (let i = 0; i < t.nrows; i++) {
    const indexed = hkl[3 * i] !== 0 || hkl[3 * i + 1] !== 0 || hkl[3 * i + 2] !== 0;
    if (indexed && V[i]! > 0 && I[i]! / Math.sqrt(V[i]!) >= 5) rows.push(i);
  }
  // through the hkl-map kernel
  const mapped = await hklAtPositions(engine, exp, rows.map((i) => ({ x: xyz[3 * i]!, y: xyz[3 * i + 1]!, z: xyz[3 * i + 2]!, panel: 0 })));
  strong = { rows, hkl, isigma: rows.map((i) => I[i]! / Math.sqrt(V[i]!)), mapped };
}

describe('Poisson filter on the l-cysteine frames', () => {
  it('excludes the voxels of ≥ 90 % of the strong indexed reflections and ≤ 5 % of all voxels', () => {
    const { rows, hkl, isigma, mapped } = strong;
    const table = result.acc.table;
    const nd = table.ndiv;
    const nsub = subvoxelsPerCell(nd);
    let excluded = 0;
    let byOverflow = 0;
    const kept: string[] = [];
    rows.forEach((row, k) => {
      const h = [mapped.h[k]!, mapped.k[k]!, mapped.l[k]!].map(Math.fround) as [number, number, number];
      const c = h.map(cellOf) as [number, number, number];
      const slot = cellSlot(table, c[0], c[1], c[2]);
      const reason = slot < 0 ? -1 : result.mask.reason[slot * nsub + flatSub(subOf(h[0], c[0], nd[0]), subOf(h[1], c[1], nd[1]), subOf(h[2], c[2], nd[2]), nd)]!;
      if (reason > 0) excluded++;
      if (reason === 2) byOverflow++;
      if (reason <= 0) kept.push(`${hkl[3 * row]} ${hkl[3 * row + 1]} ${hkl[3 * row + 2]} (I/σ ${isigma[k]!.toFixed(1)}, ${reason < 0 ? 'not reached' : 'included'})`);
    });
    const m = result.mask;
    const reflPct = (100 * excluded) / rows.length;
    const voxPct = (100 * (m.outliers + m.overflow)) / m.occupied;
    console.log(
      `[l-cysteine] ${result.backend}: ${rows.length} indexed reflections with I/σ(sum) ≥ 5: voxels excluded for ${excluded} (${reflPct.toFixed(1)}%; ${byOverflow} by overflow, ${excluded - byOverflow} as Poisson outliers); ` +
        `not excluded: ${kept.join(', ') || 'none'}. Occupied voxels ${m.occupied} in ${table.cells} cells, excluded ${m.outliers} outliers + ${m.overflow} overflow = ${voxPct.toFixed(2)}%; ` +
        `times ${JSON.stringify(Object.fromEntries(Object.entries(result.seconds).map(([k, v]) => [k, Number(v.toFixed(2))])))} s`,
    );
    expect(reflPct).toBeGreaterThanOrEqual(90);
    expect(voxPct).toBeLessThanOrEqual(5);
  });

  it('conserves counts, and the CPU twins agree on the real data', () => {
    const tb = wedgeTables(result);
    expect(tableTotals(tb.included).counts + tableTotals(tb.excluded).counts + result.acc.maskedSum).toBe(result.frameSum);
    expect(realCheck.accumulateDifference).toBeNull();
    // the filter statistics of the GPU run, recomputed by the CPU twin from the same accumulators
    const cpu = filterStatsCpu({ acc: result.acc, window: 2 });
    expect(firstDifference(cpu.delta, result.stats!.delta)).toBeNull();
    expect(firstDifference(cpu.lambda, result.stats!.lambda)).toBeNull();
    expect(firstDifference(greedyPoissonFilter(result.acc, cpu, 2).reason, result.mask.reason)).toBeNull();
    console.log(`[l-cysteine] CPU twins: voxel-accumulate of frames 3 and 7 (${realCheck.words} words) and filter-stats of the wedge identical to the ${result.backend} run`);
  });
});
