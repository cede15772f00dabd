/** The stage-file group `history` of a scale refinement (docs/scale.md): one row per iteration. */
import type { ColumnArray } from '../io/hdf5.ts';
import { SCALE_STAGES, type HistoryEntry, type ScaleStage } from './refine.ts';

export function historyGroup(h: readonly HistoryEntry[]): { columns: Record<string, ColumnArray>; attrs: Record<string, string | number> } {
  const stageCode = (st: ScaleStage): number => SCALE_STAGES.indexOf(st);
  return {
    columns: {
      stage: Uint8Array.from(h, (e) => stageCode(e.stage)),
      iteration: Uint16Array.from(h, (e) => e.iteration),
      chi2: Float64Array.from(h, (e) => e.chi2),
      rejected: Uint32Array.from(h, (e) => e.rejected),
    },
    attrs: { stage_names: SCALE_STAGES.join(','), chi2: 'reduced chi2 per observation used, after the fit', rejected: 'rows rejected before this iteration' },
  };
}
