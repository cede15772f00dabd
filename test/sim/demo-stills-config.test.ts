/**
 * `diffract demo --kind stills` without running it: the run config it writes is
 * a valid stills config (read by loadRunConfig: the shots' files, the
 * pulse-energy CSV as p_order, Gaussian partialities, summation intensities,
 * the composition of the absolute stage), and bad flags give one line.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { STILLS_DEMO_COMPOSITION, stillsDemoConfig } from '../../src/cli/commands/demo-stills.ts';
import { loadRunConfig } from '../../src/run/config.ts';
import { runCli } from '../helpers/cli.ts';

const root = mkdtempSync(join(tmpdir(), 'diffract-stills-demo-cfg-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('demo --kind stills: config and flags', () => {
  it('writes a stills run config that loadRunConfig reads', async () => {
    const path = join(root, 'diffract.yaml');
    writeFileSync(path, stillsDemoConfig([3, 3, 3]));
    const cfg = await loadRunConfig(path);
    const st = cfg.stills;
    expect(st).not.toBeNull();
    if (st === null) return;
    expect(st.input).toEqual({ kind: 'dials', expt: join(root, 'data', 'stills.expt'), refl: join(root, 'data', 'stills.refl') });
    expect(st.pOrder).toEqual({ kind: 'csv', file: join(root, 'data', 'pulse_energy.csv'), column: 'pulse_energy', key: 'shot' });
    expect(st.bragg).toEqual({ model: 'gaussian', threshold: 0.3, intensity: 'sum' });
    expect(cfg.grid.ndiv).toEqual([3, 3, 3]);
    expect(JSON.stringify(cfg.absolute)).toContain(STILLS_DEMO_COMPOSITION);
  });

  for (const bad of [
    ['--kind', 'serial'],
    ['--kind', 'stills', '--shots', '1'],
    ['--kind', 'stills', '--shots', 'many'],
    ['--shots', '10'],
  ]) {
    it(`refuses ${bad.join(' ')} with one line`, async () => {
      const r = await runCli(['demo', '--out', join(root, `bad${bad.join('')}`), ...bad]);
      expect(r.code).toBe(1);
      const lines = r.stderr.trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/^diffract: error: .*(--kind|--shots)/);
    });
  }
});
