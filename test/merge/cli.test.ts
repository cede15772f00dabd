/**
 * `diffract merge` on a small stage file written with writeStageFile: the
 * merged tables and the CC½ group read back and agree with mergeObservations;
 * bad input gives one line on stderr and exit status 1.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mergeCommand } from '../../src/cli/commands/merge.ts';
import { DiffractError } from '../../src/errors.ts';
import { Engine } from '../../src/host/engine.ts';
import { mergedOf, readStageFile, writeStageFile } from '../../src/io/observation-file.ts';
import { mergeObservations } from '../../src/merge/index.ts';
import { gpuTestsDisabled } from '../helpers/gpu.ts';
import { META, synthetic } from './helpers.ts';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** The merge command alone in a program with diffract's global options and exit-code rules (src/cli/main.ts). */
async function runMerge(args: string[]): Promise<Run> {
  const program = new Command('diffract')
    .option('--backend <name>', 'backend', 'auto')
    .option('--debug-gpu', 'debug')
    .option('-q, --quiet', 'quiet')
    .exitOverride()
    .configureOutput({ writeErr: (s) => void process.stderr.write(s), writeOut: (s) => void process.stdout.write(s) });
  mergeCommand.register(program);
  const out: string[] = [];
  const err: string[] = [];
  const ow = process.stdout.write.bind(process.stdout);
  const ew = process.stderr.write.bind(process.stderr);
  process.stdout.write = ((chunk: string | Uint8Array) => out.push(String(chunk)) > 0) as typeof process.stdout.write;
  process.stderr.write = ((chunk: string | Uint8Array) => err.push(String(chunk)) > 0) as typeof process.stderr.write;
  let code = 0;
  try {
    await program.parseAsync(args, { from: 'user' });
  } catch (e) {
    if (e instanceof DiffractError) {
      process.stderr.write(`diffract: error: ${e.message}\n`);
      code = 1;
    } else if (e instanceof Error && 'exitCode' in e) {
      code = (e as { exitCode: number }).exitCode === 0 ? 0 : 1;
    } else {
      throw e;
    }
  } finally {
    process.stdout.write = ow;
    process.stderr.write = ew;
  }
  return { code, stdout: out.join(''), stderr: err.join('') };
}

function oneLineError(r: Run, pattern: RegExp): void {
  expect(r.code).toBe(1);
  const lines = r.stderr.split('\n').filter((l) => l.trim() !== '');
  expect(lines.length).toBe(1);
  expect(lines[0]).toMatch(/^diffract: error: /);
  expect(lines[0]).toMatch(pattern);
}

let dir: string;
let scaled: string;
const diffuse = synthetic({ voxels: 600, perVoxel: [3, 9], seed: 21, truth: (h, k, l) => 20 + 10 * Math.cos(h / 5) + l / 4, sigma: [0.5, 1.5], outlierFraction: 0.05 });
const bragg = synthetic({ voxels: 80, perVoxel: [2, 6], seed: 22, truth: (h, k) => 1000 + 50 * Math.abs(h + k), sigma: [5, 10] });

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'diffract-merge-cli-'));
  scaled = join(dir, 'scaled.h5');
  await writeStageFile(scaled, { stage: 'scale', meta: META, observations: { diffuse: diffuse.obs, bragg: bragg.obs } });
});
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('diffract merge', () => {
  it('writes merged diffuse and bragg tables and the CC½ shells; --json summary', async () => {
    const out = join(dir, 'merged.h5');
    const backend = gpuTestsDisabled() ? 'cpu' : 'gpu';
    const r = await runMerge(['--backend', backend, '-q', 'merge', scaled, '--out', out, '--shells', '4', '--half-seed', '3', '--json']);
    expect(r.stderr.split('\n').filter((l) => /error/i.test(l))).toEqual([]);
    expect(r.code).toBe(0);
    const summary = JSON.parse(r.stdout) as { backend: string; tables: Record<string, { stats: { voxels: number; rejected: number }; overall: { cchalf: number }; shells: unknown[] }> };
    expect(summary.backend).toBe(backend);
    expect(summary.tables.diffuse?.stats.voxels).toBe(600);
    expect(summary.tables.bragg?.stats.voxels).toBe(80);
    expect(summary.tables.diffuse?.shells.length).toBe(4);
    expect(summary.tables.diffuse?.stats.rejected).toBeGreaterThanOrEqual(diffuse.outliers.size);

    const sf = await readStageFile(out);
    expect(sf.stage).toBe('merge');
    expect(sf.attrs.backend).toBe(backend);
    expect(sf.attrs.diffuse_voxels).toBe(600);
    expect(sf.attrs.half_seed).toBe(3);
    expect(sf.meta.hall).toBe(META.hall);
    const m = mergedOf(sf, 'diffuse', out);
    const b = mergedOf(sf, 'bragg', out);
    // the same numbers as the library call
    const ref = await mergeObservations(Engine.cpu(), diffuse.obs, META, { shells: 4, halfSeed: 3 });
    expect(Array.from(m.I)).toEqual(Array.from(ref.merged.I));
    expect(Array.from(m.sigma)).toEqual(Array.from(ref.merged.sigma));
    expect(Array.from(m.rejected)).toEqual(Array.from(ref.merged.rejected));
    expect(b.I.length).toBe(80);
    const cc = sf.groups.get('cchalf');
    expect(cc?.attrs.nrows).toBe(4);
    expect(Array.from(cc?.columns.get('cchalf') ?? [])).toEqual(ref.shells.map((s) => s.cchalf));
    expect(Array.from(cc?.columns.get('n') ?? [])).toEqual(ref.shells.map((s) => s.n));
    expect(cc?.attrs.cchalf_overall).toBeCloseTo(ref.overall.cchalf, 12);
    expect(ref.overall.cchalf).toBeGreaterThan(0.9);
    expect(sf.groups.get('cchalf_bragg')?.attrs.nrows).toBe(4);
  });

  it('prints a CC½ table per shell', async () => {
    const out = join(dir, 'merged-text.h5');
    const r = await runMerge(['--backend', 'cpu', 'merge', scaled, '--out', out, '--shells', '3', '--outlier', '0']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^diffuse: \d+ observations → 600 voxels \(0 rejected/m);
    expect(r.stdout).toMatch(/^bragg: \d+ observations → 80 voxels/m);
    expect(r.stdout.split('\n').filter((l) => /^ {2}overall/.test(l)).length).toBe(2);
    expect(r.stdout).toMatch(/backend cpu \(CPU\)/);
    expect(existsSync(out)).toBe(true);
  });

  it('bad input: one line, exit 1, no output file', async () => {
    const out = join(dir, 'never.h5');
    oneLineError(await runMerge(['merge', join(dir, 'missing.h5'), '--out', out]), /missing\.h5.*no such file/);
    oneLineError(await runMerge(['merge', scaled, '--out', out, '--outlier', '-1']), /--outlier must be a number ≥ 0/);
    oneLineError(await runMerge(['merge', scaled, '--out', out, '--shells', '0']), /--shells must be an integer/);
    oneLineError(await runMerge(['merge', scaled, '--out', out, '--half-split', 'frame']), /--half-split must be observation or batch/);
    const merged = join(dir, 'merged-again.h5');
    await writeStageFile(merged, { stage: 'merge', meta: META, observations: { diffuse: diffuse.obs } });
    oneLineError(await runMerge(['merge', merged, '--out', out]), /'merge' stage file/);
    const noDiffuse = join(dir, 'no-diffuse.h5');
    await writeStageFile(noDiffuse, { stage: 'scale', meta: META, observations: { bragg: bragg.obs } });
    oneLineError(await runMerge(['merge', noDiffuse, '--out', out]), /no table 'diffuse'/);
    expect(existsSync(out)).toBe(false);
  });

  it('is registered in the diffract program', async () => {
    const { main } = await import('../../src/cli/main.ts');
    const out = join(dir, 'merged-main.h5');
    const ow = process.stdout.write.bind(process.stdout);
    const chunks: string[] = [];
    process.stdout.write = ((c: string | Uint8Array) => chunks.push(String(c)) > 0) as typeof process.stdout.write;
    let code: number;
    try {
      code = await main(['--backend', 'cpu', '-q', 'merge', scaled, '--out', out, '--json']);
    } finally {
      process.stdout.write = ow;
    }
    expect(code).toBe(0);
    expect((JSON.parse(chunks.join('')) as { tables: { diffuse: { stats: { voxels: number } } } }).tables.diffuse.stats.voxels).toBe(600);
  });
});
