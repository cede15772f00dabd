/**
 * `diffract run CONFIG`: the whole rotation-series pipeline (import → mask →
 * filter → integrate → correct → combine → scale → merge → absolute → export
 * → report) from a YAML/JSON config (docs/run-config.md, `diffract init`),
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
import { formatMiB, peakRssBytes } from '../../host/memory-budget.ts';
import { writeFileAtomic } from '../../io/atomic-file.ts';
import { collectReportData, writeReport, type ReportSummary } from '../../report/index.ts';
import { loadRunConfig } from '../../run/config.ts';
import { runPipeline, type ReportInputs, type RunSummary } from '../../run/runner.ts';
import { setLogMode } from '../../util/log.ts';
import { engineOptions, globalOptions } from '../engine-options.ts';
import { CLI_LOGGER, CLI_PROGRESS } from '../stage-context.ts';
import type { CommandSpec } from '../command-spec.ts';

interface RunCliOptions {
  json?: boolean;
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
  lines.push(`  merged: ${s.observations} observations → ${s.voxels} voxels, CC½ ${s.cchalf.toFixed(4)}${s.cchalfBragg !== null ? ` (Bragg ${s.cchalfBragg.toFixed(4)})` : ''}`);
  lines.push(`  absolute scale factor: ${s.scaleFactor === null ? 'not computed (no composition in the config)' : s.scaleFactor.toPrecision(6)}`);
  lines.push('  time per stage:');
  for (const t of s.stages) {
    const rate = t.frames !== undefined && t.seconds > 0 ? `, ${(t.frames / t.seconds).toFixed(1)} frames/s` : '';
    lines.push(`    ${t.stage.padEnd(24)} ${t.skipped ? 'reused'.padStart(9) : `${t.seconds.toFixed(1)} s`.padStart(9)}${rate}`);
  }
  lines.push(...s.outputs.map((f) => `  wrote ${f}`));
  return lines;
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
  counts['merged observations'] = s.observations;
  counts['merged voxels'] = s.voxels;
  const summary: ReportSummary = {
    title: 'diffract run report',
    subtitle: s.config,
    backend: s.backend,
    adapter: s.adapter,
    counts,
    maskedFractions: masked,
    cchalf: { diffuse: s.cchalf, bragg: s.cchalfBragg },
    scaleFactor: s.scaleFactor,
  };
  const nexus = `${inputs.mapPrefix}.nxs`;
  const data = await collectReportData({
    integrated: inputs.integrated,
    scaled: inputs.scaled,
    merged: inputs.merged,
    absolute: inputs.absolute,
    map: existsSync(nexus) ? { nexus } : null,
    summary,
  });
  await writeReport(inputs.path, data);
}

export const runCommand: CommandSpec = {
  name: 'run',
  register(program) {
    program
      .command('run')
      .description('run the whole pipeline from a config file (YAML or JSON; `diffract init` writes a template), resuming from checkpoints')
      .argument('<config>', 'the run configuration (.yaml, .yml or .json)')
      .option('--json', 'log lines as JSON objects on stderr, the summary as JSON on stdout')
      .action(async (configPath: string, o: RunCliOptions, cmd: Command) => {
        const g = globalOptions(cmd);
        if (o.json === true && g.quiet !== true) setLogMode('json');
        const cfg = await loadRunConfig(configPath);
        const e = engineOptions(g, false);
        const summary = await runPipeline(cfg, {
          backend: g.backend,
          ...(g.threads !== undefined ? { threads: e.threads as number } : {}),
          ...(e.memoryMb !== undefined ? { memoryMb: e.memoryMb } : {}),
          ...(g.debugGpu === true ? { debugGpu: true } : {}),
          report: buildReport,
          log: CLI_LOGGER,
          progress: CLI_PROGRESS,
        });
        await writeFileAtomic(join(cfg.output, 'summary.json'), `${JSON.stringify(summary, null, 1)}\n`);
        const peak = peakRssBytes();
        process.stdout.write(o.json === true ? `${JSON.stringify({ ...summary, peakRssBytes: peak })}\n` : `${summaryLines(summary).join('\n')}\n  peak RSS ${formatMiB(peak)}\n`);
      });
  },
};
