/**
 * The scale model in a stage file: scaleModelGroups → writeStageFile →
 * readStageFile → readScaleModel gives the same grids and the same scaled
 * intensities (d as a map per panel here), and malformed groups are refused.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { InvalidValueError, MissingFieldError } from '../../src/errors.ts';
import { readStageFile, writeStageFile } from '../../src/io/observation-file.ts';
import { applyScaleModel, readScaleModel, scaleFactors, scaleModelGroups, scaleObservations } from '../../src/scaling/index.ts';
import { simulateScalingData } from '../../src/scaling/synthetic.ts';

const dir = mkdtempSync(join(tmpdir(), 'diffract-scale-model-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('scale model groups', () => {
  const sim = simulateScalingData({ voxels: 800, seed: 41 });
  const r = scaleObservations(sim.obs, sim.meta, { maxIterations: 3, d: { mode: 'map', nx: 4, ny: 3 }, c: { ns: 6, nphi: 4 } });

  it('round-trips through the stage file', async () => {
    const path = join(dir, 'model.h5');
    await writeStageFile(path, { stage: 'scale', meta: sim.meta, groups: scaleModelGroups(r.model) });
    const back = readScaleModel(await readStageFile(path), path);
    for (const name of ['a', 'b', 'c', 'd'] as const) {
      expect(back[name].axisColumns).toEqual(r.model[name].axisColumns);
      expect(back[name].keyColumn).toBe(r.model[name].keyColumn);
      expect(back[name].grids.length).toBe(r.model[name].grids.length);
      back[name].grids.forEach((g, k) => {
        const o = r.model[name].grids[k]!;
        expect(g.key).toBe(o.key);
        expect(g.axes.map((a) => Array.from(a))).toEqual(o.axes.map((a) => Array.from(a)));
        expect(Array.from(g.values)).toEqual(Array.from(o.values));
      });
    }
    expect(back.d.grids.length).toBe(4);
    expect(back.d.grids[0]!.axes.map((a) => a.length)).toEqual([4, 3]);
    expect(Array.from(applyScaleModel(sim.obs, back).I)).toEqual(Array.from(applyScaleModel(sim.obs, r.model).I));
    // with d and a both smooth in x, y only their product is determined: check that
    const f = scaleFactors(back, sim.obs);
    let m = 0;
    const n = sim.obs.I.length;
    const ratio = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const o = sim.obs;
      ratio[i] = (f.a[i]! * f.b[i]! * f.d[i]!) / (sim.truth.a(o.x[i]!, o.y[i]!, o.phi[i]!) * sim.truth.b(o.phi[i]!) * sim.truth.d(o.panel[i]!));
      m += ratio[i]! / n;
    }
    let s = 0;
    for (let i = 0; i < n; i++) s += (ratio[i]! / m - 1) ** 2 / n;
    expect(Math.sqrt(s)).toBeLessThan(0.03);
  });

  it('refuses a group that is not a regular grid', async () => {
    const groups = scaleModelGroups(r.model);
    const b = groups.scale_b!;
    const phi = Float64Array.from(b.columns.phi as Float64Array);
    // nodes out of order (a non-uniform but ordered axis would be a valid grid)
    [phi[2], phi[3]] = [phi[3]!, phi[2]!];
    const path = join(dir, 'bad.h5');
    await writeStageFile(path, { stage: 'scale', meta: sim.meta, groups: { ...groups, scale_b: { columns: { ...b.columns, phi }, attrs: b.attrs } } });
    const sf = await readStageFile(path);
    expect(() => readScaleModel(sf, path)).toThrow(/scale_b.*not a regular grid/);
    const { scale_c: _c, ...rest } = groups;
    const noC = join(dir, 'noc.h5');
    await writeStageFile(noC, { stage: 'scale', meta: sim.meta, groups: rest });
    expect(() => readScaleModel(sf, path)).toThrow(InvalidValueError);
    const sfNoC = await readStageFile(noC);
    expect(() => readScaleModel(sfNoC, noC)).toThrow(/no scale model group 'scale_c'/);
    expect(() => readScaleModel(sfNoC, noC)).toThrow(MissingFieldError);
  });
});
