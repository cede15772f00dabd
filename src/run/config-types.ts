/**
 * The run configuration of `diffract run CONFIG`, after validation and
 * defaults: every field present, every path absolute (resolved against the
 * config file's folder). The file itself (YAML or JSON, snake_case keys) is
 * described by the schema in `config-schema.ts` and the commented template of
 * `diffract init` (`config-template.ts`); `loadRunConfig` in `config.ts`
 * turns one into this.
 */

/** Where a sweep's frames come from. */
export type ImageSource =
  /** the images the experiment names (its imageset template over the scan's range) */
  | { kind: 'expt' }
  /** an explicit list of image files (CBF / SMV), one per frame */
  | { kind: 'files'; files: string[] }
  /** a DIALS-style template with '#' for the image number, images first…last inclusive */
  | { kind: 'template'; template: string; first: number; last: number }
  /** an Eiger/NeXus HDF5 master (or data) file; frames first…last (0-based, inclusive) of `dataset` */
  | { kind: 'hdf5'; file: string; dataset: string; first: number; last: number | null };

export interface SweepConfig {
  /** a label for logs and file names (default: sweep1, sweep2, … in order) */
  name: string;
  /** DIALS .expt, or XDS.INP / GXPARM.XDS (or a folder holding them) */
  expt: string;
  /** index into the experiment list */
  experiment: number;
  images: ImageSource;
  /** background run (no crystal) binned into the same subvoxels; null when none */
  background: ImageSource | null;
  /** seconds per frame; null: the scan's exposure time */
  exposure: number | null;
  /** seconds per background frame; null: `exposure` */
  backgroundExposure: number | null;
}

export type BeamstopConfig =
  | { kind: 'rect'; x0: number; y0: number; x1: number; y1: number }
  | { kind: 'circle'; cx: number; cy: number; r: number }
  | { kind: 'polygon'; points: [number, number][] };

export interface MaskConfig {
  /** pixels masked along every panel border */
  edge: number;
  /** honour the panels' .expt mask rectangles */
  panelMasks: boolean;
  beamstop: BeamstopConfig[];
  /** .npy mask over all pixels (nonzero = usable); null when none */
  file: string | null;
  /** [x, y] pixels */
  hotPixels: [number, number][];
  /** how the panels' trusted_range reads */
  trustedRange: 'exclusive' | 'inclusive';
}

export interface DetectorConfig {
  kind: 'auto' | 'photon-counting' | 'integrating';
  /** ADU per photon (integrating detectors); null: 1 */
  gain: number | null;
  /** ADU added to every pixel; null: the panel's */
  pedestal: number | null;
}

export interface GridConfig {
  /** subvoxels per cell along h, k, l */
  ndiv: [number, number, number];
  /** degrees per wedge (null with wedgeFrames set; both null: 3°) */
  wedgeDeg: number | null;
  wedgeFrames: number | null;
  /** frames per kernel call; null: from the device limits (does not change results) */
  batchFrames: number | null;
}

export interface FilterConfig {
  enabled: boolean;
  /** histogram bins 0…maxCount */
  maxCount: number;
  /** neighbourhood radius in subvoxels */
  window: number;
}

export interface CorrectionsConfig {
  enabled: boolean;
  efficiency: boolean;
  polarization: boolean;
  /** fraction 0…1 of the sample–pixel distance in air; null: no air attenuation */
  airPath: number | null;
}

export interface ScalingConfig {
  /** observation table the model is fitted on */
  table: 'diffuse' | 'bragg';
  /** refinement stages in order, from SCALE_STAGES (src/scaling) */
  stages: string[];
  bStepDeg: number;
  /** [nx, ny, nphi] or null for the default */
  aGrid: [number, number, number] | null;
  /** [ns, nphi] or null */
  cGrid: [number, number] | null;
  dMode: 'panel' | 'map';
  /** [nx, ny] or null */
  dGrid: [number, number] | null;
  /** σ thresholds of the outlier rounds, e.g. [10, 5] */
  outlier: number[];
  maxIterations: number;
  tolerance: number;
}

export interface MergeConfig {
  outlierSigma: number;
  rounds: number;
  halfSeed: number;
  halfSplit: 'observation' | 'batch';
  shells: number;
  inflateSigma: boolean;
}

/** Unit-cell contents for the absolute scale: a formula, or a sequence with copies and solvent. */
export type CompositionConfig =
  | { kind: 'formula'; formula: string }
  | { kind: 'sequence'; sequence: string; copies: number; solvent: number; disulfides: number; ions: string | null };

export interface AbsoluteConfig {
  /** null: skip the absolute stage (the map stays in relative units) */
  composition: CompositionConfig | null;
  /** |s| of the scale factor (1/Å); null: the data's largest |s| */
  cutoff: number | null;
  shells: number;
  spacing: 'width' | 'volume';
  minCompleteness: number;
}

export interface ExportConfig {
  formats: ('nexus' | 'ccp4' | 'png')[];
  /** CCP4 value of unmeasured points */
  fill: number;
  colormap: 'viridis' | 'diverging';
}

export interface RunConfig {
  /** the config file (absolute) */
  source: string;
  /** output folder (absolute); created when missing */
  output: string;
  /** space group for the ASU mapping; null: the crystal's */
  spaceGroup: string | null;
  sweeps: SweepConfig[];
  mask: MaskConfig;
  detector: DetectorConfig;
  grid: GridConfig;
  filter: FilterConfig;
  corrections: CorrectionsConfig;
  scaling: ScalingConfig;
  merge: MergeConfig;
  absolute: AbsoluteConfig;
  export: ExportConfig;
  /** write report.html */
  report: boolean;
}
