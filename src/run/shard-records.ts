/**
 * The record each shard task of `diffract run --shard I/N` leaves in
 * `<output>/shards/shard-<I>-of-<N>.json`: where it ran (host, process,
 * devices, Slurm job), how long it took, how many attempts it needed, what it
 * computed, and whether it finished. Written atomically when the task starts
 * ('running'), and again when it ends ('done' or 'failed', with the error), so
 * the combine step can say which tasks ran where, and name a failed or killed
 * task's log. A record belongs to one plan (the hash of every unit's key): a
 * record of earlier settings is ignored.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { writeFileAtomic } from '../io/atomic-file.ts';
import type { ShardSpec } from './shards.ts';

export type ShardStatus = 'running' | 'done' | 'failed';

/** Where the task ran under Slurm (from the SLURM_* environment), null outside Slurm. */
export interface SlurmTaskInfo {
  jobId: string;
  arrayJobId: string | null;
  arrayTaskId: string | null;
  /** SLURM_RESTART_COUNT: how often Slurm requeued the task */
  restartCount: number;
  node: string | null;
}

export interface ShardTaskRecord {
  shard: number;
  count: number;
  /** the hash of every unit's key: records of other settings are ignored */
  plan: string;
  status: ShardStatus;
  host: string;
  pid: number;
  backend: string;
  /** the devices the task computed on (adapter names, or 'CPU') */
  devices: string[];
  /** ISO time the task started */
  started: string;
  seconds: number;
  /** 1 for the first run of this shard, 2 for the first retry, … */
  attempt: number;
  /** units assigned, computed by this attempt, found done already */
  units: number;
  computed: number;
  reused: number;
  frames: number;
  /** the task's log file (DIFFRACT_TASK_LOG, set by the scripts of `diffract submit`), null when unknown */
  log: string | null;
  slurm: SlurmTaskInfo | null;
  /** the error that stopped a failed task */
  error?: string;
}

export function shardRecordPath(output: string, shard: ShardSpec): string {
  return join(output, 'shards', `shard-${shard.index}-of-${shard.count}.json`);
}

/** The Slurm job this process runs in, from the environment. */
export function slurmTaskInfo(env: NodeJS.ProcessEnv = process.env): SlurmTaskInfo | null {
  const jobId = env.SLURM_JOB_ID;
  if (jobId === undefined || jobId === '') return null;
  const restarts = Number(env.SLURM_RESTART_COUNT ?? '0');
  return {
    jobId,
    arrayJobId: env.SLURM_ARRAY_JOB_ID ?? null,
    arrayTaskId: env.SLURM_ARRAY_TASK_ID ?? null,
    restartCount: Number.isFinite(restarts) ? restarts : 0,
    node: env.SLURMD_NODENAME ?? null,
  };
}

function readRecord(path: string): ShardTaskRecord | null {
  try {
    const r = JSON.parse(readFileSync(path, 'utf8')) as ShardTaskRecord;
    return typeof r.shard === 'number' && typeof r.count === 'number' && typeof r.plan === 'string' ? r : null;
  } catch {
    return null;
  }
}

/** The records of `plan` in `output`, by shard count then shard index. */
export function readShardRecords(output: string, plan: string): ShardTaskRecord[] {
  const dir = join(output, 'shards');
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => /^shard-\d+-of-\d+\.json$/.test(f))
    .map((f) => readRecord(join(dir, f)))
    .filter((r): r is ShardTaskRecord => r !== null && r.plan === plan)
    .sort((a, b) => a.count - b.count || a.shard - b.shard);
}

/** Starts the record of a task: attempt = the earlier record's + 1 (same shard, same plan), else 1 (+ Slurm's restarts). */
export async function startShardRecord(output: string, shard: ShardSpec, plan: string, backend: string): Promise<ShardTaskRecord> {
  const path = shardRecordPath(output, shard);
  const earlier = existsSync(path) ? readRecord(path) : null;
  const slurm = slurmTaskInfo();
  const rec: ShardTaskRecord = {
    shard: shard.index,
    count: shard.count,
    plan,
    status: 'running',
    host: hostname(),
    pid: process.pid,
    backend,
    devices: [],
    started: new Date().toISOString(),
    seconds: 0,
    attempt: earlier !== null && earlier.plan === plan ? earlier.attempt + 1 : 1 + (slurm?.restartCount ?? 0),
    units: 0,
    computed: 0,
    reused: 0,
    frames: 0,
    log: process.env.DIFFRACT_TASK_LOG ?? null,
    slurm,
  };
  await putShardRecord(output, rec);
  return rec;
}

export async function putShardRecord(output: string, rec: ShardTaskRecord): Promise<void> {
  mkdirSync(join(output, 'shards'), { recursive: true });
  await writeFileAtomic(shardRecordPath(output, { index: rec.shard, count: rec.count }), `${JSON.stringify(rec, null, 1)}\n`);
}

/** What the combine step says about the shard tasks of its plan. */
export interface ShardTasksSummary {
  /** the shard count of the latest records (most records), 0 when none */
  count: number;
  tasks: ShardTaskRecord[];
  hosts: string[];
  devices: string[];
  /** shards that needed more than one attempt */
  retried: number[];
  /** shards whose last record is not 'done' */
  unfinished: number[];
  /** shards (of `count`) with no record */
  missing: number[];
}

/** Summarises the records of one plan (those of the most common shard count). */
export function summariseShardTasks(records: readonly ShardTaskRecord[]): ShardTasksSummary | null {
  if (records.length === 0) return null;
  const byCount = new Map<number, number>();
  for (const r of records) byCount.set(r.count, (byCount.get(r.count) ?? 0) + 1);
  const count = [...byCount.entries()].sort((a, b) => b[1] - a[1] || b[0] - a[0])[0]![0];
  const tasks = records.filter((r) => r.count === count);
  const have = new Set(tasks.map((t) => t.shard));
  return {
    count,
    tasks,
    hosts: [...new Set(tasks.map((t) => t.host))].sort(),
    devices: [...new Set(tasks.flatMap((t) => t.devices))].sort(),
    retried: tasks.filter((t) => t.attempt > 1).map((t) => t.shard),
    unfinished: tasks.filter((t) => t.status !== 'done').map((t) => t.shard),
    missing: Array.from({ length: count }, (_v, i) => i).filter((i) => !have.has(i)),
  };
}

/** How a task ended, for messages: 'shard 2 of 4 (failed on node7: <error>; log <path>)'. */
export function describeTask(shard: number, count: number, rec: ShardTaskRecord | undefined, logPattern: string | null): string {
  const log = rec?.log ?? (logPattern !== null ? logPattern.replace('%a', String(shard)) : null);
  const logText = log !== null ? `; log ${log}` : '';
  if (rec === undefined) return `shard ${shard} of ${count} (no record: never started or killed before it began${logText})`;
  if (rec.status === 'running') return `shard ${shard} of ${count} (started on ${rec.host} at ${rec.started}, never finished: killed or still running${logText})`;
  if (rec.status === 'failed') return `shard ${shard} of ${count} (failed on ${rec.host}: ${rec.error ?? 'unknown error'}${logText})`;
  return `shard ${shard} of ${count} (done on ${rec.host}, but its files are gone${logText})`;
}
