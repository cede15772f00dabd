/**
 * `diffract submit --slurm` on a real Slurm (issue 16): the tiny demo config
 * as a 4-task job array plus the combine job, waited for through squeue, and
 * its map.nxs, map.ccp4, PNG slices and report data identical byte for byte
 * to a single-process `diffract run` of the same config.
 *
 * Needs Slurm's commands (`.ci/setup-slurm.sh` installs them and writes a
 * one-node slurm.conf). When no controller answers, the test starts munged,
 * slurmctld and slurmd (`.ci/setup-slurm.sh start`, as root) and stops them
 * at its end. Without `sbatch` it is skipped with one notice, except under
 * CI=true, where it fails.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunSummary } from '../../src/run/runner.ts';
import { runCli } from '../helpers/cli.ts';
import { REPO_ROOT } from '../helpers/paths.ts';
import { differingMaps, readMaps, reportData } from '../helpers/run-results.ts';

const HAVE_SBATCH = spawnSync('sbatch', ['--version'], { stdio: 'ignore' }).status === 0;
const IN_CI = process.env.CI === 'true';
if (!HAVE_SBATCH && !IN_CI) console.warn('[slurm] sbatch not found: the Slurm test is skipped (bash .ci/setup-slurm.sh installs a one-node Slurm)');

const controllerUp = (): boolean => spawnSync('sinfo', ['-h', '-o', '%t'], { encoding: 'utf8' }).stdout?.match(/^(idle|mix|alloc)/m) != null;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** JobState of every job of `id` (an array's tasks each), from the controller (finished jobs stay listed MinJobAge = 600 s). */
function jobStates(id: string): string[] {
  const out = execFileSync('scontrol', ['-o', 'show', 'job', id], { encoding: 'utf8' });
  return out.trim().split('\n').map((l) => /JobState=(\S+)/.exec(l)?.[1] ?? '?');
}

describe.runIf(HAVE_SBATCH || IN_CI)('diffract submit --slurm on a one-node Slurm', () => {
  let root = '';
  let started = false;

  beforeAll(() => {
    expect(HAVE_SBATCH, 'CI=true but sbatch is missing: .ci/run must run .ci/setup-slurm.sh').toBe(true);
    if (!controllerUp()) {
      execFileSync('bash', [join(REPO_ROOT, '.ci', 'setup-slurm.sh'), 'start'], { stdio: 'inherit' });
      started = true;
    }
    root = mkdtempSync(join(tmpdir(), 'diffract-slurm-'));
  }, 120_000);

  afterAll(() => {
    if (started) execFileSync('bash', [join(REPO_ROOT, '.ci', 'setup-slurm.sh'), 'stop'], { stdio: 'inherit' });
    if (root !== '') rmSync(root, { recursive: true, force: true });
  });

  it('a 4-task array plus the combine gives the same bytes as one diffract run', async () => {
    // the tiny demo: its data and config (output '.'), and its single-process run
    const demo = await runCli(['demo', '--size', 'tiny', '--out', root, '-q', '--backend', 'cpu']);
    expect(demo.code, demo.stderr).toBe(0);
    const single = await runCli(['run', 'diffract.yaml', '--json', '-q', '--backend', 'cpu'], { cwd: root });
    expect(single.code, single.stderr).toBe(0);
    expect((JSON.parse(single.stdout) as RunSummary).shards).toBeNull();
    const reference = readMaps(root);
    const referenceReport = reportData(root);
    // the same folder without the run's results: the cluster computes everything again
    for (const f of readdirSync(root)) if (f !== 'data' && f !== 'diffract.yaml') rmSync(join(root, f), { recursive: true, force: true });

    const dry = await runCli(['submit', 'diffract.yaml', '--slurm', '--array', '4', '--dry-run', '--backend', 'cpu'], { cwd: root });
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toContain('#SBATCH --array=0-3');
    expect(dry.stdout).toMatch(/--dependency=afterany:<array job id>/);

    const sub = await runCli(['submit', 'diffract.yaml', '--slurm', '--array', '4', '--json', '--backend', 'cpu'], { cwd: root });
    expect(sub.code, sub.stderr).toBe(0);
    const ids = JSON.parse(sub.stdout) as { arrayJobId: string; combineJobId: string };
    const t0 = Date.now();
    for (;;) {
      const q = execFileSync('squeue', ['-h', '-j', `${ids.arrayJobId},${ids.combineJobId}`, '-o', '%i %T'], { encoding: 'utf8' }).trim();
      if (q === '') break;
      if (Date.now() - t0 > 1_500_000) throw new Error(`the jobs did not finish in 25 minutes:\n${q}`);
      await sleep(2000);
    }
    const logs = join(root, 'slurm');
    const combineLog = join(logs, `combine-${ids.combineJobId}.log`);
    const logText = existsSync(combineLog) ? readFileSync(combineLog, 'utf8') : '(no combine log)';
    expect(jobStates(ids.arrayJobId), logText).toEqual(['COMPLETED', 'COMPLETED', 'COMPLETED', 'COMPLETED']);
    expect(jobStates(ids.combineJobId), logText).toEqual(['COMPLETED']);
    for (let t = 0; t < 4; t++) expect(existsSync(join(logs, `shard-${ids.arrayJobId}_${t}.log`))).toBe(true);

    expect(differingMaps(root, reference)).toEqual([]);
    expect(reportData(root)).toBe(referenceReport);
    const summary = JSON.parse(readFileSync(join(root, 'summary.json'), 'utf8')) as RunSummary;
    expect(summary.shards?.count).toBe(4);
    expect(summary.shards?.tasks.map((t) => [t.shard, t.status, t.slurm?.arrayJobId, t.slurm?.arrayTaskId])).toEqual([0, 1, 2, 3].map((i) => [i, 'done', ids.arrayJobId, String(i)]));
    expect(summary.shards?.tasks.reduce((s, t) => s + t.computed, 0)).toBe(summary.sweeps.reduce((s, w) => s + w.wedges, 0));
    expect(summary.sweeps.every((w) => w.wedgesReused === w.wedges)).toBe(true);
    expect(summary.shards?.tasks.every((t) => t.log === join(logs, `shard-${ids.arrayJobId}_${t.shard}.log`))).toBe(true);
  }, 1_800_000);
});
