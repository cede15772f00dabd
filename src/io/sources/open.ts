/**
 * `openFrameSource`: one opener for every frame format, picked by the file's
 * first bytes, else its extension, or by an explicit `kind`:
 *
 * | kind             | recognised by                                              |
 * | ---------------- | ---------------------------------------------------------- |
 * | `hdf5`           | the HDF5 signature (at 0 or 512), `.h5 .hdf5 .nxs .nx5`, `FILE.h5:/dataset` |
 * | `dectris-stream` | a CBOR sequence (gzip optional) whose first item is a list of byte strings |
 * | `stream1`        | a CBOR sequence (gzip optional) of tagged event records   |
 * | `images`         | miniCBF / SMV (src/io/series.ts), or a list or template of them |
 *
 * A list of two or more files or a template is always `images`.
 */
import { open, stat } from 'node:fs/promises';
import { Tag } from 'cbor-x';
import { FileAccessError, InvalidValueError, type DiffractError } from '../../errors.ts';
import { readCborsItems } from '../cbors.ts';
import { detectImageFormat, type SeriesSource } from '../series.ts';
import type { FrameSource } from './frame-source.ts';
import { openHdf5Frames, type Hdf5FramesOptions } from './hdf5-frames.ts';
import { openImageFiles, type ImageFilesOptions } from './image-files.ts';
import { openDectrisRecording, openStream1Recording } from './recordings.ts';

export type FrameSourceKind = 'images' | 'hdf5' | 'dectris-stream' | 'stream1';

/** A file (`FILE.h5:/dataset` names a dataset), a list of files, or a DIALS template. */
export type FrameSourceSpec = string | readonly string[] | { template: string; first: number; last: number; dir?: string };

export type FrameSourceOptions = ImageFilesOptions &
  Omit<Hdf5FramesOptions, 'expectedSize'> & {
    /** the format, instead of detecting it */
    kind?: FrameSourceKind;
    /** stream1 recordings: the detector stream (default: the first with frames) */
    stream?: string;
  };

const HDF5_SIGNATURE = [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a];
const HDF5_EXT = /\.(h5|hdf5|nxs|nx5)$/i;
const DATASET_SUFFIX = /^(.*\.(?:h5|hdf5|nxs|nx5)):(\/.*)$/i;

/** A file's first bytes; a missing file or a folder is a FileAccessError naming it (and `field`). */
async function head(path: string, bytes: number, field: string | undefined): Promise<Uint8Array> {
  const where = field !== undefined ? { file: path, field } : { file: path };
  let isFile: boolean;
  try {
    isFile = (await stat(path)).isFile();
  } catch {
    throw new FileAccessError('no such file', where);
  }
  if (!isFile) throw new FileAccessError('is not a file (a folder?)', where);
  const fh = await open(path, 'r');
  try {
    const b = new Uint8Array(bytes);
    const { bytesRead } = await fh.read(b, 0, bytes, 0);
    return b.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

function hasHdf5Signature(b: Uint8Array): boolean {
  return [0, 512, 1024, 2048].some((at) => HDF5_SIGNATURE.every((v, k) => b[at + k] === v));
}

/** Dectris raw recording or stream1 event recording, from the first CBOR item. */
async function recordingKind(path: string): Promise<FrameSourceKind> {
  for await (const item of readCborsItems(path)) {
    if (Array.isArray(item)) return 'dectris-stream';
    if (item instanceof Tag) return 'stream1';
    break;
  }
  throw new InvalidValueError('a CBOR sequence whose first item is neither a multipart message (Dectris stream) nor an event record (stream1)', { file: path });
}

/** The format of one file (see the module comment). */
export async function detectSourceKind(path: string, field?: string): Promise<FrameSourceKind> {
  const b = await head(path, 4096, field);
  if (hasHdf5Signature(b)) return 'hdf5';
  const gzip = b[0] === 0x1f && b[1] === 0x8b;
  // CBOR: tag 55799 (self-described), or an array (major type 4) as raw recordings start
  const cbor = (b[0] === 0xd9 && b[1] === 0xd9 && b[2] === 0xf7) || (b[0] !== undefined && b[0] >= 0x80 && b[0] <= 0x9f);
  if (gzip || cbor || /\.cbors(\.gz)?$/i.test(path)) return recordingKind(path);
  if (HDF5_EXT.test(path)) return 'hdf5';
  try {
    detectImageFormat(b, path);
    return 'images';
  } catch (err) {
    throw new InvalidValueError(
      `unknown frame format: not HDF5, a .cbors recording, miniCBF or SMV (${(err as DiffractError).message.split(': ').pop() ?? ''})`,
      field !== undefined ? { file: path, field } : { file: path },
    );
  }
}

/** Opens frames of any supported format (see the module comment). */
export async function openFrameSource(spec: FrameSourceSpec, options: FrameSourceOptions = {}): Promise<FrameSource> {
  const images = (s: SeriesSource): Promise<FrameSource> => openImageFiles(s, options);
  if (typeof spec !== 'string' && !Array.isArray(spec)) return images(spec as SeriesSource);
  const list = spec as readonly string[] | string;
  if (Array.isArray(list) && list.length !== 1) return images({ files: list });
  let file = typeof list === 'string' ? list : (list[0] as string);
  let dataset = options.dataset;
  const named = DATASET_SUFFIX.exec(file);
  if (named !== null) {
    file = named[1] as string;
    dataset ??= named[2] as string;
  }
  const kind = options.kind ?? (await detectSourceKind(file, options.field));
  switch (kind) {
    case 'images':
      return images({ files: [file] });
    case 'hdf5': {
      const h: Hdf5FramesOptions = {};
      if (dataset !== undefined) h.dataset = dataset;
      if (options.candidates !== undefined) h.candidates = options.candidates;
      if (options.first !== undefined) h.first = options.first;
      if (options.last !== undefined) h.last = options.last;
      if (options.expectedSize !== undefined) h.expectedSize = options.expectedSize;
      if (options.workers !== undefined) h.workers = options.workers;
      return openHdf5Frames(file, h);
    }
    case 'dectris-stream':
      return checkedSize(await openDectrisRecording(file), options.expectedSize);
    case 'stream1':
      return checkedSize(await openStream1Recording(file, options.stream !== undefined ? { stream: options.stream } : {}), options.expectedSize);
  }
}

/** A recording whose frames are not the expected size is refused at open (as HDF5 and image files are). */
async function checkedSize(source: FrameSource, expected: readonly [number, number] | undefined): Promise<FrameSource> {
  const s = source.shape;
  if (expected !== undefined && s !== null && (s[0] !== expected[0] || s[1] !== expected[1])) {
    await source.close();
    throw new InvalidValueError(`frames are ${s[0]}×${s[1]} pixels (fast×slow) but ${expected[0]}×${expected[1]} was expected`, { file: source.description, frame: 0 });
  }
  return source;
}
