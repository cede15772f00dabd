// Pixel → fractional hkl → cell and subvoxel, and the cell → slot lookup
// (CPU emulation: src/grid/subvoxel.ts and src/grid/cell-table.ts).
// Needs lib/exact-f32.wgsl (ex). The cell lookup reads the including shader's
// `cell_table: array<vec2u>` ((bits, rank) per 32 box cells).

// h = (M_r0·d0 + M_r1·d1) + M_r2·d2 for one row of M, products rounded first.
fn hkl_row(row: vec4f, d: vec3f) -> f32 {
  return (ex(row.x * d.x) + ex(row.y * d.y)) + ex(row.z * d.z);
}

// Cell index H = ceil(h − ½), componentwise.
fn cell_of(h: vec3f) -> vec3i {
  return vec3i(ceil(h - vec3f(0.5)));
}

// 1-based subvoxel ix = ceil(n·((h − H) + ½)), componentwise, clamped to 1…n.
fn sub_of(h: vec3f, cell: vec3i, n: vec3i) -> vec3i {
  let t = h - vec3f(cell);
  let nf = vec3f(n);
  let s = vec3f(ex((t.x + 0.5) * nf.x), ex((t.y + 0.5) * nf.y), ex((t.z + 0.5) * nf.z));
  return clamp(vec3i(ceil(s)), vec3i(1), n);
}

// Flat subvoxel index ((ix−1)·n2 + (iy−1))·n3 + (iz−1).
fn flat_sub(s: vec3i, n: vec3i) -> u32 {
  return u32(((s.x - 1) * n.y + (s.y - 1)) * n.z + (s.z - 1));
}

// Box-linear key of a cell, or 0xffffffff outside the box [lo, lo + dim).
fn cell_key(c: vec3i, lo: vec3i, dim: vec3u) -> u32 {
  let a = c - lo;
  if (any(a < vec3i(0)) || any(vec3u(a) >= dim)) {
    return 0xffffffffu;
  }
  let u = vec3u(a);
  return (u.x * dim.y + u.y) * dim.z + u.z;
}

// Slot of a cell in the wedge's table, or −1.
fn cell_slot(c: vec3i, lo: vec3i, dim: vec3u) -> i32 {
  let key = cell_key(c, lo, dim);
  if (key == 0xffffffffu) {
    return -1;
  }
  let e = cell_table[key >> 5u];
  let bit = key & 31u;
  if (((e.x >> bit) & 1u) == 0u) {
    return -1;
  }
  return i32(e.y + countOneBits(e.x & ((1u << bit) - 1u)));
}
