/**
 * `diffract demo --kind stills` end to end through the real command at the
 * acceptance size (500 shots of 256² pixels): simulate a serial dataset with
 * known truth, run it through `diffract run` (the stills path), and recover
 * the truth (issue 15, "Synthetic recovery"):
 * - map r ≥ 0.98 against the truth on voxels with ≥ 3 observations;
 * - per-shot scale within 2 % RMS after the overall factor;
 * - the Bragg masks remove ≥ 99 % of the simulated Bragg photons while masking
 *   ≤ 5 % of the pixels per shot (the first 50 shots);
 * - the absolute scale within 5 % (a test of its own: it needs the Bragg term
 *   of the sum rule in the map's units, see docs/simulate.md "Stills").
 * The map, report and summary are written to the output folder.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StillsDemoSummary } from '../../src/cli/commands/demo-stills.ts';
import { runCli } from '../helpers/cli.ts';

describe('diffract demo --kind stills', () => {
  const out = mkdtempSync(join(tmpdir(), 'diffract-stills-demo-'));
  let summary: StillsDemoSummary;
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  beforeAll(async () => {
    const r = await runCli(['demo', '--kind', 'stills', '--size', 'tiny', '--out', out, '--json', '-q']);
    expect(r.code, r.stderr).toBe(0);
    summary = JSON.parse(r.stdout) as StillsDemoSummary;
    const rec = summary.recovery;
    console.log(
      `[stills demo tiny] ${summary.shots} shots of ${summary.pixels}² on ${summary.run.adapter}: map r ${rec.map.r.toFixed(4)} over ${rec.map.voxels} voxels, ` +
        `per-shot scale RMS ${rec.scale === null ? 'n/a' : (100 * rec.scale.rms).toFixed(2)} %, absolute slope ${rec.map.slope.toFixed(4)}, ` +
        `masks: ${rec.masks === null ? 'n/a' : `${(100 * rec.masks.removedFraction).toFixed(3)} % of the Bragg photons removed, ≤ ${(100 * rec.masks.maxMaskedFraction).toFixed(2)} % masked`}; ` +
        `simulated in ${summary.simulateSeconds.toFixed(0)} s, run ${summary.run.seconds.toFixed(0)} s`,
    );
  }, 1_200_000);

  it('recovers the map, the per-shot scales and the masks; writes the map, report and summary', () => {
    const rec = summary.recovery;
    expect(summary.shots).toBe(500);
    expect(summary.run.stills?.used).toBe(500);
    expect(rec.map.voxels).toBeGreaterThan(5000);
    expect(rec.map.r).toBeGreaterThanOrEqual(0.98);
    expect(rec.scale).not.toBeNull();
    expect(rec.scale?.shots).toBe(500);
    expect(rec.scale?.rms).toBeLessThanOrEqual(0.02);
    expect(rec.masks?.shots).toBe(50);
    expect(rec.masks?.removedFraction).toBeGreaterThanOrEqual(0.99);
    expect(rec.masks?.maxMaskedFraction).toBeLessThanOrEqual(0.05);
    for (const f of ['map.nxs', 'map.ccp4', 'report.html', 'summary.json', 'diffract.yaml']) expect(existsSync(join(out, f)), f).toBe(true);
    expect(readFileSync(join(out, 'report.html'), 'utf8')).toContain('<svg');
  });

  it('puts the map on the absolute scale within 5 %', () => {
    expect(summary.recovery.absoluteError).not.toBeNull();
    expect(summary.recovery.absoluteError).toBeLessThanOrEqual(0.05);
  });
});
