/**
 * Rectangular regions of interest, half-open in pixels: rows [row0, row1),
 * columns [col0, col1).
 *
 * Accepted spellings:
 * - `r0:r1,c0:c1` (numpy-like slices, rows first), e.g. `100:400,0:2048`;
 * - JSON of named ROIs, each either `[r0, r1, c0, c1]`, `{row0, row1, col0, col1}`
 *   or the FemtoMAX live viewer's RectangleROI
 *   (`{"type": "RectangleROI", "handles": {"_handleBottomLeft": [x, y],
 *   "_handleTopRight": [x, y], …}}`, x = column, y = row; the rectangle spans
 *   the two handles, truncated to integers as the pipeline's `parse_rois` does).
 *   The ROI named `photon` is the photon-detection ROI.
 *
 * A malformed spelling is an InvalidValueError naming the ROI and field (the
 * original pipeline silently dropped every ROI in that case).
 */
import { readFileSync } from 'node:fs';
import { FileAccessError, InvalidValueError } from '../errors.ts';

export interface Roi {
  row0: number;
  row1: number;
  col0: number;
  col1: number;
}

export function roiArea(r: Roi): number {
  return Math.max(0, r.row1 - r.row0) * Math.max(0, r.col1 - r.col0);
}

export function roiEquals(a: Roi | null, b: Roi | null): boolean {
  if (a === null || b === null) return a === b;
  return a.row0 === b.row0 && a.row1 === b.row1 && a.col0 === b.col0 && a.col1 === b.col1;
}

export function formatRoi(r: Roi): string {
  return `${r.row0}:${r.row1},${r.col0}:${r.col1}`;
}

function checkRoi(r: Roi, what: string, file?: string): Roi {
  const vals = [r.row0, r.row1, r.col0, r.col1];
  if (!vals.every((v) => Number.isInteger(v))) throw new InvalidValueError(`ROI ${what}: bounds must be integers, got ${vals.join(', ')}`, { file, field: what });
  if (!(r.row1 > r.row0 && r.col1 > r.col0)) throw new InvalidValueError(`ROI ${what}: empty rectangle rows ${r.row0}:${r.row1}, cols ${r.col0}:${r.col1}`, { file, field: what });
  return r;
}

/** Parses `r0:r1,c0:c1`. */
export function parseRoiSpec(text: string, what = 'roi'): Roi {
  const m = /^\s*(-?\d+)\s*:\s*(-?\d+)\s*,\s*(-?\d+)\s*:\s*(-?\d+)\s*$/.exec(text);
  if (m === null) throw new InvalidValueError(`ROI '${text}' is not rows r0:r1,cols c0:c1`, { field: what });
  return checkRoi({ row0: Number(m[1]), row1: Number(m[2]), col0: Number(m[3]), col1: Number(m[4]) }, what);
}

function handle(v: unknown, name: string, key: string, file?: string): [number, number] {
  if (!Array.isArray(v) || v.length < 2 || typeof v[0] !== 'number' || typeof v[1] !== 'number' || !Number.isFinite(v[0]) || !Number.isFinite(v[1])) {
    throw new InvalidValueError(`ROI '${name}': handle ${key} is not [x, y]`, { file, field: `${name}.handles.${key}` });
  }
  return [v[0], v[1]];
}

function roiFromValue(name: string, v: unknown, file?: string): Roi {
  if (Array.isArray(v)) {
    if (v.length !== 4 || !v.every((x) => typeof x === 'number')) throw new InvalidValueError(`ROI '${name}': expected [row0, row1, col0, col1]`, { file, field: name });
    const [row0, row1, col0, col1] = v as [number, number, number, number];
    return checkRoi({ row0, row1, col0, col1 }, name, file);
  }
  if (v === null || typeof v !== 'object') throw new InvalidValueError(`ROI '${name}' is not an object or [row0, row1, col0, col1]`, { file, field: name });
  const o = v as Record<string, unknown>;
  if ('handles' in o) {
    const hs = o.handles;
    if (hs === null || typeof hs !== 'object') throw new InvalidValueError(`ROI '${name}': handles is not an object`, { file, field: `${name}.handles` });
    const h = hs as Record<string, unknown>;
    const bl = handle(h._handleBottomLeft, name, '_handleBottomLeft', file);
    const tr = handle(h._handleTopRight, name, '_handleTopRight', file);
    const x0 = Math.trunc(bl[0]);
    const x1 = Math.trunc(tr[0]);
    const y0 = Math.trunc(bl[1]);
    const y1 = Math.trunc(tr[1]);
    return checkRoi({ row0: Math.min(y0, y1), row1: Math.max(y0, y1), col0: Math.min(x0, x1), col1: Math.max(x0, x1) }, name, file);
  }
  const keys = ['row0', 'row1', 'col0', 'col1'] as const;
  for (const k of keys) if (typeof o[k] !== 'number') throw new InvalidValueError(`ROI '${name}': ${k} missing or not a number`, { file, field: `${name}.${k}` });
  return checkRoi({ row0: o.row0 as number, row1: o.row1 as number, col0: o.col0 as number, col1: o.col1 as number }, name, file);
}

/** Parses named ROIs from JSON text. */
export function parseRoisJson(text: string, file?: string): Record<string, Roi> {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    throw new InvalidValueError(`ROI JSON does not parse: ${(err as Error).message}`, { file, field: 'rois' });
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new InvalidValueError('ROI JSON must be an object of named ROIs', { file, field: 'rois' });
  const out: Record<string, Roi> = {};
  for (const [name, r] of Object.entries(v)) out[name] = roiFromValue(name, r, file);
  return out;
}

/** `--rois` value: JSON text, or a file holding it. */
export function readRoisArg(arg: string): Record<string, Roi> {
  const t = arg.trim();
  if (t.startsWith('{')) return parseRoisJson(t);
  let text: string;
  try {
    text = readFileSync(arg, 'utf8');
  } catch (err) {
    throw new FileAccessError(`cannot read ROI file: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { file: arg });
  }
  return parseRoisJson(text, arg);
}

/** The ROI clipped to an image of rows × cols; an empty result is an InvalidValueError. */
export function clipRoi(r: Roi, rows: number, cols: number, what = 'roi'): Roi {
  const c: Roi = { row0: Math.max(0, r.row0), row1: Math.min(rows, r.row1), col0: Math.max(0, r.col0), col1: Math.min(cols, r.col1) };
  if (!(c.row1 > c.row0 && c.col1 > c.col0)) {
    throw new InvalidValueError(`ROI ${what} (${formatRoi(r)}) lies outside the ${rows}×${cols} image`, { field: what });
  }
  return c;
}
