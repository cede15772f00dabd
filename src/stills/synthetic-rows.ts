/**
 * Synthetic stills observation rows with a known scale, for the stills scaling
 * and merging tests and the `stills-memory` bench: N shots, each a set of rows
 * at random voxels of a cube of fine indices (P1, ndiv 3), with
 *
 * - a pulse-energy-like p_order per shot (uniform in 9400…9600 eV, in random
 *   shot order) and a per-shot scale b = smooth(p_order) · exp(jitter · N(0, 1)),
 *   optionally × a wild factor for chosen shots;
 * - a(x, y) gradients, one factor per panel d, an offset c(|s|) ≥ 0;
 * - Poisson counts.
 *
 * The rows are made on demand, chunk by chunk, from hashes of the seed, the
 * shot and the voxel: nothing is held, so memory does not grow with the shots.
 */
import { emptyObservations, splitFine, type ObservationMeta } from '../pipeline/observations.ts';
import { hashUniform, mixSeed, mulberry32, normal, poisson } from '../util/random.ts';
import type { ObservationChunks } from './scale.ts';

export interface SyntheticStillsRowsOptions {
  shots: number;
  rowsPerShot: number;
  /** edge of the cube of fine indices (odd) */
  side: number;
  shotsPerChunk: number;
  seed?: number;
  /** σ of log b around the smooth curve (default 0.05) */
  jitter?: number;
  /** peak amplitude of the smooth drift of b with p_order (default 0.25) */
  drift?: number;
  /** shots whose b is multiplied by a factor */
  wild?: readonly { shot: number; factor: number }[];
  /** shots with another number of rows */
  rows?: readonly { shot: number; rows: number }[];
}

export interface SyntheticStillsRows {
  chunks: ObservationChunks;
  meta: ObservationMeta;
  /** p_order (eV) of every shot */
  pulseEnergy: Float64Array;
  /** the true per-shot scale b (the wild factors included) */
  b: Float64Array;
  /** true voxel intensity at a fine index */
  voxelI(fh: number, fk: number, fl: number): number;
  rows: number;
}

const PANEL = 256;
const S_MIN = 0.05;
const S_MAX = 0.6;
const D = [1, 0.94];

export function simulateStillsRows(o: SyntheticStillsRowsOptions): SyntheticStillsRows {
  const seed = o.seed ?? 1;
  const jitter = o.jitter ?? 0.05;
  const drift = o.drift ?? 0.25;
  const half = (o.side - 1) / 2;
  const pulseEnergy = new Float64Array(o.shots);
  const b = new Float64Array(o.shots);
  const rowsOf = new Uint32Array(o.shots).fill(o.rowsPerShot);
  for (const r of o.rows ?? []) rowsOf[r.shot] = r.rows;
  for (let shot = 0; shot < o.shots; shot++) {
    const u = mulberry32(mixSeed(seed, 1, shot));
    const e = 9400 + 200 * u();
    pulseEnergy[shot] = e;
    const x = (e - 9400) / 200;
    b[shot] = (1 + drift * Math.sin(2 * Math.PI * 0.8 * x) + 0.3 * drift * Math.cos(2 * Math.PI * 1.7 * x)) * Math.exp(jitter * normal(u));
  }
  for (const w of o.wild ?? []) b[w.shot]! *= w.factor;
  const sOf = (fh: number, fk: number, fl: number): number => S_MIN + (S_MAX - S_MIN) * Math.min(1, Math.sqrt(fh * fh + fk * fk + fl * fl) / (half * Math.sqrt(3)));
  const voxelI = (fh: number, fk: number, fl: number): number => {
    const s = sOf(fh, fk, fl);
    const g = Math.sqrt(-2 * Math.log(hashUniform(seed, 2, fh, fk, fl))) * Math.cos(2 * Math.PI * hashUniform(seed, 3, fh, fk, fl));
    return Math.max(60, 600 * Math.exp(-2 * s * s) * Math.exp(0.5 * g));
  };
  const a = (x: number, y: number): number => 1 + 0.05 * ((2 * x) / PANEL - 1) + 0.04 * ((2 * y) / PANEL - 1);
  const c = (s: number): number => 15 * ((s - S_MIN) / (S_MAX - S_MIN));
  const meta: ObservationMeta = { ndiv: [3, 3, 3], hall: 'P 1', cell: [50, 60, 70, 90, 90, 90], wavelength: 1.3 };
  const count = Math.ceil(o.shots / o.shotsPerChunk);
  const chunks: ObservationChunks = {
    count,
    read: (i: number) => {
      const first = i * o.shotsPerChunk;
      const last = Math.min(o.shots, first + o.shotsPerChunk);
      let n = 0;
      for (let shot = first; shot < last; shot++) n += rowsOf[shot]!;
      const t = emptyObservations(n);
      let r = 0;
      for (let shot = first; shot < last; shot++) {
        const u = mulberry32(mixSeed(seed, 4, shot));
        for (let j = 0; j < rowsOf[shot]!; j++, r++) {
          const fh = Math.floor(u() * o.side) - half;
          const fk = Math.floor(u() * o.side) - half;
          const fl = Math.floor(u() * o.side) - half;
          const x = u() * PANEL;
          const y = u() * PANEL;
          const panel = u() < 0.5 ? 0 : 1;
          const s = sOf(fh, fk, fl);
          const I = poisson(u, a(x, y) * D[panel]! * (b[shot]! * voxelI(fh, fk, fl) + c(s)));
          [t.H[r], t.dh[r]] = splitFine(fh, 3);
          [t.K[r], t.dk[r]] = splitFine(fk, 3);
          [t.L[r], t.dl[r]] = splitFine(fl, 3);
          t.I[r] = I;
          t.sigma[r] = Math.sqrt(Math.max(I, 1));
          t.s[r] = s;
          t.x[r] = x;
          t.y[r] = y;
          t.panel[r] = panel;
          t.batch[r] = shot;
          t.fraction[r] = 1;
        }
      }
      return Promise.resolve(t);
    },
  };
  let rows = 0;
  for (let shot = 0; shot < o.shots; shot++) rows += rowsOf[shot]!;
  return { chunks, meta, pulseEnergy, b, voxelI, rows };
}
