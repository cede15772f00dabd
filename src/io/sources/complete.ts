/**
 * What every frame source shares: the read-ahead `frameRange`, views,
 * iteration, index checks and file fingerprints. An opener gives the
 * format-specific core (`SourceCore`) and `completeSource` makes it a
 * `FrameSource`.
 */
import { statSync } from 'node:fs';
import { basename } from 'node:path';
import { InvalidValueError } from '../../errors.ts';
import type { DetectorImage } from '../image.ts';
import type { FrameSource, SourcedFrame } from './frame-source.ts';

/** The format-specific part of a source; `range` and `pass` default to read-ahead over `read`. */
export interface SourceCore extends Pick<FrameSource, 'length' | 'shape' | 'type' | 'description' | 'read' | 'readStored' | 'fingerprint' | 'close' | 'decodeTask'> {
  /** frames first…first+count−1 (checked by the caller); default `frameRange` over `read` */
  range?(first: number, count: number): AsyncIterable<SourcedFrame>;
  /** one pass over every frame with resources of its own; default: `range(0, length)` */
  pass?(): AsyncIterable<DetectorImage>;
}

/**
 * Name, size and mtime of a file: what a checkpoint key needs to notice a
 * changed file. The folder is left out, so a data set moved or copied with its
 * times keeps its checkpoints, and the keys (and the maps that name stage
 * files) do not depend on where the data lie.
 */
export function fileFingerprint(path: string): { name: string; size: number; mtimeMs: number } {
  const st = statSync(path);
  return { name: basename(path), size: st.size, mtimeMs: Math.round(st.mtimeMs) };
}

/** Throws unless `index` is a frame of a source of `length` frames. */
export function checkIndex(index: number, length: number, description: string): void {
  if (!Number.isSafeInteger(index) || index < 0 || index >= length) {
    throw new InvalidValueError(`frame ${index} is outside ${description} (0…${length - 1})`, { frame: index });
  }
}

/** Throws unless first…first+count−1 are frames of a source of `length` frames (count 0 allowed). */
export function checkRange(first: number, count: number, length: number, description: string): void {
  if (!Number.isSafeInteger(first) || !Number.isSafeInteger(count) || first < 0 || count < 0 || first + count > length) {
    throw new InvalidValueError(`frames ${first}…${first + count - 1} are outside ${description} (0…${length - 1})`, { field: 'range' });
  }
}

/** Frames first…first+count−1 of `source`, in order, with the next one read (and decoded) ahead. */
export async function* frameRange(source: Pick<FrameSource, 'read'>, first: number, count: number): AsyncGenerator<SourcedFrame> {
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

async function* imagesOf(frames: AsyncIterable<SourcedFrame>): AsyncGenerator<DetectorImage> {
  for await (const f of frames) yield f.image;
}

/** A `FrameSource` from its core: checked indices and ranges, read-ahead `range`, `view` and iteration. */
export function completeSource(core: SourceCore): FrameSource {
  const { length, description } = core;
  const source: FrameSource = {
    length,
    shape: core.shape,
    type: core.type,
    description,
    read: async (index) => {
      checkIndex(index, length, description);
      return core.read(index);
    },
    readStored: async (index) => {
      checkIndex(index, length, description);
      return core.readStored(index);
    },
    range: (first, count) => {
      checkRange(first, count, length, description);
      return core.range !== undefined ? core.range(first, count) : frameRange(source, first, count);
    },
    view: (first, count) => viewOf(source, first, count),
    fingerprint: () => core.fingerprint(),
    decodeTask: (index) => {
      checkIndex(index, length, description);
      return core.decodeTask?.(index) ?? null;
    },
    close: () => core.close(),
    [Symbol.asyncIterator]: () => (core.pass !== undefined ? core.pass() : imagesOf(source.range(0, length)))[Symbol.asyncIterator](),
  };
  return source;
}

/**
 * Frames first…first+count−1 of `parent` as a source: frame i of the view is
 * frame first+i of the parent, and offsets in `range` stay the parent's. A
 * view shares its parent's files and workers: closing it releases nothing.
 */
export function viewOf(parent: FrameSource, first: number, count: number): FrameSource {
  checkRange(first, count, parent.length, parent.description);
  return completeSource({
    length: count,
    shape: parent.shape,
    type: parent.type,
    description: `frames ${first}…${first + count - 1} of ${parent.description}`,
    read: (i) => parent.read(first + i),
    readStored: (i) => parent.readStored(first + i),
    range: (a, c) => parent.range(first + a, c),
    decodeTask: (i) => parent.decodeTask?.(first + i) ?? null,
    fingerprint: () => ({ source: parent.fingerprint(), first, count }),
    close: async () => undefined,
  });
}
