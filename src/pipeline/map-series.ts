/**
 * Maps every pixel of every frame of a rotation series to fractional hkl.
 *
 * Frames stream in one at a time and are mapped in batches: the per-pixel
 * vectors d = s1 − s0 are computed once per detector, each frame adds one
 * matrix (S·R(φ)·F·A)⁻¹ at its mid-rotation angle (z = offset + 0.5), and one
 * kernel call maps a whole batch. Memory is bounded by the batch, not the series.
 * On the GPU the vectors are a resident array of the series: uploaded once, not
 * once per batch.
 */
import { InvalidValueError } from '../errors.ts';
import type { Experiment } from '../geometry/model.ts';
import { detectorPixelVectors } from '../geometry/pixel-vectors.ts';
import { frameMidZ } from '../geometry/scan.ts';
import { hklMatrixAt } from '../geometry/setting.ts';
import type { Engine } from '../host/engine.ts';
import type { DetectorImage } from '../io/image.ts';
import { hklMapKernel } from '../kernels/hkl-map.ts';

export interface MappedFrame {
  /** 0-based offset of the frame inside the scan */
  offset: number;
  image: DetectorImage;
  /** h, k, l per pixel (3 per pixel, row-major pixels of panel 0, then panel 1, …) */
  hkl: Float32Array;
}

export interface MapSeriesOptions {
  /** frames per kernel call (default 4) */
  batchFrames?: number;
  /** 0-based offset of the first frame inside the scan (default 0) */
  firstOffset?: number;
}

/** Yields each frame with its hkl, in input order. */
export async function* mapSeries(engine: Engine, exp: Experiment, frames: AsyncIterable<DetectorImage>, opts: MapSeriesOptions = {}): AsyncGenerator<MappedFrame> {
  if (exp.crystal === undefined) throw new InvalidValueError('the experiment has no crystal model (not indexed)', { field: 'crystal' });
  const batch = Math.max(1, opts.batchFrames ?? 4);
  const { vectors, panelOffsets } = detectorPixelVectors(exp.detector, exp.beam);
  const nPixels = panelOffsets[panelOffsets.length - 1] as number;
  let offset = opts.firstOffset ?? 0;
  let pending: { offset: number; image: DetectorImage }[] = [];
  /** owner of the series' resident arrays */
  const series = {};

  async function* flush(): AsyncGenerator<MappedFrame> {
    if (pending.length === 0) return;
    const matrices = new Float64Array(9 * pending.length);
    pending.forEach((p, i) => matrices.set(hklMatrixAt(exp, frameMidZ(p.offset)), 9 * i));
    // the series' vectors stay on the device between batches (a no-op on the CPU)
    engine.resident(series, 'vectors', vectors, 'pixel vectors');
    const { hkl } = await engine.run(hklMapKernel, { vectors, matrices });
    const done = pending;
    pending = [];
    for (let i = 0; i < done.length; i++) {
      const f = done[i] as { offset: number; image: DetectorImage };
      yield { offset: f.offset, image: f.image, hkl: hkl.subarray(3 * nPixels * i, 3 * nPixels * (i + 1)) };
    }
  }

  try {
    for await (const image of frames) {
      if (image.width * image.height !== nPixels) {
        throw new InvalidValueError(`frame has ${image.width}×${image.height} pixels but the detector model has ${nPixels}`, {
          file: image.source.file,
          frame: image.source.frame,
        });
      }
      pending.push({ offset, image });
      offset++;
      if (pending.length >= batch) yield* flush();
    }
    yield* flush();
  } finally {
    engine.releaseResident(series);
  }
}
