/**
 * Dectris Eiger stream messages: the real recording from dranspose (EIGER2
 * CdTe 9M, frame blobs cut to 20,000 bytes when recorded) and a synthetic
 * series sent through a local ZeroMQ PUSH socket, built with a test-only
 * encoder (bitshuffle + literal-only LZ4) so frames round-trip exactly.
 */
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { encode as cborEncode } from 'cbor-x';
import { describe, expect, it } from 'vitest';
import { FormatError, MissingFieldError, TruncatedError } from '../../src/errors.ts';
import {
  connectDectrisStream,
  decodeDectrisFrame,
  decodeDectrisImage,
  dectrisArrayValues,
  parseDectrisMessage,
  readDectrisRecording,
  type DectrisHeader,
  type DectrisImageMessage,
  type DectrisMessage,
} from '../../src/io/dectris-stream.ts';
import { sharedData } from '../helpers/paths.ts';
import { imageParts } from './dectris-encode.ts';
import { errorOf, rejectionOf, tempDir } from './helpers.ts';

const RECORDING = (): string => sharedData('dranspose', 'eiger-small.cbors');

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

// ---- test-only encoder -------------------------------------------------------

const json = (o: Record<string, unknown>): Uint8Array => new Uint8Array(Buffer.from(JSON.stringify(o), 'utf8'));

// ---- the real recording ------------------------------------------------------

describe('dranspose EIGER2 recording (eiger-small.cbors)', () => {
  it('parses the header, three image messages and the series end with their real fields', async () => {
    const msgs = await collect(readDectrisRecording(RECORDING()));
    expect(msgs.map((m) => m.htype)).toEqual(['dheader-1.0', 'dimage-1.0', 'dimage-1.0', 'dimage-1.0', 'dseries_end-1.0']);
    const h = msgs[0] as DectrisHeader;
    expect(h.series).toBe(6);
    expect(h.headerDetail).toBe('all');
    expect(h.config?.description).toBe('Dectris EIGER2 CdTe 9M');
    expect(h.config?.detector_number).toBe('E-18-0132');
    expect([h.config?.x_pixels_in_detector, h.config?.y_pixels_in_detector]).toEqual([3108, 3262]);
    expect(h.config?.nimages).toBe(3);
    expect(h.flatfield?.shape).toEqual([3108, 3262]);
    expect(h.flatfield?.type).toBe('float32');
    expect(h.pixelMask?.type).toBe('uint32');
    // the recording cut the 40 MB flatfield and mask blobs to 20,000 bytes
    expect(h.flatfield?.data.length).toBe(20000);
    expect(h.flatfield?.expectedBytes).toBe(3108 * 3262 * 4);
    expect(errorOf(() => dectrisArrayValues(h.flatfield!))).toBeInstanceOf(TruncatedError);
    const table = dectrisArrayValues(h.countrateTable!);
    expect(h.countrateTable?.shape).toEqual([2, 1001]);
    expect(table).toBeInstanceOf(Float32Array);
    expect(table.length).toBe(2002);
    const appendix = JSON.parse(Buffer.from(h.appendix!).toString('utf8')) as { dozor_dict: { x_pixels_in_detector: number } };
    expect(appendix.dozor_dict.x_pixels_in_detector).toBe(3108);

    const sizes = [755083, 754672, 755895];
    msgs.slice(1, 4).forEach((m, k) => {
      const img = m as DectrisImageMessage;
      expect(img.series).toBe(6);
      expect(img.frame).toBe(k);
      expect(img.shape).toEqual([3108, 3262]);
      expect(img.type).toBe('uint32');
      expect(img.encoding).toBe('bs32-lz4<');
      expect(img.size).toBe(sizes[k]);
      expect(img.blob.length).toBe(20000);
      expect(img.realTime).toBe(9999900);
      expect(img.startTime).toBe(103597359252740 + k * 10000000);
      expect(img.stopTime).toBe(103597369252640 + k * 10000000);
      expect(img.source).toBe(RECORDING());
    });
    expect(msgs[1]).toMatchObject({ hash: '59bb3a04cd9d59d54e283c465036085c' });
    expect(msgs[4]).toMatchObject({ htype: 'dseries_end-1.0', series: 6 });
  });

  it('decoding a cut frame is a TruncatedError naming the frame, the series and the file', async () => {
    const msgs = await collect(readDectrisRecording(RECORDING()));
    for (const m of msgs) {
      if (m.htype !== 'dimage-1.0') continue;
      const err = errorOf(() => decodeDectrisImage(m));
      expect(err).toBeInstanceOf(TruncatedError);
      expect(err.message).toContain('truncated compressed frame');
      expect(err.message).toContain(`frame ${m.frame}`);
      expect(err.message).toContain('series 6');
      expect(err.message).toContain('eiger-small.cbors');
      expect(err.frame).toBe(m.frame);
      expect(err.file).toBe(RECORDING());
      // without the announced size, the bitshuffle-LZ4 decoder itself finds the cut
      const { size: _size, ...noSize } = m;
      const err2 = errorOf(() => decodeDectrisFrame(noSize));
      expect(err2).toBeInstanceOf(TruncatedError);
      expect(err2.message).toContain('truncated compressed frame');
      expect(err2.message).toMatch(/block \d+ of 4951 needs \d+ bytes/);
      expect(err2.message).toContain(`frame ${m.frame}`);
    }
  });

  it('a recording item that is not a list of byte strings is a FormatError', async () => {
    const tmp = tempDir('dectris-');
    try {
      const f = join(tmp.dir, 'bad.cbors');
      writeFileSync(f, Buffer.concat([cborEncode([Buffer.from('{"htype":"dseries_end-1.0","series":1}')]), cborEncode({ not: 'parts' })]));
      const err = await rejectionOf(collect(readDectrisRecording(f)));
      expect(err).toBeInstanceOf(FormatError);
      expect(err.message).toContain('item 1');
    } finally {
      tmp.remove();
    }
  });
});

// ---- parsing rules -----------------------------------------------------------

describe('parseDectrisMessage', () => {
  it('reads header_detail none / basic with appendix', () => {
    expect(parseDectrisMessage([json({ htype: 'dheader-1.0', series: 2, header_detail: 'none' })])).toEqual({ htype: 'dheader-1.0', series: 2, headerDetail: 'none' });
    const h = parseDectrisMessage([json({ htype: 'dheader-1.0', series: 3, header_detail: 'basic' }), json({ description: 'E' }), json({ user: 1 })]) as DectrisHeader;
    expect(h.config).toEqual({ description: 'E' });
    expect(JSON.parse(Buffer.from(h.appendix!).toString())).toEqual({ user: 1 });
  });

  it('refuses malformed messages with typed errors', () => {
    expect(errorOf(() => parseDectrisMessage([json({ htype: 'dwhat-1.0' })]))).toBeInstanceOf(FormatError);
    expect(errorOf(() => parseDectrisMessage([Uint8Array.from([1, 2, 3])]))).toBeInstanceOf(FormatError);
    expect(errorOf(() => parseDectrisMessage([]))).toBeInstanceOf(FormatError);
    expect(errorOf(() => parseDectrisMessage([json({ htype: 'dimage-1.0', series: 1 })]))).toBeInstanceOf(MissingFieldError);
    const good = imageParts(1, 0, new Uint32Array(16), [4, 4], 'bs32-lz4<');
    expect(errorOf(() => parseDectrisMessage([good[0]!, json({ htype: 'dimage_d-1.0', shape: [4, 4], type: 'float64', encoding: '<' }), good[2]!]))).toBeInstanceOf(FormatError);
    expect(errorOf(() => parseDectrisMessage([good[0]!, good[1]!, good[2]!, json({ htype: 'oops' })]))).toBeInstanceOf(FormatError);
    expect(errorOf(() => parseDectrisMessage([good[0]!, good[1]!]))).toBeInstanceOf(TruncatedError);
    const big = parseDectrisMessage([good[0]!, json({ htype: 'dimage_d-1.0', shape: [4, 4], type: 'uint32', encoding: 'bs32-lz4>' }), good[2]!]) as DectrisImageMessage;
    expect(errorOf(() => decodeDectrisImage(big))).toBeInstanceOf(FormatError);
    const wrongBits = parseDectrisMessage([good[0]!, json({ htype: 'dimage_d-1.0', shape: [4, 4], type: 'uint32', encoding: 'bs16-lz4<' }), good[2]!]) as DectrisImageMessage;
    expect(errorOf(() => decodeDectrisImage(wrongBits))).toBeInstanceOf(FormatError);
    // decompressed size ≠ shape · bytes-per-pixel
    const wrongShape = parseDectrisMessage([good[0]!, json({ htype: 'dimage_d-1.0', shape: [4, 5], type: 'uint32', encoding: 'bs32-lz4<' }), good[2]!]) as DectrisImageMessage;
    const shapeErr = errorOf(() => decodeDectrisImage(wrongShape));
    expect(shapeErr).toBeInstanceOf(FormatError);
    expect(shapeErr.message).toMatch(/says 64 uncompressed bytes, the frame needs 80/);
    const tampered = parseDectrisMessage(good) as DectrisImageMessage;
    tampered.hash = '0'.repeat(32);
    expect(errorOf(() => decodeDectrisImage(tampered, { verifyHash: true }))).toBeInstanceOf(FormatError);
  });
});

// ---- live socket -------------------------------------------------------------

describe('connectDectrisStream (local ZeroMQ PUSH → PULL)', () => {
  it('receives a synthetic series and decodes every encoding exactly', async () => {
    const zmq = await import('zeromq');
    const push = new zmq.Push({ linger: 0 });
    await push.bind('tcp://127.0.0.1:*');
    const endpoint = push.lastEndpoint as string;
    try {
      const received = collect(connectDectrisStream(endpoint, { timeoutMs: 10_000 }));
      const [w, h] = [37, 29]; // 1073 pixels: a partial block and count mod 8 ≠ 0
      const u32 = Uint32Array.from({ length: w * h }, (_v, i) => (i * 2654435761) % 100000);
      u32[5] = 0xffffffff;
      u32[6] = 0xfffffffe;
      const u16 = Uint16Array.from({ length: w * h }, (_v, i) => (i * 7919) % 65535);
      u16[3] = 0xffff;
      const big = Uint32Array.from({ length: 3000 * 3 }, (_v, i) => i % 97); // several 2048-element blocks
      const frames: Array<[Uint16Array | Uint32Array, [number, number], string]> = [
        [u32, [w, h], 'bs32-lz4<'],
        [u16, [w, h], 'bs16-lz4<'],
        [u32, [w, h], 'lz4<'],
        [u16, [w, h], '<'],
        [big, [3000, 3], 'bs32-lz4<'],
      ];
      const send = (parts: Uint8Array[]): Promise<void> => push.send(parts.map((p) => Buffer.from(p.buffer, p.byteOffset, p.byteLength)));
      await send([json({ htype: 'dheader-1.0', series: 11, header_detail: 'basic' }), json({ description: 'Dectris EIGER2 test', x_pixel_size: 7.5e-5, y_pixel_size: 7.5e-5, wavelength: 1.0 })]);
      for (const [k, [v, shape, enc]] of frames.entries()) await send(imageParts(11, k, v, shape, enc));
      await send([json({ htype: 'dseries_end-1.0', series: 11 })]);
      const msgs: DectrisMessage[] = await received;

      expect(msgs.map((m) => m.htype)).toEqual(['dheader-1.0', ...frames.map(() => 'dimage-1.0'), 'dseries_end-1.0']);
      const header = msgs[0] as DectrisHeader;
      for (const [k, [v, shape, enc]] of frames.entries()) {
        const m = msgs[k + 1] as DectrisImageMessage;
        expect([m.series, m.frame, m.encoding, m.shape, m.realTime]).toEqual([11, k, enc, shape, 500]);
        const img = decodeDectrisImage(m, { verifyHash: true, config: header.config! });
        expect([img.width, img.height]).toEqual(shape);
        expect(img.source).toEqual({ file: endpoint, frame: k });
        const want = Int32Array.from(v, (x) => (v instanceof Uint16Array ? (x === 0xffff ? -1 : x) : x | 0));
        expect(img.pixels).toEqual(want);
        expect(img.header.detector).toBe('Dectris EIGER2 test');
        expect(img.header.pixelSize).toEqual([0.075, 0.075]);
        expect(img.header.exposureTime).toBeCloseTo(5e-7, 15);
      }
      const first = decodeDectrisImage(msgs[1] as DectrisImageMessage).pixels;
      expect([first[5], first[6]]).toEqual([-1, -2]);
      expect(decodeDectrisImage(msgs[2] as DectrisImageMessage).pixels[3]).toBe(-1);
    } finally {
      push.close();
    }
  });

  it('a silent stream is a TruncatedError after timeoutMs', async () => {
    const zmq = await import('zeromq');
    const push = new zmq.Push({ linger: 0 });
    await push.bind('tcp://127.0.0.1:*');
    try {
      const err = await rejectionOf(collect(connectDectrisStream(push.lastEndpoint as string, { timeoutMs: 200 })));
      expect(err).toBeInstanceOf(TruncatedError);
      expect(err.message).toContain('no message for 200 ms');
    } finally {
      push.close();
    }
  });
});
