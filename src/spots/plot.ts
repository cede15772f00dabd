/**
 * Minimal self-contained figures: one plot spec, rendered either as hand-written
 * SVG text or as a PNG drawn pixel by pixel (pngjs only encodes). Points, lines,
 * bars, linear or log10 axes, a title, axis labels and tick labels. The PNG text
 * uses a built-in 5×7 bitmap font (upper-case; Greek letters and symbols are
 * spelled out by `asciiLabel`).
 */
import { PNG } from 'pngjs';

export interface Series {
  kind: 'points' | 'line' | 'bars';
  x: ArrayLike<number>;
  y: ArrayLike<number>;
  /** '#rrggbb' */
  color: string;
  /** point radius in px (default 2) */
  radius?: number;
  /** 0..1 (default 1) */
  opacity?: number;
  /** legend text */
  label?: string;
}

export interface PlotSpec {
  title: string;
  xLabel: string;
  yLabel: string;
  xLog?: boolean;
  yLog?: boolean;
  series: Series[];
  /** reference lines: y = x, or horizontal y = value */
  diagonal?: boolean;
  hline?: number;
  /** a line of small text under the title */
  note?: string;
  width?: number;
  height?: number;
}

interface Frame {
  W: number;
  H: number;
  left: number;
  right: number;
  top: number;
  bottom: number;
  x0: number;
  x1: number;
  y0: number;
  y1: number;
  xLog: boolean;
  yLog: boolean;
}

const tx = (v: number, log: boolean): number => (log ? Math.log10(v) : v);

function usable(v: number, log: boolean): boolean {
  return Number.isFinite(v) && (!log || v > 0);
}

function layout(spec: PlotSpec): Frame {
  const W = spec.width ?? 800;
  const H = spec.height ?? 560;
  const xLog = spec.xLog ?? false;
  const yLog = spec.yLog ?? false;
  let x0 = Infinity;
  let x1 = -Infinity;
  let y0 = Infinity;
  let y1 = -Infinity;
  for (const s of spec.series) {
    for (let i = 0; i < s.x.length; i++) {
      const x = s.x[i]!;
      const y = s.y[i]!;
      if (!usable(x, xLog) || !usable(y, yLog)) continue;
      x0 = Math.min(x0, tx(x, xLog));
      x1 = Math.max(x1, tx(x, xLog));
      y0 = Math.min(y0, tx(y, yLog));
      y1 = Math.max(y1, tx(y, yLog));
    }
    if (s.kind === 'bars') {
      if (!yLog) y0 = Math.min(y0, 0);
      // room for half a bar beyond the outermost ones
      const xs = Array.from(s.x as ArrayLike<number>).filter((v) => usable(v, xLog)).map((v) => tx(v, xLog)).sort((a, b) => a - b);
      let gap = Infinity;
      for (let i = 1; i < xs.length; i++) if (xs[i]! > xs[i - 1]!) gap = Math.min(gap, xs[i]! - xs[i - 1]!);
      if (!Number.isFinite(gap)) gap = 1;
      if (xs.length > 0) {
        x0 = Math.min(x0, xs[0]! - 0.6 * gap);
        x1 = Math.max(x1, xs[xs.length - 1]! + 0.6 * gap);
      }
    }
  }
  if (spec.hline !== undefined && usable(spec.hline, yLog)) {
    y0 = Math.min(y0, tx(spec.hline, yLog));
    y1 = Math.max(y1, tx(spec.hline, yLog));
  }
  if (!Number.isFinite(x0)) {
    x0 = 0;
    x1 = 1;
  }
  if (!Number.isFinite(y0)) {
    y0 = 0;
    y1 = 1;
  }
  if (spec.diagonal) {
    const lo = Math.min(x0, y0);
    const hi = Math.max(x1, y1);
    x0 = y0 = lo;
    x1 = y1 = hi;
  }
  if (x1 === x0) {
    x0 -= 0.5;
    x1 += 0.5;
  }
  if (y1 === y0) {
    y0 -= 0.5;
    y1 += 0.5;
  }
  const px = 0.04 * (x1 - x0);
  const py = 0.04 * (y1 - y0);
  return { W, H, left: 90, right: 24, top: 48 + 14 * noteLines(spec).length, bottom: 64, x0: x0 - px, x1: x1 + px, y0: y0 - py, y1: y1 + py, xLog, yLog };
}

function sx(f: Frame, v: number): number {
  return f.left + ((tx(v, f.xLog) - f.x0) / (f.x1 - f.x0)) * (f.W - f.left - f.right);
}
function sy(f: Frame, v: number): number {
  return f.H - f.bottom - ((tx(v, f.yLog) - f.y0) / (f.y1 - f.y0)) * (f.H - f.top - f.bottom);
}

/** "nice" tick values (data units) for an axis spanning [lo, hi] in transformed units */
function ticks(lo: number, hi: number, log: boolean): number[] {
  if (log) {
    const out: number[] = [];
    const a = Math.ceil(lo);
    const b = Math.floor(hi);
    const step = Math.max(1, Math.ceil((b - a + 1) / 8));
    for (let e = a; e <= b; e += step) out.push(10 ** e);
    if (out.length < 2) {
      for (const m of [2, 5]) for (let e = Math.floor(lo); e <= Math.ceil(hi); e++) if (Math.log10(m * 10 ** e) >= lo && Math.log10(m * 10 ** e) <= hi) out.push(m * 10 ** e);
      out.sort((x, y) => x - y);
    }
    return out;
  }
  const span = hi - lo;
  const raw = span / 6;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => span / s <= 8) ?? 10 * mag;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-9 * span; v += step) out.push(Math.abs(v) < 1e-12 * step ? 0 : v);
  return out;
}

export function formatTick(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e5 || a < 1e-3) {
    const e = Math.floor(Math.log10(a));
    const m = v / 10 ** e;
    return Math.abs(m - 1) < 1e-9 ? `1e${e}` : `${Number(m.toPrecision(2))}e${e}`;
  }
  return String(Number(v.toPrecision(4)));
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** The figure as a standalone SVG document. */
export function renderSvg(spec: PlotSpec): string {
  const f = layout(spec);
  const out: string[] = [];
  const r1 = (v: number): string => v.toFixed(1);
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${f.W}" height="${f.H}" viewBox="0 0 ${f.W} ${f.H}" font-family="sans-serif">`);
  out.push(`<rect width="${f.W}" height="${f.H}" fill="#ffffff"/>`);
  out.push(`<text x="${f.W / 2}" y="24" font-size="16" text-anchor="middle">${esc(spec.title)}</text>`);
  noteLines(spec).forEach((line, i) => out.push(`<text x="${f.W / 2}" y="${44 + 14 * i}" font-size="11" fill="#555555" text-anchor="middle">${esc(line)}</text>`));
  const pl = f.left;
  const pr = f.W - f.right;
  const pt = f.top;
  const pb = f.H - f.bottom;
  out.push(`<defs><clipPath id="plot"><rect x="${pl}" y="${pt}" width="${pr - pl}" height="${pb - pt}"/></clipPath></defs>`);
  for (const t of ticks(f.x0, f.x1, f.xLog)) {
    const x = sx(f, t);
    out.push(`<line x1="${r1(x)}" y1="${pt}" x2="${r1(x)}" y2="${pb}" stroke="#eeeeee"/>`);
    out.push(`<text x="${r1(x)}" y="${pb + 16}" font-size="11" text-anchor="middle">${esc(formatTick(t))}</text>`);
  }
  for (const t of ticks(f.y0, f.y1, f.yLog)) {
    const y = sy(f, t);
    out.push(`<line x1="${pl}" y1="${r1(y)}" x2="${pr}" y2="${r1(y)}" stroke="#eeeeee"/>`);
    out.push(`<text x="${pl - 6}" y="${r1(y + 4)}" font-size="11" text-anchor="end">${esc(formatTick(t))}</text>`);
  }
  out.push(`<rect x="${pl}" y="${pt}" width="${pr - pl}" height="${pb - pt}" fill="none" stroke="#000000"/>`);
  out.push(`<text x="${(pl + pr) / 2}" y="${f.H - 20}" font-size="13" text-anchor="middle">${esc(spec.xLabel)}</text>`);
  out.push(`<text x="20" y="${(pt + pb) / 2}" font-size="13" text-anchor="middle" transform="rotate(-90 20 ${(pt + pb) / 2})">${esc(spec.yLabel)}</text>`);
  out.push('<g clip-path="url(#plot)">');
  if (spec.diagonal) {
    const lo = f.xLog ? 10 ** f.x0 : f.x0;
    const hi = f.xLog ? 10 ** f.x1 : f.x1;
    out.push(`<line x1="${r1(sx(f, lo))}" y1="${r1(sy(f, lo))}" x2="${r1(sx(f, hi))}" y2="${r1(sy(f, hi))}" stroke="#888888" stroke-dasharray="4 3"/>`);
  }
  if (spec.hline !== undefined && usable(spec.hline, f.yLog)) {
    const y = sy(f, spec.hline);
    out.push(`<line x1="${pl}" y1="${r1(y)}" x2="${pr}" y2="${r1(y)}" stroke="#888888" stroke-dasharray="4 3"/>`);
  }
  for (const s of spec.series) {
    const op = s.opacity ?? 1;
    if (s.kind === 'points') {
      const r = s.radius ?? 2;
      const dots: string[] = [];
      for (let i = 0; i < s.x.length; i++) {
        if (!usable(s.x[i]!, f.xLog) || !usable(s.y[i]!, f.yLog)) continue;
        dots.push(`<circle cx="${r1(sx(f, s.x[i]!))}" cy="${r1(sy(f, s.y[i]!))}" r="${r}"/>`);
      }
      out.push(`<g fill="${s.color}" fill-opacity="${op}">${dots.join('')}</g>`);
    } else if (s.kind === 'line') {
      const pts: string[] = [];
      for (let i = 0; i < s.x.length; i++) {
        if (!usable(s.x[i]!, f.xLog) || !usable(s.y[i]!, f.yLog)) continue;
        pts.push(`${r1(sx(f, s.x[i]!))},${r1(sy(f, s.y[i]!))}`);
      }
      out.push(`<polyline points="${pts.join(' ')}" fill="none" stroke="${s.color}" stroke-width="2" stroke-opacity="${op}"/>`);
    } else {
      const w = barWidth(f, s);
      const base = f.yLog ? 10 ** f.y0 : Math.max(f.y0, Math.min(0, f.y1));
      for (let i = 0; i < s.x.length; i++) {
        if (!usable(s.x[i]!, f.xLog) || !usable(s.y[i]!, f.yLog)) continue;
        const x = sx(f, s.x[i]!);
        const y = sy(f, s.y[i]!);
        const yb = sy(f, base);
        out.push(`<rect x="${r1(x - w / 2)}" y="${r1(Math.min(y, yb))}" width="${r1(w)}" height="${r1(Math.abs(yb - y))}" fill="${s.color}" fill-opacity="${op}"/>`);
      }
    }
  }
  out.push('</g>');
  legend(spec).forEach((l, i) => {
    const y = pt + 16 + 16 * i;
    out.push(`<rect x="${pr - 180}" y="${y - 9}" width="10" height="10" fill="${l.color}"/><text x="${pr - 165}" y="${y}" font-size="11">${esc(l.label)}</text>`);
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

function legend(spec: PlotSpec): { label: string; color: string }[] {
  return spec.series.filter((s) => s.label !== undefined).map((s) => ({ label: s.label!, color: s.color }));
}

function barWidth(f: Frame, s: Series): number {
  let minGap = Infinity;
  const xs = Array.from(s.x as ArrayLike<number>).filter((v) => usable(v, f.xLog)).map((v) => sx(f, v)).sort((a, b) => a - b);
  for (let i = 1; i < xs.length; i++) minGap = Math.min(minGap, xs[i]! - xs[i - 1]!);
  if (!Number.isFinite(minGap)) minGap = 20;
  return Math.max(1, 0.8 * minGap);
}

// ---------------------------------------------------------------------------
// PNG

/** 5×7 glyphs, one 5-bit row per entry (bit 4 = leftmost column). */
const FONT: Record<string, readonly number[]> = {
  '0': [0x0e, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0e],
  '1': [0x04, 0x0c, 0x04, 0x04, 0x04, 0x04, 0x0e],
  '2': [0x0e, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1f],
  '3': [0x1f, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0e],
  '4': [0x02, 0x06, 0x0a, 0x12, 0x1f, 0x02, 0x02],
  '5': [0x1f, 0x10, 0x1e, 0x01, 0x01, 0x11, 0x0e],
  '6': [0x06, 0x08, 0x10, 0x1e, 0x11, 0x11, 0x0e],
  '7': [0x1f, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08],
  '8': [0x0e, 0x11, 0x11, 0x0e, 0x11, 0x11, 0x0e],
  '9': [0x0e, 0x11, 0x11, 0x0f, 0x01, 0x02, 0x0c],
  A: [0x0e, 0x11, 0x11, 0x1f, 0x11, 0x11, 0x11],
  B: [0x1e, 0x11, 0x11, 0x1e, 0x11, 0x11, 0x1e],
  C: [0x0e, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0e],
  D: [0x1c, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1c],
  E: [0x1f, 0x10, 0x10, 0x1e, 0x10, 0x10, 0x1f],
  F: [0x1f, 0x10, 0x10, 0x1e, 0x10, 0x10, 0x10],
  G: [0x0e, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0f],
  H: [0x11, 0x11, 0x11, 0x1f, 0x11, 0x11, 0x11],
  I: [0x0e, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0e],
  J: [0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0c],
  K: [0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11],
  L: [0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1f],
  M: [0x11, 0x1b, 0x15, 0x15, 0x11, 0x11, 0x11],
  N: [0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11],
  O: [0x0e, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0e],
  P: [0x1e, 0x11, 0x11, 0x1e, 0x10, 0x10, 0x10],
  Q: [0x0e, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0d],
  R: [0x1e, 0x11, 0x11, 0x1e, 0x14, 0x12, 0x11],
  S: [0x0f, 0x10, 0x10, 0x0e, 0x01, 0x01, 0x1e],
  T: [0x1f, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04],
  U: [0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0e],
  V: [0x11, 0x11, 0x11, 0x11, 0x11, 0x0a, 0x04],
  W: [0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0a],
  X: [0x11, 0x11, 0x0a, 0x04, 0x0a, 0x11, 0x11],
  Y: [0x11, 0x11, 0x11, 0x0a, 0x04, 0x04, 0x04],
  Z: [0x1f, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1f],
  ' ': [0, 0, 0, 0, 0, 0, 0],
  '.': [0, 0, 0, 0, 0, 0x0c, 0x0c],
  '-': [0, 0, 0, 0x1f, 0, 0, 0],
  '+': [0, 0x04, 0x04, 0x1f, 0x04, 0x04, 0],
  ',': [0, 0, 0, 0, 0x0c, 0x04, 0x08],
  ':': [0, 0x0c, 0x0c, 0, 0x0c, 0x0c, 0],
  '(': [0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02],
  ')': [0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08],
  '/': [0, 0x01, 0x02, 0x04, 0x08, 0x10, 0],
  '=': [0, 0, 0x1f, 0, 0x1f, 0, 0],
  '%': [0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03],
  '<': [0x02, 0x04, 0x08, 0x10, 0x08, 0x04, 0x02],
  '>': [0x08, 0x04, 0x02, 0x01, 0x02, 0x04, 0x08],
  '_': [0, 0, 0, 0, 0, 0, 0x1f],
  '|': [0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04],
  '*': [0, 0x04, 0x15, 0x0e, 0x15, 0x04, 0],
  '#': [0x0a, 0x0a, 0x1f, 0x0a, 0x1f, 0x0a, 0x0a],
  '?': [0x0e, 0x11, 0x01, 0x02, 0x04, 0, 0x04],
  ';': [0, 0x0c, 0x0c, 0, 0x0c, 0x04, 0x08],
  "'": [0x0c, 0x04, 0x08, 0, 0, 0, 0],
  '"': [0x0a, 0x0a, 0, 0, 0, 0, 0],
  '!': [0x04, 0x04, 0x04, 0x04, 0x04, 0, 0x04],
  '[': [0x0e, 0x08, 0x08, 0x08, 0x08, 0x08, 0x0e],
  ']': [0x0e, 0x02, 0x02, 0x02, 0x02, 0x02, 0x0e],
  '~': [0, 0, 0x08, 0x15, 0x02, 0, 0],
  '&': [0x0c, 0x12, 0x14, 0x08, 0x15, 0x12, 0x0d],
};

const SPELLED: Record<string, string> = { σ: 'SIGMA', χ: 'CHI', '²': '2', Å: 'A', '·': '*', '−': '-', '≥': '>=', '≤': '<=', '×': 'X', 'μ': 'MU', '√': 'SQRT', '°': ' DEG', '—': '-', '–': '-', '\u2019': "'" };

/** Splits a note into lines of at most `max` characters at spaces. */
export function wrapText(text: string, max: number): string[] {
  const lines: string[] = [];
  let cur = '';
  for (const word of text.split(' ')) {
    if (cur.length > 0 && cur.length + 1 + word.length > max) {
      lines.push(cur);
      cur = word;
    } else cur = cur.length > 0 ? `${cur} ${word}` : word;
  }
  if (cur.length > 0) lines.push(cur);
  return lines;
}

/** characters per note line: PNG font 6 px per character, SVG 11 px sans about 6 px */
function noteLines(spec: PlotSpec): string[] {
  return spec.note ? wrapText(spec.note, Math.floor(((spec.width ?? 800) - 40) / 6)) : [];
}

/** The text as the PNG font can draw it. */
export function asciiLabel(s: string): string {
  let out = '';
  for (const ch of s) out += SPELLED[ch] ?? ch.toUpperCase();
  return out;
}

class Raster {
  readonly data: Uint8Array;
  constructor(
    readonly w: number,
    readonly h: number,
  ) {
    this.data = new Uint8Array(w * h * 4).fill(255);
  }
  blend(x: number, y: number, rgb: readonly [number, number, number], a: number): void {
    x = Math.round(x);
    y = Math.round(y);
    if (x < 0 || y < 0 || x >= this.w || y >= this.h) return;
    const i = 4 * (y * this.w + x);
    for (let c = 0; c < 3; c++) this.data[i + c] = Math.round(this.data[i + c]! * (1 - a) + rgb[c]! * a);
    this.data[i + 3] = 255;
  }
  line(x0: number, y0: number, x1: number, y1: number, rgb: readonly [number, number, number], a = 1, dash = 0): void {
    const n = Math.max(1, Math.ceil(Math.max(Math.abs(x1 - x0), Math.abs(y1 - y0))));
    for (let i = 0; i <= n; i++) {
      if (dash > 0 && Math.floor(i / dash) % 2 === 1) continue;
      this.blend(x0 + ((x1 - x0) * i) / n, y0 + ((y1 - y0) * i) / n, rgb, a);
    }
  }
  disc(cx: number, cy: number, r: number, rgb: readonly [number, number, number], a: number): void {
    const ri = Math.ceil(r);
    for (let dy = -ri; dy <= ri; dy++) for (let dx = -ri; dx <= ri; dx++) if (dx * dx + dy * dy <= r * r + 0.25) this.blend(cx + dx, cy + dy, rgb, a);
  }
  rect(x: number, y: number, w: number, h: number, rgb: readonly [number, number, number], a: number): void {
    for (let j = Math.round(y); j < Math.round(y + h); j++) for (let i = Math.round(x); i < Math.round(x + w); i++) this.blend(i, j, rgb, a);
  }
  /** text with its left end at x (align 0), centre (0.5) or right (1), baseline-ish top at y; rotated −90° when vertical */
  text(s: string, x: number, y: number, scale: number, align: number, rgb: readonly [number, number, number], vertical = false): void {
    const t = asciiLabel(s);
    const adv = 6 * scale;
    const len = t.length * adv - scale;
    let pos = -align * len;
    for (const ch of t) {
      const g = FONT[ch] ?? FONT['?']!;
      for (let row = 0; row < 7; row++) {
        for (let col = 0; col < 5; col++) {
          if (((g[row]! >> (4 - col)) & 1) === 0) continue;
          for (let sy2 = 0; sy2 < scale; sy2++) {
            for (let sx2 = 0; sx2 < scale; sx2++) {
              const u = pos + col * scale + sx2;
              const v = row * scale + sy2;
              if (vertical) this.blend(x + v, y - u, rgb, 1);
              else this.blend(x + u, y + v, rgb, 1);
            }
          }
        }
      }
      pos += adv;
    }
  }
}

function rgbOf(hex: string): [number, number, number] {
  const m = /^#?([0-9a-f]{6})$/i.exec(hex);
  const v = m ? parseInt(m[1]!, 16) : 0;
  return [(v >> 16) & 255, (v >> 8) & 255, v & 255];
}

/** The figure as PNG bytes. */
export function renderPng(spec: PlotSpec): Uint8Array {
  const f = layout(spec);
  const r = new Raster(f.W, f.H);
  const black: [number, number, number] = [0, 0, 0];
  const grid: [number, number, number] = [235, 235, 235];
  const grey: [number, number, number] = [136, 136, 136];
  const pl = f.left;
  const pr = f.W - f.right;
  const pt = f.top;
  const pb = f.H - f.bottom;
  const titleScale = asciiLabel(spec.title).length * 12 <= f.W - 20 ? 2 : 1;
  r.text(spec.title, f.W / 2, titleScale === 2 ? 12 : 18, titleScale, 0.5, black);
  noteLines(spec).forEach((line, i) => r.text(line, f.W / 2, 38 + 14 * i, 1, 0.5, [85, 85, 85]));
  for (const t of ticks(f.x0, f.x1, f.xLog)) {
    const x = sx(f, t);
    r.line(x, pt, x, pb, grid);
    r.text(formatTick(t), x, pb + 8, 1, 0.5, black);
  }
  for (const t of ticks(f.y0, f.y1, f.yLog)) {
    const y = sy(f, t);
    r.line(pl, y, pr, y, grid);
    r.text(formatTick(t), pl - 6, y - 3, 1, 1, black);
  }
  r.text(spec.xLabel, (pl + pr) / 2, f.H - 28, 1, 0.5, black);
  r.text(spec.yLabel, 14, (pt + pb) / 2, 1, 0.5, black, true);
  const inside = (x: number, y: number): boolean => x >= pl && x <= pr && y >= pt && y <= pb;
  if (spec.diagonal) {
    const lo = f.xLog ? 10 ** f.x0 : f.x0;
    const hi = f.xLog ? 10 ** f.x1 : f.x1;
    r.line(sx(f, lo), sy(f, lo), sx(f, hi), sy(f, hi), grey, 1, 4);
  }
  if (spec.hline !== undefined && usable(spec.hline, f.yLog)) r.line(pl, sy(f, spec.hline), pr, sy(f, spec.hline), grey, 1, 4);
  for (const s of spec.series) {
    const c = rgbOf(s.color);
    const a = s.opacity ?? 1;
    if (s.kind === 'points') {
      for (let i = 0; i < s.x.length; i++) {
        if (!usable(s.x[i]!, f.xLog) || !usable(s.y[i]!, f.yLog)) continue;
        const x = sx(f, s.x[i]!);
        const y = sy(f, s.y[i]!);
        if (inside(x, y)) r.disc(x, y, s.radius ?? 2, c, a);
      }
    } else if (s.kind === 'line') {
      let px = Number.NaN;
      let py = Number.NaN;
      for (let i = 0; i < s.x.length; i++) {
        if (!usable(s.x[i]!, f.xLog) || !usable(s.y[i]!, f.yLog)) continue;
        const x = sx(f, s.x[i]!);
        const y = sy(f, s.y[i]!);
        if (Number.isFinite(px)) {
          r.line(px, py, x, y, c, a);
          r.line(px, py + 1, x, y + 1, c, a);
        }
        px = x;
        py = y;
      }
    } else {
      const w = barWidth(f, s);
      const base = sy(f, f.yLog ? 10 ** f.y0 : Math.max(f.y0, Math.min(0, f.y1)));
      for (let i = 0; i < s.x.length; i++) {
        if (!usable(s.x[i]!, f.xLog) || !usable(s.y[i]!, f.yLog)) continue;
        const x = sx(f, s.x[i]!);
        const y = sy(f, s.y[i]!);
        const xa = Math.max(pl + 1, x - w / 2);
        const xb = Math.min(pr, x + w / 2);
        const ya = Math.max(pt + 1, Math.min(y, base));
        const yb = Math.min(pb, Math.max(y, base));
        if (xb > xa && yb > ya) r.rect(xa, ya, xb - xa, yb - ya, c, a);
      }
    }
  }
  r.line(pl, pt, pr, pt, black);
  r.line(pl, pb, pr, pb, black);
  r.line(pl, pt, pl, pb, black);
  r.line(pr, pt, pr, pb, black);
  legend(spec).forEach((l, i) => {
    const y = pt + 8 + 14 * i;
    r.rect(pr - 200, y, 9, 9, rgbOf(l.color), 1);
    r.text(l.label, pr - 186, y + 1, 1, 0, black);
  });
  const png = new PNG({ width: f.W, height: f.H });
  png.data = Buffer.from(r.data.buffer, r.data.byteOffset, r.data.byteLength);
  return new Uint8Array(PNG.sync.write(png));
}
