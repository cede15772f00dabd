/**
 * Which pixels of a frame can be used: a Uint8Array with 1 = valid, 0 = masked,
 * same layout as the pixels (index = y·width + x).
 *
 * A pixel is masked, for the first of these reasons that applies:
 * 1. gap: value −1, Pilatus's marker for pixels between modules;
 * 2. bad: value −2, Pilatus's marker for bad (excluded) pixels;
 * 3. below / 4. above the panel's trusted range;
 * 5. inside one of the panel's static mask rectangles;
 * 6. inside one of the caller's extra rectangles.
 * Rectangles are half-open in pixels (x ∈ [x0, x1), y ∈ [y0, y1)) and are
 * clipped to the image, as dxtbx does for untrusted rectangles.
 *
 * Trusted range, dxtbx semantics. dxtbx up to late 2022 kept a pixel when
 * `lo < v < hi` (both ends excluded; Pilatus panels were given
 * [−1, Count_cutoff], so −1 and the cut-off itself are untrusted), and the
 * .expt files of that era, like the shared l-cysteine and snase ones, carry
 * ranges meant that way. cctbx/dxtbx#536 (with dials/dials#2195) redefined
 * `trusted_range` as the inclusive [lowest valid, highest valid] value
 * (Pilatus then [0, Count_cutoff − 1]). Both definitions give the same mask
 * for ranges written under their own convention. The default here is
 * 'exclusive', as in `Panel.trustedRange`'s doc; pass
 * `trustedRange: 'inclusive'` for models written by newer dxtbx.
 */
import { InvalidValueError } from '../errors.ts';
import type { MaskRect, Panel } from '../geometry/model.ts';
import { locate, type DetectorImage } from './image.ts';

/** Why a pixel is masked: the first reason that applies, in this order; 0 = valid. */
export const MaskReason = {
  valid: 0,
  gap: 1,
  bad: 2,
  belowTrusted: 3,
  aboveTrusted: 4,
  panelRect: 5,
  extraRect: 6,
} as const;
export type MaskReason = (typeof MaskReason)[keyof typeof MaskReason];

/** How `Panel.trustedRange` [lo, hi] is read: lo < v < hi ('exclusive') or lo ≤ v ≤ hi ('inclusive'). */
export type TrustedRangeConvention = 'exclusive' | 'inclusive';

export interface PixelMaskOptions {
  /** further rectangles to mask (e.g. a beamstop), half-open, in pixels */
  rects?: readonly MaskRect[];
  /** default 'exclusive' (see the module comment) */
  trustedRange?: TrustedRangeConvention;
  /** mask the Pilatus markers −1 and −2 (default true) */
  markers?: boolean;
  /** when given (one byte per pixel), filled with the MaskReason of every pixel */
  reasons?: Uint8Array;
}

/** The integer bounds [L, H] of the trusted values, whatever the convention. */
function trustedBounds(panel: Panel | undefined, convention: TrustedRangeConvention, image: DetectorImage): [number, number] {
  if (panel === undefined) return [-Infinity, Infinity];
  const [lo, hi] = panel.trustedRange;
  const bounds: [number, number] =
    convention === 'exclusive' ? [Math.floor(lo) + 1, Math.ceil(hi) - 1] : [Math.ceil(lo), Math.floor(hi)];
  if (!(bounds[0] <= bounds[1])) {
    throw new InvalidValueError(
      `panel '${panel.name}' has trusted range [${lo}, ${hi}], which (${convention}) leaves no valid value`,
      locate(image.source.file, image.source.frame, 'trusted_range'),
    );
  }
  return bounds;
}

function maskRects(
  mask: Uint8Array,
  reasons: Uint8Array | undefined,
  image: DetectorImage,
  rects: readonly MaskRect[],
  reason: MaskReason,
  what: string,
): void {
  const { width, height } = image;
  for (const r of rects) {
    if (![r.x0, r.y0, r.x1, r.y1].every(Number.isFinite) || r.x0 > r.x1 || r.y0 > r.y1) {
      throw new InvalidValueError(
        `${what} rectangle x ${r.x0}–${r.x1}, y ${r.y0}–${r.y1} is not a rectangle (x0 ≤ x1, y0 ≤ y1)`,
        locate(image.source.file, image.source.frame),
      );
    }
    const x0 = Math.max(0, Math.ceil(r.x0));
    const x1 = Math.min(width, Math.ceil(r.x1));
    const y0 = Math.max(0, Math.ceil(r.y0));
    const y1 = Math.min(height, Math.ceil(r.y1));
    for (let y = y0; y < y1; y++) {
      const row = y * width;
      for (let k = row + x0; k < row + x1; k++) {
        if (mask[k] === 1) {
          mask[k] = 0;
          if (reasons !== undefined) reasons[k] = reason;
        }
      }
    }
  }
}

/**
 * The mask of usable pixels of `image` (1 = valid, 0 = masked): Pilatus
 * markers, the panel's trusted range and static rectangles, and `extra.rects`.
 * A panel whose `imageSize` differs from the image is an InvalidValueError.
 */
export function buildPixelMask(image: DetectorImage, panel?: Panel, extra: PixelMaskOptions = {}): Uint8Array {
  const { width, height, pixels } = image;
  const n = width * height;
  if (panel !== undefined && (panel.imageSize[0] !== width || panel.imageSize[1] !== height)) {
    throw new InvalidValueError(
      `image is ${width}×${height} pixels but panel '${panel.name}' is ${panel.imageSize[0]}×${panel.imageSize[1]}`,
      locate(image.source.file, image.source.frame),
    );
  }
  const reasons = extra.reasons;
  if (reasons !== undefined && reasons.length !== n) {
    throw new InvalidValueError(`the reasons buffer has ${reasons.length} entries for ${n} pixels`);
  }
  const [L, H] = trustedBounds(panel, extra.trustedRange ?? 'exclusive', image);
  // int32 bounds keep the loop on small-integer comparisons
  const lo = Math.max(L, -2147483648) | 0;
  const hi = Math.min(H, 2147483647) | 0;
  const gap = extra.markers ?? true ? -1 : 0;
  const bad = extra.markers ?? true ? -2 : 0;
  const markers = gap !== 0;
  const mask = new Uint8Array(n);
  if (reasons === undefined) {
    for (let k = 0; k < n; k++) {
      const v = pixels[k]!;
      mask[k] = (markers && (v === gap || v === bad)) || v < lo || v > hi ? 0 : 1;
    }
  } else {
    for (let k = 0; k < n; k++) {
      const v = pixels[k]!;
      const r =
        markers && v === gap
          ? MaskReason.gap
          : markers && v === bad
            ? MaskReason.bad
            : v < lo
              ? MaskReason.belowTrusted
              : v > hi
                ? MaskReason.aboveTrusted
                : MaskReason.valid;
      mask[k] = r === MaskReason.valid ? 1 : 0;
      reasons[k] = r;
    }
  }
  if (panel !== undefined) maskRects(mask, reasons, image, panel.mask, MaskReason.panelRect, `panel '${panel.name}' mask`);
  if (extra.rects !== undefined) maskRects(mask, reasons, image, extra.rects, MaskReason.extraRect, 'extra mask');
  return mask;
}

export interface MaskStats {
  total: number;
  valid: number;
  masked: number;
  /** masked pixels by reason; only when the reasons were given */
  byReason?: { gap: number; bad: number; belowTrusted: number; aboveTrusted: number; panelRect: number; extraRect: number };
}

/** Counts valid and masked pixels of a mask, and by reason when the `reasons` filled by `buildPixelMask` are given. */
export function maskStats(mask: Uint8Array, reasons?: Uint8Array): MaskStats {
  let valid = 0;
  for (let k = 0; k < mask.length; k++) valid += mask[k] === 0 ? 0 : 1;
  const stats: MaskStats = { total: mask.length, valid, masked: mask.length - valid };
  if (reasons !== undefined) {
    if (reasons.length !== mask.length) throw new InvalidValueError(`the reasons have ${reasons.length} entries for ${mask.length} pixels`);
    const counts = new Float64Array(8);
    for (let k = 0; k < reasons.length; k++) counts[reasons[k]! & 7]! += 1;
    stats.byReason = {
      gap: counts[MaskReason.gap]!,
      bad: counts[MaskReason.bad]!,
      belowTrusted: counts[MaskReason.belowTrusted]!,
      aboveTrusted: counts[MaskReason.aboveTrusted]!,
      panelRect: counts[MaskReason.panelRect]!,
      extraRect: counts[MaskReason.extraRect]!,
    };
  }
  return stats;
}
