/**
 * mergeStills: the partitioned, chunk-by-chunk merge gives exactly the merge
 * of all rows at once (P = 1, 2, 5, any chunk order); CC½ from halves of the
 * shots; rejected shots dropped; the map against the truth; the Bragg merge
 * with I / (P · b); the stage file the absolute/export stages read.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../../src/host/engine.ts';
import { mergedOf, readStageFile, writeStageFile } from '../../src/io/observation-file.ts';
import { halfOf, mergeObservations, pearson, type MergeResult } from '../../src/merge/index.ts';
import { concatObservations, emptyObservations, observationCount, selectObservations, type MergedTable, type ObservationTable } from '../../src/pipeline/observations.ts';
import { applyScaleModel } from '../../src/scaling/index.ts';
import { silentContext } from '../../src/stages/context.ts';
import { mergeStills, STILLS_MERGE_DEFAULTS, type StillsMergeResult } from '../../src/stills/merge.ts';
import { placeRows, readStillsScale, scaleStills, STILLS_SCALE_DEFAULTS, type ObservationChunks, type StillsScaleResult } from '../../src/stills/scale.ts';
import { simulateStillsRows } from '../../src/stills/synthetic-rows.ts';
import { gpuTestsDisabled } from '../helpers/gpu.ts';

const engine = Engine.cpu();
const ctx = silentContext(engine);
const sim = simulateStillsRows({ shots: 80, rowsPerShot: 400, side: 13, shotsPerChunk: 15, seed: 21, wild: [{ shot: 9, factor: 5 }] });
const settings = { ...STILLS_MERGE_DEFAULTS, shells: 5 };
let scaled: StillsScaleResult;
let reference: MergeResult;

function expectSameTable(a: MergedTable, b: MergedTable): void {
  expect(b.I.length).toBe(a.I.length);
  for (const col of Object.keys(a) as (keyof MergedTable)[]) expect(Array.from(b[col]), col).toEqual(Array.from(a[col]));
}

function expectSameMerge(r: StillsMergeResult): void {
  expectSameTable(reference.merged, r.diffuse.merged);
  expectSameTable(reference.halves[0], r.diffuse.halves[0]);
  expectSameTable(reference.halves[1], r.diffuse.halves[1]);
  expect(r.diffuse.shells).toEqual(reference.shells);
  expect(r.diffuse.overall).toEqual(reference.overall);
}

/** Every row of the shots in use, scaled, in one table. */
async function allScaledRows(chunks: ObservationChunks): Promise<ObservationTable> {
  const coordinate = Float64Array.from(scaled.shots, (s) => s.coordinate);
  const parts: ObservationTable[] = [];
  for (let c = 0; c < chunks.count; c++) {
    const t = await chunks.read(c);
    const idx: number[] = [];
    for (let i = 0; i < observationCount(t); i++) if (scaled.shots[t.batch[i]!]!.status === 'used') idx.push(i);
    const part = selectObservations(t, idx);
    placeRows(part, coordinate, c);
    parts.push(applyScaleModel(part, scaled.model));
  }
  return concatObservations(parts);
}

beforeAll(async () => {
  scaled = await scaleStills(ctx, sim.chunks, sim.meta, sim.pulseEnergy, STILLS_SCALE_DEFAULTS);
  reference = await mergeObservations(engine, await allScaledRows(sim.chunks), sim.meta, { ...settings });
}, 120_000);

const input = () => ({ model: scaled.model, shots: scaled.shots, pOrder: sim.pulseEnergy });

describe('mergeStills', () => {
  it('the ×5 shot is rejected by scaling and its rows are not merged', async () => {
    expect(scaled.shots.filter((s) => s.status === 'rejected').map((s) => s.shot)).toEqual([9]);
    const r = await mergeStills(ctx, sim.chunks, sim.meta, input(), { ...settings, partitions: 1 });
    expect(r.summary.diffuse.observations).toBe(sim.rows - 400);
    expect(r.summary.shotsRejected).toBe(1);
  });

  for (const P of [1, 2, 5]) {
    it(`P = ${P} partitions give exactly the merge of all rows at once`, async () => {
      const r = await mergeStills(ctx, sim.chunks, sim.meta, input(), { ...settings, partitions: P });
      expect(r.summary.partitions).toBe(P);
      if (P > 1) expect(r.summary.peakPartitionRows).toBeLessThan((1.3 * r.summary.rows) / P);
      expectSameMerge(r);
    });
  }

  it('does not depend on the chunk order', async () => {
    const order = [3, 0, 5, 1, 4, 2].filter((i) => i < sim.chunks.count);
    expect(order.length).toBe(sim.chunks.count);
    const shuffled: ObservationChunks = { count: sim.chunks.count, read: (i) => sim.chunks.read(order[i]!) };
    const r = await mergeStills(ctx, shuffled, sim.meta, input(), { ...settings, partitions: 2 });
    expectSameMerge(r);
  });

  it('sizes the partitions from the memory budget', async () => {
    const r = await mergeStills(ctx, sim.chunks, sim.meta, input(), { ...settings, budgetBytes: 2 ** 20 });
    // 31 600 rows × 256 bytes / 1 MiB
    expect(r.summary.partitions).toBe(Math.ceil((31_600 * 256) / 2 ** 20));
    expect(r.summary.peakPartitionRows * 256).toBeLessThan(1.3 * 2 ** 20);
    expectSameMerge(r);
  });

  it('computes CC½ from random halves of the shots', async () => {
    const r = await mergeStills(ctx, sim.chunks, sim.meta, input(), { ...settings, partitions: 2 });
    const rows = await allScaledRows(sim.chunks);
    let inA = 0;
    for (let i = 0; i < observationCount(rows); i++) if (halfOf(rows, sim.meta.ndiv, i, settings.halfSeed, 'batch') === 0) inA++;
    const nA = r.diffuse.halves[0].n.reduce((x, y) => x + y, 0);
    const nB = r.diffuse.halves[1].n.reduce((x, y) => x + y, 0);
    // no outlier rows rejected here would make these exact; allow the few the merge rejects
    expect(Math.abs(nA - inA)).toBeLessThanOrEqual(r.summary.diffuse.rejected);
    expect(nA + nB).toBe(r.summary.diffuse.merged);
    // a whole shot lies in one half: every shot's rows are all in A or all in B
    const shotHalf = new Map<number, number>();
    for (let i = 0; i < observationCount(rows); i++) {
      const h = halfOf(rows, sim.meta.ndiv, i, settings.halfSeed, 'batch');
      expect(shotHalf.get(rows.batch[i]!) ?? h).toBe(h);
      shotHalf.set(rows.batch[i]!, h);
    }
    expect(r.diffuse.overall.cchalf).toBeGreaterThan(0.9);
    expect(r.diffuse.shells.every((s) => Number.isFinite(s.cchalf))).toBe(true);
    console.log(`CC½ (shot halves) overall ${r.diffuse.overall.cchalf.toFixed(4)} over ${r.diffuse.overall.n} voxels`);
  });

  it('the merged map follows the truth (r ≥ 0.98 on voxels with ≥ 3 observations)', async () => {
    const r = await mergeStills(ctx, sim.chunks, sim.meta, input(), { ...settings, partitions: 2 });
    const m = r.diffuse.merged;
    const x: number[] = [];
    const y: number[] = [];
    for (let i = 0; i < m.I.length; i++) {
      if (m.n[i]! < 3) continue;
      x.push(m.I[i]!);
      y.push(sim.voxelI(m.H[i]! * 3 + m.dh[i]!, m.K[i]! * 3 + m.dk[i]!, m.L[i]! * 3 + m.dl[i]!));
    }
    const rr = pearson(x, y);
    console.log(`map r = ${rr.toFixed(4)} over ${x.length} voxels`);
    expect(x.length).toBeGreaterThan(1500);
    expect(rr).toBeGreaterThan(0.98);
  });

  it('merges the Bragg table divided by each shot scale, rejected shots left out', async () => {
    // one spot per shot and reflection: I/P = b_true · F², on 30 reflections
    const nRefl = 30;
    const bragg = emptyObservations(sim.b.length * nRefl);
    const F2 = (h: number): number => 1000 + 100 * h;
    for (let shot = 0, r = 0; shot < sim.b.length; shot++) {
      for (let h = 0; h < nRefl; h++, r++) {
        bragg.H[r] = h + 1;
        bragg.K[r] = 2;
        bragg.L[r] = 3;
        bragg.I[r] = sim.b[shot]! * F2(h + 1);
        bragg.sigma[r] = 0.01 * bragg.I[r]!;
        bragg.batch[r] = shot;
        bragg.s[r] = 0.1;
        bragg.fraction[r] = 1;
      }
    }
    const r = await mergeStills(ctx, sim.chunks, sim.meta, input(), { ...settings, partitions: 1 }, bragg);
    const mb = r.bragg!.merged;
    expect(mb.I.length).toBe(nRefl);
    expect(r.bragg!.stats.observations).toBe((sim.b.length - 1) * nRefl);
    // I/(P·b) = F² · (b_true / b_fit): the same overall factor on every reflection
    const ratio = Array.from(mb.I, (v, i) => v / F2(mb.H[i]!));
    const mean = ratio.reduce((x, y) => x + y, 0) / ratio.length;
    for (const q of ratio) expect(Math.abs(q / mean - 1)).toBeLessThan(0.01);
    expect(r.content.merged!.bragg).toBe(mb);
    expect(r.content.groups!.cchalf_bragg).toBeDefined();
    // in 4 partitions (as a large run's budget gives): every reflection merges exactly as in one pass
    const r4 = await mergeStills(ctx, sim.chunks, sim.meta, input(), { ...settings, partitions: 4 }, bragg);
    const m4 = r4.bragg!.merged;
    expect(m4.I.length).toBe(nRefl);
    expect(r4.bragg!.stats.observations).toBe(r.bragg!.stats.observations);
    const byH = (m: typeof mb): Map<number, [number, number]> => new Map(Array.from(m.H, (h, i) => [h, [m.I[i]!, m.sigma[i]!]]));
    expect(byH(m4)).toEqual(byH(mb));
    expect(r4.bragg!.overall.cchalf).toBe(r.bragg!.overall.cchalf);
  });

  describe('stage file', () => {
    let dir: string;
    beforeAll(() => {
      dir = mkdtempSync(join(tmpdir(), 'stills-merge-'));
    });
    afterAll(() => rmSync(dir, { recursive: true, force: true }));
    it("is a 'merge' stage file whose tables the merged-table reader (absolute, export) reads back", async () => {
      const r = await mergeStills(ctx, sim.chunks, sim.meta, input(), { ...settings, partitions: 2 });
      const path = join(dir, 'merge.h5');
      await writeStageFile(path, r.content);
      const sf = await readStageFile(path);
      expect(sf.stage).toBe('merge');
      expectSameTable(r.diffuse.merged, mergedOf(sf, 'diffuse', path));
      expect(sf.groups.has('cchalf')).toBe(true);
      expect(sf.attrs.half_split).toBe('batch');
      expect(Number(sf.attrs.partitions)).toBe(2);
    });
    it('the scale stage file gives back the model and the shot table, and merging from it is the same', async () => {
      const path = join(dir, 'scale.h5');
      await writeStageFile(path, scaled.content);
      const back = readStillsScale(await readStageFile(path), path);
      expect(back.shots).toEqual(scaled.shots);
      expect(back.shots[9]!.reason).toMatch(/^scale outlier: /);
      expect(Array.from(back.model.b.grids[0]!.values)).toEqual(Array.from(scaled.model.b.grids[0]!.values));
      const r = await mergeStills(ctx, sim.chunks, sim.meta, { ...back, pOrder: sim.pulseEnergy }, { ...settings, partitions: 2 });
      expectSameMerge(r);
    });
  });
});

describe.skipIf(gpuTestsDisabled())('mergeStills on the GPU engine', () => {
  let gpu: Engine;
  beforeAll(async () => {
    gpu = await Engine.create({ backend: 'gpu', debug: true, env: {} });
  });
  afterAll(() => gpu?.destroy());
  it('3 partitions on the GPU = one CPU merge of all rows (identical words)', async () => {
    expect(gpu.backend).toBe('gpu');
    const r = await mergeStills(silentContext(gpu), sim.chunks, sim.meta, input(), { ...settings, partitions: 3 });
    expect(r.summary.diffuse.backend).toBe('gpu');
    expectSameMerge(r);
  });
});
