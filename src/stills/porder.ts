/**
 * p_order: the ordering parameter of a serial data set, one value per shot,
 * that takes the place of the rotation angle in the scale model (docs/stills.md,
 * "Scaling"). Sources:
 *
 * - `index`: the shot's index (StillShot.index);
 * - `timestamp`: neither DIALS stills ExperimentLists nor CrystFEL streams carry
 *   a per-shot time, so this names the missing key (give times in a CSV);
 * - `diffuse`: the total diffuse intensity of the shot (ShotInfo.diffuse, from extraction);
 * - `pulse_energy`: the photon energy of the shot (eV; ShotInfo.photonEnergyEv, or
 *   hc/λ of the shot's beam when extraction gave no info for it);
 * - `csv`: any numeric column of a CSV file with a header, the rows keyed by a
 *   column that holds the shot's identifier or its index.
 *
 * A missing, non-numeric or non-finite value is an error naming the file, the
 * shot and the column. Shots that extraction gave no info for (skipped shots)
 * get NaN from the `diffuse` source: they have no rows, so no fit uses them.
 */
import { InvalidValueError, MissingFieldError } from '../errors.ts';
import { parseCsv } from '../io/csv-read.ts';
import { readTextFile } from '../util/read-text.ts';
import { HC_EV_A } from './crystfel.ts';
import type { StillsDataset } from './model.ts';

export type POrderSource =
  | { kind: 'index' }
  | { kind: 'timestamp' }
  | { kind: 'diffuse' }
  | { kind: 'pulse_energy' }
  | { kind: 'csv'; file: string; column: string; /** column naming the shot: its identifier or its index */ key: string };

/** What p_order needs of extraction's per-shot info (src/stills/extract.ts ShotInfo satisfies it). */
export interface POrderShotInfo {
  shot: number;
  /** total diffuse intensity (Σ counts / exposure over the binned pixels) */
  diffuse: number;
  photonEnergyEv: number;
}

const NUMBER = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

function shotName(data: StillsDataset, shot: number): string {
  const id = data.shots[shot]?.identifier;
  return id !== undefined && id !== '' ? `shot ${shot} ('${id}')` : `shot ${shot}`;
}

function infoByShot(data: StillsDataset, infos: readonly POrderShotInfo[]): Map<number, POrderShotInfo> {
  const m = new Map<number, POrderShotInfo>();
  for (const info of infos) {
    if (!Number.isInteger(info.shot) || info.shot < 0 || info.shot >= data.shots.length) {
      throw new InvalidValueError(`shot info for shot ${info.shot}, but the data set has shots 0…${data.shots.length - 1}`, { file: data.source, field: 'shot' });
    }
    m.set(info.shot, info);
  }
  return m;
}

async function csvValues(source: Extract<POrderSource, { kind: 'csv' }>, data: StillsDataset): Promise<Float64Array> {
  const { file, column, key } = source;
  const table = parseCsv(await readTextFile(file), file);
  const col = table.header.indexOf(column);
  if (col < 0) throw new MissingFieldError(`no column '${column}' (columns: ${table.header.join(', ')})`, { file, field: column });
  const keyCol = table.header.indexOf(key);
  if (keyCol < 0) throw new MissingFieldError(`no key column '${key}' naming the shots (columns: ${table.header.join(', ')})`, { file, field: key });
  const byId = new Map<string, number>();
  for (const s of data.shots) if (s.identifier !== '') byId.set(s.identifier, s.index);
  const out = new Float64Array(data.shots.length).fill(Number.NaN);
  const seen = new Uint8Array(data.shots.length);
  table.rows.forEach((row, r) => {
    const k = row[keyCol]!;
    const line = table.lines[r]!;
    let shot = byId.get(k);
    if (shot === undefined && /^\d+$/.test(k)) shot = Number(k);
    if (shot === undefined || shot >= data.shots.length) {
      throw new InvalidValueError(`line ${line}: '${k}' is neither a shot identifier nor a shot index (0…${data.shots.length - 1})`, { file, field: key });
    }
    if (seen[shot] === 1) throw new InvalidValueError(`line ${line}: ${shotName(data, shot)} has a second row`, { file, field: key });
    seen[shot] = 1;
    const text = row[col]!;
    const v = NUMBER.test(text) ? Number(text) : Number.NaN;
    if (!Number.isFinite(v)) throw new InvalidValueError(`${shotName(data, shot)} (line ${line}): '${text}' is not a finite number`, { file, field: column });
    out[shot] = v;
  });
  for (let i = 0; i < out.length; i++) {
    if (seen[i] === 0) throw new MissingFieldError(`${shotName(data, i)} has no row (key column '${key}')`, { file, field: column });
  }
  return out;
}

/** p_order of every shot (index = StillShot.index); see the module comment. */
export async function pOrderValues(source: POrderSource, data: StillsDataset, infos: readonly POrderShotInfo[]): Promise<Float64Array> {
  const n = data.shots.length;
  switch (source.kind) {
    case 'index':
      return Float64Array.from(data.shots, (s) => s.index);
    case 'timestamp':
      throw new MissingFieldError(
        `no per-shot timestamp: ${data.format === 'dials' ? 'a DIALS stills ExperimentList' : 'a CrystFEL stream'} carries none; give the times as a CSV column (p_order kind csv)`,
        { file: data.source, field: 'timestamp' },
      );
    case 'diffuse': {
      const byShot = infoByShot(data, infos);
      const out = new Float64Array(n).fill(Number.NaN);
      for (const [shot, info] of byShot) {
        if (!Number.isFinite(info.diffuse)) throw new InvalidValueError(`${shotName(data, shot)}: total diffuse intensity ${info.diffuse} is not finite`, { file: data.source, field: 'diffuse' });
        out[shot] = info.diffuse;
      }
      return out;
    }
    case 'pulse_energy': {
      const byShot = infoByShot(data, infos);
      const out = new Float64Array(n);
      for (let i = 0; i < n; i++) {
        const info = byShot.get(i);
        const e = info !== undefined ? info.photonEnergyEv : HC_EV_A / data.shots[i]!.experiment.beam.wavelength;
        if (!(Number.isFinite(e) && e > 0)) throw new InvalidValueError(`${shotName(data, i)}: photon energy ${e} eV is not a positive number`, { file: data.source, field: 'photon_energy' });
        out[i] = e;
      }
      return out;
    }
    case 'csv':
      return csvValues(source, data);
  }
}
