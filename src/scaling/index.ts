/**
 * Relative scaling of voxel observations (mdx2 model
 * I_obs ≈ a(x, y, φ) · d · (b(φ) · I_v + c(|s|, φ))): the refinement, the
 * model and its evaluators, and its stage-file layout. See docs/scale.md.
 */
export {
  scaleObservations,
  SCALE_STAGES,
  type FitInfo,
  type HistoryEntry,
  type IterationInfo,
  type ScaleStage,
  type ScalingHooks,
  type ScalingOptions,
  type ScalingResult,
  type ScalingStats,
} from './refine.ts';
export {
  applyScaleModel,
  evaluateScale,
  FunctionEvaluator,
  readScaleModel,
  scaleFactors,
  scaleModelGroups,
  type AxisColumn,
  type ScaleFactors,
  type ScaleFunction,
  type ScaleFunctionName,
  type ScaleModel,
} from './model.ts';
export { historyGroup } from './history.ts';
export { gridValue, type ScaleGrid } from './grid.ts';
export { CHI2_CONCENTRATION_WARNING, chi2Concentration, chi2ConcentrationWarning, type Chi2Concentration } from './chi2-concentration.ts';
export { indexVoxels, mergeObservations, type MergedVoxels, type VoxelIndex } from './merge.ts';
export { GridSystem, pcg, solveBounded, type Csr, type SolveInfo } from './sparse.ts';
