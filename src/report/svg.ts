/**
 * A small SVG plotting module for the run report (report.html): line, point
 * and step plots with axes, "nice" ticks, labels, legend and marker lines; bar
 * plots; heat maps drawn as an embedded PNG (a `data:` URI, pngjs through
 * src/export/slices.ts) with a colour bar. Every function returns SVG text
 * meant to be inlined in HTML (no `xmlns`, no external reference of any kind),
 * and is pure: the same spec gives the same bytes (coordinates are rounded to
 * 0.01 px, numbers formatted without locale).
 *
 * Each plot's `<g class="plot">` carries its mapping from data to pixels:
 * `data-area="x y w h"` (the plot area in px), `data-x="lo hi"` and
 * `data-y="lo hi"` (the axis ranges at the area's left/right and bottom/top
 * edges); every series is one element with `data-series="label"`, its
 * vertices in `points` (polyline) — so tests and readers can map them back.
 */
import { colormapColor, renderSlice, type Colormap } from '../export/slices.ts';

/** Colours for successive series (Okabe–Ito, colour-blind safe). */
export const PALETTE: readonly string[] = ['#0072b2', '#d55e00', '#009e73', '#cc79a7', '#e69f00', '#56b4e9', '#000000', '#f0e442'];

/** Text for HTML/SVG content or attribute values: & < > " ' escaped, and "://" broken up so no text reads as a URL. */
export function escapeXml(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;')
    .replace(/:\/\//g, ':&#47;&#47;');
}

/** A pixel coordinate as text (0.01 px). */
export function px(v: number): string {
  const r = Math.round(v * 100) / 100;
  return Object.is(r, -0) ? '0' : String(r);
}

/** The "nice" number (1, 2, 5 or 10 × 10^k) near x > 0: rounded to the nearest, or the smallest not below x. */
export function niceNumber(x: number, round: boolean): number {
  if (!(x > 0) || !Number.isFinite(x)) return 1;
  const e = Math.floor(Math.log10(x));
  const p = 10 ** e;
  const f = x / p;
  let n: number;
  // the slack absorbs rounding in x / p (0.15 / 0.1 = 1.4999999999999998)
  const e9 = 1e-9;
  if (round) n = f < 1.5 - e9 ? 1 : f < 3 - e9 ? 2 : f < 7 - e9 ? 5 : 10;
  else n = f <= 1 + e9 ? 1 : f <= 2 + e9 ? 2 : f <= 5 + e9 ? 5 : 10;
  return n * p;
}

export interface AxisTicks {
  /** the axis range: the data range widened to whole steps */
  lo: number;
  hi: number;
  step: number;
  /** tick values lo, lo + step, …, hi (exact multiples of step, cleaned of rounding noise) */
  ticks: number[];
}

/** Clean a multiple of `step` of floating-point noise (0.30000000000000004 → 0.3). */
function cleanMultiple(i: number, step: number): number {
  const v = i * step;
  const digits = Math.max(0, -Math.floor(Math.log10(step)) + 1);
  return digits <= 15 ? Number(v.toFixed(Math.min(20, digits))) + 0 : v;
}

/**
 * Ticks for a data range (Heckbert's nice labels): step = nice(nice(span)/(maxTicks − 1)),
 * range widened to whole steps. A degenerate or non-finite range becomes a unit one around its value.
 */
export function niceTicks(lo: number, hi: number, maxTicks = 6): AxisTicks {
  let a = Number.isFinite(lo) ? lo : 0;
  let b = Number.isFinite(hi) ? hi : a + 1;
  if (b < a) [a, b] = [b, a];
  if (b - a <= Math.abs(b) * 1e-12 || b === a) {
    const d = a === 0 ? 1 : Math.abs(a) * 0.1;
    a -= d;
    b += d;
  }
  const span = niceNumber(b - a, false);
  const step = niceNumber(span / Math.max(1, maxTicks - 1), true);
  const i0 = Math.floor(a / step + 1e-9);
  const i1 = Math.ceil(b / step - 1e-9);
  const ticks: number[] = [];
  for (let i = i0; i <= i1; i++) ticks.push(cleanMultiple(i, step));
  return { lo: cleanMultiple(i0, step), hi: cleanMultiple(i1, step), step, ticks };
}

/** A number for a label: fixed decimals from `step` (the tick spacing) when given, otherwise 4 significant digits; exponent form for very large or small magnitudes. */
export function formatNumber(v: number, step?: number): string {
  if (!Number.isFinite(v)) return Number.isNaN(v) ? '—' : v > 0 ? '∞' : '−∞';
  if (v === 0) return '0';
  const a = Math.abs(v);
  const big = Math.max(a, step ?? 0);
  let s: string;
  if (big >= (step !== undefined ? 1e5 : 1e6) || (step !== undefined ? step < 1e-3 : a < 1e-3)) {
    const digits = step !== undefined ? Math.max(0, Math.min(6, Math.floor(Math.log10(big)) - Math.floor(Math.log10(step)))) : 3;
    s = v.toExponential(digits).replace(/e\+?/, 'e');
  } else if (step !== undefined) {
    s = v.toFixed(Math.max(0, Math.min(10, -Math.floor(Math.log10(step) + 1e-9))));
  } else {
    s = Number(v.toPrecision(4)).toString();
  }
  return s.replace(/^-/, '−');
}

function finiteRange(values: Iterable<number>): [number, number] | null {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (!Number.isFinite(v)) continue;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return lo <= hi ? [lo, hi] : null;
}

function* arrayValues(a: ArrayLike<number>): Generator<number> {
  for (let i = 0; i < a.length; i++) yield a[i] as number;
}

export interface LineSeries {
  label: string;
  x: ArrayLike<number>;
  y: ArrayLike<number>;
  color?: string;
  /** 'line' (default), 'points', 'line+points', or 'step': y[i] held from x[i] to x[i+1] (the last to `stepEnd`) */
  kind?: 'line' | 'points' | 'line+points' | 'step';
  stepEnd?: number;
  dashed?: boolean;
}

export interface MarkerLine {
  /** x (vertical lines) or y (horizontal lines) in data units */
  at: number;
  label?: string;
  color?: string;
}

export interface LinePlotSpec {
  title?: string;
  xLabel: string;
  yLabel: string;
  series: readonly LineSeries[];
  vLines?: readonly MarkerLine[];
  hLines?: readonly MarkerLine[];
  /** fixed axis ranges (default: the data, widened to nice ticks) */
  xRange?: readonly [number, number];
  yRange?: readonly [number, number];
  /** include 0 in the y range */
  yZero?: boolean;
  width?: number;
  height?: number;
}

interface Frame {
  left: number;
  top: number;
  w: number;
  h: number;
  x: AxisTicks;
  y: AxisTicks;
}

const FONT = 'font-family="sans-serif" font-size="11"';

function mapX(f: Frame, v: number): number {
  return f.left + ((v - f.x.lo) / (f.x.hi - f.x.lo)) * f.w;
}

function mapY(f: Frame, v: number): number {
  return f.top + f.h - ((v - f.y.lo) / (f.y.hi - f.y.lo)) * f.h;
}

function axesSvg(f: Frame, xLabel: string, yLabel: string, title: string | undefined, width: number, grid = true): string {
  const out: string[] = [];
  const bottom = f.top + f.h;
  out.push(`<rect x="${px(f.left)}" y="${px(f.top)}" width="${px(f.w)}" height="${px(f.h)}" fill="none" stroke="#444" stroke-width="1"/>`);
  for (const t of f.x.ticks) {
    const x = mapX(f, t);
    out.push(`<line x1="${px(x)}" y1="${px(bottom)}" x2="${px(x)}" y2="${px(bottom + 4)}" stroke="#444"/>`);
    if (grid) out.push(`<line x1="${px(x)}" y1="${px(f.top)}" x2="${px(x)}" y2="${px(bottom)}" stroke="#e4e4e4"/>`);
    out.push(`<text x="${px(x)}" y="${px(bottom + 15)}" text-anchor="middle">${escapeXml(formatNumber(t, f.x.step))}</text>`);
  }
  for (const t of f.y.ticks) {
    const y = mapY(f, t);
    out.push(`<line x1="${px(f.left - 4)}" y1="${px(y)}" x2="${px(f.left)}" y2="${px(y)}" stroke="#444"/>`);
    if (grid) out.push(`<line x1="${px(f.left)}" y1="${px(y)}" x2="${px(f.left + f.w)}" y2="${px(y)}" stroke="#e4e4e4"/>`);
    out.push(`<text x="${px(f.left - 6)}" y="${px(y + 4)}" text-anchor="end">${escapeXml(formatNumber(t, f.y.step))}</text>`);
  }
  out.push(`<text x="${px(f.left + f.w / 2)}" y="${px(bottom + 32)}" text-anchor="middle">${escapeXml(xLabel)}</text>`);
  const yl = f.left - 52;
  const ym = f.top + f.h / 2;
  out.push(`<text x="${px(yl)}" y="${px(ym)}" text-anchor="middle" transform="rotate(-90 ${px(yl)} ${px(ym)})">${escapeXml(yLabel)}</text>`);
  if (title !== undefined) out.push(`<text x="${px(width / 2)}" y="16" text-anchor="middle" font-weight="bold">${escapeXml(title)}</text>`);
  return out.join('');
}

function frameAttrs(f: Frame): string {
  return `data-area="${px(f.left)} ${px(f.top)} ${px(f.w)} ${px(f.h)}" data-x="${f.x.lo} ${f.x.hi}" data-y="${f.y.lo} ${f.y.hi}"`;
}

function legendSvg(entries: readonly { label: string; color: string; dashed?: boolean }[], x0: number, y0: number, width: number): { svg: string; height: number } {
  if (entries.length === 0) return { svg: '', height: 0 };
  const out: string[] = [];
  let x = x0;
  let y = y0;
  for (const e of entries) {
    const w = 28 + Math.min(40, e.label.length) * 6.2;
    if (x + w > x0 + width && x > x0) {
      x = x0;
      y += 16;
    }
    out.push(`<line x1="${px(x)}" y1="${px(y - 4)}" x2="${px(x + 18)}" y2="${px(y - 4)}" stroke="${e.color}" stroke-width="2"${e.dashed === true ? ' stroke-dasharray="4 3"' : ''}/>`);
    out.push(`<text x="${px(x + 22)}" y="${px(y)}">${escapeXml(e.label)}</text>`);
    x += w;
  }
  return { svg: `<g class="legend">${out.join('')}</g>`, height: y - y0 + 16 };
}

function seriesSvg(f: Frame, s: LineSeries, color: string): string {
  const kind = s.kind ?? 'line';
  const n = Math.min(s.x.length, s.y.length);
  const label = escapeXml(s.label);
  const dash = s.dashed === true ? ' stroke-dasharray="5 3"' : '';
  const pts: string[] = [];
  const segments: string[][] = [];
  let current: string[] = [];
  const flush = (): void => {
    if (current.length > 0) segments.push(current);
    current = [];
  };
  for (let i = 0; i < n; i++) {
    const xv = s.x[i] as number;
    const yv = s.y[i] as number;
    if (!Number.isFinite(xv) || !Number.isFinite(yv)) {
      flush();
      continue;
    }
    const X = mapX(f, xv);
    const Y = mapY(f, yv);
    if (kind === 'step') {
      const next = i + 1 < n ? (s.x[i + 1] as number) : (s.stepEnd ?? xv);
      current.push(`${px(X)},${px(Y)}`, `${px(mapX(f, next))},${px(Y)}`);
    } else {
      current.push(`${px(X)},${px(Y)}`);
    }
    pts.push(`<circle cx="${px(X)}" cy="${px(Y)}" r="2.5"/>`);
  }
  flush();
  const out: string[] = [];
  if (kind !== 'points') {
    for (const seg of segments) out.push(`<polyline data-series="${label}" points="${seg.join(' ')}" fill="none" stroke="${color}" stroke-width="1.5"${dash}/>`);
  }
  if (kind === 'points' || kind === 'line+points') out.push(`<g data-series-points="${label}" fill="${color}">${pts.join('')}</g>`);
  return out.join('');
}

function markerSvg(f: Frame, m: MarkerLine, vertical: boolean): string {
  const color = m.color ?? '#b00';
  const label = m.label !== undefined ? escapeXml(m.label) : '';
  if (vertical) {
    if (!(m.at >= f.x.lo && m.at <= f.x.hi)) return '';
    const x = mapX(f, m.at);
    return `<line data-marker="${label}" x1="${px(x)}" y1="${px(f.top)}" x2="${px(x)}" y2="${px(f.top + f.h)}" stroke="${color}" stroke-dasharray="3 3"/>` + (label !== '' ? `<text x="${px(x + 3)}" y="${px(f.top + 12)}" fill="${color}">${label}</text>` : '');
  }
  if (!(m.at >= f.y.lo && m.at <= f.y.hi)) return '';
  const y = mapY(f, m.at);
  return `<line data-marker="${label}" x1="${px(f.left)}" y1="${px(y)}" x2="${px(f.left + f.w)}" y2="${px(y)}" stroke="${color}" stroke-dasharray="3 3"/>` + (label !== '' ? `<text x="${px(f.left + f.w - 3)}" y="${px(y - 3)}" text-anchor="end" fill="${color}">${label}</text>` : '');
}

/** A line / point / step plot (see LinePlotSpec). */
export function linePlot(spec: LinePlotSpec): string {
  const width = spec.width ?? 480;
  const height = spec.height ?? 300;
  const xs: number[] = [];
  const ys: number[] = [];
  for (const s of spec.series) {
    const n = Math.min(s.x.length, s.y.length);
    for (let i = 0; i < n; i++) {
      const xv = s.x[i] as number;
      const yv = s.y[i] as number;
      if (Number.isFinite(xv) && Number.isFinite(yv)) {
        xs.push(xv);
        ys.push(yv);
      }
    }
    if (s.kind === 'step' && s.stepEnd !== undefined) xs.push(s.stepEnd);
  }
  for (const m of spec.vLines ?? []) xs.push(m.at);
  for (const m of spec.hLines ?? []) ys.push(m.at);
  if (spec.yZero === true) ys.push(0);
  const xr = spec.xRange ?? finiteRange(xs) ?? [0, 1];
  const yr = spec.yRange ?? finiteRange(ys) ?? [0, 1];
  const entries = spec.series.map((s, i) => ({ label: s.label, color: s.color ?? (PALETTE[i % PALETTE.length] as string), dashed: s.dashed === true }));
  const left = 70;
  const top = spec.title !== undefined ? 26 : 10;
  const w = width - left - 14;
  const legend = spec.series.length > 1 ? legendSvg(entries, left, 0, w) : { svg: '', height: 0 };
  const h = height - top - 46;
  const frame: Frame = { left, top, w, h, x: niceTicks(xr[0], xr[1]), y: niceTicks(yr[0], yr[1]) };
  if (spec.xRange !== undefined) frame.x = { ...niceTicks(xr[0], xr[1]), lo: xr[0], hi: xr[1] };
  if (spec.xRange !== undefined) frame.x.ticks = frame.x.ticks.filter((t) => t >= xr[0] && t <= xr[1]);
  if (spec.yRange !== undefined) frame.y = { ...niceTicks(yr[0], yr[1]), lo: yr[0], hi: yr[1] };
  if (spec.yRange !== undefined) frame.y.ticks = frame.y.ticks.filter((t) => t >= yr[0] && t <= yr[1]);
  const total = height + legend.height;
  const body: string[] = [];
  body.push(axesSvg(frame, spec.xLabel, spec.yLabel, spec.title, width));
  // series are clipped to the plot area plus a margin (markers at the edges stay whole)
  const m = 5;
  body.push(`<svg x="${px(left - m)}" y="${px(top - m)}" width="${px(w + 2 * m)}" height="${px(h + 2 * m)}" viewBox="${px(left - m)} ${px(top - m)} ${px(w + 2 * m)} ${px(h + 2 * m)}" overflow="hidden">`);
  spec.series.forEach((s, i) => body.push(seriesSvg(frame, s, entries[i]!.color)));
  body.push('</svg>');
  for (const m of spec.vLines ?? []) body.push(markerSvg(frame, m, true));
  for (const m of spec.hLines ?? []) body.push(markerSvg(frame, m, false));
  const legendPart = legend.svg !== '' ? `<g transform="translate(0 ${px(height + 4)})">${legend.svg}</g>` : '';
  return `<svg class="figure" width="${width}" height="${px(total)}" viewBox="0 0 ${width} ${px(total)}" ${FONT}><g class="plot" ${frameAttrs(frame)}>${body.join('')}</g>${legendPart}</svg>`;
}

export interface BarPlotSpec {
  title?: string;
  xLabel: string;
  yLabel: string;
  categories: readonly string[];
  values: readonly number[];
  /** optional error bars / ranges: [low, high] per bar */
  ranges?: readonly (readonly [number, number] | null)[];
  color?: string;
  /** reference line (e.g. 1 for scale factors) */
  hLine?: number;
  width?: number;
  height?: number;
}

/** A bar plot, one bar per category (labels thinned when crowded). */
export function barPlot(spec: BarPlotSpec): string {
  const width = spec.width ?? 480;
  const height = spec.height ?? 300;
  const n = spec.categories.length;
  const ys: number[] = [0, ...spec.values];
  for (const r of spec.ranges ?? []) if (r !== null) ys.push(r[0], r[1]);
  if (spec.hLine !== undefined) ys.push(spec.hLine);
  const yr = finiteRange(ys) ?? [0, 1];
  const left = 70;
  const top = spec.title !== undefined ? 26 : 10;
  const frame: Frame = { left, top, w: width - left - 14, h: height - top - 46, x: { lo: 0, hi: Math.max(1, n), step: 1, ticks: [] }, y: niceTicks(yr[0], yr[1]) };
  const body: string[] = [axesSvg(frame, spec.xLabel, spec.yLabel, spec.title, width)];
  const color = spec.color ?? (PALETTE[0] as string);
  const bw = frame.w / Math.max(1, n);
  const every = Math.max(1, Math.ceil(n / Math.max(1, Math.floor(frame.w / 36))));
  const y0 = mapY(frame, Math.max(frame.y.lo, Math.min(frame.y.hi, 0)));
  const bars: string[] = [];
  for (let i = 0; i < n; i++) {
    const v = spec.values[i] as number;
    const xc = frame.left + (i + 0.5) * bw;
    if (Number.isFinite(v)) {
      const y = mapY(frame, v);
      bars.push(`<rect data-bar="${escapeXml(spec.categories[i] as string)}" data-value="${v}" x="${px(xc - bw * 0.4)}" y="${px(Math.min(y, y0))}" width="${px(bw * 0.8)}" height="${px(Math.abs(y0 - y))}" fill="${color}"/>`);
    }
    const r = spec.ranges?.[i];
    if (r !== undefined && r !== null) bars.push(`<line x1="${px(xc)}" y1="${px(mapY(frame, r[0]))}" x2="${px(xc)}" y2="${px(mapY(frame, r[1]))}" stroke="#333"/>`);
    if (i % every === 0) bars.push(`<text x="${px(xc)}" y="${px(frame.top + frame.h + 15)}" text-anchor="middle">${escapeXml(spec.categories[i] as string)}</text>`);
  }
  body.push(`<g class="bars">${bars.join('')}</g>`);
  if (spec.hLine !== undefined) body.push(markerSvg(frame, { at: spec.hLine, color: '#666' }, false));
  return `<svg class="figure" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" ${FONT}><g class="plot" ${frameAttrs(frame)}>${body.join('')}</g></svg>`;
}

/** A PNG as a `data:` URI. */
export function pngDataUri(png: Uint8Array): string {
  return `data:image/png;base64,${Buffer.from(png.buffer, png.byteOffset, png.byteLength).toString('base64')}`;
}

export interface HeatMapSpec {
  title?: string;
  /** [row][col], column fastest; row 0 is drawn at the bottom */
  values: ArrayLike<number>;
  rows: number;
  cols: number;
  /** data coordinates of the outer edges of the first and last column / row */
  xRange: readonly [number, number];
  yRange: readonly [number, number];
  xLabel: string;
  yLabel: string;
  /** colour-bar label (quantity and units) */
  valueLabel: string;
  colormap?: Colormap;
  /** colour limits (default: 1st and 99th percentiles, see sliceLimits) */
  limits?: readonly [number, number];
  /** size of the plot area in px (the image is stretched to it; default 320 × 320) */
  areaWidth?: number;
  areaHeight?: number;
  /** unique id prefix within the page (for the colour-bar gradient) */
  id: string;
}

/**
 * A heat map: the values as a 1-pixel-per-point PNG (src/export/slices.ts
 * colours, grey for non-finite), stretched over the plot area, with axes and a
 * colour bar spanning the limits.
 */
export function heatMap(spec: HeatMapSpec): string {
  const map = spec.colormap ?? 'viridis';
  const rendered = renderSlice({ data: spec.values instanceof Float32Array ? spec.values : Float32Array.from(spec.values), rows: spec.rows, cols: spec.cols }, { colormap: map, scale: 1, aspect: 1, ...(spec.limits !== undefined ? { limits: spec.limits } : {}) });
  const aw = spec.areaWidth ?? 320;
  const ah = spec.areaHeight ?? 320;
  const left = 70;
  const top = spec.title !== undefined ? 26 : 10;
  const x: AxisTicks = { ...niceTicks(spec.xRange[0], spec.xRange[1]), lo: spec.xRange[0], hi: spec.xRange[1] };
  x.ticks = x.ticks.filter((t) => t >= Math.min(x.lo, x.hi) && t <= Math.max(x.lo, x.hi));
  const y: AxisTicks = { ...niceTicks(spec.yRange[0], spec.yRange[1]), lo: spec.yRange[0], hi: spec.yRange[1] };
  y.ticks = y.ticks.filter((t) => t >= Math.min(y.lo, y.hi) && t <= Math.max(y.lo, y.hi));
  const frame: Frame = { left, top, w: aw, h: ah, x, y };
  const barX = left + aw + 18;
  const width = barX + 16 + 70;
  const height = top + ah + 46;
  const [lo, hi] = rendered.limits;
  const gid = `${spec.id.replace(/[^A-Za-z0-9_-]/g, '_')}-cbar`;
  const stops: string[] = [];
  for (let i = 0; i <= 8; i++) {
    const [r, g, b] = colormapColor(map, i / 8);
    stops.push(`<stop offset="${i / 8}" stop-color="rgb(${r},${g},${b})"/>`);
  }
  const cb = niceTicks(lo, hi, 5);
  const cbTicks = cb.ticks.filter((t) => t >= Math.min(lo, hi) && t <= Math.max(lo, hi));
  const span = hi - lo;
  const bar: string[] = [];
  bar.push(`<defs><linearGradient id="${gid}" x1="0" y1="1" x2="0" y2="0">${stops.join('')}</linearGradient></defs>`);
  bar.push(`<rect x="${px(barX)}" y="${px(top)}" width="14" height="${px(ah)}" fill="url(#${gid})" stroke="#444"/>`);
  for (const t of span > 0 ? cbTicks : [lo]) {
    const yy = top + ah - (span > 0 ? ((t - lo) / span) * ah : ah / 2);
    bar.push(`<line x1="${px(barX + 14)}" y1="${px(yy)}" x2="${px(barX + 18)}" y2="${px(yy)}" stroke="#444"/>`);
    bar.push(`<text x="${px(barX + 20)}" y="${px(yy + 4)}">${escapeXml(formatNumber(t, span > 0 ? cb.step : undefined))}</text>`);
  }
  const bl = barX + 78;
  const bm = top + ah / 2;
  bar.push(`<text x="${px(bl)}" y="${px(bm)}" text-anchor="middle" transform="rotate(-90 ${px(bl)} ${px(bm)})">${escapeXml(spec.valueLabel)}</text>`);
  const total = width + 14;
  const image = `<image x="${px(left)}" y="${px(top)}" width="${px(aw)}" height="${px(ah)}" preserveAspectRatio="none" style="image-rendering:pixelated" href="${pngDataUri(rendered.png)}"/>`;
  return (
    `<svg class="figure heatmap" width="${px(total)}" height="${px(height)}" viewBox="0 0 ${px(total)} ${px(height)}" ${FONT}>` +
    `<g class="plot" ${frameAttrs(frame)} data-limits="${lo} ${hi}">${image}${axesSvg(frame, spec.xLabel, spec.yLabel, spec.title, 2 * left + aw, false)}</g>` +
    `<g class="colorbar">${bar.join('')}</g></svg>`
  );
}
