/**
 * Standalone stage commands write the same fixed HDF5 object times as
 * `diffract run`: two runs of the same command on the same input give files
 * identical byte for byte (issue 13: `diffract integrate` and `filter` build
 * their file while the wedges stream in, and every object made after the
 * first await carried the wall clock: two runs differed in hundreds of bytes;
 * `diffract export` stamped the wall clock into the NeXus map's file_time).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { simulate } from '../../src/sim/simulate.ts';
import { syntheticSpec } from '../filter/helpers.ts';
import { runCli } from '../helpers/cli.ts';

let dir: string;
let expt: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'diffract-repro-'));
  expt = (await simulate(syntheticSpec(6, 7), join(dir, 'sim'))).expt;
});
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Runs `diffract <command> input --out <name>` twice (seconds apart, as separate processes) and returns both files' bytes. */
async function twice(command: string, extra: readonly string[], input = expt): Promise<[Buffer, Buffer]> {
  const out: Buffer[] = [];
  for (const n of [1, 2]) {
    const file = join(dir, `${command}-${n}.h5`);
    const r = await runCli(['--backend', 'cpu', '-q', command, input, '--out', file, ...extra]);
    expect(r.code, r.stderr).toBe(0);
    out.push(readFileSync(file));
  }
  return [out[0]!, out[1]!];
}

describe('two runs of a stage command give byte-identical HDF5 files', () => {
  it('diffract integrate', async () => {
    const [a, b] = await twice('integrate', ['--wedge-frames', '3']);
    expect(a.length).toBeGreaterThan(10_000);
    expect(b.equals(a)).toBe(true);
  }, 120_000);

  it('diffract filter', async () => {
    const [a, b] = await twice('filter', ['--wedge-frames', '3']);
    expect(b.equals(a)).toBe(true);
  }, 120_000);

  it('diffract correct, scale, merge and export (the map files)', async () => {
    for (const [command, input] of [
      ['correct', 'integrate-1.h5'],
      ['scale', 'correct-1.h5'],
      ['merge', 'scale-1.h5'],
    ] as const) {
      const [a, b] = await twice(command, [], join(dir, input));
      expect(b.equals(a), command).toBe(true);
    }
    const maps: Buffer[][] = [];
    for (const n of [1, 2]) {
      const r = await runCli(['-q', 'export', join(dir, 'merge-1.h5'), '--out', join(dir, `export-${n}/`), '--format', 'nexus,ccp4']);
      expect(r.code, r.stderr).toBe(0);
      maps.push(['merge-1.nxs', 'merge-1.ccp4'].map((f) => readFileSync(join(dir, `export-${n}`, f))));
    }
    expect(maps[1]![0]!.equals(maps[0]![0]!), 'NeXus map').toBe(true);
    expect(maps[1]![1]!.equals(maps[0]![1]!), 'CCP4 map').toBe(true);
  }, 240_000);
});
