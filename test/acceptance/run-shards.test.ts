/**
 * `diffract run --shard I/N` (issue 16), through the real command in child
 * processes, on two sweeps of 10 frames in wedges of 3 (8 units of 3, 3, 3
 * and 1 frames):
 *
 * - three shards run at the same time in one output folder, then the combine
 *   (`--require-shards`), give map.nxs, map.ccp4 and the PNG slices identical
 *   byte for byte to one unsharded run, and report.html identical but for its
 *   row on the shard tasks;
 * - a combine with a shard missing and another killed mid-unit names the
 *   missing units and both shards and exits 1; the killed shard rerun, and the
 *   missing one run, the combine gives the same bytes and says the shard was
 *   retried.
 */
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunSummary } from '../../src/run/runner.ts';
import type { ShardTaskRecord } from '../../src/run/shard-records.ts';
import { assignShards } from '../../src/run/shards.ts';
import { runCli } from '../helpers/cli.ts';
import { REPO_ROOT } from '../helpers/paths.ts';
import { differingMaps, readMaps, reportData, smallRunFolder } from '../helpers/run-results.ts';

const UNITS = ['s1', 's2'].flatMap((s) => [3, 3, 3, 1].map((frames, i) => ({ id: `${s}/w000${i}`, frames })));

const CONFIG = [
  'output: out',
  'sweeps:',
  '  - {name: s1, expt: data/sim.expt}',
  '  - {name: s2, expt: data/sim.expt}',
  'grid:',
  '  wedge_frames: 3',
  'filter:',
  '  max_count: 50',
  'absolute:',
  '  composition: C1650 H5642 N450 O2021 S12',
  '',
].join('\n');

describe('diffract run --shard: shards in one folder, then the combine', () => {
  let root = '';
  let reference = new Map<string, Buffer>();
  let referenceReport = '';

  const cli = (args: string[]) => runCli([...args, '--backend', 'cpu'], { cwd: root });
  const differing = (dir: string): string[] => differingMaps(dir, reference);

  beforeAll(async () => {
    root = await smallRunFolder('diffract-shards-', 5, 10, CONFIG);
    const r = await cli(['run', 'run.yaml', '--json', '-q']);
    expect(r.code, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout) as RunSummary;
    expect(s.sweeps.map((w) => w.wedges)).toEqual([4, 4]);
    expect(s.shards).toBeNull();
    reference = readMaps(join(root, 'out'));
    referenceReport = reportData(join(root, 'out'));
    expect(referenceReport).not.toContain('shard tasks');
    renameSync(join(root, 'out'), join(root, 'out-single'));
  }, 600_000);

  afterAll(() => {
    if (root !== '') rmSync(root, { recursive: true, force: true });
  });

  it('three shards at the same time, then the combine: maps identical byte for byte to one run', async () => {
    const shards = await Promise.all([0, 1, 2].map((i) => cli(['run', 'run.yaml', '--shard', `${i}/3`, '--json'])));
    const expected = assignShards(UNITS, 3);
    shards.forEach((r, i) => {
      expect(r.code, r.stderr).toBe(0);
      const rec = JSON.parse(r.stdout) as ShardTaskRecord;
      expect(rec).toMatchObject({ shard: i, count: 3, status: 'done', attempt: 1, units: expected[i]!.length, computed: expected[i]!.length, reused: 0 });
      expect(rec.frames).toBe(expected[i]!.reduce((s, id) => s + UNITS.find((u) => u.id === id)!.frames, 0));
      // a shard stops after the per-unit stages
      expect(r.stderr).not.toMatch(/correct\.s1: running/);
    });
    // every wedge file once, no temporaries left
    const wedges = ['s1', 's2'].flatMap((s) => readdirSync(join(root, 'out', 'stages', s, 'wedges')));
    expect(wedges.filter((f) => f.endsWith('.h5'))).toHaveLength(8);
    expect(wedges.filter((f) => f.endsWith('.tmp'))).toEqual([]);
    expect(readdirSync(join(root, 'out')).includes('map.nxs')).toBe(false);

    const c = await cli(['run', 'run.yaml', '--require-shards', '--json']);
    expect(c.code, c.stderr).toBe(0);
    expect(c.stderr).not.toMatch(/ written"/); // nothing integrated by the combine
    const s = JSON.parse(c.stdout) as RunSummary;
    expect(s.sweeps.map((w) => w.wedgesReused)).toEqual([4, 4]);
    expect(s.shards?.count).toBe(3);
    expect(s.shards?.tasks.map((t) => [t.shard, t.status])).toEqual([[0, 'done'], [1, 'done'], [2, 'done']]);
    expect(s.shards?.retried).toEqual([]);
    expect(differing(join(root, 'out'))).toEqual([]);
    expect(readFileSync(join(root, 'out', 'report.html'), 'utf8')).toMatch(/shard tasks.*3 of 3 task\(s\) on /);
    expect(reportData(join(root, 'out'))).toBe(referenceReport);
    renameSync(join(root, 'out'), join(root, 'out-concurrent'));
  }, 600_000);

  it('a shard killed mid-unit and one missing: the combine names their units and exits 1; after the reruns, identical bytes', async () => {
    const expected = assignShards(UNITS, 3);
    const last = await cli(['run', 'run.yaml', '--shard', '2/3', '-q']);
    expect(last.code, last.stderr).toBe(0);
    // shard 0: killed as soon as its first wedge is written (the next one is under way)
    const child = spawn(process.execPath, [join(REPO_ROOT, 'bin', 'diffract.js'), 'run', 'run.yaml', '--shard', '0/3', '--json', '--backend', 'cpu'], { cwd: root, stdio: ['ignore', 'ignore', 'pipe'] });
    let log = '';
    await new Promise<void>((resolve, reject) => {
      child.stderr.on('data', (d: Buffer) => {
        log += d.toString();
        if (/wedge \d+ \(frames [^)]*\) written/.test(log) && child.exitCode === null && !child.killed) child.kill('SIGKILL');
      });
      child.on('exit', (_code, signal) => (signal === 'SIGKILL' ? resolve() : reject(new Error(`shard 0 ended before it was killed:\n${log}`))));
    });

    const c = await cli(['run', 'run.yaml', '--require-shards', '-q']);
    expect(c.code).toBe(1);
    const lines = c.stderr.trim().split('\n');
    expect(lines, c.stderr).toHaveLength(1);
    const missing = [...expected[0]!.slice(1), ...expected[1]!];
    expect(lines[0]).toContain(`${missing.length} of 8 unit(s) were not computed by the shards: `);
    for (const id of missing) expect(lines[0]).toContain(id);
    expect(lines[0]).toMatch(/shard 0 of 3 \(started on .* never finished: killed or still running\)/);
    expect(lines[0]).toMatch(/shard 1 of 3 \(no record: never started/);
    expect(readdirSync(join(root, 'out')).includes('map.nxs')).toBe(false);

    const again = await cli(['run', 'run.yaml', '--shard', '0/3', '--json']);
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout) as ShardTaskRecord).toMatchObject({ attempt: 2, reused: 1, computed: expected[0]!.length - 1 });
    expect((await cli(['run', 'run.yaml', '--shard', '1/3', '-q'])).code).toBe(0);
    const done = await cli(['run', 'run.yaml', '--require-shards', '--json']);
    expect(done.code, done.stderr).toBe(0);
    const s = JSON.parse(done.stdout) as RunSummary;
    expect(s.shards?.retried).toEqual([0]);
    expect(differing(join(root, 'out'))).toEqual([]);
    expect(reportData(join(root, 'out'))).toBe(referenceReport);
  }, 600_000);
});
