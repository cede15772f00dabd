/** Fuzz: stream1 detector messages (header, image, series_end) take mutants and give a message or a typed error (issue 13). */
import * as fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FormatError, TruncatedError } from '../../src/errors.ts';
import { type Stream1Message, encodeStream1, parseStream1 } from '../../src/io/stream1.ts';
import { errorOf } from '../io/helpers.ts';
import { applyMutation, expectTypedOrValid, fuzz, jsonMutantArb, mutationArb } from './mutate.ts';

const FILE = 'fuzz-stream1.cbors';
const WHERE = { where: { file: FILE } };

function validMessage(m: Stream1Message | null): void {
  if (m?.htype !== 'image') return;
  expect(m.data.length).toBe(m.shape[0] * m.shape[1]);
}

describe('stream1 message fuzz', () => {
  const rows = 6;
  const cols = 9;
  const messages: Uint8Array[][] = [
    encodeStream1({ htype: 'header', filename: 'raw.h5' }),
    encodeStream1({ htype: 'image', frame: 0, data: Uint16Array.from({ length: rows * cols }, (_, i) => i * 13), shape: [rows, cols], type: 'uint16' }),
    encodeStream1({ htype: 'image', frame: 1, data: Float32Array.from({ length: rows * cols }, (_, i) => (i % 5 === 0 ? -1 : i * 0.5)), shape: [rows, cols], type: 'float32' }),
    encodeStream1({ htype: 'series_end' }),
  ];

  it('the seeds parse', () => {
    const img = parseStream1(messages[1]!, WHERE);
    expect(img?.htype === 'image' && img.data[3]).toBe(39);
  });

  it('byte mutants of either part give a message or a typed error naming the file', () => {
    const arb = fc.tuple(fc.nat(messages.length - 1), fc.nat(1), fc.array(mutationArb(), { minLength: 1, maxLength: 3 }), fc.boolean());
    fuzz([arb], ([m, p, muts, skipUnknown]) => {
      const parts = messages[m]!.slice();
      if (p < parts.length) parts[p] = muts.reduce((b, mu) => applyMutation(b, mu), parts[p]!);
      expectTypedOrValid(() => parseStream1(parts, { ...WHERE, skipUnknown }), FILE, validMessage);
    }, 1000);
  });

  it('hostile values in the JSON head (shape, type, frame) give a message or a typed error', () => {
    const arb = fc.nat(messages.length - 1).chain((m) => jsonMutantArb(JSON.parse(Buffer.from(messages[m]![0]!).toString()) as unknown).map((text) => ({ m, text })));
    fuzz([arb], ({ m, text }) => {
      const parts = messages[m]!.slice();
      parts[0] = new Uint8Array(Buffer.from(text));
      expectTypedOrValid(() => parseStream1(parts, WHERE), FILE, validMessage);
    }, 800);
  });

  it('a JSON part with a line break in it gives a one-line FormatError (found by fuzzing)', () => {
    const err = errorOf(() => parseStream1([Buffer.from('{"htype": "image", "compression":\nnone"}')], WHERE));
    expect(err).toBeInstanceOf(FormatError);
    expect(err.message).not.toContain('\n');
  });

  it('an image claiming 100000×100000 pixels is a TruncatedError, not an allocation', () => {
    const head = Buffer.from(JSON.stringify({ htype: 'image', frame: 0, shape: [100000, 100000], type: 'float64', compression: 'none' }));
    const err = errorOf(() => parseStream1([head, messages[1]![1]!], WHERE));
    expect(err).toBeInstanceOf(TruncatedError);
    expect(err.message).toContain(FILE);
  });
});
