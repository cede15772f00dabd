/**
 * JSON Schema (draft-07) of the `diffract run` configuration file, as the user
 * writes it: snake_case keys, every object closed (`additionalProperties:
 * false`), a description on every property. `config.ts` validates a parsed
 * file against it with ajv, then fills the defaults (the `default` values
 * here) and runs the checks a schema cannot express (unique sweep names,
 * composition xor sequence, wedge_deg xor wedge_frames, …). The defaults are
 * the stages' defaults objects (src/stages/), which the per-stage commands'
 * option defaults are generated from too.
 *
 * Editors can use it too: `diffract init` writes a template that documents the
 * same keys (`config-template.ts`).
 */
import { SCALE_STAGES } from '../scaling/index.ts';
import { MAX_GRID_NODES, MIN_B_STEP_DEG } from '../scaling/grid.ts';
import { ABSOLUTE_DEFAULTS } from '../stages/absolute.ts';
import { CORRECT_DEFAULTS } from '../stages/correct.ts';
import { EXPORT_DEFAULTS } from '../stages/export.ts';
import { INTEGRATE_DEFAULTS } from '../stages/integrate.ts';
import { MERGE_DEFAULTS } from '../stages/merge.ts';
import { SCALE_DEFAULTS } from '../stages/scale.ts';
import { STILLS_MASK_DEFAULTS } from '../stills/mask.ts';
import { STILLS_SCALE_DEFAULTS } from '../stills/scale.ts';
import { PARTIALITY_MODELS } from '../stills/partiality.ts';
import { MAX_CHUNK_SHOTS, P_ORDER_KINDS, STILLS_RUN_DEFAULTS } from './stills-settings.ts';

/** The subset of JSON Schema this file uses (enough to walk it for messages and tests). */
export interface SchemaNode {
  $schema?: string;
  $id?: string;
  title?: string;
  description?: string;
  type?: SchemaType | SchemaType[];
  enum?: readonly (string | number | boolean | null)[];
  default?: unknown;
  properties?: Record<string, SchemaNode>;
  required?: readonly string[];
  additionalProperties?: boolean;
  minProperties?: number;
  maxProperties?: number;
  items?: SchemaNode;
  minItems?: number;
  maxItems?: number;
  uniqueItems?: boolean;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  minLength?: number;
  pattern?: string;
  if?: SchemaNode;
  then?: SchemaNode;
  else?: SchemaNode;
}

export type SchemaType = 'object' | 'array' | 'string' | 'number' | 'integer' | 'boolean' | 'null';

/** Sweep names become parts of file names. */
export const SWEEP_NAME_PATTERN = '^[A-Za-z0-9_][A-Za-z0-9._-]*$';

/** Readable meaning of the `pattern`s used in the schema (for error messages). */
export const PATTERN_PHRASES: Record<string, string> = {
  [SWEEP_NAME_PATTERN]: "a name of letters, digits, '.', '_' and '-' (not starting with '.' or '-')",
  '#': "a path with '#' for the digits of the image number",
};

// Every default below is a stage's (src/stages/*: INTEGRATE_DEFAULTS, SCALE_DEFAULTS, …); test/stages/defaults.test.ts checks them.
const { grid: DG, filter: DF, mask: DM, detector: DD, corrections: DC } = INTEGRATE_DEFAULTS;
const DA = ABSOLUTE_DEFAULTS;

const str = (description: string, extra: Partial<SchemaNode> = {}): SchemaNode => ({ type: 'string', minLength: 1, description, ...extra });
const nullable = (s: SchemaNode): SchemaNode => ({ ...s, type: [s.type as SchemaType, 'null'] });

function vector(n: number, item: SchemaNode, description: string, extra: Partial<SchemaNode> = {}): SchemaNode {
  return { type: 'array', items: item, minItems: n, maxItems: n, description, ...extra };
}

/** A frame source: a list of files, a template with first/last, or an HDF5 file. */
function imageSource(description: string): SchemaNode {
  return {
    description,
    type: ['array', 'object'],
    if: { type: 'array' },
    then: {
      title: 'image file',
      items: str('an image file (CBF / SMV), one per frame, in order; relative to the config folder'),
      minItems: 1,
    },
    else: {
      if: { type: 'object', required: ['hdf5'] },
      then: {
        title: 'HDF5 source',
        type: 'object',
        additionalProperties: false,
        required: ['hdf5'],
        properties: {
          hdf5: str('Eiger/NeXus HDF5 master (or data) file; relative to the config folder'),
          dataset: str('the image stack dataset inside the file', { default: '/entry/data/data' }),
          first: { type: 'integer', minimum: 0, default: 0, description: 'first frame (0-based, inclusive)' },
          last: { type: ['integer', 'null'], minimum: 0, default: null, description: 'last frame (0-based, inclusive); null: the last frame of the dataset' },
        },
      },
      else: {
        title: 'template source',
        type: 'object',
        additionalProperties: false,
        required: ['template', 'first', 'last'],
        properties: {
          template: str("DIALS-style template with '#' for the digits of the image number, e.g. data/lyso_#####.cbf; relative to the config folder", { pattern: '#' }),
          first: { type: 'integer', minimum: 0, description: 'number of the first image (inclusive)' },
          last: { type: 'integer', minimum: 0, description: 'number of the last image (inclusive)' },
        },
      },
    },
  };
}

/**
 * Stated limits on the sizes a config derives allocations from (checked by the
 * schema, before any work): filter histograms hold max_count + 1 bins per
 * voxel, the filter ball (2·window + 1)³ offsets, absolute shells one row each.
 * The scale grids' limits are the scaling library's (src/scaling/grid.ts).
 */
export const MAX_FILTER_COUNT = 10_000;
export const MAX_FILTER_WINDOW = 16;
export const MAX_ABSOLUTE_SHELLS = 10_000;

const pair = (item: SchemaNode, description: string): SchemaNode => vector(2, item, description);

/** The refinement keys of both scale models (rotation `scaling`, `stills.scaling`): stages, outlier cut-offs, iterations, tolerance. */
function refinementProperties(d: { stages: readonly string[]; outlier: readonly number[]; maxIterations: number; tolerance: number }): Record<string, SchemaNode> {
  return {
    stages: {
      type: 'array',
      minItems: 1,
      items: { type: 'string', enum: [...SCALE_STAGES] },
      default: [...d.stages],
      description: `refinement stages in order (${SCALE_STAGES.join(', ')})`,
    },
    outlier: {
      type: 'array',
      minItems: 1,
      items: { type: 'number', exclusiveMinimum: 0 },
      default: [...d.outlier],
      description: 'outlier cut-offs in σ after each stage; the last repeats',
    },
    max_iterations: { type: 'integer', minimum: 1, default: d.maxIterations, description: 'merge/fit iterations per stage at most' },
    tolerance: { type: 'number', minimum: 0, default: d.tolerance, description: 'a stage ends when the reduced χ² falls by less than this' },
  };
}

const DSM = STILLS_MASK_DEFAULTS;
const DSR = STILLS_RUN_DEFAULTS;
const DSS = STILLS_SCALE_DEFAULTS;

/** The schema title of `stills.p_order` (messages describe it by it). */
export const P_ORDER_TITLE = 'p_order';

/** `stills.p_order`: a word, or a CSV column. */
const pOrderSchema: SchemaNode = {
  title: P_ORDER_TITLE,
  description: 'the per-shot ordering parameter of the scale model: index | timestamp | diffuse | pulse_energy, or {csv, column, key} (a numeric column of a CSV file)',
  type: ['string', 'object'],
  default: DSR.pOrder.kind,
  if: { type: 'string' },
  then: { type: 'string', enum: [...P_ORDER_KINDS] },
  else: {
    title: 'p_order CSV',
    type: 'object',
    additionalProperties: false,
    required: ['csv', 'column'],
    properties: {
      csv: str('CSV file with a header line; relative to the config folder'),
      column: str('the numeric column that gives p_order'),
      key: str("the column naming each shot, by index (0-based) or identifier", { default: 'shot' }),
    },
  },
};

/** The `stills:` section (a serial-stills run instead of sweeps). */
const stillsSchema: SchemaNode = {
  type: 'object',
  additionalProperties: false,
  description: 'serial stills instead of rotation sweeps (docs/stills.md): the indexing results (expt + refl, or stream), the images, p_order, Bragg masks, partiality, bad shots',
  properties: {
    expt: str('DIALS stills ExperimentList (one experiment per shot; its ImageSets name the images); relative to the config folder'),
    refl: nullable(str('the matching DIALS reflection table (Bragg reference, bbox masks); null: none', { default: null })),
    stream: str('CrystFEL .stream instead of expt/refl; relative to the config folder'),
    image_root: nullable(str("folder that the stream's relative image paths are resolved against; null: the stream's folder", { default: null })),
    hdf5_dataset: nullable(str('the image stack inside multi-event HDF5 files; null: /entry/data/data', { default: null })),
    exposure: { type: ['number', 'null'], exclusiveMinimum: 0, default: null, description: 'seconds per shot; null: 1' },
    unit_cell: nullable(vector(6, { type: 'number', exclusiveMinimum: 0 }, 'the common grid cell [a, b, c, alpha, beta, gamma] (Å, °); null: the median of the shots’ cells', { default: null })),
    trusted_range: nullable(vector(2, { type: 'number' }, "replaces every panel's trusted range [lo, hi] of the imported detectors (read as mask.trusted_range says); null: as imported", { default: null })),
    polarization_fraction: { type: ['number', 'null'], minimum: 0, maximum: 1, default: null, description: "replaces the beams' polarization fraction; null: as imported" },
    p_order: pOrderSchema,
    bragg_mask: {
      type: 'object',
      additionalProperties: false,
      description: '2D Bragg masks per shot (predicted spots, observed bboxes, bright outliers); the outlier test takes its gain from detector.gain',
      properties: {
        fallback_radius: { type: 'number', minimum: 0, default: DSM.fallbackRadius, description: 'lattice-point radius R (1/Å) of shots whose source gives no spot model' },
        radius_scale: { type: 'number', exclusiveMinimum: 0, default: DSM.radiusScale, description: "multiplies the spot model's R" },
        ellipsoid_sigmas: { type: 'number', exclusiveMinimum: 0, default: DSM.ellipsoidSigmas, description: 'shots with an ellipsoid profile: R is at least this many σ of its widest axis' },
        margin: { type: 'number', minimum: 0, default: DSM.margin, description: 'added to the predicted extent, 1/Å' },
        margin_px: { type: 'integer', minimum: 0, maximum: 64, default: DSM.marginPx, description: 'dilation of the predicted mask, pixels' },
        divergence: { type: 'number', minimum: 0, default: DSM.divergence, description: 'beam divergence, full angle (rad), for shots whose source gives none' },
        bandwidth: { type: 'number', minimum: 0, default: DSM.bandwidth, description: 'bandwidth Δλ/λ (full width), for shots whose source gives none' },
        bbox: { type: 'boolean', default: DSM.bbox, description: "mask the observed spots' bboxes of the reflection table" },
        outliers: { type: 'boolean', default: DSM.outliers, description: 'mask bright outliers no lattice explains (second lattices, ice)' },
        block: { type: 'integer', minimum: 4, maximum: 1024, default: DSM.block, description: 'outlier test: block size, pixels' },
        z: { type: 'number', exclusiveMinimum: 0, default: DSM.z, description: 'outlier test: threshold on (v − b)/σ' },
        read_noise: { type: 'number', minimum: 0, default: DSM.readNoise, description: 'outlier test: read noise, ADU rms' },
        outlier_dilate_px: { type: 'integer', minimum: 0, maximum: 64, default: DSM.outlierDilatePx, description: 'outlier dilation, pixels' },
      },
    },
    partiality: {
      type: 'object',
      additionalProperties: false,
      description: 'partialities of the Bragg reference (I/P, σ/P): the imported ones where present, else computed',
      properties: {
        model: { type: 'string', enum: [...PARTIALITY_MODELS], default: DSR.bragg.model, description: 'computes the partiality where the source gives none: xsphere | gaussian | ellipsoid' },
        threshold: { type: 'number', minimum: 0, maximum: 1, default: DSR.bragg.threshold, description: 'Bragg rows with a partiality below this are left out of the reference' },
      },
    },
    bragg_intensity: { type: 'string', enum: ['prf', 'sum'], default: DSR.bragg.intensity, description: 'which imported Bragg intensity: prf (profile fitted) | sum' },
    scaling: {
      type: 'object',
      additionalProperties: false,
      description: 'relative scaling along p_order, a(x, y, p)·d·(b(p)·I + c(|s|, p)), and the shot rejection (docs/stills.md)',
      properties: {
        b_mode: { type: 'string', enum: ['per-shot', 'smooth'], default: DSS.bMode, description: 'b: one factor per shot (regularized toward its p_order neighbours) | a smooth function of p_order' },
        b_lambda: { type: 'number', minimum: 0, default: DSS.bLambda, description: 'smoothness λ of b along p_order (second differences, relative to the data)' },
        b_nodes: { type: 'integer', minimum: 2, maximum: 100_000, default: DSS.bNodes, description: 'b_mode smooth: nodes of b along p_order' },
        a_grid: vector(3, { type: 'integer', minimum: 2, maximum: MAX_GRID_NODES }, 'a(x, y, p_order) nodes [nx, ny, n along p_order]', { default: [...DSS.aGrid] }),
        c_grid: vector(2, { type: 'integer', minimum: 2, maximum: MAX_GRID_NODES }, 'c(|s|, p_order) nodes [ns, n along p_order]', { default: [...DSS.cGrid] }),
        d_mode: { type: 'string', enum: ['panel', 'map'], default: DSS.dMode, description: 'd: one factor per panel, or a smooth x, y map per panel' },
        ...refinementProperties(DSS),
        min_shot_rows: { type: 'integer', minimum: 1, default: DSS.minShotRows, description: 'a shot with fewer rows in the fit is rejected' },
        reject_mad: { type: 'number', exclusiveMinimum: 0, default: DSS.rejectMad, description: 'a shot whose scale is further than this many robust σ from its p_order neighbours is rejected' },
        reject_rounds: { type: 'integer', minimum: 0, maximum: 100, default: DSS.rejectRounds, description: 'refits after rejecting shots, at most' },
        row_budget: { type: 'integer', minimum: 1000, maximum: 2 ** 31, default: DSS.rowBudget, description: 'rows the fit may hold (a voxel subset beyond it)' },
        subset_seed: { type: 'integer', default: DSS.subsetSeed, description: 'seed of the voxel hash that picks the subset' },
        bragg_weight: { type: 'number', minimum: 0, default: DSS.braggWeight, description: 'weight of the Bragg term (merged I/(P·scale)) in the b fit when the input has reflections; 0: none' },
      },
    },
    background: {
      type: 'object',
      additionalProperties: false,
      required: ['images'],
      description: 'blank shots (no crystal), averaged and subtracted with propagated errors; omitted: none',
      properties: {
        images: { type: 'array', minItems: 1, items: str('a blank image file; relative to the config folder'), description: 'the blank images' },
        exposure: { type: ['number', 'null'], exclusiveMinimum: 0, default: null, description: 'seconds per blank image; null: the shots’ exposure' },
      },
    },
    on_bad_shot: { type: 'string', enum: ['stop', 'skip'], default: DSR.onBadShot, description: 'a shot that cannot be processed (missing image, …): stop the run (exit 1), or skip it with a warning and count it in the report' },
    chunk_shots: { type: 'integer', minimum: 1, maximum: MAX_CHUNK_SHOTS, default: DSR.chunkShots, description: 'shots per checkpoint chunk (a resumed run reuses finished chunks)' },
  },
};

export const RUN_CONFIG_SCHEMA: SchemaNode = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  $id: 'https://diffract.invalid/schemas/run-config.json',
  title: 'diffract run configuration',
  description: 'Configuration of `diffract run CONFIG`: import → mask → filter → integrate → correct → combine → scale → merge → absolute → export (rotation `sweeps`), or import → extract → scale → merge → absolute → export (serial `stills`); exactly one of the two. Relative paths are relative to the folder of the config file.',
  type: 'object',
  additionalProperties: false,
  properties: {
    output: str('output folder (created when missing); relative to the config folder', { default: 'diffract-out' }),
    space_group: {
      type: ['string', 'integer', 'null'],
      minLength: 1,
      minimum: 1,
      maximum: 230,
      default: CORRECT_DEFAULTS.spaceGroup,
      description: "space group for the ASU mapping: number, Hermann–Mauguin or Hall symbol; null: the crystal's",
    },
    report: { type: 'boolean', default: true, description: 'write report.html into the output folder' },
    threads: { type: ['integer', 'null'], minimum: 1, maximum: 1024, default: null, description: 'CPU threads; null: DIFFRACT_THREADS, else one per core (the --threads flag wins); results do not depend on it' },
    memory_mb: { type: ['integer', 'null'], minimum: 1, default: null, description: 'host memory budget in MiB for frame batches and per-thread accumulators; null: ¼ of the memory, at most 2048 (the --memory-mb flag wins)' },
    sweeps: {
      type: 'array',
      minItems: 1,
      description: 'the rotation sweeps (at least one), reduced separately and combined before scaling',
      items: {
        title: 'sweep',
        type: 'object',
        additionalProperties: false,
        required: ['expt'],
        description: 'one rotation sweep',
        properties: {
          name: str('label for logs and file names; unique (default sweep1, sweep2, … by position)', { pattern: SWEEP_NAME_PATTERN }),
          expt: str('DIALS .expt, or XDS.INP / GXPARM.XDS (or a folder holding them); relative to the config folder'),
          experiment: { type: 'integer', minimum: 0, default: 0, description: 'index into the experiment list' },
          images: imageSource("the frames: omitted = the images the experiment names; a list of files; {template, first, last}; or {hdf5, dataset, first, last}"),
          background: imageSource('background run (no crystal), binned into the same subvoxels; same forms as images; omitted: none'),
          exposure: { type: ['number', 'null'], exclusiveMinimum: 0, default: CORRECT_DEFAULTS.exposure, description: "seconds per frame; null: the scan's exposure time" },
          background_exposure: { type: ['number', 'null'], exclusiveMinimum: 0, default: CORRECT_DEFAULTS.backgroundExposure, description: 'seconds per background frame; null: exposure' },
        },
      },
    },
    stills: stillsSchema,
    mask: {
      type: 'object',
      additionalProperties: false,
      description: 'pixels left out of the integration',
      properties: {
        edge: { type: 'integer', minimum: 0, default: DM.edge, description: 'pixels masked along every panel border' },
        panel_masks: { type: 'boolean', default: DM.panelMasks, description: "honour the panels' .expt mask rectangles" },
        beamstop: {
          type: 'array',
          default: [...DM.beamstop],
          description: 'beamstop shapes in pixels: {rect: [x0, y0, x1, y1]} (half-open), {circle: [cx, cy, r]}, {polygon: [[x, y], …]} (≥ 3 vertices)',
          items: {
            title: 'beamstop shape',
            type: 'object',
            additionalProperties: false,
            minProperties: 1,
            maxProperties: 1,
            description: 'one shape: exactly one of rect, circle, polygon',
            properties: {
              rect: vector(4, { type: 'number' }, 'rectangle [x0, y0, x1, y1] in pixels, half-open (x0 ≤ x < x1)'),
              circle: vector(3, { type: 'number' }, 'circle [cx, cy, r] in pixels'),
              polygon: {
                type: 'array',
                minItems: 3,
                items: { ...pair({ type: 'number' }, 'vertex [x, y] in pixels'), title: '[x, y] point' },
                description: 'polygon vertices [[x, y], …] in pixels, at least 3',
              },
            },
          },
        },
        file: nullable(str('.npy mask over all pixels (nonzero = usable); relative to the config folder; null: none', { default: DM.file })),
        hot_pixels: {
          type: 'array',
          default: [...DM.hotPixels],
          items: { ...pair({ type: 'integer', minimum: 0 }, 'hot pixel [x, y]'), title: '[x, y] pixel' },
          description: 'hot pixels as [x, y] pairs',
        },
        trusted_range: { type: 'string', enum: ['exclusive', 'inclusive'], default: DM.trustedRange, description: "how the panels' trusted_range reads: exclusive (lo < v < hi) or inclusive" },
      },
    },
    detector: {
      type: 'object',
      additionalProperties: false,
      description: 'how pixel values become photon counts',
      properties: {
        kind: { type: 'string', enum: ['auto', 'photon-counting', 'integrating'], default: DD.kind, description: 'auto: photon counting when every panel is SENSOR_PAD' },
        gain: { type: ['number', 'null'], exclusiveMinimum: 0, default: DD.gain, description: 'integrating detectors: ADU per photon; null: 1' },
        pedestal: { type: ['number', 'null'], default: DD.pedestal, description: "integrating detectors: ADU added to every pixel; null: the panel's" },
      },
    },
    grid: {
      type: 'object',
      additionalProperties: false,
      description: 'the subvoxel grid and the wedges the rotation is cut into',
      properties: {
        ndiv: vector(3, { type: 'integer', minimum: 1, maximum: 255 }, 'subvoxels per cell along h, k, l (odd puts the central one on the Bragg position)', { default: [...DG.ndiv] }),
        wedge_deg: { type: ['number', 'null'], exclusiveMinimum: 0, default: DG.wedgeDeg, description: 'degrees of rotation per wedge (default 3; give wedge_frames instead to cut by frames)' },
        wedge_frames: { type: ['integer', 'null'], minimum: 1, default: DG.wedgeFrames, description: 'frames per wedge (instead of wedge_deg)' },
        batch_frames: { type: ['integer', 'null'], minimum: 1, default: DG.batchFrames, description: 'frames per kernel call; null: from the device limits (does not change results)' },
      },
    },
    filter: {
      type: 'object',
      additionalProperties: false,
      description: 'the Poisson filter that removes Bragg peaks',
      properties: {
        enabled: { type: 'boolean', default: DF.enabled, description: 'false: integrate without the filter (overflowing subvoxels are still excluded)' },
        max_count: { type: 'integer', minimum: 1, maximum: MAX_FILTER_COUNT, default: DF.maxCount, description: 'histogram bins 0…max_count; a subvoxel with a larger count overflows and is excluded' },
        window: { type: 'integer', minimum: 0, maximum: MAX_FILTER_WINDOW, default: DF.window, description: 'neighbourhood radius in subvoxels (ball Δ·Δ ≤ window²)' },
      },
    },
    corrections: {
      type: 'object',
      additionalProperties: false,
      description: 'per-pixel corrections (κ = solid angle × polarization × efficiency × air)',
      properties: {
        enabled: { type: 'boolean', default: DC.enabled, description: 'false: no per-pixel correction sums' },
        efficiency: { type: 'boolean', default: DC.efficiency, description: 'κ includes the detector efficiency (sensor absorption)' },
        polarization: { type: 'boolean', default: DC.polarization, description: 'κ includes the polarization factor' },
        air_path: { type: ['number', 'null'], minimum: 0, maximum: 1, default: DC.airPath, description: 'fraction 0…1 of the sample–pixel distance in air (default 1: all air); 0 or null: no air attenuation' },
      },
    },
    scaling: {
      type: 'object',
      additionalProperties: false,
      description: 'relative scaling, model a(x,y,φ)·d·(b(φ)·I + c(|s|,φ)) (docs/scale.md)',
      properties: {
        table: { type: 'string', enum: ['diffuse', 'bragg'], default: SCALE_DEFAULTS.table, description: 'observation table the model is fitted on' },
        b_step_deg: { type: 'number', minimum: MIN_B_STEP_DEG, default: SCALE_DEFAULTS.bStepDeg, description: 'spacing of the b(φ) control points, degrees' },
        a_grid: nullable(vector(3, { type: 'integer', minimum: 2, maximum: MAX_GRID_NODES }, 'a(x, y, φ) nodes [nx, ny, nphi]; null: 9, 9 and one every 15°', { default: SCALE_DEFAULTS.aGrid })),
        c_grid: nullable(vector(2, { type: 'integer', minimum: 2, maximum: MAX_GRID_NODES }, 'c(|s|, φ) nodes [ns, nphi]; null: 12 and one every 15°', { default: SCALE_DEFAULTS.cGrid })),
        d_mode: { type: 'string', enum: ['panel', 'map'], default: SCALE_DEFAULTS.dMode, description: 'd: one factor per panel, or a smooth x, y map per panel' },
        d_grid: nullable(vector(2, { type: 'integer', minimum: 2, maximum: MAX_GRID_NODES }, 'd map nodes per panel [nx, ny] (d_mode map); null: 9, 9', { default: SCALE_DEFAULTS.dGrid })),
        ...refinementProperties(SCALE_DEFAULTS),
      },
    },
    merge: {
      type: 'object',
      additionalProperties: false,
      description: 'inverse-variance merging per ASU subvoxel (docs/merge.md)',
      properties: {
        outlier_sigma: { type: 'number', minimum: 0, default: MERGE_DEFAULTS.outlierSigma, description: 'reject the worst row of a voxel while its leave-one-out deviation exceeds this many σ (0: no rejection)' },
        rounds: { type: 'integer', minimum: 0, default: MERGE_DEFAULTS.rounds, description: 'rejection rounds (one row per voxel each)' },
        half_seed: { type: 'integer', default: MERGE_DEFAULTS.halfSeed, description: 'seed of the random half-data-set split' },
        half_split: { type: 'string', enum: ['observation', 'batch'], default: MERGE_DEFAULTS.halfSplit, description: 'CC½ split unit' },
        shells: { type: 'integer', minimum: 1, maximum: 1000, default: MERGE_DEFAULTS.shells, description: 'resolution shells (equal volume) for CC½' },
        inflate_sigma: { type: 'boolean', default: MERGE_DEFAULTS.inflateSigma, description: 'scale each merged σ by √(reduced χ²) where that exceeds 1' },
      },
    },
    absolute: {
      type: 'object',
      additionalProperties: false,
      description: 'absolute scale by the Krogh-Moe sum rule (docs/absolute.md); skipped when neither composition nor sequence is given',
      properties: {
        composition: nullable(str('unit-cell contents as a formula, e.g. "C2000 H3100 N540 O610 S12" or "8*C613H959N193O185S10 + 9000 H2O"', { default: DA.composition })),
        sequence: nullable(
          str('protein sequence: a FASTA file (relative to the config folder) or the one-letter sequence itself; records are the chains of one molecule', {
            default: null,
          }),
        ),
        copies: nullable({ type: 'number', exclusiveMinimum: 0, default: DA.sequence.copies, description: 'molecules per unit cell (with sequence; default 1)' }),
        solvent: nullable({ type: 'number', minimum: 0, exclusiveMaximum: 1, default: DA.sequence.solvent, description: 'bulk-solvent fraction of the cell, water at 0.0334 /Å³ (with sequence; default 0.5)' }),
        disulfides: nullable({ type: 'integer', minimum: 0, default: DA.sequence.disulfides, description: 'disulfide bonds per molecule, 2 H each (with sequence; default 0)' }),
        ions: nullable(str('extra atoms per cell, e.g. "Na8 Cl8" (with sequence)', { default: DA.sequence.ions })),
        cutoff: { type: ['number', 'null'], exclusiveMinimum: 0, default: DA.cutoff, description: "|s| (1/Å) of the scale factor, snapped to a shell edge; null: the data's largest |s|" },
        shells: { type: 'integer', minimum: 2, maximum: MAX_ABSOLUTE_SHELLS, default: DA.shells, description: 'radial shells' },
        spacing: { type: 'string', enum: ['width', 'volume'], default: DA.spacing, description: 'shell spacing: equal width or equal volume' },
        min_completeness: { type: 'number', minimum: 0, exclusiveMaximum: 1, default: DA.minCompleteness, description: 'shells measured below this fraction are interpolated' },
      },
    },
    export: {
      type: 'object',
      additionalProperties: false,
      description: 'the merged map written for viewers (docs/export.md)',
      properties: {
        formats: {
          type: 'array',
          minItems: 1,
          uniqueItems: true,
          items: { type: 'string', enum: ['nexus', 'ccp4', 'png'] },
          default: [...EXPORT_DEFAULTS.formats],
          description: 'files to write: nexus (.nxs), ccp4 (.ccp4), png (slices h=0, k=0, l=0)',
        },
        fill: { type: 'number', default: EXPORT_DEFAULTS.fill, description: 'CCP4 value of unmeasured points (NeXus keeps NaN)' },
        colormap: { type: 'string', enum: ['viridis', 'diverging'], default: EXPORT_DEFAULTS.colormap, description: 'PNG colour map' },
      },
    },
  },
};
