/**
 * Figures that say whether a series was mapped right: strong pixels (Bragg
 * peaks) sit near integer hkl, typical pixels do not.
 *
 * For one frame: among valid pixels, the `strongCount` highest are "strong";
 * a pixel is "near integer" when |h − round(h)|, |k − round(k)| and
 * |l − round(l)| are all ≤ tol. Random positions give about (2·tol)³ of them
 * (0.8% for tol = 0.1).
 */
export interface FrameHklSummary {
  validPixels: number;
  strongPixels: number;
  /** fraction of the strong pixels within tol of integer hkl */
  strongNearInteger: number;
  /** the same for all valid pixels */
  allNearInteger: number;
  /** min and max of h, k, l over valid pixels */
  range: { h: [number, number]; k: [number, number]; l: [number, number] };
}

function nearInteger(hkl: Float32Array, i: number, tol: number): boolean {
  for (let c = 0; c < 3; c++) {
    const v = hkl[3 * i + c] as number;
    if (Math.abs(v - Math.round(v)) > tol) return false;
  }
  return true;
}

export function summarizeFrameHkl(pixels: Int32Array, mask: Uint8Array, hkl: Float32Array, opts: { strongCount?: number; tol?: number } = {}): FrameHklSummary {
  const tol = opts.tol ?? 0.1;
  const valid: number[] = [];
  const range = { h: [Infinity, -Infinity] as [number, number], k: [Infinity, -Infinity] as [number, number], l: [Infinity, -Infinity] as [number, number] };
  let allNear = 0;
  for (let i = 0; i < pixels.length; i++) {
    if (mask[i] !== 1) continue;
    valid.push(i);
    if (nearInteger(hkl, i, tol)) allNear++;
    const axes = [range.h, range.k, range.l];
    for (let c = 0; c < 3; c++) {
      const v = hkl[3 * i + c] as number;
      const r = axes[c] as [number, number];
      if (v < r[0]) r[0] = v;
      if (v > r[1]) r[1] = v;
    }
  }
  const strongCount = Math.min(valid.length, opts.strongCount ?? 200);
  valid.sort((a, b) => (pixels[b] as number) - (pixels[a] as number) || a - b);
  let strongNear = 0;
  for (let j = 0; j < strongCount; j++) if (nearInteger(hkl, valid[j] as number, tol)) strongNear++;
  return {
    validPixels: valid.length,
    strongPixels: strongCount,
    strongNearInteger: strongCount > 0 ? strongNear / strongCount : 0,
    allNearInteger: valid.length > 0 ? allNear / valid.length : 0,
    range,
  };
}
