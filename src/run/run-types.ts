/**
 * The types shared by the run paths of `diffract run` (rotation sweeps,
 * src/run/runner.ts; serial stills, src/run/stills-runner.ts): how the
 * runner runs, what the report builder gets, and the summary.
 */
import type { Engine } from '../host/engine.ts';
import type { StillsShot } from '../report/data.ts';
import type { ProgressSink, StageLogger } from '../stages/context.ts';
import type { ShardTasksSummary } from './shard-records.ts';

/** How the runner runs (not part of any checkpoint key: results do not depend on it). */
export interface RunnerOptions {
  backend: string;
  debugGpu?: boolean;
  /** CPU threads (the --threads flag; wins over the config's `threads`) */
  threads?: number;
  /** host memory budget in MiB (the --memory-mb flag; wins over the config's `memory_mb`) */
  memoryMb?: number;
  /** worker threads decoding compressed HDF5 frames ahead (default: one per spare core, at most 4) */
  decodeWorkers?: number;
  /** an engine to use instead of creating one from `backend` (the caller keeps and destroys it) */
  engine?: Engine;
  /** several devices (`--devices`, src/host/node-devices.ts): the wedges are spread over them; the first also runs the other stages (the caller destroys them) */
  engines?: Engine[];
  /** builds report.html from the run's stage files (src/report); absent: no report */
  report?: (inputs: ReportInputs) => Promise<void>;
  /** where the run's and the stages' messages go (default: the process logger, src/util/log.ts) */
  log?: StageLogger;
  /** progress of long stages (default: none; the CLI draws bars) */
  progress?: ProgressSink;
  /** every unit must have been computed by the shards (`--require-shards`): a missing one is an error naming it, not computed here */
  requireShards?: boolean;
}

/** What the report builder gets. */
export interface ReportInputs {
  /** where to write report.html */
  path: string;
  integrated: { sweep: string; file: string }[];
  scaled: string;
  merged: string;
  absolute: string | null;
  mapPrefix: string;
  summary: RunSummary;
  /** a stills run: the per-shot tables the report draws (absent for rotation runs) */
  stills?: StillsReportInputs;
}

export interface StageTime {
  stage: string;
  seconds: number;
  /** reused from a checkpoint */
  skipped: boolean;
  /** frames processed (integrate) */
  frames?: number;
}

export interface SweepSummary {
  name: string;
  frames: number;
  wedges: number;
  wedgesReused: number;
  /** fraction of detector pixels masked statically */
  maskedPixelFraction: number;
  /** occupied subvoxels excluded by the filter (outliers + overflow) / occupied */
  filterExcludedFraction: number;
  countsIncluded: number;
  countsExcluded: number;
  observations: number;
}

export interface RunSummary {
  config: string;
  output: string;
  backend: string;
  adapter: string;
  sweeps: SweepSummary[];
  observations: number;
  voxels: number;
  cchalf: number;
  cchalfBragg: number | null;
  /** absolute scale factor K (null when the absolute stage was skipped) */
  scaleFactor: number | null;
  stages: StageTime[];
  /** published result files */
  outputs: string[];
  /** the stage files this run's results come from (combine, scale, merge, absolute), by stage */
  stageFiles: Record<string, string>;
  /** the shard tasks that computed the units (`--shard`), from their records in shards/; null when none */
  shards: ShardTasksSummary | null;
  /** a stills run: shots used / rejected / skipped, chunks, per-shot scales (absent for rotation runs) */
  stills?: StillsRunSummary;
  seconds: number;
}

/** One shot of a stills run, as the summary and the report list it (the report's type). */
export type StillsShotRow = StillsShot;

export interface StillsRunSummary {
  source: string;
  shots: number;
  used: number;
  rejected: number;
  skipped: number;
  chunks: number;
  chunksReused: number;
  /** the p_order source, in words */
  pOrder: string;
  /** b of the used shots relative to their median: min and max */
  scaleRange: [number, number] | null;
  /** Bragg reference rows: used, below the partiality threshold, invalid; null when the input has no reflections */
  bragg: { used: number; lowPartiality: number; invalid: number } | null;
  perShot: StillsShotRow[];
}

/** What the report draws for a stills run. */
export interface StillsReportInputs {
  pOrderLabel: string;
  shots: StillsShotRow[];
  /** partiality histogram of the Bragg reference's rows (edges: n + 1), and the threshold; null when there are none */
  partiality: { edges: number[]; counts: number[]; threshold: number } | null;
}
