/** Fuzz: the Dectris stream reader (messages, frame decoding, raw recordings) takes mutants and gives frames or typed errors (issue 13). */
import { readFileSync } from 'node:fs';
import * as fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type DectrisMessage, decodeDectrisImage, parseDectrisMessage, readDectrisRecording } from '../../src/io/dectris-stream.ts';
import { openDectrisRecording } from '../../src/io/sources/recordings.ts';
import { sharedData } from '../helpers/paths.ts';
import { imageParts } from '../io/dectris-encode.ts';
import { errorOf } from '../io/helpers.ts';
import { applyMutation, expectTypedOrValid, expectTypedOrValidAsync, fuzz, fuzzAsync, jsonMutantArb, mutantArb, mutationArb } from './mutate.ts';
import { fuzzFolder } from './tmp.ts';

const FILE = 'fuzz-stream.cbors';
const { put } = fuzzFolder('dectris');

/** A decoded frame matches its message's shape. */
function decodeAll(parts: Uint8Array[]): void {
  const msg = parseDectrisMessage(parts, { file: FILE });
  if (msg.htype !== 'dimage-1.0') return;
  const img = decodeDectrisImage(msg, { verifyHash: false });
  expect(img.pixels.length).toBe(img.width * img.height);
}

describe('Dectris stream reader fuzz', () => {
  const values16 = Uint16Array.from({ length: 16 * 8 }, (_, i) => (i * 37) % 1000);
  const values32 = Uint32Array.from({ length: 16 * 8 }, (_, i) => (i * 7919) % 100000);
  const messages: Uint8Array[][] = [
    imageParts(3, 0, values16, [16, 8], 'bs16-lz4<'),
    imageParts(3, 1, values32, [16, 8], 'bs32-lz4<'),
    imageParts(3, 2, values16, [16, 8], 'lz4<'),
    imageParts(3, 3, values32, [16, 8], '<'),
  ];

  it('the seed messages decode to their values', () => {
    const img = decodeDectrisImage(parseDectrisMessage(messages[0]!, { file: FILE }) as Extract<DectrisMessage, { htype: 'dimage-1.0' }>);
    expect([...img.pixels]).toEqual([...values16]);
  });

  it('byte mutants of any part give a frame or a typed error naming the file', () => {
    const arb = fc.tuple(fc.nat(messages.length - 1), fc.nat(3), fc.array(mutationArb(), { minLength: 1, maxLength: 3 }));
    fuzz([arb], ([m, p, muts]) => {
      const parts = messages[m]!.map((x) => x);
      parts[p] = muts.reduce((b, mu) => applyMutation(b, mu), parts[p]!);
      expectTypedOrValid(() => decodeAll(parts), FILE);
    }, 800);
  });

  it('hostile values in the JSON parts (shape, size, type, series) give a frame or a typed error', () => {
    const heads = messages.map((m) => JSON.parse(Buffer.from(m[1]!).toString()) as unknown);
    const arb = fc.tuple(fc.nat(messages.length - 1), fc.nat(1)).chain(([m, which]) =>
      jsonMutantArb(which === 0 ? (JSON.parse(Buffer.from(messages[m]![0]!).toString()) as unknown) : heads[m]).map((text) => ({ m, which, text })),
    );
    fuzz([arb], ({ m, which, text }) => {
      const parts = messages[m]!.map((x) => x);
      parts[which === 0 ? 0 : 1] = new Uint8Array(Buffer.from(text));
      expectTypedOrValid(() => decodeAll(parts), FILE);
    }, 600);
  });

  it('a frame claiming 100000×100000 pixels is refused before allocating', () => {
    for (const enc of ['lz4<', 'bs32-lz4<', '<']) {
      const parts = imageParts(3, 0, values32, [16, 8], enc);
      const d = JSON.parse(Buffer.from(parts[1]!).toString()) as Record<string, unknown>;
      parts[1] = new Uint8Array(Buffer.from(JSON.stringify({ ...d, shape: [100000, 100000] })));
      const err = errorOf(() => decodeAll(parts));
      expect(err.message).toContain(FILE);
    }
  });

  it('mutants of the real dranspose EIGER2 recording give messages or a typed error', async () => {
    const real = new Uint8Array(readFileSync(sharedData('dranspose', 'eiger-small.cbors')));
    await fuzzAsync([mutantArb([real], { focus: 8192 })], async (bytes) => {
      const path = put(FILE, bytes);
      await expectTypedOrValidAsync(async () => {
        const source = await openDectrisRecording(path);
        try {
          for (let i = 0; i < source.length; i++) await source.read(i);
        } finally {
          await source.close();
        }
      }, path);
      await expectTypedOrValidAsync(async () => {
        for await (const msg of readDectrisRecording(path)) if (msg.htype === 'dimage-1.0') decodeDectrisImage(msg);
      }, path);
    }, 80);
  });
});
