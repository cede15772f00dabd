/**
 * `diffract demo` end to end through the real command, at the test size:
 * simulate two sweeps with known truth, run the whole pipeline, and recover
 * the truth — map correlation ≥ 0.98, the scale functions within a few per
 * cent, the absolute scale within 5 % — with the map, report and summary
 * written to the output folder; the same seed in another folder gives
 * byte-identical map files.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { DemoSummary } from '../../src/cli/commands/demo.ts';
import { runCli } from '../helpers/cli.ts';

const MAPS = ['map.nxs', 'map.ccp4', 'map_h0.png', 'map_k0.png', 'map_l0.png'];

describe('diffract demo', () => {
  const first = mkdtempSync(join(tmpdir(), 'diffract-demo-'));
  afterAll(() => rmSync(first, { recursive: true, force: true }));

  it('runs the whole pipeline on a two-sweep simulation and recovers the truth', async () => {
    const out = first;
    const r = await runCli(['demo', '--size', 'tiny', '--out', out, '--json', '-q']);
    expect(r.code, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout) as DemoSummary;
    const rec = s.recovery;
    console.log(
      `[demo tiny] ${s.sweeps} × ${s.framesPerSweep} frames on ${s.run.adapter}: map r ${rec.mapR.toFixed(4)} over ${rec.mapVoxels} voxels, absolute slope ${rec.absoluteSlope.toFixed(4)}, ` +
        rec.scale.map((x) => `${x.sweep} b ${(100 * x.bRms).toFixed(2)} % a ${(100 * x.aRms).toFixed(2)} %`).join(', ') +
        `; run ${s.run.seconds.toFixed(0)} s`,
    );
    expect(s.sweeps).toBe(2);
    expect(s.run.sweeps.map((w) => w.name)).toEqual(['sweep1', 'sweep2']);
    expect(rec.mapVoxels).toBeGreaterThan(20_000);
    expect(rec.mapR).toBeGreaterThanOrEqual(0.98);
    expect(rec.absoluteError).toBeLessThanOrEqual(0.05);
    for (const x of rec.scale) {
      expect(x.observations).toBeGreaterThan(50_000);
      expect(x.bRms).toBeLessThanOrEqual(0.02);
      expect(x.aRms).toBeLessThanOrEqual(0.03);
    }
    for (const f of [...MAPS, 'report.html', 'summary.json', 'diffract.yaml']) expect(existsSync(join(out, f)), f).toBe(true);
    const html = readFileSync(join(out, 'report.html'), 'utf8');
    expect(html).toContain('<svg');
    expect(html).not.toMatch(/https?:\/\//);
  }, 900_000);

  it('the same seed in another folder gives byte-identical map files', async () => {
    expect(existsSync(join(first, 'map.nxs'))).toBe(true);
    const out = mkdtempSync(join(tmpdir(), 'diffract-demo-again-'));
    try {
      const r = await runCli(['demo', '--size', 'tiny', '--out', out, '--json', '-q']);
      expect(r.code, r.stderr).toBe(0);
      for (const f of MAPS) expect(readFileSync(join(out, f)).equals(readFileSync(join(first, f))), f).toBe(true);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  }, 900_000);
});
