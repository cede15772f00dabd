/**
 * The host → device copy, the floor of any kernel fed from host memory
 * (issue 14), and voxel-accumulate measured against it:
 * - the copy rate: `queue.writeBuffer` of 16·size MiB … into a device buffer,
 *   fenced with `queue.onSubmittedWorkDone`, GB/s;
 * - a batch of the filter section's frames (Pilatus 2M size, Poisson counts,
 *   5 channels) through a voxel-accumulate session with resident
 *   accumulators, once as u16 (what the session sends for such counts) and
 *   once forced wide (i32): the pack on the host, the copy of the same bytes
 *   alone, and the whole add (pack + copy + kernel), each fenced;
 * - kernel time ≈ add − pack − copy, as a fraction of the copy time, and the
 *   session's pixel·frame rate as a fraction of the copy rate of its bytes.
 * GPU only: the CPU part prints nothing.
 */
import type { GpuContext } from '../../src/host/context.ts';
import { openAccumulator, packPixels, type AccumulateSetup } from '../../src/kernels/voxel-accumulate.ts';
import { boxFromBounds, buildCellTable } from '../../src/grid/cell-table.ts';
import { cellBoundsGpu } from '../../src/kernels/cell-bounds.ts';
import { cellOccupancyGpu } from '../../src/kernels/cell-occupancy.ts';
import { timeMedian, type BenchRow, type BenchSection } from '../harness.ts';
import { workload } from './filter.ts';

const SECTION = 'transfer';
const MIB = 2 ** 20;

/** Median ms of one fenced writeBuffer of `data` into `buf`. */
async function copyMs(ctx: GpuContext, buf: GPUBuffer, data: ArrayBufferView): Promise<number> {
  return timeMedian(`copy ${data.byteLength}`, async () => {
    ctx.device.queue.writeBuffer(buf, 0, data.buffer, data.byteOffset, data.byteLength);
    await ctx.device.queue.onSubmittedWorkDone();
  }, { iterations: 5, timeMs: 200 });
}

export const transferSection: BenchSection = {
  name: SECTION,
  async gpu(ctx: GpuContext, size: number) {
    const rows: BenchRow[] = [];
    const maxBytes = Math.min(ctx.limits.maxBufferSize, 256 * MIB * Math.max(1, size));
    for (const mib of [16, 64, 256].map((m) => m * Math.max(1, Math.round(size))).filter((m) => m * MIB <= maxBytes)) {
      const data = new Uint8Array(mib * MIB);
      for (let i = 0; i < data.length; i += 4096) data[i] = i & 255;
      const buf = ctx.buffer('bench copy target', data.byteLength);
      const t = await copyMs(ctx, buf, data);
      ctx.release(buf);
      rows.push({ section: SECTION, name: `host → device copy, writeBuffer of ${mib} MiB + fence`, backend: 'gpu', value: data.byteLength / (t / 1000) / 1e9, unit: 'GB/s' });
    }

    const w = workload(size);
    const b = await cellBoundsGpu(ctx, w.geometry);
    const box = boxFromBounds(b.min, b.max);
    const table = buildCellTable([3, 3, 3], box, (await cellOccupancyGpu(ctx, { ...w.geometry, box })).bitmap);
    const setup: AccumulateSetup = { ...w.setupBase, table };
    for (const wide of [false, true]) {
      // forced wide: one value far above the rest makes the span exceed 65535 (it counts as an overflow)
      const pixels = Int32Array.from(w.batch.pixels);
      if (wide) pixels[0] = 70_000;
      const batch = { ...w.batch, pixels };
      const packed = packPixels(pixels);
      const kind = packed.packed16 ? 'u16' : 'i32';
      const pack = await timeMedian(`pack ${kind}`, () => {
        packPixels(pixels);
      }, { iterations: 3, timeMs: 100 });
      const buf = ctx.buffer('bench frame copy', packed.data.byteLength);
      const copy = await copyMs(ctx, buf, packed.data);
      ctx.release(buf);
      const session = openAccumulator(ctx, setup);
      let add: number;
      try {
        add = await timeMedian(`voxel-accumulate add ${kind}`, async () => {
          await session.add(batch);
          await ctx.finish();
        }, { iterations: 3, timeMs: 200 });
      } finally {
        session.dispose();
      }
      const kernel = Math.max(0, add - pack - copy);
      const bytes = packed.data.byteLength;
      const label = `voxel-accumulate, ${w.label}, frames as ${kind} (${(bytes / MIB).toFixed(0)} MiB)`;
      rows.push({ section: SECTION, name: `${label}: pack + copy + kernel`, backend: 'gpu', value: w.pixelFrames / (add / 1000), unit: 'pixel·frames/s' });
      rows.push({ section: SECTION, name: `${label}: copy of the same bytes alone`, backend: 'gpu', value: bytes / (copy / 1000) / 1e9, unit: 'GB/s', note: `${copy.toFixed(2)} ms` });
      rows.push({ section: SECTION, name: `${label}: host pack`, backend: 'host', value: pack, unit: 'ms' });
      rows.push({ section: SECTION, name: `${label}: kernel time / copy time`, backend: 'gpu', value: kernel / copy, unit: 'ratio', note: `kernel ≈ ${kernel.toFixed(2)} ms` });
      rows.push({ section: SECTION, name: `${label}: session rate / copy rate of its bytes`, backend: 'gpu', value: copy / add, unit: 'ratio' });
    }
    return rows;
  },
  async cpu() {
    return [];
  },
};
