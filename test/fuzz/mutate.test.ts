/** The fuzz harness itself (issue 13): mutations do what they say, and the property rejects what a reader must never throw. */
import { describe, expect, it } from 'vitest';
import { FormatError, InvalidValueError, invariant } from '../../src/errors.ts';
import { applyMutation, expectAllFinite, expectTypedOrValid, jsonText } from './mutate.ts';

const bytes = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'latin1'));
const text = (b: Uint8Array): string => Buffer.from(b).toString('latin1');

describe('fuzz mutations', () => {
  it('splice hostile text at the nth number, truncate, flip, insert, duplicate', () => {
    const seed = bytes('SIZE1=20;SIZE2=12;PHI=-3.5e2;');
    // the key digits count too: numbers are 1, 20, 2, 12, -3.5e2
    expect(text(applyMutation(seed, { kind: 'number', nth: 3, text: 'NaN' }))).toBe('SIZE1=20;SIZE2=NaN;PHI=-3.5e2;');
    expect(text(applyMutation(seed, { kind: 'number', nth: 4, text: '1e309' }))).toBe('SIZE1=20;SIZE2=12;PHI=1e309;');
    expect(text(applyMutation(seed, { kind: 'truncate', at: 5 }))).toBe('SIZE1');
    expect(text(applyMutation(seed, { kind: 'flip', at: 0, bit: 5 }))).toBe('sIZE1=20;SIZE2=12;PHI=-3.5e2;');
    expect(text(applyMutation(seed, { kind: 'insert', at: 2, bytes: bytes('xy') }))).toBe('SIxyZE1=20;SIZE2=12;PHI=-3.5e2;');
    expect(text(applyMutation(seed, { kind: 'duplicate', at: 0, length: 3 }))).toBe('SIZSIZE1=20;SIZE2=12;PHI=-3.5e2;');
    expect(text(applyMutation(seed, { kind: 'delete', at: 0, length: 9 }))).toBe('SIZE2=12;PHI=-3.5e2;');
    const b = applyMutation(new Uint8Array(8), { kind: 'binary', at: 0, which: 0 });
    expect(new DataView(b.buffer).getInt32(0, true)).toBe(0x7fffffff);
  });

  it('JSON text can hold numbers JSON.stringify cannot write (1e999 parses as Infinity)', () => {
    expect(JSON.parse(jsonText({ a: '\u0000raw:1e999' }))).toEqual({ a: Infinity });
  });
});

describe('fuzz property', () => {
  it('accepts a result or a one-line typed error naming the file', () => {
    expectTypedOrValid(() => 1, 'f.cbf');
    expectTypedOrValid(() => {
      throw new FormatError('bad', { file: 'f.cbf' });
    }, 'f.cbf');
  });

  it('rejects RangeError, TypeError, invariants, multi-line and file-less messages, non-finite results', () => {
    const fails = (fn: () => unknown, file = 'f.cbf'): void => expect(() => expectTypedOrValid(fn, file)).toThrow();
    fails(() => new Int32Array(-1));
    fails(() => (null as unknown as { x: number }).x);
    fails(() => invariant(false, 'never'));
    fails(() => {
      throw new InvalidValueError('two\nlines', { file: 'f.cbf' });
    });
    fails(() => {
      throw new InvalidValueError('no file named');
    });
    expect(() => expectAllFinite({ a: [1, 2, Number.NaN] })).toThrow(/NaN at \.a\.2/);
    expect(() => expectAllFinite({ a: new Float64Array([Infinity]) })).toThrow(/Infinity/);
  });
});
