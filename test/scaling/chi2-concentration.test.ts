/**
 * `scale` warns (one line) when a small set of voxels carries most of the χ²:
 * synthetic observations with Bragg leftovers — 0.5 % of the voxels get a
 * strong peak (50× the voxel's intensity) in their rows at the start of the
 * sweep, as a reflection cut off at the sweep end — against the same table
 * without them.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readStageFile, writeStageFile } from '../../src/io/observation-file.ts';
import type { ObservationTable } from '../../src/pipeline/observations.ts';
import { chi2Concentration, chi2ConcentrationWarning, indexVoxels } from '../../src/scaling/index.ts';
import { simulateScalingData } from '../../src/scaling/synthetic.ts';
import { runInProcess } from '../helpers/cli.ts';

const dir = mkdtempSync(join(tmpdir(), 'diffract-chi2-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const sim = simulateScalingData({ voxels: 3000, seed: 13 });

/** A copy of the table with a strong peak in the rows with φ < 20° of every 200th voxel. */
function withBraggLeftovers(obs: ObservationTable): { obs: ObservationTable; voxels: number } {
  const idx = indexVoxels(obs, sim.meta.ndiv);
  const I = Float32Array.from(obs.I);
  const sigma = Float32Array.from(obs.sigma);
  const hit = new Set<number>();
  for (let i = 0; i < I.length; i++) {
    const v = idx.voxelOf[i]!;
    if (v % 200 !== 0 || !(obs.phi[i]! < 20)) continue;
    const extra = 50 * I[i]!;
    I[i] = I[i]! + extra;
    sigma[i] = Math.sqrt(sigma[i]! ** 2 + extra * (sigma[i]! ** 2 / Math.max(I[i]! - extra, 1)));
    hit.add(v);
  }
  return { obs: { ...obs, I, sigma }, voxels: hit.size };
}

async function scale(name: string, obs: ObservationTable): Promise<{ stderr: string; share: number }> {
  const input = join(dir, `${name}-corrected.h5`);
  const out = join(dir, `${name}-scaled.h5`);
  await writeStageFile(input, { stage: 'correct', meta: sim.meta, observations: { diffuse: obs } });
  const r = await runInProcess(['scale', input, '--out', out, '--max-iterations', '3', '--a-grid', '5,5,7']);
  expect(r.code, r.stderr).toBe(0);
  const sf = await readStageFile(out);
  return { stderr: r.stderr, share: Number(sf.attrs.chi2_top1pct_share) };
}

const WARNING = /carry \d+ % of chi2/;

describe('scale: χ² concentrated in a few voxels', () => {
  it('chi2Concentration: the share of the largest 1 %', () => {
    const v = new Float64Array(1000).fill(1);
    expect(chi2Concentration(v)).toEqual({ voxels: 1000, top: 10, share: 10 / 1000 });
    for (let i = 0; i < 10; i++) v[i * 97] = 200;
    const c = chi2Concentration(v);
    expect(c.share).toBeCloseTo(2000 / (2000 + 990), 12);
    expect(chi2ConcentrationWarning(c)).toMatch(WARNING);
    expect(chi2ConcentrationWarning(chi2Concentration(new Float64Array(1000).fill(1)))).toBeNull();
    expect(chi2Concentration(new Float64Array(5))).toEqual({ voxels: 0, top: 0, share: 0 });
  });

  it('warns in one line on Bragg leftovers, and not on the clean table', async () => {
    const dirty = withBraggLeftovers(sim.obs);
    expect(dirty.voxels).toBeGreaterThan(5);
    const clean = await scale('clean', sim.obs);
    const bad = await scale('bragg', dirty.obs);
    console.log(`[chi2] share of the worst 1 % of voxels: clean ${(100 * clean.share).toFixed(1)} %, with Bragg leftovers ${(100 * bad.share).toFixed(1)} %`);
    expect(clean.share).toBeLessThan(0.2);
    expect(clean.stderr).not.toMatch(WARNING);
    expect(bad.share).toBeGreaterThan(0.5);
    const lines = bad.stderr.split('\n').filter((l) => WARNING.test(l));
    expect(lines).toHaveLength(1);
  });
});
