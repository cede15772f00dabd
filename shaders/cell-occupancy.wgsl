// cell-occupancy: one bit per cell of the wedge's box, set when a statically
// valid pixel of one of the wedge's frames falls in that cell (the second
// geometry pass of the voxel grid; no pixel values are read).
//
// Per pixel i and frame f: h = M_f · d_i in deterministic f32
// (lib/voxel-index.wgsl), cell = ceil(h − ½), key = box-linear index of the
// cell in [lo, lo + dim); bit (key & 31) of word (key >> 5) is set.
//
// Compile-time defines:
//   WG  workgroup size along x (256)
//
// Bindings (group 0):
//   0 uniform  params: n_pixels, n_frames, row_threads, zero (0), lo (vec3i), pad,
//              dim (vec3u), pad
//   1 storage, read        vectors: array<f32>, 3 per pixel
//   2 storage, read        valid:   array<u32>, static mask bits
//   3 storage, read        rows:    array<vec4f>, 3 per frame
//   4 storage, read_write  bitmap:  array<atomic<u32>>, ceil(box cells / 32) words,
//                                   cleared by the host
//   5 storage, read_write  missed:  array<atomic<u32>, 1>: pixels outside the box
//                                   (0 when the box came from cell-bounds)
//
// Workgroup layout: @workgroup_size(WG, 1, 1); dispatch (gx, gy, frames),
// pixel i = gid.x + gid.y · row_threads, frame = gid.z.
//
// Invariants: atomicOr is idempotent and commutative, so the bitmap does not
// depend on invocation order; a bit already set is not written again.

struct Params {
  n_pixels: u32,
  n_frames: u32,
  row_threads: u32,
  zero: u32,
  lo: vec3i,
  _pad0: u32,
  dim: vec3u,
  _pad1: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> vectors: array<f32>;
@group(0) @binding(2) var<storage, read> valid: array<u32>;
@group(0) @binding(3) var<storage, read> rows: array<vec4f>;
@group(0) @binding(4) var<storage, read_write> bitmap: array<atomic<u32>>;
@group(0) @binding(5) var<storage, read_write> missed: array<atomic<u32>, 1>;

// declared for lib/voxel-index.wgsl's cell_slot, which this kernel never calls:
// not part of the pipeline layout, never bound.
@group(0) @binding(6) var<storage, read> cell_table: array<vec2u>;

//!include lib/exact-f32.wgsl
//!include lib/voxel-index.wgsl

@compute @workgroup_size(${WG}, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  exact_zero = params.zero;
  let i = gid.x + gid.y * params.row_threads;
  let f = gid.z;
  if (i >= params.n_pixels || f >= params.n_frames || ((valid[i >> 5u] >> (i & 31u)) & 1u) == 0u) {
    return;
  }
  let d = vec3f(vectors[3u * i], vectors[3u * i + 1u], vectors[3u * i + 2u]);
  let h = vec3f(hkl_row(rows[3u * f], d), hkl_row(rows[3u * f + 1u], d), hkl_row(rows[3u * f + 2u], d));
  let key = cell_key(cell_of(h), params.lo, params.dim);
  if (key == 0xffffffffu) {
    atomicAdd(&missed[0], 1u);
    return;
  }
  let w = key >> 5u;
  let bit = 1u << (key & 31u);
  if ((atomicLoad(&bitmap[w]) & bit) == 0u) {
    atomicOr(&bitmap[w], bit);
  }
}
