/**
 * Extraction checkpoints of serial stills: one chunk file holds the diffuse
 * observation rows of several shots and one row per shot, as a stage file
 * (src/io/observation-file.ts, stage 'correct'; layout in docs/stills.md):
 *
 * - root attributes: the grid (`ndiv`, `hall`, `cell`, `wavelength`),
 *   `stills_chunk` = 1, `chunk` (the chunk's number), `shots` (how many);
 * - group `diffuse`: the observation table (batch = shot index);
 * - group `shots`: `shot`, `pixels`, `masked_fraction`, `counts`, `diffuse`,
 *   `photon_energy_ev`, `wavelength`, `rows`, `gpu` (1 when the GPU binned the
 *   shot), with attribute `identifiers` (JSON array of the shots' identifiers);
 * - root attribute `skipped` (JSON array of {shot, reason}): the shots of the
 *   chunk that could not be processed (`diffract run` with `on_bad_shot: skip`),
 *   each with its one-line reason; absent: none.
 */
import { InvalidValueError, MissingFieldError } from '../errors.ts';
import type { ObservationMeta, ObservationTable } from '../pipeline/observations.ts';
import type { ShotInfo } from '../stills/extract.ts';
import { observationsOf, readStageFile, writeStageFile } from './observation-file.ts';

/** A shot that could not be processed, and the one line that says why. */
export interface SkippedShot {
  shot: number;
  reason: string;
}

export interface StillsChunk {
  meta: ObservationMeta;
  /** the chunk's number in the run */
  chunk: number;
  diffuse: ObservationTable;
  shots: ShotInfo[];
  /** shots of the chunk skipped as bad (none when absent) */
  skipped?: SkippedShot[];
}

/** Writes one chunk atomically. */
export async function writeStillsChunk(path: string, c: StillsChunk): Promise<void> {
  const col = (f: (s: ShotInfo) => number): Float64Array => Float64Array.from(c.shots, f);
  await writeStageFile(path, {
    stage: 'correct',
    meta: c.meta,
    attrs: { stills_chunk: 1, chunk: c.chunk, shots: c.shots.length, ...(c.skipped !== undefined && c.skipped.length > 0 ? { skipped: JSON.stringify(c.skipped) } : {}) },
    observations: { diffuse: c.diffuse },
    groups: {
      shots: {
        columns: {
          shot: Uint32Array.from(c.shots, (s) => s.shot),
          pixels: col((s) => s.pixels),
          masked_fraction: col((s) => s.maskedFraction),
          counts: col((s) => s.counts),
          diffuse: col((s) => s.diffuse),
          photon_energy_ev: col((s) => s.photonEnergyEv),
          wavelength: col((s) => s.wavelength),
          rows: Uint32Array.from(c.shots, (s) => s.rows),
          gpu: Uint8Array.from(c.shots, (s) => (s.backend === 'gpu' ? 1 : 0)),
        },
        attrs: { identifiers: JSON.stringify(c.shots.map((s) => s.identifier)) },
      },
    },
  });
}

/** Reads one chunk; a file that is not a stills chunk, or a `shots` group that does not add up, names the file. */
export async function readStillsChunk(path: string): Promise<StillsChunk> {
  const sf = await readStageFile(path);
  if (Number(sf.attrs.stills_chunk) !== 1) throw new InvalidValueError(`not a stills extraction chunk (stage '${sf.stage}', no stills_chunk attribute)`, { file: path, field: 'stills_chunk' });
  const diffuse = observationsOf(sf, 'diffuse', path);
  const g = sf.groups.get('shots');
  if (g === undefined) throw new MissingFieldError("no table 'shots'", { file: path, field: 'shots' });
  const n = Number(g.attrs.nrows ?? 0);
  const column = (name: string): ArrayLike<number> => {
    const c = g.columns.get(name);
    if (c === undefined || c.length !== n) throw new MissingFieldError(`table 'shots' has no column '${name}' of ${n} rows`, { file: path, field: `shots/${name}` });
    return c;
  };
  let identifiers: unknown;
  try {
    identifiers = JSON.parse(String(g.attrs.identifiers));
  } catch {
    identifiers = undefined;
  }
  if (!Array.isArray(identifiers) || identifiers.length !== n) throw new MissingFieldError(`attribute 'identifiers' must be a JSON array of ${n} names`, { file: path, field: 'shots/identifiers' });
  const cols = ['shot', 'pixels', 'masked_fraction', 'counts', 'diffuse', 'photon_energy_ev', 'wavelength', 'rows', 'gpu'].map(column);
  const [shot, pixels, masked, counts, dif, energy, wavelength, rows, gpu] = cols as [ArrayLike<number>, ArrayLike<number>, ArrayLike<number>, ArrayLike<number>, ArrayLike<number>, ArrayLike<number>, ArrayLike<number>, ArrayLike<number>, ArrayLike<number>];
  const shots: ShotInfo[] = Array.from({ length: n }, (_v, i) => ({
    shot: shot[i] as number,
    identifier: String(identifiers[i]),
    pixels: pixels[i] as number,
    maskedFraction: masked[i] as number,
    counts: counts[i] as number,
    diffuse: dif[i] as number,
    photonEnergyEv: energy[i] as number,
    wavelength: wavelength[i] as number,
    rows: rows[i] as number,
    backend: (gpu[i] as number) === 1 ? 'gpu' : 'cpu',
  }));
  const total = shots.reduce((s, x) => s + x.rows, 0);
  if (total !== diffuse.I.length) throw new InvalidValueError(`the shots' rows add up to ${total} but 'diffuse' has ${diffuse.I.length}`, { file: path, field: 'shots/rows' });
  return { meta: sf.meta, chunk: Number(sf.attrs.chunk ?? 0), diffuse, shots, skipped: skippedOf(sf.attrs.skipped, path) };
}

function skippedOf(attr: unknown, path: string): SkippedShot[] {
  if (attr === undefined) return [];
  let v: unknown;
  try {
    v = JSON.parse(String(attr));
  } catch {
    v = undefined;
  }
  const ok = Array.isArray(v) && v.every((x) => x !== null && typeof x === 'object' && Number.isInteger((x as SkippedShot).shot) && typeof (x as SkippedShot).reason === 'string');
  if (!ok) throw new InvalidValueError("attribute 'skipped' must be a JSON array of {shot, reason}", { file: path, field: 'skipped' });
  return v as SkippedShot[];
}
