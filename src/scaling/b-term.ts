/**
 * An extra term of the b(φ) fit (the Bragg term of stills scaling, issue 15):
 * rows that constrain b only, I ≈ b(φ) · I_B, with I_B their own reference —
 * the weighted merge of I/b per voxel (for stills: Bragg I/P, merged as
 * I / (P · b)) — re-merged before every fit like the diffuse reference. Each
 * row adds weight · (I − b·I_B)²/σ² to the b fit's objective; rows whose voxel
 * has fewer than 2 valid rows carry no information and are left out. The term
 * does not enter a, c, d or the reported χ² (that stays the diffuse one).
 */
import { observationCount, type ObservationMeta, type ObservationTable } from '../pipeline/observations.ts';
import { allocVoxelSums, indexVoxels, mergeInto, type VoxelSums } from './merge.ts';
import { FunctionEvaluator, type ScaleModel } from './model.ts';
import type { GridSystem } from './sparse.ts';

export interface BTermOptions {
  /** the rows: I, σ, the φ coordinate in `phi`, `sweep`, and the voxel (H, K, L, dh, dk, dl) */
  obs: ObservationTable;
  /** multiplies the term's χ² (≥ 0) */
  weight: number;
}

export class BTerm {
  readonly n: number;
  /** valid rows whose voxel has ≥ 2 of them */
  readonly use: Uint8Array;
  readonly used: number;
  private readonly voxelOf: Uint32Array;
  private readonly sums: VoxelSums;
  private readonly Iv: Float64Array;
  private readonly ev: FunctionEvaluator;
  private readonly b: Float64Array;
  private readonly one: Float64Array;
  private readonly zero: Float64Array;
  private readonly idx = new Int32Array(8);
  private readonly w = new Float64Array(8);

  constructor(
    readonly opts: BTermOptions,
    meta: ObservationMeta,
    readonly model: ScaleModel,
  ) {
    const t = opts.obs;
    this.n = observationCount(t);
    const vi = indexVoxels(t, meta.ndiv);
    this.voxelOf = vi.voxelOf;
    const cnt = new Uint32Array(vi.keys.length);
    const valid = new Uint8Array(this.n);
    for (let i = 0; i < this.n; i++) {
      const s = t.sigma[i]!;
      if (s > 0 && Number.isFinite(s) && Number.isFinite(t.I[i]!) && Number.isFinite(t.phi[i]!)) {
        valid[i] = 1;
        cnt[this.voxelOf[i]!]! += 1;
      }
    }
    this.use = Uint8Array.from(valid, (v, i) => (v === 1 && cnt[this.voxelOf[i]!]! >= 2 ? 1 : 0));
    this.used = this.use.reduce((a, v) => a + v, 0);
    this.sums = allocVoxelSums(vi.keys.length);
    this.Iv = new Float64Array(vi.keys.length);
    this.ev = new FunctionEvaluator(model.b, t);
    this.b = new Float64Array(this.n);
    this.one = new Float64Array(this.n).fill(1);
    this.zero = new Float64Array(this.n);
  }

  /** Re-merges the reference I_B from the rows with the current b. */
  merge(): void {
    this.ev.valuesInto(this.b);
    mergeInto(this.sums, this.voxelOf, this.opts.obs.I, this.opts.obs.sigma, { a: this.one, b: this.b, c: this.zero, d: this.one }, this.use);
    for (let v = 0; v < this.Iv.length; v++) {
      const W = this.sums.W[v]!;
      this.Iv[v] = W > 0 ? this.sums.WY[v]! / W : 0;
    }
  }

  /** Adds the rows to the normal equations of b (parameter indices as the b evaluator of the main table: same grids). */
  addTo(sys: GridSystem): void {
    const { I, sigma } = this.opts.obs;
    const { idx, w } = this;
    for (let i = 0; i < this.n; i++) {
      if (this.use[i] === 0) continue;
      const g = this.Iv[this.voxelOf[i]!]!;
      const inv = this.opts.weight / (sigma[i]! * sigma[i]!);
      const T = this.ev.tapsOf(i, this.ev.gridOf(i), idx, w);
      sys.addObservation(idx, w, T, g * g * inv, g * I[i]! * inv);
    }
  }
}
