/**
 * The `./io` entry (Node): frame sources for every image format, the image
 * codecs, DIALS reflection tables, PONI files, NumPy arrays, the HDF5
 * stage-file layouts the stages read and write, and the serial-stills imports
 * (DIALS stills `.expt`/`.refl`, CrystFEL `.stream`; docs/stills.md).
 *
 *   const frames = await openFrameSource('master.h5');          // or CBF/SMV files, a template, a recording
 *   for await (const { offset, image } of frames.range(0, frames.length)) …
 *   await frames.close();
 */
export type { FrameSource, FrameType, SourcedFrame, StoredArray, StoredFrame } from './sources/frame-source.ts';
export { detectSourceKind, openFrameSource, type FrameSourceKind, type FrameSourceOptions, type FrameSourceSpec } from './sources/open.ts';
export { openExperimentFrames, type ExperimentFramesOptions, type ExperimentImages } from './sources/experiment.ts';
export { openHdf5Frames, type Hdf5FrameSource, type Hdf5FramesOptions } from './sources/hdf5-frames.ts';
export { openImageFiles, type ImageFilesOptions } from './sources/image-files.ts';
export { openDectrisRecording, openStream1Recording } from './sources/recordings.ts';

export type { DetectorImage, ImageHeader } from './image.ts';
export { decodeImage, detectImageFormat, expandTemplate, readImage, type ImageDecodeOptions } from './series.ts';
export { decodeCbf, encodeCbf, readCbf, writeCbf, type CbfDecodeOptions, type CbfImageInput } from './cbf.ts';
export { decodeSmv, encodeSmv, readSmv, writeSmv, type SmvDecodeOptions, type SmvImageInput } from './smv.ts';
export { writeNexusSeries, type NexusSeriesSpec, type NexusSeriesWritten } from './nexus-write.ts';
export { decodeReflectionTable, getColumn, hasColumn, readReflectionTable, type ReflectionTable } from './dials-refl.ts';
export { encodeReflectionTable, type WriteColumn } from './dials-refl-write.ts';
export {
  parseCrystfelStream,
  readCrystfelStream,
  type CrystfelCell,
  type CrystfelGeometry,
  type CrystfelPanel,
  type CrystfelStream,
  type StreamChunk,
  type StreamCrystal,
  type StreamReflections,
} from './crystfel-stream.ts';
export { readDialsStills, stillReflectionsFromTable, stillsFromExperimentList } from '../stills/dials.ts';
export { crystfelToDials, readCrystfelStills, stillsFromStream } from '../stills/crystfel.ts';
export type { ShotBeamSpread, ShotImage, SpotModel, StillReflections, StillShot, StillsDataset, StillsRayMethod } from '../stills/model.ts';
export { StillPredictor, defaultRayMethod, type StillPrediction } from '../stills/predict.ts';
export { computePartialities, partialities, spotRadius, PARTIALITY_MODELS, type PartialityModel, type PartialitySettings } from '../stills/partiality.ts';
export { ShotImages, shotLabel, type ShotImagesOptions } from '../stills/images.ts';
export { shotHkl, shotHklParams, ShotVectorCache, type ShotHkl } from '../stills/geometry.ts';
export {
  stillBraggMask,
  validateStillsMaskSettings,
  STILLS_MASK_DEFAULTS,
  MASK_PREDICTED,
  MASK_BBOX,
  MASK_OUTLIER,
  type StillsMaskSettings,
  type ShotMask,
  type StillMaskInputs,
} from '../stills/mask.ts';
export { maskedFractions, formatMaskRows, type ShotMaskRow, type MaskReportOptions } from '../stills/mask-report.ts';
export {
  extractShots,
  stillsGridMeta,
  stillsExtractDefaults,
  validateStillsExtractSettings,
  ShotError,
  STILLS_EXTRACT_DEFAULTS,
  type ShotInfo,
  type ShotObservations,
  type StillsBackgroundSettings,
  type StillsExtractInputs,
  type StillsExtractSettings,
} from '../stills/extract.ts';
export { braggObservations, BRAGG_PARTIALITY_THRESHOLD, BRAGG_TABLE_DEFAULTS, type BraggObservations, type BraggTableSettings } from '../stills/bragg-table.ts';
export { readStillsChunk, writeStillsChunk, type SkippedShot, type StillsChunk } from './stills-chunk-file.ts';
export { formatPoni, parsePoni, readPoni, type PoniGeometry } from './poni.ts';
export { decodeNpy, encodeNpy, readNpy, writeNpy, type NpyArray } from './npy.ts';

export { readTableGroups, readVoxelTables, type VoxelTablesFile } from './voxel-tables.ts';
export { writeIntegrateFile, type IntegrateFileContent, type RootAttributes, type WedgeSummary } from './integrate-file.ts';
export { mergedOf, observationsOf, readStageFile, writeStageFile, type StageFile, type StageFileContent } from './observation-file.ts';
