/**
 * A frame that another thread can read and decode on its own: what a
 * `FrameSource` hands out through `decodeTask(i)` where its format allows
 * (CBF/SMV files: the path and decode options), so that decoding runs in the
 * CPU workers rather than on the main thread (src/kernels/cpu/). Plain data:
 * it crosses a thread boundary by structured clone.
 */
import type { DetectorImage } from '../image.ts';
import { readImage, type DecodeBuffers, type ImageDecodeOptions } from '../series.ts';

/** One CBF or SMV file holding one frame. */
export interface ImageFileTask {
  kind: 'image-file';
  file: string;
  /** the frame's index in its source, for error messages */
  frame: number;
  options: ImageDecodeOptions;
}

export type FrameTask = ImageFileTask;

/**
 * Reads and decodes the frame of `task` (in whatever thread calls it): the
 * same image `FrameSource.read` gives, read and decoded into `buffers` where
 * given (a worker's reused buffers: DecodeBuffers).
 */
export function decodeFrameTask(task: FrameTask, buffers: DecodeBuffers = {}): Promise<DetectorImage> {
  return readImage(task.file, { ...task.options, frame: task.frame }, buffers);
}
