/**
 * Recorded detector streams as `FrameSource`s:
 *
 * - `openDectrisRecording`: a raw Dectris stream recording (`.cbors[.gz]`, one
 *   multipart message per CBOR item: dheader-1.0, dimage-1.0…,
 *   dseries_end-1.0), decoded by src/io/dectris-stream.ts;
 * - `openStream1Recording`: a dranspose event recording (`.cbors[.gz]`) whose
 *   detector stream speaks stream1 (src/io/stream1.ts, src/io/cbors.ts).
 *
 * A recording is read front to back, never held whole. Opening reads it once
 * to count the frames and learn their shape and type (and checks that it holds
 * one series: a second header is an InvalidValueError naming the event).
 * `range` and a whole pass read it once more; `read(i)` reads up to frame i,
 * so random access costs a pass over the frames before it. Frame i is the
 * i-th image message of the series; errors name the file and that frame.
 * The fingerprint is the file's path, size and mtime (and the stream name).
 */
import { InvalidValueError, MissingFieldError } from '../../errors.ts';
import { readCbors } from '../cbors.ts';
import { decodeDectrisFrame, decodeDectrisImage, readDectrisRecording, type DectrisImageMessage } from '../dectris-stream.ts';
import type { DetectorImage, ImageHeader } from '../image.ts';
import { parseStream1, typedFrame, type Stream1Image } from '../stream1.ts';
import { completeSource, fileFingerprint } from './complete.ts';
import type { FrameSource, FrameType, SourcedFrame, StoredFrame } from './frame-source.ts';
import { pixelsFromNative } from './pixels.ts';

/** A recording's frames in order, each with what a source needs to make images of it. */
interface RecordingFormat<M> {
  /** the image messages of the recording's one series, in order */
  messages(): AsyncGenerator<M>;
  toImage(msg: M, index: number): DetectorImage;
  toStored(msg: M): StoredFrame;
}

/** The core shared by both recording kinds: counts frames at open, then reads front to back. */
async function recordingSource<M>(
  path: string,
  format: RecordingFormat<M>,
  describe: (first: M) => { shape: readonly [number, number]; type: FrameType },
  fingerprintExtra: Record<string, unknown>,
): Promise<FrameSource> {
  let length = 0;
  let info: { shape: readonly [number, number]; type: FrameType } | undefined;
  for await (const msg of format.messages()) {
    info ??= describe(msg);
    length++;
  }
  if (info === undefined) throw new InvalidValueError('the recording holds no detector frames', { file: path });
  const known = info;
  async function* between(first: number, count: number): AsyncGenerator<[M, number]> {
    if (count === 0) return;
    let i = 0;
    for await (const msg of format.messages()) {
      if (i >= first) yield [msg, i];
      i++;
      if (i >= first + count) return;
    }
    throw new InvalidValueError(`the recording ended after ${i} frames; it had ${length} when opened`, { file: path, frame: i });
  }
  const at = async (index: number): Promise<M> => {
    for await (const [msg] of between(index, 1)) return msg;
    throw new InvalidValueError(`no frame ${index}`, { file: path, frame: index });
  };
  return completeSource({
    length,
    shape: known.shape,
    type: known.type,
    description: path,
    read: async (i) => format.toImage(await at(i), i),
    readStored: async (i) => format.toStored(await at(i)),
    range: async function* (first, count): AsyncGenerator<SourcedFrame> {
      for await (const [msg, i] of between(first, count)) yield { offset: i, image: format.toImage(msg, i) };
    },
    fingerprint: () => ({ ...fileFingerprint(path), ...fingerprintExtra }),
    close: async () => undefined,
  });
}

/** The Dectris message pixel type as a stored array over a copy of the decoded bytes. */
function dectrisStored(msg: DectrisImageMessage): StoredFrame {
  const bytes = decodeDectrisFrame(msg);
  const [width, height] = msg.shape;
  return { width, height, type: msg.type, data: typedFrame(bytes, msg.type) };
}

/** Opens a raw Dectris stream recording (see the module comment). */
export async function openDectrisRecording(path: string): Promise<FrameSource> {
  let config: Record<string, unknown> | undefined;
  const format: RecordingFormat<DectrisImageMessage> = {
    async *messages() {
      let headers = 0;
      let index = 0;
      for await (const msg of readDectrisRecording(path)) {
        if (msg.htype === 'dheader-1.0') {
          headers++;
          if (headers > 1) throw new InvalidValueError(`the recording holds more than one series (a second dheader-1.0, series ${msg.series}, after ${index} frames); split it first`, { file: path, field: 'dheader-1.0' });
          config = msg.config;
        } else if (msg.htype === 'dimage-1.0') {
          index++;
          yield msg;
        }
      }
    },
    toImage: (msg, i) => {
      const image = decodeDectrisImage(msg, config !== undefined ? { config } : {});
      return { ...image, source: { file: path, frame: i } };
    },
    toStored: dectrisStored,
  };
  return recordingSource(path, format, (m) => ({ shape: m.shape, type: m.type }), {});
}

/** The stream1 image messages of one stream of an event recording. */
async function* stream1Images(path: string, stream: string | undefined, found: (name: string) => void): AsyncGenerator<Stream1Image> {
  let chosen = stream;
  let headers = 0;
  let index = 0;
  for await (const ev of readCbors(path)) {
    for (const [name, { type, parts }] of ev.streams) {
      if (type !== 'STINS' || (chosen !== undefined && name !== chosen)) continue;
      const msg = parseStream1(parts, { where: { file: path, frame: ev.index, field: name }, skipUnknown: true });
      if (msg === null) continue;
      if (msg.htype === 'header') {
        headers++;
        if (headers > 1) throw new InvalidValueError(`stream '${name}' holds more than one series (a second header at event ${ev.eventNumber}, after ${index} frames); split it first`, { file: path, field: name });
      } else if (msg.htype === 'image') {
        if (chosen === undefined) {
          chosen = name;
          found(name);
        }
        index++;
        yield msg;
      }
    }
  }
}

/** Opens the stream1 detector stream `stream` (default: the first STINS stream with frames) of an event recording. */
export async function openStream1Recording(path: string, options: { stream?: string } = {}): Promise<FrameSource> {
  let stream = options.stream;
  const format: RecordingFormat<Stream1Image> = {
    messages: () =>
      stream1Images(path, stream, (name) => {
        stream = name;
      }),
    toImage: (msg, i) => {
      const [rows, cols] = msg.shape;
      const raw = new Map<string, string>([
        ['stream', stream ?? ''],
        ['frame', String(msg.frame)],
        ['type', msg.type],
      ]);
      const header: ImageHeader = { format: 'stream1', raw, lines: [...raw].map(([k, v]) => `${k}=${v}`) };
      return { width: cols, height: rows, pixels: pixelsFromNative(msg.data, { file: path, frame: i }), header, source: { file: path, frame: i } };
    },
    toStored: (msg) => ({ width: msg.shape[1], height: msg.shape[0], type: msg.type, data: msg.data }),
  };
  try {
    return await recordingSource(path, format, (m) => ({ shape: [m.shape[1], m.shape[0]], type: m.type }), { stream: options.stream ?? null });
  } catch (err) {
    if (err instanceof InvalidValueError && options.stream !== undefined && /no detector frames/.test(err.message)) {
      throw new MissingFieldError(`the recording has no stream1 frames in stream '${options.stream}'`, { file: path, field: options.stream });
    }
    throw err;
  }
}
