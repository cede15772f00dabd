/**
 * `diffract submit CONFIG --slurm`: runs a config as a Slurm job array of
 * shards (`diffract run --shard I/N`) plus a combine job after them
 * (src/run/slurm.ts, docs/scale-out.md). `--dry-run` writes and prints the
 * scripts and the sbatch command lines without submitting.
 */
import { mkdirSync, realpathSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { UsageError } from '../../errors.ts';
import { writeFileAtomic } from '../../io/atomic-file.ts';
import { loadRunConfig } from '../../run/config.ts';
import { prepareOutputFolder } from '../../run/output-folder.ts';
import { combineScript, sbatchCommands, shardScript, shellQuote, submitSlurm, type SlurmJob, type SlurmSettings } from '../../run/slurm.ts';
import { globalOptions } from '../engine-options.ts';
import type { CommandSpec } from '../command-spec.ts';

interface SubmitCliOptions {
  slurm?: boolean;
  array: string;
  partition?: string;
  gpusPerTask?: string;
  cpusPerTask?: string;
  time?: string;
  account?: string;
  dryRun?: boolean;
  json?: boolean;
}

function positiveInteger(text: string, field: string, min: number): number {
  if (!/^\d+$/.test(text) || Number(text) < min || Number(text) > 100_000) throw new UsageError(`expected an integer ≥ ${min}, got '${text}'`, { field });
  return Number(text);
}

/** The diffract entry script this process runs (bin/diffract.js, or the installed package's), as the jobs must call it. */
function diffractEntry(): string {
  const argv1 = process.argv[1];
  return argv1 !== undefined && /diffract(\.js)?$/.test(argv1) ? realpathSync(argv1) : resolve(import.meta.dirname, '..', '..', '..', 'bin', 'diffract.js');
}

export const submitCommand: CommandSpec = {
  name: 'submit',
  register(program) {
    program
      .command('submit')
      .description('run a config on a cluster: a Slurm job array of shards (diffract run --shard I/N) and a combine job after them (docs/scale-out.md)')
      .argument('<config>', 'the run configuration (.yaml, .yml or .json)')
      .option('--slurm', 'submit to Slurm with sbatch (the only scheduler submitted to directly; docs/scale-out.md shows others)')
      .option('--array <n>', 'number of shard tasks in the array', '4')
      .option('--partition <p>', 'Slurm partition of every job')
      .option('--gpus-per-task <g>', 'GPUs per shard task (the combine gets one when G > 0)')
      .option('--cpus-per-task <c>', 'CPUs per task')
      .option('--time <t>', 'time limit per job, as Slurm takes it (minutes or [D-]HH:MM:SS)')
      .option('--account <a>', 'Slurm account to charge')
      .option('--dry-run', 'write and print the scripts and the sbatch commands; submit nothing')
      .option('--json', 'print the job ids and script paths as JSON')
      .action(async (configPath: string, o: SubmitCliOptions, cmd: Command) => {
        const g = globalOptions(cmd);
        if (o.slurm !== true) throw new UsageError('name the scheduler: --slurm (for others, see docs/scale-out.md: a loop, GNU parallel or a Kubernetes Job over diffract run --shard I/N)', { field: '--slurm' });
        const settings: SlurmSettings = {
          tasks: positiveInteger(o.array, '--array', 1),
          partition: o.partition ?? null,
          gpusPerTask: o.gpusPerTask !== undefined ? positiveInteger(o.gpusPerTask, '--gpus-per-task', 0) : null,
          cpusPerTask: o.cpusPerTask !== undefined ? positiveInteger(o.cpusPerTask, '--cpus-per-task', 1) : null,
          time: o.time ?? null,
          account: o.account ?? null,
        };
        const cfg = await loadRunConfig(configPath);
        prepareOutputFolder(cfg.output);
        const job: SlurmJob = {
          node: process.execPath,
          diffract: diffractEntry(),
          config: cfg.source,
          output: cfg.output,
          cwd: process.cwd(),
          flags: ['--backend', g.backend, ...(g.quiet === true ? ['-q'] : [])],
        };
        const dir = join(cfg.output, 'slurm');
        mkdirSync(dir, { recursive: true });
        const shardsPath = join(dir, 'shards.sbatch');
        const combinePath = join(dir, 'combine.sbatch');
        const scripts = { shards: shardScript(job, settings), combine: combineScript(job, settings) };
        await writeFileAtomic(shardsPath, scripts.shards);
        await writeFileAtomic(combinePath, scripts.combine);
        if (o.dryRun === true) {
          const cmds = sbatchCommands(shardsPath, combinePath).map((c) => c.map(shellQuote).join(' '));
          if (o.json === true) process.stdout.write(`${JSON.stringify({ dryRun: true, scripts: { [shardsPath]: scripts.shards, [combinePath]: scripts.combine }, commands: cmds })}\n`);
          else process.stdout.write([`# ${shardsPath}`, scripts.shards, `# ${combinePath}`, scripts.combine, '# submit with:', ...cmds, ''].join('\n'));
          return;
        }
        const ids = submitSlurm(shardsPath, combinePath);
        if (o.json === true) {
          process.stdout.write(`${JSON.stringify({ ...ids, tasks: settings.tasks, scripts: [shardsPath, combinePath], logs: dir })}\n`);
          return;
        }
        process.stdout.write(
          [
            `submitted job array ${ids.arrayJobId} (${settings.tasks} shard task(s)) and combine job ${ids.combineJobId} (after the array, afterany)`,
            `  scripts: ${shardsPath}, ${combinePath}`,
            `  logs:    ${dir}/shard-${ids.arrayJobId}_<task>.log, ${dir}/combine-${ids.combineJobId}.log`,
            `  watch:   squeue -j ${ids.arrayJobId},${ids.combineJobId}; sacct -j ${ids.arrayJobId},${ids.combineJobId}`,
            '',
          ].join('\n'),
        );
      });
  },
};
