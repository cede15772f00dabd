/**
 * The experimental geometry, in DIALS (dxtbx) conventions.
 *
 * Lab frame: right-handed, millimetres for positions, Å for wavelengths, Å⁻¹ for
 * reciprocal vectors. Matrices are row-major 3×3 (`m[3*row + col]`).
 *
 * - s0 = −direction / λ: `Beam.direction` points from the sample towards the source.
 * - A pixel's lab position is origin + x_mm·fast + y_mm·slow, with (x_mm, y_mm)
 *   from the panel's pixel→mm strategy (plain scaling, or parallax-corrected).
 * - Pixel coordinates have pixel corners at integers: pixel (i, j) spans
 *   x ∈ [i, i+1), y ∈ [j, j+1); its centre is (i + 0.5, j + 0.5).
 * - s1 = unit(lab position) / λ, and for a crystal setting at rotation angle φ
 *   s1 − s0 = S · R(axis, φ) · F · A · h, so h = (S·R·F·A)⁻¹ (s1 − s0).
 */

export type Vec3 = readonly [number, number, number];
/** Row-major 3×3. */
export type Mat3 = readonly [number, number, number, number, number, number, number, number, number];

export interface Beam {
  /** Å */
  wavelength: number;
  /** unit vector from the sample towards the source (dxtbx `direction`) */
  direction: Vec3;
  /** fraction of the beam polarized along the normal's perpendicular (dxtbx `polarization_fraction`) */
  polarizationFraction: number;
  /** normal to the polarization plane (dxtbx `polarization_normal`) */
  polarizationNormal: Vec3;
}

/**
 * A static mask rectangle in pixel coordinates, half-open: x ∈ [x0, x1), y ∈ [y0, y1).
 *
 * dxtbx stores each panel mask entry as `[f0, s0, f1, s1]` (fast/slow, 0-based
 * pixel indices) and masks the pixels with f0 ≤ i < f1 and s0 ≤ j < s1 after
 * clamping the bounds to the image (`Panel::apply_untrusted_rectangle_mask`), so
 * x0 = f0, y0 = s0, x1 = f1, y1 = s1. Example: the Pilatus column gap
 * `[487, 0, 494, 1679]` masks the 7 columns 487…493. Bounds may lie outside the
 * image; clamp them before use.
 */
export interface MaskRect {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

export type PxMmStrategy = 'simple' | 'parallax';

export interface Panel {
  name: string;
  /** dxtbx panel type, e.g. SENSOR_PAD, SENSOR_CCD */
  type: string;
  /** mm, lab position of pixel corner (0, 0) */
  origin: Vec3;
  fastAxis: Vec3;
  slowAxis: Vec3;
  /** mm, [fast, slow] */
  pixelSize: readonly [number, number];
  /** pixels, [fast (width), slow (height)] */
  imageSize: readonly [number, number];
  /** raw pixel values v with lo < v < hi... see `isTrusted` in geometry/masks; dxtbx [lo, hi] */
  trustedRange: readonly [number, number];
  /** mm */
  thickness: number;
  /** sensor material, e.g. 'Si', 'CdTe'; '' when unknown */
  material: string;
  /** linear attenuation coefficient of the sensor, mm⁻¹ (0 when unknown) */
  mu: number;
  /** how pixel coordinates become millimetres on the panel */
  pxMmStrategy: PxMmStrategy;
  mask: readonly MaskRect[];
  /** counts per photon (1 for photon counting) */
  gain: number;
  pedestal: number;
  identifier: string;
}

export interface Detector {
  panels: readonly Panel[];
}

export interface Goniometer {
  /** unit vector of the scan axis, in the frame of the fixed rotation */
  rotationAxis: Vec3;
  /** F: applied before the scan rotation (axes nearer the crystal) */
  fixedRotation: Mat3;
  /** S: applied after the scan rotation (axes farther from the crystal) */
  settingRotation: Mat3;
  /** for multi-axis goniometers: the original axes, for provenance */
  axes?: readonly { name: string; axis: Vec3; angleDeg: number }[];
  scanAxisIndex?: number;
  /**
   * scan-varying S (dxtbx `setting_rotation_at_scan_points`), one per scan point
   * (n_images + 1 at image boundaries), when the file has it; replaces `settingRotation`
   */
  settingRotationAtScanPoints?: readonly Mat3[];
}

export interface Scan {
  /** first and last image numbers, inclusive (1-based as in DIALS) */
  imageRange: readonly [number, number];
  /** degrees: the angle at the start of the first image, and the width of each image */
  oscillation: readonly [number, number];
  /** seconds, one per image (may be empty when unknown) */
  exposureTimes: readonly number[];
  /** unix seconds, one per image (may be empty) */
  epochs: readonly number[];
  batchOffset: number;
}

export interface UnitCell {
  a: number;
  b: number;
  c: number;
  alpha: number;
  beta: number;
  gamma: number;
}

export interface Crystal {
  /** A = U·B, reciprocal-space setting matrix: columns are a*, b*, c* in the lab frame at φ = 0 (Å⁻¹) */
  A: Mat3;
  unitCell: UnitCell;
  /** Hall symbol as written in the file (may have a leading space) */
  spaceGroupHall: string;
  /** scan-varying A, one per scan point (n_images + 1 points at image boundaries), when the file has it */
  AAtScanPoints?: readonly Mat3[];
  /**
   * stills spot model (Sauter et al. 2014, dxtbx `MosaicCrystalSauter2014`), when the file has it:
   * `ML_domain_size_ang` (Å) and `ML_half_mosaicity_deg` (degrees)
   */
  mosaicity?: { domainSizeA: number; halfMosaicityDeg: number };
}

export interface ImageSetRef {
  /** DIALS template, e.g. 'l-cyst_01_#####.cbf' (may be relative to the .expt file) */
  template?: string;
  /** explicit image file list (ImageSet / stills) */
  images?: readonly string[];
  /**
   * for an ImageSet that takes some images of a multi-image file (e.g. an HDF5 stack):
   * the 0-based index into the file of each image of the set (dxtbx `single_file_indices`)
   */
  singleFileIndices?: readonly number[];
  /** optional mask file named by the image set */
  mask?: string;
}

/**
 * DIALS ellipsoid profile model (`dials.ssx_integrate`, `profile[i]` with `__id__`
 * 'ellipsoid'): the covariance Σ (Å⁻², row-major) of the reciprocal-lattice point's
 * Gaussian, and the name of its parameterisation ('simple1', 'simple6', 'angular2',
 * 'angular4'). For the angular ones Σ is in the reflection's own frame
 * (e1 = unit(r × s0), e2 = unit(r × e1), e3 = unit(r)); see stills/predict.ts.
 */
export interface EllipsoidProfile {
  parameterisation: string;
  sigma: Mat3;
}

export interface Experiment {
  identifier: string;
  beam: Beam;
  detector: Detector;
  /** absent for stills */
  goniometer?: Goniometer;
  /** absent for stills */
  scan?: Scan;
  /** absent before indexing */
  crystal?: Crystal;
  imageset?: ImageSetRef;
  /** the ellipsoid profile model, when the file has one for this experiment */
  profile?: EllipsoidProfile;
}

export interface ExperimentList {
  /** the file it came from, for messages */
  source: string;
  experiments: readonly Experiment[];
}
