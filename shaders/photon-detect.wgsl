// photon-detect: single-photon hits on a CMOS frame (FemtoMAX "photonize").
//
// Per pixel of the ROI crop: ff = max(x − threshold, 0). Every pixel p with
// ff(p) > 0 points at the FIRST maximum, in row-major order, of ff over its
// 3×3 window: its "hottest pixel" h(p). A hit is a pixel h with h(p) = h for
// some p; all pixels pointing at h form one hit. Its energy is Σ ff over the
// 3×3 window of h (row-major f32 sum) and its position the ff-weighted centre
// of gravity in that window, (row, col) as floats. Hits with energy > emin are
// accepted.
//
// This invocation owns candidate pixel h and checks the 9 pixels p of h's
// window (h(p) ∈ window(p) ⇔ p ∈ window(h)), so no intermediate buffer is
// needed. Pixels with ff = 0 (most of a sparse frame) stop after one read; the
// others load their 5×5 neighbourhood (p's window reaches 2 pixels from h)
// into registers once. Pixels outside the crop count as −1 ("absent": never a
// maximum, 0 in sums). (A 20×20 workgroup-memory tile was measured slower on
// lavapipe: the barrier costs more than the few neighbourhood reads.)
//
// Compile-time defines:
//   WG_X, WG_Y  workgroup size (16 × 16)
//   REFERENCE   true: the original pipeline's edge rules — seeds p in row 0 or
//               column 0 yield nothing (Python's x−1 = −1 slice is empty) and a
//               hottest pixel in row 0 or column 0 has an empty window (energy
//               0, never accepted); windows at the bottom and right edges are
//               truncated. false ("local-max"): h must be the first maximum of
//               its own window; windows are truncated at all four edges.
//   U16         true: frames are uint16 packed two per u32 (element 2k in the
//               low half); false: f32
//   CLEAN       add 1 to clean[floor(row)·width + floor(col)] per accepted hit
//   STATS       keep the energy histogram (all candidate hits, before the
//               emin cut) and the per-frame maximum accepted energy; false in
//               the re-run that only fetches hit records after an overflow
//
// Bindings (group 0):
//   0 uniform  params (see struct Params)
//   1 storage, read        frames: f32 or packed u16, n_frames × height × width
//   2 storage, read_write  hits: array<Hit>, capacity entries
//   3 storage, read_write  stats: atomic<u32>; [0] accepted-hit count (may
//              exceed capacity: then records past capacity are dropped and the
//              host re-runs with room), [1] candidate hits before the emin cut
//              (STATS), [2 + f] bits of frame f's largest accepted energy
//              (positive f32 bits order like u32) (STATS)
//   4 storage, read_write  hist: atomic<u32> × max(1, hist_bins)     (STATS)
//   5 storage, read_write  clean: atomic<u32> × width·height         (CLEAN)
//
// Workgroup layout: @workgroup_size(WG_X, WG_Y, 1), dispatch
// (ceil(width/WG_X), ceil(height/WG_Y), n_frames); pixel (row, col) =
// (gid.y, gid.x), frame = gid.z.
//
// Invariants: the SET of hits, their energies and histogram bins are
// independent of dispatch order (energies are fixed-order f32 sums); only the
// order of records in `hits` varies, so the host sorts them by
// (frame, row, col). The CPU twin (src/kernels/photon-detect.ts) performs the
// same f32 operations; positions agree to 1e-5.

struct Params {
  width: u32,
  height: u32,
  n_frames: u32,
  capacity: u32,
  threshold: f32,
  emin: f32,
  hist_min: f32,
  hist_inv_width: f32,
  hist_bins: u32,
  _pad0: u32,
  _pad1: u32,
  _pad2: u32,
}

struct Hit {
  frame: u32,
  row: u32,
  col: u32,
  energy: f32,
  pos_row: f32,
  pos_col: f32,
}

@group(0) @binding(0) var<uniform> params: Params;
#if ${U16}
@group(0) @binding(1) var<storage, read> frames: array<u32>;
#else
@group(0) @binding(1) var<storage, read> frames: array<f32>;
#endif
@group(0) @binding(2) var<storage, read_write> hits: array<Hit>;
@group(0) @binding(3) var<storage, read_write> stats: array<atomic<u32>>;
#if ${STATS}
@group(0) @binding(4) var<storage, read_write> hist: array<atomic<u32>>;
#endif
#if ${CLEAN}
@group(0) @binding(5) var<storage, read_write> clean: array<atomic<u32>>;
#endif

fn raw_value(i: u32) -> f32 {
#if ${U16}
  let word = frames[i >> 1u];
  return f32((word >> ((i & 1u) << 4u)) & 0xffffu);
#else
  return frames[i];
#endif
}

// ff at (r, c) of this frame, −1 outside the crop ("absent")
fn ffv(base: u32, r: i32, c: i32) -> f32 {
  if (r < 0 || c < 0 || r >= i32(params.height) || c >= i32(params.width)) {
    return -1.0;
  }
  return max(raw_value(base + u32(r) * params.width + u32(c)) - params.threshold, 0.0);
}

// Offset (dr, dc) of the first maximum of the 3×3 window centred at (cr, cc)
// of the 5×5 neighbourhood `nb` (index (row + 2)·5 + col + 2).
fn argmax3(nb: ptr<function, array<f32, 25>>, cr: i32, cc: i32) -> vec2<i32> {
  var best = -2.0;
  var at = vec2<i32>(0, 0);
  for (var dr = -1; dr <= 1; dr++) {
    for (var dc = -1; dc <= 1; dc++) {
      let v = (*nb)[(cr + dr + 2) * 5 + cc + dc + 2];
      if (v > best) {
        best = v;
        at = vec2<i32>(dr, dc);
      }
    }
  }
  return at;
}

@compute @workgroup_size(${WG_X}, ${WG_Y}, 1)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let r = i32(gid.y);
  let c = i32(gid.x);
  if (r >= i32(params.height) || c >= i32(params.width)) {
    return;
  }
  let frame = gid.z;
  let base = frame * params.width * params.height;
  // most pixels stop here: one read
  if (ffv(base, r, c) <= 0.0) {
    return;
  }
  // the 5×5 neighbourhood: every window this pixel's decision needs
  var nb: array<f32, 25>;
  for (var i = -2; i <= 2; i++) {
    for (var j = -2; j <= 2; j++) {
      nb[(i + 2) * 5 + j + 2] = ffv(base, r + i, c + j);
    }
  }
  var is_hit = false;
#if ${REFERENCE}
  if (r == 0 || c == 0) {
    return;
  }
  for (var dr = -1; dr <= 1; dr++) {
    for (var dc = -1; dc <= 1; dc++) {
      if (r + dr >= 1 && c + dc >= 1 && nb[(dr + 2) * 5 + dc + 2] > 0.0) {
        let a = argmax3(&nb, dr, dc);
        if (a.x == -dr && a.y == -dc) {
          is_hit = true;
        }
      }
    }
  }
#else
  let a = argmax3(&nb, 0, 0);
  is_hit = a.x == 0 && a.y == 0;
#endif
  if (!is_hit) {
    return;
  }
  var e = 0.0;
  var sr = 0.0;
  var sc = 0.0;
  for (var dr = -1; dr <= 1; dr++) {
    for (var dc = -1; dc <= 1; dc++) {
      let v = max(nb[(dr + 2) * 5 + dc + 2], 0.0);
      e = e + v;
      sr = sr + v * f32(dr);
      sc = sc + v * f32(dc);
    }
  }
  let pos_r = f32(r) + sr / e;
  let pos_c = f32(c) + sc / e;
#if ${STATS}
  atomicAdd(&stats[1], 1u);
  if (params.hist_bins > 0u) {
    let x = (e - params.hist_min) * params.hist_inv_width;
    if (x >= 0.0 && x < f32(params.hist_bins)) {
      atomicAdd(&hist[u32(x)], 1u);
    }
  }
#endif
  if (!(e > params.emin)) {
    return;
  }
  let idx = atomicAdd(&stats[0], 1u);
  if (idx < params.capacity) {
    hits[idx] = Hit(frame, u32(r), u32(c), e, pos_r, pos_c);
  }
#if ${STATS}
  atomicMax(&stats[2u + frame], bitcast<u32>(e));
#endif
#if ${CLEAN}
  let cr = min(u32(floor(pos_r)), params.height - 1u);
  let cc = min(u32(floor(pos_c)), params.width - 1u);
  atomicAdd(&clean[cr * params.width + cc], 1u);
#endif
}
