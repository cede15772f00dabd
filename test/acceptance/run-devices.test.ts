/**
 * `diffract run --devices 2` on a machine with one adapter (lavapipe here):
 * the same adapter opened twice as two devices, the wedges spread over both,
 * and map.nxs, map.ccp4 and the PNG slices identical byte for byte to a run
 * on one device (issue 16).
 */
import { renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunSummary } from '../../src/run/runner.ts';
import { runCli } from '../helpers/cli.ts';
import { gpuTestsDisabled } from '../helpers/gpu.ts';
import { differingMaps, readMaps, smallRunFolder } from '../helpers/run-results.ts';

describe.skipIf(gpuTestsDisabled())('diffract run --devices: two devices on one adapter', () => {
  let root = '';
  beforeAll(async () => {
    root = await smallRunFolder('diffract-devices-', 11, 6, ['output: out', 'sweeps:', '  - {name: s1, expt: data/sim.expt}', 'grid:', '  wedge_frames: 2', 'filter:', '  max_count: 50', ''].join('\n'));
  }, 300_000);
  afterAll(() => {
    if (root !== '') rmSync(root, { recursive: true, force: true });
  });

  it('spreads the wedges over both devices and gives the bytes of one device', async () => {
    const one = await runCli(['run', 'run.yaml', '--backend', 'gpu', '--json', '-q'], { cwd: root });
    expect(one.code, one.stderr).toBe(0);
    expect((JSON.parse(one.stdout) as RunSummary).backend).toBe('gpu');
    const reference = readMaps(join(root, 'out'));
    renameSync(join(root, 'out'), join(root, 'out-one'));

    const two = await runCli(['run', 'run.yaml', '--backend', 'gpu', '--devices', '2', '--json'], { cwd: root });
    expect(two.code, two.stderr).toBe(0);
    const lines = two.stderr.trim().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { msg: string; device?: number });
    expect(lines.find((l) => l.msg.startsWith('devices: '))?.msg).toMatch(/^devices: 0: .+, 1: .+$/);
    const written = lines.filter((l) => / written on device \d$/.test(l.msg));
    expect(written).toHaveLength(3);
    expect(new Set(written.map((l) => l.device))).toEqual(new Set([0, 1]));
    expect(differingMaps(join(root, 'out'), reference)).toEqual([]);
  }, 600_000);
});
