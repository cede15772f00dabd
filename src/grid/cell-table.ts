/**
 * The table of occupied cells of one wedge, and the cell → slot lookup the
 * kernels use.
 *
 * A wedge's pixels reach a thin shell of reciprocal space. Its cells are found
 * in two geometry-only passes (kernels cell-bounds and cell-occupancy): the
 * exact box [lo, lo + dim) of the cells reached, then one bit per box cell.
 * The occupied cells, in ascending box-linear order
 *
 *     key = ((H − lo0)·dim1 + (K − lo1))·dim2 + (L − lo2),
 *
 * get slots 0…C−1, and the lookup is a rank query on the bitmap: word
 * w = key >> 5 stores (bits, rank) with rank the number of set bits in the
 * words before it, so slot = rank + popcount(bits & ((1 << (key & 31)) − 1)).
 *
 * Memory: 8 bytes per 32 box cells (2 bits per box cell) for the lookup; the
 * per-voxel accumulators, which are what costs (≥ 26 words per subvoxel), are
 * allocated for the C occupied cells only. A hash table would need ~16 bytes
 * per occupied cell (key + slot at load ½): more than the bitmap as long as
 * more than 1 box cell in 64 is occupied, which holds for wedges of a few
 * degrees. The sorted order makes slots independent of frame order.
 */
import { InvalidValueError } from '../errors.ts';
import type { Ndiv } from './subvoxel.ts';

export interface CellBox {
  /** smallest H, K, L reached */
  lo: readonly [number, number, number];
  /** number of cells along H, K, L (≥ 1 each); empty box: all 0 */
  dim: readonly [number, number, number];
}

/** Bitmap words above which a wedge is refused (256 MiB of lookup). */
export const MAX_BITMAP_WORDS = 2 ** 25;

export interface CellTable {
  ndiv: Ndiv;
  box: CellBox;
  /** (bits, rank) per 32 box cells, interleaved: word w at [2w], its rank at [2w + 1] */
  words: Uint32Array;
  /** box-linear key of each slot, ascending */
  keys: Uint32Array;
  /** number of occupied cells C */
  cells: number;
}

export function boxCells(box: CellBox): number {
  return box.dim[0] * box.dim[1] * box.dim[2];
}

/** The box from min/max cell indices (inclusive); an empty range (min > max) gives the empty box. */
export function boxFromBounds(min: readonly number[], max: readonly number[]): CellBox {
  const lo: [number, number, number] = [min[0] as number, min[1] as number, min[2] as number];
  const dim: [number, number, number] = [0, 0, 0];
  for (let a = 0; a < 3; a++) {
    const d = (max[a] as number) - (min[a] as number) + 1;
    if (!(d > 0)) return { lo: [0, 0, 0], dim: [0, 0, 0] };
    dim[a] = d;
  }
  const n = dim[0] * dim[1] * dim[2];
  if (Math.ceil(n / 32) > MAX_BITMAP_WORDS) {
    throw new InvalidValueError(
      `the wedge reaches a box of ${dim.join('×')} cells (${(n / 1e9).toFixed(2)} G cells), too many for the cell lookup; use a smaller wedge (--wedge-deg)`,
      { field: 'wedge' },
    );
  }
  return { lo, dim };
}

export function bitmapWords(box: CellBox): number {
  return Math.ceil(boxCells(box) / 32);
}

/** Box-linear key of cell (H, K, L), or −1 outside the box. */
export function cellKey(box: CellBox, H: number, K: number, L: number): number {
  const a = H - box.lo[0];
  const b = K - box.lo[1];
  const c = L - box.lo[2];
  if (a < 0 || b < 0 || c < 0 || a >= box.dim[0] || b >= box.dim[1] || c >= box.dim[2]) return -1;
  return (a * box.dim[1] + b) * box.dim[2] + c;
}

/** (H, K, L) of a box-linear key. */
export function cellOfKey(box: CellBox, key: number): [number, number, number] {
  const c = key % box.dim[2];
  const r = (key - c) / box.dim[2];
  const b = r % box.dim[1];
  const a = (r - b) / box.dim[1];
  return [a + box.lo[0], b + box.lo[1], c + box.lo[2]];
}

function popcount(x: number): number {
  x -= (x >>> 1) & 0x55555555;
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  x = (x + (x >>> 4)) & 0x0f0f0f0f;
  return Math.imul(x, 0x01010101) >>> 24;
}

/** The table from an occupancy bitmap (one bit per box cell, 32 per word). */
export function buildCellTable(ndiv: Ndiv, box: CellBox, bitmap: Uint32Array): CellTable {
  const nw = bitmapWords(box);
  if (bitmap.length < nw) throw new Error(`internal invariant failed: bitmap has ${bitmap.length} words for ${nw}`);
  const words = new Uint32Array(2 * nw);
  let rank = 0;
  for (let w = 0; w < nw; w++) {
    const bits = (bitmap[w] as number) >>> 0;
    words[2 * w] = bits;
    words[2 * w + 1] = rank;
    rank += popcount(bits);
  }
  const keys = new Uint32Array(rank);
  let s = 0;
  for (let w = 0; w < nw; w++) {
    let bits = words[2 * w] as number;
    while (bits !== 0) {
      const low = bits & -bits;
      const bit = 31 - Math.clz32(low);
      keys[s++] = w * 32 + bit;
      bits = (bits ^ low) >>> 0;
    }
  }
  return { ndiv, box, words, keys, cells: rank };
}

/** Slot of cell (H, K, L), or −1 when the wedge does not reach it. */
export function cellSlot(table: CellTable, H: number, K: number, L: number): number {
  const key = cellKey(table.box, H, K, L);
  if (key < 0) return -1;
  const w = key >>> 5;
  const bit = key & 31;
  const bits = table.words[2 * w] as number;
  if (((bits >>> bit) & 1) === 0) return -1;
  return (table.words[2 * w + 1] as number) + popcount((bits & ((1 << bit) - 1)) >>> 0);
}

/** An empty table (a wedge whose pixels are all masked). */
export function emptyCellTable(ndiv: Ndiv): CellTable {
  return { ndiv, box: { lo: [0, 0, 0], dim: [0, 0, 0] }, words: new Uint32Array(0), keys: new Uint32Array(0), cells: 0 };
}
