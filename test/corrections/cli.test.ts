/**
 * `diffract correct` through the real CLI on a small integrate file built
 * here (the layout of docs/tables.md with the per-subvoxel sums).
 */
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { beforeAll, describe, expect, it } from 'vitest';
import { correctCommand } from '../../src/cli/commands/correct.ts';
import { DiffractError } from '../../src/errors.ts';
import { formatExperimentList } from '../../src/geometry/expt-write.ts';
import { setAttributes, writeHdf5Atomic, type ColumnArray } from '../../src/io/hdf5.ts';
import { observationsOf, readStageFile } from '../../src/io/observation-file.ts';
import { AppendableTable, toU64, VOXEL_TABLES_FORMAT, VOXEL_TABLES_VERSION } from '../../src/io/voxel-tables.ts';
import { runCli, type CliResult } from '../helpers/cli.ts';
import { makeExperiment, makePanel } from './fixtures.ts';

let dir: string;
let expt: string;

interface Rows {
  H: number[];
  K: number[];
  L: number[];
  ix: number[];
  iy: number[];
  iz: number[];
  counts: number[];
  pixels: number[];
  frame_sum: number[];
  x_sum: number[];
  y_sum: number[];
  panel_sum: number[];
  kappa_sum: number[];
  d3s_sum: number[];
  wedge: number[];
}

function columns(r: Rows, drop: readonly string[] = []): Record<string, ColumnArray> {
  const c: Record<string, ColumnArray> = {
    H: Int32Array.from(r.H),
    K: Int32Array.from(r.K),
    L: Int32Array.from(r.L),
    ix: Uint8Array.from(r.ix),
    iy: Uint8Array.from(r.iy),
    iz: Uint8Array.from(r.iz),
    h: Float64Array.from(r.H),
    k: Float64Array.from(r.K),
    l: Float64Array.from(r.L),
    counts: toU64(Float64Array.from(r.counts)),
    pixels: toU64(Float64Array.from(r.pixels)),
    frame_sum: toU64(Float64Array.from(r.frame_sum)),
    wedge: Uint32Array.from(r.wedge),
    x_sum: toU64(Float64Array.from(r.x_sum)),
    y_sum: toU64(Float64Array.from(r.y_sum)),
    panel_sum: toU64(Float64Array.from(r.panel_sum)),
    kappa_sum: Float64Array.from(r.kappa_sum),
    d3s_sum: Float64Array.from(r.d3s_sum),
  };
  for (const d of drop) delete c[d];
  return c;
}

const included: Rows = {
  H: [-1, 2, 0],
  K: [0, -1, 0],
  L: [3, 1, 0],
  ix: [1, 2, 3],
  iy: [2, 3, 1],
  iz: [3, 1, 2],
  counts: [30, 7, 0],
  pixels: [20, 5, 0],
  frame_sum: [20 * 4, 5 * 7 + 3, 0],
  x_sum: [20 * 10, 5 * 40 + 2, 0],
  y_sum: [20 * 11, 5 * 50, 0],
  panel_sum: [0, 0, 0],
  kappa_sum: [20 * 1e-5, 5 * 2e-5, 0],
  d3s_sum: [2e-6, 1e-6, 0],
  wedge: [0, 2, 2],
};
const excluded: Rows = {
  H: [1],
  K: [1],
  L: [1],
  ix: [2],
  iy: [2],
  iz: [2],
  counts: [5000],
  pixels: [10],
  frame_sum: [10 * 3],
  x_sum: [10 * 5],
  y_sum: [10 * 6],
  panel_sum: [0],
  kappa_sum: [10 * 1e-5],
  d3s_sum: [1e-6],
  wedge: [1],
};

async function writeIntegrateFile(path: string, drop: readonly string[] = []): Promise<void> {
  await writeHdf5Atomic(path, (file) => {
    for (const [name, rows] of [
      ['included', included],
      ['excluded', excluded],
    ] as const) {
      const t = new AppendableTable(file, name);
      t.append(columns(rows, drop));
      t.close();
    }
    setAttributes(file, { format: VOXEL_TABLES_FORMAT, version: VOXEL_TABLES_VERSION, command: 'integrate', expt, ndiv: [3, 3, 3] });
  });
}

/**
 * The command in-process, on a program holding only it (so that work in
 * progress elsewhere in the CLI cannot break these tests): stdout and the
 * error it throws, if any.
 */
async function runInProcess(args: readonly string[]): Promise<{ stdout: string; error?: unknown }> {
  const program = new Command('diffract').exitOverride();
  correctCommand.register(program);
  let stdout = '';
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = ((chunk: string | Uint8Array): boolean => {
    stdout += chunk.toString();
    return true;
  }) as typeof process.stdout.write;
  try {
    await program.parseAsync([...args], { from: 'user' });
    return { stdout };
  } catch (error) {
    return { stdout, error };
  } finally {
    process.stdout.write = write;
  }
}

function expectOneLineError(r: CliResult, ...patterns: RegExp[]): void {
  expect(r.code, r.stderr).toBe(1);
  const lines = r.stderr.split('\n').filter((l) => l.trim() !== '');
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^diffract: error: /);
  for (const p of patterns) expect(lines[0]).toMatch(p);
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'diffract-correct-'));
  expt = join(dir, 'exp.expt');
  const panel = makePanel({ origin: [-50, 50, -200], fastAxis: [1, 0, 0], slowAxis: [0, -1, 0], pixelSize: [0.1, 0.1], imageSize: [100, 100] });
  const exp = makeExperiment([panel], { exposure: 0.05, oscillation: [30, 0.25], nImages: 12, hall: ' P 2 2', cellA: [0.1, 0, 0, 0, 0.05, 0, 0, 0, 1 / 30] });
  writeFileSync(expt, formatExperimentList({ source: expt, experiments: [exp] }));
});

describe('diffract correct', () => {
  it('writes the diffuse and bragg observation groups with the corrected values', async () => {
    const input = join(dir, 'integrated.h5');
    const out = join(dir, 'corrected.h5');
    await writeIntegrateFile(input);
    const r = await runInProcess(['correct', input, '--expt', expt, '--out', out, '--json']);
    expect(r.error).toBeUndefined();
    const summary = JSON.parse(r.stdout) as { hall: string; exposure: number; diffuse: { kept: number; droppedNoPixels: number }; bragg: { kept: number } };
    expect(summary.exposure).toBe(0.05);
    expect(summary.hall.trim()).toBe('P 2 2');
    expect(summary.diffuse.kept).toBe(2);
    expect(summary.diffuse.droppedNoPixels).toBe(1);
    expect(summary.bragg.kept).toBe(1);

    const sf = await readStageFile(out);
    expect(sf.stage).toBe('correct');
    expect([...sf.meta.ndiv]).toEqual([3, 3, 3]);
    expect(sf.meta.cell[0]).toBeCloseTo(10, 6);
    expect(sf.attrs.dropped_diffuse_no_pixels).toBe(1);
    const d = observationsOf(sf, 'diffuse', out);
    // row 0: fine (−1·3 + 1 − 2, 0 + 2 − 2, 9 + 3 − 2) = (−4, 0, 10) → ASU (4, 0, 10) = H 1 + 1/3, K 0, L 3 + 1/3
    expect([d.H[0], d.K[0], d.L[0], d.dh[0], d.dk[0], d.dl[0]]).toEqual([1, 0, 3, 1, 0, 1]);
    expect(d.I[0]).toBeCloseTo(30 / (0.05 * 2e-4), 0);
    expect(d.sigma[0]).toBeCloseTo(Math.sqrt(31) / (0.05 * 2e-4), 0);
    expect(d.phi[0]).toBeCloseTo(30 + 4.5 * 0.25, 5);
    expect(d.x[0]).toBeCloseTo(10.5, 5);
    expect(d.y[0]).toBeCloseTo(11.5, 5);
    expect(d.s[0]).toBeCloseTo(Math.hypot(-4 / 3 / 10, 0, 10 / 3 / 30), 6);
    expect(d.fraction[0]).toBeCloseTo(2e-6 * 27 * 6000, 4);
    // row 1 (wedge 2): fine (2·3 + 2 − 2, −1·3 + 3 − 2, 3 + 1 − 2) = (6, −2, 2) → (6, 2, 2) = H 2 + 0, K 1 − 1/3, L 1 − 1/3
    expect([d.H[1], d.K[1], d.L[1], d.dh[1], d.dk[1], d.dl[1]]).toEqual([2, 1, 1, 0, -1, -1]);
    expect(d.batch[1]).toBe(2);
    expect(d.x[1]).toBeCloseTo(40.9, 5);
    const b = observationsOf(sf, 'bragg', out);
    expect(b.I[0]).toBeCloseTo(5000 / (0.05 * 1e-4), -1);
    expect(b.batch[0]).toBe(1);

    // --exposure, --space-group and --sweep override
    const out2 = join(dir, 'corrected2.h5');
    const r2 = await runInProcess(['correct', input, '--expt', expt, '--out', out2, '--exposure', '0.1', '--space-group', 'P 1', '--sweep', '3']);
    expect(r2.error).toBeUndefined();
    expect(r2.stdout).toMatch(/diffuse: 2 observations from 3 subvoxels \(dropped 1 without pixels\)/);
    const d2 = observationsOf(await readStageFile(out2), 'diffuse', out2);
    expect(d2.I[0]).toBeCloseTo(30 / (0.1 * 2e-4), 0);
    expect(d2.sweep[0]).toBe(3);
    // P 1 (Laue −1): (−4, 0, 10) is already in the ASU (l > 0)
    expect([d2.H[0], d2.dh[0], d2.L[0], d2.dl[0]]).toEqual([-1, -1, 3, 1]);
  });

  it('throws a typed error naming the file and the column of an old integrate file', async () => {
    const input = join(dir, 'old0.h5');
    const out = join(dir, 'never0.h5');
    await writeIntegrateFile(input, ['kappa_sum', 'd3s_sum']);
    const r = await runInProcess(['correct', input, '--expt', expt, '--out', out]);
    expect(r.error).toBeInstanceOf(DiffractError);
    expect((r.error as DiffractError).file).toBe(input);
    expect((r.error as DiffractError).field).toBe('included/kappa_sum');
    expect(existsSync(out)).toBe(false);
  });

  it('through the real CLI: one line naming the file and the column, exit status 1', async () => {
    const input = join(dir, 'old.h5');
    const out = join(dir, 'never.h5');
    await writeIntegrateFile(input, ['x_sum', 'y_sum', 'panel_sum', 'kappa_sum', 'd3s_sum']);
    const r = await runCli(['correct', input, '--expt', expt, '--out', out]);
    expectOneLineError(r, /old\.h5/, /included\/x_sum/);
    expect(existsSync(out)).toBe(false);
    const r2 = await runCli(['correct', join(dir, 'integrated.h5'), '--expt', expt, '--out', out, '--exposure', '-1']);
    expectOneLineError(r2, /--exposure must be a positive number/);
  });
});
