/**
 * The integrate stage called directly (`integrateStage.run`, as a library user
 * would) gives exactly the tables `diffract integrate` writes for the same
 * frames and settings: every column of `included` and `excluded`, the
 * `wedges` rows and the root attributes. Also: the stage writes nothing to
 * the console (its messages go to the context's logger).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openExperimentFrames } from '../../src/io/sources/experiment.ts';
import { loadExperiments, pickExperiment } from '../../src/geometry/load.ts';
import { Engine } from '../../src/host/engine.ts';
import type { ColumnArray } from '../../src/io/hdf5.ts';
import { voxelColumns } from '../../src/io/integrate-file.ts';
import { readVoxelTables } from '../../src/io/voxel-tables.ts';
import { simulate } from '../../src/sim/simulate.ts';
import { integrateDefaults, integrateStage, silentContext, type IntegrateResult, type StageLogger } from '../../src/stages/index.ts';
import { syntheticSpec } from '../filter/helpers.ts';
import { runInProcess } from '../helpers/cli.ts';

let dir: string;
let expt: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'diffract-stage-integrate-'));
  expt = (await simulate(syntheticSpec(6, 7), join(dir, 'sim'))).expt;
});
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const numbers = (a: ArrayLike<number | bigint>): number[] => Array.from(a, Number);

function expectSameColumns(file: Map<string, ArrayLike<number>> | undefined, stage: Record<string, ColumnArray>, table: string): void {
  expect(file, table).toBeDefined();
  expect([...file!.keys()].sort(), table).toEqual(Object.keys(stage).sort());
  for (const [name, col] of Object.entries(stage)) expect(numbers(file!.get(name)!), `${table}/${name}`).toEqual(numbers(col));
}

describe('integrate stage', () => {
  it('run() returns the tables `diffract integrate` writes', async () => {
    const out = join(dir, 'integrated.h5');
    const cli = await runInProcess(['--backend', 'cpu', '-q', 'integrate', expt, '--out', out, '--wedge-frames', '2', '--beamstop-circle', '200,220,6', '--max-count', '30']);
    expect(cli.code, cli.stderr).toBe(0);

    const settings = integrateDefaults();
    settings.grid.wedgeFrames = 2;
    settings.grid.wedgeDeg = null;
    settings.filter.maxCount = 30;
    settings.mask.beamstop = [{ kind: 'circle', cx: 200, cy: 220, r: 6 }];
    const experiment = pickExperiment(await loadExperiments(expt), 0);
    const lines: string[] = [];
    const logger: StageLogger = { log: (_level, message) => lines.push(message) };
    const engine = Engine.cpu();
    const console: string[] = [];
    const ew = process.stderr.write.bind(process.stderr);
    const ow = process.stdout.write.bind(process.stdout);
    process.stderr.write = ((c: string | Uint8Array) => console.push(String(c)) > 0) as typeof process.stderr.write;
    process.stdout.write = ((c: string | Uint8Array) => console.push(String(c)) > 0) as typeof process.stdout.write;
    let r: IntegrateResult;
    try {
      r = await integrateStage.run(silentContext(engine, logger), { experiment, exptPath: expt, frames: await openExperimentFrames(experiment, expt) }, settings);
    } finally {
      process.stderr.write = ew;
      process.stdout.write = ow;
    }
    expect(console, 'the stage wrote to the console').toEqual([]);

    const file = await readVoxelTables(out);
    expect(r.wedges.map((w) => w.index)).toEqual([0, 1, 2]);
    expect(r.included.counts.length).toBeGreaterThan(1000);
    expect(r.excluded.counts.length).toBeGreaterThan(0);
    expectSameColumns(file.tables.get('included'), voxelColumns(r.included, false), 'included');
    expectSameColumns(file.tables.get('excluded'), voxelColumns(r.excluded, true), 'excluded');
    const wedges = file.tables.get('wedges')!;
    expect(numbers(wedges.get('occupied')!)).toEqual(r.wedges.map((w) => w.occupied));
    expect(numbers(wedges.get('included_counts')!)).toEqual(r.wedges.map((w) => w.includedCounts));
    expect(numbers(wedges.get('excluded_counts')!)).toEqual(r.wedges.map((w) => w.excludedCounts));
    expect(numbers(wedges.get('frame_sum')!)).toEqual(r.wedges.map((w) => w.frameSum));
    // root attributes: the same values (arrays as read back)
    for (const [k, v] of Object.entries(r.attributes)) {
      const got = file.attrs[k];
      expect(typeof v === 'object' ? numbers(got as ArrayLike<number>) : typeof v === 'number' ? Number(got) : got, k).toEqual(typeof v === 'object' ? [...v] : v);
    }
    // the summary adds up
    expect(r.summary.countsIncluded).toBe(r.wedges.reduce((s, w) => s + w.includedCounts, 0));
    expect(r.summary.countsIncluded).toBe(numbers(r.included.counts).reduce((s, x) => s + x, 0));
    expect(r.summary.frames).toBe(6);
    expect(r.summary.maskedPixelFraction).toBeGreaterThan(0);
  }, 300_000);

  it('rejects bad settings naming the setting', async () => {
    const experiment = pickExperiment(await loadExperiments(expt), 0);
    const settings = integrateDefaults();
    settings.grid.ndiv = [3, 0, 3];
    await expect(integrateStage.run(silentContext(Engine.cpu()), { experiment, exptPath: expt, frames: await openExperimentFrames(experiment, expt) }, settings)).rejects.toThrow(/field 'grid\.ndiv': grid\.ndiv must be three integers 1…255/);
  });
});
