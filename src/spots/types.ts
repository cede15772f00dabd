/**
 * The columnar input of the spot-consistency algorithms: one `SpotDataset` per
 * experiment (a rotation sweep, or one still), holding only what the analysis
 * uses, as typed arrays. `extract.ts` builds them from DIALS tables; the
 * simulator builds them directly.
 */
import type { Vec3 } from '../geometry/model.ts';

/**
 * Which intensities: `scale` = `intensity.scale.value/.variance` (scaled, from
 * dials.scale), `prf` = profile-fitted and `sum` = summation-integrated (both unscaled).
 */
export type IntensitySource = 'scale' | 'prf' | 'sum';

export const INTENSITY_COLUMNS: Record<IntensitySource, { value: string; variance: string }> = {
  scale: { value: 'intensity.scale.value', variance: 'intensity.scale.variance' },
  prf: { value: 'intensity.prf.value', variance: 'intensity.prf.variance' },
  sum: { value: 'intensity.sum.value', variance: 'intensity.sum.variance' },
};

export interface SpotDataset {
  /** short label used in outputs, e.g. 'scaled_30#0' */
  name: string;
  /** the reflection file (as given), for messages */
  source: string;
  /** the experiment identifier */
  identifier: string;
  /**
   * which intensities `intensity`/`variance` hold; every dataset of one analysis
   * must agree. null: indices only (matching), intensity and variance are NaN
   */
  intensitySource: IntensitySource | null;
  /** rows kept */
  n: number;
  h: Int32Array;
  k: Int32Array;
  l: Int32Array;
  /** 0-based frame (image) index within the dataset, in [0, nFrames) */
  frame: Int32Array;
  intensity: Float64Array;
  /** σ², > 0 for every kept row */
  variance: Float64Array;
  /** number of images of the sweep (1 for a still) */
  nFrames: number;
  /** the image number (DIALS, 1-based) of frame 0 */
  firstImage: number;
  /** reciprocal metric G* (row-major 3×3, Å⁻²): 1/d² = hᵀ·G*·h; absent when the cell is unknown */
  reciprocalMetric?: Float64Array;
  /**
   * lab-frame setting matrix M = S·R(φ)·F·A at the middle of each frame, row-major,
   * 9 numbers per frame (columns a*, b*, c* in the lab at that image); absent without a crystal model
   */
  settingAtFrame?: Float64Array;
  /** unit vector of the incident beam, from the source towards the sample (s0 direction) */
  beamDirection?: Vec3;
}

/** What image matching needs of a dataset (the bench builds only this). */
export type MatchInput = Pick<SpotDataset, 'n' | 'h' | 'k' | 'l' | 'frame' | 'nFrames'>;

/** One image across all datasets of an analysis: global index = imageOffset[dataset] + frame. */
export interface ImageTable {
  nImages: number;
  /** per dataset, length nDatasets + 1 */
  imageOffset: Int32Array;
  imageDataset: Int32Array;
  imageFrame: Int32Array;
}

export function buildImageTable(datasets: readonly MatchInput[]): ImageTable {
  const imageOffset = new Int32Array(datasets.length + 1);
  for (let d = 0; d < datasets.length; d++) imageOffset[d + 1] = imageOffset[d]! + datasets[d]!.nFrames;
  const nImages = imageOffset[datasets.length]!;
  const imageDataset = new Int32Array(nImages);
  const imageFrame = new Int32Array(nImages);
  for (let d = 0; d < datasets.length; d++) {
    for (let f = 0; f < datasets[d]!.nFrames; f++) {
      imageDataset[imageOffset[d]! + f] = d;
      imageFrame[imageOffset[d]! + f] = f;
    }
  }
  return { nImages, imageOffset, imageDataset, imageFrame };
}
