/**
 * Serial stills, as imported from DIALS (`.expt` + `.refl`) or CrystFEL (`.stream`).
 *
 * A *shot* here is one indexed lattice on one image: DIALS writes one experiment
 * per lattice, CrystFEL one crystal block per lattice inside an image's chunk, so
 * an image with two lattices gives two shots that share their image. Every shot
 * carries a complete diffract `Experiment` (beam, detector, crystal; no goniometer,
 * no scan) in DIALS conventions (see geometry/model.ts), whatever the source.
 */
import type { Experiment } from '../geometry/model.ts';

/**
 * The spot model of one shot: how far from the Ewald sphere a reciprocal-lattice
 * point may lie and still diffract.
 *
 * - `sauter`: DIALS stills (Sauter et al. 2014): mosaic domain size D (Å) and half
 *   mosaicity η (degrees); the reciprocal-lattice point's radius is taken as
 *   R(q) = 1/D + |q|·η (η in radians), growing with |q|.
 * - `radius`: a fixed radius R (Å⁻¹), e.g. CrystFEL's `profile_radius`.
 * - `none`: the source gives no spot model.
 */
export type SpotModel =
  | { kind: 'sauter'; domainSizeA: number; halfMosaicityDeg: number }
  | { kind: 'radius'; radius: number }
  | { kind: 'none' };

/**
 * How a shot's diffracted rays are chosen (see predict.ts): the way the program
 * that made the shot's reflection list predicted them.
 */
export type StillsRayMethod = 'ewald' | 'direct' | 'ellipsoid';

/** Where a shot's pixels are: a file, and the 0-based image inside it (0 for one-image files). */
export interface ShotImage {
  path: string;
  index: number;
  /** CrystFEL event (e.g. `//17`), '' when none */
  event: string;
}

export interface StillShot {
  /** 0-based position in the dataset; the `shot` column of the reflections refers to it */
  index: number;
  /** DIALS experiment identifier, or `chunk N crystal M` for CrystFEL */
  identifier: string;
  experiment: Experiment;
  /** undefined when the source names no image */
  image: ShotImage | undefined;
  spotModel: SpotModel;
  /** how the source predicted positions: 'direct' for CrystFEL, 'ellipsoid' for DIALS shots with an ellipsoid profile, else 'ewald' */
  rayMethod: StillsRayMethod;
  /** CrystFEL chunk (image) number, for messages and grouping; the DIALS experiment index otherwise */
  chunk: number;
  /** the beam's divergence (full angle, rad) and bandwidth (Δλ/λ, full width) when the source gives them (CrystFEL chunks) */
  beamSpread?: ShotBeamSpread;
}

export interface ShotBeamSpread {
  divergence: number;
  bandwidth: number;
}

/**
 * The imported reflections of all shots, as columns; row r of each array (vectors:
 * `width` consecutive entries). Positions are panel pixel coordinates with pixel
 * corners at integers (DIALS `xyzcal.px` convention). Values a source does not give
 * are NaN.
 */
export interface StillReflections {
  n: number;
  /** index into `shots` */
  shot: Int32Array;
  h: Int32Array;
  k: Int32Array;
  l: Int32Array;
  panel: Int32Array;
  /** observed centroid (x, y), NaN when absent (CrystFEL streams list predictions only) */
  xyzObs: Float64Array;
  /** the source's own predicted position (x, y): DIALS `xyzcal.px`, CrystFEL `fs/px ss/px` */
  xyzCal: Float64Array;
  /** [x0, x1, y0, y1] half-open, DIALS `bbox` (z dropped); −1s when absent */
  bbox: Int32Array;
  intensitySum: Float64Array;
  intensitySumVariance: Float64Array;
  intensityPrf: Float64Array;
  intensityPrfVariance: Float64Array;
  /** the source's partiality; NaN where absent */
  partiality: Float64Array;
  /** whether the source gave a partiality column at all */
  hasPartiality: boolean;
}

export interface StillsDataset {
  /** the file(s) it came from, for messages */
  source: string;
  format: 'dials' | 'crystfel';
  shots: StillShot[];
  reflections: StillReflections;
}

/** Empty reflection columns for `n` rows (NaN values, −1 boxes). */
export function allocateStillReflections(n: number): StillReflections {
  const nan = (k: number): Float64Array => new Float64Array(n * k).fill(Number.NaN);
  return {
    n,
    shot: new Int32Array(n),
    h: new Int32Array(n),
    k: new Int32Array(n),
    l: new Int32Array(n),
    panel: new Int32Array(n),
    xyzObs: nan(2),
    xyzCal: nan(2),
    bbox: new Int32Array(n * 4).fill(-1),
    intensitySum: nan(1),
    intensitySumVariance: nan(1),
    intensityPrf: nan(1),
    intensityPrfVariance: nan(1),
    partiality: nan(1),
    hasPartiality: false,
  };
}
