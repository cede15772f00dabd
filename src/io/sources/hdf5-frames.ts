/**
 * Eiger/NeXus HDF5 frames (a master or a data file) as a `FrameSource`,
 * through the one HDF5 frame reader (src/io/eiger-h5.ts: compression plugins
 * registered, chunks decoded one frame at a time, optional worker threads).
 *
 * `range` decodes ahead in the series' pool of `workers` threads (kept
 * between calls, ended by `close`); a whole pass by iteration uses a pool
 * of its own that ends with the pass. Without workers frames decode on the
 * calling thread. The fingerprint names the file, its size and mtime, the
 * dataset and range asked for, and every data file the frames are in.
 */
import { DEFAULT_DATASET, openHdf5Series } from '../eiger-h5.ts';
import { completeSource, fileFingerprint } from './complete.ts';
import type { FrameSource, SourcedFrame } from './frame-source.ts';

export interface Hdf5FramesOptions {
  /** dataset path (default: the master's data_NNNNNN links, else the first of `candidates` that exists) */
  dataset?: string;
  /** datasets tried when none is named and there are no data_NNNNNN links (default [/entry/data/data]) */
  candidates?: readonly string[];
  /** first frame, 0-based in the whole dataset (default 0) */
  first?: number;
  /** last frame, inclusive (default: the last one; null: the same) */
  last?: number | null;
  /** [fast, slow] every frame must have */
  expectedSize?: readonly [number, number];
  /** decode worker threads for `range` and iteration (default 0) */
  workers?: number;
}

/** An HDF5 frame source, with the dataset its frames come from. */
export type Hdf5FrameSource = FrameSource & {
  /** the dataset path read (for a master: the name of its linked data entries' target, or the one named) */
  readonly dataset: string;
};

/** Opens frames of an HDF5 file (see the module comment). */
export async function openHdf5Frames(file: string, options: Hdf5FramesOptions = {}): Promise<Hdf5FrameSource> {
  const series = await openHdf5Series({
    file,
    ...(options.dataset !== undefined && options.dataset !== DEFAULT_DATASET ? { dataset: options.dataset } : {}),
    ...(options.candidates !== undefined ? { candidates: options.candidates } : {}),
    ...(options.first !== undefined ? { first: options.first } : {}),
    ...(options.last !== undefined && options.last !== null ? { last: options.last } : {}),
    ...(options.expectedSize !== undefined ? { expectedSize: options.expectedSize } : {}),
    workers: options.workers ?? 0,
  });
  const dataFiles = [...new Set(series.layout.blocks.map((b) => b.file))].filter((f) => f !== file);
  const dataset = series.layout.blocks.length === 1 ? series.layout.blocks[0]!.dataset : (options.dataset ?? DEFAULT_DATASET);
  const source = completeSource({
    length: series.length,
    shape: [series.width, series.height],
    type: series.pixelType,
    description: `${file}:${dataset}`,
    read: (i) => series.read(i),
    readStored: async (i) => ({ width: series.width, height: series.height, type: series.pixelType, data: await series.readRaw(i) }),
    range: async function* (first, count): AsyncGenerator<SourcedFrame> {
      let k = first;
      for await (const image of series.frames(first, count)) yield { offset: k++, image };
    },
    pass: () => series,
    fingerprint: () => {
      const f = { ...fileFingerprint(file), dataset: options.dataset ?? DEFAULT_DATASET, first: options.first ?? 0, last: options.last ?? null };
      return dataFiles.length === 0 ? f : { ...f, dataFiles: dataFiles.map((d) => fileFingerprint(d)) };
    },
    close: () => series.close(),
  });
  return Object.assign(source, { dataset });
}
