// hkl-map: fractional Miller indices h = M · d for detector positions.
//
// d = s1 − s0 (Å⁻¹) is precomputed once per detector position (pixel centre or
// any point) on the host; M = (S·R(φ)·F·A)⁻¹ is one 3×3 matrix per frame (or
// per point), so per frame only the rotation changes.
//
// Compile-time defines:
//   WG      workgroup size along x (256)
//   POINTS  false: grid mode, every vector × every matrix; output index
//                  o = frame · n_vectors + i, frame = global_invocation_id.z
//           true:  points mode, vector i uses matrix matrix_index[i]; o = i
//
// Bindings (group 0):
//   0 uniform  params: n_vectors, n_matrices, row_threads (invocations per
//              dispatch row, for 2-D folding of large vector counts), pad
//   1 storage, read        vectors:  array<f32>, 3 per vector (x, y, z)
//   2 storage, read        matrices: array<vec4f>, 3 rows per matrix (w unused)
//   3 storage, read_write  hkl:      array<f32>, 3 per output (h, k, l)
//   4 storage, read        matrix_index: array<u32> (POINTS only)
//
// Workgroup layout: @workgroup_size(WG, 1, 1); dispatch (gx, gy, frames) in grid
// mode, (gx, gy, 1) in points mode; vector index i = gid.x + gid.y · row_threads.
//
// Invariants: each output element is written by exactly one invocation; no
// atomics, so results do not depend on dispatch order. Arithmetic is f32; the
// CPU twin (src/kernels/hkl-map.ts) agrees to 1e-4 in h, k, l.

struct Params {
  n_vectors: u32,
  n_matrices: u32,
  row_threads: u32,
  _pad: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> vectors: array<f32>;
@group(0) @binding(2) var<storage, read> matrices: array<vec4f>;
@group(0) @binding(3) var<storage, read_write> hkl: array<f32>;
#if ${POINTS}
@group(0) @binding(4) var<storage, read> matrix_index: array<u32>;
#endif

@compute @workgroup_size(${WG}, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x + gid.y * params.row_threads;
  if (i >= params.n_vectors) {
    return;
  }
#if ${POINTS}
  let m = matrix_index[i];
  let o = i;
#else
  let m = gid.z;
  let o = gid.z * params.n_vectors + i;
#endif
  if (m >= params.n_matrices) {
    return;
  }
  let d = vec3f(vectors[3u * i], vectors[3u * i + 1u], vectors[3u * i + 2u]);
  hkl[3u * o] = dot(matrices[3u * m].xyz, d);
  hkl[3u * o + 1u] = dot(matrices[3u * m + 1u].xyz, d);
  hkl[3u * o + 2u] = dot(matrices[3u * m + 2u].xyz, d);
}
