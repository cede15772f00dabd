/**
 * The one frame-source interface every command reads images through: CBF/SMV
 * files or templates, Eiger/NeXus HDF5 (master or data file), the Dectris
 * stream and stream1 recordings all open into a `FrameSource`
 * (openers: src/io/sources/).
 *
 * Frames are numbered 0…length−1 in the source (for a view: in the view).
 * Errors name the file and the frame.
 *
 * Two ways to get the pixels: `read`/`range`/iteration give `DetectorImage`s
 * (Int32 counts, markers −1/−2 kept; a float frame must hold integer values),
 * `readStored` gives the frame as stored (floats of a calibrated detector
 * included), for photon-level work.
 *
 * Resources: `read`, `readStored` and `range` may keep files or decode
 * workers open until `close()`. A whole pass by `for await (… of source)`
 * opens and releases its own, so a caller that only iterates once leaks
 * nothing even without `close()`.
 *
 * A new implementation need only give `length`, `shape`, `type`,
 * `description`, `read`, `readStored`, `fingerprint` and `close`:
 * `completeSource` (src/io/sources/complete.ts) adds `range` (read-ahead),
 * `view` and iteration.
 */
import type { DetectorImage } from '../image.ts';
import type { FrameTask } from './frame-task.ts';

/** The pixel type frames are stored as (`read` delivers Int32 pixels; `readStored` this type). */
export type FrameType = 'uint8' | 'uint16' | 'uint32' | 'int16' | 'int32' | 'float32' | 'float64' | 'int8';

/** The typed array of a stored frame. */
export type StoredArray = Uint8Array | Int8Array | Uint16Array | Int16Array | Uint32Array | Int32Array | Float32Array | Float64Array;

/** A frame as stored: row-major (index = y·width + x), in its own type. */
export interface StoredFrame {
  width: number;
  height: number;
  type: FrameType;
  data: StoredArray;
}

/** A frame with its 0-based position in the source it was read from. */
export interface SourcedFrame {
  /** 0-based offset of the frame in the source (a view keeps its parent's offsets) */
  offset: number;
  image: DetectorImage;
}

export interface FrameSource {
  /** number of frames */
  readonly length: number;
  /** [width (fast), height (slow)] of every frame; null when only reading a frame tells */
  readonly shape: readonly [number, number] | null;
  /** the stored pixel type; null when only reading a frame tells */
  readonly type: FrameType | null;
  /** what the frames are, for messages: a file, a template, a stream */
  readonly description: string;
  /** reads and decodes frame `index` alone */
  read(index: number): Promise<DetectorImage>;
  /** frame `index` as stored (native type, no marker mapping) */
  readStored(index: number): Promise<StoredFrame>;
  /** frames first…first+count−1 in order, decoded ahead where the format allows */
  range(first: number, count: number): AsyncIterable<SourcedFrame>;
  /** frames first…first+count−1 as a source of their own (offsets stay those of this source) */
  view(first: number, count: number): FrameSource;
  /** what identifies the content (paths, sizes, mtimes, dataset, range), for checkpoint keys: JSON-serialisable */
  fingerprint(): unknown;
  /**
   * frame `index` as a task another thread can decode alone (src/io/sources/frame-task.ts), where the
   * format allows (CBF/SMV files); absent or null: only this thread reads it
   */
  decodeTask?(index: number): FrameTask | null;
  /** releases files and workers; safe to call twice (a view's close releases nothing of its parent) */
  close(): Promise<void>;
  /** one pass over all frames in order (decoded ahead as `range` is); its resources end with the pass */
  [Symbol.asyncIterator](): AsyncIterator<DetectorImage>;
}
