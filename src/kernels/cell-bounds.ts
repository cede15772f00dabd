/**
 * cell-bounds: the box of cells that a wedge's statically valid pixels reach
 * (first geometry pass of the voxel grid, see src/grid/cell-table.ts).
 *
 * For every pixel i with valid bit set and every frame f of the wedge:
 *   h = M_f · d_i (deterministic f32, src/grid/subvoxel.ts),  cell = ceil(h − ½)
 * and the result is the componentwise min and max cell. Both backends compute
 * the same f32 values, so the box is identical. No pixel values are read.
 */
import { InvalidValueError } from '../errors.ts';
import type { GpuContext } from '../host/context.ts';
import { defineProgram } from '../host/program.ts';
import { cellOf, hklComponentF32 } from '../grid/subvoxel.ts';
import type { Kernel } from './kernel.ts';

/** The geometry of a wedge, shared by the voxel kernels. */
export interface WedgeGeometry {
  /** d = s1 − s0 per pixel, 3 f32 each */
  vectors: Float32Array;
  /** static mask bits: bit (i & 31) of word (i >> 5) set = pixel i usable */
  valid: Uint32Array;
  /** M_f (fractional hkl from d) per frame, 3 rows × 4 f32 (w unused) */
  rows: Float32Array;
}

export interface CellBoundsResult {
  /** smallest H, K, L; when nothing is valid, min > max */
  min: [number, number, number];
  max: [number, number, number];
}

const WG = 256;
const I32_MAX = 2147483647;
const I32_MIN = -2147483648;

export function checkGeometry(g: WedgeGeometry, kernel: string): { n: number; frames: number } {
  if (g.vectors.length % 3 !== 0) throw new InvalidValueError(`${kernel}: vectors length is not a multiple of 3`, { field: 'vectors' });
  const n = g.vectors.length / 3;
  if (g.valid.length < Math.ceil(n / 32)) throw new InvalidValueError(`${kernel}: the valid bits cover ${32 * g.valid.length} of ${n} pixels`, { field: 'valid' });
  if (g.rows.length % 12 !== 0) throw new InvalidValueError(`${kernel}: rows length is not a multiple of 12`, { field: 'rows' });
  return { n, frames: g.rows.length / 12 };
}

/** Pixel i usable by the static mask. */
export function isValidPixel(valid: Uint32Array, i: number): boolean {
  return (((valid[i >>> 5] as number) >>> (i & 31)) & 1) === 1;
}

/** Packs a 0/1 byte mask (1 = usable) into valid bits. */
export function packValidBits(mask: Uint8Array): Uint32Array {
  const out = new Uint32Array(Math.max(1, Math.ceil(mask.length / 32)));
  for (let i = 0; i < mask.length; i++) if (mask[i] !== 0) out[i >>> 5] = ((out[i >>> 5] as number) | (1 << (i & 31))) >>> 0;
  return out;
}

/** The CPU twin. */
export function cellBoundsCpu(g: WedgeGeometry): CellBoundsResult {
  const { n, frames } = checkGeometry(g, 'cell-bounds');
  const min: [number, number, number] = [I32_MAX, I32_MAX, I32_MAX];
  const max: [number, number, number] = [I32_MIN, I32_MIN, I32_MIN];
  const v = g.vectors;
  for (let f = 0; f < frames; f++) {
    const b = 12 * f;
    for (let i = 0; i < n; i++) {
      if (!isValidPixel(g.valid, i)) continue;
      const d0 = v[3 * i] as number;
      const d1 = v[3 * i + 1] as number;
      const d2 = v[3 * i + 2] as number;
      for (let r = 0; r < 3; r++) {
        const c = cellOf(hklComponentF32(g.rows, b + 4 * r, d0, d1, d2));
        if (c < min[r]!) min[r] = c;
        if (c > max[r]!) max[r] = c;
      }
    }
  }
  return { min, max };
}

export const cellBoundsProgram = defineProgram({
  name: 'cell-bounds',
  defines: { WG: 'number' },
  bindings: {
    params: 'uniform',
    vectors: 'read',
    valid: 'read',
    rows: 'read',
    bounds: 'read_write',
    cell_table: { kind: 'read', unbound: true },
  },
  uniforms: { n_pixels: 'u32', n_frames: 'u32', row_threads: 'u32', zero: 'u32' },
});

/** The GPU path. */
export async function cellBoundsGpu(ctx: GpuContext, g: WedgeGeometry): Promise<CellBoundsResult> {
  const { n, frames } = checkGeometry(g, 'cell-bounds');
  const init = new Int32Array([I32_MAX, I32_MAX, I32_MAX, I32_MIN, I32_MIN, I32_MIN]);
  if (n === 0 || frames === 0) return { min: [I32_MAX, I32_MAX, I32_MAX], max: [I32_MIN, I32_MIN, I32_MIN] };
  if (frames > ctx.limits.maxComputeWorkgroupsPerDimension) {
    throw new InvalidValueError(`cell-bounds: ${frames} frames in one wedge exceed the dispatch limit`, { field: 'rows' });
  }
  const [gx, gy] = ctx.grid(n, WG);
  const vec = ctx.input('cell-bounds vectors', g.vectors);
  const valid = ctx.input('cell-bounds valid bits', g.valid);
  const rows = ctx.upload('cell-bounds rows', g.rows);
  const out = ctx.upload('cell-bounds output', init);
  try {
    await ctx.run(cellBoundsProgram, {
      defines: { WG },
      uniforms: { n_pixels: n, n_frames: frames, row_threads: gx * WG, zero: 0 },
      bindings: { vectors: vec, valid, rows, bounds: out },
      workgroups: [gx, gy, frames],
    });
    const r = new Int32Array(await ctx.read(out, 24));
    return { min: [r[0] as number, r[1] as number, r[2] as number], max: [r[3] as number, r[4] as number, r[5] as number] };
  } finally {
    ctx.release(vec, valid, rows, out);
  }
}

export const cellBoundsKernel: Kernel<WedgeGeometry, CellBoundsResult> = {
  name: 'cell-bounds',
  cpu: cellBoundsCpu,
  gpu: cellBoundsGpu,
};
