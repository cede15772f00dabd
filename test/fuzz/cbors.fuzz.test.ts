/** Fuzz: `.cbors` event recordings (plain and gzipped) take mutants and give events and frames or typed errors (issue 13). */
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { Encoder, Tag } from 'cbor-x';
import { describe, expect, it } from 'vitest';
import { FileAccessError, FormatError } from '../../src/errors.ts';
import { readCbors } from '../../src/io/cbors.ts';
import { openStream1Recording } from '../../src/io/sources/recordings.ts';
import { encodeStream1 } from '../../src/io/stream1.ts';
import { sharedData } from '../helpers/paths.ts';
import { rejectionOf } from '../io/helpers.ts';
import { expectTypedOrValidAsync, fuzzAsync, mutantArb } from './mutate.ts';
import { fuzzFolder } from './tmp.ts';

const { dir, put } = fuzzFolder('cbors');

/** A small stream1 recording as the dranspose ingester writes it (tag 55799 around tag 42877 events): header, 3 frames, end. */
function recording(): Uint8Array {
  const enc = new Encoder({ mapsAsObjects: true });
  const item = (ev: number, parts: Uint8Array[]): Uint8Array =>
    enc.encode(new Tag(new Tag([ev, { det: new Tag(['STINS', parts.map((p) => Buffer.from(p))], 42878) }, '2024-11-21T11:21:03.175Z'], 42877), 55799));
  const items = [item(0, encodeStream1({ htype: 'header', filename: 'raw.h5' }))];
  for (let k = 0; k < 3; k++) {
    const data = Float32Array.from({ length: 4 * 7 }, (_, i) => (i % 6 === 0 ? -1 : (i * 3 + k) % 11));
    items.push(item(k + 1, encodeStream1({ htype: 'image', frame: k, data, shape: [4, 7], type: 'float32' })));
  }
  items.push(item(4, encodeStream1({ htype: 'series_end' })));
  return new Uint8Array(Buffer.concat(items));
}

async function readAllEvents(path: string): Promise<number> {
  let n = 0;
  for await (const ev of readCbors(path)) {
    expect(ev.index).toBe(n);
    n++;
  }
  return n;
}

async function readAllFrames(path: string): Promise<void> {
  const src = await openStream1Recording(path);
  try {
    for (let i = 0; i < src.length; i++) {
      const img = await src.read(i);
      expect(img.pixels.length).toBe(img.width * img.height);
    }
  } finally {
    await src.close();
  }
}

describe('.cbors reader fuzz', () => {
  const det = recording();
  const sardana = new Uint8Array(readFileSync(sharedData('femtomax', 'pilatus-lab6-sardana.cbors')));
  const gz = new Uint8Array(gzipSync(det));

  it('the seeds read: 5 detector events (3 frames), the real Sardana recording, the gzipped copy', async () => {
    expect(await readAllEvents(put('seed.cbors', det))).toBe(5);
    expect(await readAllEvents(put('seed-gz.cbors.gz', gz))).toBe(5);
    expect(await readAllEvents(sharedData('femtomax', 'pilatus-lab6-sardana.cbors'))).toBeGreaterThan(0);
    const src = await openStream1Recording(put('seed.cbors', det));
    expect(src.length).toBe(3);
    await src.close();
  });

  it('mutants give events or a typed error naming the file', async () => {
    await fuzzAsync([mutantArb([det, sardana, gz])], async (bytes) => {
      const path = put('fuzz.cbors', bytes);
      await expectTypedOrValidAsync(() => readAllEvents(path), path);
    }, 300);
  });

  it('detector mutants read as frames or a typed error naming the file', async () => {
    await fuzzAsync([mutantArb([det, gz])], async (bytes) => {
      const path = put('fuzz-det.cbors', bytes);
      await expectTypedOrValidAsync(() => readAllFrames(path), path);
    }, 200);
  });

  it('an empty recording and a folder are typed errors naming them', async () => {
    expect(await rejectionOf(readAllEvents(put('empty.cbors', new Uint8Array())))).toBeInstanceOf(FormatError);
    expect(await rejectionOf(readAllEvents(put('empty.cbors.gz', gzipSync(Buffer.alloc(0)))))).toBeInstanceOf(FormatError);
    const err = await rejectionOf(readAllEvents(dir));
    expect(err).toBeInstanceOf(FileAccessError);
    expect(err.message).toContain(dir);
  });
});
