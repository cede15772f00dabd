/**
 * hkl-map: fractional Miller indices of detector positions.
 *
 *   h = M · d,   d = s1 − s0,   M = (S · R(axis, φ) · F · A)⁻¹
 *
 * with s1 = unit(lab position) / λ and s0 the incident wave vector (DIALS
 * conventions, see src/geometry/model.ts). `d` is computed once per detector
 * position (src/geometry/pixel-vectors.ts); one M per frame carries the
 * rotation, so a frame costs one 3×3 product per pixel.
 *
 * Two layouts:
 * - grid (no `matrixIndex`): every vector × every matrix; output element
 *   (frame f, vector i) at `hkl[3·(f·n + i) + c]`;
 * - points (`matrixIndex` given): vector i uses matrix `matrixIndex[i]`; output
 *   at `hkl[3·i + c]`.
 *
 * The CPU twin is the kernel's arithmetic written out: the matrices rounded
 * to f32 (as uploaded), each row's dot product ((m0·x + m1·y) + m2·z) with
 * every product and sum rounded to f32, no fused multiply-add. Lavapipe and
 * Chromium's SwiftShader match it in every bit; a driver that contracts to
 * FMA may differ in the last bits, within HKL_MAP_TOLERANCE (|h| < 1000).
 */
import { InvalidValueError, invariant } from '../errors.ts';
import type { GpuContext } from '../host/context.ts';
import { defineProgram } from '../host/program.ts';
import { hklComponentF32 } from '../grid/subvoxel.ts';
import type { Kernel } from './kernel.ts';

export interface HklMapParams {
  /** s1 − s0 per position, 3 per position (Å⁻¹) */
  vectors: Float32Array;
  /** M per frame (or per point group), row-major, 9 per matrix */
  matrices: Float64Array | Float32Array;
  /** points mode: matrix used by each vector; absent = grid mode */
  matrixIndex?: Uint32Array;
}

export interface HklMapResult {
  /** 3 per output (h, k, l); grid: index 3·(f·nVectors + i), points: 3·i */
  hkl: Float32Array;
}

export const HKL_MAP_TOLERANCE = 1e-4;
const WG = 256;

function checkParams(p: HklMapParams): { n: number; m: number } {
  if (p.vectors.length % 3 !== 0) throw new InvalidValueError('hkl-map: vectors length is not a multiple of 3', { field: 'vectors' });
  if (p.matrices.length % 9 !== 0) throw new InvalidValueError('hkl-map: matrices length is not a multiple of 9', { field: 'matrices' });
  const n = p.vectors.length / 3;
  const m = p.matrices.length / 9;
  if (p.matrixIndex !== undefined) {
    if (p.matrixIndex.length !== n) throw new InvalidValueError(`hkl-map: matrixIndex has ${p.matrixIndex.length} entries for ${n} vectors`, { field: 'matrixIndex' });
    for (let i = 0; i < n; i++) {
      if ((p.matrixIndex[i] as number) >= m) throw new InvalidValueError(`hkl-map: matrixIndex[${i}] = ${p.matrixIndex[i]} but only ${m} matrices`, { field: 'matrixIndex' });
    }
  }
  return { n, m };
}

/** The CPU twin: the readable specification. */
export function hklMapCpu(p: HklMapParams): HklMapResult {
  const { n, m } = checkParams(p);
  const v = p.vectors;
  const M = Float32Array.from(p.matrices);
  const idx = p.matrixIndex;
  const out = new Float32Array(idx === undefined ? 3 * n * m : 3 * n);
  const frames = idx === undefined ? m : 1;
  for (let f = 0; f < frames; f++) {
    for (let i = 0; i < n; i++) {
      const mi = idx === undefined ? f : (idx[i] as number);
      const b = 9 * mi;
      const x = v[3 * i] as number;
      const y = v[3 * i + 1] as number;
      const z = v[3 * i + 2] as number;
      const o = 3 * (idx === undefined ? f * n + i : i);
      out[o] = hklComponentF32(M, b, x, y, z);
      out[o + 1] = hklComponentF32(M, b + 3, x, y, z);
      out[o + 2] = hklComponentF32(M, b + 6, x, y, z);
    }
  }
  return { hkl: out };
}

/** Matrices as 3 vec4 rows each (the WGSL layout). */
function packMatrices(M: Float64Array | Float32Array, first: number, count: number): Float32Array {
  const out = new Float32Array(12 * count);
  for (let k = 0; k < count; k++) {
    for (let r = 0; r < 3; r++) {
      for (let c = 0; c < 3; c++) out[12 * k + 4 * r + c] = M[9 * (first + k) + 3 * r + c] as number;
    }
  }
  return out;
}

export const hklMapProgram = defineProgram({
  name: 'hkl-map',
  defines: { WG: 'number', POINTS: 'boolean' },
  bindings: { params: 'uniform', vectors: 'read', matrices: 'read', hkl: 'read_write', matrix_index: { kind: 'read', when: 'POINTS' } },
  uniforms: { n_vectors: 'u32', n_matrices: 'u32', row_threads: 'u32', _pad: 'u32' },
});

/** The GPU path. Grid mode batches frames so each output binding fits the device limits. */
export async function hklMapGpu(ctx: GpuContext, p: HklMapParams): Promise<HklMapResult> {
  const { n, m } = checkParams(p);
  const maxBinding = Math.min(ctx.limits.maxStorageBufferBindingSize, ctx.limits.maxBufferSize);
  if (n === 0 || m === 0) return { hkl: new Float32Array(p.matrixIndex === undefined ? 3 * n * m : 3 * n) };
  if (n * 12 > maxBinding) {
    throw new InvalidValueError(`hkl-map: ${n} positions exceed one storage binding (${maxBinding} bytes); split the detector`, { field: 'vectors' });
  }
  const vecBuf = ctx.input('hkl-map vectors', p.vectors);
  const [gx, gy] = ctx.grid(n, WG);
  const row_threads = gx * WG;
  try {
    if (p.matrixIndex !== undefined) {
      const matBuf = ctx.upload('hkl-map matrices', packMatrices(p.matrices, 0, m));
      const idxBuf = ctx.input('hkl-map matrix index', p.matrixIndex);
      const outBuf = ctx.buffer('hkl-map output', 12 * n);
      try {
        await ctx.run(hklMapProgram, {
          defines: { WG, POINTS: true },
          uniforms: { n_vectors: n, n_matrices: m, row_threads },
          bindings: { vectors: vecBuf, matrices: matBuf, hkl: outBuf, matrix_index: idxBuf },
          workgroups: [gx, gy, 1],
        });
        return { hkl: new Float32Array(await ctx.read(outBuf, 12 * n)) };
      } finally {
        ctx.release(matBuf, idxBuf, outBuf);
      }
    }
    const out = new Float32Array(3 * n * m);
    const perBatch = Math.max(1, Math.min(m, ctx.limits.maxComputeWorkgroupsPerDimension, Math.floor(maxBinding / (12 * n))));
    for (let first = 0; first < m; first += perBatch) {
      const count = Math.min(perBatch, m - first);
      invariant(count * n * 12 <= maxBinding, 'hkl-map batch fits one binding');
      const matBuf = ctx.upload('hkl-map matrices', packMatrices(p.matrices, first, count));
      const outBuf = ctx.buffer('hkl-map output', 12 * n * count);
      try {
        // kernel and readback: one encoder, one submit
        const hkl = await ctx.batch('hkl-map', async () => {
          await ctx.run(hklMapProgram, {
            defines: { WG, POINTS: false },
            uniforms: { n_vectors: n, n_matrices: count, row_threads },
            bindings: { vectors: vecBuf, matrices: matBuf, hkl: outBuf },
            workgroups: [gx, gy, count],
          });
          return ctx.read(outBuf, 12 * n * count);
        });
        out.set(new Float32Array(hkl), 3 * n * first);
      } finally {
        ctx.release(matBuf, outBuf);
      }
    }
    return { hkl: out };
  } finally {
    ctx.release(vecBuf);
  }
}

export const hklMapKernel: Kernel<HklMapParams, HklMapResult> = {
  name: 'hkl-map',
  cpu: hklMapCpu,
  gpu: hklMapGpu,
};
