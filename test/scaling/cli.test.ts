/**
 * `diffract scale` end to end: a 'correct' stage file in, a 'scale' stage
 * file out with both tables scaled by the one model fitted on 'diffuse', the
 * model groups (read back by readScaleModel), the history; one-line errors.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { observationsOf, readStageFile, writeStageFile } from '../../src/io/observation-file.ts';
import { applyScaleModel, readScaleModel, scaleModelGroups, scaleObservations } from '../../src/scaling/index.ts';
import { simulateScalingData } from '../../src/scaling/synthetic.ts';
import { runInProcess } from '../helpers/cli.ts';

let dir: string;
let input: string;


function bytesEqual(a: ArrayBufferView, b: ArrayBufferView): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

const diffuseSim = simulateScalingData({ voxels: 1500, seed: 31, outlierFraction: 0.005 });
const braggSim = simulateScalingData({ voxels: 100, seed: 32 });

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'diffract-scale-cli-'));
  input = join(dir, 'corrected.h5');
  await writeStageFile(input, { stage: 'correct', meta: diffuseSim.meta, observations: { diffuse: diffuseSim.obs, bragg: braggSim.obs } });
});
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('diffract scale', () => {
  it('writes the scaled tables, the model and the history', async () => {
    const out = join(dir, 'scaled.h5');
    const r = await runInProcess(['scale', input, '--out', out, '--max-iterations', '3', '--a-grid', '5,5,7', '--json']);
    expect(r.stderr).toMatch(/stage b iteration 1: chi2/);
    expect(r.code).toBe(0);
    const summary = JSON.parse(r.stdout) as { observations: number; rejected: number; scaledTables: string[]; history: unknown[] };
    expect(summary.observations).toBe(diffuseSim.obs.I.length);
    expect(summary.scaledTables.sort()).toEqual(['bragg', 'diffuse']);
    expect(summary.rejected).toBeGreaterThan(30);

    const sf = await readStageFile(out);
    expect(sf.stage).toBe('scale');
    const model = readScaleModel(sf, out);
    // the same fit as the library call on the same rows
    const direct = scaleObservations(diffuseSim.obs, diffuseSim.meta, { maxIterations: 3, a: { nx: 5, ny: 5, nphi: 7 } });
    for (const name of ['a', 'b', 'c', 'd'] as const) {
      expect(model[name].grids.length).toBe(direct.model[name].grids.length);
      model[name].grids.forEach((g, k) => expect(bytesEqual(g.values, direct.model[name].grids[k]!.values)).toBe(true));
    }
    expect(model.a.grids[0]!.axes.map((a) => a.length)).toEqual([5, 5, 7]);
    // both tables scaled by that one model
    const diffuse = observationsOf(sf, 'diffuse', out);
    const bragg = observationsOf(sf, 'bragg', out);
    expect(bytesEqual(diffuse.I, applyScaleModel(diffuseSim.obs, direct.model).I)).toBe(true);
    expect(bytesEqual(bragg.I, applyScaleModel(braggSim.obs, direct.model).I)).toBe(true);
    expect(bytesEqual(bragg.sigma, applyScaleModel(braggSim.obs, direct.model).sigma)).toBe(true);
    // history and flags
    const h = sf.groups.get('history')!;
    expect(h.columns.get('chi2')!.length).toBe(summary.history.length);
    expect(Array.from(h.columns.get('chi2')!)).toEqual(direct.history.map((e) => e.chi2));
    const flags = sf.groups.get('scale_rejected')!.columns.get('rejected')!;
    expect(Array.from(flags)).toEqual(Array.from(direct.rejected));
    // plotting layout: b has one row per φ node with its coordinate
    const b = sf.groups.get('scale_b')!;
    expect(Array.from(b.columns.get('phi')!)).toEqual(Array.from(direct.model.b.grids[0]!.axes[0]!));
    expect(Object.keys(scaleModelGroups(direct.model)).sort()).toEqual(['scale_a', 'scale_b', 'scale_c', 'scale_d']);
  });

  it('bad input: one line, exit status 1, no output', async () => {
    const out = join(dir, 'bad.h5');
    for (const [args, pattern] of [
      [['scale', join(dir, 'missing.h5'), '--out', out], /missing\.h5.*no such file/],
      [['scale', input, '--out', out, '--stages', 'b,x'], /--stages/],
      [['scale', input, '--out', out, '--table', 'nope'], /no table 'nope'/],
      [['scale', input, '--out', out, '--a-grid', '5,5'], /--a-grid/],
    ] as [string[], RegExp][]) {
      const r = await runInProcess(args);
      expect(r.code).toBe(1);
      const lines = r.stderr.split('\n').filter((l) => l.trim() !== '');
      expect(lines.length).toBe(1);
      expect(lines[0]).toMatch(/^diffract: error: /);
      expect(lines[0]).toMatch(pattern);
      expect(existsSync(out)).toBe(false);
    }
  });
});
