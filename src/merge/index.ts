/** Weighted merging of observations (docs/merge.md). */
export { mergeObservations, MERGE_DEFAULTS, type MergeOptions, type MergeResult, type MergeStats, type MergeEngine } from './merge.ts';
export { shellStatistics, pearson, type ShellStats, type ShellOptions } from './shells.ts';
export { sortByFineKey, type SortedRows } from './sort.ts';
export { halfOf, type HalfSplit } from './half.ts';
export { reciprocalMetric, sLength, type ReciprocalMetric } from './metric.ts';
export { multiplicityFunction, type MultiplicityFn } from './multiplicity.ts';
