/** The msgpack `.refl` writer (src/io/dials-refl-write.ts) read back by the reader: every column type, integer-keyed identifiers, bad input. */
import { describe, expect, it } from 'vitest';
import { decodeReflectionTable, getColumn } from '../../src/io/dials-refl.ts';
import { encodeReflectionTable } from '../../src/io/dials-refl-write.ts';

describe('encodeReflectionTable', () => {
  it('round-trips every column type and the identifiers', () => {
    const bytes = encodeReflectionTable(
      2,
      {
        id: { type: 'int', data: [0, 1] },
        miller_index: { type: 'cctbx::miller::index<>', data: [1, -2, 3, -4, 5, -6] },
        panel: { type: 'std::size_t', data: [0, 7] },
        'xyzcal.px': { type: 'vec3<double>', data: [1.5, 2.25, 0, -3.125, 4, 1e-300] },
        bbox: { type: 'int6', data: [1, 2, 3, 4, 0, 1, 5, 6, 7, 8, 0, 1] },
        partiality: { type: 'double', data: [0.5, 1] },
        flags: { type: 'bool', data: [1, 0] },
        name: { type: 'std::string', data: ['a', 'b'] },
      },
      new Map([
        [1, 'second'],
        [0, 'first'],
      ]),
    );
    const t = decodeReflectionTable(bytes, 'mem.refl');
    expect(t.encoding).toBe('msgpack');
    expect(t.nrows).toBe(2);
    expect([...t.identifiers.entries()]).toEqual([
      [0, 'first'],
      [1, 'second'],
    ]);
    expect([...getColumn(t, 'id', 'int').data]).toEqual([0, 1]);
    expect([...getColumn(t, 'miller_index', 'cctbx::miller::index<>').data]).toEqual([1, -2, 3, -4, 5, -6]);
    expect([...getColumn(t, 'panel', 'std::size_t').data]).toEqual([0, 7]);
    expect([...getColumn(t, 'xyzcal.px', 'vec3<double>').data]).toEqual([1.5, 2.25, 0, -3.125, 4, 1e-300]);
    expect([...getColumn(t, 'bbox', 'int6').data]).toEqual([1, 2, 3, 4, 0, 1, 5, 6, 7, 8, 0, 1]);
    expect([...getColumn(t, 'partiality', 'double').data]).toEqual([0.5, 1]);
    expect([...getColumn(t, 'flags', 'bool').data]).toEqual([1, 0]);
    expect(getColumn(t, 'name', 'std::string').data).toEqual(['a', 'b']);
  });

  it('more than 15 identifiers (a map16 header)', () => {
    const ids = new Map(Array.from({ length: 40 }, (_v, i) => [i, `exp-${i}`] as [number, string]));
    const t = decodeReflectionTable(encodeReflectionTable(1, { id: { type: 'int', data: [39] } }, ids), 'mem.refl');
    expect(t.identifiers.size).toBe(40);
    expect(t.identifiers.get(39)).toBe('exp-39');
  });

  it('refuses columns of the wrong length and values that do not fit the type, naming the column', () => {
    expect(() => encodeReflectionTable(2, { id: { type: 'int', data: [0] } }, new Map())).toThrow(/id.*1 values, expected 2 rows/);
    expect(() => encodeReflectionTable(1, { id: { type: 'int', data: [2 ** 40] } }, new Map())).toThrow(/id.*not a 32-bit integer/);
    expect(() => encodeReflectionTable(1, { panel: { type: 'std::size_t', data: [-1] } }, new Map())).toThrow(/panel.*not a size_t/);
  });
});
