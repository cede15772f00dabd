/** Fuzz: the DIALS `.refl` reader (msgpack and legacy pickle) takes mutants of real tables and gives a consistent table or a typed error (issue 13). */
import { readFileSync } from 'node:fs';
import { decode as msgpackDecode, encode as msgpackEncode } from '@msgpack/msgpack';
import { describe, expect, it } from 'vitest';
import { FormatError, InvalidValueError, TruncatedError } from '../../src/errors.ts';
import { type ReflectionTable, decodeReflectionTable } from '../../src/io/dials-refl.ts';
import { sharedData } from '../helpers/paths.ts';
import { errorOf } from '../io/helpers.ts';
import { expectTypedOrValid, fuzz, mutantArb } from './mutate.ts';
import { smallReflPickle } from './seeds.ts';

const FILE = 'fuzz.refl';

/** Every decoded column holds nrows × width values. */
function validTable(t: ReflectionTable): void {
  expect(Number.isSafeInteger(t.nrows) && t.nrows >= 0).toBe(true);
  for (const c of t.columns.values()) expect(c.data.length).toBe(t.nrows * c.width);
}

describe('.refl reader fuzz', () => {
  const msgpack = new Uint8Array(readFileSync(sharedData('l-cysteine', '11_integrated.refl')));
  const pickle = smallReflPickle();

  it('the seeds decode (92 msgpack rows; 5308 pickle rows, 6 columns)', () => {
    const m = decodeReflectionTable(msgpack, FILE);
    expect([m.encoding, m.nrows]).toEqual(['msgpack', 92]);
    const p = decodeReflectionTable(pickle, FILE);
    expect([p.encoding, p.nrows, [...p.columns.keys()].sort()]).toEqual(['pickle', 5308, ['entering', 'id', 'imageset_id', 'intensity.sum.variance', 'miller_index', 'partial_id']]);
    validTable(m);
    validTable(p);
  });

  it('msgpack mutants give a table or a typed error naming the file', () => {
    fuzz([mutantArb([msgpack], { focus: 4096 })], (bytes) => expectTypedOrValid(() => decodeReflectionTable(bytes, FILE), FILE, validTable), 250);
  });

  it('pickle mutants give a table or a typed error naming the file', () => {
    fuzz([mutantArb([pickle], { focus: 6000 })], (bytes) => expectTypedOrValid(() => decodeReflectionTable(bytes, FILE), FILE, validTable), 200);
  });

  it('a msgpack column claiming more rows than its blob holds is refused, not allocated', () => {
    const doc = msgpackDecode(msgpack) as [string, number, { nrows: number; data: Record<string, [string, [number, Uint8Array]]> }];
    const col = doc[2].data['intensity.sum.value']!;
    col[1][0] = 2 ** 40;
    doc[2].nrows = 2 ** 40;
    const err = errorOf(() => decodeReflectionTable(msgpackEncode(doc), FILE));
    expect([FormatError, InvalidValueError, TruncatedError].some((c) => err instanceof c)).toBe(true);
    expect(err.message).toContain(FILE);
  });
});
