/**
 * The run configuration of `diffract run CONFIG`, after validation and
 * defaults: every field present, every path absolute (resolved against the
 * config file's folder). The file itself (YAML or JSON, snake_case keys) is
 * described by the schema in `config-schema.ts` and the commented template of
 * `diffract init` (`config-template.ts`); `loadRunConfig` in `config.ts`
 * turns one into this. The per-stage parts are the stages' typed settings
 * (src/stages/), so the runner hands them to the stages as they are.
 */
import type { BeamstopShape } from '../pipeline/voxel-masks.ts';
import type { AbsoluteSettings, CompositionSettings } from '../stages/absolute.ts';
import type { ExportSettings } from '../stages/export.ts';
import type { CorrectionSettings, DetectorSettings, FilterSettings, GridSettings, MaskSettings } from '../stages/integrate.ts';
import type { MergeSettings } from '../stages/merge.ts';
import type { ScaleSettings } from '../stages/scale.ts';
import type { StillsMaskSettings } from '../stills/mask.ts';
import type { PartialityModel } from '../stills/partiality.ts';
import type { StillsScaleSettings } from '../stills/scale.ts';

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

// The stage settings, as the config holds them (the schema's defaults are the stages' defaults).
export type BeamstopConfig = BeamstopShape;
export type MaskConfig = MaskSettings;
export type DetectorConfig = DetectorSettings;
export type GridConfig = GridSettings;
export type FilterConfig = FilterSettings;
export type CorrectionsConfig = CorrectionSettings;
export type ScalingConfig = ScaleSettings;
export type MergeConfig = MergeSettings;
/** Unit-cell contents for the absolute scale: a formula, or a sequence with copies and solvent. */
export type CompositionConfig = CompositionSettings;
export type AbsoluteConfig = AbsoluteSettings;
/** The export settings a config sets (the table, grid size limit and CCP4 statistics keep their defaults). */
export type ExportConfig = Pick<ExportSettings, 'formats' | 'fill' | 'colormap'>;

/** Where the stills' indexing results come from. */
export type StillsInput =
  /** a DIALS stills ExperimentList (one experiment per shot) and, optionally, its reflections */
  | { kind: 'dials'; expt: string; refl: string | null }
  /** a CrystFEL stream (geometry, chunks, crystals, reflections) */
  | { kind: 'crystfel'; stream: string };

/** The per-shot ordering parameter the scale model varies along (docs/run-config.md). */
export type POrderConfig = { kind: 'index' } | { kind: 'timestamp' } | { kind: 'diffuse' } | { kind: 'pulse_energy' } | { kind: 'csv'; file: string; column: string; key: string };

/** What a run does with a shot that cannot be processed (missing or unreadable image, …). */
export type BadShotPolicy = 'stop' | 'skip';

/** The Bragg reference of the stills: partiality and intensity. */
export interface StillsBraggConfig {
  /** computes the partialities the source does not give */
  model: PartialityModel;
  /** rows with a partiality below this are left out of the Bragg reference */
  threshold: number;
  /** which imported intensity */
  intensity: 'prf' | 'sum';
}

/** The `stills:` section: a serial-stills run instead of rotation sweeps. */
export interface StillsConfig {
  input: StillsInput;
  /** folder that relative image paths are resolved against (streams); null: the stream's folder */
  imageRoot: string | null;
  /** HDF5 dataset of multi-event files; null: /entry/data/data */
  hdf5Dataset: string | null;
  /** seconds per shot; null: 1 */
  exposure: number | null;
  /** the common grid's cell; null: the median of the shots' cells */
  unitCell: [number, number, number, number, number, number] | null;
  /** replaces every panel's trusted range [lo, hi) of the imported detectors; null: as imported */
  trustedRange: [number, number] | null;
  /** replaces the beams' polarization fraction; null: as imported */
  polarizationFraction: number | null;
  pOrder: POrderConfig;
  /** the 2D Bragg masks of each shot (src/stills/mask.ts; the gain is detector.gain) */
  braggMask: Omit<StillsMaskSettings, 'gain'>;
  bragg: StillsBraggConfig;
  /** the scale model along p_order and the shot rejection (src/stills/scale.ts) */
  scaling: StillsScaleSettings;
  /** blank shots, averaged and subtracted with propagated errors; null: none */
  background: { images: string[]; exposure: number | null } | null;
  onBadShot: BadShotPolicy;
  /** shots per checkpoint chunk */
  chunkShots: number;
}

export interface RunConfig {
  /** the config file (absolute) */
  source: string;
  /** output folder (absolute); created when missing */
  output: string;
  /** space group for the ASU mapping; null: the crystal's */
  spaceGroup: string | null;
  /** the rotation sweeps; empty when the config has `stills` */
  sweeps: SweepConfig[];
  /** a serial-stills run; null when the config has `sweeps` */
  stills: StillsConfig | null;
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
  /** CPU threads; null: DIFFRACT_THREADS, else one per core */
  threads: number | null;
  /** host memory budget in MiB; null: the default */
  memoryMb: number | null;
}
