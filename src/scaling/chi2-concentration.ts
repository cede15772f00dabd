/**
 * How concentrated the χ² of a scaling fit is over the voxels. A few voxels
 * that carry most of the misfit are the mark of Bragg leftovers (or other
 * outliers that are not a row here and there): the scale functions bend to
 * them. `scale` warns when 1 % of the voxels carry more than half of χ².
 */
import { invariant } from '../errors.ts';

/** The share of χ² above which `scale` warns, and the fraction of voxels it looks at. */
export const CHI2_CONCENTRATION_WARNING = { voxelFraction: 0.01, share: 0.5 } as const;

export interface Chi2Concentration {
  /** voxels with any χ² (rows in use) */
  voxels: number;
  /** the top voxels looked at: ceil(voxelFraction · voxels) */
  top: number;
  /** their share of the total χ² (0 when the total is 0) */
  share: number;
}

/** The share of Σ χ² carried by the ceil(fraction · n) voxels of largest χ², over the voxels with χ² > 0. */
export function chi2Concentration(perVoxel: Float64Array, voxelFraction: number = CHI2_CONCENTRATION_WARNING.voxelFraction): Chi2Concentration {
  invariant(voxelFraction > 0 && voxelFraction <= 1, 'chi2Concentration: fraction in (0, 1]');
  const values: number[] = [];
  let total = 0;
  for (const v of perVoxel) {
    invariant(Number.isFinite(v) && v >= 0, 'chi2Concentration: per-voxel χ² finite and ≥ 0');
    if (v > 0) {
      values.push(v);
      total += v;
    }
  }
  if (values.length === 0) return { voxels: 0, top: 0, share: 0 };
  values.sort((a, b) => b - a);
  const top = Math.ceil(voxelFraction * values.length);
  let s = 0;
  for (let i = 0; i < top; i++) s += values[i] as number;
  return { voxels: values.length, top, share: s / total };
}

/** The one-line warning when the concentration passes the threshold, else null. */
export function chi2ConcentrationWarning(c: Chi2Concentration): string | null {
  const w = CHI2_CONCENTRATION_WARNING;
  if (!(c.share > w.share) || c.voxels < 1 / w.voxelFraction) return null;
  return (
    `scale: ${c.top} of ${c.voxels} voxels (${(100 * w.voxelFraction).toFixed(0)} %) carry ${(100 * c.share).toFixed(0)} % of chi2: ` +
    'Bragg leftovers or other strong outliers in the scaled table? (is the Bragg exclusion of integrate on, and the table the diffuse one?)'
  );
}
