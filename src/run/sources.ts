/**
 * The frames of a sweep, from whatever the config names: the experiment's own
 * imageset, a list of files, a template, or an Eiger/NeXus HDF5 file.
 *
 * `openSweepSource` checks, before any work starts, that every image file
 * exists and that the number of frames equals the scan's (so a run never
 * stops half-way through on a missing file, and never bins frames against the
 * wrong rotation angles). `frameRange` reads frames first…first+count−1 in
 * order with one frame read ahead; errors name the file and the frame's index
 * in the sweep.
 */
import { existsSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import { FileAccessError, InvalidValueError } from '../errors.ts';
import type { Experiment } from '../geometry/model.ts';
import { DEFAULT_DATASET, openHdf5Series } from '../io/eiger-h5.ts';
import type { DetectorImage } from '../io/image.ts';
import { openImageSeries } from '../io/series.ts';
import { experimentSeries } from '../pipeline/experiment-series.ts';
import type { WedgeFrame } from '../pipeline/voxel-integrate.ts';
import { fileFingerprint } from './checkpoint.ts';
import type { ImageSource } from './config-types.ts';

/** Random access to a sweep's frames plus what identifies them. */
export interface SweepSource {
  readonly length: number;
  read(index: number): Promise<DetectorImage>;
  /** frames first…first+count−1 in order (decoded ahead: one file read ahead, or HDF5 worker threads) */
  range(first: number, count: number): AsyncIterable<WedgeFrame>;
  /** path, size, mtime of every file the frames come from (for checkpoint keys) */
  fingerprint(): unknown;
  /** releases file handles / workers */
  close(): Promise<void>;
}

function expectedSizeOf(exp: Experiment): readonly [number, number] | undefined {
  const panel = exp.detector.panels[0];
  return exp.detector.panels.length === 1 && panel !== undefined ? panel.imageSize : undefined;
}

/**
 * Opens the frames of `src` for experiment `exp` (read from `exptPath`).
 * `field` is the config key named in errors (e.g. `sweeps[1].images`).
 */
export async function openSweepSource(src: ImageSource, exp: Experiment, exptPath: string, field: string, checkScan = true, decodeWorkers = 0): Promise<SweepSource> {
  const expectedSize = expectedSizeOf(exp);
  const size = expectedSize !== undefined ? { expectedSize } : {};
  let source: SweepSource;
  if (src.kind === 'expt') {
    // an Eiger/NeXus master named by the experiment (DIALS writes the master as the imageset template)
    const set = exp.imageset;
    const named = set?.images?.length === 1 ? set.images[0] : set?.template;
    if (named !== undefined && !named.includes('#') && /\.(h5|hdf5|nxs|nx5)$/i.test(named)) {
      const file = isAbsolute(named) ? named : join(dirname(exptPath), named);
      const range = exp.scan?.imageRange;
      src = { kind: 'hdf5', file, dataset: DEFAULT_DATASET, first: range !== undefined ? range[0] - 1 : 0, last: range !== undefined ? range[1] - 1 : null };
    }
  }
  if (src.kind === 'hdf5') {
    if (!existsSync(src.file)) throw new FileAccessError('no such file', { file: src.file, field });
    const series = await openHdf5Series({ file: src.file, ...(src.dataset !== DEFAULT_DATASET ? { dataset: src.dataset } : {}), first: src.first, ...(src.last !== null ? { last: src.last } : {}), ...size, workers: decodeWorkers });
    source = {
      length: series.length,
      read: (i) => series.read(i),
      range: async function* (first, count) {
        let k = first;
        for await (const image of series.frames(first, count)) yield { offset: k++, image };
      },
      fingerprint: () => ({ ...fileFingerprint(src.file), dataset: src.dataset, first: src.first, last: src.last }),
      close: () => series.close(),
    };
  } else {
    const series =
      src.kind === 'expt'
        ? experimentSeries(exp, exptPath)
        : src.kind === 'files'
          ? openImageSeries({ files: src.files, ...size })
          : openImageSeries({ template: src.template, first: src.first, last: src.last, ...size });
    series.files.forEach((f, i) => {
      if (!existsSync(f)) throw new FileAccessError(`no such file (image ${i} of ${series.length} in ${field})`, { file: f, frame: i });
    });
    source = {
      length: series.length,
      read: (i) => series.read(i),
      range: (first, count) => frameRange(source, first, count),
      fingerprint: () => series.files.map((f) => fileFingerprint(f)),
      close: async () => undefined,
    };
  }
  if (checkScan && exp.scan !== undefined) {
    const scanFrames = exp.scan.imageRange[1] - exp.scan.imageRange[0] + 1;
    if (source.length !== scanFrames) {
      await source.close();
      throw new InvalidValueError(`${source.length} frames given but the scan has ${scanFrames} (images ${exp.scan.imageRange[0]}…${exp.scan.imageRange[1]})`, { file: exptPath, field });
    }
  }
  return source;
}

/** Frames first…first+count−1 of `source`, in order, with the next one read ahead. */
export async function* frameRange(source: Pick<SweepSource, 'read'>, first: number, count: number): AsyncGenerator<WedgeFrame> {
  type R = { ok: true; image: DetectorImage } | { ok: false; error: unknown };
  const start = (i: number): Promise<R> =>
    source.read(i).then(
      (image): R => ({ ok: true, image }),
      (error: unknown): R => ({ ok: false, error }),
    );
  let pending = count > 0 ? start(first) : undefined;
  for (let k = 0; k < count; k++) {
    const r = await pending!;
    pending = k + 1 < count ? start(first + k + 1) : undefined;
    if (!r.ok) throw r.error;
    yield { offset: first + k, image: r.image };
  }
}
