/**
 * The one frame-source interface every command reads images through: CBF/SMV
 * files or templates, Eiger/NeXus HDF5 (master or data file), the Dectris
 * stream and stream1 recordings all open into a `FrameSource`
 * (openers: src/io/sources/).
 *
 * Frames are numbered 0…length−1 in the source (for a view: in the view).
 * Errors name the file and the frame.
 */
import type { DetectorImage } from '../image.ts';

/** The pixel type frames are stored as (they are always delivered as Int32 pixels). */
export type FrameType = 'uint8' | 'uint16' | 'uint32' | 'int16' | 'int32' | 'float32' | 'float64';

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
  /** frames first…first+count−1 in order, decoded ahead where the format allows */
  range(first: number, count: number): AsyncIterable<SourcedFrame>;
  /** frames first…first+count−1 as a source of their own (offsets stay those of this source) */
  view(first: number, count: number): FrameSource;
  /** what identifies the content (paths, sizes, mtimes, dataset, range), for checkpoint keys: JSON-serialisable */
  fingerprint(): unknown;
  /** releases files and workers; safe to call twice */
  close(): Promise<void>;
}
