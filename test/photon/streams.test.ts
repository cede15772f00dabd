/**
 * Frame sources: recorded `.cbors` streams (real Sardana recording, synthetic
 * stream1 recordings), HDF5 frame stacks, a live ZeroMQ PULL socket, and the
 * bad inputs: truncated streams (raw and gzipped), unknown message types,
 * malformed ROI JSON, a PONI file without a needed field.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { Encoder, Tag } from 'cbor-x';
import { describe, expect, it } from 'vitest';
import { FormatError, InvalidValueError, MissingFieldError, TruncatedError } from '../../src/errors.ts';
import { readCbors } from '../../src/io/cbors.ts';
import { writeHdf5Atomic } from '../../src/io/hdf5.ts';
import { parsePoni } from '../../src/io/poni.ts';
import { encodeStream1, parseStream1 } from '../../src/io/stream1.ts';
import { parseRoiSpec, parseRoisJson } from '../../src/photon/roi.ts';
import { cborsEvents, h5StackEvents, mergeEvents, zmqPullEvents, type SourceEvent } from '../../src/photon/sources.ts';
import { sharedData } from '../helpers/paths.ts';

const tmp = mkdtempSync(join(tmpdir(), 'diffract-photon-streams-'));

/** A recording: one tag-42877 event per item, wrapped in tag 55799 as the ingester writes it. */
function recording(events: Array<[number, Record<string, [string, Uint8Array[]]>]>): Buffer {
  const enc = new Encoder({ mapsAsObjects: true });
  const items = events.map(([ev, streams]) => {
    const s: Record<string, Tag> = {};
    for (const [name, [type, parts]] of Object.entries(streams)) s[name] = new Tag([type, parts.map((p) => Buffer.from(p))], 42878);
    return enc.encode(new Tag(new Tag([ev, s, '2024-11-21T11:21:03.175Z'], 42877), 55799));
  });
  return Buffer.concat(items);
}

function detectorRecording(frames: number, rows = 4, cols = 5, extra: Array<[number, Record<string, [string, Uint8Array[]]>]> = []): Buffer {
  const events: Array<[number, Record<string, [string, Uint8Array[]]>]> = [[0, { det: ['STINS', encodeStream1({ htype: 'header', filename: '/data/raw/scan-1.h5' })] }]];
  for (let k = 0; k < frames; k++) {
    const data = Float32Array.from({ length: rows * cols }, (_v, i) => i + 100 * k);
    events.push([k + 1, { det: ['STINS', encodeStream1({ htype: 'image', frame: k, data, shape: [rows, cols], type: 'float32' })] }]);
  }
  events.push(...extra);
  events.push([frames + 1, { det: ['STINS', encodeStream1({ htype: 'series_end' })] }]);
  return recording(events);
}

async function collect(it: AsyncIterable<SourceEvent>): Promise<SourceEvent[]> {
  const out: SourceEvent[] = [];
  for await (const e of it) out.push(e);
  return out;
}

describe('recorded streams (.cbors)', () => {
  it('reads the real Sardana recording: description, 5 records at events 6…30, end', async () => {
    const evs = await collect(cborsEvents(sharedData('femtomax', 'pilatus-lab6-sardana.cbors')));
    expect(evs.map((e) => e.eventNumber)).toEqual([0, 6, 12, 18, 24, 30, 31]);
    const first = evs[0];
    expect(first?.kind === 'motor' && first.message.type === 'DataDescription' ? first.message.refMotor : null).toBe('dummy_mot_01');
    const positions = evs.flatMap((e) => (e.kind === 'motor' && e.message.type === 'RecordData' ? [e.message.values.dummy_mot_01] : []));
    expect(positions).toEqual([1, 1.25, 1.5, 1.75, 2]);
  });

  it('round-trips a synthetic stream1 recording, plain and gzipped', async () => {
    const raw = detectorRecording(3);
    const plain = join(tmp, 'det.cbors');
    const gz = join(tmp, 'det.cbors.gz');
    writeFileSync(plain, raw);
    writeFileSync(gz, gzipSync(raw));
    for (const f of [plain, gz]) {
      const evs = await collect(cborsEvents(f));
      expect(evs.map((e) => e.kind)).toEqual(['header', 'frame', 'frame', 'frame', 'series-end']);
      const h = evs[0];
      expect(h?.kind === 'header' ? h.header.filename : null).toBe('/data/raw/scan-1.h5');
      const f2 = evs[3];
      expect(f2?.kind === 'frame' ? Array.from(f2.data.slice(0, 3)) : null).toEqual([200, 201, 202]);
    }
  });

  it('a truncated recording is a TruncatedError naming the item, after the complete items', async () => {
    const raw = detectorRecording(3);
    const cut = join(tmp, 'cut.cbors');
    writeFileSync(cut, raw.subarray(0, raw.length - 40));
    const seen: number[] = [];
    const err = await (async () => {
      try {
        for await (const e of readCbors(cut)) seen.push(e.eventNumber);
      } catch (e) {
        return e;
      }
      return null;
    })();
    expect(err).toBeInstanceOf(TruncatedError);
    expect(String((err as Error).message)).toMatch(/cut\.cbors, frame 4: .*inside item 4/);
    expect(seen).toEqual([0, 1, 2, 3]);
  });

  it('a cut-short gzip recording (the real LaB6 stream) is a TruncatedError', async () => {
    const gz = readFileSync(sharedData('femtomax', 'pilatus-lab6.cbors.gz'));
    const cut = join(tmp, 'lab6-cut.cbors.gz');
    writeFileSync(cut, gz.subarray(0, 300_000));
    let frames = 0;
    await expect(
      (async () => {
        for await (const e of cborsEvents(cut)) if (e.kind === 'frame') frames++;
      })(),
    ).rejects.toBeInstanceOf(TruncatedError);
    console.log(`[photon] truncated gzip: ${frames} whole frames decoded before the TruncatedError`);
  });

  it('an unknown stream1 message type is a FormatError, or skipped on request', async () => {
    const bad = recording([
      [0, { det: ['STINS', encodeStream1({ htype: 'header' })] }],
      [1, { det: ['STINS', [Buffer.from('{"htype": "dcu_status", "msg_number": 3}')]] }],
      [2, { det: ['STINS', encodeStream1({ htype: 'series_end' })] }],
    ]);
    const f = join(tmp, 'unknown.cbors');
    writeFileSync(f, bad);
    await expect(collect(cborsEvents(f))).rejects.toThrow(FormatError);
    await expect(collect(cborsEvents(f))).rejects.toThrow(/unknown stream1 message type htype="dcu_status"/);
    const skipped = await collect(cborsEvents(f, { skipUnknown: true }));
    expect(skipped.map((e) => e.kind)).toEqual(['header', 'series-end']);
  });

  it('rejects frames whose data part does not match shape and type', () => {
    const parts = encodeStream1({ htype: 'image', frame: 0, data: new Float32Array(6), shape: [2, 3], type: 'float32' });
    expect(() => parseStream1([parts[0] as Uint8Array, (parts[1] as Uint8Array).subarray(0, 20)])).toThrow(TruncatedError);
    expect(() => parseStream1([parts[0] as Uint8Array])).toThrow(/no data part/);
    const comp = Buffer.from('{"htype": "image", "frame": 0, "shape": [2, 3], "type": "uint16", "compression": "bslz4"}');
    expect(() => parseStream1([comp, Buffer.alloc(12)])).toThrow(/compression 'bslz4' is not supported/);
  });

  it('merges a detector and a motor recording by event number (detector first at equal events)', async () => {
    const det = join(tmp, 'merge-det.cbors');
    writeFileSync(det, detectorRecording(2));
    const mot = join(tmp, 'merge-mot.cbors');
    writeFileSync(
      mot,
      recording([
        [0, { sardana: ['sardana', [Buffer.from('{"type": "DataDescription", "ref_moveables": ["m"]}')]] }],
        [2, { sardana: ['sardana', [Buffer.from('{"type": "RecordData", "point_nb": 0, "m": 5.5}')]] }],
      ]),
    );
    const evs = await collect(mergeEvents(cborsEvents(det), cborsEvents(mot)));
    expect(evs.map((e) => `${e.eventNumber}:${e.kind}`)).toEqual(['0:header', '0:motor', '1:frame', '2:frame', '2:motor', '3:series-end']);
  });
});

describe('HDF5 frame stacks', () => {
  it('reads N × rows × cols frame by frame', async () => {
    const f = join(tmp, 'stack.h5');
    const data = Uint16Array.from({ length: 3 * 4 * 5 }, (_v, i) => i);
    await writeHdf5Atomic(f, (file) => {
      const g = file.create_group('entry').create_group('data');
      g.create_dataset({ name: 'data', data, shape: [3, 4, 5] });
    });
    const evs = await collect(h5StackEvents(f));
    const frames = evs.filter((e) => e.kind === 'frame');
    expect(frames.length).toBe(3);
    const last = frames[2];
    expect(last?.kind === 'frame' ? [last.shape, last.type, last.data[0]] : null).toEqual([[4, 5], 'uint16', 40]);
    await expect(collect(h5StackEvents(f, '/nope'))).rejects.toThrow(MissingFieldError);
  });
});

describe('live ZeroMQ PULL', () => {
  it('receives stream1 messages from a PUSH socket until series_end', async () => {
    const zmq = await import('zeromq');
    const push = new zmq.Push();
    await push.bind('tcp://127.0.0.1:*');
    const endpoint = push.lastEndpoint as string;
    const received = collect(zmqPullEvents(endpoint, { idleTimeoutMs: 10_000 }));
    await push.send(encodeStream1({ htype: 'header', filename: 'live.h5' }).map((p) => Buffer.from(p)));
    for (let k = 0; k < 3; k++) await push.send(encodeStream1({ htype: 'image', frame: k, data: new Uint16Array(12).fill(k), shape: [3, 4], type: 'uint16' }).map((p) => Buffer.from(p)));
    await push.send(encodeStream1({ htype: 'series_end' }).map((p) => Buffer.from(p)));
    const evs = await received;
    push.close();
    expect(evs.map((e) => e.kind)).toEqual(['header', 'frame', 'frame', 'frame', 'series-end']);
  });
});

describe('settings', () => {
  it('parses ROI spellings and rejects malformed ROI JSON with a typed error', () => {
    expect(parseRoiSpec('10:20,5:50')).toEqual({ row0: 10, row1: 20, col0: 5, col1: 50 });
    const viewer = parseRoisJson(
      JSON.stringify({ photon: { type: 'RectangleROI', handles: { _handleBottomLeft: [1500.0, 1500.0], _handleTopRight: [2001.1, 3000.9], _handleCenter: [0, 0] } } }),
    );
    expect(viewer.photon).toEqual({ row0: 1500, row1: 3000, col0: 1500, col1: 2001 });
    expect(() => parseRoisJson('{"a": [1, 2, 3')).toThrow(InvalidValueError);
    expect(() => parseRoisJson('{"a": {"handles": {"_handleBottomLeft": [1, "x"]}}}')).toThrow(/handle _handleBottomLeft is not \[x, y\]/);
    expect(() => parseRoisJson('{"a": [5, 5, 0, 3]}')).toThrow(/empty rectangle/);
    expect(() => parseRoiSpec('10-20,5:50')).toThrow(InvalidValueError);
  });

  it('reads PONI versions 1 and 2 and names a missing field', () => {
    const v2 = parsePoni(readFileSync(join(import.meta.dirname, 'lab6.poni'), 'utf8'));
    expect(v2.pixel1).toBe(172e-6);
    expect(v2.maxShape).toEqual([831, 1475]);
    const v1 = parsePoni('PixelSize1: 1e-4\nPixelSize2: 1e-4\nDistance: 0.1\nPoni1: 0.01\nPoni2: 0.02\nRot1: 0\nRot2: 0\nRot3: 0\nWavelength: 1e-10\n');
    expect([v1.pixel1, v1.dist, v1.poni2]).toEqual([1e-4, 0.1, 0.02]);
    expect(() => parsePoni('Detector: Detector\nDistance: 0.1\nPoni1: 0\nPoni2: 0\nWavelength: 1e-10')).toThrow(MissingFieldError);
    expect(() => parsePoni('poni_version: 2.1\nDetector: Pilatus1M\nDetector_config: {"orientation": 2}\nDistance: 0.1\nPoni1: 0\nPoni2: 0\nWavelength: 1e-10')).toThrow(/orientation 2/);
  });

  it('refuses PONI values that are not decimal numbers or lie outside any real geometry, naming the field', () => {
    const poni = (over: Record<string, string>): string =>
      Object.entries({ PixelSize1: '1e-4', PixelSize2: '1e-4', Distance: '0.1', Poni1: '0.01', Poni2: '0.02', Rot1: '0', Rot2: '0', Rot3: '0', Wavelength: '1e-10', ...over })
        .map(([k, v]) => `${k}: ${v}`)
        .join('\n');
    expect(parsePoni(poni({ Distance: '.25', Rot1: '-1.5E-2' }))).toMatchObject({ dist: 0.25, rot1: -0.015 });
    // the field is the key as the file spells it ('Distance', not 'distance' or 'range')
    for (const [key, value] of [
      ['Distance', '0x10'],
      ['Poni1', ''],
      ['Poni2', '1e300'],
      ['Rot1', 'Infinity'],
      ['Wavelength', '1e300'],
      ['Distance', '1e300'],
      ['PixelSize1', 'NaN'],
    ] as const) {
      const err = (() => {
        try {
          parsePoni(poni({ [key]: value }), 'bad.poni');
        } catch (e) {
          return e;
        }
        return null;
      })();
      expect(err, `${key}: ${value}`).toBeInstanceOf(InvalidValueError);
      expect(err).toMatchObject({ file: 'bad.poni', field: key });
      expect((err as Error).message).toMatch(new RegExp(`^bad\\.poni, field '${key}': PONI ${key} `));
    }
  });
});
