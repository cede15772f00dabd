/**
 * What the viewer sends of the session's images: compact Float32 arrays
 * (little-endian on the wire, as the page's Float32Array reads them on every
 * platform a browser runs on), NaN for pixels with no valid value, and the
 * ROI means over the accumulation.
 */
import type { PhotonSession } from '../photon/session.ts';
import { roiArea, type Roi } from '../photon/roi.ts';

export type ImageKind = 'sum' | 'mean' | 'latest' | 'clean';
export const IMAGE_KINDS: readonly ImageKind[] = ['sum', 'mean', 'latest', 'clean'];

export interface ImagePayload {
  kind: ImageKind;
  rows: number;
  cols: number;
  /** where the array's first pixel sits in the frame (non-zero for the clean image, which covers the photon ROI) */
  row0: number;
  col0: number;
  /** frames in the accumulation (for 'latest': 1) */
  frames: number;
  data: Float32Array;
}

/** The image of `kind`, or null when there is none yet. */
export function imagePayload(session: PhotonSession, kind: ImageKind): ImagePayload | null {
  if (kind === 'clean') {
    const c = session.cleanImage();
    if (c === null) return null;
    const data = new Float32Array(c.data.length);
    for (let i = 0; i < data.length; i++) data[i] = c.data[i] as number;
    return { kind, rows: c.roi.row1 - c.roi.row0, cols: c.roi.col1 - c.roi.col0, row0: c.roi.row0, col0: c.roi.col0, frames: c.frames, data };
  }
  if (kind === 'latest') {
    const img = session.latestImage();
    const shape = session.frameShape;
    if (img === null || shape === null || img.length !== shape[0] * shape[1]) return null;
    const data = new Float32Array(img.length);
    for (let i = 0; i < data.length; i++) {
      const v = img[i] as number;
      data[i] = v >= 0 ? v : NaN;
    }
    return { kind, rows: shape[0], cols: shape[1], row0: 0, col0: 0, frames: 1, data };
  }
  const acc = session.accumulatedImage();
  if (acc === null) return null;
  const n = acc.data.length;
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const v = acc.valid[i] as number;
    data[i] = v === 0 ? NaN : kind === 'mean' ? (acc.data[i] as number) / v : (acc.data[i] as number);
  }
  return { kind, rows: acc.shape[0], cols: acc.shape[1], row0: 0, col0: 0, frames: acc.frames, data };
}

export interface RoiMean {
  /**
   * per pixel and frame over the accumulation: Σ value / Σ valid frames over the
   * ROI's pixels ('image'), or accepted photons per pixel and frame ('photons')
   */
  mean: number;
  /** pixels of the ROI inside the image (and, for 'photons', inside the photon ROI) */
  pixels: number;
  frames: number;
}

/** The mean of each ROI over the accumulation, on the same footing as the session's per-frame ROI means. */
export function accumulatedRoiMeans(session: PhotonSession, rois: Record<string, Roi>, source: 'image' | 'photons'): Record<string, RoiMean> {
  const out: Record<string, RoiMean> = {};
  if (source === 'photons') {
    const c = session.cleanImage();
    for (const [name, r] of Object.entries(rois)) {
      if (c === null || c.frames === 0) {
        out[name] = { mean: NaN, pixels: 0, frames: 0 };
        continue;
      }
      const p = c.roi;
      const cw = p.col1 - p.col0;
      let count = 0;
      for (let row = Math.max(r.row0, p.row0); row < Math.min(r.row1, p.row1); row++) {
        for (let col = Math.max(r.col0, p.col0); col < Math.min(r.col1, p.col1); col++) count += c.data[(row - p.row0) * cw + (col - p.col0)] as number;
      }
      const shape = session.frameShape;
      const clipped: Roi = shape === null ? r : { row0: Math.max(0, r.row0), row1: Math.min(shape[0], r.row1), col0: Math.max(0, r.col0), col1: Math.min(shape[1], r.col1) };
      const area = roiArea(clipped);
      out[name] = { mean: area > 0 ? count / area / c.frames : NaN, pixels: area, frames: c.frames };
    }
    return out;
  }
  const acc = session.accumulatedImage();
  for (const [name, r] of Object.entries(rois)) {
    if (acc === null) {
      out[name] = { mean: NaN, pixels: 0, frames: 0 };
      continue;
    }
    const [rows, cols] = acc.shape;
    let s = 0;
    let v = 0;
    let pixels = 0;
    for (let row = Math.max(0, r.row0); row < Math.min(rows, r.row1); row++) {
      for (let i = row * cols + Math.max(0, r.col0); i < row * cols + Math.min(cols, r.col1); i++) {
        const valid = acc.valid[i] as number;
        if (valid > 0) {
          s += acc.data[i] as number;
          v += valid;
          pixels++;
        }
      }
    }
    out[name] = { mean: v > 0 ? s / v : NaN, pixels, frames: acc.frames };
  }
  return out;
}
