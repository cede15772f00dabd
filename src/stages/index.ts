/** Every stage of the engine, with its settings, defaults and `run` (src/stages/stage.ts). */
export type { Stage } from './stage.ts';
export { silentContext, SILENT_LOGGER, SILENT_PROGRESS, type ProgressSink, type ProgressTask, type StageContext, type StageLogger } from './context.ts';
export { SettingError } from './settings-check.ts';
export * from './integrate.ts';
export * from './correct.ts';
export * from './combine.ts';
export * from './scale.ts';
export * from './merge.ts';
export * from './absolute.ts';
export * from './export.ts';
export * from './photon.ts';
export * from './stills-extract.ts';
