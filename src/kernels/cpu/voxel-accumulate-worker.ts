/**
 * Worker entry of the threaded CPU voxel-accumulate
 * (src/kernels/cpu/voxel-accumulate-threads.ts): each worker holds a private
 * CPU-twin session (voxel-accumulate.ts, the same record layout) per wedge,
 * decodes the frames it is given (from a `FrameTask`: CBF/SMV bytes are read
 * and decoded here, not on the main thread) into a reused pixel buffer, and
 * bins them; `finish` hands the accumulators back (shared memory) for the
 * exact merge.
 *
 * Decode buffers: a frame's file is read into the worker's one file buffer
 * (serveWorker runs a worker's requests one at a time, so a frame is decoded
 * before the next file is read) and decoded into a pixel buffer of the worker's own, which
 * goes back to `spare` once the frame is binned (the twin keeps nothing of a
 * batch), so a worker allocates no frame-sized array per frame: garbage of
 * that size would pile up between collections and raise the process's peak.
 * Likewise the accumulators: each wedge's session bins into the worker's
 * `arena` (zeroed at `open`, grown only when a wedge needs more), so the main
 * thread's merged accumulators, which live in the first worker's arena, are
 * valid until the next wedge opens.
 */
import { InvalidValueError, invariant } from '../../errors.ts';
import { serveWorker } from '../../host/node-threads.ts';
import type { ReadScratch } from '../../io/image.ts';
import { decodeFrameTask } from '../../io/sources/frame-task.ts';
import { cellSetCpu } from '../cell-occupancy.ts';
import { filterStatsPhase1, filterStatsPhase2 } from '../filter-stats.ts';
import { AccumulatorArena, voxelAccumulateStream, type AccumulateSession } from '../voxel-accumulate.ts';
import type { ThreadReply, ThreadRequest } from './voxel-accumulate-threads.ts';

let session: AccumulateSession | null = null;
let pixelCount = 0;
/** decode buffers of `pixelCount` values free for the next frame (at most SPARE_MAX) */
let spare: Int32Array[] = [];
const SPARE_MAX = 2;

/** the file bytes of the frame being decoded, read into one reused buffer (a frame at a time: the pixels are decoded before the next read) */
const fileScratch: ReadScratch = { bytes: new Uint8Array(0) };
/** this worker's accumulator memory, reused from wedge to wedge */
const arena = new AccumulatorArena(true);

function giveBack(pixels: Int32Array): void {
  if (pixels.length === pixelCount && spare.length < SPARE_MAX && !spare.includes(pixels)) spare.push(pixels);
}

serveWorker<ThreadRequest, ThreadReply>(async (req) => {
  switch (req.type) {
    case 'open': {
      session?.dispose();
      session = voxelAccumulateStream.openCpu({ ...req.setup, memory: arena.memoryFor(req.setup) });
      pixelCount = req.setup.vectors.length / 3;
      spare = spare.filter((b) => b.length === pixelCount);
      return { value: { type: 'opened' } };
    }
    case 'frame': {
      invariant(session !== null, 'voxel-accumulate worker: a frame before open');
      let pixels: Int32Array;
      const t0 = performance.now();
      if (req.task !== undefined) {
        const buffer = spare.pop();
        let image;
        try {
          image = await decodeFrameTask(req.task, buffer === undefined ? { file: fileScratch } : { file: fileScratch, pixels: buffer });
        } catch (err) {
          if (buffer !== undefined) giveBack(buffer);
          throw err;
        }
        if (buffer !== undefined && image.pixels !== buffer) giveBack(buffer);
        if (image.pixels.length !== pixelCount) {
          throw new InvalidValueError(`frame has ${image.width}×${image.height} pixels but the detector model has ${pixelCount}`, { file: image.source.file, frame: image.source.frame });
        }
        pixels = image.pixels;
      } else {
        invariant(req.pixels !== undefined, 'voxel-accumulate worker: a frame without pixels or task');
        pixels = req.pixels;
      }
      try {
        const t1 = performance.now();
        let frameSum = 0;
        for (let i = 0; i < pixels.length; i++) frameSum += pixels[i] as number;
        await session.add({ rows: req.row, index: Uint32Array.of(req.offset), pixels });
        return { value: { type: 'added', frameSum, decodeSeconds: (t1 - t0) / 1000, binSeconds: (performance.now() - t1) / 1000 } };
      } finally {
        // binned (or failed): the twin keeps nothing of the frame, its buffer serves the next one
        giveBack(pixels);
      }
    }
    case 'filter': {
      if (req.phase === 1) filterStatsPhase1(req.params, req.work, req.from, req.to);
      else filterStatsPhase2(req.params, req.work, req.from, req.to);
      return { value: { type: 'filtered' } };
    }
    case 'cells': {
      const set = cellSetCpu({ vectors: req.vectors, valid: req.valid, rows: req.rows });
      return { value: { type: 'cells', ...set }, transfer: [set.cells.buffer as ArrayBuffer] };
    }
    case 'finish': {
      invariant(session !== null, 'voxel-accumulate worker: finish before open');
      const r = await session.finish();
      session = null;
      const value: ThreadReply = { type: 'finished', acc: r.acc, channelSums: r.channelSums, maskedObservations: r.maskedObservations, maskedSum: r.maskedSum, lost: r.lost };
      // shared memory: the main thread merges into it and filter-stats reads it there, no copies
      return { value };
    }
  }
});
