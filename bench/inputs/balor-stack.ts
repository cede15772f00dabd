/**
 * A Balor-sized photon-detection input for the benchmark: `n` uint16 CMOS
 * frames of 4104 × 4128 (offset 100 ± 3 and 3×3 photon clouds covering
 * `density` of the pixels, about that fraction above the counting threshold
 * 108), written once as an HDF5 stack (/entry/data/data, one chunk per frame,
 * uncompressed) under bench/.cache/ and reused while it exists.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { writeHdf5Atomic } from '../../src/io/hdf5.ts';
import { mulberry32 } from '../../src/util/random.ts';

export const BALOR_ROWS = 4104;
export const BALOR_COLS = 4128;

/** the cache folder shared by the bench sections (git-ignored) */
export const BENCH_CACHE = join(import.meta.dirname, '..', '.cache');

/** One frame: offset 100 ± 3 and 3×3 photon clouds covering about `density` of the pixels (fills `out`). */
export function balorFrame(out: Uint16Array, rows: number, cols: number, density: number, seed: number): Uint16Array {
  const u = mulberry32(seed);
  for (let i = 0; i < out.length; i++) out[i] = 97 + ((u() * 7) | 0);
  const photons = Math.round((density * rows * cols) / 9);
  for (let j = 0; j < photons; j++) {
    const r = 1 + ((u() * (rows - 2)) | 0);
    const c = 1 + ((u() * (cols - 2)) | 0);
    const peak = 350 + ((u() * 250) | 0);
    for (let dr = -1; dr <= 1; dr++) {
      for (let dc = -1; dc <= 1; dc++) {
        const i = (r + dr) * cols + c + dc;
        out[i] = Math.min(65535, (out[i] as number) + (dr === 0 && dc === 0 ? peak : ((peak * (0.2 + 0.3 * u())) | 0)));
      }
    }
  }
  return out;
}

/** The path of the cached stack of `n` Balor frames at `density`, written on first use. */
export async function balorStack(n: number, density = 0.02): Promise<string> {
  if (!existsSync(BENCH_CACHE)) mkdirSync(BENCH_CACHE, { recursive: true });
  const path = join(BENCH_CACHE, `balor-${n}x${BALOR_ROWS}x${BALOR_COLS}-d${density}.h5`);
  if (existsSync(path)) return path;
  const px = BALOR_ROWS * BALOR_COLS;
  const frame = new Uint16Array(px);
  await writeHdf5Atomic(path, (f) => {
    const g = f.create_group('entry').create_group('data');
    const d = g.create_dataset({ name: 'data', data: new Uint16Array(0), shape: [0, BALOR_ROWS, BALOR_COLS], maxshape: [n, BALOR_ROWS, BALOR_COLS], chunks: [1, BALOR_ROWS, BALOR_COLS] });
    d.resize([n, BALOR_ROWS, BALOR_COLS]);
    for (let k = 0; k < n; k++) d.write_slice([[k, k + 1], [], []], balorFrame(frame, BALOR_ROWS, BALOR_COLS, density, 11 + k));
  });
  return path;
}

