/**
 * Random half-dataset assignment for CC½: a deterministic hash of a seed and
 * the row's identity, so the split is reproducible and does not depend on the
 * order of the rows.
 *
 * - `observation` (default, usual for diffuse data): every observation is
 *   assigned on its own; identity = fine index, operator, sweep, batch, panel
 *   and the f32 bits of x, y, φ.
 * - `batch`: every scaling batch (sweep, batch) goes to one half as a whole,
 *   so errors shared within a batch (its scale factor) do not correlate the
 *   halves.
 */
import type { Ndiv, ObservationTable } from '../pipeline/observations.ts';
import { mixSeed } from '../util/random.ts';

export type HalfSplit = 'observation' | 'batch';

const scratchF = new Float32Array(1);
const scratchU = new Uint32Array(scratchF.buffer);
function bits(x: number): number {
  scratchF[0] = x;
  return scratchU[0] as number;
}

/** 0 (half A) or 1 (half B) for row i of t. */
export function halfOf(t: ObservationTable, ndiv: Ndiv, i: number, seed: number, split: HalfSplit = 'observation'): 0 | 1 {
  let h: number;
  if (split === 'batch') {
    h = mixSeed(seed, t.sweep[i] as number, t.batch[i] as number);
  } else {
    h = mixSeed(
      seed,
      (t.H[i] as number) * ndiv[0] + (t.dh[i] as number),
      (t.K[i] as number) * ndiv[1] + (t.dk[i] as number),
      (t.L[i] as number) * ndiv[2] + (t.dl[i] as number),
      t.op[i] as number,
      t.sweep[i] as number,
      t.batch[i] as number,
      t.panel[i] as number,
      bits(t.x[i] as number),
      bits(t.y[i] as number),
      bits(t.phi[i] as number),
    );
  }
  return (h >>> 31) as 0 | 1;
}
