// cell-bounds: the smallest and largest cell (H, K, L) that the statically
// valid pixels of a wedge's frames reach (the first geometry pass of the
// voxel grid; no pixel values are read).
//
// Per pixel i and frame f: h = M_f · d_i in deterministic f32
// (lib/voxel-index.wgsl), cell = ceil(h − ½).
//
// Compile-time defines:
//   WG  workgroup size along x (256)
//
// Bindings (group 0):
//   0 uniform  params: n_pixels, n_frames, row_threads, zero (must be 0: the
//              run-time zero of lib/exact-f32.wgsl)
//   1 storage, read        vectors: array<f32>, 3 per pixel (d = s1 − s0)
//   2 storage, read        valid:   array<u32>, bit (i & 31) of word i >> 5 = pixel i usable
//   3 storage, read        rows:    array<vec4f>, 3 per frame (rows of M_f, w unused)
//   4 storage, read_write  bounds:  array<atomic<i32>, 6>: min H, K, L, max H, K, L;
//                                   the host sets (i32 max ×3, i32 min ×3) first
//
// Workgroup layout: @workgroup_size(WG, 1, 1); dispatch (gx, gy, frames),
// pixel i = gid.x + gid.y · row_threads, frame = gid.z.
//
// Invariants: each workgroup reduces in workgroup memory and issues at most 6
// global atomics (no early return before the barriers); min/max do not depend
// on the order of invocations. An all-masked wedge leaves min > max.

struct Params {
  n_pixels: u32,
  n_frames: u32,
  row_threads: u32,
  zero: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> vectors: array<f32>;
@group(0) @binding(2) var<storage, read> valid: array<u32>;
@group(0) @binding(3) var<storage, read> rows: array<vec4f>;
@group(0) @binding(4) var<storage, read_write> bounds: array<atomic<i32>, 6>;

// declared for lib/voxel-index.wgsl's cell_slot, which this kernel never calls:
// not part of the pipeline layout, never bound.
@group(0) @binding(5) var<storage, read> cell_table: array<vec2u>;

var<workgroup> wb: array<atomic<i32>, 6>;
var<workgroup> wany: atomic<u32>;

//!include lib/exact-f32.wgsl
//!include lib/voxel-index.wgsl

@compute @workgroup_size(${WG}, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(local_invocation_index) lid: u32) {
  exact_zero = params.zero;
  if (lid == 0u) {
    for (var k = 0u; k < 3u; k++) {
      atomicStore(&wb[k], 2147483647);
      atomicStore(&wb[k + 3u], -2147483647 - 1);
    }
    atomicStore(&wany, 0u);
  }
  workgroupBarrier();
  let i = gid.x + gid.y * params.row_threads;
  let f = gid.z;
  if (i < params.n_pixels && f < params.n_frames && ((valid[i >> 5u] >> (i & 31u)) & 1u) == 1u) {
    let d = vec3f(vectors[3u * i], vectors[3u * i + 1u], vectors[3u * i + 2u]);
    let h = vec3f(hkl_row(rows[3u * f], d), hkl_row(rows[3u * f + 1u], d), hkl_row(rows[3u * f + 2u], d));
    let c = cell_of(h);
    atomicMin(&wb[0], c.x);
    atomicMin(&wb[1], c.y);
    atomicMin(&wb[2], c.z);
    atomicMax(&wb[3], c.x);
    atomicMax(&wb[4], c.y);
    atomicMax(&wb[5], c.z);
    atomicStore(&wany, 1u);
  }
  workgroupBarrier();
  if (lid == 0u && atomicLoad(&wany) == 1u) {
    for (var k = 0u; k < 3u; k++) {
      atomicMin(&bounds[k], atomicLoad(&wb[k]));
      atomicMax(&bounds[k + 3u], atomicLoad(&wb[k + 3u]));
    }
  }
}
