/**
 * 2D Bragg masks of stills (src/stills/mask.ts):
 * - snase/stills.expt (10 real SMV shots, no spot model in the file: the
 *   fallback radius): before masking, 74–82% of the 500 brightest in-window
 *   pixels lie within 0.15 of integer hkl (all three indices), against ~3% of
 *   random ones; after masking, the 500 brightest unmasked in-window pixels are
 *   no more often near integer hkl than random unmasked in-window pixels, plus
 *   a tolerance of 2 percentage points, and each shot's masked fraction is ≤ 5%;
 * - a synthetic still (random orientation, Gaussian spots of the shot's spot
 *   model, R = 2.6σ, Poisson noise): the mask removes ≥ 99% of the planted Bragg photons
 *   while masking ≤ 5% of the pixels;
 * - real imports without images (ssx-cunir: Sauter + ellipsoid profile; the
 *   CrystFEL stream: profile_radius): the listed reflections' predicted
 *   positions fall on predicted-mask pixels;
 * - the `.refl` bboxes are masked exactly; bad settings name their key.
 */
import { describe, expect, it } from 'vitest';
import { InvalidValueError } from '../../src/errors.ts';
import { hklMapCpu } from '../../src/kernels/hkl-map.ts';
import type { DetectorImage } from '../../src/io/image.ts';
import { readCrystfelStills } from '../../src/stills/crystfel.ts';
import { readDialsStills } from '../../src/stills/dials.ts';
import { ShotVectorCache, shotHklParams } from '../../src/stills/geometry.ts';
import { ShotImages } from '../../src/stills/images.ts';
import { MASK_BBOX, MASK_OUTLIER, MASK_PREDICTED, STILLS_MASK_DEFAULTS, stillBraggMask } from '../../src/stills/mask.ts';
import { allocateStillReflections, type StillShot } from '../../src/stills/model.ts';
import { mulberry32 } from '../../src/util/random.ts';
import { sharedData } from '../helpers/paths.ts';
import { randomlyOriented, renderStill } from '../helpers/still-render.ts';

/** Lunus's trusted window and beamstop for these frames (../shared/data/README.md). */
function inWindow(x: number, y: number): boolean {
  return x >= 40 && x <= 984 && y >= 40 && y <= 984 && !(x >= 510 && x <= 556 && y >= 473 && y <= 517);
}

function nearInteger(hkl: Float32Array, i: number): boolean {
  for (let c = 0; c < 3; c++) {
    const v = hkl[3 * i + c] as number;
    if (Math.abs(v - Math.round(v)) > 0.15) return false;
  }
  return true;
}

describe('snase stills: Bragg masks', () => {
  it('after masking, the brightest pixels are no more often near integer hkl than random ones; ≤ 5% masked per shot', async () => {
    const data = await readDialsStills(sharedData('snase', 'stills.expt'));
    const images = new ShotImages();
    const rows: string[] = [];
    try {
      for (const shot of data.shots) {
        const image = await images.read(shot);
        const { hkl } = hklMapCpu(shotHklParams(shot.experiment));
        const m = stillBraggMask({ shot, image });
        const all: number[] = [];
        const kept: number[] = [];
        for (let y = 0; y < image.height; y++) {
          for (let x = 0; x < image.width; x++) {
            const i = y * image.width + x;
            const v = image.pixels[i] as number;
            if (v < 1 || v > 10000 || !inWindow(x, y)) continue;
            all.push(i);
            if (m.mask[i] === 0) kept.push(i);
          }
        }
        const brightest = (list: number[]): number[] => list.slice().sort((a, b) => (image.pixels[b] as number) - (image.pixels[a] as number) || a - b).slice(0, 500);
        const u = mulberry32(shot.index + 1);
        const random = (list: number[]): number[] => Array.from({ length: 5000 }, () => list[Math.floor(u() * list.length)] as number);
        const frac = (list: number[]): number => list.filter((i) => nearInteger(hkl, i)).length / list.length;
        const before = frac(brightest(all));
        const randomBefore = frac(random(all));
        const after = frac(brightest(kept));
        const randomAfter = frac(random(kept));
        rows.push(
          `${shot.identifier}: before ${(100 * before).toFixed(1)}% (random ${(100 * randomBefore).toFixed(1)}%), after ${(100 * after).toFixed(1)}% (random ${(100 * randomAfter).toFixed(1)}%), masked ${(100 * m.fraction).toFixed(2)}% (predicted ${((100 * m.predicted) / m.mask.length).toFixed(2)}%, outliers ${((100 * m.outlier) / m.mask.length).toFixed(2)}%)`,
        );
        expect(before, shot.identifier).toBeGreaterThan(0.7);
        expect(randomBefore, shot.identifier).toBeLessThan(0.05);
        expect(after, shot.identifier).toBeLessThanOrEqual(randomAfter + 0.02);
        expect(m.fraction, shot.identifier).toBeLessThanOrEqual(0.05);
        expect(m.predicted, shot.identifier).toBeGreaterThan(0);
        expect(m.outlier, shot.identifier).toBeGreaterThan(0);
      }
    } finally {
      await images.close();
    }
    console.log(`[snase masks]\n  ${rows.join('\n  ')}`);
  }, 240_000);
});

describe('synthetic still: Bragg masks', () => {
  it('removes ≥ 99% of the planted Bragg photons while masking ≤ 5% of the pixels', async () => {
    const data = await readDialsStills(sharedData('snase', 'stills.expt'));
    const base = data.shots[0] as StillShot;
    const crystal = base.experiment.crystal;
    if (crystal === undefined) throw new Error('no crystal');
    const radius = 0.0028;
    const shot: StillShot = {
      ...base,
      experiment: { ...base.experiment, crystal: { ...crystal, A: randomlyOriented(crystal.A, 5) } },
      spotModel: { kind: 'radius', radius },
    };
    const { pixels, bragg } = renderStill(shot, { sigma: radius / 2.6, meanPeak: 400, background: 30, seed: 17 });
    const image: DetectorImage = { width: 1024, height: 1024, pixels, header: { format: 'smv', raw: new Map(), lines: [] }, source: { file: 'synthetic', frame: 0 } };
    // the spot model's R = 2.6σ, the pixels' footprint, no margin
    const m = stillBraggMask({ shot, image });
    let planted = 0;
    let removed = 0;
    let removedByPrediction = 0;
    for (let i = 0; i < bragg.length; i++) {
      const b = bragg[i] as number;
      planted += b;
      if (m.mask[i] !== 0) removed += b;
      if (((m.mask[i] as number) & MASK_PREDICTED) !== 0) removedByPrediction += b;
    }
    console.log(
      `[synthetic still] ${planted} Bragg photons planted, ${((100 * removed) / planted).toFixed(2)}% removed (${((100 * removedByPrediction) / planted).toFixed(2)}% by the prediction alone); masked ${(100 * m.fraction).toFixed(2)}% of the pixels (predicted ${((100 * m.predicted) / m.mask.length).toFixed(2)}%, outliers ${((100 * m.outlier) / m.mask.length).toFixed(2)}%)`,
    );
    expect(planted).toBeGreaterThan(100_000);
    expect(removed / planted).toBeGreaterThanOrEqual(0.99);
    expect(m.fraction).toBeLessThanOrEqual(0.05);
    // a spot model half as wide as the truth misses Bragg photons (the test can fail)
    const narrow = stillBraggMask({ shot, image }, { ...STILLS_MASK_DEFAULTS, outliers: false, radiusScale: 0.5 });
    let narrowRemoved = 0;
    for (let i = 0; i < bragg.length; i++) if (narrow.mask[i] !== 0) narrowRemoved += bragg[i] as number;
    console.log(`[synthetic still] with R/2: ${((100 * narrowRemoved) / planted).toFixed(2)}% removed`);
    expect(narrowRemoved / planted).toBeLessThan(0.99);
  }, 120_000);
});

describe('predicted extents on real imports (no images)', () => {
  it('every listed reflection of two ssx-cunir shots and ≥ 98% of the CrystFEL stream’s fall on a predicted-mask pixel', async () => {
    const sets = [
      { data: await readDialsStills(sharedData('stills', 'ssx-cunir', 'integrated.expt'), sharedData('stills', 'ssx-cunir', 'integrated.refl')), need: 1, shots: 2 },
      { data: await readCrystfelStills(sharedData('stills', 'crystfel', 'crystfel.stream')), need: 0.98, shots: 3 },
    ];
    const rows: string[] = [];
    for (const { data, need, shots } of sets) {
      const R = data.reflections;
      let n = 0;
      let hit = 0;
      let fraction = 0;
      const vectors = new ShotVectorCache();
      // the first two ssx-cunir shots (6M pixels each) keep the test short
      for (const shot of data.shots.slice(0, shots)) {
        const m = stillBraggMask({ shot, vectors }, { ...STILLS_MASK_DEFAULTS, outliers: false });
        fraction = Math.max(fraction, m.predicted / m.mask.length);
        const panel = shot.experiment.detector.panels[0]!;
        expect(shot.experiment.detector.panels).toHaveLength(1);
        const [w, h] = panel.imageSize;
        for (let r = 0; r < R.n; r++) {
          if (R.shot[r] !== shot.index) continue;
          const x = Math.floor(R.xyzCal[2 * r]!);
          const y = Math.floor(R.xyzCal[2 * r + 1]!);
          if (x < 0 || y < 0 || x >= w || y >= h) continue;
          n++;
          if ((m.mask[y * w + x]! & MASK_PREDICTED) !== 0) hit++;
        }
      }
      rows.push(`${data.format}: ${hit} of ${n} listed reflections on a predicted-mask pixel; predicted mask ≤ ${(100 * fraction).toFixed(2)}% of a shot (${Math.min(shots, data.shots.length)} shots)`);
      expect(n).toBeGreaterThan(600);
      expect(hit / n).toBeGreaterThanOrEqual(need);
    }
    console.log(`[predicted extents]\n  ${rows.join('\n  ')}`);
  }, 120_000);
});

describe('stills mask: bboxes and settings', () => {
  it('masks exactly the shot’s bboxes; settings errors name the key', async () => {
    const data = await readDialsStills(sharedData('snase', 'stills.expt'));
    const shot = data.shots[2] as StillShot;
    const refl = allocateStillReflections(3);
    refl.shot.set([2, 2, 1]);
    refl.bbox.set([100, 110, 200, 205, 1020, 1030, 0, 2, 300, 310, 300, 310]);
    const settings = { ...STILLS_MASK_DEFAULTS, outliers: false };
    const plain = stillBraggMask({ shot }, settings);
    const m = stillBraggMask({ shot, reflections: refl }, settings);
    // 10×5 inside, 4×2 clipped at the panel edge; the row of shot 1 is not this shot's
    expect(m.bbox).toBe(50 + 8);
    expect(((m.mask[200 * 1024 + 100] as number) & MASK_BBOX) !== 0).toBe(true);
    expect(((m.mask[300 * 1024 + 300] as number) & MASK_BBOX) !== 0).toBe(false);
    expect(m.predicted).toBe(plain.predicted);
    expect(m.mask.some((v) => (v & MASK_OUTLIER) !== 0)).toBe(false);
    expect(() => stillBraggMask({ shot }, { ...settings, block: 2 })).toThrow(InvalidValueError);
    expect(() => stillBraggMask({ shot }, { ...settings, margin: -1 })).toThrow(/mask\.margin/);
    expect(() => stillBraggMask({ shot }, { ...STILLS_MASK_DEFAULTS })).toThrow(/shot 2 .*needs the shot's image/);
  });
});
