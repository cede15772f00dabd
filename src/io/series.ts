/**
 * Image series read one frame at a time.
 *
 * A series is a list of files, given as such or as a DIALS template: the file
 * name with one run of '#' standing for the zero-padded image number
 * (`l-cyst_01_#####.cbf`, images `first`…`last` inclusive). Iterating a
 * series reads a file, decodes it and yields the frame; while the consumer
 * works on a frame, the bytes of the next file are read (one read-ahead, not
 * decoded). So the iterator holds at most two frames: the one handed out and
 * the next one's file bytes; it never loads the whole series.
 *
 * Each file's format is chosen by its magic bytes ('###CBF' or a CIF binary
 * section → miniCBF; '{' with HEADER_BYTES → SMV), else by its extension
 * (.cbf; .img or .smv). Frame numbers in errors and in `source.frame` are the
 * 0-based position in the series.
 *
 * Commands do not call this directly: they open frames of any format through
 * the frame-source layer (src/io/sources/), whose `openImageFiles` wraps it.
 */
import { isAbsolute, join } from 'node:path';
import { Buffer } from 'node:buffer';
import { FormatError, InvalidValueError } from '../errors.ts';
import { decodeCbf } from './cbf.ts';
import { locate, readFileBytes, type DetectorImage, type ImageFormat, type ReadScratch } from './image.ts';
import { decodeSmv } from './smv.ts';

/** Options for decoding any supported image. */
export interface ImageDecodeOptions {
  /** [fast, slow] every frame must have, e.g. the detector model's `imageSize` */
  expectedSize?: readonly [number, number];
  /** CBF: check Content-MD5 when present (default true) */
  verifyMd5?: boolean;
}

/** The format of an image file, from its first bytes, else from its extension. */
export function detectImageFormat(bytes: Uint8Array, file: string, frame?: number): ImageFormat {
  const head = Buffer.from(bytes.buffer, bytes.byteOffset, Math.min(bytes.byteLength, 4096)).toString('latin1');
  if (head.startsWith('###CBF')) return 'cbf';
  if (head.startsWith('{') && head.slice(0, 1024).includes('HEADER_BYTES')) return 'smv';
  const ext = /\.([^./\\]+)$/.exec(file)?.[1]?.toLowerCase();
  if (ext === 'cbf') return 'cbf';
  if (ext === 'img' || ext === 'smv') return 'smv';
  if (head.includes('--CIF-BINARY-FORMAT-SECTION--')) return 'cbf';
  throw new FormatError('unknown image format: neither a miniCBF (###CBF) nor an SMV ({ HEADER_BYTES=…) image', locate(file, frame));
}

/** Decodes a miniCBF or SMV image held in memory (format from `detectImageFormat`). */
export function decodeImage(bytes: Uint8Array, file: string, frame?: number, options: ImageDecodeOptions = {}, into?: Int32Array): DetectorImage {
  return detectImageFormat(bytes, file, frame) === 'cbf'
    ? decodeCbf(bytes, file, frame, options, into)
    : decodeSmv(bytes, file, frame, options, into);
}

/** Buffers a reader reuses from frame to frame: the file's bytes, and the pixels when they have the image's size. */
export interface DecodeBuffers {
  file?: ReadScratch;
  pixels?: Int32Array;
}

/** Reads and decodes one miniCBF or SMV file (into `buffers` where given: see DecodeBuffers). */
export async function readImage(path: string, options: ImageDecodeOptions & { frame?: number } = {}, buffers: DecodeBuffers = {}): Promise<DetectorImage> {
  return decodeImage(await readFileBytes(path, options.frame, buffers.file), path, options.frame, options, buffers.pixels);
}

/**
 * The file names of a DIALS template for images `first`…`last` (inclusive):
 * the single run of '#' becomes the image number, zero-padded to the run's
 * length (a longer number is written in full).
 */
export function expandTemplate(template: string, first: number, last: number): string[] {
  const runs = template.match(/#+/g) ?? [];
  if (runs.length !== 1) {
    throw new InvalidValueError(
      `template '${template}' must have exactly one run of '#' for the image number (it has ${runs.length})`,
      { field: 'template' },
    );
  }
  if (!Number.isSafeInteger(first) || !Number.isSafeInteger(last) || first < 0 || last < first) {
    throw new InvalidValueError(`image range ${first}…${last} is not two integers 0 ≤ first ≤ last`, { field: 'template' });
  }
  const at = template.indexOf('#');
  const digits = runs[0]!.length;
  const before = template.slice(0, at);
  const after = template.slice(at + digits);
  const files: string[] = [];
  for (let i = first; i <= last; i++) files.push(`${before}${String(i).padStart(digits, '0')}${after}`);
  return files;
}

/** What the iterator does, for instrumentation (tests use it to show that memory stays bounded). */
export interface SeriesEvent {
  /** read-start: the file's bytes start being read; decoded: the frame is decoded;
   *  released: the iterator no longer holds anything of this frame (the next one was asked for, or iteration ended) */
  type: 'read-start' | 'decoded' | 'released';
  frame: number;
  file: string;
}

export type SeriesSource = { files: readonly string[] } | { template: string; first: number; last: number; dir?: string };

export type SeriesOptions = SeriesSource &
  ImageDecodeOptions & {
    /** called on every read, decode and release (instrumentation) */
    probe?: (event: SeriesEvent) => void;
  };

export interface ImageSeries extends AsyncIterable<DetectorImage> {
  /** number of frames */
  readonly length: number;
  /** the file of every frame, in order */
  readonly files: readonly string[];
  /** reads and decodes frame `index` (0-based) alone */
  read(index: number): Promise<DetectorImage>;
  /** a new pass over the frames, in order, one at a time */
  [Symbol.asyncIterator](): AsyncIterator<DetectorImage>;
}

type ReadResult = { ok: true; bytes: Uint8Array } | { ok: false; error: unknown };

/** Starts reading a file; never rejects (a read-ahead that fails must not be an unhandled rejection). */
function startRead(path: string, frame: number): Promise<ReadResult> {
  return readFileBytes(path, frame).then(
    (bytes): ReadResult => ({ ok: true, bytes }),
    (error: unknown): ReadResult => ({ ok: false, error }),
  );
}

/**
 * Opens a series of image files, given as a list or a DIALS template (`dir`
 * is prefixed to a relative template). Nothing is read until iteration.
 * A missing file gives a FileAccessError naming it and its frame; a frame
 * whose size differs from the first frame's an InvalidValueError naming the
 * file and frame.
 */
export function openImageSeries(opts: SeriesOptions): ImageSeries {
  let files: string[];
  if ('files' in opts) {
    files = [...opts.files];
  } else {
    const template = opts.dir !== undefined && !isAbsolute(opts.template) ? join(opts.dir, opts.template) : opts.template;
    files = expandTemplate(template, opts.first, opts.last);
  }
  if (files.length === 0) throw new InvalidValueError('the image series has no files', { field: 'files' });
  const decodeOptions: ImageDecodeOptions = {};
  if (opts.expectedSize !== undefined) decodeOptions.expectedSize = opts.expectedSize;
  if (opts.verifyMd5 !== undefined) decodeOptions.verifyMd5 = opts.verifyMd5;
  const probe = opts.probe;
  const fileAt = (i: number): string => files[i]!;

  async function read(index: number): Promise<DetectorImage> {
    if (!Number.isSafeInteger(index) || index < 0 || index >= files.length) {
      throw new InvalidValueError(`frame ${index} is outside the series (0…${files.length - 1})`);
    }
    return readImage(fileAt(index), { ...decodeOptions, frame: index });
  }

  async function* frames(): AsyncGenerator<DetectorImage, void, undefined> {
    let first: { width: number; height: number; file: string } | undefined;
    let held = -1; // the frame handed out last: held until the consumer asks for the next one
    let ahead = -1; // the frame whose bytes are being read ahead
    let pending: Promise<ReadResult> | undefined;
    let image: DetectorImage | undefined;
    let result: ReadResult | undefined;
    const readAhead = (i: number): void => {
      probe?.({ type: 'read-start', frame: i, file: fileAt(i) });
      pending = startRead(fileAt(i), i);
      ahead = i;
    };
    const release = (i: number): void => probe?.({ type: 'released', frame: i, file: fileAt(i) });
    try {
      readAhead(0);
      for (let i = 0; i < files.length; i++) {
        const file = fileAt(i);
        result = await pending!;
        pending = undefined;
        ahead = -1;
        held = i;
        if (!result.ok) throw result.error;
        image = decodeImage(result.bytes, file, i, decodeOptions);
        result = undefined; // the file bytes are not needed once decoded
        probe?.({ type: 'decoded', frame: i, file });
        if (first === undefined) {
          first = { width: image.width, height: image.height, file };
        } else if (image.width !== first.width || image.height !== first.height) {
          throw new InvalidValueError(
            `frame is ${image.width}×${image.height} pixels but the first frame (${first.file}) is ${first.width}×${first.height}`,
            locate(file, i),
          );
        }
        if (i + 1 < files.length) readAhead(i + 1);
        yield image;
        image = undefined; // keep no reference once the consumer moves on
        release(held);
        held = -1;
      }
    } finally {
      // normal end, error, or the consumer stopped early (a pending read-ahead is dropped unread)
      image = undefined;
      result = undefined;
      if (held >= 0) release(held);
      if (ahead >= 0) release(ahead);
    }
  }

  return {
    length: files.length,
    files,
    read,
    [Symbol.asyncIterator]: () => frames(),
  };
}
