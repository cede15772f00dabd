/**
 * Multiplicity of a merged point: the number of distinct symmetry equivalents
 * of the fine index in the full sphere, Friedel mates included (the Laue
 * group of the space group, src/symmetry). The only place merging touches
 * src/symmetry.
 *
 * Symmetry operators act on fine indices directly (they map subvoxel centres
 * to subvoxel centres when the n's of related axes agree, see
 * src/pipeline/observations.ts).
 */
import { reciprocalOps, spaceGroup } from '../symmetry/index.ts';

export type MultiplicityFn = (fh: number, fk: number, fl: number) => number;

/**
 * A function giving the multiplicity of fine indices under the group of
 * `hall`: the same number as `multiplicity(g, h, k, l)` of src/symmetry
 * (checked in test/merge), computed by orbit–stabilizer — |Laue group| over
 * the number of its operators that fix the point — without building the
 * orbit (20× faster for cubic groups).
 */
export function multiplicityFunction(hall: string): MultiplicityFn {
  const ops = reciprocalOps(spaceGroup(hall));
  const flat = new Int32Array(9 * ops.length);
  ops.forEach((r, i) => flat.set(r, 9 * i));
  const order = ops.length;
  return (h, k, l) => {
    let fixed = 0;
    for (let o = 0; o < 9 * order; o += 9) {
      // row vector times R: h'_j = Σ_i h_i R[3i + j]
      if (
        h * (flat[o] as number) + k * (flat[o + 3] as number) + l * (flat[o + 6] as number) === h &&
        h * (flat[o + 1] as number) + k * (flat[o + 4] as number) + l * (flat[o + 7] as number) === k &&
        h * (flat[o + 2] as number) + k * (flat[o + 5] as number) + l * (flat[o + 8] as number) === l
      ) {
        fixed++;
      }
    }
    return order / fixed;
  };
}
