/**
 * Bridges from today's frame readers to the `FrameSource` interface
 * (src/io/sources/frame-source.ts) that the stages take: an `ImageSeries`
 * (CBF/SMV, src/io/series.ts) or a runner `SweepSource` (src/run/sources.ts).
 * The openers of src/io/sources/ replace these; every caller obtains its
 * frames in one call so the swap is one line per command.
 */
import type { DetectorImage } from '../io/image.ts';
import type { ImageSeries } from '../io/series.ts';
import type { FrameSource, SourcedFrame } from '../io/sources/frame-source.ts';
import { frameRange, type SweepSource } from './sources.ts';

interface RandomAccess {
  readonly length: number;
  read(index: number): Promise<DetectorImage>;
  range?(first: number, count: number): AsyncIterable<SourcedFrame>;
  fingerprint(): unknown;
  close(): Promise<void>;
}

function adapt(src: RandomAccess, description: string, base = 0, length = src.length): FrameSource {
  const check = (first: number, count: number): void => {
    if (!(Number.isInteger(first) && Number.isInteger(count) && first >= 0 && count >= 0 && first + count <= length)) {
      throw new RangeError(`frames ${first}…${first + count - 1} are outside 0…${length - 1} of ${description}`);
    }
  };
  return {
    length,
    shape: null,
    type: null,
    description,
    read: (i) => {
      check(i, 1);
      return src.read(base + i);
    },
    range: (first, count) => {
      check(first, count);
      return src.range !== undefined ? src.range(base + first, count) : frameRange(src, base + first, count);
    },
    view: (first, count) => {
      check(first, count);
      return adapt(src, description, base + first, count);
    },
    fingerprint: () => ({ of: src.fingerprint(), first: base, count: length }),
    close: () => src.close(),
  };
}

/** A CBF/SMV series as a FrameSource (frames read with one read ahead). */
export function seriesFrameSource(series: ImageSeries, description: string): FrameSource {
  return adapt({ length: series.length, read: (i) => series.read(i), fingerprint: () => [...series.files], close: async () => undefined }, description);
}

/** A runner sweep source as a FrameSource. */
export function sweepFrameSource(source: SweepSource, description: string): FrameSource {
  return adapt({ length: source.length, read: (i) => source.read(i), range: (f, c) => source.range(f, c), fingerprint: () => source.fingerprint(), close: () => source.close() }, description);
}
