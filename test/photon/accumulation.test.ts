/**
 * The photon session's accumulation pieces: u16 photon counts that turn u32
 * before they overflow, and integer sums that turn f64 exactly when a frame
 * needs it — the same values as f64 sums of the f32-corrected frames.
 */
import { describe, expect, it } from 'vitest';
import { addCount, correctFrame, ImageAccumulation, type Correction } from '../../src/photon/accumulation.ts';

describe('addCount', () => {
  it('counts in u16 up to 65,535, then the whole array becomes u32 and the count goes on', () => {
    let c: Uint16Array | Uint32Array = new Uint16Array(4);
    c[1] = 65534;
    c[2] = 7;
    c = addCount(c, 1);
    expect(c).toBeInstanceOf(Uint16Array);
    expect(c[1]).toBe(65535);
    c = addCount(c, 1);
    expect(c).toBeInstanceOf(Uint32Array);
    expect(Array.from(c)).toEqual([0, 65536, 7, 0]);
  });
});

describe('ImageAccumulation', () => {
  const where = { file: 'test', frame: 0 };
  /** the reference: f64 sums of the corrected f32 frames, valid counts per pixel */
  function reference(frames: Array<{ data: Uint16Array | Float32Array; corr: Correction }>): { sums: Float64Array; valid: Uint32Array } {
    const n = frames[0]!.data.length;
    const sums = new Float64Array(n);
    const valid = new Uint32Array(n);
    for (const f of frames) {
      const img = correctFrame(f.data, f.corr, new Float32Array(n), where);
      for (let i = 0; i < n; i++) {
        if ((img[i] as number) >= 0) {
          sums[i] = (sums[i] as number) + (img[i] as number);
          valid[i] = (valid[i] as number) + 1;
        }
      }
    }
    return { sums, valid };
  }

  it('uint16 frames (u32 sums), then a CMOS frame with a fractional dark and a float frame with NaN/−1 (f64 sums, valid counts)', () => {
    const n = 50;
    const u16 = (k: number): Uint16Array => Uint16Array.from({ length: n }, (_v, i) => (i * 997 + k * 131) % 65536);
    const frames: Array<{ data: Uint16Array | Float32Array; corr: Correction }> = [
      { data: u16(1), corr: { kind: 'none' } },
      { data: u16(2), corr: { kind: 'cmos', dark: 100, zeroBelow: 12 } },
      { data: u16(3), corr: { kind: 'cmos', dark: 99.7, zeroBelow: 12 } },
      { data: Float32Array.from({ length: n }, (_v, i) => (i === 4 ? Number.NaN : i === 9 ? -1 : i * 1.1)), corr: { kind: 'none' } },
    ];
    const acc = new ImageAccumulation(n);
    const ref = reference(frames);
    for (const [k, f] of frames.entries()) {
      acc.add(f.data, f.corr, where);
      const part = reference(frames.slice(0, k + 1));
      expect(Array.from({ length: n }, (_v, i) => acc.valueAt(i))).toEqual(Array.from(part.sums));
    }
    expect(Array.from(acc.toFloat64())).toEqual(Array.from(ref.sums));
    expect(Array.from(acc.validCounts())).toEqual(Array.from(ref.valid));
    expect(acc.validAt(4)).toBe(3);
    expect(acc.validAt(9)).toBe(3);
    expect(acc.validAt(0)).toBe(4);
    expect(acc.frames).toBe(4);
  });
});
