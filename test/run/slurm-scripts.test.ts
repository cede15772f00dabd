/**
 * The scripts of `diffract submit --slurm` (src/run/slurm.ts), run by bash
 * with the environment Slurm gives an array task, `node` replaced by `echo`:
 * task k of an array starting at m runs `--shard (k−m)/N`; the combine runs
 * `--require-shards` and knows where the tasks' logs are. Also: which
 * temporaries a starting run removes (src/run/checkpoint.ts), since shards on
 * several hosts write into one folder.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { hostTag, tempFileOwner, tempPathFor } from '../../src/io/atomic-file.ts';
import { sweepTemporaries } from '../../src/run/checkpoint.ts';
import { combineScript, sbatchCommands, shardScript, type SlurmJob, type SlurmSettings } from '../../src/run/slurm.ts';

const dir = mkdtempSync(join(tmpdir(), 'diffract-slurm-scripts-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const job: SlurmJob = { node: '/bin/echo', diffract: '/opt/diffract/bin/diffract.js', config: '/data/my run.yaml', output: '/data/out', cwd: '/data', flags: ['--backend', 'gpu'] };
const settings: SlurmSettings = { tasks: 4, partition: 'gpu', gpusPerTask: 2, time: '02:00:00', account: 'mx123', cpusPerTask: null };

function runScript(text: string, env: Record<string, string>): string {
  const p = join(dir, 'script.sh');
  writeFileSync(p, text);
  return execFileSync('bash', [p], { encoding: 'utf8', env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env } });
}

describe('diffract submit --slurm scripts', () => {
  it('the array script: directives, and task k of an array from m runs shard k−m of N', () => {
    const s = shardScript(job, settings);
    expect(s.split('\n').filter((l) => l.startsWith('#SBATCH'))).toEqual([
      '#SBATCH --job-name=diffract-shards',
      '#SBATCH --array=0-3',
      '#SBATCH --ntasks=1',
      '#SBATCH --chdir=/data',
      '#SBATCH --output=/data/out/slurm/shard-%A_%a.log',
      '#SBATCH --partition=gpu',
      '#SBATCH --account=mx123',
      '#SBATCH --time=02:00:00',
      '#SBATCH --gpus-per-task=2',
    ]);
    const out = runScript(s, { SLURM_JOB_ID: '4713', SLURM_ARRAY_JOB_ID: '4711', SLURM_ARRAY_TASK_ID: '7', SLURM_ARRAY_TASK_MIN: '5', SLURM_ARRAY_TASK_COUNT: '4' });
    const lines = out.trim().split('\n');
    expect(lines[0]).toBe('diffract shard 2 of 4: job 4713 on ' + execFileSync('hostname', { encoding: 'utf8' }).trim() + ', GPUs none');
    // echo stands for node: the arguments diffract gets (the config path with its blank is one word)
    expect(lines[1]).toBe('/opt/diffract/bin/diffract.js run /data/my run.yaml --shard 2/4 --devices all --backend gpu');
  });

  it('the task log path reaches diffract (DIFFRACT_TASK_LOG)', () => {
    const s = shardScript(job, settings).replace(/^exec .*$/m, 'echo "$DIFFRACT_TASK_LOG"');
    expect(runScript(s, { SLURM_JOB_ID: '1', SLURM_ARRAY_JOB_ID: '4711', SLURM_ARRAY_TASK_ID: '3', SLURM_ARRAY_TASK_COUNT: '4' }).trim().split('\n')[1]).toBe('/data/out/slurm/shard-4711_3.log');
  });

  it('the combine script runs --require-shards with the pattern of the tasks\' logs; submitted afterany', () => {
    const s = combineScript(job, { ...settings, gpusPerTask: 4 });
    expect(s).toContain('#SBATCH --gpus-per-task=1');
    expect(s).toContain('#SBATCH --output=/data/out/slurm/combine-%j.log');
    const out = runScript(s.replace(/^exec /m, 'echo "$DIFFRACT_TASK_LOG_PATTERN"; exec '), { DIFFRACT_ARRAY_JOB_ID: '4711' });
    expect(out.trim().split('\n')).toEqual(['/data/out/slurm/shard-4711_%a.log', '/opt/diffract/bin/diffract.js run /data/my run.yaml --require-shards --backend gpu']);
    expect(sbatchCommands('/a.sbatch', '/b.sbatch', '4711')[1]).toEqual(['sbatch', '--parsable', '--dependency=afterany:4711', '--export=ALL,DIFFRACT_ARRAY_JOB_ID=4711', '/b.sbatch']);
  });

  it('refuses values Slurm would misread, naming the flag', () => {
    expect(() => shardScript(job, { ...settings, partition: 'gpu\n#SBATCH --qos=high' })).toThrow(/field '--partition'/);
    expect(() => shardScript(job, { ...settings, tasks: 0 })).toThrow(/field '--array'/);
  });
});

describe('temporaries of shards in one folder', () => {
  it('names carry the host; a starting run removes only those certainly abandoned', () => {
    const t = tempPathFor(join(dir, 'w0001-0123456789abcdef.h5'));
    expect(tempFileOwner(t.slice(dir.length + 1))).toEqual({ host: hostTag(), pid: process.pid });
    const folder = join(dir, 'temps');
    execFileSync('mkdir', ['-p', folder]);
    const deadPid = 2 ** 22 + 12345; // above Linux's pid_max: no such process
    const files = {
      live: `.a.h5~${hostTag()}.${process.pid}-0000000a.tmp`,
      dead: `.b.h5~${hostTag()}.${deadPid}-0000000b.tmp`,
      oldForm: `.c.h5.${deadPid}-0000000c.tmp`,
      foreignFresh: '.d.h5~node-17.4242-0000000d.tmp',
      foreignOld: '.e.h5~node-17.4242-0000000e.tmp',
      result: 'w0002-0123456789abcdef.h5',
    };
    for (const f of Object.values(files)) writeFileSync(join(folder, f), 'x');
    const twoDaysAgo = Date.now() / 1000 - 2 * 86400;
    utimesSync(join(folder, files.foreignOld), twoDaysAgo, twoDaysAgo);
    expect(sweepTemporaries(folder)).toBe(3);
    expect(readdirSync(folder).sort()).toEqual([files.live, files.foreignFresh, files.result].sort());
  });
});
