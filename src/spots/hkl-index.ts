/**
 * The inverted index behind image matching: every observation's Miller index,
 * folded by the Laue group (or raw), packed into one integer key (`packHkl`),
 * given a dense id by an open-addressing hash table, and then two CSR tables:
 *
 * - image → its distinct key ids (an image that sees a key twice counts it once),
 * - key id → the images that see it, ascending ("postings").
 *
 * Building is linear in the number of observations (counting sorts, no
 * comparison sort); memory is about five 32-bit words per observation.
 */
import { asuKeyFunction, type LaueGroup } from './laue.ts';
import { buildImageTable, type ImageTable, type MatchInput } from './types.ts';

/**
 * Open-addressing hash map from non-negative int32 keys to dense ids 0, 1, 2, …
 * (linear probing; key and id side by side so that a lookup touches one cache line).
 */
export class KeyIds {
  private slots: Int32Array;
  private mask: number;
  private shift: number;
  /** dense id → key */
  values: Int32Array;
  size = 0;

  constructor(expected = 1024) {
    let cap = 1024;
    while (cap < expected * 2) cap *= 2;
    this.slots = new Int32Array(2 * cap).fill(-1);
    this.mask = cap - 1;
    this.shift = 32 - Math.log2(cap);
    this.values = new Int32Array(Math.max(16, expected));
  }

  /** the dense id of `key`, assigning the next one when new */
  idOf(key: number): number {
    const slots = this.slots;
    let slot = Math.imul(key, 0x9e3779b1) >>> this.shift;
    for (;;) {
      const k = slots[2 * slot]!;
      if (k === key) return slots[2 * slot + 1]!;
      if (k === -1) break;
      slot = (slot + 1) & this.mask;
    }
    const id = this.size++;
    slots[2 * slot] = key;
    slots[2 * slot + 1] = id;
    if (id >= this.values.length) {
      const grown = new Int32Array(this.values.length * 2);
      grown.set(this.values);
      this.values = grown;
    }
    this.values[id] = key;
    if (this.size * 2 > this.mask + 1) this.grow();
    return id;
  }

  /** the dense id of `key`, or -1 */
  find(key: number): number {
    let slot = Math.imul(key, 0x9e3779b1) >>> this.shift;
    for (;;) {
      const k = this.slots[2 * slot]!;
      if (k === key) return this.slots[2 * slot + 1]!;
      if (k === -1) return -1;
      slot = (slot + 1) & this.mask;
    }
  }

  private grow(): void {
    const old = this.slots;
    const cap = 2 * (this.mask + 1);
    this.slots = new Int32Array(2 * cap).fill(-1);
    this.mask = cap - 1;
    this.shift = 32 - Math.log2(cap);
    for (let s = 0; s < old.length; s += 2) {
      const key = old[s]!;
      if (key === -1) continue;
      let slot = Math.imul(key, 0x9e3779b1) >>> this.shift;
      while (this.slots[2 * slot] !== -1) slot = (slot + 1) & this.mask;
      this.slots[2 * slot] = key;
      this.slots[2 * slot + 1] = old[s + 1]!;
    }
  }
}

export interface ObservationKeys {
  images: ImageTable;
  /** dense key ids (see `keyValue`) per dataset and row; -1 for an index beyond ±511 */
  obsKey: Int32Array[];
  /** dense id → packed (folded) hkl key */
  keyValue: Int32Array;
  nKeys: number;
  /** rows left out because an index lies beyond ±511 */
  outOfRange: number;
}

/** Largest bounding box of keys (entries) for which a direct-address table replaces the hash map. */
const DIRECT_TABLE_LIMIT = 1 << 24;

/**
 * Folds and keys every observation. Dense ids come from a direct-address table
 * over the bounding box of the folded indices when that box is small (the usual
 * case: it stays in cache), else from the hash map.
 */
export function keyObservations(datasets: readonly MatchInput[], fold: LaueGroup | null): ObservationKeys {
  const images = buildImageTable(datasets);
  const keyOf = asuKeyFunction(fold);
  let outOfRange = 0;
  const obsKey: Int32Array[] = [];
  // pass 1: packed keys and their bounding box (in packed components, 0..1023)
  let h0 = 1024;
  let h1 = -1;
  let k0 = 1024;
  let k1 = -1;
  let l0 = 1024;
  let l1 = -1;
  for (const ds of datasets) {
    const keys = new Int32Array(ds.n);
    const { h, k, l } = ds;
    for (let r = 0; r < ds.n; r++) {
      const key = keyOf(h[r]!, k[r]!, l[r]!);
      keys[r] = key;
      if (key < 0) {
        outOfRange++;
        continue;
      }
      const hb = key >>> 20;
      const kb = (key >>> 10) & 1023;
      const lb = key & 1023;
      if (hb < h0) h0 = hb;
      if (hb > h1) h1 = hb;
      if (kb < k0) k0 = kb;
      if (kb > k1) k1 = kb;
      if (lb < l0) l0 = lb;
      if (lb > l1) l1 = lb;
    }
    obsKey.push(keys);
  }
  // pass 2: packed key → dense id, in place
  const nh = h1 - h0 + 1;
  const nk = k1 - k0 + 1;
  const nl = l1 - l0 + 1;
  let keyValue: Int32Array;
  let nKeys = 0;
  if (h1 < 0) {
    keyValue = new Int32Array(0);
  } else if (nh * nk * nl <= DIRECT_TABLE_LIMIT) {
    const table = new Int32Array(nh * nk * nl).fill(-1);
    let values = new Int32Array(1024);
    for (const keys of obsKey) {
      for (let r = 0; r < keys.length; r++) {
        const key = keys[r]!;
        if (key < 0) continue;
        const slot = (((key >>> 20) - h0) * nk + (((key >>> 10) & 1023) - k0)) * nl + ((key & 1023) - l0);
        let id = table[slot]!;
        if (id < 0) {
          id = nKeys++;
          table[slot] = id;
          if (id >= values.length) {
            const grown = new Int32Array(values.length * 2);
            grown.set(values);
            values = grown;
          }
          values[id] = key;
        }
        keys[r] = id;
      }
    }
    keyValue = values.subarray(0, nKeys);
  } else {
    const ids = new KeyIds(1 << 16);
    for (const keys of obsKey) {
      for (let r = 0; r < keys.length; r++) {
        const key = keys[r]!;
        if (key >= 0) keys[r] = ids.idOf(key);
      }
    }
    nKeys = ids.size;
    keyValue = ids.values.subarray(0, nKeys);
  }
  return { images, obsKey, keyValue, nKeys, outOfRange };
}

export interface InvertedIndex extends ObservationKeys {
  /** image → distinct key ids: imgKey[imgStart[g] .. imgStart[g+1]) */
  imgStart: Int32Array;
  imgKey: Int32Array;
  /** key id → images seeing it, ascending: postImage[postStart[k] .. postStart[k+1]) */
  postStart: Int32Array;
  postImage: Int32Array;
}

/**
 * Builds the index. With `shared`, the CSR arrays live in SharedArrayBuffers so
 * that worker threads can read them without a copy.
 */
export function buildInvertedIndex(datasets: readonly MatchInput[], fold: LaueGroup | null, options: { shared?: boolean } = {}): InvertedIndex {
  const alloc = (n: number): Int32Array => (options.shared ? new Int32Array(new SharedArrayBuffer(4 * n)) : new Int32Array(n));
  const keyed = keyObservations(datasets, fold);
  const { images, obsKey, nKeys } = keyed;
  const nImages = images.nImages;

  // counting sort of the observations' key ids by global image
  const perImage = new Int32Array(nImages + 1);
  datasets.forEach((ds, d) => {
    const off = images.imageOffset[d]!;
    const keys = obsKey[d]!;
    for (let r = 0; r < ds.n; r++) if (keys[r]! >= 0) perImage[off + ds.frame[r]! + 1]!++;
  });
  for (let g = 0; g < nImages; g++) perImage[g + 1]! += perImage[g]!;
  const sorted = alloc(perImage[nImages]!);
  const fill = perImage.slice(0, nImages);
  datasets.forEach((ds, d) => {
    const off = images.imageOffset[d]!;
    const keys = obsKey[d]!;
    for (let r = 0; r < ds.n; r++) {
      const kid = keys[r]!;
      if (kid >= 0) sorted[fill[off + ds.frame[r]!]!++] = kid;
    }
  });

  // distinct keys per image (in place), and the postings' sizes
  const lastImage = new Int32Array(nKeys).fill(-1);
  const postCount = alloc(nKeys + 1);
  const imgStart = alloc(nImages + 1);
  let w = 0;
  for (let g = 0; g < nImages; g++) {
    imgStart[g] = w;
    for (let p = perImage[g]!; p < perImage[g + 1]!; p++) {
      const kid = sorted[p]!;
      if (lastImage[kid] === g) continue;
      lastImage[kid] = g;
      sorted[w++] = kid;
      postCount[kid + 1]!++;
    }
  }
  imgStart[nImages] = w;
  const imgKey = sorted.subarray(0, w);

  const postStart = postCount;
  for (let k = 0; k < nKeys; k++) postStart[k + 1]! += postStart[k]!;
  const postImage = alloc(w);
  const cursor = postStart.slice(0, nKeys);
  for (let g = 0; g < nImages; g++) {
    for (let p = imgStart[g]!; p < imgStart[g + 1]!; p++) postImage[cursor[imgKey[p]!]!++] = g;
  }
  return { ...keyed, imgStart, imgKey, postStart, postImage };
}
