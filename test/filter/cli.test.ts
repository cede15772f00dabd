/**
 * `diffract integrate` and `diffract filter` end to end on a small simulated
 * series written to disk: the HDF5 tables (docs/tables.md) read back and add
 * up; bad input gives one line on stderr, exit status 1 and no output file.
 */
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readVoxelTables, VOXEL_TABLES_FORMAT } from '../../src/io/voxel-tables.ts';
import { simulate } from '../../src/sim/simulate.ts';
import { main } from '../../src/cli/main.ts';
import { runCli, type CliResult } from '../helpers/cli.ts';
import { gpuTestsDisabled } from '../helpers/gpu.ts';
import { syntheticSpec } from './helpers.ts';

let dir: string;
let expt: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'diffract-filter-cli-'));
  const spec = syntheticSpec(4, 5);
  const r = await simulate(spec, join(dir, 'sim'));
  expt = r.expt;
});
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Runs the CLI in this process (no start-up cost), capturing stdout and stderr. */
async function runInProcess(args: string[]): Promise<CliResult> {
  const out: string[] = [];
  const err: string[] = [];
  const ow = process.stdout.write.bind(process.stdout);
  const ew = process.stderr.write.bind(process.stderr);
  process.stdout.write = ((chunk: string | Uint8Array) => out.push(String(chunk)) > 0) as typeof process.stdout.write;
  process.stderr.write = ((chunk: string | Uint8Array) => err.push(String(chunk)) > 0) as typeof process.stderr.write;
  try {
    const code = await main(args);
    return { code, stdout: out.join(''), stderr: err.join('') };
  } finally {
    process.stdout.write = ow;
    process.stderr.write = ew;
  }
}

function sum(a: ArrayLike<number> | undefined): number {
  let s = 0;
  for (let i = 0; i < (a?.length ?? 0); i++) s += a![i]!;
  return s;
}

function expectOneLineError(r: { code: number; stderr: string; stdout: string }, pattern: RegExp): void {
  expect(r.code).toBe(1);
  const lines = r.stderr.split('\n').filter((l) => l.trim() !== '' && !/artificially reduced/.test(l));
  expect(lines.length).toBe(1);
  expect(lines[0]).toMatch(/^diffract: error: /);
  expect(lines[0]).toMatch(pattern);
}

function noOutput(out: string): void {
  expect(existsSync(out)).toBe(false);
  const folder = join(out, '..');
  expect(readdirSync(folder).filter((f) => f.endsWith('.tmp'))).toEqual([]);
}

describe('diffract integrate / filter', () => {
  it('integrate writes included, excluded and wedges tables that add up', async () => {
    const out = join(dir, 'integrated.h5');
    const backend = gpuTestsDisabled() ? 'cpu' : 'gpu';
    // the series itself as the 'background run': binned the same way, it must reproduce every subvoxel's sums
    const frames = readdirSync(join(dir, 'sim')).filter((x) => x.endsWith('.cbf')).sort().map((x) => join(dir, 'sim', x));
    const r = await runInProcess(['--backend', backend, '-q', 'integrate', expt, '--out', out, '--wedge-frames', '2', '--beamstop-circle', '200,220,6', '--json', '--background', ...frames]);
    expect(r.stderr.split('\n').filter((l) => /error/.test(l))).toEqual([]);
    expect(r.code).toBe(0);
    const summary = JSON.parse(r.stdout) as { wedges: { occupied: number; outliers: number; overflow: number }[] };
    expect(summary.wedges.length).toBe(2);
    const f = await readVoxelTables(out);
    expect(f.attrs.format).toBe(VOXEL_TABLES_FORMAT);
    expect(f.attrs.version).toBe(1);
    expect(Array.from(f.attrs.ndiv as ArrayLike<number>)).toEqual([3, 3, 3]);
    expect(f.attrs.backend).toBe(backend);
    const inc = f.tables.get('included')!;
    const exc = f.tables.get('excluded')!;
    const wed = f.tables.get('wedges')!;
    for (const col of ['H', 'K', 'L', 'ix', 'iy', 'iz', 'h', 'k', 'l', 'counts', 'pixels', 'frame_sum', 'wedge']) {
      expect(inc.has(col)).toBe(true);
      expect(exc.has(col)).toBe(true);
    }
    expect(exc.has('reason')).toBe(true);
    expect(inc.get('counts')!.length).toBeGreaterThan(1000);
    expect(exc.get('counts')!.length).toBe(sum(wed.get('outliers')) + sum(wed.get('overflow')));
    expect(Array.from(exc.get('reason')!).every((x) => x === 1 || x === 2)).toBe(true);
    // Σ included + Σ excluded + Σ masked = Σ of every frame
    expect(sum(inc.get('counts')) + sum(exc.get('counts')) + sum(wed.get('masked_sum'))).toBe(sum(wed.get('frame_sum')));
    expect(sum(wed.get('included_counts'))).toBe(sum(inc.get('counts')));
    expect(f.attrs.background_frames).toBe(4);
    for (const t of [inc, exc]) {
      expect(Array.from(t.get('bg_counts')!)).toEqual(Array.from(t.get('counts')!));
      expect(Array.from(t.get('bg_pixels')!)).toEqual(Array.from(t.get('pixels')!));
    }
    console.log(
      `[cli] integrate on ${backend}: ${inc.get('counts')!.length} included and ${exc.get('counts')!.length} excluded subvoxels in ${wed.get('wedge')!.length} wedges; ` +
        `counts ${sum(inc.get('counts'))} + ${sum(exc.get('counts'))} + masked ${sum(wed.get('masked_sum'))} = Σ frames ${sum(wed.get('frame_sum'))}`,
    );
  });

  it('filter writes every occupied subvoxel with λ, D, ΔD and the mask', async () => {
    const out = join(dir, 'filtered.h5');
    const r = await runInProcess(['--backend', 'cpu', '-q', 'filter', expt, '--out', out, '--wedge-frames', '2']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/wrote /);
    const f = await readVoxelTables(out);
    const vox = f.tables.get('voxels')!;
    const wed = f.tables.get('wedges')!;
    expect(vox.get('lambda')!.length).toBe(sum(wed.get('occupied')));
    const reason = vox.get('reason')!;
    const lambda = vox.get('lambda')!;
    let outliers = 0;
    for (let i = 0; i < reason.length; i++) {
      if (reason[i] === 1) outliers++;
      if (reason[i] !== 2) expect(lambda[i]).toBeGreaterThan(0);
    }
    expect(outliers).toBe(sum(wed.get('outliers')));
  });

  it('bad input: one line, exit 1, no output', async () => {
    const out = join(dir, 'bad.h5');
    expectOneLineError(await runCli(['integrate', join(dir, 'nope.expt'), '--out', out]), /nope\.expt.*no such file/); // the real binary once
    noOutput(out);
    expectOneLineError(await runInProcess(['integrate', expt, '--out', out, '--ndiv', '3,3']), /--ndiv/);
    noOutput(out);
    expectOneLineError(await runInProcess(['--backend', 'cpu', 'filter', expt, '--out', out, '--detector', 'integrating']), /charge-integrating.*gain/);
    noOutput(out);
    expectOneLineError(await runInProcess(['--backend', 'cpu', 'integrate', expt, '--out', join(dir, 'missing-folder', 'x.h5')]), /output folder does not exist/);
    // a truncated frame in the middle of the series: the error names it, and nothing is written
    const imgs = join(dir, 'imgs');
    const src = join(dir, 'sim');
    const frames = readdirSync(src).filter((x) => x.endsWith('.cbf')).sort();
    rmSync(imgs, { recursive: true, force: true });
    mkdirSync(imgs);
    const copies = frames.map((x) => {
      copyFileSync(join(src, x), join(imgs, x));
      return join(imgs, x);
    });
    truncateSync(copies[1]!, 3000);
    expectOneLineError(await runInProcess(['--backend', 'cpu', '-q', 'integrate', expt, '--out', out, '--wedge-frames', '2', '--images', ...copies]), new RegExp(frames[1]!.replace('.', '\\.')));
    noOutput(out);
  });
});
