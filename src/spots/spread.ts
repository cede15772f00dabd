/**
 * How much the intensity of the same reflection varies between observations, and
 * why. Definitions (all observations of one unique reflection r, after folding by
 * the Laue group when given; I_i with variance σ_i², weight w_i = 1/σ_i²):
 *
 *     W_r     = Σ w_i,     μ_r = Σ w_i I_i / W_r           (inverse-variance mean)
 *     σ(μ_r)  = 1/√W_r
 *     χ²_r    = Σ w_i (I_i − μ_r)²,      χ²_red,r = χ²_r / (n_r − 1)   (n_r ≥ 2)
 *     D_r     = √χ²_red,r                 ("normalized dispersion": 1 when the
 *                                          scatter is what the σ's predict)
 *     z_i     = (I_i − μ_r) / (σ_i √(1 − w_i/W_r))   (standardized residual:
 *                                          unit variance under the error model)
 *     beyond kσ: |z_i| > k
 *
 * Pooled over many reflections: D = √(Σ_r χ²_r / Σ_r (n_r − 1)). A bin of
 * observations (by intensity, resolution, image total) has dispersion √mean(z²)
 * (Σ_i (1 − w_i/W_r) = n_r − 1, so both read 1 under the model and f when every
 * error is f times larger than its σ). Only reflections observed at least twice
 * enter dispersion figures.
 */
import { keyObservations } from './hkl-index.ts';
import type { LaueGroup } from './laue.ts';
import { properRotationsOnHkl, unpackHkl } from './laue.ts';
import type { ImagePair } from './match.ts';
import { dSpacing, misorientationDeg, zoneAxes, zoneAxisAngleDeg } from './orientation.ts';
import { Rng, binIndex, ksTwoSample, median, pearson, permutationPValue, quantileEdges, spearman } from './stats.ts';
import type { ImageTable, IntensitySource, SpotDataset } from './types.ts';

export interface SpreadOptions {
  fold: LaueGroup | null;
  /** threshold for "beyond kσ" and for the extreme observations (default 3) */
  k?: number;
  /** number of bins of the binned tables (default 10) */
  bins?: number;
  /** percentages of the noisiest to remove (default 1, 5, 10, 20) */
  trimPercents?: readonly number[];
  /** matched pairs to analyse (from matchImages), best first */
  pairs?: readonly ImagePair[];
  /** at most this many pairs get correlation statistics (default 20) */
  maxPairs?: number;
  /** permutations per pair (default 999) */
  permutations?: number;
  /** RNG seed for the permutations (default 1) */
  seed?: number;
  /** largest |u|,|v|,|w| of the zone axes (default 2) */
  zoneAxisMaxIndex?: number;
}

/** Columnar statistics per unique reflection. */
export interface ReflectionStats {
  count: number;
  /** packed (folded) key and its (h, k, l) */
  key: Int32Array;
  h: Int32Array;
  k: Int32Array;
  l: Int32Array;
  n: Int32Array;
  mean: Float64Array;
  sigmaMean: Float64Array;
  /** χ²_red (NaN when n < 2) */
  chi2red: Float64Array;
  /** fraction of its observations with |z| > k (NaN when n < 2) */
  fracBeyond: Float64Array;
  /** Å (NaN without a cell) */
  d: Float64Array;
}

export interface SpreadSummary {
  intensitySource: IntensitySource;
  datasets: number;
  images: number;
  observations: number;
  reflections: number;
  /** reflections observed at least twice, and their observations */
  multiReflections: number;
  multiObservations: number;
  /** √(Σχ² / Σ(n−1)) */
  pooledDispersion: number;
  /** median over multi reflections of √χ²_red */
  medianDispersion: number;
  k: number;
  /** share of multi observations with |z| > k */
  fractionBeyondK: number;
  /** what a normal distribution gives for |z| > k */
  fractionBeyondKExpected: number;
  outOfRange: number;
}

export interface BinRow {
  lo: number;
  hi: number;
  observations: number;
  dispersion: number;
  fractionBeyondK: number;
  meanIntensity: number;
  meanSigma: number;
}

export interface TrimRow {
  percent: number;
  /** observation level: the noisiest by |z| removed */
  removedObservations: number;
  dispersionAfter: number;
  /** share of Σz² that the removed observations carried */
  shareOfSpread: number;
  /** reflection level: the noisiest by χ²_red removed */
  removedReflections: number;
  pooledDispersionAfter: number;
  shareOfChi2: number;
}

export interface DatasetRow {
  dataset: string;
  observations: number;
  dispersion: number;
  fractionBeyondK: number;
}

export interface ZoneAxisResult {
  available: boolean;
  /** why not, when not available */
  note?: string;
  maxIndex: number;
  all: number;
  extreme: number;
  medianAll: number;
  medianExtreme: number;
  meanAll: number;
  meanExtreme: number;
  ksD: number;
  ksP: number;
  bins: { lo: number; hi: number; fractionAll: number; fractionExtreme: number; enrichment: number }[];
}

export interface PairStats {
  rank: number;
  a: number;
  b: number;
  datasetA: string;
  frameA: number;
  imageA: number;
  datasetB: string;
  frameB: number;
  imageB: number;
  shared: number;
  /** shared reflections with intensities on both images */
  n: number;
  pearson: number;
  spearman: number;
  pValue: number;
  /** √mean((I_a − I_b)² / (σ_a² + σ_b²)) */
  normRmsDifference: number;
  /** degrees between the two crystal settings, minimised over the Laue group's rotations; NaN without orientations */
  angleDeg: number;
  /** degrees between the two settings as indexed (no symmetry) */
  angleRawDeg: number;
}

export interface PairPoint {
  rank: number;
  h: number;
  k: number;
  l: number;
  ia: number;
  sa: number;
  ib: number;
  sb: number;
}

export interface SpreadResult {
  summary: SpreadSummary;
  reflections: ReflectionStats;
  byIntensity: BinRow[];
  byResolution: BinRow[];
  byImageTotal: BinRow[];
  byDataset: DatasetRow[];
  trimmed: TrimRow[];
  zoneAxes: ZoneAxisResult;
  pairs: PairStats[];
  /** shared reflections of the analysed pairs */
  pairPoints: PairPoint[];
  /** for the scatter figure of the best pair: other observations of its shared reflections (x = I on image a, y = I elsewhere) */
  background: { x: Float64Array; y: Float64Array };
  /** per observation (concatenated over datasets, rows of multi reflections only are finite) */
  observations: { z: Float64Array; reflection: Int32Array; image: Int32Array };
}

/** P(|N(0,1)| > k) */
export function normalTail2(k: number): number {
  return erfc(k / Math.SQRT2);
}

function erfc(x: number): number {
  // Numerical Recipes erfcc (fractional error < 1.2e-7)
  const z = Math.abs(x);
  const t = 1 / (1 + 0.5 * z);
  const r =
    t *
    Math.exp(
      -z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
    );
  return x >= 0 ? r : 2 - r;
}

export function analyseSpread(datasets: readonly SpotDataset[], options: SpreadOptions): SpreadResult {
  const k = options.k ?? 3;
  const nBins = options.bins ?? 10;
  const source = datasets[0]?.intensitySource ?? null;
  for (const ds of datasets) {
    if (ds.intensitySource !== source || source === null) {
      throw new Error(`internal invariant failed: spread needs one intensity source, got ${String(source)} and ${String(ds.intensitySource)}`);
    }
  }
  if (source === null) throw new Error('internal invariant failed: spread of no datasets');
  const keyed = keyObservations(datasets, options.fold);
  const { images, obsKey, nKeys, keyValue } = keyed;
  let nObs = 0;
  for (const ds of datasets) nObs += ds.n;

  // per reflection: n, W, ΣwI
  const n = new Int32Array(nKeys);
  const W = new Float64Array(nKeys);
  const WI = new Float64Array(nKeys);
  const firstDataset = new Int32Array(nKeys).fill(-1);
  const imageTotal = new Float64Array(images.nImages);
  datasets.forEach((ds, d) => {
    const keys = obsKey[d]!;
    const off = images.imageOffset[d]!;
    for (let r = 0; r < ds.n; r++) {
      const kid = keys[r]!;
      if (kid < 0) continue;
      const w = 1 / ds.variance[r]!;
      n[kid]!++;
      W[kid]! += w;
      WI[kid]! += w * ds.intensity[r]!;
      if (firstDataset[kid] === -1) firstDataset[kid] = d;
      imageTotal[off + ds.frame[r]!]! += ds.intensity[r]!;
    }
  });
  const mean = new Float64Array(nKeys);
  for (let r = 0; r < nKeys; r++) mean[r] = WI[r]! / W[r]!;

  // per observation: z; per reflection: χ², beyond-k counts
  const chi2 = new Float64Array(nKeys);
  const beyond = new Int32Array(nKeys);
  const zAll = new Float64Array(nObs).fill(Number.NaN);
  const reflAll = new Int32Array(nObs).fill(-1);
  const imageAll = new Int32Array(nObs);
  let o = 0;
  datasets.forEach((ds, d) => {
    const keys = obsKey[d]!;
    const off = images.imageOffset[d]!;
    for (let r = 0; r < ds.n; r++, o++) {
      imageAll[o] = off + ds.frame[r]!;
      const kid = keys[r]!;
      if (kid < 0) continue;
      reflAll[o] = kid;
      if (n[kid]! < 2) continue;
      const w = 1 / ds.variance[r]!;
      const dev = ds.intensity[r]! - mean[kid]!;
      chi2[kid]! += w * dev * dev;
      const z = (dev * Math.sqrt(w)) / Math.sqrt(Math.max(1e-12, 1 - w / W[kid]!));
      zAll[o] = z;
      if (Math.abs(z) > k) beyond[kid]!++;
    }
  });

  // reflection table
  const refl: ReflectionStats = {
    count: nKeys,
    key: Int32Array.from(keyValue),
    h: new Int32Array(nKeys),
    k: new Int32Array(nKeys),
    l: new Int32Array(nKeys),
    n,
    mean,
    sigmaMean: new Float64Array(nKeys),
    chi2red: new Float64Array(nKeys),
    fracBeyond: new Float64Array(nKeys),
    d: new Float64Array(nKeys),
  };
  let sumChi2 = 0;
  let sumDof = 0;
  let multi = 0;
  let multiObs = 0;
  let beyondTotal = 0;
  const perReflDispersion: number[] = [];
  for (let r = 0; r < nKeys; r++) {
    const [h, kk, l] = unpackHkl(keyValue[r]!);
    refl.h[r] = h;
    refl.k[r] = kk;
    refl.l[r] = l;
    refl.sigmaMean[r] = 1 / Math.sqrt(W[r]!);
    const metric = datasets[firstDataset[r]!]?.reciprocalMetric;
    refl.d[r] = metric !== undefined ? dSpacing(metric, h, kk, l) : Number.NaN;
    if (n[r]! >= 2) {
      refl.chi2red[r] = chi2[r]! / (n[r]! - 1);
      refl.fracBeyond[r] = beyond[r]! / n[r]!;
      sumChi2 += chi2[r]!;
      sumDof += n[r]! - 1;
      multi++;
      multiObs += n[r]!;
      beyondTotal += beyond[r]!;
      perReflDispersion.push(Math.sqrt(refl.chi2red[r]!));
    } else {
      refl.chi2red[r] = Number.NaN;
      refl.fracBeyond[r] = Number.NaN;
    }
  }

  const summary: SpreadSummary = {
    intensitySource: source,
    datasets: datasets.length,
    images: images.nImages,
    observations: nObs,
    reflections: nKeys,
    multiReflections: multi,
    multiObservations: multiObs,
    pooledDispersion: sumDof > 0 ? Math.sqrt(sumChi2 / sumDof) : Number.NaN,
    medianDispersion: median(perReflDispersion),
    k,
    fractionBeyondK: multiObs > 0 ? beyondTotal / multiObs : Number.NaN,
    fractionBeyondKExpected: normalTail2(k),
    outOfRange: keyed.outOfRange,
  };

  // observations of multi reflections, for the binned tables
  const sel: number[] = [];
  for (let i = 0; i < nObs; i++) if (Number.isFinite(zAll[i]!)) sel.push(i);
  const obsIntensity = new Float64Array(nObs);
  const obsSigma = new Float64Array(nObs);
  o = 0;
  for (const ds of datasets) {
    for (let r = 0; r < ds.n; r++, o++) {
      obsIntensity[o] = ds.intensity[r]!;
      obsSigma[o] = Math.sqrt(ds.variance[r]!);
    }
  }
  const binBy = (value: (i: number) => number): BinRow[] => {
    const vals = sel.map(value);
    const edges = quantileEdges(vals, nBins);
    const nb = Math.max(0, edges.length - 1);
    const cnt = new Float64Array(nb);
    const z2 = new Float64Array(nb);
    const bey = new Float64Array(nb);
    const sI = new Float64Array(nb);
    const sS = new Float64Array(nb);
    sel.forEach((i, t) => {
      const b = binIndex(edges, vals[t]!);
      if (b < 0) return;
      const z = zAll[i]!;
      cnt[b]!++;
      z2[b]! += z * z;
      if (Math.abs(z) > k) bey[b]!++;
      sI[b]! += obsIntensity[i]!;
      sS[b]! += obsSigma[i]!;
    });
    const rows: BinRow[] = [];
    for (let b = 0; b < nb; b++) {
      const c = cnt[b]!;
      rows.push({
        lo: edges[b]!,
        hi: edges[b + 1]!,
        observations: c,
        dispersion: c > 0 ? Math.sqrt(z2[b]! / c) : Number.NaN,
        fractionBeyondK: c > 0 ? bey[b]! / c : Number.NaN,
        meanIntensity: c > 0 ? sI[b]! / c : Number.NaN,
        meanSigma: c > 0 ? sS[b]! / c : Number.NaN,
      });
    }
    return rows;
  };
  const byIntensity = binBy((i) => mean[reflAll[i]!]!);
  const haveCell = datasets.every((ds) => ds.reciprocalMetric !== undefined);
  // resolution: equal-count bins in 1/d², reported as d (lo = larger d)
  const byResolution = haveCell
    ? binBy((i) => 1 / refl.d[reflAll[i]!]! ** 2).map((row) => ({ ...row, lo: 1 / Math.sqrt(row.lo), hi: 1 / Math.sqrt(row.hi) }))
    : [];
  const byImageTotal = binBy((i) => imageTotal[imageAll[i]!]!);

  // per dataset
  const byDataset: DatasetRow[] = [];
  o = 0;
  for (const ds of datasets) {
    let c = 0;
    let s = 0;
    let b = 0;
    for (let r = 0; r < ds.n; r++, o++) {
      const z = zAll[o]!;
      if (!Number.isFinite(z)) continue;
      c++;
      s += z * z;
      if (Math.abs(z) > k) b++;
    }
    byDataset.push({ dataset: ds.name, observations: c, dispersion: c > 0 ? Math.sqrt(s / c) : Number.NaN, fractionBeyondK: c > 0 ? b / c : Number.NaN });
  }

  const trimmed = trimTable(sel.map((i) => zAll[i]!), chi2, n, options.trimPercents ?? [1, 5, 10, 20]);
  const zone = zoneAxisAnalysis(datasets, images, sel, zAll, imageAll, k, nBins, options.zoneAxisMaxIndex ?? 2);
  const pairsOut = pairStatistics(datasets, images, obsKey, keyValue, options, reflAll);

  return {
    summary,
    reflections: refl,
    byIntensity,
    byResolution,
    byImageTotal,
    byDataset,
    trimmed,
    zoneAxes: zone,
    pairs: pairsOut.stats,
    pairPoints: pairsOut.points,
    background: pairsOut.background,
    observations: { z: zAll, reflection: reflAll, image: imageAll },
  };
}

function trimTable(z: number[], chi2: Float64Array, n: Int32Array, percents: readonly number[]): TrimRow[] {
  const z2 = Float64Array.from(z, (v) => v * v).sort().reverse();
  const total = z2.reduce((a, b) => a + b, 0);
  const refls: { chi2: number; dof: number; red: number }[] = [];
  for (let r = 0; r < n.length; r++) if (n[r]! >= 2) refls.push({ chi2: chi2[r]!, dof: n[r]! - 1, red: chi2[r]! / (n[r]! - 1) });
  refls.sort((a, b) => b.red - a.red);
  const chiTotal = refls.reduce((a, r) => a + r.chi2, 0);
  const dofTotal = refls.reduce((a, r) => a + r.dof, 0);
  return percents.map((pct) => {
    const m = Math.round((pct / 100) * z2.length);
    let removed = 0;
    for (let i = 0; i < m; i++) removed += z2[i]!;
    const rest = z2.length - m;
    const mr = Math.round((pct / 100) * refls.length);
    let rc = 0;
    let rd = 0;
    for (let i = 0; i < mr; i++) {
      rc += refls[i]!.chi2;
      rd += refls[i]!.dof;
    }
    return {
      percent: pct,
      removedObservations: m,
      dispersionAfter: rest > 0 ? Math.sqrt((total - removed) / rest) : Number.NaN,
      shareOfSpread: total > 0 ? removed / total : Number.NaN,
      removedReflections: mr,
      pooledDispersionAfter: dofTotal - rd > 0 ? Math.sqrt((chiTotal - rc) / (dofTotal - rd)) : Number.NaN,
      shareOfChi2: chiTotal > 0 ? rc / chiTotal : Number.NaN,
    };
  });
}

function zoneAxisAnalysis(
  datasets: readonly SpotDataset[],
  images: ImageTable,
  sel: number[],
  z: Float64Array,
  imageOf: Int32Array,
  k: number,
  nBins: number,
  maxIndex: number,
): ZoneAxisResult {
  const empty = (note: string): ZoneAxisResult => ({
    available: false, note, maxIndex, all: 0, extreme: 0, medianAll: Number.NaN, medianExtreme: Number.NaN,
    meanAll: Number.NaN, meanExtreme: Number.NaN, ksD: Number.NaN, ksP: Number.NaN, bins: [],
  });
  const missing = datasets.filter((ds) => ds.settingAtFrame === undefined || ds.beamDirection === undefined);
  if (missing.length > 0) return empty(`no orientation for ${missing.map((d) => d.name).join(', ')}`);
  const axes = zoneAxes(maxIndex);
  const angle = new Float64Array(images.nImages);
  for (let g = 0; g < images.nImages; g++) {
    const ds = datasets[images.imageDataset[g]!]!;
    const f = images.imageFrame[g]!;
    angle[g] = zoneAxisAngleDeg(ds.settingAtFrame!.subarray(9 * f, 9 * f + 9), ds.beamDirection!, axes).angle;
  }
  const all = sel.map((i) => angle[imageOf[i]!]!);
  const extreme = sel.filter((i) => Math.abs(z[i]!) > k).map((i) => angle[imageOf[i]!]!);
  if (all.length === 0) return empty('no reflection observed twice');
  const ks = ksTwoSample(extreme, all);
  const edges = quantileEdges(all, nBins);
  const bins: ZoneAxisResult['bins'] = [];
  for (let b = 0; b + 1 < edges.length; b++) {
    const inBin = (v: number): boolean => binIndex(edges, v) === b;
    const fa = all.filter(inBin).length / all.length;
    const fe = extreme.length > 0 ? extreme.filter(inBin).length / extreme.length : Number.NaN;
    bins.push({ lo: edges[b]!, hi: edges[b + 1]!, fractionAll: fa, fractionExtreme: fe, enrichment: fa > 0 ? fe / fa : Number.NaN });
  }
  const meanOf = (v: number[]): number => (v.length > 0 ? v.reduce((a, b) => a + b, 0) / v.length : Number.NaN);
  return {
    available: true,
    maxIndex,
    all: all.length,
    extreme: extreme.length,
    medianAll: median(all),
    medianExtreme: extreme.length > 0 ? median(extreme) : Number.NaN,
    meanAll: meanOf(all),
    meanExtreme: meanOf(extreme),
    ksD: ks.d,
    ksP: ks.p,
    bins,
  };
}

function pairStatistics(
  datasets: readonly SpotDataset[],
  images: ImageTable,
  obsKey: Int32Array[],
  keyValue: Int32Array,
  options: SpreadOptions,
  reflAll: Int32Array,
): { stats: PairStats[]; points: PairPoint[]; background: { x: Float64Array; y: Float64Array } } {
  const pairs = (options.pairs ?? []).slice(0, options.maxPairs ?? 20);
  const noBackground = { x: new Float64Array(0), y: new Float64Array(0) };
  if (pairs.length === 0) return { stats: [], points: [], background: noBackground };
  const rng = new Rng(options.seed ?? 1);
  const B = options.permutations ?? 999;
  const rotations = options.fold !== null ? properRotationsOnHkl(options.fold) : [];

  // observations of the images involved only: image → [(key id, I, σ²)]
  const wanted = new Set<number>();
  for (const p of pairs) {
    wanted.add(p.a);
    wanted.add(p.b);
  }
  const perImage = new Map<number, { kid: number; I: number; V: number }[]>();
  datasets.forEach((ds, d) => {
    const off = images.imageOffset[d]!;
    const keys = obsKey[d]!;
    for (let r = 0; r < ds.n; r++) {
      const g = off + ds.frame[r]!;
      if (!wanted.has(g) || keys[r]! < 0) continue;
      let list = perImage.get(g);
      if (list === undefined) perImage.set(g, (list = []));
      list.push({ kid: keys[r]!, I: ds.intensity[r]!, V: ds.variance[r]! });
    }
  });
  /** key id → mean I and its variance on an image (several observations of one key are averaged) */
  const collapse = (g: number): Map<number, { I: number; V: number }> => {
    const acc = new Map<number, { s: number; v: number; c: number }>();
    for (const o of perImage.get(g) ?? []) {
      const e = acc.get(o.kid);
      if (e === undefined) acc.set(o.kid, { s: o.I, v: o.V, c: 1 });
      else {
        e.s += o.I;
        e.v += o.V;
        e.c++;
      }
    }
    const out = new Map<number, { I: number; V: number }>();
    for (const [kid, e] of acc) out.set(kid, { I: e.s / e.c, V: e.v / (e.c * e.c) });
    return out;
  };

  const stats: PairStats[] = [];
  const points: PairPoint[] = [];
  pairs.forEach((p, idx) => {
    const A = collapse(p.a);
    const Bm = collapse(p.b);
    const xs: number[] = [];
    const ys: number[] = [];
    let nd = 0;
    for (const [kid, a] of A) {
      const b = Bm.get(kid);
      if (b === undefined) continue;
      xs.push(a.I);
      ys.push(b.I);
      nd += ((a.I - b.I) * (a.I - b.I)) / (a.V + b.V);
      const [h, k, l] = unpackHkl(keyValue[kid]!);
      points.push({ rank: idx + 1, h, k, l, ia: a.I, sa: Math.sqrt(a.V), ib: b.I, sb: Math.sqrt(b.V) });
    }
    const x = Float64Array.from(xs);
    const y = Float64Array.from(ys);
    const dA = images.imageDataset[p.a]!;
    const dB = images.imageDataset[p.b]!;
    const fA = images.imageFrame[p.a]!;
    const fB = images.imageFrame[p.b]!;
    const mA = datasets[dA]!.settingAtFrame;
    const mB = datasets[dB]!.settingAtFrame;
    stats.push({
      rank: idx + 1,
      a: p.a,
      b: p.b,
      datasetA: datasets[dA]!.name,
      frameA: fA,
      imageA: fA + datasets[dA]!.firstImage,
      datasetB: datasets[dB]!.name,
      frameB: fB,
      imageB: fB + datasets[dB]!.firstImage,
      shared: p.shared,
      n: x.length,
      pearson: pearson(x, y),
      spearman: spearman(x, y),
      pValue: permutationPValue(x, y, B, rng),
      normRmsDifference: x.length > 0 ? Math.sqrt(nd / x.length) : Number.NaN,
      angleDeg: mA !== undefined && mB !== undefined ? misorientationDeg(mA.subarray(9 * fA, 9 * fA + 9), mB.subarray(9 * fB, 9 * fB + 9), rotations) : Number.NaN,
      angleRawDeg: mA !== undefined && mB !== undefined ? misorientationDeg(mA.subarray(9 * fA, 9 * fA + 9), mB.subarray(9 * fB, 9 * fB + 9)) : Number.NaN,
    });
  });

  // background for the best pair: (I on image a, I of every other observation of the same reflection)
  const best = pairs[0]!;
  const A = collapse(best.a);
  const shared = new Set<number>();
  const Bm = collapse(best.b);
  for (const kid of A.keys()) if (Bm.has(kid)) shared.add(kid);
  const bx: number[] = [];
  const by: number[] = [];
  let o = 0;
  datasets.forEach((ds, d) => {
    const off = images.imageOffset[d]!;
    for (let r = 0; r < ds.n; r++, o++) {
      const kid = reflAll[o]!;
      if (kid < 0 || !shared.has(kid)) continue;
      const g = off + ds.frame[r]!;
      if (g === best.a || g === best.b) continue;
      bx.push(A.get(kid)!.I);
      by.push(ds.intensity[r]!);
    }
  });
  return { stats, points, background: { x: Float64Array.from(bx), y: Float64Array.from(by) } };
}
