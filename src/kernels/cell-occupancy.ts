/**
 * cell-occupancy: the occupancy bitmap of a wedge's cell box (second geometry
 * pass of the voxel grid, see src/grid/cell-table.ts): one bit per box cell,
 * set when a statically valid pixel of one of the wedge's frames falls in it.
 *
 * The result also counts pixel·frames that fall outside the box (`missed`):
 * 0 whenever the box is the one cell-bounds returned for the same geometry.
 */
import { InvalidValueError } from '../errors.ts';
import type { GpuContext } from '../host/context.ts';
import { defineProgram } from '../host/program.ts';
import { bitmapWords, cellKey, type CellBox } from '../grid/cell-table.ts';
import { cellOf, hklComponentF32 } from '../grid/subvoxel.ts';
import { checkGeometry, isValidPixel, type WedgeGeometry } from './cell-bounds.ts';
import type { Kernel } from './kernel.ts';

export interface CellOccupancyParams extends WedgeGeometry {
  box: CellBox;
}

export interface CellOccupancyResult {
  /** one bit per box cell (key = box-linear index): bit key & 31 of word key >> 5 */
  bitmap: Uint32Array;
  /** valid pixel·frames outside the box */
  missed: number;
}

const WG = 256;

/** The CPU twin. */
export function cellOccupancyCpu(p: CellOccupancyParams): CellOccupancyResult {
  const { n, frames } = checkGeometry(p, 'cell-occupancy');
  const bitmap = new Uint32Array(bitmapWords(p.box));
  let missed = 0;
  const v = p.vectors;
  for (let f = 0; f < frames; f++) {
    const b = 12 * f;
    let lastKey = -2;
    for (let i = 0; i < n; i++) {
      if (!isValidPixel(p.valid, i)) continue;
      const d0 = v[3 * i] as number;
      const d1 = v[3 * i + 1] as number;
      const d2 = v[3 * i + 2] as number;
      const H = cellOf(hklComponentF32(p.rows, b, d0, d1, d2));
      const K = cellOf(hklComponentF32(p.rows, b + 4, d0, d1, d2));
      const L = cellOf(hklComponentF32(p.rows, b + 8, d0, d1, d2));
      const key = cellKey(p.box, H, K, L);
      if (key < 0) {
        missed++;
        continue;
      }
      if (key === lastKey) continue; // neighbouring pixels mostly share a cell
      lastKey = key;
      bitmap[key >>> 5] = ((bitmap[key >>> 5] as number) | (1 << (key & 31))) >>> 0;
    }
  }
  return { bitmap, missed };
}

/**
 * Both geometry passes at once on the CPU (what the CPU path runs instead of
 * cell-bounds followed by cell-occupancy): each pixel·frame's cell is computed
 * once and collected (runs of equal cells along a row collapse), then the box
 * and the bitmap follow from the set. Same cells as the two kernels, so the
 * same table.
 */
export function cellSetCpu(g: WedgeGeometry): { min: [number, number, number]; max: [number, number, number]; cells: Int32Array } {
  const { n, frames } = checkGeometry(g, 'cell-occupancy');
  const seen = new Set<number>();
  const out: number[] = [];
  const v = g.vectors;
  // 17 bits per axis (|index| < 2^16), 51 bits in all: exact in a double
  const pack = (H: number, K: number, L: number): number => ((H + 65536) * 131072 + (K + 65536)) * 131072 + (L + 65536);
  const r = g.rows;
  const valid = g.valid;
  const fr = Math.fround;
  for (let f = 0; f < frames; f++) {
    const b = 12 * f;
    const [m00, m01, m02, m10, m11, m12, m20, m21, m22] = [r[b], r[b + 1], r[b + 2], r[b + 4], r[b + 5], r[b + 6], r[b + 8], r[b + 9], r[b + 10]] as number[] as [
      number, number, number, number, number, number, number, number, number,
    ];
    // the last cell seen (already checked and collected): runs of equal cells along a row skip the rest
    let lastH = NaN;
    let lastK = NaN;
    let lastL = NaN;
    for (let i = 0; i < n; i++) {
      if ((((valid[i >>> 5] as number) >>> (i & 31)) & 1) === 0) continue;
      const d0 = v[3 * i] as number;
      const d1 = v[3 * i + 1] as number;
      const d2 = v[3 * i + 2] as number;
      // as hklComponentF32 (src/grid/subvoxel.ts)
      const H = cellOf(fr(fr(fr(m00 * d0) + fr(m01 * d1)) + fr(m02 * d2)));
      const K = cellOf(fr(fr(fr(m10 * d0) + fr(m11 * d1)) + fr(m12 * d2)));
      const L = cellOf(fr(fr(fr(m20 * d0) + fr(m21 * d1)) + fr(m22 * d2)));
      if (H === lastH && K === lastK && L === lastL) continue;
      if (Math.abs(H) >= 65536 || Math.abs(K) >= 65536 || Math.abs(L) >= 65536) {
        throw new InvalidValueError(`pixel ${i} of frame ${f} reaches cell (${H}, ${K}, ${L}), beyond ±65535`, { field: 'rows' });
      }
      lastH = H;
      lastK = K;
      lastL = L;
      const key = pack(H, K, L);
      if (!seen.has(key)) {
        seen.add(key);
        out.push(H, K, L);
      }
    }
  }
  const min: [number, number, number] = [2147483647, 2147483647, 2147483647];
  const max: [number, number, number] = [-2147483648, -2147483648, -2147483648];
  for (let k = 0; k < out.length; k += 3) {
    for (let a = 0; a < 3; a++) {
      const c = out[k + a] as number;
      if (c < min[a]!) min[a] = c;
      if (c > max[a]!) max[a] = c;
    }
  }
  return { min, max, cells: Int32Array.from(out) };
}

/** The occupancy bitmap of a box from a list of cells (3 per cell). */
export function bitmapFromCells(box: CellBox, cells: Int32Array): Uint32Array {
  const bitmap = new Uint32Array(bitmapWords(box));
  for (let k = 0; k < cells.length; k += 3) {
    const key = cellKey(box, cells[k] as number, cells[k + 1] as number, cells[k + 2] as number);
    if (key < 0) throw new Error('internal invariant failed: cell outside its own box');
    bitmap[key >>> 5] = ((bitmap[key >>> 5] as number) | (1 << (key & 31))) >>> 0;
  }
  return bitmap;
}

export const cellOccupancyProgram = defineProgram({
  name: 'cell-occupancy',
  defines: { WG: 'number' },
  bindings: {
    params: 'uniform',
    vectors: 'read',
    valid: 'read',
    rows: 'read',
    bitmap: 'read_write',
    missed: 'read_write',
    cell_table: { kind: 'read', unbound: true },
  },
  uniforms: { n_pixels: 'u32', n_frames: 'u32', row_threads: 'u32', zero: 'u32', lo: 'vec3i', _pad0: 'u32', dim: 'vec3u', _pad1: 'u32' },
});

/** The GPU path. */
export async function cellOccupancyGpu(ctx: GpuContext, p: CellOccupancyParams): Promise<CellOccupancyResult> {
  const { n, frames } = checkGeometry(p, 'cell-occupancy');
  const words = bitmapWords(p.box);
  if (n === 0 || frames === 0 || words === 0) return cellOccupancyCpu(p);
  if (frames > ctx.limits.maxComputeWorkgroupsPerDimension) {
    throw new InvalidValueError(`cell-occupancy: ${frames} frames in one wedge exceed the dispatch limit`, { field: 'rows' });
  }
  const maxBinding = Math.min(ctx.limits.maxStorageBufferBindingSize, ctx.limits.maxBufferSize);
  if (4 * words > maxBinding) {
    throw new InvalidValueError(`cell-occupancy: a ${p.box.dim.join('×')} cell box needs a ${4 * words}-byte bitmap, over the binding limit ${maxBinding}; use a smaller wedge`, { field: 'box' });
  }
  const [gx, gy] = ctx.grid(n, WG);
  const vec = ctx.input('cell-occupancy vectors', p.vectors);
  const valid = ctx.input('cell-occupancy valid bits', p.valid);
  const rows = ctx.upload('cell-occupancy rows', p.rows);
  const bitmap = ctx.buffer('cell-occupancy bitmap', 4 * words);
  const missed = ctx.buffer('cell-occupancy missed', 4);
  try {
    // clears, kernel and readback: one encoder, one submit, one map
    const [bits, m] = await ctx.batch('cell-occupancy', async () => {
      ctx.clear(bitmap, 4 * words);
      ctx.clear(missed, 4);
      await ctx.run(cellOccupancyProgram, {
        defines: { WG },
        uniforms: { n_pixels: n, n_frames: frames, row_threads: gx * WG, zero: 0, lo: p.box.lo, dim: p.box.dim },
        bindings: { vectors: vec, valid, rows, bitmap, missed },
        workgroups: [gx, gy, frames],
      });
      return ctx.readMany([
        { buffer: bitmap, bytes: 4 * words },
        { buffer: missed, bytes: 4 },
      ]);
    });
    return { bitmap: new Uint32Array(bits as ArrayBuffer), missed: new Uint32Array(m as ArrayBuffer)[0] as number };
  } finally {
    ctx.release(vec, valid, rows, bitmap, missed);
  }
}

export const cellOccupancyKernel: Kernel<CellOccupancyParams, CellOccupancyResult> = {
  name: 'cell-occupancy',
  cpu: cellOccupancyCpu,
  gpu: cellOccupancyGpu,
};
