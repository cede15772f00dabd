/**
 * Stage `stills-extract`: the diffuse observations of every shot of a stills
 * dataset (src/stills/extract.ts), drained into one table. For small datasets
 * and tests; a runner with thousands of shots uses `extractShots` directly and
 * writes chunk files as it goes (src/io/stills-chunk-file.ts).
 */
import { concatObservations, type ObservationMeta, type ObservationTable } from '../pipeline/observations.ts';
import { extractShots, STILLS_EXTRACT_DEFAULTS, stillsGridMeta, type ShotInfo, type StillsExtractInputs, type StillsExtractSettings } from '../stills/extract.ts';
import type { StageContext } from './context.ts';
import type { Stage } from './stage.ts';

export interface StillsExtractSummary {
  shots: number;
  rows: number;
  /** Σ binned photon counts over the shots (exact integer) */
  counts: number;
  /** Σ binned pixels over the shots */
  pixels: number;
  /** smallest and largest Bragg-masked fraction of a shot */
  maskedFraction: [number, number];
  backend: string;
  seconds: number;
  msPerShot: number;
}

export interface StillsExtractResult {
  /** the diffuse rows of every shot, in shot order */
  diffuse: ObservationTable;
  /** one row per shot */
  shots: ShotInfo[];
  meta: ObservationMeta;
  summary: StillsExtractSummary;
}

async function run(ctx: StageContext, inputs: StillsExtractInputs, settings: StillsExtractSettings): Promise<StillsExtractResult> {
  const t0 = performance.now();
  const parts: ObservationTable[] = [];
  const shots: ShotInfo[] = [];
  for await (const o of extractShots(ctx, inputs, settings)) {
    parts.push(o.diffuse);
    shots.push(o.info);
  }
  const seconds = (performance.now() - t0) / 1000;
  const fractions = shots.map((s) => s.maskedFraction);
  return {
    diffuse: concatObservations(parts),
    shots,
    meta: stillsGridMeta(inputs.data, settings),
    summary: {
      shots: shots.length,
      rows: shots.reduce((n, s) => n + s.rows, 0),
      counts: shots.reduce((n, s) => n + s.counts, 0),
      pixels: shots.reduce((n, s) => n + s.pixels, 0),
      maskedFraction: shots.length > 0 ? [Math.min(...fractions), Math.max(...fractions)] : [0, 0],
      backend: ctx.engine.backend,
      seconds,
      msPerShot: shots.length > 0 ? (1000 * seconds) / shots.length : 0,
    },
  };
}

export const stillsExtractStage: Stage<StillsExtractInputs, StillsExtractSettings, StillsExtractResult> = { name: 'stills-extract', defaults: STILLS_EXTRACT_DEFAULTS, run };
