/**
 * `diffract run` with a `stills:` config, through the real command in child
 * processes, on the 10 real snase stills (../shared/data/snase/stills.expt:
 * SMV, integrating CCD; Lunus's settings from the data README: trusted window
 * x, y 40–984 px (edge 40), beamstop box x 510–556 × y 473–517, trusted values
 * 1–10000, polarization 0.93; no gain is stated: 1 ADU/photon, pedestal 0):
 *
 * - ndiv 1,1,1 and 3,3,3: the maps (NeXus, CCP4, PNG slices), report.html and
 *   summary.json are written; all 10 shots are used; every shot's scale b lies
 *   within 0.5–2 of the median (the figures are printed); the report has the
 *   stills sections (scale vs p_order, histograms, the shots table);
 * - on the GPU (lavapipe in CI): the same CCP4 map and PNG slices byte for
 *   byte, and the same per-shot scales, rows and masked fractions;
 * - a memory budget of 4 MiB: the merge runs in 4 partitions and writes the
 *   same CCP4 map and slices byte for byte;
 * - resume: a run killed with SIGKILL after its first chunk is on disk, rerun,
 *   reuses the finished chunks (untouched) and gives results identical byte
 *   for byte to the uninterrupted run;
 * - a bad shot (its image missing): with `on_bad_shot: skip` the run finishes,
 *   warns naming the shot, and the summary and the report count and list it as
 *   skipped; with `stop` it exits 1 with one line naming the shot.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { RunSummary } from '../../src/run/runner.ts';
import { runCli } from '../helpers/cli.ts';
import { gpuTestsDisabled } from '../helpers/gpu.ts';
import { REPO_ROOT, sharedData } from '../helpers/paths.ts';

const root = mkdtempSync(join(tmpdir(), 'diffract-stills-run-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const RESULTS = ['map.nxs', 'map.ccp4', 'map_h0.png', 'map_k0.png', 'map_l0.png', 'report.html'];

/** A stills config on `expt` with Lunus's snase settings. */
function config(expt: string, ndiv: number, extra: string[] = []): string {
  return [
    'output: out',
    'stills:',
    `  expt: ${expt}`,
    '  trusted_range: [1, 10000]',
    '  polarization_fraction: 0.93',
    '  chunk_shots: 3',
    ...extra,
    'detector: {kind: integrating, gain: 1, pedestal: 0}',
    'mask:',
    '  edge: 40',
    '  beamstop: [{rect: [510, 473, 557, 518]}]',
    '  trusted_range: inclusive',
    'grid:',
    `  ndiv: [${ndiv}, ${ndiv}, ${ndiv}]`,
    '',
  ].join('\n');
}

function run(dir: string, args: string[] = []) {
  return runCli(['run', 'run.yaml', '--json', '--backend', 'cpu', ...args], { cwd: dir });
}

function chunkFiles(out: string): Map<string, number> {
  const dir = join(out, 'stages', 'stills', 'chunks');
  if (!existsSync(dir)) return new Map();
  return new Map(readdirSync(dir).filter((f) => f.endsWith('.h5')).map((f) => [f, statSync(join(dir, f)).mtimeMs]));
}

function snapshot(dir: string): Map<string, Buffer> {
  return new Map(RESULTS.map((f) => [f, readFileSync(join(dir, f))]));
}

interface LogLine {
  level: string;
  msg: string;
  reusedChunks?: number;
  skippedShot?: number;
}

const logLines = (stderr: string): LogLine[] =>
  stderr
    .trim()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as LogLine);

/** The per-shot scales relative to their median, checked to lie in 0.5–2, and printed. */
function checkScales(s: RunSummary, label: string): number[] {
  const st = s.stills!;
  const b = st.perShot.map((r) => r.b);
  const sorted = [...b].sort((x, y) => x - y);
  const median = 0.5 * (sorted[4]! + sorted[5]!);
  const rel = b.map((v) => v / median);
  console.log(`[snase stills ${label}] b per shot: ${b.map((v) => v.toFixed(4)).join(', ')}; b / median: ${rel.map((v) => v.toFixed(3)).join(', ')}; CC½ ${s.cchalf.toFixed(4)}, ${s.voxels} voxels from ${s.observations} rows`);
  for (const [i, v] of rel.entries()) {
    expect(v, `shot ${i}`).toBeGreaterThan(0.5);
    expect(v, `shot ${i}`).toBeLessThan(2);
  }
  expect(st.scaleRange?.[0]).toBeCloseTo(Math.min(...rel), 10);
  expect(st.scaleRange?.[1]).toBeCloseTo(Math.max(...rel), 10);
  return rel;
}

describe('diffract run: the 10 snase stills', () => {
  const dir1 = join(root, 'ndiv1');
  let reference: Map<string, Buffer>;

  it('ndiv 1,1,1: maps, report and summary; scales within 0.5–2 of their median', async () => {
    mkdirSync(dir1, { recursive: true });
    writeFileSync(join(dir1, 'run.yaml'), config(sharedData('snase', 'stills.expt'), 1));
    const r = await run(dir1);
    expect(r.code, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout) as RunSummary & { peakRssBytes: number };
    const out = join(dir1, 'out');
    for (const f of RESULTS) expect(existsSync(join(out, f)), f).toBe(true);
    expect(JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')).stills.used).toBe(10);
    expect(s.stills).toMatchObject({ shots: 10, used: 10, rejected: 0, skipped: 0, chunks: 4, chunksReused: 0, pOrder: 'shot index', bragg: null });
    expect(s.sweeps).toEqual([]);
    expect(s.voxels).toBeGreaterThan(1000);
    expect(s.cchalf).toBeGreaterThan(0.9);
    for (const row of s.stills!.perShot) {
      expect(row.maskedFraction).toBeGreaterThan(0.01);
      expect(row.maskedFraction).toBeLessThanOrEqual(0.05);
      expect(row.rows).toBeGreaterThan(1000);
    }
    checkScales(s, 'ndiv 1,1,1');
    // progress: one line per chunk
    const chunkLines = logLines(r.stderr).filter((l) => /^extract: chunk \d+ of 4 /.test(l.msg));
    expect(chunkLines).toHaveLength(4);
    const html = readFileSync(join(out, 'report.html'), 'utf8');
    for (const id of ['stills-scale', 'stills-histograms', 'stills-shots', 'slices']) expect(html).toContain(`id="${id}"`);
    expect(html).toContain('Scale vs p_order');
    expect(html).not.toContain('id="filter"');
    expect((html.match(/<td>snase-still-\d\d<\/td><td>used<\/td>/g) ?? []).length).toBe(10);
    reference = snapshot(out);
  }, 600_000);

  it('resumes after SIGKILL with chunks on disk: the chunks are reused and the results identical byte for byte', async () => {
    renameSync(join(dir1, 'out'), join(dir1, 'out-complete'));
    const child = spawn(process.execPath, [join(REPO_ROOT, 'bin', 'diffract.js'), 'run', 'run.yaml', '--json', '--backend', 'cpu'], { cwd: dir1, stdio: ['ignore', 'ignore', 'pipe'] });
    let log = '';
    await new Promise<void>((resolve, reject) => {
      child.stderr.on('data', (d: Buffer) => {
        log += d.toString();
        const written = (log.match(/extract: chunk \d+ of 4 /g) ?? []).length;
        if (written >= 1 && child.exitCode === null && !child.killed) child.kill('SIGKILL');
      });
      child.on('exit', (_code, signal) => (signal === 'SIGKILL' ? resolve() : reject(new Error(`the run ended before it was killed:\n${log}`))));
    });
    const out = join(dir1, 'out');
    const afterKill = chunkFiles(out);
    expect(afterKill.size).toBeGreaterThanOrEqual(1);
    expect(afterKill.size).toBeLessThan(4);
    expect(existsSync(join(out, 'map.nxs'))).toBe(false);

    const r = await run(dir1);
    expect(r.code, r.stderr).toBe(0);
    const lines = logLines(r.stderr);
    expect(lines.find((l) => l.reusedChunks !== undefined)?.reusedChunks).toBe(afterKill.size);
    expect(lines.filter((l) => /^extract: chunk \d+ of 4 /.test(l.msg))).toHaveLength(4 - afterKill.size);
    const after = chunkFiles(out);
    for (const [f, mtime] of afterKill) expect(after.get(f), f).toBe(mtime);
    const s = JSON.parse(r.stdout) as RunSummary;
    expect(s.stills?.chunksReused).toBe(afterKill.size);
    const now = snapshot(out);
    expect(RESULTS.filter((f) => !now.get(f)!.equals(reference.get(f)!))).toEqual([]);

    // a rerun with nothing changed reuses every stage
    const again = await run(dir1);
    expect(again.code, again.stderr).toBe(0);
    expect((JSON.parse(again.stdout) as RunSummary).stages.filter((t) => t.stage !== 'import').every((t) => t.skipped)).toBe(true);
  }, 600_000);

  it.skipIf(gpuTestsDisabled())('on the GPU: the same map (CCP4, PNG slices byte for byte) and the same per-shot scales and rows', async () => {
    const dir = join(root, 'gpu');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'run.yaml'), config(sharedData('snase', 'stills.expt'), 1));
    const r = await runCli(['run', 'run.yaml', '--json', '--backend', 'gpu'], { cwd: dir });
    expect(r.code, r.stderr).toBe(0);
    const gpu = JSON.parse(r.stdout) as RunSummary;
    const cpu = JSON.parse(readFileSync(join(dir1, 'out', 'summary.json'), 'utf8')) as RunSummary;
    expect(gpu.backend).toBe('gpu');
    expect(gpu.stills!.perShot.map((x) => [x.b, x.rows, x.maskedFraction])).toEqual(cpu.stills!.perShot.map((x) => [x.b, x.rows, x.maskedFraction]));
    // map.nxs and report.html name the backend and adapter; the map values and slices do not
    for (const f of ['map.ccp4', 'map_h0.png', 'map_k0.png', 'map_l0.png']) expect(readFileSync(join(dir, 'out', f)).equals(reference.get(f)!), f).toBe(true);
  }, 600_000);

  it('a small memory budget (--memory-mb 4) merges in partitions and gives the same CCP4 map and slices byte for byte', async () => {
    const dir = join(root, 'budget');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'run.yaml'), config(sharedData('snase', 'stills.expt'), 1));
    const r = await run(dir, ['--memory-mb', '4']);
    expect(r.code, r.stderr).toBe(0);
    const merged = logLines(r.stderr).find((l) => /^merge: diffuse: /.test(l.msg));
    // 64040 rows × 256 bytes per row in a 4 MiB budget: 4 partitions
    expect(merged?.msg).toMatch(/from 64040 rows in 4 partition\(s\)/);
    // (map.nxs also records how the merge ran: the partitions)
    for (const f of ['map.ccp4', 'map_h0.png', 'map_k0.png', 'map_l0.png']) expect(readFileSync(join(dir, 'out', f)).equals(reference.get(f)!), f).toBe(true);
  }, 600_000);

  it('ndiv 3,3,3: maps, report and summary; scales within 0.5–2 of their median', async () => {
    const dir = join(root, 'ndiv3');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'run.yaml'), config(sharedData('snase', 'stills.expt'), 3));
    const r = await run(dir);
    expect(r.code, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout) as RunSummary;
    for (const f of RESULTS) expect(existsSync(join(dir, 'out', f)), f).toBe(true);
    expect(s.stills).toMatchObject({ shots: 10, used: 10, rejected: 0, skipped: 0 });
    expect(s.cchalf).toBeGreaterThan(0.5);
    checkScales(s, 'ndiv 3,3,3');
    expect(readFileSync(join(dir, 'out', 'report.html'), 'utf8')).toContain('3 × 3 × 3');
  }, 600_000);
});

describe('diffract run: a bad still', () => {
  /** An .expt of the first 4 snase shots, their images by absolute path, shot 1's image missing. */
  function badExpt(dir: string): string {
    const doc = JSON.parse(readFileSync(sharedData('snase', 'stills.expt'), 'utf8')) as { experiment: unknown[]; imageset: { images: string[] }[] };
    doc.experiment = doc.experiment.slice(0, 4);
    doc.imageset.forEach((s, i) => {
      s.images = i === 1 ? [join(dir, 'images', 'gone_00002.img')] : s.images.map((p) => sharedData('snase', p));
    });
    const path = join(dir, 'four.expt');
    writeFileSync(path, JSON.stringify(doc));
    return path;
  }

  it('on_bad_shot: skip finishes, warns naming the shot, and counts it in the summary and the report', async () => {
    const dir = join(root, 'skip');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'run.yaml'), config(badExpt(dir), 1, ['  on_bad_shot: skip', '  scaling: {min_shot_rows: 10}']));
    const r = await run(dir);
    expect(r.code, r.stderr).toBe(0);
    // (the other warning: the SMV header names no sensor material, so no efficiency correction)
    const warns = logLines(r.stderr).filter((l) => l.level === 'warn' && !/sensor material/.test(l.msg));
    expect(warns).toHaveLength(1);
    expect(warns[0]?.skippedShot).toBe(1);
    expect(warns[0]?.msg).toMatch(/^extract: skipping shot 1 \('snase-still-02'\): .*gone_00002\.img/);
    const s = JSON.parse(readFileSync(join(dir, 'out', 'summary.json'), 'utf8')) as RunSummary;
    expect(s.stills).toMatchObject({ shots: 4, used: 3, skipped: 1, rejected: 0 });
    const row = s.stills!.perShot[1]!;
    expect(row).toMatchObject({ shot: 1, identifier: 'snase-still-02', status: 'skipped', rows: 0 });
    expect(row.reason).toContain('gone_00002.img');
    const html = readFileSync(join(dir, 'out', 'report.html'), 'utf8');
    expect(html).toMatch(/<td>snase-still-02<\/td><td>skipped<\/td>/);
    expect(html).toContain('<th>shots skipped</th><td class="num">1</td>');

    // a rerun reuses everything, the skipped shot included
    const again = await run(dir);
    expect(again.code, again.stderr).toBe(0);
    const s2 = JSON.parse(again.stdout) as RunSummary;
    expect(s2.stages.filter((t) => t.stage !== 'import').every((t) => t.skipped)).toBe(true);
    expect(s2.stills).toMatchObject({ used: 3, skipped: 1 });
    // switched to on_bad_shot: stop, the chunk that skipped the shot is recomputed and the bad shot stops the run
    writeFileSync(join(dir, 'run.yaml'), config(join(dir, 'four.expt'), 1, ['  scaling: {min_shot_rows: 10}']));
    const stop = await runCli(['run', 'run.yaml', '--backend', 'cpu', '--quiet'], { cwd: dir });
    expect(stop.code).toBe(1);
    expect(stop.stderr).toMatch(/diffract: error: .*gone_00002\.img.*shot 1/);
  }, 600_000);

  it('on_bad_shot: stop (the default) exits 1 with one line naming the shot', async () => {
    const dir = join(root, 'stop');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'run.yaml'), config(badExpt(dir), 1));
    const r = await runCli(['run', 'run.yaml', '--backend', 'cpu', '--quiet'], { cwd: dir });
    expect(r.code).toBe(1);
    const lines = r.stderr.trim().split('\n').filter((l) => !/^diffract: warning: .*sensor material/.test(l));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^diffract: error: .*gone_00002\.img.*shot 1.*snase-still-02/);
    expect(existsSync(join(dir, 'out', 'map.nxs'))).toBe(false);
  }, 600_000);
});
