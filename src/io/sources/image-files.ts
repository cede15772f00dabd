/**
 * CBF/SMV image files (one frame per file) as a `FrameSource`: a list of
 * files or a DIALS template (src/io/series.ts reads and decodes them).
 *
 * Opening checks that every file exists (FileAccessError naming the file and
 * its frame) and reads frame 0 for the frame shape and stored type, so a
 * source that opens has its first frame readable. `range` reads the next
 * frame ahead while the consumer works on the current one; a whole pass by
 * iteration uses the series iterator (one file read ahead, bounded memory).
 * The fingerprint is the path, size and mtime of every file.
 */
import { existsSync } from 'node:fs';
import { FileAccessError } from '../../errors.ts';
import type { DetectorImage } from '../image.ts';
import { openImageSeries, type ImageDecodeOptions, type SeriesSource } from '../series.ts';
import { completeSource, fileFingerprint } from './complete.ts';
import type { FrameSource, FrameType, StoredArray } from './frame-source.ts';

export type ImageFilesOptions = ImageDecodeOptions & {
  /** the config key or option named when a file is missing (e.g. `sweeps[0].images`) */
  field?: string;
};

/** The stored pixel type of a decoded CBF/SMV frame, from its header. */
export function imageFileType(image: DetectorImage): FrameType {
  const raw = image.header.raw;
  if (image.header.format === 'smv') {
    const t = (raw.get('TYPE') ?? 'unsigned_short').toLowerCase();
    return t === 'unsigned_int' || t === 'unsigned_long' ? 'uint32' : t === 'signed_int' || t === 'signed_long' ? 'int32' : 'uint16';
  }
  const t = (raw.get('X-Binary-Element-Type') ?? '').replace(/"/g, '').toLowerCase();
  if (t.includes('unsigned 16')) return 'uint16';
  if (t.includes('signed 16')) return 'int16';
  if (t.includes('unsigned 32')) return 'uint32';
  return 'int32';
}

/** Decoded Int32 pixels back in the file's element type (values the decoder read from that type fit it). */
function storedAs(pixels: Int32Array, type: FrameType): StoredArray {
  switch (type) {
    case 'uint16':
      return Uint16Array.from(pixels);
    case 'int16':
      return Int16Array.from(pixels);
    case 'uint32':
      return new Uint32Array(pixels.buffer, pixels.byteOffset, pixels.length);
    default:
      return pixels;
  }
}

/** Opens CBF/SMV files given as a list or a template (see the module comment). */
export async function openImageFiles(spec: SeriesSource, options: ImageFilesOptions = {}): Promise<FrameSource> {
  const decode: ImageDecodeOptions = {};
  if (options.expectedSize !== undefined) decode.expectedSize = options.expectedSize;
  if (options.verifyMd5 !== undefined) decode.verifyMd5 = options.verifyMd5;
  const series = openImageSeries({ ...spec, ...decode });
  const files = series.files;
  const n = files.length;
  files.forEach((f, i) => {
    if (!existsSync(f)) throw new FileAccessError(`no such file (image ${i} of ${n}${options.field !== undefined ? ` in ${options.field}` : ''})`, { file: f, frame: i });
  });
  const first = await series.read(0);
  const type = imageFileType(first);
  const description = n === 1 ? (files[0] as string) : 'template' in spec ? `${spec.template} (${n} images)` : `${n} image files (${files[0] as string} …)`;
  return completeSource({
    length: n,
    shape: options.expectedSize ?? [first.width, first.height],
    type,
    description,
    read: (i) => series.read(i),
    readStored: async (i) => {
      const image = await series.read(i);
      return { width: image.width, height: image.height, type, data: storedAs(image.pixels, type) };
    },
    fingerprint: () => files.map((f) => fileFingerprint(f)),
    decodeTask: (i) => ({ kind: 'image-file', file: files[i] as string, frame: i, options: decode }),
    close: async () => undefined,
    pass: () => series,
  });
}
