/**
 * The static pixel mask of an integration (pixels masked in every frame), and
 * how raw values become counts.
 *
 * Static mask, 1 = usable, over all panels concatenated (pixel index =
 * panel offset + y·width + x). A pixel is masked when any of these holds:
 * - it lies in one of the panel's `.expt` mask rectangles (module gaps and
 *   the like; dxtbx half-open rectangles, clipped to the panel);
 * - it lies within `edge` pixels of its panel's border;
 * - its centre (x + ½, y + ½) lies inside a beamstop shape (rectangle: the
 *   half-open integer rectangle as for panel masks; circle: distance ≤ r;
 *   polygon: even-odd rule), or in an extra rectangle;
 * - the mask image has 0 there (nonzero = usable, the DIALS convention);
 * - it is listed as a hot pixel.
 * Per-frame masking (markers −1/−2, values outside the trusted range) happens
 * in the voxel-accumulate kernel, from the values.
 *
 * Counting: photon-counting detectors (every panel `SENSOR_PAD`) count
 * photons directly. Charge-integrating ones (CCD and others) need a gain
 * (ADU per photon) and a pedestal to turn values into photons before the
 * Poisson filter can judge them; without a known gain the filter is refused.
 * dxtbx writes gain 1.0 when it knows nothing, so a gain of exactly 1 in the
 * `.expt` does not count as known for an integrating detector.
 */
import { InvalidValueError, UsageError } from '../errors.ts';
import type { Experiment, MaskRect, Panel } from '../geometry/model.ts';
import type { CountingParams } from '../kernels/voxel-accumulate.ts';

export type BeamstopShape =
  | { kind: 'rect'; x0: number; y0: number; x1: number; y1: number; panel?: number }
  | { kind: 'circle'; cx: number; cy: number; r: number; panel?: number }
  | { kind: 'polygon'; points: readonly (readonly [number, number])[]; panel?: number };

export interface StaticMaskOptions {
  /** apply the panels' `.expt` mask rectangles (default true) */
  panelMasks?: boolean;
  /** pixels masked along every panel border (default 0) */
  edge?: number;
  /** beamstop shapes, in pixel coordinates of their panel (default panel 0) */
  beamstop?: readonly BeamstopShape[];
  /** further half-open rectangles on panel 0 */
  rects?: readonly MaskRect[];
  /** a mask image over all pixels: nonzero = usable */
  maskImage?: Uint8Array;
  /** hot pixels [x, y] (panel 0 coordinates) */
  hotPixels?: readonly (readonly [number, number])[];
}

export interface StaticMaskReport {
  /** 1 = usable, per pixel */
  valid: Uint8Array;
  /** pixels masked for each reason (a pixel counts under the first that applies, in this order) */
  byReason: { panelRect: number; edge: number; beamstop: number; maskImage: number; hot: number };
}

function panelOffsets(exp: Experiment): number[] {
  const offs = [0];
  for (const p of exp.detector.panels) offs.push((offs[offs.length - 1] as number) + p.imageSize[0] * p.imageSize[1]);
  return offs;
}

function panelAt(exp: Experiment, index: number, what: string): Panel {
  const p = exp.detector.panels[index];
  if (p === undefined) throw new InvalidValueError(`${what} names panel ${index}, but the detector has ${exp.detector.panels.length}`, { field: what });
  return p;
}

function insidePolygon(px: number, py: number, pts: readonly (readonly [number, number])[]): boolean {
  let inside = false;
  for (let a = 0, b = pts.length - 1; a < pts.length; b = a++) {
    const [xa, ya] = pts[a] as readonly [number, number];
    const [xb, yb] = pts[b] as readonly [number, number];
    if (ya > py !== yb > py && px < ((xb - xa) * (py - ya)) / (yb - ya) + xa) inside = !inside;
  }
  return inside;
}

/** The static mask of `exp`'s detector with these options. */
export function buildStaticMask(exp: Experiment, opts: StaticMaskOptions = {}): StaticMaskReport {
  const offs = panelOffsets(exp);
  const n = offs[offs.length - 1] as number;
  const valid = new Uint8Array(n).fill(1);
  const byReason = { panelRect: 0, edge: 0, beamstop: 0, maskImage: 0, hot: 0 };
  const mark = (i: number, why: keyof typeof byReason): void => {
    if (valid[i] === 1) {
      valid[i] = 0;
      byReason[why]++;
    }
  };
  const rect = (pi: number, r: MaskRect, why: keyof typeof byReason, what: string): void => {
    const p = panelAt(exp, pi, what);
    if (![r.x0, r.y0, r.x1, r.y1].every(Number.isFinite) || r.x0 > r.x1 || r.y0 > r.y1) {
      throw new InvalidValueError(`${what} rectangle x ${r.x0}–${r.x1}, y ${r.y0}–${r.y1} is not a rectangle (x0 ≤ x1, y0 ≤ y1)`, { field: what });
    }
    const [w, h] = p.imageSize;
    const x0 = Math.max(0, Math.ceil(r.x0));
    const x1 = Math.min(w, Math.ceil(r.x1));
    const y0 = Math.max(0, Math.ceil(r.y0));
    const y1 = Math.min(h, Math.ceil(r.y1));
    const o = offs[pi] as number;
    for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) mark(o + y * w + x, why);
  };
  if (opts.panelMasks ?? true) exp.detector.panels.forEach((p, pi) => p.mask.forEach((r) => rect(pi, r, 'panelRect', `panel '${p.name}' mask`)));
  const edge = opts.edge ?? 0;
  if (!Number.isInteger(edge) || edge < 0) throw new InvalidValueError(`the edge width must be a non-negative integer, got ${edge}`, { field: 'edge' });
  if (edge > 0) {
    exp.detector.panels.forEach((p, pi) => {
      const [w, h] = p.imageSize;
      const o = offs[pi] as number;
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < w; x++) if (x < edge || y < edge || x >= w - edge || y >= h - edge) mark(o + y * w + x, 'edge');
      }
    });
  }
  for (const s of opts.beamstop ?? []) {
    const pi = s.panel ?? 0;
    const p = panelAt(exp, pi, 'beamstop');
    const [w, h] = p.imageSize;
    const o = offs[pi] as number;
    if (s.kind === 'rect') {
      rect(pi, s, 'beamstop', 'beamstop');
    } else if (s.kind === 'circle') {
      if (![s.cx, s.cy, s.r].every(Number.isFinite) || s.r < 0) throw new InvalidValueError(`beamstop circle (${s.cx}, ${s.cy}) r ${s.r} is not a circle`, { field: 'beamstop' });
      const x0 = Math.max(0, Math.floor(s.cx - s.r - 1));
      const x1 = Math.min(w, Math.ceil(s.cx + s.r + 1));
      const y0 = Math.max(0, Math.floor(s.cy - s.r - 1));
      const y1 = Math.min(h, Math.ceil(s.cy + s.r + 1));
      for (let y = y0; y < y1; y++) {
        for (let x = x0; x < x1; x++) if ((x + 0.5 - s.cx) ** 2 + (y + 0.5 - s.cy) ** 2 <= s.r * s.r) mark(o + y * w + x, 'beamstop');
      }
    } else {
      if (s.points.length < 3 || !s.points.every((q) => q.length === 2 && q.every(Number.isFinite))) {
        throw new InvalidValueError('a beamstop polygon needs at least 3 finite (x, y) vertices', { field: 'beamstop' });
      }
      const xs = s.points.map((q) => q[0]);
      const ys = s.points.map((q) => q[1]);
      const x0 = Math.max(0, Math.floor(Math.min(...xs)));
      const x1 = Math.min(w, Math.ceil(Math.max(...xs)));
      const y0 = Math.max(0, Math.floor(Math.min(...ys)));
      const y1 = Math.min(h, Math.ceil(Math.max(...ys)));
      for (let y = y0; y < y1; y++) {
        for (let x = x0; x < x1; x++) if (insidePolygon(x + 0.5, y + 0.5, s.points)) mark(o + y * w + x, 'beamstop');
      }
    }
  }
  for (const r of opts.rects ?? []) rect(0, r, 'beamstop', 'extra mask');
  if (opts.maskImage !== undefined) {
    if (opts.maskImage.length !== n) throw new InvalidValueError(`the mask image has ${opts.maskImage.length} pixels but the detector has ${n}`, { field: 'mask' });
    for (let i = 0; i < n; i++) if (opts.maskImage[i] === 0) mark(i, 'maskImage');
  }
  const p0 = panelAt(exp, 0, 'hot pixel');
  for (const [x, y] of opts.hotPixels ?? []) {
    if (!Number.isInteger(x) || !Number.isInteger(y) || x < 0 || y < 0 || x >= p0.imageSize[0] || y >= p0.imageSize[1]) {
      throw new InvalidValueError(`hot pixel (${x}, ${y}) lies outside the ${p0.imageSize[0]}×${p0.imageSize[1]} panel`, { field: 'hot-pixels' });
    }
    mark(y * p0.imageSize[0] + x, 'hot');
  }
  return { valid, byReason };
}

export type DetectorKind = 'auto' | 'photon-counting' | 'integrating';

export interface CountingOptions {
  /** default 'auto': photon counting when every panel is SENSOR_PAD */
  detector?: DetectorKind;
  /** ADU per photon (integrating detectors) */
  gain?: number;
  /** ADU added to every pixel (integrating detectors; default the panel's pedestal) */
  pedestal?: number;
  /** how the panel's trusted range is read (default 'exclusive', see src/io/pixel-mask.ts) */
  trustedRange?: 'exclusive' | 'inclusive';
}

export interface ResolvedCounting {
  kind: 'photon-counting' | 'integrating';
  params: CountingParams;
  /** integrating without a known gain: values stay in ADU (integration only) */
  gainUnknown: boolean;
}

/**
 * How values become counts for `exp`'s detector. `poissonFilter`: the caller
 * will run the Poisson filter, which an integrating detector without a known
 * gain cannot have (UsageError).
 */
export function resolveCounting(exp: Experiment, opts: CountingOptions, poissonFilter: boolean): ResolvedCounting {
  const panels = exp.detector.panels;
  const p0 = panels[0];
  if (p0 === undefined) throw new InvalidValueError('the detector has no panels', { field: 'detector' });
  const [lo, hi] = p0.trustedRange;
  if (panels.some((p) => p.trustedRange[0] !== lo || p.trustedRange[1] !== hi)) {
    throw new InvalidValueError('panels with different trusted ranges are not supported by the voxel integration', { field: 'trusted_range' });
  }
  const conv = opts.trustedRange ?? 'exclusive';
  const bounds = conv === 'exclusive' ? [Math.floor(lo) + 1, Math.ceil(hi) - 1] : [Math.ceil(lo), Math.floor(hi)];
  const tLo = Math.max(-2147483648, bounds[0] as number);
  const tHi = Math.min(2147483647, bounds[1] as number);
  if (!(tLo <= tHi)) throw new InvalidValueError(`trusted range [${lo}, ${hi}] (${conv}) leaves no valid value`, { field: 'trusted_range' });
  const kind = opts.detector ?? 'auto';
  const integrating = kind === 'integrating' || (kind === 'auto' && panels.some((p) => p.type !== 'SENSOR_PAD'));
  if (!integrating) {
    if (opts.gain !== undefined && opts.gain !== 1) {
      throw new UsageError(`--gain ${opts.gain} given for a photon-counting detector; use --detector integrating if it integrates charge`, { field: '--gain' });
    }
    return { kind: 'photon-counting', params: { trustedLo: tLo, trustedHi: tHi, markers: true }, gainUnknown: false };
  }
  const gain = opts.gain ?? (p0.gain !== 1 ? p0.gain : undefined);
  const pedestal = opts.pedestal ?? p0.pedestal;
  if (gain !== undefined && !(Number.isFinite(gain) && gain > 0)) throw new UsageError(`the gain must be a positive number of ADU per photon, got ${gain}`, { field: '--gain' });
  if (!Number.isFinite(pedestal)) throw new UsageError(`the pedestal must be a finite number, got ${pedestal}`, { field: '--pedestal' });
  if (gain === undefined && poissonFilter) {
    throw new UsageError(
      `the detector is charge-integrating (panel type ${p0.type}) and its gain is unknown: the Poisson filter needs counts in photons; ` +
        'give --gain (ADU per photon) and --pedestal, or integrate without the filter (--no-filter)',
      { field: '--gain' },
    );
  }
  return {
    kind: 'integrating',
    params: { trustedLo: tLo, trustedHi: tHi, markers: false, integrating: { invGain: 1 / (gain ?? 1), pedestal } },
    gainUnknown: gain === undefined,
  };
}
