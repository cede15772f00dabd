/**
 * diffract as a library (the package's `.` entry, Node): the engine and the
 * stages, with what a program needs around them (experiment geometry, frame
 * sources, the integrate file). `./kernels` has every kernel with its CPU
 * twin, `./io` the formats, `./browser` the node-free host and kernels for a
 * page. docs/api.md shows each use.
 *
 *   const engine = await Engine.create({ backend: 'auto' });     // GPU, else the CPU path
 *   const ctx = silentContext(engine);                            // or your own logger / progress sink
 *   const r = await stages.integrate.run(ctx, { experiment, exptPath, frames }, stages.integrate.defaults);
 *   engine.destroy();
 */
import { absoluteStage } from './stages/absolute.ts';
import { combineStage } from './stages/combine.ts';
import { correctStage } from './stages/correct.ts';
import { exportStage } from './stages/export.ts';
import { integrateStage } from './stages/integrate.ts';
import { mergeStage } from './stages/merge.ts';
import { photonStage } from './stages/photon.ts';
import { scaleStage } from './stages/scale.ts';
import { stillsExtractStage } from './stages/stills-extract.ts';

/** Every stage by name: `stages.integrate.run(ctx, inputs, settings)`, `stages.integrate.defaults`. */
export const stages = {
  integrate: integrateStage,
  correct: correctStage,
  combine: combineStage,
  scale: scaleStage,
  merge: mergeStage,
  absolute: absoluteStage,
  export: exportStage,
  photon: photonStage,
  stillsExtract: stillsExtractStage,
} as const;
export * from './stages/index.ts';

export { DeviceLostError, DiffractError, FileAccessError, FormatError, GpuError, InvalidValueError, MissingFieldError, UsageError, type ErrorLocation } from './errors.ts';
export { log, setLogMode, setLogSink, type LogLevel, type LogMode, type LogSink } from './util/log.ts';
export { Engine, type EngineOptions } from './host/engine.ts';
export { GpuContext, type AdapterDescription, type GpuContextOptions, type GpuCreateOptions, type GpuLimitsSummary, type GpuWrapOptions } from './host/context.ts';
export { resolveBackendChoice, type BackendChoice } from './host/backend.ts';

export { loadExperiments, pickExperiment } from './geometry/load.ts';
export type * from './geometry/model.ts';
export { openExperimentFrames, type ExperimentFramesOptions, type ExperimentImages } from './io/sources/experiment.ts';
export { openFrameSource, type FrameSourceOptions, type FrameSourceSpec } from './io/sources/open.ts';
export type { FrameSource, SourcedFrame } from './io/sources/frame-source.ts';
export { writeIntegrateFile, type IntegrateFileContent } from './io/integrate-file.ts';
export { readStageFile, writeStageFile } from './io/observation-file.ts';
export { PhotonSession, type PhotonSessionOptions } from './photon/session.ts';
export { hklAtPositions, type DetectorPosition, type HklTable } from './pipeline/hkl-positions.ts';
export { mapSeries, type MappedFrame, type MapSeriesOptions } from './pipeline/map-series.ts';
