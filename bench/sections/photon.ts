/**
 * Photon-level reduction:
 * - photon detection throughput on 4104 × 4128 uint16 CMOS frames (the Balor's
 *   size) at 1 % and 10 % hit-pixel density (fraction of pixels above the
 *   counting threshold), `reference` mode, in frames/s and Mpixel/s: GPU end
 *   to end (upload, kernel, readback of the hits, histogram and maxima; no
 *   clean image, as the session runs it) and kernel only; CPU twin;
 * - azimuthal integration of a 4104 × 4128 image into 2000 q bins (geometry
 *   precomputed), Mpixel/s, GPU end to end and CPU twin.
 * - the whole `diffract photon --threshold 108 --emin 800 --correction none
 *   --backend cpu` process on Balor-sized uint16 frames (about 2 % of the
 *   pixels above the threshold; an HDF5 stack generated once under
 *   bench/.cache/): wall time, µs per pixel·frame and the child's peak RSS
 *   (from its end summary) on 1, 2 and all threads (DIFFRACT_THREADS), for
 *   4 frames, and on all threads for 8 frames (peak RSS flat in the frame
 *   count). The FemtoMAX pipeline's numpy `photonize` took 27.4 s at 0.42 GiB
 *   on the same 4 frames (issue 14, 2-core VM).
 * `size` scales the number of frames per measurement (default 1 → 2 frames).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { azimuthalIntegrateCpu, azimuthalIntegrateGpu, type AzimuthalIntegrateParams } from '../../src/kernels/azimuthal-integrate.ts';
import { PHOTON_DEFAULTS, photonDetectCpu, photonDetectGpu, photonDetectProgram, type PhotonDetectParams } from '../../src/kernels/photon-detect.ts';
import { FrameDetector, HitColumns } from '../../src/photon/frame-detector.ts';
import { buildBinMap } from '../../src/photon/geometry.ts';
import { mulberry32 } from '../../src/util/random.ts';
import { timeMedian, type BenchRow, type BenchSection } from '../harness.ts';
import { BALOR_COLS, BALOR_ROWS, balorFrame, balorStack } from '../inputs/balor-stack.ts';

const ROWS = BALOR_ROWS;
const COLS = BALOR_COLS;
const DENSITIES = [0.01, 0.1];

/** uint16 frames: offset 100 ± 3 and 3×3 photon clouds covering `density` of the pixels (bench/inputs/balor-stack.ts). */
function frames(n: number, density: number, seed: number): Uint16Array {
  const px = ROWS * COLS;
  const out = new Uint16Array(n * px);
  for (let k = 0; k < n; k++) balorFrame(out.subarray(k * px, (k + 1) * px), ROWS, COLS, density, seed + k);
  return out;
}

function detectParams(size: number, density: number): PhotonDetectParams {
  const n = Math.max(1, Math.round(2 * size));
  return { frames: frames(n, density, 11), width: COLS, height: ROWS, threshold: 108, emin: 1100, mode: 'reference', clean: false };
}

function integrateParams(): AzimuthalIntegrateParams {
  const poni = { dist: 0.2, poni1: 0.024, poni2: 0.025, rot1: 0.01, rot2: -0.02, rot3: 0, wavelength: 1e-10, pixel1: 12e-6, pixel2: 12e-6, detector: 'Balor' };
  const map = buildBinMap(poni, ROWS, COLS, { bins: 2000 });
  const u = mulberry32(5);
  const image = Float32Array.from({ length: ROWS * COLS }, () => u() * 1000);
  return { image, binIndex: map.binIndex, norm: map.normalization, bins: 2000 };
}

const frameLabel = `${ROWS}x${COLS} uint16 frames`;

/** GPU end-to-end rates (Mpixel/s) of this run, for the GPU/CPU ratio rows the CPU part prints. */
const gpuRates = new Map<string, number>();

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'diffract.js');

/** One whole `diffract photon` process on `threads` threads: wall seconds and the peak RSS its end summary reports. */
async function photonProcess(input: string, threads: number): Promise<{ wall: number; rssMiB: number; hits: number }> {
  const out = mkdtempSync(join(tmpdir(), 'diffract-bench-photon-'));
  try {
    const args = [BIN, '--backend', 'cpu', 'photon', input, '--threshold', '108', '--emin', '800', '--correction', 'none', '--out', out];
    const t0 = performance.now();
    const { code, stderr } = await new Promise<{ code: number | null; stderr: string }>((resolve, reject) => {
      const child = spawn(process.execPath, args, { env: { ...process.env, DIFFRACT_THREADS: String(threads) }, stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      child.stderr.on('data', (b: Buffer) => (err += b.toString()));
      child.on('error', reject);
      child.on('close', (c) => resolve({ code: c, stderr: err }));
    });
    const wall = (performance.now() - t0) / 1000;
    const m = /(\d+) hits in .* peak RSS (\d+) MiB/.exec(stderr);
    if (code !== 0 || m === null) throw new Error(`diffract photon failed (exit ${code}): ${stderr.trim().split('\n').pop() ?? ''}`);
    return { wall, rssMiB: Number(m[2]), hits: Number(m[1]) };
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

/** Whole-process rows: 4 frames on 1, 2 and all threads (1 thread is the baseline), 8 frames on all threads. */
async function processRows(): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const all = availableParallelism();
  const runs: Array<[number, number]> = [...new Set([1, 2, all])].map((t) => [4, t] as [number, number]);
  runs.push([8, all]);
  let base: number | undefined;
  for (const [frames, threads] of runs) {
    const input = await balorStack(frames);
    const r = await photonProcess(input, threads);
    const name = `diffract photon process, ${frames} × ${frameLabel}, 2% above threshold, ${threads} thread(s)`;
    const note = `${r.hits} hits, ${r.wall.toFixed(2)} s wall`;
    rows.push({ section: 'photon', name, backend: 'cpu', value: (r.wall * 1e6) / (frames * ROWS * COLS), unit: 'µs/pixel·frame', note });
    rows.push({ section: 'photon', name, backend: 'cpu', value: r.rssMiB, unit: 'MiB peak RSS' });
    if (frames === 4) {
      base ??= r.wall;
      rows.push({ section: 'photon', name: `${name}: speed-up over 1 thread`, backend: 'host', value: base / r.wall, unit: 'ratio' });
      rows.push({ section: 'photon', name: `${name}: speed-up over numpy photonize (27.4 s, issue 14)`, backend: 'host', value: 27.4 / r.wall, unit: 'ratio' });
    }
  }
  return rows;
}

export const photonSection: BenchSection = {
  name: 'photon',
  async gpu(ctx, size) {
    const rows: BenchRow[] = [];
    for (const density of DENSITIES) {
      const p = detectParams(size, density);
      const n = p.frames.length / (ROWS * COLS);
      const r = await photonDetectGpu(ctx, p);
      const note = `${(r.hits.count / n).toFixed(0)} hits/frame`;
      // one frame per call, as a live stream arrives
      const perFrame = Array.from({ length: n }, (_v, k) => ({ ...p, frames: p.frames.subarray(k * ROWS * COLS, (k + 1) * ROWS * COLS) }));
      const e2e = await timeMedian(`gpu photon e2e ${density}`, async () => {
        for (const q of perFrame) await photonDetectGpu(ctx, q);
      }, { iterations: 3 });
      rows.push({ section: 'photon', name: `photon detection ${frameLabel}, ${density * 100}% hit pixels (upload + kernel + readback)`, backend: 'gpu', value: n / (e2e / 1000), unit: 'frames/s', note });
      rows.push({ section: 'photon', name: `photon detection ${frameLabel}, ${density * 100}% hit pixels (upload + kernel + readback)`, backend: 'gpu', value: (n * ROWS * COLS) / (e2e / 1000) / 1e6, unit: 'Mpixel/s', note });
      gpuRates.set(`detect ${density}`, (n * ROWS * COLS) / (e2e / 1000) / 1e6);
      // kernel only: frames resident, one dispatch per frame
      const fb = ctx.upload('bench photon frames', p.frames.subarray(0, ROWS * COLS));
      const cap = Math.max(1024, r.hits.count);
      const hb = ctx.buffer('bench photon hits', 24 * cap);
      const sb = ctx.buffer('bench photon stats', 16);
      const hist = ctx.buffer('bench photon hist', 4 * 250);
      const uniforms = { width: COLS, height: ROWS, n_frames: 1, capacity: cap, threshold: 108, emin: 1100, hist_min: 0, hist_inv_width: 250 / 5000, hist_bins: 250 };
      const kernel = await timeMedian(`gpu photon kernel ${density}`, async () => {
        for (let k = 0; k < n; k++) {
          ctx.clear(sb, 16);
          await ctx.run(photonDetectProgram, {
            defines: { WG_X: 16, WG_Y: 16, REFERENCE: true, U16: true, CLEAN: false, STATS: true },
            uniforms,
            bindings: { frames: fb, hits: hb, stats: sb, hist },
            workgroups: [Math.ceil(COLS / 16), Math.ceil(ROWS / 16), 1],
          });
        }
        await ctx.finish();
      }, { iterations: 3 });
      rows.push({ section: 'photon', name: `photon detection ${frameLabel}, ${density * 100}% hit pixels (kernel only)`, backend: 'gpu', value: (n * ROWS * COLS) / (kernel / 1000) / 1e6, unit: 'Mpixel/s' });
      ctx.release(fb, hb, sb, hist);
    }
    const ip = integrateParams();
    await azimuthalIntegrateGpu(ctx, ip);
    const it = await timeMedian('gpu azimuthal', async () => {
      await azimuthalIntegrateGpu(ctx, ip);
    }, { iterations: 3 });
    rows.push({ section: 'photon', name: `azimuthal integration ${ROWS}x${COLS} → 2000 bins (upload + kernel + readback)`, backend: 'gpu', value: (ROWS * COLS) / (it / 1000) / 1e6, unit: 'Mpixel/s' });
    gpuRates.set('integrate', (ROWS * COLS) / (it / 1000) / 1e6);
    return rows;
  },
  async cpu(size) {
    const rows: BenchRow[] = [];
    for (const density of DENSITIES) {
      const p = detectParams(size, density);
      const n = p.frames.length / (ROWS * COLS);
      const t = await timeMedian(`cpu photon ${density}`, () => {
        photonDetectCpu(p);
      }, { iterations: 2, timeMs: 100 });
      rows.push({ section: 'photon', name: `photon detection ${frameLabel}, ${density * 100}% hit pixels (CPU twin, 1 thread)`, backend: 'cpu', value: n / (t / 1000), unit: 'frames/s' });
      const cpuRate = (n * ROWS * COLS) / (t / 1000) / 1e6;
      rows.push({ section: 'photon', name: `photon detection ${frameLabel}, ${density * 100}% hit pixels (CPU twin, 1 thread)`, backend: 'cpu', value: cpuRate, unit: 'Mpixel/s' });
      const g = gpuRates.get(`detect ${density}`);
      if (g !== undefined) rows.push({ section: 'photon', name: `photon detection ${density * 100}% hit pixels: GPU end to end / CPU twin`, backend: 'host', value: g / cpuRate, unit: 'ratio' });
      // the fast CPU path the session uses (bit-identical to the twin, test/photon/frame-detector.test.ts)
      const det = new FrameDetector({ width: COLS, height: ROWS, threshold: 108, emin: 1100, mode: 'reference', histogram: PHOTON_DEFAULTS.histogram });
      const hits = new HitColumns();
      const tf = await timeMedian(`cpu photon fast ${density}`, () => {
        for (let k = 0; k < n; k++) det.detect(p.frames.subarray(k * ROWS * COLS, (k + 1) * ROWS * COLS), { offset: 0, stride: COLS }, k, hits);
        hits.take();
      }, { iterations: 3, timeMs: 100 });
      const fastRate = (n * ROWS * COLS) / (tf / 1000) / 1e6;
      rows.push({ section: 'photon', name: `photon detection ${frameLabel}, ${density * 100}% hit pixels (fast CPU path, 1 thread)`, backend: 'cpu', value: fastRate, unit: 'Mpixel/s' });
      rows.push({ section: 'photon', name: `photon detection ${density * 100}% hit pixels: fast CPU path / CPU twin`, backend: 'host', value: fastRate / cpuRate, unit: 'ratio' });
    }
    const ip = integrateParams();
    const t = await timeMedian('cpu azimuthal', () => {
      azimuthalIntegrateCpu(ip);
    }, { iterations: 2, timeMs: 100 });
    const cpuRate = (ROWS * COLS) / (t / 1000) / 1e6;
    rows.push({ section: 'photon', name: `azimuthal integration ${ROWS}x${COLS} → 2000 bins (CPU twin, 1 thread)`, backend: 'cpu', value: cpuRate, unit: 'Mpixel/s' });
    rows.push(...(await processRows()));
    const g = gpuRates.get('integrate');
    if (g !== undefined) rows.push({ section: 'photon', name: 'azimuthal integration: GPU end to end / CPU twin', backend: 'host', value: g / cpuRate, unit: 'ratio' });
    return rows;
  },
};
