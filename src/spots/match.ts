/**
 * Image matching: for every pair of images across all datasets, the number of
 * distinct (folded) Miller indices both images observe.
 *
 * Method (no loop over image pairs): images are visited in global order; for
 * image i, each of its keys' postings lists (ascending images) is walked from just
 * after i, adding one to a dense accumulator for every later image j. The touched
 * j's are then harvested and the accumulator cleared. Work: Σ_keys n_k²/2 with
 * n_k the number of images seeing key k; memory O(images + postings).
 *
 * Ranking: by shared count, then the Jaccard index shared / (n_i + n_j − shared),
 * then (i, j) ascending: a total order, so the kept top list is the same however
 * the images are split between threads. Only pairs with at least `minShared` keys
 * are ranked (and give the per-image best partner); the histogram counts every
 * pair with at least one shared key.
 *
 * Threads: the scan kernel below is plain JavaScript source, instantiated once in
 * this thread (`new Function`) and, for `matchImagesParallel`, in worker threads
 * (`eval: true`), so the same code runs either way without a TypeScript loader in
 * the workers. Each worker scans a contiguous range of images (ranges balanced by
 * the postings work) over the index in SharedArrayBuffers; results are merged so
 * that they equal the single-thread ones exactly.
 */
import { Worker } from 'node:worker_threads';
import { buildInvertedIndex, type InvertedIndex } from './hkl-index.ts';
import type { LaueGroup } from './laue.ts';
import type { MatchInput } from './types.ts';

export interface MatchOptions {
  /** Laue group to fold indices with, or null for raw indices */
  fold: LaueGroup | null;
  /** pairs sharing fewer keys are not ranked (default 3) */
  minShared?: number;
  /** how many ranked pairs to keep (default 100) */
  topPairs?: number;
  /** ignore pairs of images from the same dataset (default false) */
  crossDatasetOnly?: boolean;
}

export interface ImagePair {
  /** global image indices, a < b */
  a: number;
  b: number;
  shared: number;
  /** distinct keys on each image */
  nA: number;
  nB: number;
  jaccard: number;
}

export interface MatchResult {
  index: InvertedIndex;
  /** ranked pairs, best first */
  pairs: ImagePair[];
  /** histogram[c] = number of image pairs sharing exactly c keys (c ≥ 1); index 0 unused */
  histogram: Float64Array;
  /** number of image pairs sharing at least one key (after crossDatasetOnly) */
  pairsWithShared: number;
  /** number of pairs with ≥ minShared */
  pairsAboveThreshold: number;
  /** per global image: the partner sharing most keys among pairs with ≥ minShared (-1 none), and the count */
  bestPartner: Int32Array;
  bestShared: Int32Array;
  /** Σ over keys of postings pairs: the work done */
  postingPairs: number;
  minShared: number;
  /** threads that scanned */
  threads: number;
}

/** What the kernel returns for one image range. */
interface RangeResult {
  histogram: Float64Array;
  pairsWithShared: number;
  pairsAbove: number;
  postingPairs: number;
  bestPartner: Int32Array;
  bestShared: Int32Array;
  topA: Int32Array;
  topB: Int32Array;
  topShared: Int32Array;
  topScore: Float64Array;
  topSize: number;
}

interface RangeArgs {
  imgStart: Int32Array;
  imgKey: Int32Array;
  postStart: Int32Array;
  postImage: Int32Array;
  imageDataset: Int32Array;
  nImages: number;
  i0: number;
  i1: number;
  minShared: number;
  topK: number;
  crossOnly: boolean;
  maxKeys: number;
}

/**
 * The scan kernel, as JavaScript source defining `scanRange(args) → RangeResult`.
 * Kept free of TypeScript syntax: it is compiled both here and in workers.
 */
const KERNEL_SOURCE = String.raw`
function scanRange(args) {
  const imgStart = args.imgStart, imgKey = args.imgKey, postStart = args.postStart, postImage = args.postImage;
  const imageDataset = args.imageDataset, nImages = args.nImages, i0 = args.i0, i1 = args.i1;
  const minShared = args.minShared, topK = args.topK, crossOnly = args.crossOnly, maxKeys = args.maxKeys;
  const nKeys = postStart.length - 1;
  const histogram = new Float64Array(maxKeys + 1);
  const acc = maxKeys < 65536 ? new Uint16Array(nImages) : new Int32Array(nImages);
  const touched = new Int32Array(nImages);
  const cursor = new Int32Array(nKeys).fill(-1);
  const bestPartner = new Int32Array(nImages).fill(-1);
  const bestShared = new Int32Array(nImages);
  const hA = new Int32Array(topK), hB = new Int32Array(topK), hS = new Int32Array(topK), hScore = new Float64Array(topK);
  let hn = 0;
  // x worse than y: lower score, or equal score and larger (a, b)
  function worse(sx, ax, bx, sy, ay, by) {
    if (sx !== sy) return sx < sy;
    if (ax !== ay) return ax > ay;
    return bx > by;
  }
  function put(i, a, b, s, score) { hA[i] = a; hB[i] = b; hS[i] = s; hScore[i] = score; }
  function mv(from, to) { hA[to] = hA[from]; hB[to] = hB[from]; hS[to] = hS[from]; hScore[to] = hScore[from]; }
  function offer(a, b, s, score) {
    if (topK === 0) return;
    if (hn < topK) {
      let i = hn++;
      while (i > 0) {
        const p = (i - 1) >> 1;
        if (!worse(score, a, b, hScore[p], hA[p], hB[p])) break;
        mv(p, i);
        i = p;
      }
      put(i, a, b, s, score);
      return;
    }
    if (!worse(hScore[0], hA[0], hB[0], score, a, b)) return;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= hn) break;
      const r = l + 1;
      const c = r < hn && worse(hScore[r], hA[r], hB[r], hScore[l], hA[l], hB[l]) ? r : l;
      if (!worse(hScore[c], hA[c], hB[c], score, a, b)) break;
      mv(c, i);
      i = c;
    }
    put(i, a, b, s, score);
  }
  let pairsWithShared = 0, pairsAbove = 0, postingPairs = 0;
  for (let i = i0; i < i1; i++) {
    let nt = 0;
    const k0 = imgStart[i], k1 = imgStart[i + 1];
    for (let p = k0; p < k1; p++) {
      const kid = imgKey[p];
      let c = cursor[kid];
      const end = postStart[kid + 1];
      if (c < 0) {
        // first visit of this key in the range: find image i in its postings
        let lo = postStart[kid], hi = end - 1;
        while (lo < hi) {
          const mid = (lo + hi) >> 1;
          if (postImage[mid] < i) lo = mid + 1; else hi = mid;
        }
        c = lo;
      }
      cursor[kid] = c + 1;
      postingPairs += end - c - 1;
      for (let q = c + 1; q < end; q++) {
        const j = postImage[q];
        if (acc[j]++ === 0) touched[nt++] = j;
      }
    }
    const nI = k1 - k0;
    const dsI = imageDataset[i];
    for (let t = 0; t < nt; t++) {
      const j = touched[t];
      const c = acc[j];
      acc[j] = 0;
      if (crossOnly && imageDataset[j] === dsI) continue;
      histogram[c]++;
      pairsWithShared++;
      if (c < minShared) continue;
      pairsAbove++;
      if (c > bestShared[i]) { bestShared[i] = c; bestPartner[i] = j; }
      if (c > bestShared[j]) { bestShared[j] = c; bestPartner[j] = i; }
      if (hn === topK && c + 1 <= hScore[0]) continue;
      const nJ = imgStart[j + 1] - imgStart[j];
      offer(i, j, c, c + 0.999 * (c / (nI + nJ - c)));
    }
  }
  return {
    histogram, pairsWithShared, pairsAbove, postingPairs, bestPartner, bestShared,
    topA: hA.slice(0, hn), topB: hB.slice(0, hn), topShared: hS.slice(0, hn), topScore: hScore.slice(0, hn), topSize: hn,
  };
}
`;

type ScanRange = (args: RangeArgs) => RangeResult;
let localKernel: ScanRange | null = null;
function kernel(): ScanRange {
  // compiled from this module's own constant source (see the file comment), never from input
  localKernel ??= new Function(`${KERNEL_SOURCE}\nreturn scanRange;`)() as ScanRange;
  return localKernel;
}

const WORKER_SOURCE = `${KERNEL_SOURCE}
const { parentPort, workerData } = require('node:worker_threads');
const r = scanRange(workerData);
parentPort.postMessage(r, [r.histogram.buffer, r.bestPartner.buffer, r.bestShared.buffer, r.topA.buffer, r.topB.buffer, r.topShared.buffer, r.topScore.buffer]);
`;

function rangeArgs(index: InvertedIndex, options: MatchOptions, i0: number, i1: number): RangeArgs {
  const { imgStart, imgKey, postStart, postImage } = index;
  const nImages = index.images.nImages;
  let maxKeys = 0;
  for (let g = 0; g < nImages; g++) maxKeys = Math.max(maxKeys, imgStart[g + 1]! - imgStart[g]!);
  return {
    imgStart,
    imgKey,
    postStart,
    postImage,
    imageDataset: index.images.imageDataset,
    nImages,
    i0,
    i1,
    minShared: Math.max(1, Math.floor(options.minShared ?? 3)),
    topK: Math.max(0, Math.floor(options.topPairs ?? 100)),
    crossOnly: options.crossDatasetOnly ?? false,
    maxKeys,
  };
}

/** Merges range results (in range order) into the match result. */
function merge(index: InvertedIndex, args: RangeArgs, parts: readonly RangeResult[]): MatchResult {
  const nImages = args.nImages;
  const histogram = new Float64Array(args.maxKeys + 1);
  const bestPartner = new Int32Array(nImages).fill(-1);
  const bestShared = new Int32Array(nImages);
  let pairsWithShared = 0;
  let pairsAbove = 0;
  let postingPairs = 0;
  const cand: { a: number; b: number; shared: number; score: number }[] = [];
  for (const part of parts) {
    for (let c = 0; c < part.histogram.length; c++) histogram[c]! += part.histogram[c]!;
    pairsWithShared += part.pairsWithShared;
    pairsAbove += part.pairsAbove;
    postingPairs += part.postingPairs;
    // earlier ranges come first in the single-thread order: a later one wins only when strictly better
    for (let g = 0; g < nImages; g++) {
      if (part.bestShared[g]! > bestShared[g]!) {
        bestShared[g] = part.bestShared[g]!;
        bestPartner[g] = part.bestPartner[g]!;
      }
    }
    for (let t = 0; t < part.topSize; t++) cand.push({ a: part.topA[t]!, b: part.topB[t]!, shared: part.topShared[t]!, score: part.topScore[t]! });
  }
  cand.sort((x, y) => y.score - x.score || x.a - y.a || x.b - y.b);
  const { imgStart } = index;
  const pairs: ImagePair[] = cand.slice(0, args.topK).map(({ a, b, shared }) => {
    const nA = imgStart[a + 1]! - imgStart[a]!;
    const nB = imgStart[b + 1]! - imgStart[b]!;
    return { a, b, shared, nA, nB, jaccard: shared / (nA + nB - shared) };
  });
  return {
    index,
    pairs,
    histogram,
    pairsWithShared,
    pairsAboveThreshold: pairsAbove,
    bestPartner,
    bestShared,
    postingPairs,
    minShared: args.minShared,
    threads: parts.length,
  };
}

/** Single-thread matching over a built index. */
export function matchFromIndex(index: InvertedIndex, options: MatchOptions): MatchResult {
  const args = rangeArgs(index, options, 0, index.images.nImages);
  return merge(index, args, [kernel()(args)]);
}

/** Builds the index and matches, in this thread. */
export function matchImages(datasets: readonly MatchInput[], options: MatchOptions): MatchResult {
  return matchFromIndex(buildInvertedIndex(datasets, options.fold), options);
}

/**
 * Image ranges [bounds[t], bounds[t+1]) with about equal postings work: image i
 * costs Σ over its keys of the postings after it (plus one per key).
 */
export function balancedRanges(index: InvertedIndex, parts: number): number[] {
  const { imgStart, imgKey, postStart, nKeys } = index;
  const nImages = index.images.nImages;
  const cursor = postStart.slice(0, nKeys);
  const work = new Float64Array(nImages + 1);
  for (let i = 0; i < nImages; i++) {
    let w = 0;
    for (let p = imgStart[i]!; p < imgStart[i + 1]!; p++) {
      const kid = imgKey[p]!;
      const c = cursor[kid]!;
      cursor[kid] = c + 1;
      w += postStart[kid + 1]! - c;
    }
    work[i + 1] = work[i]! + w;
  }
  const total = work[nImages]!;
  const bounds = [0];
  let i = 0;
  for (let t = 1; t < parts; t++) {
    const target = (total * t) / parts;
    while (i < nImages && work[i]! < target) i++;
    bounds.push(Math.max(bounds[bounds.length - 1]!, i));
  }
  bounds.push(nImages);
  return bounds;
}

/** Postings below which `matchFromIndexParallel` stays in this thread. */
export const PARALLEL_MIN_POSTINGS = 2_000_000;

/**
 * Matching on `threads` worker threads (1: in this thread). Gives exactly the
 * result of `matchImages`.
 */
export async function matchImagesParallel(datasets: readonly MatchInput[], options: MatchOptions & { threads?: number }): Promise<MatchResult> {
  const threads = Math.max(1, Math.floor(options.threads ?? 1));
  const index = buildInvertedIndex(datasets, options.fold, { shared: threads > 1 });
  return matchFromIndexParallel(index, options, threads);
}

export async function matchFromIndexParallel(index: InvertedIndex, options: MatchOptions, threads: number, minPostings = PARALLEL_MIN_POSTINGS): Promise<MatchResult> {
  // below a few million postings the worker start-up costs more than it saves
  if (threads <= 1 || index.images.nImages < 2 * threads || index.postImage.length < minPostings) return matchFromIndex(index, options);
  const bounds = balancedRanges(index, threads);
  const base = rangeArgs(index, options, 0, 0);
  const shareable = (a: Int32Array): Int32Array => {
    if (a.buffer instanceof SharedArrayBuffer) return a;
    const s = new Int32Array(new SharedArrayBuffer(a.byteLength));
    s.set(a);
    return s;
  };
  const shared: RangeArgs = {
    ...base,
    imgStart: shareable(base.imgStart),
    imgKey: shareable(base.imgKey),
    postStart: shareable(base.postStart),
    postImage: shareable(base.postImage),
    imageDataset: shareable(base.imageDataset),
  };
  const parts = await Promise.all(
    bounds.slice(0, -1).map(
      (i0, t) =>
        new Promise<RangeResult>((resolve, reject) => {
          const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { ...shared, i0, i1: bounds[t + 1]! } });
          let done = false;
          worker.once('message', (r: RangeResult) => {
            done = true;
            resolve(r);
          });
          worker.once('error', reject);
          worker.once('exit', (code) => {
            if (!done) reject(new Error(`internal invariant failed: match worker exited with code ${code} before answering`));
          });
        }),
    ),
  );
  return merge(index, shared, parts);
}

/** Distinct keys of a global image. */
export function imageKeyCount(index: InvertedIndex, g: number): number {
  return index.imgStart[g + 1]! - index.imgStart[g]!;
}
