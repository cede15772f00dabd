/**
 * Worker entry of the threaded CPU voxel-accumulate
 * (src/kernels/cpu/voxel-accumulate-threads.ts): each worker holds a private
 * CPU-twin session (voxel-accumulate.ts, the same record layout) per wedge,
 * decodes the frames it is given (from a `FrameTask`: CBF/SMV bytes are read
 * and decoded here, not on the main thread) and bins them; `finish` hands the
 * accumulators back (transferred) for the exact merge.
 */
import { InvalidValueError, invariant } from '../../errors.ts';
import { serveWorker } from '../../host/node-threads.ts';
import { decodeFrameTask } from '../../io/sources/frame-task.ts';
import { cellSetCpu } from '../cell-occupancy.ts';
import { filterStatsPhase1, filterStatsPhase2 } from '../filter-stats.ts';
import { voxelAccumulateStream, type AccumulateSession } from '../voxel-accumulate.ts';
import type { ThreadReply, ThreadRequest } from './voxel-accumulate-threads.ts';

let session: AccumulateSession | null = null;
let pixelCount = 0;

serveWorker<ThreadRequest, ThreadReply>(async (req) => {
  switch (req.type) {
    case 'open': {
      session?.dispose();
      session = voxelAccumulateStream.openCpu(req.setup);
      pixelCount = req.setup.vectors.length / 3;
      return { value: { type: 'opened' } };
    }
    case 'frame': {
      invariant(session !== null, 'voxel-accumulate worker: a frame before open');
      let pixels: Int32Array;
      const t0 = performance.now();
      if (req.task !== undefined) {
        const image = await decodeFrameTask(req.task);
        if (image.pixels.length !== pixelCount) {
          throw new InvalidValueError(`frame has ${image.width}×${image.height} pixels but the detector model has ${pixelCount}`, { file: image.source.file, frame: image.source.frame });
        }
        pixels = image.pixels;
      } else {
        invariant(req.pixels !== undefined, 'voxel-accumulate worker: a frame without pixels or task');
        pixels = req.pixels;
      }
      const t1 = performance.now();
      let frameSum = 0;
      for (let i = 0; i < pixels.length; i++) frameSum += pixels[i] as number;
      await session.add({ rows: req.row, index: Uint32Array.of(req.offset), pixels });
      return { value: { type: 'added', frameSum, decodeSeconds: (t1 - t0) / 1000, binSeconds: (performance.now() - t1) / 1000 } };
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
