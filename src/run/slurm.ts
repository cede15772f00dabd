/**
 * `diffract submit CONFIG --slurm`: the two batch scripts of a sharded run and
 * their submission with `sbatch` (docs/scale-out.md).
 *
 * - `<output>/slurm/shards.sbatch`: a job array of N tasks; task k runs
 *   `diffract run CONFIG --shard I/N` with I = SLURM_ARRAY_TASK_ID −
 *   SLURM_ARRAY_TASK_MIN and N = SLURM_ARRAY_TASK_COUNT, logging to
 *   `<output>/slurm/shard-<array job>_<task>.log`.
 * - `<output>/slurm/combine.sbatch`: `diffract run CONFIG --require-shards`,
 *   submitted with `--dependency=afterany:<array job>`. afterany, not afterok:
 *   with afterok a failed task leaves the combine pending for ever
 *   (DependencyNeverSatisfied) and nobody is told; with afterany the combine
 *   always starts, checks that every unit is done, and otherwise fails with
 *   one line naming the missing units, their tasks and the tasks' logs.
 */
import { execFileSync } from 'node:child_process';
import { FileAccessError, InvalidValueError } from '../errors.ts';

export interface SlurmSettings {
  /** array tasks (shards) */
  tasks: number;
  partition: string | null;
  gpusPerTask: number | null;
  /** --time, as Slurm takes it (minutes, or [D-]HH:MM:SS) */
  time: string | null;
  account: string | null;
  cpusPerTask: number | null;
}

/** What the scripts run: the node binary, the diffract entry script, the config, and flags for every diffract call. */
export interface SlurmJob {
  node: string;
  diffract: string;
  config: string;
  /** the run's output folder (absolute) */
  output: string;
  /** working folder of the jobs */
  cwd: string;
  /** flags passed to every `diffract run` (e.g. --backend gpu) */
  flags: string[];
}

/** A word quoted for bash (single quotes). */
export function shellQuote(word: string): string {
  return /^[A-Za-z0-9_./:=@%+-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

function checkValue(name: string, value: string | null): void {
  if (value !== null && !/^[A-Za-z0-9_.:,+-]+$/.test(value)) throw new InvalidValueError(`'${value}' is not a value Slurm takes here`, { field: `--${name}` });
}

function resourceLines(s: SlurmSettings, gpus: number | null): string[] {
  checkValue('partition', s.partition);
  checkValue('time', s.time);
  checkValue('account', s.account);
  return [
    ...(s.partition !== null ? [`#SBATCH --partition=${s.partition}`] : []),
    ...(s.account !== null ? [`#SBATCH --account=${s.account}`] : []),
    ...(s.time !== null ? [`#SBATCH --time=${s.time}`] : []),
    ...(s.cpusPerTask !== null ? [`#SBATCH --cpus-per-task=${s.cpusPerTask}`] : []),
    ...(gpus !== null && gpus > 0 ? [`#SBATCH --gpus-per-task=${gpus}`] : []),
  ];
}

function diffractCall(job: SlurmJob, extra: string[]): string {
  return ['exec', job.node, job.diffract, 'run', job.config, ...extra, ...job.flags].map((w) => (w.startsWith('"') ? w : shellQuote(w))).join(' ');
}

/** The job array script: one shard per task. */
export function shardScript(job: SlurmJob, s: SlurmSettings): string {
  if (!Number.isInteger(s.tasks) || s.tasks < 1) throw new InvalidValueError(`the array needs at least one task, got ${s.tasks}`, { field: '--array' });
  const logs = `${job.output}/slurm`;
  return [
    '#!/bin/bash',
    `# diffract submit: ${s.tasks} shard task(s) of ${job.config} (docs/scale-out.md)`,
    '#SBATCH --job-name=diffract-shards',
    `#SBATCH --array=0-${s.tasks - 1}`,
    '#SBATCH --ntasks=1',
    `#SBATCH --chdir=${shellQuote(job.cwd)}`,
    `#SBATCH --output=${shellQuote(`${logs}/shard-%A_%a.log`)}`,
    ...resourceLines(s, s.gpusPerTask),
    'set -euo pipefail',
    `export DIFFRACT_TASK_LOG=${shellQuote(logs)}"/shard-\${SLURM_ARRAY_JOB_ID}_\${SLURM_ARRAY_TASK_ID}.log"`,
    'shard=$((SLURM_ARRAY_TASK_ID - ${SLURM_ARRAY_TASK_MIN:-0}))',
    `count=\${SLURM_ARRAY_TASK_COUNT:-${s.tasks}}`,
    'echo "diffract shard $shard of $count: job ${SLURM_JOB_ID} on $(hostname), GPUs ${CUDA_VISIBLE_DEVICES:-none}"',
    // several GPUs per task: one device on each GPU Slurm gave the task (src/host/node-devices.ts maps them to adapters)
    diffractCall(job, ['--shard', '"$shard/$count"', ...(s.gpusPerTask !== null && s.gpusPerTask > 1 ? ['--devices', 'all'] : [])]),
    '',
  ].join('\n');
}

/** The combine script, run after every array task has ended (afterany). */
export function combineScript(job: SlurmJob, s: SlurmSettings): string {
  const logs = `${job.output}/slurm`;
  return [
    '#!/bin/bash',
    `# diffract submit: the combine step of ${job.config}, after the shard array (submitted with --dependency=afterany:<array job>)`,
    '#SBATCH --job-name=diffract-combine',
    '#SBATCH --ntasks=1',
    `#SBATCH --chdir=${shellQuote(job.cwd)}`,
    `#SBATCH --output=${shellQuote(`${logs}/combine-%j.log`)}`,
    ...resourceLines(s, s.gpusPerTask === null ? null : Math.min(1, s.gpusPerTask)),
    'set -euo pipefail',
    '# the shard tasks\' logs, for the message naming a failed task (DIFFRACT_ARRAY_JOB_ID is set by diffract submit)',
    `export DIFFRACT_TASK_LOG_PATTERN=${shellQuote(logs)}"/shard-\${DIFFRACT_ARRAY_JOB_ID:-unknown}_%a.log"`,
    diffractCall(job, ['--require-shards']),
    '',
  ].join('\n');
}

/** The sbatch command lines, for --dry-run and the log. */
export function sbatchCommands(shardsPath: string, combinePath: string, arrayJobId = '<array job id>'): string[][] {
  return [
    ['sbatch', '--parsable', shardsPath],
    ['sbatch', '--parsable', `--dependency=afterany:${arrayJobId}`, `--export=ALL,DIFFRACT_ARRAY_JOB_ID=${arrayJobId}`, combinePath],
  ];
}

/** Runs one `sbatch --parsable …`; returns the job id. */
function sbatch(args: readonly string[]): string {
  let out: string;
  try {
    out = execFileSync(args[0]!, args.slice(1), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT') throw new FileAccessError('sbatch not found: is Slurm installed here? (--dry-run prints the scripts)', { file: 'sbatch' }, { cause: err });
    throw new FileAccessError(`sbatch refused the job: ${(e.stderr ?? String(err)).trim().split('\n').join(' ')}`, { file: args[args.length - 1]! }, { cause: err });
  }
  const id = out.trim().split(';')[0] ?? '';
  if (!/^\d+$/.test(id)) throw new FileAccessError(`sbatch printed no job id (got '${out.trim()}')`, { file: args[args.length - 1]! });
  return id;
}

/** Submits the array, then the combine depending on it; returns both job ids. */
export function submitSlurm(shardsPath: string, combinePath: string): { arrayJobId: string; combineJobId: string } {
  const arrayJobId = sbatch(sbatchCommands(shardsPath, combinePath)[0]!);
  const combineJobId = sbatch(sbatchCommands(shardsPath, combinePath, arrayJobId)[1]!);
  return { arrayJobId, combineJobId };
}
