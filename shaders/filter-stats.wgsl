// filter-stats: the neighbourhood statistics of the Poisson outlier filter
// (mdx-lib's method, re-derived; CPU twin and specification:
// src/kernels/filter-stats.ts).
//
// A subvoxel v takes part when it has pixel·frames and no count above K
// (P_v = Σ_c hist_v[c] > 0 and overflow_v = 0). Its neighbourhood N(v) is
// every taking-part subvoxel at an offset of the ball (consts, lexicographic
// order, Δ·Δ ≤ window²) in global subvoxel index space, v included.
//
// PHASE 1, per taking-part v:
//   members j ∈ N(v) in ball order: rate S_j/P_j, weight P_j
//     (S_j = Σ_c c·hist_j[c]); pooled histogram n_c = Σ_j hist_j[c], N = Σ_j P_j
//   λ_v = pixel-weighted median of the rates: members sorted by their exact
//     rate (64-bit cross products S_a·P_b vs S_b·P_a; stable: ties keep ball
//     order), r_k = S_k · (1/P_k) in f32; with cumulative weights W_k (W_{−1} = 0) the first
//     k with W_{k−1} + W_k ≤ N ≤ W_k + W_{k+1} gives
//     λ = r_k + (r_{k+1} − r_k) · (N − W_{k−1} − W_k) / (w_k + w_{k+1})
//     (linear interpolation at ½ between the midpoints of the cumulative
//     weights; one member: its rate), then λ = max(λ, ½ · (1/N))
//   T_v = Σ_{c: n_c>0} n_c · (ln n_c − ln q_c(λ)),  ln q_c = (−λ + c·ln λ) − ln c!
//   (so the divergence D_v = KL(n/N ‖ Poisson(λ)) = T_v/N − ln N)
//   out: stats[v] = (λ, T, N, 0) as bits, chtot[v] = n_0…n_K; zeros when v
//   does not take part.
// PHASE 2, per taking-part v:
//   ΔD_v = Σ_{j ∈ N(v)} (D_j^{−v} − D_j) in ball order (by the ball's symmetry,
//   the neighbourhoods containing v are those of its neighbours), with
//   D_j^{−v} the divergence of j's pooled histogram without v's (λ_j fixed):
//   T' = T_j, for each c with hist_v[c] > 0: T' = (T' − term(n_c)) + term(n_c − hist_v[c]),
//   D' = T'/N' − ln N', N' = N_j − P_v; an emptied neighbourhood (N' = 0) has D' = 0.
//   out: delta[v] (0 when v does not take part)
//
// All arithmetic is the deterministic f32 of lib/exact-f32.wgsl, in the order
// written here, so both backends give the same bits.
//
// Compile-time defines:
//   WG        workgroup size along x (128)
//   BALL      offsets in the ball (33 for window 2)
//   NBINS     K + 1 histogram bins
//   PHASE2    false: phase 1; true: phase 2
//
// Bindings (group 0):
//   0 uniform  params (struct Params; zero must be 0)
//   1 storage, read        consts:     array<u32>: ln tables (lib/exact-log.wgsl), ln c! at
//                                      CONSTS_LOGFACT (f32 bits), the ball at off_ball (3 i32 each)
//   2 storage, read        cell_table: array<vec2u>, (bits, rank) per 32 box cells
//   3 storage, read        keys:       array<u32>, box-linear key per cell slot
//   4 storage, read        acc:        array<u32>, the voxel-accumulate records (stride words)
//   5 storage, read_write  stats:      array<vec4u>, per voxel (λ, T, N, 0)
//                                      (phase 1 writes, phase 2 reads)
//   6 storage, read_write  chtot:      array<u32>, NBINS per voxel (phase 1 writes)
//   7 storage, read_write  delta:      array<f32>, per voxel ΔD (phase 2 only)
//
// Workgroup layout: @workgroup_size(WG, 1, 1); one invocation per voxel,
// v = gid.x + gid.y · row_threads.
//
// Invariants: no atomics; each output element is written by one invocation;
// phase 2 reads only what phase 1 wrote (separate dispatches).

struct Params {
  n_voxels: u32,
  row_threads: u32,
  zero: u32,
  max_count: u32,
  lo: vec3i,
  stride: u32,
  dim: vec3u,
  nsub: u32,
  ndiv: vec3i,
  ball_size: u32,
  off_ball: u32,
  n_cells: u32,
  _pad0: u32,
  _pad1: u32,
}

const CONSTS_LOGFACT: u32 = 258u;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> consts: array<u32>;
@group(0) @binding(2) var<storage, read> cell_table: array<vec2u>;
@group(0) @binding(3) var<storage, read> keys: array<u32>;
@group(0) @binding(4) var<storage, read> acc: array<u32>;
@group(0) @binding(5) var<storage, read_write> stats: array<vec4u>;
@group(0) @binding(6) var<storage, read_write> chtot: array<u32>;
#if ${PHASE2}
@group(0) @binding(7) var<storage, read_write> delta: array<f32>;
#endif

//!include lib/exact-f32.wgsl
//!include lib/exact-log.wgsl
//!include lib/voxel-index.wgsl

fn floor_div(a: i32, n: i32) -> i32 {
  let q = a / n;
  if (a < 0 && q * n != a) {
    return q - 1;
  }
  return q;
}

// Global subvoxel coordinate g = n·cell + (sub − 1) of voxel v.
fn voxel_global(v: u32) -> vec3i {
  let slot = v / params.nsub;
  let s = v % params.nsub;
  let key = keys[slot];
  let dim = params.dim;
  let c2 = key % dim.z;
  let r = key / dim.z;
  let c1 = r % dim.y;
  let c0 = r / dim.y;
  let cell = vec3i(i32(c0), i32(c1), i32(c2)) + params.lo;
  let n = params.ndiv;
  let iz = s % u32(n.z);
  let r2 = s / u32(n.z);
  let iy = r2 % u32(n.y);
  let ix = r2 / u32(n.y);
  return n * cell + vec3i(i32(ix), i32(iy), i32(iz));
}

// The voxel at global subvoxel coordinate g, or −1 when its cell is not in the table.
fn voxel_at(g: vec3i) -> i32 {
  let n = params.ndiv;
  let cell = vec3i(floor_div(g.x, n.x), floor_div(g.y, n.y), floor_div(g.z, n.z));
  let slot = cell_slot(cell, params.lo, params.dim);
  if (slot < 0) {
    return -1;
  }
  let s = g - n * cell;
  return slot * i32(params.nsub) + (s.x * n.y + s.y) * n.z + s.z;
}

// a·b as a u64 (hi, lo), from 16-bit limbs.
fn mul64(a: u32, b: u32) -> vec2u {
  let a0 = a & 0xffffu;
  let a1 = a >> 16u;
  let b0 = b & 0xffffu;
  let b1 = b >> 16u;
  let p00 = a0 * b0;
  let p01 = a0 * b1;
  let p10 = a1 * b0;
  let mid = (p00 >> 16u) + (p01 & 0xffffu) + (p10 & 0xffffu);
  return vec2u(a1 * b1 + (p01 >> 16u) + (p10 >> 16u) + (mid >> 16u), (p00 & 0xffffu) | (mid << 16u));
}

// The rate s1/p1 is above s2/p2 (exact: s1·p2 > s2·p1).
fn rate_above(s1: u32, p1: u32, s2: u32, p2: u32) -> bool {
  let x = mul64(s1, p2);
  let y = mul64(s2, p1);
  return x.x > y.x || (x.x == y.x && x.y > y.y);
}

fn ball(k: u32) -> vec3i {
  let o = params.off_ball + 3u * k;
  return vec3i(bitcast<i32>(consts[o]), bitcast<i32>(consts[o + 1u]), bitcast<i32>(consts[o + 2u]));
}

// The f32 count rate s · (1/p).
fn rate_of(s: u32, p: u32) -> f32 {
  return ex(u2f(s) * recipx(u2f(p)));
}

fn log_fact(c: u32) -> f32 {
  return bitcast<f32>(consts[CONSTS_LOGFACT + c]);
}

// ln q_c(λ) = (−λ + c·ln λ) − ln c!
fn log_q(c: u32, lam: f32, log_lam: f32) -> f32 {
  return ((-lam) + ex(f32(c) * log_lam)) - log_fact(c);
}

// n · (ln n − ln q_c), n > 0
fn kl_term(n: u32, lq: f32) -> f32 {
  let nf = u2f(n);
  return ex(nf * (logx(nf) - lq));
}

// D = T/N − ln N, N > 0
fn divergence(t: f32, n: u32) -> f32 {
  let nf = u2f(n);
  return ex(t * recipx(nf)) - logx(nf);
}

@compute @workgroup_size(${WG}, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  exact_zero = params.zero;
  let v = gid.x + gid.y * params.row_threads;
  if (v >= params.n_voxels) {
    return;
  }
  let K = params.max_count;
  let stride = params.stride;
  let bv = v * stride;
  var hv: array<u32, ${NBINS}>;
  var pv = 0u;
  for (var c = 0u; c <= K; c++) {
    hv[c] = acc[bv + c];
    pv += hv[c];
  }
  let takes_part = pv > 0u && acc[bv + K + 1u] == 0u;

#if ${PHASE2}
  if (!takes_part) {
    delta[v] = 0.0;
    return;
  }
  let g = voxel_global(v);
  var dd = 0.0;
  for (var k = 0u; k < params.ball_size; k++) {
    let j = voxel_at(g + ball(k));
    if (j < 0) {
      continue;
    }
    let st = stats[u32(j)];
    let nj = st.z;
    if (nj == 0u) {
      continue;
    }
    let lam = bitcast<f32>(st.x);
    let t = bitcast<f32>(st.y);
    let dj = divergence(t, nj);
    let np = nj - pv;
    var dp = 0.0;
    if (np > 0u) {
      let log_lam = logx(lam);
      var tp = t;
      let cb = u32(j) * (K + 1u);
      for (var c = 0u; c <= K; c++) {
        let h = hv[c];
        if (h == 0u) {
          continue;
        }
        let lq = log_q(c, lam, log_lam);
        let n = chtot[cb + c];
        tp = tp - kl_term(n, lq);
        if (n > h) {
          tp = tp + kl_term(n - h, lq);
        }
      }
      dp = divergence(tp, np);
    }
    dd = dd + (dp - dj);
  }
  delta[v] = dd;
#else
  let cb = v * (K + 1u);
  if (!takes_part) {
    stats[v] = vec4u(0u);
    for (var c = 0u; c <= K; c++) {
      chtot[cb + c] = 0u;
    }
    return;
  }
  let g = voxel_global(v);
  var sum: array<u32, ${BALL}>;
  var wt: array<u32, ${BALL}>;
  var hist: array<u32, ${NBINS}>;
  var m = 0u;
  var total = 0u;
  for (var k = 0u; k < params.ball_size; k++) {
    let j = voxel_at(g + ball(k));
    if (j < 0) {
      continue;
    }
    let bj = u32(j) * stride;
    if (acc[bj + K + 1u] != 0u) {
      continue;
    }
    var p = 0u;
    var s = 0u;
    for (var c = 0u; c <= K; c++) {
      let h = acc[bj + c];
      p += h;
      s += c * h;
      hist[c] += h;
    }
    if (p == 0u) {
      continue;
    }
    // insertion by the exact rate s/p (stable: equal rates keep ball order)
    var b = m;
    while (b > 0u && rate_above(sum[b - 1u], wt[b - 1u], s, p)) {
      sum[b] = sum[b - 1u];
      wt[b] = wt[b - 1u];
      b--;
    }
    sum[b] = s;
    wt[b] = p;
    m++;
    total += p;
  }
  var lam = rate_of(sum[0], wt[0]);
  if (m > 1u) {
    lam = rate_of(sum[m - 1u], wt[m - 1u]);
    var wprev = 0u;
    for (var k = 0u; k + 1u < m; k++) {
      let wk = wprev + wt[k];
      if (wprev + wk <= total && total <= wk + wk + wt[k + 1u]) {
        let t = ex(u2f(total - wprev - wk) * recipx(u2f(wt[k] + wt[k + 1u])));
        let r0 = rate_of(sum[k], wt[k]);
        let r1 = rate_of(sum[k + 1u], wt[k + 1u]);
        lam = r0 + ex((r1 - r0) * t);
        break;
      }
      wprev = wk;
    }
  }
  lam = max(lam, ex(0.5 * recipx(u2f(total))));
  let log_lam = logx(lam);
  var t = 0.0;
  for (var c = 0u; c <= K; c++) {
    let n = hist[c];
    chtot[cb + c] = n;
    if (n > 0u) {
      t = t + kl_term(n, log_q(c, lam, log_lam));
    }
  }
  stats[v] = vec4u(bitcast<u32>(lam), bitcast<u32>(t), total, 0u);
#endif
}
