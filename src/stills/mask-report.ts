/**
 * The masked fraction of every shot of a stills dataset: each shot's image is
 * read (src/stills/images.ts) and masked (src/stills/mask.ts); one row per shot.
 * Memory holds one shot's image and mask at a time.
 */
import { ShotVectorCache } from './geometry.ts';
import { ShotImages } from './images.ts';
import { STILLS_MASK_DEFAULTS, stillBraggMask, type StillsMaskSettings } from './mask.ts';
import type { StillsDataset } from './model.ts';

export interface ShotMaskRow {
  shot: number;
  identifier: string;
  pixels: number;
  /** pixels masked by the predicted spots, the bboxes, the outlier test, and in all */
  predicted: number;
  bbox: number;
  outlier: number;
  masked: number;
  fraction: number;
}

export interface MaskReportOptions {
  /** folder that relative image paths are resolved against */
  imageRoot?: string;
  /** called after each shot (progress) */
  onShot?: (row: ShotMaskRow) => void;
}

/** Masks every shot and reports the masked pixels per shot. */
export async function maskedFractions(data: StillsDataset, settings: StillsMaskSettings = STILLS_MASK_DEFAULTS, options: MaskReportOptions = {}): Promise<ShotMaskRow[]> {
  const images = new ShotImages(options.imageRoot !== undefined ? { root: options.imageRoot } : {});
  const vectors = new ShotVectorCache();
  const rows: ShotMaskRow[] = [];
  try {
    for (const shot of data.shots) {
      const image = settings.outliers ? await images.read(shot) : undefined;
      const m = stillBraggMask({ shot, reflections: data.reflections, vectors, ...(image !== undefined ? { image } : {}) }, settings);
      const row: ShotMaskRow = { shot: shot.index, identifier: shot.identifier, pixels: m.mask.length, predicted: m.predicted, bbox: m.bbox, outlier: m.outlier, masked: m.masked, fraction: m.fraction };
      rows.push(row);
      options.onShot?.(row);
    }
  } finally {
    await images.close();
  }
  return rows;
}

const pct = (part: number, all: number): string => `${((100 * part) / Math.max(1, all)).toFixed(2)}%`;

/** A text table of the rows, with the range of the masked fraction. */
export function formatMaskRows(rows: readonly ShotMaskRow[]): string {
  const lines = ['shot  masked   predicted  bbox     outliers  identifier'];
  for (const r of rows) {
    lines.push(`${String(r.shot).padStart(4)}  ${pct(r.masked, r.pixels).padStart(7)}  ${pct(r.predicted, r.pixels).padStart(9)}  ${pct(r.bbox, r.pixels).padStart(7)}  ${pct(r.outlier, r.pixels).padStart(8)}  ${r.identifier}`);
  }
  if (rows.length > 0) {
    const f = rows.map((r) => r.fraction);
    lines.push(`masked fraction per shot: ${(100 * Math.min(...f)).toFixed(2)}–${(100 * Math.max(...f)).toFixed(2)}% over ${rows.length} shots`);
  }
  return lines.join('\n');
}
