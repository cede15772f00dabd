/** Small, deterministic statistics helpers for the spot-consistency analysis. */

/**
 * A seeded pseudo-random generator (xoshiro128**, seeded through splitmix32):
 * the same seed gives the same sequence on every platform.
 */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;
  private spareNormal: number | null = null;

  constructor(seed: number) {
    let s = seed >>> 0;
    const next = (): number => {
      s = (s + 0x9e3779b9) >>> 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = next();
    this.b = next();
    this.c = next();
    this.d = next();
    if ((this.a | this.b | this.c | this.d) === 0) this.a = 1;
  }

  /** uniform 32-bit unsigned integer */
  nextU32(): number {
    const result = Math.imul(rotl(Math.imul(this.b, 5), 7), 9) >>> 0;
    const t = this.b << 9;
    this.c ^= this.a;
    this.d ^= this.b;
    this.b ^= this.c;
    this.a ^= this.d;
    this.c ^= t;
    this.d = rotl(this.d, 11);
    return result;
  }

  /** uniform in [0, 1) */
  next(): number {
    return this.nextU32() / 4294967296;
  }

  /** uniform integer in [0, n) */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** standard normal (Box–Muller, polar form) */
  normal(): number {
    if (this.spareNormal !== null) {
      const v = this.spareNormal;
      this.spareNormal = null;
      return v;
    }
    for (;;) {
      const u = 2 * this.next() - 1;
      const v = 2 * this.next() - 1;
      const s = u * u + v * v;
      if (s > 0 && s < 1) {
        const m = Math.sqrt((-2 * Math.log(s)) / s);
        this.spareNormal = v * m;
        return u * m;
      }
    }
  }

  /** exponential with mean 1 */
  exponential(): number {
    return -Math.log(1 - this.next());
  }

  /** in-place Fisher–Yates shuffle of the first n entries */
  shuffle(a: Float64Array | Int32Array, n = a.length): void {
    for (let i = n - 1; i > 0; i--) {
      const j = Math.floor(this.next() * (i + 1));
      const t = a[i]!;
      a[i] = a[j]!;
      a[j] = t;
    }
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/** Pearson correlation of the first n entries; NaN when either side has no variance or n < 2. */
export function pearson(x: ArrayLike<number>, y: ArrayLike<number>, n = x.length): number {
  if (n < 2) return Number.NaN;
  let mx = 0;
  let my = 0;
  for (let i = 0; i < n; i++) {
    mx += x[i]!;
    my += y[i]!;
  }
  mx /= n;
  my /= n;
  let sxx = 0;
  let syy = 0;
  let sxy = 0;
  for (let i = 0; i < n; i++) {
    const dx = x[i]! - mx;
    const dy = y[i]! - my;
    sxx += dx * dx;
    syy += dy * dy;
    sxy += dx * dy;
  }
  if (sxx <= 0 || syy <= 0) return Number.NaN;
  return sxy / Math.sqrt(sxx * syy);
}

/** Ranks (1-based, ties get their average rank). */
export function ranks(x: ArrayLike<number>, n = x.length): Float64Array {
  const idx = new Int32Array(n);
  for (let i = 0; i < n; i++) idx[i] = i;
  idx.sort((a, b) => x[a]! - x[b]!);
  const r = new Float64Array(n);
  let i = 0;
  while (i < n) {
    let j = i;
    while (j + 1 < n && x[idx[j + 1]!] === x[idx[i]!]) j++;
    const avg = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) r[idx[k]!] = avg;
    i = j + 1;
  }
  return r;
}

/** Spearman rank correlation (Pearson of the tie-averaged ranks). */
export function spearman(x: ArrayLike<number>, y: ArrayLike<number>, n = x.length): number {
  if (n < 2) return Number.NaN;
  return pearson(ranks(x, n), ranks(y, n), n);
}

/**
 * One-sided permutation p-value for a positive Pearson correlation: the share of
 * B random re-pairings of y with x whose correlation reaches the observed one,
 * p = (1 + #{r_perm ≥ r_obs}) / (B + 1). Small p: the agreement is unlikely to be
 * chance. NaN when the correlation is undefined.
 */
export function permutationPValue(x: ArrayLike<number>, y: ArrayLike<number>, permutations: number, rng: Rng): number {
  const n = x.length;
  const r0 = pearson(x, y, n);
  if (!Number.isFinite(r0)) return Number.NaN;
  // centre once; r is then sxy / sqrt(sxx syy) with sxx, syy fixed under permutation
  let mx = 0;
  let my = 0;
  for (let i = 0; i < n; i++) {
    mx += x[i]!;
    my += y[i]!;
  }
  mx /= n;
  my /= n;
  const cx = new Float64Array(n);
  const cy = new Float64Array(n);
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    cx[i] = x[i]! - mx;
    cy[i] = y[i]! - my;
    sxx += cx[i]! * cx[i]!;
    syy += cy[i]! * cy[i]!;
  }
  const norm = Math.sqrt(sxx * syy);
  const threshold = r0 * norm * (1 - 1e-12);
  let hits = 0;
  for (let b = 0; b < permutations; b++) {
    rng.shuffle(cy, n);
    let sxy = 0;
    for (let i = 0; i < n; i++) sxy += cx[i]! * cy[i]!;
    if (sxy >= threshold) hits++;
  }
  return (1 + hits) / (permutations + 1);
}

/** q-quantile (0..1) of a sorted array, linear interpolation. */
export function quantileSorted(sorted: ArrayLike<number>, q: number): number {
  const n = sorted.length;
  if (n === 0) return Number.NaN;
  const pos = Math.min(Math.max(q, 0), 1) * (n - 1);
  const i = Math.floor(pos);
  const t = pos - i;
  const a = sorted[i]!;
  const b = sorted[Math.min(i + 1, n - 1)]!;
  return a + (b - a) * t;
}

export function median(values: ArrayLike<number>): number {
  const s = Float64Array.from(values as ArrayLike<number>).sort();
  return quantileSorted(s, 0.5);
}

/**
 * Two-sample Kolmogorov–Smirnov statistic D and its asymptotic p-value
 * (Kolmogorov distribution with the Stephens small-sample correction).
 */
export function ksTwoSample(a: ArrayLike<number>, b: ArrayLike<number>): { d: number; p: number } {
  const x = Float64Array.from(a as ArrayLike<number>).sort();
  const y = Float64Array.from(b as ArrayLike<number>).sort();
  const n = x.length;
  const m = y.length;
  if (n === 0 || m === 0) return { d: Number.NaN, p: Number.NaN };
  let i = 0;
  let j = 0;
  let d = 0;
  while (i < n && j < m) {
    const v = Math.min(x[i]!, y[j]!);
    while (i < n && x[i]! <= v) i++;
    while (j < m && y[j]! <= v) j++;
    d = Math.max(d, Math.abs(i / n - j / m));
  }
  const ne = (n * m) / (n + m);
  const lambda = (Math.sqrt(ne) + 0.12 + 0.11 / Math.sqrt(ne)) * d;
  return { d, p: kolmogorovQ(lambda) };
}

/** Q_KS(λ) = 2 Σ (−1)^{k−1} exp(−2 k² λ²) */
function kolmogorovQ(lambda: number): number {
  if (lambda < 1e-3) return 1;
  let sum = 0;
  let sign = 1;
  for (let k = 1; k <= 100; k++) {
    const term = sign * Math.exp(-2 * k * k * lambda * lambda);
    sum += term;
    if (Math.abs(term) < 1e-12) break;
    sign = -sign;
  }
  return Math.min(1, Math.max(0, 2 * sum));
}

/**
 * Bin edges holding about equal numbers of the given values (quantile bins);
 * repeated edges are merged, so fewer bins may come back. Returns nBins + 1 edges.
 */
export function quantileEdges(values: ArrayLike<number>, nBins: number): number[] {
  const s = Float64Array.from(values as ArrayLike<number>).filter((v) => Number.isFinite(v)).sort();
  if (s.length === 0) return [];
  const edges: number[] = [];
  for (let b = 0; b <= nBins; b++) {
    const e = quantileSorted(s, b / nBins);
    if (edges.length === 0 || e > edges[edges.length - 1]!) edges.push(e);
  }
  if (edges.length === 1) edges.push(edges[0]!);
  return edges;
}

/** Index of the bin [edges[i], edges[i+1]) holding v; the last bin is closed. -1 outside. */
export function binIndex(edges: readonly number[], v: number): number {
  const nb = edges.length - 1;
  if (nb < 1 || !(v >= edges[0]!) || v > edges[nb]!) return -1;
  let lo = 0;
  let hi = nb;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (v >= edges[mid]!) lo = mid;
    else hi = mid;
  }
  return lo;
}
