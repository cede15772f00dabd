/**
 * hkl-map's WGSL arithmetic written out in f32, for bit-for-bit checks of the
 * GPU results. The CPU twin (src/kernels/hkl-map.ts) is the readable spec and
 * works in f64 from the f64 matrices, so it agrees with the GPU to
 * HKL_MAP_TOLERANCE, not in bits (about half the values differ by an ulp or
 * so). The kernel uploads the matrices as f32 and evaluates
 * `dot(row, d)` = ((m0·x + m1·y) + m2·z) in f32, each product and sum rounded,
 * no fused multiply-add: this model does exactly that, and Chromium's
 * SwiftShader and Mesa's lavapipe (Dawn in Node) both match it in every bit.
 */
import type { HklMapParams } from '../../src/kernels/hkl-map.ts';

/** hkl-map's WGSL arithmetic in f32: matrices rounded to f32, `dot` as ((m0·x + m1·y) + m2·z), every step rounded, no FMA. */
export function hklMapF32(p: HklMapParams): Float32Array {
  const f = Math.fround;
  const n = p.vectors.length / 3;
  const M = Float32Array.from(p.matrices);
  const idx = p.matrixIndex;
  const frames = idx === undefined ? M.length / 9 : 1;
  const out = new Float32Array(idx === undefined ? 3 * n * frames : 3 * n);
  for (let fr = 0; fr < frames; fr++) {
    for (let i = 0; i < n; i++) {
      const m = 9 * (idx === undefined ? fr : (idx[i] as number));
      const x = p.vectors[3 * i] as number;
      const y = p.vectors[3 * i + 1] as number;
      const z = p.vectors[3 * i + 2] as number;
      const o = 3 * (idx === undefined ? fr * n + i : i);
      for (let r = 0; r < 3; r++) {
        const a = M[m + 3 * r] as number;
        const b = M[m + 3 * r + 1] as number;
        const c = M[m + 3 * r + 2] as number;
        out[o + r] = f(f(f(a * x) + f(b * y)) + f(c * z));
      }
    }
  }
  return out;
}
