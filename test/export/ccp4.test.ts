import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FormatError, TruncatedError } from '../../src/errors.ts';
import { ccp4Bytes, ccp4ToXyz, finiteStats, parseCcp4, readCcp4, writeCcp4 } from '../../src/export/ccp4.ts';
import { reciprocalCell } from '../../src/export/cell.ts';
import type { Ndiv } from '../../src/pipeline/observations.ts';

const dir = mkdtempSync(join(tmpdir(), 'diffract-ccp4-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** reciprocal cell from the inverse of the direct metric tensor (independent of the code under test) */
function reciprocalFromMetric(cell: readonly number[]): number[] {
  const [a, b, c, al, be, ga] = cell as [number, number, number, number, number, number];
  const r = Math.PI / 180;
  const g = [a * a, a * b * Math.cos(ga * r), a * c * Math.cos(be * r), a * b * Math.cos(ga * r), b * b, b * c * Math.cos(al * r), a * c * Math.cos(be * r), b * c * Math.cos(al * r), c * c];
  const m = (i: number, j: number): number => g[3 * i + j]!;
  const det = m(0, 0) * (m(1, 1) * m(2, 2) - m(1, 2) * m(2, 1)) - m(0, 1) * (m(1, 0) * m(2, 2) - m(1, 2) * m(2, 0)) + m(0, 2) * (m(1, 0) * m(2, 1) - m(1, 1) * m(2, 0));
  const inv = (i: number, j: number): number => {
    const rows = [0, 1, 2].filter((x) => x !== j);
    const cols = [0, 1, 2].filter((x) => x !== i);
    const minor = m(rows[0]!, cols[0]!) * m(rows[1]!, cols[1]!) - m(rows[0]!, cols[1]!) * m(rows[1]!, cols[0]!);
    return (((i + j) % 2 === 0 ? 1 : -1) * minor) / det;
  };
  const as = Math.sqrt(inv(0, 0));
  const bs = Math.sqrt(inv(1, 1));
  const cs = Math.sqrt(inv(2, 2));
  return [as, bs, cs, Math.acos(inv(1, 2) / (bs * cs)) / r, Math.acos(inv(0, 2) / (as * cs)) / r, Math.acos(inv(0, 1) / (as * bs)) / r];
}

describe('reciprocalCell', () => {
  it('matches the inverse metric tensor for a triclinic cell', () => {
    const cell = [10, 12, 15, 80, 95, 100] as const;
    const got = reciprocalCell(cell);
    const want = reciprocalFromMetric(cell);
    got.forEach((v, i) => expect(v).toBeCloseTo(want[i]!, 10));
    reciprocalCell([10, 20, 25, 90, 90, 90]).forEach((v, i) => expect(v).toBeCloseTo([0.1, 0.05, 0.04, 90, 90, 90][i]!, 12));
  });
});

describe('CCP4/MRC2014 writer and reader', () => {
  // grid [h][k][l] = 3×4×5, l fastest, value = 100h + 10k + l (grid indices), two NaN points
  const shape: [number, number, number] = [3, 4, 5];
  const origin: [number, number, number] = [-1, -2, -3];
  const ndiv: Ndiv = [3, 3, 5];
  const data = new Float32Array(60);
  for (let h = 0; h < 3; h++) for (let k = 0; k < 4; k++) for (let l = 0; l < 5; l++) data[(h * 4 + k) * 5 + l] = 100 * h + 10 * k + l;
  data[7] = NaN;
  data[33] = NaN;
  const grid = { data, shape, origin, ndiv };
  const cell = [10, 20, 25, 90, 90, 90] as const;

  it('round-trips the header and the data', async () => {
    const path = join(dir, 'a.ccp4');
    await writeCcp4(path, grid, cell, { fill: -5, labels: ['test label ✓'] });
    expect(statSync(path).size).toBe(1024 + 0 + 4 * 60);
    const raw = readFileSync(path);
    expect(raw.subarray(208, 212).toString('latin1')).toBe('MAP ');
    expect(Array.from(raw.subarray(212, 216))).toEqual([0x44, 0x44, 0, 0]);
    const m = await readCcp4(path);
    const h = m.header;
    expect([h.nx, h.ny, h.nz]).toEqual([3, 4, 5]);
    expect(h.mode).toBe(2);
    expect([h.nxstart, h.nystart, h.nzstart]).toEqual([-1, -2, -3]);
    expect([h.mx, h.my, h.mz]).toEqual([3, 4, 5]);
    expect([h.mapc, h.mapr, h.maps]).toEqual([1, 2, 3]);
    // extent = n · a*/ndiv: 3·0.1/3, 4·0.05/3, 5·0.04/5
    expect(h.cell[0]).toBeCloseTo(0.1, 6);
    expect(h.cell[1]).toBeCloseTo(0.2 / 3, 6);
    expect(h.cell[2]).toBeCloseTo(0.04, 6);
    expect(h.cell.slice(3)).toEqual([90, 90, 90]);
    expect(h.ispg).toBe(1);
    expect(h.nsymbt).toBe(0);
    expect(h.nversion).toBe(20140);
    expect(h.origin).toEqual([0, 0, 0]);
    expect(h.map).toBe('MAP ');
    expect(h.littleEndian).toBe(true);
    // stats over the 58 finite values, by hand
    const finite = Array.from(data).filter((v) => Number.isFinite(v));
    expect(finite).toHaveLength(58);
    const mean = finite.reduce((s, v) => s + v, 0) / 58;
    const rms = Math.sqrt(finite.reduce((s, v) => s + (v - mean) ** 2, 0) / 58);
    expect(h.dmin).toBe(0);
    expect(h.dmax).toBe(234);
    expect(h.dmean).toBeCloseTo(mean, 3);
    expect(h.rms).toBeCloseTo(rms, 3);
    expect(h.nlabl).toBe(3);
    expect(h.labels[0]).toMatch(/X=h Y=k Z=l/);
    expect(h.labels[1]).toBe('2 of 60 points unmeasured, written as -5; stats over measured');
    expect(h.labels[2]).toBe('test label ?');
    // data: h fastest in the file
    expect(m.data[(1 * 4 + 0) * 3 + 2]).toBe(200 + 0 + 1); // h=2, k=0, l=1
    expect(m.data[(2 * 4 + 1) * 3 + 0]).toBe(-5); // h=0, k=1, l=2: grid index 7, NaN
    expect(m.data[(4 * 4 + 3) * 3 + 2]).toBe(200 + 30 + 4); // h=2, k=3, l=4
    // back in grid order, NaN replaced by the fill value
    const xyz = ccp4ToXyz(m);
    expect(xyz.shape).toEqual(shape);
    expect(xyz.start).toEqual(origin);
    for (let i = 0; i < 60; i++) expect(xyz.data[i]).toBe(Number.isNaN(data[i]!) ? -5 : data[i]);
  });

  it('writes the reciprocal angles of a triclinic cell, fill 0 by default and no fill label when all is measured', () => {
    const full = { ...grid, data: Float32Array.from(data, (v) => (Number.isNaN(v) ? 1 : v)) };
    const tric = [10, 12, 15, 80, 95, 100] as const;
    const m = parseCcp4(ccp4Bytes(full, tric));
    const want = reciprocalFromMetric(tric);
    for (let i = 0; i < 3; i++) expect(m.header.cell[3 + i]).toBeCloseTo(want[3 + i]!, 3);
    expect(m.header.cell[0]).toBeCloseTo((3 * want[0]!) / 3, 6);
    expect(m.header.nlabl).toBe(1);
    const withNan = parseCcp4(ccp4Bytes(grid, tric));
    expect(withNan.data[(2 * 4 + 1) * 3 + 0]).toBe(0); // grid index 7 = (h0, k1, l2) → fill 0
  });

  it("with stats: 'written' describes the data as written, fill included", () => {
    const m = parseCcp4(ccp4Bytes(grid, cell, { fill: -5, stats: 'written' }));
    const written = Array.from(data, (v) => (Number.isNaN(v) ? -5 : v));
    const mean = written.reduce((s, v) => s + v, 0) / 60;
    expect(m.header.dmin).toBe(-5);
    expect(m.header.dmax).toBe(234);
    expect(m.header.dmean).toBeCloseTo(mean, 3);
    expect(m.header.rms).toBeCloseTo(Math.sqrt(written.reduce((s, v) => s + (v - mean) ** 2, 0) / 60), 3);
    expect(m.header.labels[1]).toBe('2 of 60 points unmeasured, written as -5; stats include fill');
  });

  it('finiteStats flags an empty map as undetermined', () => {
    expect(finiteStats(new Float32Array([NaN, NaN]))).toEqual({ dmin: 0, dmax: -1, dmean: -2, rms: -1, n: 0 });
    const s = finiteStats([1, 2, 3, NaN, Infinity]);
    expect(s).toMatchObject({ dmin: 1, dmax: 3, dmean: 2, n: 3 });
    expect(s.rms).toBeCloseTo(Math.sqrt(2 / 3), 12);
    expect(finiteStats([1, NaN], 3)).toEqual({ dmin: 1, dmax: 3, dmean: 2, rms: 1, n: 2 });
  });

  it('rejects a truncated file and a missing MAP stamp', () => {
    const bytes = ccp4Bytes(grid, cell);
    const p = join(dir, 'short.ccp4');
    writeFileSync(p, bytes.subarray(0, bytes.length - 4));
    return Promise.all([
      expect(readCcp4(p)).rejects.toThrow(TruncatedError),
      (async () => {
        const bad = Uint8Array.from(bytes);
        bad[208] = 0x58;
        expect(() => parseCcp4(bad, 'bad.ccp4')).toThrow(FormatError);
        expect(() => parseCcp4(bytes.subarray(0, 100))).toThrow(/1024 bytes/);
      })(),
    ]);
  });
});
