/**
 * Deterministic f32 arithmetic: the CPU emulation of `shaders/lib/exact-f32.wgsl`.
 *
 * The voxel kernels must give the same bits on the GPU and on the CPU (the
 * filter's mask and the voxel every pixel lands in depend on them), so they
 * use only operations whose f32 result is fixed by IEEE 754 and WGSL:
 *
 * - `+`, `−`, `×` of two f32 values, correctly rounded (WGSL and Vulkan
 *   require it). Here each is one f64 operation rounded with `Math.fround`:
 *   f64 has ≥ 2·24 + 2 significand bits, so the double rounding is innocuous
 *   (Figueroa 1995) and the result equals the correctly rounded f32 one.
 * - no fused multiply-add: a GPU compiler may contract `a*b + c`, so the WGSL
 *   side passes every product through `ex()` (an xor with a run-time zero the
 *   compiler cannot see through) before it is added;
 * - no division, `log` or `exp` from the platform (WGSL allows 2.5 ulp or
 *   worse, differently on every device): `recip` is Newton's iteration from a
 *   bit-pattern seed and `logf` a table lookup plus a short polynomial, both
 *   from `+ − ×` and integer bit operations only;
 * - integer → f32 conversion only for exactly representable values (or via
 *   `u2f`, one correctly rounded addition).
 *
 * Accuracy: `recip` within 2 ulp, `logf` within about 3 ulp of the true value
 * (plus the f32 rounding of e·ln 2 for large exponents).
 */
const f = Math.fround;

const scratchF = new Float32Array(1);
const scratchU = new Uint32Array(scratchF.buffer);

/** The bits of an f32 value. */
export function f32Bits(x: number): number {
  scratchF[0] = x;
  return scratchU[0] as number;
}

/** The f32 value of a bit pattern. */
export function bitsF32(bits: number): number {
  scratchU[0] = bits;
  return scratchF[0] as number;
}

/** u32 → f32 as the WGSL `u2f`: f32(x >> 16)·65536 + f32(x & 0xffff), one rounding. */
export function u2f(x: number): number {
  return f(x >>> 0);
}

/** Seed of the reciprocal: a bit-pattern estimate within 12 %. */
const RECIP_MAGIC = 0x7ef311c7;

/** 1/x for a positive normal f32 x: 4 Newton steps y ← y·(2 − x·y). */
export function recip(x: number): number {
  let y = bitsF32((RECIP_MAGIC - f32Bits(x)) >>> 0);
  for (let k = 0; k < 4; k++) {
    const e = f(2 - f(x * y));
    y = f(y * e);
  }
  return y;
}

/** Table sizes of `logf`: the top 7 mantissa bits pick one of 128 intervals. */
export const LOG_TABLE_BITS = 7;
export const LOG_TABLE_SIZE = 1 << LOG_TABLE_BITS;

export interface LogTables {
  /** inv[j] ≈ 1 / (1 + (j + ½)/128), f32 */
  inv: Float32Array;
  /** −ln(inv[j]) rounded to f32 */
  negLogInv: Float32Array;
  /** ln 2 rounded to f32 */
  ln2: number;
  third: number;
}

let tables: LogTables | undefined;

/** The constants of `logf` (the GPU gets the same values in a storage buffer). */
export function logTables(): LogTables {
  if (tables !== undefined) return tables;
  const inv = new Float32Array(LOG_TABLE_SIZE);
  const negLogInv = new Float32Array(LOG_TABLE_SIZE);
  for (let j = 0; j < LOG_TABLE_SIZE; j++) {
    inv[j] = 1 / (1 + (j + 0.5) / LOG_TABLE_SIZE);
    negLogInv[j] = -Math.log(inv[j] as number);
  }
  tables = { inv, negLogInv, ln2: f(Math.LN2), third: f(1 / 3) };
  return tables;
}

/**
 * ln x for a positive normal f32 x:
 *   x = 2^e · m, m ∈ [1, 2);  j = top 7 bits of m;  r = m·inv[j] − 1 (|r| < 2⁻⁸)
 *   ln x = (e·ln 2 + (−ln inv[j])) + (r − r²/2 + r³/3 − r⁴/4)
 */
export function logf(x: number): number {
  const t = logTables();
  const b = f32Bits(x);
  const e = ((b >>> 23) & 0xff) - 127;
  const j = (b >>> 16) & 0x7f;
  const m = bitsF32((b & 0x7fffff) | 0x3f800000);
  const r = f(f(m * (t.inv[j] as number)) - 1);
  const r2 = f(r * r);
  const r3 = f(r2 * r);
  const r4 = f(r2 * r2);
  const poly = f(f(f(r - f(r2 * 0.5)) + f(r3 * t.third)) - f(r4 * 0.25));
  return f(f(f(e * t.ln2) + (t.negLogInv[j] as number)) + poly);
}

/** ln(c!) for c = 0…maxCount, each rounded to f32 (computed in f64 as a sum of logs). */
export function logFactorials(maxCount: number): Float32Array {
  const out = new Float32Array(maxCount + 1);
  let acc = 0;
  for (let c = 1; c <= maxCount; c++) {
    acc += Math.log(c);
    out[c] = acc;
  }
  return out;
}
