// azimuthal-integrate: per-bin sums of signal, variance and normalization,
// and pixel counts, for a 1-D azimuthal integration (pyFAI's "no pixel
// splitting" histogram). The geometry (which bin each pixel belongs to, and its
// solid-angle/polarization normalization) is computed once on the host; this
// kernel does the per-image work.
//
// Sums are exact and order-independent: each value v ≥ 0 is turned into the
// integer x = round(v · 2^S) (S per quantity, chosen by the host so that every
// bin's total stays below 2^63), split into 32-bit halves, and added to a
// 64-bit accumulator made of two u32 atomics (low word first; a wrapped low
// add carries 1 into the high word). Integer addition is associative, so the
// result does not depend on dispatch order and the CPU twin, doing the same
// integer arithmetic, gets identical words.
//
// Compile-time defines:
//   WG        workgroup size along x (256)
//   VARIANCE  true: read the per-pixel variance from binding 5; false: the
//             variance is the signal itself (Poisson, photon counting)
//
// Bindings (group 0):
//   0 uniform  params (see struct Params)
//   1 storage, read        image: array<f32>; v < 0 (Pilatus −1 gap and −2
//              bad-pixel markers) is masked
//   2 storage, read        bin_index: array<i32>; −1 = masked / out of range
//   3 storage, read        norm: array<f32>; ≤ 0 is masked
//   4 storage, read_write  acc: array<atomic<u32>>, 7 words per bin:
//              signal lo/hi, variance lo/hi, norm lo/hi, count
//   5 storage, read        variance: array<f32> (VARIANCE only); < 0 masked
//
// Workgroup layout: @workgroup_size(WG, 1, 1), dispatch (gx, gy, 1); pixel
// i = gid.x + gid.y · row_threads.
//
// Invariants: a pixel contributes to at most one bin; all four accumulators of
// a bin see the same set of pixels; values are integers in f32 before the
// split, so the f32 → u32 conversions are exact.

struct Params {
  n_pixels: u32,
  n_bins: u32,
  row_threads: u32,
  _pad: u32,
  scale_signal: f32,
  scale_variance: f32,
  scale_norm: f32,
  _pad2: f32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> image: array<f32>;
@group(0) @binding(2) var<storage, read> bin_index: array<i32>;
@group(0) @binding(3) var<storage, read> norm: array<f32>;
@group(0) @binding(4) var<storage, read_write> acc: array<atomic<u32>>;
#if ${VARIANCE}
@group(0) @binding(5) var<storage, read> variance: array<f32>;
#endif

const TWO_POW_32: f32 = 4294967296.0;
const TWO_POW_M32: f32 = 2.3283064365386963e-10;

// Adds the non-negative integer-valued f32 x to the 64-bit accumulator at word w.
fn add64(w: u32, x: f32) {
  let hi = floor(x * TWO_POW_M32);
  let lo = x - hi * TWO_POW_32;
  let lo_u = u32(lo);
  let old = atomicAdd(&acc[w], lo_u);
  var hi_u = u32(hi);
  if (old + lo_u < old) {
    hi_u = hi_u + 1u;
  }
  if (hi_u != 0u) {
    atomicAdd(&acc[w + 1u], hi_u);
  }
}

@compute @workgroup_size(${WG}, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x + gid.y * params.row_threads;
  if (i >= params.n_pixels) {
    return;
  }
  let b = bin_index[i];
  if (b < 0 || u32(b) >= params.n_bins) {
    return;
  }
  let v = image[i];
  if (v < 0.0) {
    return;
  }
  let n = norm[i];
  if (n <= 0.0) {
    return;
  }
#if ${VARIANCE}
  let s2 = variance[i];
  if (s2 < 0.0) {
    return;
  }
#else
  let s2 = v;
#endif
  let w = 7u * u32(b);
  add64(w, round(v * params.scale_signal));
  add64(w + 2u, round(s2 * params.scale_variance));
  add64(w + 4u, round(n * params.scale_norm));
  atomicAdd(&acc[w + 6u], 1u);
}
