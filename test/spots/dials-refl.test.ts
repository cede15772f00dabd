/**
 * The DIALS `.refl` reader against the real files. The expected figures were
 * taken independently of this reader: the msgpack layout with a stand-alone
 * Python msgpack walker (struct-unpacked blobs), the pickle's row count, column
 * names and identifiers with Python's own `pickle` module (classes stubbed).
 */
import { describe, expect, it } from 'vitest';
import { encode } from '@msgpack/msgpack';
import { FormatError, InvalidValueError, MissingFieldError } from '../../src/errors.ts';
import { decodeReflectionTable, getColumn, readReflectionTable } from '../../src/io/dials-refl.ts';
import { sharedData } from '../helpers/paths.ts';

const INTEGRATED_COLUMNS = [
  'background.mean', 'background.sum.value', 'background.sum.variance', 'bbox', 'd', 'entering', 'flags', 'id',
  'imageset_id', 'intensity.prf.value', 'intensity.prf.variance', 'intensity.sum.value', 'intensity.sum.variance', 'lp',
  'miller_index', 'n_signal', 'num_pixels.background', 'num_pixels.background_used', 'num_pixels.foreground',
  'num_pixels.valid', 'panel', 'partial_id', 'partiality', 'profile.correlation', 'qe', 'rlp', 's1', 'xyzcal.mm',
  'xyzcal.px', 'xyzobs.mm.value', 'xyzobs.mm.variance', 'xyzobs.px.value', 'xyzobs.px.variance', 'zeta',
];

const SCALED_COLUMNS = [
  'background.mean', 'background.sum.value', 'background.sum.variance', 'bbox', 'd', 'dqe', 'entering', 'flags', 'id',
  'imageset_id', 'intensity.prf.value', 'intensity.prf.variance', 'intensity.scale.value', 'intensity.scale.variance',
  'intensity.sum.value', 'intensity.sum.variance', 'inverse_scale_factor', 'inverse_scale_factor_variance', 'lp',
  'miller_index', 'num_pixels.background', 'num_pixels.background_used', 'num_pixels.foreground', 'num_pixels.valid',
  'panel', 'partial_id', 'partiality', 'phi', 'profile.correlation', 'profile.rmsd', 'rlp', 's1', 'xyzcal.mm', 'xyzcal.px',
  'xyzobs.mm.value', 'xyzobs.mm.variance', 'xyzobs.px.value', 'xyzobs.px.variance', 'zeta',
];

describe('readReflectionTable: msgpack (l-cysteine/11_integrated.refl)', () => {
  it('has 92 rows, one experiment, 34 decoded columns and the shoebox listed as skipped', async () => {
    const t = await readReflectionTable(sharedData('l-cysteine', '11_integrated.refl'));
    expect(t.encoding).toBe('msgpack');
    expect(t.nrows).toBe(92);
    expect([...t.identifiers]).toEqual([[0, '0812526a-eca7-467f-b271-26cb05ff56f4']]);
    expect([...t.columns.keys()].sort()).toEqual(INTEGRATED_COLUMNS);
    expect(t.skipped.map((s) => [s.name, s.type])).toEqual([['shoebox', 'Shoebox<>']]);
  });

  it('decodes every column type with the values a separate decoder gives', async () => {
    const t = await readReflectionTable(sharedData('l-cysteine', '11_integrated.refl'));
    const hkl = getColumn(t, 'miller_index', 'cctbx::miller::index<>');
    expect(hkl.width).toBe(3);
    expect(Array.from(hkl.data.subarray(0, 9))).toEqual([-1, -10, 11, 0, -9, 11, -1, -7, 10]);
    let zeros = 0;
    for (let i = 0; i < t.nrows; i++) if (hkl.data[3 * i] === 0 && hkl.data[3 * i + 1] === 0 && hkl.data[3 * i + 2] === 0) zeros++;
    expect(zeros).toBe(7);
    const cal = getColumn(t, 'xyzcal.px', 'vec3<double>');
    expect(cal.data[0]).toBe(1240.0164125233082);
    expect(cal.data[5]).toBe(-9.174903231023393);
    expect(Array.from(getColumn(t, 'intensity.sum.value', 'double').data.subarray(0, 3))).toEqual([1.6557848453521729, 1.4210470914840698, 0.4685201644897461]);
    expect(Array.from(getColumn(t, 'flags', 'std::size_t').data.subarray(0, 3))).toEqual([1048833, 1048833, 1081601]);
    expect(Array.from(getColumn(t, 'bbox', 'int6').data.subarray(0, 6))).toEqual([1231, 1249, 1528, 1550, 0, 1]);
    expect(getColumn(t, 'entering', 'bool').data[0]).toBe(1);
    // the 7 unindexed rows (hkl 0,0,0) carry id −1, the rest experiment 0
    const ids = Array.from(getColumn(t, 'id', 'int').data);
    expect(ids.filter((v) => v === -1).length).toBe(7);
    expect(ids.filter((v) => v === 0).length).toBe(85);
  });
});

describe('readReflectionTable: legacy pickle (l-cysteine/scaled/scaled_30.refl)', () => {
  it('has 5308 rows, 39 columns and identifier "2"', async () => {
    const t = await readReflectionTable(sharedData('l-cysteine', 'scaled', 'scaled_30.refl'));
    expect(t.encoding).toBe('pickle');
    expect(t.nrows).toBe(5308);
    expect([...t.identifiers]).toEqual([[0, '2']]);
    expect([...t.columns.keys()].sort()).toEqual(SCALED_COLUMNS);
    expect(t.skipped).toEqual([]);
    expect(getColumn(t, 'miller_index').type).toBe('cctbx::miller::index<>');
    expect(getColumn(t, 'bbox').type).toBe('int6');
    expect(getColumn(t, 'entering').type).toBe('bool');
    expect(getColumn(t, 'flags').type).toBe('std::size_t');
  });

  it('decodes base-256 doubles exactly: xyzcal.mm angle = −145° + 0.1°·xyzcal.px z for every indexed row', async () => {
    const t = await readReflectionTable(sharedData('l-cysteine', 'scaled', 'scaled_30.refl'));
    const px = getColumn(t, 'xyzcal.px', 'vec3<double>').data;
    const mm = getColumn(t, 'xyzcal.mm', 'vec3<double>').data;
    const hkl = getColumn(t, 'miller_index', 'cctbx::miller::index<>').data;
    let indexed = 0;
    let worst = 0;
    for (let i = 0; i < t.nrows; i++) {
      if (hkl[3 * i] === 0 && hkl[3 * i + 1] === 0 && hkl[3 * i + 2] === 0) continue;
      indexed++;
      const phi = ((-145 + 0.1 * px[3 * i + 2]!) * Math.PI) / 180;
      worst = Math.max(worst, Math.abs(phi - mm[3 * i + 2]!));
    }
    expect(indexed).toBe(5308 - 706);
    expect(worst).toBeLessThan(1e-12);
    // image numbers span the 1700-image sweep
    const obs = getColumn(t, 'xyzobs.px.value', 'vec3<double>').data;
    let zmax = 0;
    for (let i = 0; i < t.nrows; i++) zmax = Math.max(zmax, obs[3 * i + 2]!);
    expect(zmax).toBeGreaterThan(1699);
    expect(zmax).toBeLessThan(1700);
  });
});

describe('reflection table errors', () => {
  it('corrupt msgpack is a FormatError naming the file', () => {
    const bytes = new Uint8Array([0x93, 0xbb, 0x64, 0x69, 0x61]);
    expect(() => decodeReflectionTable(bytes, 'broken.refl')).toThrow(FormatError);
    expect(() => decodeReflectionTable(bytes, 'broken.refl')).toThrow(/^broken\.refl: /);
  });

  it('a truncated real file is a FormatError naming the file', async () => {
    const { readFile } = await import('node:fs/promises');
    const full = await readFile(sharedData('l-cysteine', '11_integrated.refl'));
    expect(() => decodeReflectionTable(full.subarray(0, 20000), 'cut.refl')).toThrow(/cut\.refl: .*msgpack/);
    const pickle = await readFile(sharedData('l-cysteine', 'scaled', 'scaled_30.refl'));
    expect(() => decodeReflectionTable(pickle.subarray(0, 50000), 'cut-pickle.refl')).toThrow(FormatError);
    expect(() => decodeReflectionTable(pickle.subarray(0, 50000), 'cut-pickle.refl')).toThrow(/cut-pickle\.refl/);
  });

  it('valid msgpack that is not a reflection table is refused', () => {
    const bytes = encode(['something else', 1, {}]);
    expect(() => decodeReflectionTable(bytes, 'x.refl')).toThrow(/x\.refl: not a DIALS reflection table/);
  });

  it('a blob of the wrong size names the column', () => {
    const bytes = encode(['dials::af::reflection_table', 1, { identifiers: {}, nrows: 2, data: { d: ['double', [2, new Uint8Array(12)]] } }]);
    expect(() => decodeReflectionTable(bytes, 'x.refl')).toThrow(/x\.refl, field 'd'/);
  });

  it('missing and mistyped columns name the file and the column', async () => {
    const t = await readReflectionTable(sharedData('l-cysteine', '11_integrated.refl'));
    expect(() => getColumn(t, 'intensity.scale.value')).toThrow(MissingFieldError);
    expect(() => getColumn(t, 'intensity.scale.value')).toThrow(/11_integrated\.refl, field 'intensity\.scale\.value'/);
    expect(() => getColumn(t, 'd', 'int')).toThrow(InvalidValueError);
    expect(() => getColumn(t, 'shoebox')).toThrow(/not decoded/);
  });

  it('a missing file is a FileAccessError', async () => {
    await expect(readReflectionTable('/nonexistent/x.refl')).rejects.toThrow(/\/nonexistent\/x\.refl: no such file/);
  });
});
