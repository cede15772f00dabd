/**
 * hkl mapping throughput, in pixel·frames per second, on a Pilatus 2M-sized
 * detector (1475 × 1679 pixels) × `8·size` frames, and the memory-copy speed on
 * each side for scale: a kernel that writes 12 bytes per pixel·frame cannot beat
 * a plain copy of its output.
 */
import { hklMapCpu, hklMapGpu, hklMapProgram, type HklMapParams } from '../../src/kernels/hkl-map.ts';
import { mulberry32 } from '../../src/util/random.ts';
import { timeMedian, type BenchRow, type BenchSection } from '../harness.ts';

const W = 1475;
const H = 1679;

function params(size: number): HklMapParams {
  const u = mulberry32(7);
  const n = W * H;
  const frames = Math.max(1, Math.round(8 * size));
  const vectors = new Float32Array(3 * n);
  for (let i = 0; i < vectors.length; i++) vectors[i] = (u() - 0.5) * 1.4;
  const matrices = new Float64Array(9 * frames);
  for (let i = 0; i < matrices.length; i++) matrices[i] = (u() - 0.5) * 40;
  return { vectors, matrices };
}

function label(frames: number): string {
  return `hkl-map ${W}x${H} px x ${frames} frames`;
}

export const hklSection: BenchSection = {
  name: 'hkl-map',
  async gpu(ctx, size) {
    const p = params(size);
    const n = W * H;
    const frames = p.matrices.length / 9;
    const pixFrames = n * frames;
    const rows: BenchRow[] = [];
    // end to end: upload, kernel, readback of every h, k, l
    const e2e = await timeMedian('gpu hkl e2e', async () => {
      await hklMapGpu(ctx, p);
    });
    rows.push({ section: 'hkl-map', name: `${label(frames)} (upload + kernel + readback)`, backend: 'gpu', value: pixFrames / (e2e / 1000), unit: 'pixel·frames/s' });
    // kernel only: one frame per dispatch into a resident output buffer
    const vec = ctx.upload('bench vectors', p.vectors);
    const mat = new Float32Array(12 * frames);
    for (let f = 0; f < frames; f++) for (let r = 0; r < 3; r++) for (let c = 0; c < 3; c++) mat[12 * f + 4 * r + c] = p.matrices[9 * f + 3 * r + c] as number;
    const matBuf = ctx.upload('bench matrices', mat);
    const out = ctx.buffer('bench hkl output', 12 * n);
    const [gx, gy] = ctx.grid(n, 256);
    const kernel = await timeMedian('gpu hkl kernel', async () => {
      for (let f = 0; f < frames; f++) {
        await ctx.run(hklMapProgram, {
          defines: { WG: 256, POINTS: false },
          uniforms: { n_vectors: n, n_matrices: 1, row_threads: gx * 256 },
          bindings: { vectors: vec, matrices: matBuf, hkl: out },
          workgroups: [gx, gy, 1],
        });
      }
      await ctx.finish();
    });
    rows.push({ section: 'hkl-map', name: `${label(frames)} (kernel only, resident buffers)`, backend: 'gpu', value: pixFrames / (kernel / 1000), unit: 'pixel·frames/s' });
    // device memory copy of the same output size
    const dst = ctx.buffer('bench copy dst', 12 * n);
    const copy = await timeMedian('gpu copy', async () => {
      const enc = ctx.device.createCommandEncoder({ label: 'bench copy' });
      for (let f = 0; f < frames; f++) enc.copyBufferToBuffer(out, 0, dst, 0, 12 * n);
      ctx.device.queue.submit([enc.finish()]);
      await ctx.finish();
    });
    const copyBytesPerS = (12 * n * frames) / (copy / 1000);
    rows.push({ section: 'hkl-map', name: 'device buffer copy of the same output bytes', backend: 'gpu', value: copyBytesPerS / 1e9, unit: 'GB/s' });
    rows.push({
      section: 'hkl-map',
      name: 'kernel output rate / device copy rate',
      backend: 'gpu',
      value: (12 * pixFrames) / (kernel / 1000) / copyBytesPerS,
      unit: 'ratio',
    });
    ctx.release(vec, matBuf, out, dst);
    return rows;
  },
  async cpu(size) {
    const p = params(size);
    const n = W * H;
    const frames = p.matrices.length / 9;
    const pixFrames = n * frames;
    const t = await timeMedian('cpu hkl', () => {
      hklMapCpu(p);
    }, { iterations: 3 });
    const src = Float32Array.from({ length: 3 * n * frames }, (_v, i) => i);
    const dst = new Float32Array(3 * n * frames);
    const copy = await timeMedian('host memcpy', () => {
      dst.set(src);
    });
    const copyBytesPerS = (12 * pixFrames) / (copy / 1000);
    return [
      { section: 'hkl-map', name: `${label(frames)} (CPU twin, 1 thread)`, backend: 'cpu', value: pixFrames / (t / 1000), unit: 'pixel·frames/s' },
      { section: 'hkl-map', name: 'host memcpy of the same output bytes', backend: 'host', value: copyBytesPerS / 1e9, unit: 'GB/s' },
      { section: 'hkl-map', name: 'CPU output rate / host memcpy rate', backend: 'cpu', value: (12 * pixFrames) / (t / 1000) / copyBytesPerS, unit: 'ratio' },
    ];
  },
};
