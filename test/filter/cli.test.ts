/**
 * `diffract integrate` and `diffract filter` end to end on a small simulated
 * series written to disk: the HDF5 tables (docs/tables.md) read back and add
 * up; bad input gives one line on stderr, exit status 1 and no output file.
 */
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pixelCorrections } from '../../src/corrections/pixel-corrections.ts';
import { loadExperiments, pickExperiment } from '../../src/geometry/load.ts';
import { readVoxelTables, VOXEL_TABLES_FORMAT } from '../../src/io/voxel-tables.ts';
import { simulate } from '../../src/sim/simulate.ts';
import { correctionOptions, INTEGRATE_DEFAULTS } from '../../src/stages/integrate.ts';
import { runCli, runInProcess, type CliResult } from '../helpers/cli.ts';
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


function sum(a: ArrayLike<number> | undefined): number {
  let s = 0;
  for (let i = 0; i < (a?.length ?? 0); i++) s += a![i]!;
  return s;
}

function expectOneLineError(r: { code: number; stderr: string; stdout: string }, pattern: RegExp): void {
  expect(r.code).toBe(1);
  const lines = r.stderr.split('\n').filter((l) => l.trim() !== '');
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
    // per-subvoxel pixel and weight sums (κ, d³s from pixelCorrections by default)
    for (const col of ['x_sum', 'y_sum', 'panel_sum', 'kappa_sum', 'd3s_sum']) for (const t of [inc, exc]) expect(t.has(col)).toBe(true);
    expect(f.attrs.corrections).toMatch(/^kappa = solid angle \(sr\) × polarization × detector efficiency × air attenuation \(path fraction 1\)/);
    const kq = f.attrs.kappa_quantum as number;
    const dq = f.attrs.d3s_quantum as number;
    const exp = pickExperiment(await loadExperiments(expt), 0);
    // κ as integrate makes it by default (air over the whole path included)
    const corr = pixelCorrections(exp, correctionOptions(INTEGRATE_DEFAULTS.corrections));
    let kmax = 0;
    let dmax = 0;
    let kmin = Infinity;
    for (let i = 0; i < corr.nPixels; i++) {
      kmax = Math.max(kmax, corr.kappa[i]!);
      kmin = Math.min(kmin, corr.kappa[i]!);
      dmax = Math.max(dmax, corr.d3s[i]!);
    }
    // the quanta come from the usable pixels' maxima (≤ the maxima over every pixel)
    expect(kq).toBeGreaterThan(0.9 * kmax / 2 ** 20);
    expect(kq).toBeLessThanOrEqual(kmax / 2 ** 20);
    expect(dq).toBeGreaterThan(0.9 * dmax / 2 ** 20);
    const W = exp.detector.panels[0]!.imageSize[0];
    for (const t of [inc, exc]) {
      const px = t.get('pixels')!;
      for (let i = 0; i < px.length; i++) {
        const p = px[i]!;
        const k = t.get('kappa_sum')![i]!;
        // a mean of κ over the subvoxel's pixel·frames, Σq · quantum with Σq an integer
        expect(k / p).toBeGreaterThanOrEqual(kmin * (1 - 1e-5));
        expect(k / p).toBeLessThanOrEqual(kmax * (1 + 1e-5));
        expect(Math.abs(k / kq - Math.round(k / kq))).toBeLessThan(1e-3);
        expect(t.get('d3s_sum')![i]! / p).toBeLessThanOrEqual(dmax * (1 + 1e-5));
        const mx = t.get('x_sum')![i]! / p + 0.5;
        expect(mx > 0 && mx < W).toBe(true);
        expect(t.get('panel_sum')![i]).toBe(0);
      }
    }
    // the CPU path without the weight channels: the same x, y sums, no κ / d³s columns
    const plain = join(dir, 'plain.h5');
    const rc = await runInProcess(['--backend', 'cpu', '-q', 'integrate', expt, '--out', plain, '--wedge-frames', '2', '--beamstop-circle', '200,220,6', '--no-corrections']);
    expect(rc.code).toBe(0);
    const g = await readVoxelTables(plain);
    expect(g.attrs.corrections).toMatch(/^none/);
    expect(g.attrs.kappa_quantum).toBeUndefined();
    const ginc = g.tables.get('included')!;
    expect(ginc.has('kappa_sum') || ginc.has('d3s_sum')).toBe(false);
    for (const col of ['x_sum', 'y_sum', 'panel_sum', 'pixels']) expect(Array.from(ginc.get(col)!)).toEqual(Array.from(inc.get(col)!));
    console.log(
      `[cli] integrate on ${backend}: ${inc.get('counts')!.length} included and ${exc.get('counts')!.length} excluded subvoxels in ${wed.get('wedge')!.length} wedges; ` +
        `counts ${sum(inc.get('counts'))} + ${sum(exc.get('counts'))} + masked ${sum(wed.get('masked_sum'))} = Σ frames ${sum(wed.get('frame_sum'))}`,
    );
  });

  it('filter writes every occupied subvoxel with λ, D, ΔD and the mask', async () => {
    const out = join(dir, 'filtered.h5');
    const r = await runInProcess(['--backend', 'cpu', '-q', 'filter', expt, '--out', out, '--wedge-frames', '2', '--no-polarization', '--no-efficiency', '--air-path', '0.5']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/wrote /);
    const f = await readVoxelTables(out);
    const vox = f.tables.get('voxels')!;
    const wed = f.tables.get('wedges')!;
    // κ = solid angle × air attenuation only
    expect(f.attrs.corrections).toMatch(/^kappa = solid angle \(sr\) × air attenuation \(path fraction 0\.5\) per pixel/);
    const corr = pixelCorrections(pickExperiment(await loadExperiments(expt), 0), { polarization: false, efficiency: false, air: 0.5 });
    const kmax = corr.kappa.reduce((m, x) => Math.max(m, x), 0);
    expect(f.attrs.kappa_quantum).toBeLessThanOrEqual(kmax / 2 ** 20);
    expect(f.attrs.kappa_quantum).toBeGreaterThan((0.9 * kmax) / 2 ** 20);
    for (const col of ['x_sum', 'y_sum', 'panel_sum', 'kappa_sum', 'd3s_sum']) expect(vox.get(col)!.length).toBe(sum(wed.get('occupied')));
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
    expectOneLineError(await runInProcess(['--backend', 'cpu', 'integrate', expt, '--out', out, '--air-path', '1.5']), /--air-path must be a fraction 0…1/);
    noOutput(out);
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
