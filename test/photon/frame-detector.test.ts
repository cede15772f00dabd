/**
 * The fast CPU photon detector (src/photon/frame-detector.ts) against the CPU
 * twin, the specification: planted photon clouds (edges and corners included,
 * touching clouds, saturated values), uint16 / uint8 / float32 frames, both
 * modes, crops read in place; hit lists, energies, positions, maxima,
 * histogram and candidate count must be identical bit for bit.
 */
import { describe, expect, it } from 'vitest';
import { cropFrames, PHOTON_DEFAULTS, photonDetectCpu, type PhotonDetectResult, type PhotonMode } from '../../src/kernels/photon-detect.ts';
import { FrameDetector, HitColumns } from '../../src/photon/frame-detector.ts';
import { mulberry32 } from '../../src/util/random.ts';

/** `n` frames of h × w: offset 100 ± 3, 3×3 clouds of 150…900 ADU (some at the edges, some overlapping, a few saturated). */
function planted(seed: number, n: number, h: number, w: number, density: number): Uint16Array {
  const u = mulberry32(seed);
  const out = new Uint16Array(n * h * w);
  for (let i = 0; i < out.length; i++) out[i] = 97 + Math.floor(u() * 7);
  const photons = Math.max(4, Math.round((density * h * w) / 9));
  for (let k = 0; k < n; k++) {
    const at: Array<[number, number]> = [[0, 0], [h - 1, w - 1], [0, w - 1], [h - 1, 0], [1, 1]];
    for (let j = 0; j < photons; j++) at.push([Math.floor(u() * h), Math.floor(u() * w)]);
    for (const [r, c] of at) {
      const peak = u() < 0.02 ? 65535 : 150 + Math.floor(u() * 750);
      for (let dr = -1; dr <= 1; dr++) {
        for (let dc = -1; dc <= 1; dc++) {
          const rr = r + dr;
          const cc = c + dc;
          if (rr < 0 || rr >= h || cc < 0 || cc >= w) continue;
          const i = k * h * w + rr * w + cc;
          const share = dr === 0 && dc === 0 ? peak : Math.floor(peak * (0.1 + 0.6 * u()));
          out[i] = Math.min(65535, (out[i] as number) + share);
        }
      }
    }
  }
  return out;
}

interface Fast {
  result: PhotonDetectResult;
}

/** The fast path over every frame of `frames` (full frames of fh × fw, crop at row0/col0 of h × w). */
function fast(frames: Uint16Array | Uint8Array | Float32Array, fh: number, fw: number, crop: { row0: number; col0: number; h: number; w: number }, o: { threshold: number; emin: number; mode: PhotonMode }): Fast {
  const det = new FrameDetector({ width: crop.w, height: crop.h, ...o, histogram: PHOTON_DEFAULTS.histogram });
  const out = new HitColumns();
  const n = frames.length / (fh * fw);
  const maxEnergy = new Float32Array(n);
  for (let k = 0; k < n; k++) {
    const frame = frames.subarray(k * fh * fw, (k + 1) * fh * fw);
    maxEnergy[k] = det.detect(frame, { offset: crop.row0 * fw + crop.col0, stride: fw }, k, out);
  }
  return { result: { hits: out.take(), maxEnergy, histogram: det.histogram, candidates: det.candidates } };
}

function expectSame(a: PhotonDetectResult, b: PhotonDetectResult): void {
  expect(a.candidates).toBe(b.candidates);
  expect(a.hits.count).toBe(b.hits.count);
  expect(Array.from(a.hits.frame)).toEqual(Array.from(b.hits.frame));
  expect(Array.from(a.hits.row)).toEqual(Array.from(b.hits.row));
  expect(Array.from(a.hits.col)).toEqual(Array.from(b.hits.col));
  // bit-identical f32 columns
  expect(Buffer.from(a.hits.energy.buffer, a.hits.energy.byteOffset, a.hits.energy.byteLength).equals(Buffer.from(b.hits.energy.buffer, b.hits.energy.byteOffset, b.hits.energy.byteLength))).toBe(true);
  expect(Array.from(a.hits.posRow)).toEqual(Array.from(b.hits.posRow));
  expect(Array.from(a.hits.posCol)).toEqual(Array.from(b.hits.posCol));
  expect(Array.from(a.maxEnergy)).toEqual(Array.from(b.maxEnergy));
  expect(Array.from(a.histogram)).toEqual(Array.from(b.histogram));
}

describe('fast photon detector = CPU twin', () => {
  const H = 61;
  const W = 83;
  const N = 3;
  for (const mode of ['reference', 'local-max'] as const) {
    for (const density of [0.02, 0.3]) {
      it(`${mode}, uint16, ${density * 100}% cloud pixels, whole frame`, () => {
        const frames = planted(7 + density * 100, N, H, W, density);
        const o = { threshold: 108, emin: 800, mode };
        const twin = photonDetectCpu({ frames, width: W, height: H, ...o, clean: false });
        const got = fast(frames, H, W, { row0: 0, col0: 0, h: H, w: W }, o).result;
        expect(twin.hits.count).toBeGreaterThan(5);
        expect(twin.candidates).toBeGreaterThan(twin.hits.count);
        expectSame(got, twin);
      });
    }
    it(`${mode}, uint16, a crop read in place`, () => {
      const frames = planted(3, N, H, W, 0.05);
      const roi = { row0: 5, row1: 50, col0: 9, col1: 70 };
      const o = { threshold: 108, emin: 600, mode };
      const twin = photonDetectCpu({ frames: cropFrames(frames, W, H, roi), width: roi.col1 - roi.col0, height: roi.row1 - roi.row0, ...o, clean: false });
      const got = fast(frames, H, W, { row0: roi.row0, col0: roi.col0, h: roi.row1 - roi.row0, w: roi.col1 - roi.col0 }, o).result;
      expect(twin.hits.count).toBeGreaterThan(5);
      expectSame(got, twin);
    });
    it(`${mode}, uint8 and float32 frames (fractional threshold, non-finite pixels as 0)`, () => {
      const u16 = planted(5, N, H, W, 0.05);
      const u8 = Uint8Array.from(u16, (v) => Math.min(255, v));
      const o8 = { threshold: 107.5, emin: 300, mode };
      const twin8 = photonDetectCpu({ frames: Uint16Array.from(u8), width: W, height: H, ...o8, clean: false });
      expect(twin8.hits.count).toBeGreaterThan(5);
      expectSame(fast(u8, H, W, { row0: 0, col0: 0, h: H, w: W }, o8).result, twin8);

      const u = mulberry32(9);
      const f32 = Float32Array.from(u16, (v) => v + u() * 0.7);
      const bad = [0, 17, 2 * W + 3, H * W + 40, 2 * H * W - 1];
      for (const [j, i] of bad.entries()) f32[i] = j % 2 === 0 ? Number.NaN : Number.POSITIVE_INFINITY;
      const masked = f32.map((v) => (Number.isFinite(v) ? v : 0));
      const of = { threshold: 108.25, emin: 800, mode };
      const twinF = photonDetectCpu({ frames: masked, width: W, height: H, ...of, clean: false });
      expect(twinF.hits.count).toBeGreaterThan(5);
      expectSame(fast(f32, H, W, { row0: 0, col0: 0, h: H, w: W }, of).result, twinF);
    });
  }

  it('a negative threshold (every pixel hot, masked pixels included) still matches', () => {
    const frames = planted(11, 1, 20, 24, 0.1);
    const o = { threshold: -5, emin: 900, mode: 'reference' as const };
    const twin = photonDetectCpu({ frames, width: 24, height: 20, ...o, clean: false });
    expectSame(fast(frames, 20, 24, { row0: 0, col0: 0, h: 20, w: 24 }, o).result, twin);
  });

  it('refuses a crop that does not fit the frame', () => {
    const det = new FrameDetector({ width: 10, height: 10, ...PHOTON_DEFAULTS });
    expect(() => det.detect(new Uint16Array(99), { offset: 0, stride: 10 }, 0, new HitColumns())).toThrow(/does not fit/);
  });
});
