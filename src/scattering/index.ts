/**
 * Scattering factors, unit-cell contents and the sum-rule model used by
 * absolute scaling (src/pipeline/absolute.ts) and the simulator.
 */
export { element, formFactor, incoherent, isElementSymbol, MAX_Z, S_MAX, type ElementFactors } from './factors.ts';
export {
  addCompositions,
  chainComposition,
  checkComposition,
  coherentSum,
  compositionFromSequence,
  electronCount,
  formatComposition,
  incoherentSum,
  parseComposition,
  resolveComposition,
  sequenceChains,
  WATER_NUMBER_DENSITY,
  type Composition,
  type ResolvedComposition,
  type SequenceCellOptions,
} from './composition.ts';
export { cellVolume, shellIntegral, shellVolume, totalScatteringModel, type TotalScatteringModel } from './model.ts';
