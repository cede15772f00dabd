/**
 * Seeded pseudo-random numbers, so simulations and tests are reproducible.
 * Uniform: mulberry32. Normal: Box–Muller. Poisson: Knuth's product method for
 * small means, and the PTRS transformed-rejection method (Hörmann 1993) above 10.
 */
export type Uniform = () => number;

export function mulberry32(seed: number): Uniform {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function normal(u: Uniform): number {
  let a = u();
  while (a <= 1e-300) a = u();
  return Math.sqrt(-2 * Math.log(a)) * Math.cos(2 * Math.PI * u());
}

function logFactorial(k: number): number {
  if (k < 2) return 0;
  // Stirling series; exact enough for k ≥ 2 in PTRS acceptance
  return (k + 0.5) * Math.log(k) - k + 0.5 * Math.log(2 * Math.PI) + 1 / (12 * k) - 1 / (360 * k ** 3);
}

export function poisson(u: Uniform, mean: number): number {
  if (!(mean > 0)) return 0;
  if (mean < 10) {
    const L = Math.exp(-mean);
    let k = 0;
    let p = u();
    while (p > L) {
      k++;
      p *= u();
    }
    return k;
  }
  const slam = Math.sqrt(mean);
  const loglam = Math.log(mean);
  const b = 0.931 + 2.53 * slam;
  const a = -0.059 + 0.02483 * b;
  const invalpha = 1.1239 + 1.1328 / (b - 3.4);
  const vr = 0.9277 - 3.6224 / (b - 2);
  for (;;) {
    const U = u() - 0.5;
    const V = u();
    const us = 0.5 - Math.abs(U);
    const k = Math.floor(((2 * a) / us + b) * U + mean + 0.43);
    if (us >= 0.07 && V <= vr) return k;
    if (k < 0 || (us < 0.013 && V > us)) continue;
    if (Math.log(V) + Math.log(invalpha) - Math.log(a / (us * us) + b) <= -mean + k * loglam - logFactorial(k)) return k;
  }
}

function fmix32(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  x ^= x >>> 16;
  return x >>> 0;
}

/** One step of `mixSeed`: folds integer `part` into hash `h`. */
export function mixStep(h: number, part: number): number {
  return fmix32((h ^ Math.imul(part | 0, 0x27d4eb2f)) + 0x165667b1);
}

/**
 * A 32-bit hash of a seed and integer parts (murmur3's finalizer applied after
 * each part): independent, reproducible streams per frame, per reflection, …
 * without keeping state. Parts are taken modulo 2³² (negative values included).
 */
export function mixSeed(seed: number, ...parts: readonly number[]): number {
  let h = fmix32((seed >>> 0) ^ 0x9e3779b9);
  for (const p of parts) h = mixStep(h, p);
  return h;
}

/** A uniform number in (0, 1) determined by a seed and integer parts (see `mixSeed`). */
export function hashUniform(seed: number, ...parts: readonly number[]): number {
  return (mixSeed(seed, ...parts) + 0.5) / 4294967296;
}

/** `hashUniform(seed, a, b, c, d)` without the rest-parameter array (for hot loops). */
export function hashUniform4(seed: number, a: number, b: number, c: number, d: number): number {
  const h = mixStep(mixStep(mixStep(mixStep(fmix32((seed >>> 0) ^ 0x9e3779b9), a), b), c), d);
  return (h + 0.5) / 4294967296;
}
