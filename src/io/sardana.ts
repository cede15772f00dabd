/**
 * Sardana scan records as recorded beside the detector streams (stream type
 * `sardana`, one JSON part per event):
 *
 * - `DataDescription` (event 0): scan `serialno`, `title` (e.g.
 *   "burstscan dummy_mot_01 1.0 2.0 4 6"), `scandir`, `scanfile`, and
 *   `ref_moveables` — the first is the reference motor of the scan;
 * - `RecordData`: one per scan point, sent once the point's frames are taken:
 *   `point_nb`, the reference motor's position under its name, `timestamp`;
 * - `RecordEnd`: end of the scan.
 *
 * A record's event number closes its scan step: detector frames whose event
 * number lies after the previous record's and at or before this one's belong to
 * the step (in the FemtoMAX recordings a burst scan of 5 points × 6 frames has
 * frames at events 1–30 and records at events 6, 12, …, 30).
 */
import { FormatError, type ErrorLocation } from '../errors.ts';

export interface SardanaDescription {
  type: 'DataDescription';
  serialno?: number;
  title?: string;
  scandir?: string;
  scanfile: string[];
  /** the reference motor (first of `ref_moveables`), if any */
  refMotor?: string;
  raw: Record<string, unknown>;
}

export interface SardanaRecord {
  type: 'RecordData';
  pointNb?: number;
  timestamp?: number;
  /** the numeric fields of the record (motor positions, counters that are scalars) */
  values: Record<string, number>;
  raw: Record<string, unknown>;
}

export interface SardanaEnd {
  type: 'RecordEnd';
  raw: Record<string, unknown>;
}

export type SardanaMessage = SardanaDescription | SardanaRecord | SardanaEnd;

/** Parses one sardana message (its single JSON part). */
export function parseSardana(parts: readonly Uint8Array[], where: ErrorLocation = {}): SardanaMessage {
  const p = parts[0];
  if (p === undefined) throw new FormatError('empty sardana message', where);
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(p.buffer, p.byteOffset, p.byteLength).toString('utf8'));
  } catch (err) {
    throw new FormatError(`sardana message is not JSON: ${(err as Error).message.replace(/\s+/g, ' ')}`, where, { cause: err });
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new FormatError('sardana message is not a JSON object', where);
  const raw = v as Record<string, unknown>;
  switch (raw.type) {
    case 'DataDescription': {
      const d: SardanaDescription = { type: 'DataDescription', raw, scanfile: Array.isArray(raw.scanfile) ? raw.scanfile.map(String) : [] };
      if (typeof raw.serialno === 'number') d.serialno = raw.serialno;
      if (typeof raw.title === 'string') d.title = raw.title;
      if (typeof raw.scandir === 'string') d.scandir = raw.scandir;
      if (Array.isArray(raw.ref_moveables) && typeof raw.ref_moveables[0] === 'string') d.refMotor = raw.ref_moveables[0];
      return d;
    }
    case 'RecordData': {
      const values: Record<string, number> = {};
      for (const [k, x] of Object.entries(raw)) if (typeof x === 'number') values[k] = x;
      const r: SardanaRecord = { type: 'RecordData', values, raw };
      if (typeof raw.point_nb === 'number') r.pointNb = raw.point_nb;
      if (typeof raw.timestamp === 'number') r.timestamp = raw.timestamp;
      return r;
    }
    case 'RecordEnd':
      return { type: 'RecordEnd', raw };
    default:
      throw new FormatError(`unknown sardana message type ${JSON.stringify(raw.type)} (expected DataDescription, RecordData or RecordEnd)`, { ...where, field: 'type' });
  }
}
