/**
 * The one sort of merging: rows ordered by fine key (h, then k, then l of the
 * fine index), and within a key by the row's content, so the order — hence
 * the f32 summation order of the merge kernel — depends only on what the
 * rows hold, never on their order in the input (a shuffled table merges to
 * identical bits).
 *
 * Within a key the order is (sweep, batch, op, panel, φ, x, y, I, σ,
 * fraction), float columns compared by their f32 bit patterns (a total order;
 * rows equal in every column are interchangeable).
 *
 * Cost: one native Float64Array sort of the keys, a Map from key to segment,
 * a stable counting sort by segment and an insertion sort inside each
 * (short) segment — O(n log n) in the number of distinct keys, O(n) in rows.
 */
import { fineKey, type Ndiv, type ObservationTable } from '../pipeline/observations.ts';

export interface SortedRows {
  /** input row of each sorted row */
  order: Uint32Array;
  /** segment s = sorted rows offsets[s] … offsets[s+1]−1, one per distinct fine key */
  offsets: Uint32Array;
  /** fine key of each segment, increasing */
  keys: Float64Array;
}

/** f32 bit patterns of a float column (for ordering). */
function bitsOf(a: Float32Array): Uint32Array {
  return new Uint32Array(a.buffer, a.byteOffset, a.length);
}

/**
 * Sorts the rows `rows` (input row numbers; all rows when absent) of `t` by
 * fine key, then by content.
 */
export function sortByFineKey(t: ObservationTable, ndiv: Ndiv, rows?: Uint32Array): SortedRows {
  const m = rows?.length ?? t.I.length;
  const rowAt = (j: number): number => (rows === undefined ? j : (rows[j] as number));
  const [n1, n2, n3] = ndiv;
  const key = new Float64Array(m);
  for (let j = 0; j < m; j++) {
    const i = rowAt(j);
    key[j] = fineKey((t.H[i] as number) * n1 + (t.dh[i] as number), (t.K[i] as number) * n2 + (t.dk[i] as number), (t.L[i] as number) * n3 + (t.dl[i] as number));
  }
  const sortedKeys = key.slice().sort();
  let nSeg = 0;
  for (let j = 0; j < m; j++) if (j === 0 || sortedKeys[j] !== sortedKeys[j - 1]) sortedKeys[nSeg++] = sortedKeys[j] as number;
  const keys = sortedKeys.slice(0, nSeg);
  const rank = new Map<number, number>();
  for (let s = 0; s < nSeg; s++) rank.set(keys[s] as number, s);
  const seg = new Uint32Array(m);
  const offsets = new Uint32Array(nSeg + 1);
  for (let j = 0; j < m; j++) {
    const s = rank.get(key[j] as number) as number;
    seg[j] = s;
    offsets[s + 1] = (offsets[s + 1] as number) + 1;
  }
  for (let s = 0; s < nSeg; s++) offsets[s + 1] = (offsets[s + 1] as number) + (offsets[s] as number);
  const fill = offsets.slice(0, nSeg);
  const order = new Uint32Array(m);
  for (let j = 0; j < m; j++) {
    const s = seg[j] as number;
    order[fill[s] as number] = rowAt(j);
    fill[s] = (fill[s] as number) + 1;
  }
  // content order within each segment; (sweep, batch) gathered in sorted
  // order first, so most comparisons touch contiguous memory
  const tie = new Float64Array(m);
  for (let j = 0; j < m; j++) {
    const i = order[j] as number;
    tie[j] = (t.sweep[i] as number) * 4294967296 + (t.batch[i] as number);
  }
  const cols: ArrayLike<number>[] = [t.op, t.panel, bitsOf(t.phi), bitsOf(t.x), bitsOf(t.y), bitsOf(t.I), bitsOf(t.sigma), bitsOf(t.fraction)];
  const lessRows = (a: number, b: number): boolean => {
    for (const c of cols) {
      const x = c[a] as number;
      const y = c[b] as number;
      if (x !== y) return x < y;
    }
    return false;
  };
  const less = (ta: number, a: number, tb: number, b: number): boolean => (ta !== tb ? ta < tb : lessRows(a, b));
  for (let s = 0; s < nSeg; s++) {
    const a = offsets[s] as number;
    const b = offsets[s + 1] as number;
    if (b - a < 2) continue;
    if (b - a <= 48) {
      for (let j = a + 1; j < b; j++) {
        const v = order[j] as number;
        const tv = tie[j] as number;
        let q = j - 1;
        while (q >= a && less(tv, v, tie[q] as number, order[q] as number)) {
          order[q + 1] = order[q] as number;
          tie[q + 1] = tie[q] as number;
          q--;
        }
        order[q + 1] = v;
        tie[q + 1] = tv;
      }
    } else {
      const part = Array.from({ length: b - a }, (_v, q) => a + q).sort((x, y) => {
        const ox = order[x] as number;
        const oy = order[y] as number;
        const tx = tie[x] as number;
        const ty = tie[y] as number;
        return less(tx, ox, ty, oy) ? -1 : less(ty, oy, tx, ox) ? 1 : 0;
      });
      const rows = part.map((q) => order[q] as number);
      order.set(rows, a);
    }
  }
  return { order, offsets, keys };
}
