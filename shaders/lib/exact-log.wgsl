// Deterministic natural logarithm (CPU emulation: logf in src/grid/exact-f32.ts).
// Needs lib/exact-f32.wgsl. The including shader declares `consts: array<u32>`
// holding, from word 0: inv[128] (f32 bits), neg_log_inv[128] (f32 bits),
// ln 2, 1/3 (f32 bits) — the layout of src/kernels/filter-stats.ts (CONSTS_*).
//
//   x = 2^e · m, m ∈ [1, 2);  j = top 7 bits of m;  r = m·inv[j] − 1 (|r| < 2⁻⁸)
//   ln x = (e·ln 2 + (−ln inv[j])) + (r − r²/2 + r³/3 − r⁴/4)

// ln x for a positive normal x.
fn logx(x: f32) -> f32 {
  let b = bitcast<u32>(x);
  let e = i32((b >> 23u) & 0xffu) - 127;
  let j = (b >> 16u) & 0x7fu;
  let m = bitcast<f32>((b & 0x7fffffu) | 0x3f800000u);
  let inv = bitcast<f32>(consts[j]);
  let nli = bitcast<f32>(consts[128u + j]);
  let ln2 = bitcast<f32>(consts[256u]);
  let third = bitcast<f32>(consts[257u]);
  let r = ex(m * inv) - 1.0;
  let r2 = ex(r * r);
  let r3 = ex(r2 * r);
  let r4 = ex(r2 * r2);
  let poly = ((r - ex(r2 * 0.5)) + ex(r3 * third)) - ex(r4 * 0.25);
  return (ex(f32(e) * ln2) + nli) + poly;
}
