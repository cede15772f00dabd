import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseFormats } from '../../src/cli/commands/export.ts';
import { readCcp4 } from '../../src/export/ccp4.ts';
import { readHdf5, type H5Dataset } from '../../src/io/hdf5.ts';
import { writeStageFile } from '../../src/io/observation-file.ts';
import type { ObservationMeta } from '../../src/pipeline/observations.ts';
import { runCli } from '../helpers/cli.ts';
import { mergedFrom, type Point } from './helpers.ts';

const root = mkdtempSync(join(tmpdir(), 'diffract-export-cli-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const meta: ObservationMeta = { ndiv: [3, 3, 3], hall: ' P 2 2', cell: [10, 20, 40, 90, 90, 90], wavelength: 1 };
// ASU of mmm (h, k, l ≥ 0)
const POINTS: Point[] = [
  { fine: [3, 2, 1], I: 10, sigma: 1 },
  { fine: [2, 1, 0], I: 20, sigma: 2 },
  { fine: [0, 0, 2], I: 30, sigma: 3 },
  { fine: [0, 0, 0], I: 40, sigma: 4 },
];
const stageFile = join(root, 'merged.h5');
const correctFile = join(root, 'correct.h5');

beforeAll(async () => {
  await writeStageFile(stageFile, { stage: 'merge', meta, merged: { diffuse: mergedFrom(POINTS, meta.ndiv) } });
  await writeStageFile(correctFile, { stage: 'correct', meta, merged: { diffuse: mergedFrom(POINTS, meta.ndiv) } });
});

function pixel(png: PNG, x: number, y: number): number[] {
  const o = 4 * (y * png.width + x);
  return Array.from(png.data.subarray(o, o + 4));
}

describe('diffract export', () => {
  it('writes NeXus, CCP4 and three PNG slices into a folder and prints a summary', async () => {
    const out = join(root, 'out1');
    mkdirSync(out);
    const r = await runCli(['export', stageFile, '--out', out]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("stage 'merge', table 'diffuse', 4 merged rows");
    expect(r.stdout).toContain('grid 7×5×5 (h×k×l, fine index from -3, -2, -2): 15 of 175 points measured (8.6%)');
    expect(r.stdout).toMatch(/8 reciprocal-space operators/);
    expect(readdirSync(out).sort()).toEqual(['merged.ccp4', 'merged.nxs', 'merged_h0.png', 'merged_k0.png', 'merged_l0.png']);

    const m = await readCcp4(join(out, 'merged.ccp4'));
    expect([m.header.nx, m.header.ny, m.header.nz]).toEqual([7, 5, 5]);
    expect([m.header.nxstart, m.header.nystart, m.header.nzstart]).toEqual([-3, -2, -2]);
    expect(m.header.cell[0]).toBeCloseTo((7 * 0.1) / 3, 6);
    expect(m.header.dmin).toBe(10);
    expect(m.header.dmax).toBe(40);
    // (h, k, l) = (−3, 2, −1): column 0, row 4, section 1
    expect(m.data[(1 * 5 + 4) * 7 + 0]).toBe(10);
    expect(m.data[0]).toBe(0); // (−3, −2, −2): unmeasured, fill 0

    await readHdf5(join(out, 'merged.nxs'), (f) => {
      const I = f.get('entry/map/intensity') as H5Dataset;
      expect(I.shape).toEqual([7, 5, 5]);
      const v = I.value as Float32Array;
      expect(v[(6 * 5 + 4) * 5 + 3]).toBe(10); // (3, 2, 1)
      expect(v[(1 * 5 + 1) * 5 + 2]).toBe(20); // (−2, −1, 0)
      expect(Number.isNaN(v[0]!)).toBe(true);
      const proc = f.get('entry/process') as unknown as { attrs: Record<string, { value: unknown }> };
      expect(proc.attrs.stage?.value).toBe('merge');
      expect(proc.attrs.stage_file?.value).toBe(stageFile);
      expect((f.get('entry/sample/space_group') as H5Dataset).value).toBe('P 2 2 2');
      expect(f.keys()).toEqual(['entry']);
      expect((f.get('entry') as unknown as { keys(): string[] }).keys().sort()).toEqual(['map', 'process', 'sample', 'slice_h0', 'slice_k0', 'slice_l0', 'title']);
    });

    // l = 0 slice: rows h (7, step a*/3), columns k (5, step b*/3): aspect 2, 16 × 32 px per step
    const png = PNG.sync.read(readFileSync(join(out, 'merged_l0.png')));
    expect([png.width, png.height]).toEqual([80, 224]);
    // the origin (40, above the 99th percentile): row h = 0 → 3, column k = 0 → 2
    expect(pixel(png, 2 * 16 + 5, (7 - 1 - 3) * 32 + 5)).toEqual([0xfd, 0xe7, 0x25, 255]);
    // (h, k) = (2, 1) holds 20 = the low limit
    expect(pixel(png, 3 * 16 + 5, (7 - 1 - 5) * 32 + 5)).toEqual([0x44, 0x01, 0x54, 255]);
    // (0, 1) unmeasured: grey
    expect(pixel(png, 3 * 16 + 5, (7 - 1 - 3) * 32 + 5)).toEqual([128, 128, 128, 255]);
  });

  it('writes only the chosen formats to a prefix, with --json and --fill', async () => {
    const out = join(root, 'out2');
    mkdirSync(out);
    const r = await runCli(['export', stageFile, '--out', join(out, 'map.ccp4'), '--format', 'ccp4', '--fill', '-1', '--ccp4-stats', 'written', '--json']);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout) as { shape: number[]; measured: number; points: number; files: { format: string; path: string }[]; spaceGroup: string };
    expect(j.shape).toEqual([7, 5, 5]);
    expect(j.measured).toBe(15);
    expect(j.points).toBe(175);
    expect(j.files.map((f) => f.format)).toEqual(['ccp4']);
    expect(readdirSync(out)).toEqual(['map.ccp4']);
    const m = await readCcp4(join(out, 'map.ccp4'));
    expect(m.data[0]).toBe(-1);
    expect(m.header.labels[1]).toBe('160 of 175 points unmeasured, written as -1; stats include fill');
    expect([m.header.dmin, m.header.dmax]).toEqual([-1, 40]);
    expect(m.header.dmean).toBeCloseTo((8 * 10 + 4 * 20 + 2 * 30 + 40 - 160) / 175, 5);
  });

  it('fails with one line and exit 1 on a wrong stage or a missing table, writing nothing', async () => {
    const out = join(root, 'out3');
    mkdirSync(out);
    const stage = await runCli(['export', correctFile, '--out', out]);
    expect(stage.code).toBe(1);
    expect(stage.stderr).toBe(`diffract: error: ${correctFile}, field 'stage': stage 'correct' has no merged map to export (need 'merge' or 'absolute')\n`);
    const table = await runCli(['export', stageFile, '--out', out, '--table', 'bragg']);
    expect(table.code).toBe(1);
    expect(table.stderr).toMatch(/no merged table 'bragg' \(merged tables here: diffuse\)\n$/);
    expect(readdirSync(out)).toEqual([]);
  });

  it('fails with exit 1 on an oversized grid, and a failed rename keeps no output of the run', async () => {
    const out = join(root, 'out4');
    mkdirSync(out);
    const big = await runCli(['export', stageFile, '--out', out, '--max-memory-mb', '0.001']);
    expect(big.code).toBe(1);
    expect(big.stderr).toMatch(/dense grid 7×5×5 .* exceeds .*--max-memory-mb/);
    expect(big.stderr.trim().split('\n')).toHaveLength(1);
    // a directory where the k-slice should go makes the last renames fail: no output survives
    mkdirSync(join(out, 'merged_k0.png'));
    const blocked = await runCli(['export', stageFile, '--out', out]);
    expect(blocked.code).toBe(1);
    expect(blocked.stderr).toBe(`diffract: error: ${join(out, 'merged_k0.png')}: cannot write the file (EISDIR); no output of this run was kept\n`);
    expect(readdirSync(out)).toEqual(['merged_k0.png']);
    expect(readdirSync(join(out, 'merged_k0.png'))).toEqual([]);
  });

  it('parses format lists', () => {
    expect(parseFormats('nxs, MRC,png,nexus')).toEqual(['nexus', 'ccp4', 'png']);
    expect(() => parseFormats(',')).toThrow(/at least one/);
    expect(() => parseFormats('nexus,tiff')).toThrow("unknown format 'tiff' (choose from nexus, ccp4, png)");
  });
});
