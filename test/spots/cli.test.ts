/** `diffract spots match|spread` end to end, and its refusals. */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { decode, encode } from '@msgpack/msgpack';
import { runCli } from '../helpers/cli.ts';
import { sharedData } from '../helpers/paths.ts';

const work = mkdtempSync(join(tmpdir(), 'diffract-spots-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const scaledExpt = (): string => sharedData('l-cysteine', 'scaled', 'scaled_30.expt');
const scaledRefl = (): string => sharedData('l-cysteine', 'scaled', 'scaled_30.refl');

/** A user error: exit 1, exactly one line on stderr, no stack trace, and no output folder. */
function expectRefusal(r: { code: number; stdout: string; stderr: string }, out: string, ...patterns: RegExp[]): void {
  expect(r.code).toBe(1);
  const lines = r.stderr.trimEnd().split('\n');
  expect(lines.length).toBe(1);
  expect(lines[0]).toMatch(/^diffract: error: /);
  expect(r.stderr).not.toMatch(/\n\s+at |internal error/);
  for (const p of patterns) expect(lines[0]).toMatch(p);
  expect(existsSync(out)).toBe(false);
}

describe('diffract spots spread / match on real data', () => {
  it('spread writes every table and figure, summary.json last, and says which intensities it used', async () => {
    const out = join(work, 'spread');
    const r = await runCli(['spots', 'spread', scaledExpt(), scaledRefl(), '--out', out, '--min-shared', '2', '--json', '-q']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const summary = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(summary.intensity).toBe('scale');
    expect(summary.intensityColumns).toEqual({ value: 'intensity.scale.value', variance: 'intensity.scale.variance' });
    expect(summary.pooledDispersion as number).toBeGreaterThan(1);
    const files = readdirSync(out).sort();
    for (const f of ['summary.json', 'reflections.csv', 'reflections.json', 'by-intensity.csv', 'by-resolution.csv', 'by-image-total.csv', 'trimmed.csv', 'zone-axes.csv', 'pair-stats.csv', 'pairs.csv', 'pair-histogram.csv',
      'dispersion-vs-intensity.svg', 'dispersion-vs-intensity.png', 'pair-scatter.svg', 'pair-scatter.png', 'pair-similarity.svg', 'pair-similarity.png']) {
      expect(files).toContain(f);
    }
    expect(files.some((f) => f.endsWith('.tmp'))).toBe(false);
    expect((summary.files as string[]).length).toBe(files.length);
    const onDisk = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')) as Record<string, unknown>;
    expect(onDisk.intensity).toBe('scale');
    expect(readFileSync(join(out, 'by-intensity.csv'), 'utf8').split('\n')[1]).toMatch(/^scale,/);
  });

  it('spread --intensity sum reports the unscaled column; match (files from --list) ranks pairs', async () => {
    const r = await runCli(['spots', 'spread', scaledExpt(), scaledRefl(), '--intensity', 'sum', '--json', '-q']);
    expect(r.code).toBe(0);
    expect((JSON.parse(r.stdout) as { intensity: string }).intensity).toBe('sum');
    const list = join(work, 'files.txt');
    writeFileSync(list, `# one pair per line\n${scaledExpt()} ${scaledRefl()}\n`);
    const m = await runCli(['spots', 'match', '--list', list, '--min-shared', '2']);
    expect(m.code).toBe(0);
    expect(m.stdout).toMatch(/1700 images/);
    expect(m.stdout).toMatch(/#1 scaled_30 image \d+ ~ scaled_30 image \d+: 2 shared/);
  });
});

type ReflData = Record<string, [string, [number, Uint8Array]]>;
const column = (data: ReflData, name: string): Uint8Array => (data[name] as [string, [number, Uint8Array]])[1][1];
function setColumn(data: ReflData, name: string, bytes: Uint8Array): void {
  (data[name] as [string, [number, Uint8Array]])[1][1] = bytes;
}

/** l-cysteine/11_integrated.refl (msgpack) with its columns edited, written into the work folder. */
function editedIntegrated(name: string, edit: (data: ReflData) => void): string {
  const raw = decode(readFileSync(sharedData('l-cysteine', '11_integrated.refl'))) as [string, number, { data: ReflData }];
  edit(raw[2].data);
  const path = join(work, name);
  writeFileSync(path, encode(raw));
  return path;
}

describe('diffract spots: refusals', () => {
  it('corrupt msgpack', async () => {
    const bad = join(work, 'corrupt.refl');
    writeFileSync(bad, new Uint8Array([0x93, 0xbb, 0x64, 0x69, 0x61, 0x6c, 0x73]));
    const out = join(work, 'out-corrupt');
    expectRefusal(await runCli(['spots', 'spread', scaledExpt(), bad, '--out', out]), out, /corrupt\.refl/, /msgpack/);
  });

  it('a missing column', async () => {
    const raw = decode(readFileSync(sharedData('l-cysteine', '11_integrated.refl'))) as [string, number, { data: Record<string, unknown> }];
    delete raw[2].data.miller_index;
    const refl = join(work, '11_integrated.refl');
    writeFileSync(refl, encode(raw));
    const out = join(work, 'out-missing');
    expectRefusal(await runCli(['spots', 'match', sharedData('l-cysteine', '11_integrated.expt'), refl, '--out', out]), out, /11_integrated\.refl/, /field 'miller_index'/);
  });

  it('.expt and .refl of different experiments', async () => {
    const out = join(work, 'out-mismatch');
    expectRefusal(
      await runCli(['spots', 'spread', sharedData('l-cysteine', '11_integrated.expt'), scaledRefl(), '--out', out]),
      out,
      /scaled_30\.refl, field 'id'/,
      /identifier '2'/,
      /11_integrated\.expt/,
    );
  });

  it('unscaled data without --intensity: the choice is never made silently', async () => {
    const out = join(work, 'out-nointensity');
    expectRefusal(
      await runCli(['spots', 'spread', sharedData('l-cysteine', '11_integrated.expt'), sharedData('l-cysteine', '11_integrated.refl'), '--out', out]),
      out,
      /field 'intensity\.scale\.value'/,
      /--intensity/,
      /prf, sum/,
    );
  });

  it('a .refl whose ids name no experiment (all −7): one line naming the file and the id column', async () => {
    const refl = editedIntegrated('ids-7.refl', (data) => {
      const id = new Int32Array(Uint8Array.from(column(data, 'id')).buffer);
      id.fill(-7);
      setColumn(data, 'id', new Uint8Array(id.buffer));
    });
    const out = join(work, 'out-ids');
    expectRefusal(await runCli(['spots', 'spread', sharedData('l-cysteine', '11_integrated.expt'), refl, '--intensity', 'prf', '--out', out]), out, /ids-7\.refl, field 'id'/, /ids found: -7/);
  });

  it('rows with NaN intensity or xyz are counted in the summary with one warning line', async () => {
    const refl = editedIntegrated('nan-rows.refl', (data) => {
      const I = new Float64Array(Uint8Array.from(column(data, 'intensity.prf.value')).buffer);
      I.fill(NaN, 0, 40);
      setColumn(data, 'intensity.prf.value', new Uint8Array(I.buffer));
      const xyz = new Float64Array(Uint8Array.from(column(data, 'xyzobs.px.value')).buffer);
      const cal = new Float64Array(Uint8Array.from(column(data, 'xyzcal.px')).buffer);
      xyz.fill(NaN, 3 * 40);
      cal.fill(NaN, 3 * 40);
      setColumn(data, 'xyzobs.px.value', new Uint8Array(xyz.buffer));
      setColumn(data, 'xyzcal.px', new Uint8Array(cal.buffer));
    });
    const r = await runCli(['spots', 'spread', sharedData('l-cysteine', '11_integrated.expt'), refl, '--intensity', 'prf', '--json', '-q']);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^diffract: warning: left out \d+ rows with a NaN\/Infinity intensity or variance; \d+ rows with a NaN\/Infinity position/);
    const summary = JSON.parse(r.stdout) as { observations: number; rowCounts: Array<Record<string, number>> };
    const c = summary.rowCounts[0]!;
    expect(c.rows).toBe(85);
    expect(c.nonFiniteIntensity).toBeGreaterThan(0);
    expect(c.nonFinitePosition).toBeGreaterThan(0);
    expect(['kept', 'nonFiniteIntensity', 'nonFinitePosition', 'badIntensity', 'unindexed', 'flagged', 'outsideScan'].reduce((a, k) => a + (c[k] ?? NaN), 0)).toBe(85);
    expect(summary.observations).toBe(c.kept);
  });

  it('rows with a variance ≤ 0 that no flag explains are counted with one warning line, as NaN rows are', async () => {
    const refl = editedIntegrated('zero-variance.refl', (data) => {
      const V = new Float64Array(Uint8Array.from(column(data, 'intensity.prf.variance')).buffer);
      for (let i = 0; i < V.length; i += 2) V[i] = i % 4 === 0 ? 0 : -1;
      setColumn(data, 'intensity.prf.variance', new Uint8Array(V.buffer));
    });
    const r = await runCli(['spots', 'spread', sharedData('l-cysteine', '11_integrated.expt'), refl, '--intensity', 'prf', '--json', '-q']);
    expect(r.code, r.stderr).toBe(0);
    const summary = JSON.parse(r.stdout) as { observations: number; rowCounts: Array<Record<string, number>> };
    const c = summary.rowCounts[0]!;
    // 21 of the 85 rows are integrated by profile fitting and unflagged; the edit hits some of them, the others stay flagged
    expect(c.badIntensity).toBeGreaterThan(0);
    expect(c.flagged).toBe(64);
    expect(c.kept).toBe(21 - c.badIntensity!);
    expect(r.stderr).toBe(`diffract: warning: left out ${c.badIntensity} rows with a variance ≤ 0 (counts per dataset in the summary's rowCounts)\n`);
    expect(summary.observations).toBe(c.kept);
  });

  it('files not in pairs, and a bad option value', async () => {
    const out = join(work, 'out-usage');
    expectRefusal(await runCli(['spots', 'match', scaledRefl(), '--out', out]), out, /pairs/);
    expectRefusal(await runCli(['spots', 'spread', scaledExpt(), scaledRefl(), '--k', 'x', '--out', out]), out, /--k/);
  });
});
