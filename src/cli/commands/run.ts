/**
 * `diffract run CONFIG`: the whole rotation-series pipeline (import → mask →
 * filter → integrate → correct → combine → scale → merge → absolute → export
 * → report), or the serial-stills one (import → extract → Bragg reference →
 * p_order → scale → merge → absolute → export → report) from a YAML/JSON config (docs/run-config.md, `diffract init`),
 * with checkpoints: a rerun reuses every stage and wedge whose inputs and
 * settings are unchanged, and resumes after a kill (src/run/runner.ts).
 *
 * Progress bars per stage on a terminal (log lines otherwise), `--quiet` for
 * warnings only, `--json` for one JSON object per log line on stderr and the
 * summary as JSON on stdout. The summary is also written to
 * `<output>/summary.json`.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { formatMiB, peakRssBytes } from '../../host/node-memory.ts';
import { writeFileAtomic } from '../../io/atomic-file.ts';
import { collectReportData, writeReport, type ReportSummary } from '../../report/index.ts';
import { UsageError } from '../../errors.ts';
import { loadRunConfig } from '../../run/config.ts';
import { parseShard } from '../../run/shards.ts';
import type { RunConfig } from '../../run/config-types.ts';
import { openDeviceEngines, parseDevices } from '../../host/node-devices.ts';
import { runPipeline, runShard, shardTasksLine, type ReportInputs, type RunnerOptions, type RunSummary, type ShardSummary, type StillsRunSummary } from '../../run/runner.ts';
import { setLogMode } from '../../util/log.ts';
import { engineOptions, globalOptions } from '../engine-options.ts';
import { CLI_LOGGER, CLI_PROGRESS } from '../stage-context.ts';
import type { CommandSpec } from '../command-spec.ts';

interface RunCliOptions {
  json?: boolean;
  shard?: string;
  requireShards?: boolean;
  devices?: string;
}

const pct = (x: number): string => `${(100 * x).toFixed(2)} %`;

/** The end-of-run summary, for people. */
export function summaryLines(s: RunSummary): string[] {
  const lines = [`diffract run ${s.config}: done in ${s.seconds.toFixed(1)} s on ${s.backend} (${s.adapter})`];
  for (const w of s.sweeps) {
    lines.push(
      `  ${w.name}: ${w.frames} frames in ${w.wedges} wedges (${w.wedgesReused} reused), masked pixels ${pct(w.maskedPixelFraction)}, filter excluded ${pct(w.filterExcludedFraction)} of occupied subvoxels, counts ${w.countsIncluded} kept / ${w.countsExcluded} excluded, ${w.observations} observations`,
    );
  }
  if (s.stills !== undefined) lines.push(...stillsLines(s.stills));
  lines.push(`  merged: ${s.observations} observations → ${s.voxels} voxels, CC½ ${s.cchalf.toFixed(4)}${s.cchalfBragg !== null ? ` (Bragg ${s.cchalfBragg.toFixed(4)})` : ''}`);
  lines.push(`  absolute scale factor: ${s.scaleFactor === null ? 'not computed (no composition in the config)' : s.scaleFactor.toPrecision(6)}`);
  lines.push('  time per stage:');
  for (const t of s.stages) {
    const rate = t.frames !== undefined && t.seconds > 0 ? `, ${(t.frames / t.seconds).toFixed(1)} frames/s` : '';
    lines.push(`    ${t.stage.padEnd(24)} ${t.skipped ? 'reused'.padStart(9) : `${t.seconds.toFixed(1)} s`.padStart(9)}${rate}`);
  }
  if (s.shards !== null) {
    lines.push(`  shard tasks: ${shardTasksLine(s.shards)}`);
    for (const t of s.shards.tasks) {
      lines.push(`    shard ${t.shard}: ${t.status} on ${t.host} (${t.devices.join(', ')}), ${t.computed} unit(s) computed, ${t.reused} reused, ${t.frames} frames in ${t.seconds.toFixed(1)} s, attempt ${t.attempt}${t.log !== null ? `, log ${t.log}` : ''}`);
    }
  }
  lines.push(...s.outputs.map((f) => `  wrote ${f}`));
  return lines;
}

/** The stills part of the end-of-run summary: shots used / rejected / skipped (each skipped and rejected one named, up to 20), chunks, scales. */
export function stillsLines(t: StillsRunSummary): string[] {
  const lines = [`  stills: ${t.shots} shots from ${t.source}: ${t.used} used, ${t.rejected} rejected, ${t.skipped} skipped; ${t.chunks} chunks (${t.chunksReused} reused)`];
  if (t.scaleRange !== null) lines.push(`  scales b of the used shots / their median: ${t.scaleRange[0].toFixed(3)} … ${t.scaleRange[1].toFixed(3)} (p_order: ${t.pOrder})`);
  if (t.bragg !== null) lines.push(`  Bragg reference: ${t.bragg.used} rows, ${t.bragg.lowPartiality} below the partiality threshold, ${t.bragg.invalid} invalid`);
  const odd = t.perShot.filter((r) => r.status !== 'used');
  for (const r of odd.slice(0, 20)) lines.push(`    shot ${r.shot} ('${r.identifier}') ${r.status}: ${r.reason}`);
  if (odd.length > 20) lines.push(`    … ${odd.length - 20} more (summary.json lists them all)`);
  return lines;
}

/** How long each shard task took, where and on which attempt (the report's 'shard task times' row). */
function shardTimesLine(t: NonNullable<RunSummary['shards']>): string {
  return t.tasks.map((k) => `shard ${k.shard}: ${k.seconds.toFixed(1)} s on ${k.host}${k.attempt > 1 ? ` (attempt ${k.attempt})` : ''}`).join('; ');
}

/** The end-of-task summary of one shard. */
export function shardLines(r: ShardSummary): string[] {
  return [
    `diffract run --shard ${r.shard}/${r.count}: done in ${r.seconds.toFixed(1)} s on ${r.host} (${r.devices.join(', ')}), attempt ${r.attempt}`,
    `  ${r.units} unit(s) assigned: ${r.computed} computed (${r.frames} frames), ${r.reused} done already`,
    '  run the config without --shard once every shard is done to combine them',
  ];
}

/**
 * Builds report.html from the stage files of a run. Times are left out of the
 * page so that it depends on the results only (a resumed run writes the same
 * bytes as an uninterrupted one); they are in summary.json.
 */
export async function buildReport(inputs: ReportInputs): Promise<void> {
  const s = inputs.summary;
  const counts: Record<string, number> = {};
  const masked: Record<string, number> = {};
  for (const w of s.sweeps) {
    counts[`${w.name}: frames`] = w.frames;
    counts[`${w.name}: observations`] = w.observations;
    masked[`${w.name}: pixels masked`] = w.maskedPixelFraction;
    masked[`${w.name}: subvoxels excluded by the filter`] = w.filterExcludedFraction;
  }
  const st = s.stills;
  if (st !== undefined) {
    counts['shots'] = st.shots;
    counts['shots used'] = st.used;
    counts['shots rejected'] = st.rejected;
    counts['shots skipped'] = st.skipped;
  }
  counts['merged observations'] = s.observations;
  counts['merged voxels'] = s.voxels;
  const summary: ReportSummary = {
    title: st !== undefined ? 'diffract run report (serial stills)' : 'diffract run report',
    subtitle: s.config,
    backend: s.backend,
    adapter: s.adapter,
    counts,
    maskedFractions: masked,
    cchalf: { diffuse: s.cchalf, bragg: s.cchalfBragg },
    scaleFactor: s.scaleFactor,
    ...(s.shards !== null ? { extra: { 'shard tasks': shardTasksLine(s.shards), 'shard task times': shardTimesLine(s.shards) } } : {}),
  };
  const nexus = `${inputs.mapPrefix}.nxs`;
  const data = await collectReportData({
    integrated: inputs.integrated,
    scaled: inputs.scaled,
    merged: inputs.merged,
    absolute: inputs.absolute,
    map: existsSync(nexus) ? { nexus } : null,
    summary,
    ...(inputs.stills !== undefined ? { stills: inputs.stills } : {}),
  });
  await writeReport(inputs.path, data);
}

export const runCommand: CommandSpec = {
  name: 'run',
  register(program) {
    program
      .command('run')
      .description('run the whole pipeline (rotation sweeps or serial stills) from a config file (YAML or JSON; `diffract init [--stills]` writes a template), resuming from checkpoints')
      .argument('<config>', 'the run configuration (.yaml, .yml or .json)')
      .option('--json', 'log lines as JSON objects on stderr, the summary as JSON on stdout')
      .option('--shard <I/N>', 'compute only the units (wedges) of shard I of N (I counted from 0), write their checkpoints, and stop (docs/scale-out.md)')
      .option('--devices <spec>', 'GPUs of this process: all (every adapter; in a Slurm GPU job the ones it was given), adapter indices 0,2 (diffract info lists them), or a count N of devices on the default adapter; the wedges are spread over them')
      .option('--require-shards', 'combine only: every unit must have been computed by the shards; a missing one is an error naming it and its shard (exit 1)')
      .action(async (configPath: string, o: RunCliOptions, cmd: Command) => {
        const g = globalOptions(cmd);
        if (o.json === true && g.quiet !== true) setLogMode('json');
        const shard = o.shard !== undefined ? parseShard(o.shard) : null;
        if (shard !== null && o.requireShards === true) throw new UsageError('--require-shards is for the combine step (no --shard)', { field: '--require-shards' });
        const devices = o.devices !== undefined ? parseDevices(o.devices) : null;
        if (devices !== null && g.backend === 'cpu') throw new UsageError('--devices opens GPUs; it does not go with --backend cpu', { field: '--devices' });
        const cfg = await loadRunConfig(configPath);
        const engines = devices !== null ? await openDeviceEngines(devices) : undefined;
        try {
          const e = engineOptions(g, false);
          const runnerOptions = {
            backend: g.backend,
            ...(g.threads !== undefined ? { threads: e.threads as number } : {}),
            ...(e.memoryMb !== undefined ? { memoryMb: e.memoryMb } : {}),
            ...(g.debugGpu === true ? { debugGpu: true } : {}), log: CLI_LOGGER, progress: CLI_PROGRESS, ...(engines !== undefined ? { engines } : {}) };
          if (shard !== null) {
            const r = await runShard(cfg, runnerOptions, shard);
            process.stdout.write(o.json === true ? `${JSON.stringify(r)}\n` : `${shardLines(r).join('\n')}\n`);
            return;
          }
          await combineAndReport(cfg, { ...runnerOptions, report: buildReport, ...(o.requireShards === true ? { requireShards: true } : {}) }, o.json === true);
        } finally {
          for (const e of engines ?? []) e.destroy();
        }
      });
  },
};

/** The whole run (or the combine of shards): the summary to summary.json and stdout. */
async function combineAndReport(cfg: RunConfig, opts: RunnerOptions, json: boolean): Promise<void> {
  const summary = await runPipeline(cfg, opts);
  await writeFileAtomic(join(cfg.output, 'summary.json'), `${JSON.stringify(summary, null, 1)}\n`);
  const peak = peakRssBytes();
  process.stdout.write(json ? `${JSON.stringify({ ...summary, peakRssBytes: peak })}\n` : `${summaryLines(summary).join('\n')}\n  peak RSS ${formatMiB(peak)}\n`);
}
