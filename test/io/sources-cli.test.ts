/**
 * Every command that takes images reads every format: `diffract integrate`,
 * `filter` and `map` on a simulated series written as CBF files and as the
 * same frames in HDF5 (an Eiger/NeXus master with bitshuffle-LZ4 data files,
 * and a plain `/entry/data/data` stack) give identical tables, column by
 * column, and `diffract run` with `images: {hdf5: …}` gives the same
 * integrated tables as `diffract integrate --images master.h5`.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeHdf5Atomic, type ColumnArray } from '../../src/io/hdf5.ts';
import { writeNexusSeries } from '../../src/io/nexus-write.ts';
import { readImage } from '../../src/io/series.ts';
import { readTableGroups } from '../../src/io/voxel-tables.ts';
import { simulate } from '../../src/sim/simulate.ts';
import { electronUnitSpec } from '../../src/sim/spec.ts';
import { runInProcess } from '../helpers/cli.ts';

const FRAMES = 10;
let root = '';
let expt = '';
let master = '';
let stack = '';
let size: [number, number] = [0, 0];

/** The named tables of a table file: per column, its type and bytes (hex digest, so that a difference prints short). */
async function tables(path: string, names: readonly string[]): Promise<Record<string, Record<string, string>>> {
  const raw = await readTableGroups(path);
  const out: Record<string, Record<string, string>> = {};
  for (const name of names) {
    const cols = raw.tables.get(name);
    expect(cols, `${path} has table ${name}`).toBeDefined();
    out[name] = Object.fromEntries(
      [...cols!].map(([c, v]: [string, ColumnArray]) => [c, `${v.constructor.name}[${v.length}] ${createHash('sha256').update(new Uint8Array(v.buffer, v.byteOffset, v.byteLength)).digest('hex')}`]),
    );
  }
  return out;
}

/** Sum of a column read back as numbers (to show the tables are not empty). */
async function columnSum(path: string, table: string, column: string): Promise<number> {
  const v = (await readTableGroups(path)).tables.get(table)?.get(column);
  expect(v, `${path}: ${table}/${column}`).toBeDefined();
  return Array.from(v as ArrayLike<number | bigint>, Number).reduce((a, b) => a + b, 0);
}

async function cli(args: string[]): Promise<string> {
  const r = await runInProcess([...args, '--backend', 'cpu']);
  expect(r.code, r.stderr).toBe(0);
  return r.stdout;
}

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'diffract-sources-cli-'));
  const spec = electronUnitSpec('small', 3);
  spec.scan.frames = FRAMES;
  spec.scan.widthDeg = 4;
  await simulate(spec, join(root, 'data'));
  expt = join(root, 'data', 'sim.expt');
  const u32: Uint32Array[] = [];
  const i32: Int32Array[] = [];
  for (let i = 1; i <= FRAMES; i++) {
    const im = await readImage(join(root, 'data', `sim_${String(i).padStart(5, '0')}.cbf`));
    size = [im.width, im.height];
    u32.push(Uint32Array.from(im.pixels, (v) => v >>> 0));
    i32.push(im.pixels);
  }
  mkdirSync(join(root, 'eiger'));
  master = join(root, 'eiger', 'sim_master.h5');
  await writeNexusSeries(master, {
    frames: u32,
    width: size[0],
    height: size[1],
    compression: 'bslz4',
    dataFiles: 4,
    geometry: { wavelength: 1, distance_mm: 100, beamCentre: [200, 200], pixelSize: [0.172, 0.172], omegaStart: 0, omegaIncrement: 4, exposure: 1 },
  });
  // a plain data file: the CBF values (negative markers included) as one int32 stack
  stack = join(root, 'stack.h5');
  const all = new Int32Array(FRAMES * size[0] * size[1]);
  i32.forEach((f, k) => all.set(f, k * f.length));
  await writeHdf5Atomic(stack, (file) => {
    file.create_group('entry').create_group('data').create_dataset({ name: 'data', data: all, shape: [FRAMES, size[1], size[0]] });
  });
}, 300_000);

afterAll(() => {
  if (root !== '') rmSync(root, { recursive: true, force: true });
});

describe('integrate, filter and map read Eiger/NeXus HDF5 as they read CBF', () => {
  const flags = ['--wedge-frames', '2', '--max-count', '50'];

  it('integrate: the master file, the data stack and the CBF files give identical included and excluded tables', async () => {
    await cli(['integrate', expt, '--out', join(root, 'int-cbf.h5'), ...flags]);
    await cli(['integrate', expt, '--images', master, '--out', join(root, 'int-master.h5'), ...flags]);
    await cli(['integrate', expt, '--images', stack, '--out', join(root, 'int-stack.h5'), ...flags]);
    const cbf = await tables(join(root, 'int-cbf.h5'), ['included', 'excluded']);
    expect(Object.keys(cbf.included!).length).toBeGreaterThan(5);
    expect(await columnSum(join(root, 'int-cbf.h5'), 'included', 'counts')).toBeGreaterThan(1000);
    expect(await columnSum(join(root, 'int-cbf.h5'), 'excluded', 'counts')).toBeGreaterThan(0);
    expect(await tables(join(root, 'int-master.h5'), ['included', 'excluded'])).toEqual(cbf);
    expect(await tables(join(root, 'int-stack.h5'), ['included', 'excluded'])).toEqual(cbf);
  }, 600_000);

  it('filter: identical per-subvoxel statistics from the master file', async () => {
    await cli(['filter', expt, '--out', join(root, 'flt-cbf.h5'), ...flags]);
    await cli(['filter', expt, '--images', master, '--out', join(root, 'flt-master.h5'), ...flags]);
    const cbf = await tables(join(root, 'flt-cbf.h5'), ['voxels']);
    expect(Object.keys(cbf.voxels!).length).toBeGreaterThan(3);
    expect(await tables(join(root, 'flt-master.h5'), ['voxels'])).toEqual(cbf);
  }, 600_000);

  it('map: the same per-frame hkl summary from the master file', async () => {
    type Report = { frames: number; perFrame: Array<Record<string, unknown>> };
    const strip = (r: Report): unknown => ({ frames: r.frames, perFrame: r.perFrame.map(({ file: _file, ...rest }) => rest) });
    const cbf = JSON.parse(await cli(['map', expt, '--json'])) as Report;
    const h5 = JSON.parse(await cli(['map', expt, '--images', master, '--json'])) as Report;
    expect(cbf.frames).toBe(FRAMES);
    expect(strip(h5)).toEqual(strip(cbf));
  }, 600_000);

  it('a frame count that disagrees with the scan names the .expt and --images', async () => {
    const short = join(root, 'short.h5');
    await writeHdf5Atomic(short, (file) => {
      file.create_group('entry').create_group('data').create_dataset({ name: 'data', data: new Int32Array(2 * size[0] * size[1]), shape: [2, size[1], size[0]] });
    });
    const r = await runInProcess(['integrate', expt, '--images', short, '--out', join(root, 'never.h5'), '--backend', 'cpu']);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain(`${expt}, field '--images': 2 frames given but the scan has ${FRAMES}`);
    // one data file of the master's series holds 4 of the 10 frames
    const r2 = await runInProcess(['integrate', expt, '--images', join(root, 'eiger', 'sim_data_000001.h5'), '--out', join(root, 'never.h5'), '--backend', 'cpu']);
    expect(r2.code).toBe(1);
    expect(r2.stderr).toContain(`${expt}, field '--images': 4 frames given but the scan has ${FRAMES}`);
  }, 60_000);
});

describe('diffract run with images: {hdf5: …}', () => {
  it('integrates the same tables as diffract integrate --images master.h5', async () => {
    const cfg = [
      'output: run-h5',
      'sweeps:',
      '  - name: s1',
      `    expt: ${expt}`,
      `    images: {hdf5: ${master}}`,
      'grid:',
      '  wedge_frames: 2',
      'filter:',
      '  max_count: 50',
      'scaling:',
      '  b_step_deg: 4',
      'absolute:',
      '  composition: C1650 H5642 N450 O2021 S12',
    ].join('\n');
    writeFileSync(join(root, 'run-h5.yaml'), cfg);
    await cli(['run', join(root, 'run-h5.yaml'), '-q', '--json']);
    const dir = join(root, 'run-h5', 'stages', 's1');
    const integrated = readdirSync(dir).find((f) => /^integrated-.*\.h5$/.test(f));
    expect(integrated).toBeDefined();
    const run = await tables(join(dir, integrated!), ['included', 'excluded']);
    const cbf = await tables(join(root, 'int-cbf.h5'), ['included', 'excluded']);
    expect(run).toEqual(cbf);
  }, 600_000);
});
