/**
 * The commented YAML template that `diffract init` writes: every key of the
 * run configuration (`config-schema.ts`) with its default value and meaning,
 * and one example sweep (the other image forms shown commented out). Read
 * as it is, it gives the same `RunConfig` as a file holding only the sweep's
 * `expt`: the values shown are the defaults (tests check this). The stills
 * template (`diffract init --stills`) shares its common sections.
 */

const ROTATION_HEAD = `# diffract run configuration (written by 'diffract init').
#
#   diffract run diffract.yaml
#
# runs the whole reduction: import -> mask -> filter -> integrate -> correct ->
# combine -> scale -> merge -> absolute -> export.
#
# Every key is shown with its default value: a key left out (or deleted) takes
# that default. Relative paths are relative to the folder of this file; '~/'
# starts in your home folder. Files are not opened when the config is read:
# 'diffract run' checks them as it goes. Reference: docs/run-config.md.
#
# For serial stills, a section
# stills: (the shots: expt/refl or stream, p_order, Bragg masks, ...)
# replaces 'sweeps:'; 'diffract init --stills' writes that template.

`;

const STILLS_HEAD = `# diffract run configuration for serial stills (written by 'diffract init --stills').
#
#   diffract run diffract.yaml
#
# runs the stills reduction: import (DIALS .expt/.refl or CrystFEL .stream) ->
# per-shot 2D Bragg masks and diffuse extraction (checkpointed in chunks of
# shots) -> Bragg reference -> p_order -> scale -> merge -> absolute -> export
# -> report.
#
# Every key is shown with its default value: a key left out (or deleted) takes
# that default. Relative paths are relative to the folder of this file; '~/'
# starts in your home folder. Files are not opened when the config is read:
# 'diffract run' checks them as it goes. Reference: docs/run-config.md,
# docs/stills.md.

`;

const STILLS = `# The serial stills (instead of rotation 'sweeps'; a config has one or the other).
stills:
  # expt (REQUIRED unless stream): a DIALS stills ExperimentList, one experiment
  # (crystal, image) per shot. Set this to your file.
  expt: indexed.expt
  # refl: the matching DIALS reflection table (Bragg reference and the observed
  # spots' bboxes); null: none.
  refl: null
  # stream: a CrystFEL .stream instead of expt/refl, e.g.
  # stream: run.stream
  # image_root: folder that relative image paths of a stream are resolved
  # against; null: the stream's folder.
  image_root: null
  # hdf5_dataset: the image stack inside multi-event HDF5 files;
  # null: /entry/data/data.
  hdf5_dataset: null
  # exposure: seconds per shot; null: 1.
  exposure: null
  # unit_cell: the common grid's cell [a, b, c, alpha, beta, gamma] (A, deg);
  # null: the median of the shots' cells.
  unit_cell: null
  # trusted_range: replaces every panel's trusted range [lo, hi] of the
  # imported detectors (read as mask.trusted_range says), e.g. [1, 10000];
  # null: as imported.
  trusted_range: null
  # polarization_fraction: replaces the beams' polarization fraction (0...1),
  # e.g. 0.93; null: as imported.
  polarization_fraction: null
  # p_order: the per-shot ordering parameter the scale model varies along:
  # index | timestamp | diffuse (total diffuse intensity) | pulse_energy, or a
  # numeric column of a CSV file with a header line, its shots named in column
  # 'key' by index (0-based) or identifier:
  # p_order: {csv: shots.csv, column: pulse_energy, key: shot}
  p_order: index
  # bragg_mask: the 2D Bragg mask of each shot (predicted spots, the observed
  # spots' bboxes, bright outliers); the outlier test takes detector.gain.
  bragg_mask:
    # fallback_radius: lattice-point radius R (1/A) of shots whose source
    # gives no spot model.
    fallback_radius: 0.002
    # radius_scale: multiplies the spot model's R.
    radius_scale: 1
    # ellipsoid_sigmas: ellipsoid profiles: R is at least this many sigma.
    ellipsoid_sigmas: 3
    # margin: added to the predicted extent, 1/A.
    margin: 0
    # margin_px: dilation of the predicted mask, pixels (0...64).
    margin_px: 0
    # divergence: beam divergence, full angle (rad), where the source gives none.
    divergence: 0
    # bandwidth: d(lambda)/lambda, full width, where the source gives none.
    bandwidth: 0
    # bbox: mask the observed spots' bboxes of the reflection table.
    bbox: true
    # outliers: mask bright outliers no lattice explains (second lattices, ice).
    outliers: true
    # block: outlier test block size, pixels (4...1024).
    block: 16
    # z: outlier test threshold on (v - b)/sigma.
    z: 4
    # read_noise: outlier test read noise, ADU rms.
    read_noise: 0
    # outlier_dilate_px: outlier dilation, pixels (0...64).
    outlier_dilate_px: 1
  # partiality: of the Bragg reference (I/P, sigma/P): the imported one where
  # present, else computed with model: xsphere | gaussian | ellipsoid.
  partiality:
    model: gaussian
    # threshold: Bragg rows with a partiality below this are left out.
    threshold: 0.3
  # bragg_intensity: which imported Bragg intensity: prf | sum.
  bragg_intensity: prf
  # scaling: the scale model a(x,y,p) * d * (b(p) * I + c(|s|,p)) along
  # p = p_order, and the shot rejection (docs/stills.md).
  scaling:
    # b_mode: per-shot (one b per shot, regularized toward its p_order
    # neighbours) | smooth (b a smooth function of p_order).
    b_mode: per-shot
    # b_lambda: smoothness of b along p_order (second differences).
    b_lambda: 0.01
    # b_nodes: b_mode smooth: nodes of b along p_order.
    b_nodes: 10
    # a_grid: a(x, y, p_order) nodes [nx, ny, n along p_order], 2...100.
    a_grid: [5, 5, 3]
    # c_grid: c(|s|, p_order) nodes [ns, n along p_order], 2...100.
    c_grid: [8, 3]
    # d_mode: panel (one factor per panel) | map (a smooth x, y map per panel).
    d_mode: panel
    # stages: refinement stages in order, from b, bc, c, d, a.
    stages: [b, bc, c, d, a]
    # outlier: row outlier cut-offs in sigma after each stage; the last repeats.
    outlier: [10, 5]
    # max_iterations: merge/fit iterations per stage at most.
    max_iterations: 10
    # tolerance: a stage ends when the reduced chi^2 falls by less than this.
    tolerance: 1.0e-4
    # min_shot_rows: a shot with fewer rows in the fit is rejected.
    min_shot_rows: 50
    # reject_mad: a shot whose scale lies further than this many robust sigma
    # from its p_order neighbours is rejected.
    reject_mad: 5
    # reject_rounds: refits after rejecting shots, at most.
    reject_rounds: 2
    # row_budget: rows the fit may hold (a voxel subset beyond it).
    row_budget: 2000000
    # subset_seed: seed of the voxel hash that picks the subset.
    subset_seed: 0
    # bragg_weight: weight of the Bragg term (merged I/(P*scale)) in the b fit
    # when the input has reflections; 0: none.
    bragg_weight: 1
  # background: blank shots (no crystal), averaged and subtracted with
  # propagated errors; left out: none.
  # background: {images: [blank_0001.img, blank_0002.img], exposure: null}
  # on_bad_shot: a shot that cannot be processed (missing image, ...):
  # stop (exit 1, one line naming the shot) | skip (a warning naming the shot;
  # the shot is counted as skipped in summary.json and the report).
  on_bad_shot: stop
  # chunk_shots: shots per checkpoint chunk; a resumed run reuses the
  # finished chunks.
  chunk_shots: 100

`;

const STILLS_GRID = `# The common grid of the stills.
grid:
  # ndiv: subvoxels per cell along h, k, l, odd integers 1...255 (1, 1, 1: one
  # value per lattice point). The wedge keys of the rotation grid do not apply.
  ndiv: [3, 3, 3]

`;

const TOP = `# Output folder (created when missing): stage files, the map, report.html.
output: diffract-out

# Space group for the ASU mapping: a number (19), a Hermann-Mauguin symbol
# ("P 21 21 21") or a Hall symbol. null: the crystal's, from the experiment.
space_group: null

# Write report.html (plots and tables of every stage) into the output folder.
report: true

# CPU threads (null: DIFFRACT_THREADS, else one per core; --threads wins).
# Results do not depend on it.
threads: null

# Host memory budget in MiB for frame batches and per-thread accumulators
# (null: a quarter of the memory, at most 2048; --memory-mb wins).
memory_mb: null

`;

const SWEEPS = `# The rotation sweeps, at least one. Each is integrated on its own; all are
# combined before scaling.
sweeps:
    # name: a label for logs and file names: letters, digits, '.', '_', '-';
    # unique. Default: sweep1, sweep2, ... by position.
  - name: sweep1
    # expt (REQUIRED): the indexed experiment: DIALS .expt, or XDS.INP /
    # GXPARM.XDS (or a folder holding them). Set this to your file.
    expt: indexed.expt
    # experiment: index into the experiment list of the .expt.
    experiment: 0
    # images: the frames. Left out: the images the experiment names (its
    # imageset template over the scan's range). Or one of:
    #   a list of files (CBF / SMV), one per frame, in order:
    # images: [data/lyso_00001.cbf, data/lyso_00002.cbf, data/lyso_00003.cbf]
    #   a template, '#' for the digits of the image number, first...last inclusive:
    # images: {template: data/lyso_#####.cbf, first: 1, last: 3600}
    #   an Eiger/NeXus HDF5 master (or data) file, frames 0-based inclusive,
    #   dataset default /entry/data/data, first default 0, last null = to the end:
    # images: {hdf5: data/lyso_master.h5, dataset: /entry/data/data, first: 0, last: null}
    # background: a background run (no crystal), binned into the same
    # subvoxels; the same three forms as images. Left out: none.
    # background: {template: data/empty_#####.cbf, first: 1, last: 360}
    # exposure: seconds per frame; null: the scan's exposure time.
    exposure: null
    # background_exposure: seconds per background frame; null: exposure.
    background_exposure: null
  # A second sweep needs only its expt (and images when they differ):
  # - expt: ../sweep2/indexed.expt

`;

const MASK = `# Pixels left out of the integration.
mask:
  # edge: pixels masked along every panel border.
  edge: 0
  # panel_masks: honour the panels' .expt mask rectangles.
  panel_masks: true
  # beamstop: shapes in pixels, for example
  #   beamstop:
  #     - {rect: [x0, y0, x1, y1]}              # half-open: x0 <= x < x1, y0 <= y < y1
  #     - {circle: [cx, cy, r]}
  #     - {polygon: [[x, y], [x, y], [x, y]]}   # at least 3 vertices
  beamstop: []
  # file: a .npy mask over all pixels (nonzero = usable); null: none.
  file: null
  # hot_pixels: [x, y] pairs, e.g. [[1021, 344], [88, 2001]].
  hot_pixels: []
  # trusted_range: how the panels' trusted_range reads:
  # exclusive (lo < v < hi) | inclusive (lo <= v <= hi).
  trusted_range: exclusive

`;

const DETECTOR = `# How pixel values become photon counts.
detector:
  # kind: auto | photon-counting | integrating
  # (auto: photon counting when every panel is SENSOR_PAD).
  kind: auto
  # gain: integrating detectors: ADU per photon; null: 1.
  gain: null
  # pedestal: integrating detectors: ADU added to every pixel; null: the panel's.
  pedestal: null

`;

const GRID = `# The subvoxel grid, and the wedges the rotation is cut into.
grid:
  # ndiv: subvoxels per cell along h, k, l, integers 1...255 (odd puts the
  # central one on the Bragg position; correct needs odd).
  ndiv: [3, 3, 3]
  # wedge_deg: degrees of rotation per wedge.
  wedge_deg: 3
  # wedge_frames: frames per wedge, instead of wedge_deg (then set
  # wedge_deg: null; giving both is an error).
  wedge_frames: null
  # batch_frames: frames per kernel call; null: from the device limits
  # (does not change the results).
  batch_frames: null

`;

const FILTER = `# The Poisson filter that removes Bragg peaks.
filter:
  # enabled: false integrates without the filter (overflowing subvoxels are
  # still excluded).
  enabled: true
  # max_count: histogram bins 0...max_count; a subvoxel with a larger count
  # overflows and is excluded.
  max_count: 20
  # window: neighbourhood radius in subvoxels (ball d.d <= window^2).
  window: 2

`;

const CORRECTIONS = `# Per-pixel corrections: kappa = solid angle x polarization x efficiency x air.
corrections:
  # enabled: false leaves out the per-pixel correction sums.
  enabled: true
  # efficiency: include the detector efficiency (sensor absorption).
  efficiency: true
  # polarization: include the polarization factor.
  polarization: true
  # air_path: fraction 0...1 of the sample-pixel distance in air (1: all air,
  # the default); 0 or null: no air attenuation (e.g. a helium path).
  air_path: 1

`;

const SCALING = `# Relative scaling, model a(x,y,phi) * d * (b(phi) * I + c(|s|,phi)) (docs/scale.md).
scaling:
  # table: observation table the model is fitted on: diffuse | bragg.
  table: diffuse
  # stages: refinement stages in order, from b, bc, c, d, a.
  stages: [b, bc, c, d, a]
  # b_step_deg: spacing of the b(phi) control points, degrees.
  b_step_deg: 1
  # a_grid: a(x, y, phi) nodes [nx, ny, nphi], integers >= 2;
  # null: 9, 9 and one every 15 degrees.
  a_grid: null
  # c_grid: c(|s|, phi) nodes [ns, nphi]; null: 12 and one every 15 degrees.
  c_grid: null
  # d_mode: panel (one factor per panel) | map (a smooth x, y map per panel).
  d_mode: panel
  # d_grid: d map nodes per panel [nx, ny] (with d_mode: map); null: 9, 9.
  d_grid: null
  # outlier: outlier cut-offs in sigma after each stage; the last repeats.
  outlier: [10, 5]
  # max_iterations: merge/fit iterations per stage at most.
  max_iterations: 10
  # tolerance: a stage ends when the reduced chi^2 falls by less than this.
  tolerance: 1.0e-4

`;

const MERGE = `# Inverse-variance merging per ASU subvoxel (docs/merge.md).
merge:
  # outlier_sigma: reject the worst row of a voxel while its leave-one-out
  # deviation exceeds this many sigma (0: no rejection).
  outlier_sigma: 5
  # rounds: rejection rounds (one row per voxel each).
  rounds: 3
  # half_seed: seed of the random half-data-set split for CC1/2.
  half_seed: 0
  # half_split: split unit: observation | batch.
  half_split: observation
  # shells: resolution shells (equal volume) for CC1/2, 1...1000.
  shells: 10
  # inflate_sigma: scale each merged sigma by sqrt(reduced chi^2) where that
  # exceeds 1.
  inflate_sigma: false

`;

const ABSOLUTE = `# Absolute scale (electron units per cell) by the Krogh-Moe sum rule
# (docs/absolute.md). Give the unit-cell contents as composition OR sequence;
# with neither, the absolute stage is skipped and the map stays in relative units.
absolute:
  # composition: unit-cell contents as a formula, e.g.
  #   "C2000 H3100 N540 O610 S12" or "8*C613H959N193O185S10 + 9000 H2O".
  composition: null
  # sequence: a protein sequence: a FASTA file (a path: it contains '/' or ends
  # .fasta/.fa/.faa/.seq/.txt/.pir) or the one-letter sequence itself; records
  # are the chains of one molecule. With sequence only:
  #   copies: 1        molecules per unit cell
  #   solvent: 0.5     bulk-solvent fraction of the cell (water, 0.0334 /A^3), in [0, 1)
  #   disulfides: 0    disulfide bonds per molecule (2 H each)
  #   ions: null       extra atoms per cell, e.g. "Na8 Cl8"
  sequence: null
  # copies: 1
  # solvent: 0.5
  # disulfides: 0
  # ions: null
  # cutoff: |s| (1/A) of the scale factor, snapped to a shell edge; null: the
  # data's largest |s|.
  cutoff: null
  # shells: radial shells, >= 2.
  shells: 50
  # spacing: shell spacing: width | volume.
  spacing: width
  # min_completeness: shells measured below this fraction (in [0, 1)) are
  # interpolated.
  min_completeness: 0.02

`;

const EXPORT = `# The merged map, expanded to the full sphere (docs/export.md).
export:
  # formats: any of nexus (.nxs), ccp4 (.ccp4), png (slices h=0, k=0, l=0).
  formats: [nexus, ccp4, png]
  # fill: CCP4 value of unmeasured points (NeXus keeps NaN).
  fill: 0
  # colormap: PNG colour map: viridis | diverging.
  colormap: viridis
`;

/** The text `diffract init` writes (YAML, UTF-8). */
export const RUN_CONFIG_TEMPLATE = [ROTATION_HEAD, TOP, SWEEPS, MASK, DETECTOR, GRID, FILTER, CORRECTIONS, SCALING, MERGE, ABSOLUTE, EXPORT].join('');

/**
 * The text `diffract init --stills` writes: the `stills:` section, then the
 * shared sections of the rotation template (mask, detector, the grid's ndiv,
 * corrections, merge, absolute, export). Read as it is, it gives the same
 * `RunConfig` as a file holding only `stills: {expt: indexed.expt}`.
 */
export const STILLS_CONFIG_TEMPLATE = [STILLS_HEAD, TOP, STILLS, MASK, DETECTOR, STILLS_GRID, CORRECTIONS, MERGE, ABSOLUTE, EXPORT].join('');
