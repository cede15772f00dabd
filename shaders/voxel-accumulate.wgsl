// voxel-accumulate: the count histogram and the integration sums of every
// subvoxel of a wedge, from a batch of frames.
//
// Per pixel i of frame f (one invocation each):
//   masked  = static bit clear, or value outside [trusted_lo, trusted_hi], or a
//             marker (−1, −2, when `markers`), or negative (photon counting);
//             masked pixel·frames only add to the tally (count, Σ raw value)
//   count   = raw value (photon counting), or
//             max(0, round((f32(raw) − pedestal) · inv_gain)) (integrating;
//             round = half to even; |raw| < 2^24)
//   h       = M_f · d_i in deterministic f32, cell = ceil(h − ½), subvoxel
//             (lib/voxel-index.wgsl), slot = cell_slot(cell)
//   record  = acc[(slot · nsub + flat_sub) · stride …]:
//             [0…K] histogram: +1 at count when count ≤ K (K = max_count)
//             [K+1] observations with count > K (the voxel overflows)
//             [K+2, K+3] Σ count as a u64 (lo, hi)
//             [K+4, K+5] Σ frame index as a u64 (lo, hi)
//   channels = acc[chan_base + (slot · nsub + flat_sub) · 2C …]:
//             [2c, 2c+1] Σ chan[i · C + c] as a u64 (lo, hi), c = 0…C−1
//             (per-pixel u32 values: the pipeline's x, y, panel and the
//             quantized weights κ, d³s — see docs/tables.md)
//   The records of K + 6 words come first (the layout filter-stats reads),
//   the channel records of 2C words after them, in the same buffer:
//   K + 6 + 2C words per subvoxel in all.
//   a valid pixel·frame whose cell has no slot adds 1 to tally[4] (a bug if
//   the table came from cell-occupancy over the same geometry).
//
// Compile-time defines:
//   WG        workgroup size along x (256)
//   CHANNELS  C, u32 values per pixel in `chan` (0 … 16; 0 binds a dummy buffer)
//   PACKED16  true: `pixels` holds two u16 per word (element k in the low half
//             of word k/2 when k is even), each the low 16 bits of the raw
//             value; with params.pixel_base the batch's minimum, raw =
//             ((low16 − pixel_base) mod 2^16) + pixel_base (the host packs a
//             batch this way when its values span at most 65535, −1/−2
//             markers and an integrating detector's negative values
//             included); false: one i32 per value
//
// Bindings (group 0):
//   0 uniform  params (see struct Params; zero must be 0)
//   1 storage, read        vectors:    array<f32>, 3 per pixel
//   2 storage, read        valid:      array<u32>, static mask bits
//   3 storage, read        frames:     array<vec4u>, 4 per frame: rows of M_f as
//                                      f32 bits (3 vec4), then (frame index, 0, 0, 0)
//   4 storage, read        pixels:     array<i32>, n_pixels per frame, frame-major
//                                      (PACKED16: u16 pairs, see above)
//   5 storage, read        cell_table: array<vec2u>, (bits, rank) per 32 box cells
//   6 storage, read_write  acc:        array<atomic<u32>>, stride words per subvoxel
//   7 storage, read_write  tally:      array<atomic<u32>, 8>: [0,1] masked pixel·frames
//                                      (u64), [2,3] Σ raw of masked (i64, two's
//                                      complement), [4] valid pixel·frames without slot
//   8 storage, read        chan:       array<u32>, C per pixel, pixel-major
// (8 storage bindings: the WebGPU default maxStorageBuffersPerShaderStage;
// a further per-pixel value goes into `chan` as a channel, not a binding)
//
// Workgroup layout: @workgroup_size(WG, 1, 1); dispatch (gx, gy, frames),
// pixel i = gid.x + gid.y · row_threads, frame = gid.z.
//
// Invariants: every sum is an integer accumulated with u32 atomics (64-bit
// values by add-with-carry: the carry goes to the high word when the low word
// wraps), so the result is exact and independent of invocation, batch and
// frame order. The masked tally is reduced per workgroup first (one global
// update per workgroup); no early return before the barriers.

struct Params {
  n_pixels: u32,
  n_frames: u32,
  row_threads: u32,
  zero: u32,
  lo: vec3i,
  max_count: u32,
  dim: vec3u,
  stride: u32,
  ndiv: vec3i,
  nsub: u32,
  trusted_lo: i32,
  trusted_hi: i32,
  markers: u32,
  integrating: u32,
  inv_gain: f32,
  pedestal: f32,
  chan_base: u32,
  pixel_base: i32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> vectors: array<f32>;
@group(0) @binding(2) var<storage, read> valid: array<u32>;
@group(0) @binding(3) var<storage, read> frames: array<vec4u>;
@group(0) @binding(4) var<storage, read> pixels: array<i32>;
@group(0) @binding(5) var<storage, read> cell_table: array<vec2u>;
@group(0) @binding(6) var<storage, read_write> acc: array<atomic<u32>>;
@group(0) @binding(7) var<storage, read_write> tally: array<atomic<u32>, 8>;
@group(0) @binding(8) var<storage, read> chan: array<u32>;

const CHANNELS: u32 = ${CHANNELS}u;

var<workgroup> w_obs: atomic<u32>;
var<workgroup> w_sum_lo: atomic<u32>;
var<workgroup> w_sum_hi: atomic<u32>;

//!include lib/exact-f32.wgsl
//!include lib/voxel-index.wgsl

// acc[idx, idx+1] += v as a u64.
fn acc_add64(idx: u32, v: u32) {
  if (v == 0u) {
    return;
  }
  let old = atomicAdd(&acc[idx], v);
  if (old > 0xffffffffu - v) {
    atomicAdd(&acc[idx + 1u], 1u);
  }
}

// The raw value of element idx of the batch (frame-major).
fn pixel_value(idx: u32) -> i32 {
#if ${PACKED16}
  let word = bitcast<u32>(pixels[idx >> 1u]);
  let low16 = (word >> ((idx & 1u) << 4u)) & 0xffffu;
  return i32((low16 - bitcast<u32>(params.pixel_base)) & 0xffffu) + params.pixel_base;
#else
  return pixels[idx];
#endif
}

@compute @workgroup_size(${WG}, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(local_invocation_index) lid: u32) {
  exact_zero = params.zero;
  if (lid == 0u) {
    atomicStore(&w_obs, 0u);
    atomicStore(&w_sum_lo, 0u);
    atomicStore(&w_sum_hi, 0u);
  }
  workgroupBarrier();

  let i = gid.x + gid.y * params.row_threads;
  let f = gid.z;
  if (i < params.n_pixels && f < params.n_frames) {
    let raw = pixel_value(f * params.n_pixels + i);
    var ok = ((valid[i >> 5u] >> (i & 31u)) & 1u) == 1u;
    ok = ok && raw >= params.trusted_lo && raw <= params.trusted_hi;
    ok = ok && !(params.markers != 0u && (raw == -1 || raw == -2));
    ok = ok && (params.integrating != 0u || raw >= 0);
    if (!ok) {
      atomicAdd(&w_obs, 1u);
      let u = bitcast<u32>(raw);
      let old = atomicAdd(&w_sum_lo, u);
      var hi = select(0u, 0xffffffffu, raw < 0);
      if (old > 0xffffffffu - u) {
        hi = hi + 1u;
      }
      if (hi != 0u) {
        atomicAdd(&w_sum_hi, hi);
      }
    } else {
      var count: u32;
      if (params.integrating != 0u) {
        let x = round(ex((f32(raw) - params.pedestal) * params.inv_gain));
        count = u32(max(x, 0.0));
      } else {
        count = u32(raw);
      }
      let d = vec3f(vectors[3u * i], vectors[3u * i + 1u], vectors[3u * i + 2u]);
      let r0 = bitcast<vec4f>(frames[4u * f]);
      let r1 = bitcast<vec4f>(frames[4u * f + 1u]);
      let r2 = bitcast<vec4f>(frames[4u * f + 2u]);
      let frame_index = frames[4u * f + 3u].x;
      let h = vec3f(hkl_row(r0, d), hkl_row(r1, d), hkl_row(r2, d));
      let cell = cell_of(h);
      let slot = cell_slot(cell, params.lo, params.dim);
      if (slot < 0) {
        atomicAdd(&tally[4], 1u);
      } else {
        let sub = flat_sub(sub_of(h, cell, params.ndiv), params.ndiv);
        let base = (u32(slot) * params.nsub + sub) * params.stride;
        let k = params.max_count;
        atomicAdd(&acc[base + min(count, k + 1u)], 1u);
        acc_add64(base + k + 2u, count);
        acc_add64(base + k + 4u, frame_index);
        // (with CHANNELS = 0 the loop is empty; it keeps `chan` in the layout)
        let cbase = params.chan_base + (u32(slot) * params.nsub + sub) * (2u * CHANNELS);
        for (var c = 0u; c < CHANNELS; c++) {
          acc_add64(cbase + 2u * c, chan[i * CHANNELS + c]);
        }
      }
    }
  }

  workgroupBarrier();
  if (lid == 0u) {
    let n = atomicLoad(&w_obs);
    if (n != 0u) {
      let o = atomicAdd(&tally[0], n);
      if (o > 0xffffffffu - n) {
        atomicAdd(&tally[1], 1u);
      }
      let lo = atomicLoad(&w_sum_lo);
      var hi = atomicLoad(&w_sum_hi);
      let ol = atomicAdd(&tally[2], lo);
      if (ol > 0xffffffffu - lo) {
        hi = hi + 1u;
      }
      if (hi != 0u) {
        atomicAdd(&tally[3], hi);
      }
    }
  }
}
