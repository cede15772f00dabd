// merge-weighted: inverse-variance weighted sums per segment of rows sorted by
// key (a segmented reduction; the CPU twin is src/kernels/merge-weighted.ts).
//
// For the included rows i of segment s, with w = 1/σ² and the shift
// K = I of the segment's first included row (any value works; a value inside
// the segment keeps the moments small), the kernel forms
//     Σw,  Σw·d,  Σw·d²   with d = I − K,   and n = #included rows,
// so that the host gets the weighted mean K + Σwd/Σw and the weighted sum of
// squared deviations Σwd² − (Σwd)²/Σw without the cancellation of Σw·I².
//
// Every sum is compensated: a running f32 sum S plus an f32 correction C fed
// with the exact rounding error of each addition (Knuth's TwoSum), so long
// segments keep f32 accuracy relative to the total. The host reads the pair
// (S, C); S + C in f64 is the sum.
//
// Skew: a segment is cut into chunks of at most CHUNK rows (the host builds
// the chunk table). Pass 1 (PASS1) runs one invocation per chunk and walks
// its rows in order; pass 2 (PASS1 false) runs one invocation per segment and
// combines its chunks' partial sums in chunk order. A segment of 10⁴ rows is
// therefore 157 short walks plus one walk over 157 partials, not one walk of
// 10⁴ rows.
//
// Determinism (GPU = CPU twin, bit for bit):
//   - the order of every sum is fixed (rows in order within a chunk, chunks in
//     order within a segment); no atomics, no cross-invocation reduction;
//   - only +, −, × (correctly rounded) and the Newton reciprocal of
//     lib/exact-f32.wgsl; every product goes through ex() so nothing is fused
//     into an fma;
//   - every arithmetic result goes through fz(): subnormals and −0 become +0,
//     so the result does not depend on whether the device flushes denormals
//     or keeps the sign of zero. Inputs are flushed the same way on load.
//
// Compile-time defines:
//   WG     workgroup size along x (64)
//   PASS1  true: pass 1 (chunk partial sums); false: pass 2 (per-segment
//          combination)
//
// Bindings (group 0), pass 1:
//   0 uniform  params (struct Params)
//   1 storage, read        values: array<f32>, I per row (batch-relative)
//   2 storage, read        sigmas: array<f32>, σ per row; included rows have
//              σ² and 1/σ² normal (checked by the host)
//   3 storage, read        include_bits: array<u32>, bit (i & 31) of word i >> 5
//              set = row i is merged
//   4 storage, read        chunk_rows: array<u32>, n_chunks + 1 row boundaries
//   5 storage, read        chunk_shift: array<u32>, per chunk the row whose I
//              is the segment's shift K (its first included row)
//   6 storage, read_write  partial: array<u32>, 8 words per chunk:
//              S_w, C_w, S_wd, C_wd, S_wd2, C_wd2 (f32 bits), n, 0
// Bindings (group 0), pass 2:
//   0 uniform  params
//   1 storage, read        partial (as written by pass 1)
//   2 storage, read        seg_chunks: array<u32>, n_segs + 1 chunk boundaries
//   3 storage, read        values (for K)
//   4 storage, read        seg_shift: array<u32>, per segment the row of K,
//              NO_ROW (0xffffffff) when no row is included
//   5 storage, read_write  result: array<u32>, 8 words per segment:
//              S_w, C_w, S_wd, C_wd, S_wd2, C_wd2 (f32 bits), n, K (f32 bits)
//
// Workgroup layout: @workgroup_size(WG, 1, 1), dispatch (gx, gy, 1); item
// (chunk or segment) t = gid.x + gid.y · row_threads.
//
// Invariants: chunks never straddle a segment; chunk_rows is increasing and
// ends at the batch's row count; a segment without rows has no chunks; a
// segment without included rows gets zero sums, n = 0 and K = 0.

//!include lib/exact-f32.wgsl

struct Params {
  n_items: u32,
  row_threads: u32,
  zero: u32,
  _pad: u32,
}

@group(0) @binding(0) var<uniform> params: Params;

#if ${PASS1}
@group(0) @binding(1) var<storage, read> values: array<f32>;
@group(0) @binding(2) var<storage, read> sigmas: array<f32>;
@group(0) @binding(3) var<storage, read> include_bits: array<u32>;
@group(0) @binding(4) var<storage, read> chunk_rows: array<u32>;
@group(0) @binding(5) var<storage, read> chunk_shift: array<u32>;
@group(0) @binding(6) var<storage, read_write> partial: array<u32>;
#else
@group(0) @binding(1) var<storage, read> partial: array<u32>;
@group(0) @binding(2) var<storage, read> seg_chunks: array<u32>;
@group(0) @binding(3) var<storage, read> values: array<f32>;
@group(0) @binding(4) var<storage, read> seg_shift: array<u32>;
@group(0) @binding(5) var<storage, read_write> result: array<u32>;
#endif

const MIN_NORMAL: f32 = 1.1754943508222875e-38;

// Subnormals and −0 → +0.
fn fz(x: f32) -> f32 {
  return select(x, 0.0, abs(x) < MIN_NORMAL);
}

fn fadd(a: f32, b: f32) -> f32 {
  return fz(a + b);
}

fn fsub(a: f32, b: f32) -> f32 {
  return fz(a - b);
}

fn fmul(a: f32, b: f32) -> f32 {
  return fz(ex(a * b));
}

// A compensated sum: s + c.
struct Acc {
  s: f32,
  c: f32,
}

// Adds x to the running sum: TwoSum(s, x) = (t, e) with t + e = s + x exactly
// (barring underflow), e added to the correction. ex() hides t from the
// compiler so that (s + x) − s is not simplified to x.
fn acc_add(a: Acc, x: f32) -> Acc {
  let t = fadd(a.s, x);
  let tt = ex(t);
  let bb = fsub(tt, a.s);
  let e = fadd(fsub(a.s, fsub(tt, bb)), fsub(x, bb));
  return Acc(t, fadd(a.c, e));
}

#if ${PASS1}
fn included(i: u32) -> bool {
  return ((include_bits[i >> 5u] >> (i & 31u)) & 1u) != 0u;
}

@compute @workgroup_size(${WG}, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  exact_zero = params.zero;
  let t = gid.x + gid.y * params.row_threads;
  if (t >= params.n_items) {
    return;
  }
  let first = chunk_rows[t];
  let last = chunk_rows[t + 1u];
  let k = fz(values[chunk_shift[t]]);
  var sw = Acc(0.0, 0.0);
  var swd = Acc(0.0, 0.0);
  var swd2 = Acc(0.0, 0.0);
  var n = 0u;
  for (var i = first; i < last; i++) {
    if (!included(i)) {
      continue;
    }
    let sg = fz(sigmas[i]);
    let w = fz(recipx(fmul(sg, sg)));
    let d = fsub(fz(values[i]), k);
    let wd = fmul(w, d);
    let wd2 = fmul(wd, d);
    sw = acc_add(sw, w);
    swd = acc_add(swd, wd);
    swd2 = acc_add(swd2, wd2);
    n = n + 1u;
  }
  let o = 8u * t;
  partial[o] = bitcast<u32>(sw.s);
  partial[o + 1u] = bitcast<u32>(sw.c);
  partial[o + 2u] = bitcast<u32>(swd.s);
  partial[o + 3u] = bitcast<u32>(swd.c);
  partial[o + 4u] = bitcast<u32>(swd2.s);
  partial[o + 5u] = bitcast<u32>(swd2.c);
  partial[o + 6u] = n;
  partial[o + 7u] = 0u;
}
#else
// Folds the partial (s, c) of a chunk into the segment's sum.
fn acc_merge(a: Acc, s: f32, c: f32) -> Acc {
  let r = acc_add(a, s);
  return Acc(r.s, fadd(r.c, c));
}

@compute @workgroup_size(${WG}, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  exact_zero = params.zero;
  let t = gid.x + gid.y * params.row_threads;
  if (t >= params.n_items) {
    return;
  }
  let first = seg_chunks[t];
  let last = seg_chunks[t + 1u];
  var sw = Acc(0.0, 0.0);
  var swd = Acc(0.0, 0.0);
  var swd2 = Acc(0.0, 0.0);
  var n = 0u;
  for (var j = first; j < last; j++) {
    let p = 8u * j;
    sw = acc_merge(sw, bitcast<f32>(partial[p]), bitcast<f32>(partial[p + 1u]));
    swd = acc_merge(swd, bitcast<f32>(partial[p + 2u]), bitcast<f32>(partial[p + 3u]));
    swd2 = acc_merge(swd2, bitcast<f32>(partial[p + 4u]), bitcast<f32>(partial[p + 5u]));
    n = n + partial[p + 6u];
  }
  var k = 0.0;
  let kr = seg_shift[t];
  if (kr != 0xffffffffu) {
    k = fz(values[kr]);
  }
  let o = 8u * t;
  result[o] = bitcast<u32>(sw.s);
  result[o + 1u] = bitcast<u32>(sw.c);
  result[o + 2u] = bitcast<u32>(swd.s);
  result[o + 3u] = bitcast<u32>(swd.c);
  result[o + 4u] = bitcast<u32>(swd2.s);
  result[o + 5u] = bitcast<u32>(swd2.c);
  result[o + 6u] = n;
  result[o + 7u] = bitcast<u32>(k);
}
#endif
