/**
 * The stills recovery figures (src/sim/stills-recovery.ts) on inputs whose
 * answer is known: the box-averaged truth against a brute-force average over
 * the box, a map equal to 0.8 × the truth (r = 1, slope 0.8),
 * per-shot scales off by one overall factor (RMS 0) and by ±2 % (RMS 2 %),
 * rejected shots skipped, and the mask figures counted by hand.
 */
import { describe, expect, it } from 'vitest';
import { emptyMerged, type Ndiv } from '../../src/pipeline/observations.ts';
import { diffuseTruthValue } from '../../src/sim/physics.ts';
import { reciprocalMetric } from '../../src/sim/spec.ts';
import { boxTruth, combineMaskRecovery, maskRecovery, shotScaleRecovery, stillsMapRecovery } from '../../src/sim/stills-recovery.ts';
import type { StillShotTruth } from '../../src/sim/stills/simulate.ts';
import { stillsB, stillsSpec } from '../../src/sim/stills/spec.ts';

const spec = stillsSpec({ shots: 10, size: 128, seed: 2 });
const gStar = reciprocalMetric(stillsB(spec));
const truthAt = (h: number, k: number, l: number): number => diffuseTruthValue(spec.base, gStar, h, k, l);

function bruteBox(h: number, k: number, l: number, ndiv: Ndiv, n = 21): number {
  let sum = 0;
  for (let a = 0; a < n; a++) {
    for (let b = 0; b < n; b++) {
      for (let c = 0; c < n; c++) {
        sum += truthAt(h + ((a + 0.5) / n - 0.5) / ndiv[0], k + ((b + 0.5) / n - 0.5) / ndiv[1], l + ((c + 0.5) / n - 0.5) / ndiv[2]);
      }
    }
  }
  return sum / n ** 3;
}

/** A merged table of the integer points (ndiv 1) in a box, I = f(h, k, l). */
function mergedOf(f: (h: number, k: number, l: number) => number) {
  const pts: [number, number, number][] = [];
  for (let h = 4; h <= 10; h++) for (let k = 4; k <= 10; k++) for (let l = 4; l <= 10; l++) pts.push([h, k, l]);
  const m = emptyMerged(pts.length);
  pts.forEach(([h, k, l], i) => {
    m.H[i] = h;
    m.K[i] = k;
    m.L[i] = l;
    m.I[i] = f(h, k, l);
    m.n[i] = i % 7 === 0 ? 2 : 5;
  });
  return m;
}

describe('stills recovery figures', () => {
  it('the box truth is the average of the truth over the subvoxel box (within 0.5 % of a 21³-point midpoint sum)', () => {
    for (const ndiv of [[1, 1, 1], [3, 3, 3]] as Ndiv[]) {
      for (const [h, k, l] of [[6, 5, 7], [8, 0, 9], [5, 9, 4], [10, 3, 6]] as const) {
        expect(truthAt(h, k, l)).toBeGreaterThan(0);
        const c = [h + (ndiv[0] === 3 ? 1 / 3 : 0), k, l] as const;
        const box = boxTruth(spec, ndiv)(c[0], c[1], c[2]);
        expect(Math.abs(box / bruteBox(c[0], c[1], c[2], ndiv) - 1), `${ndiv} ${c}`).toBeLessThan(0.005);
      }
    }
    // at ndiv 1 the box average differs from the centre value (the modulation shrinks by 2/π)
    expect(Math.abs(boxTruth(spec, [1, 1, 1])(6, 6, 6) / truthAt(6, 6, 6) - 1)).toBeGreaterThan(0.02);
  });

  it('a map of 0.8 × the box truth: r = 1, slope 0.8, rows with < 3 observations left out', () => {
    const box = boxTruth(spec, [1, 1, 1]);
    const m = mergedOf((h, k, l) => 0.8 * box(h, k, l));
    const r = stillsMapRecovery(spec, m, [1, 1, 1], 3);
    expect(r.r).toBeGreaterThan(0.999999);
    expect(r.slope).toBeCloseTo(0.8, 10);
    expect(r.medianRatio).toBeCloseTo(0.8, 10);
    expect(r.voxels).toBe([...m.n].filter((n) => n >= 3).length);
    expect(r.voxels).toBeGreaterThan(250);
  });

  it('per-shot scale: an overall factor is free; ±2 % gives 2 % RMS; rejected shots are skipped', () => {
    const truth: StillShotTruth[] = Array.from({ length: 20 }, (_v, i) => ({ shot: i, identifier: `s${i}`, image: '', pOrder: 2, scale: 0.8 + 0.02 * i, braggPhotons: 0, reflections: 0, sha256: '' }));
    const exact = shotScaleRecovery(truth, truth.map((t) => ({ shot: t.shot, b: 2.5 * t.scale })));
    expect(exact.rms).toBeLessThan(1e-12);
    expect(exact.overall).toBeCloseTo(2.5, 12);
    const off = shotScaleRecovery(truth, [...truth.map((t, i) => ({ shot: t.shot, b: t.scale * (i % 2 === 0 ? 1.02 : 0.98), status: 'used' })), { shot: 3, b: 100, status: 'rejected' }, { shot: 99, b: 1 }]);
    expect(off.rms).toBeCloseTo(0.02, 10);
    expect(off.shots).toBe(20);
    expect(off.skipped).toBe(2);
  });

  it('mask figures: Bragg photons under the mask, masked fraction outside the gaps', () => {
    const counts = Int32Array.from([5, -1, 7, 100, 3, 40, -1, 2]);
    const bragg = Int32Array.from([0, 0, 0, 90, 0, 30, 0, 1]);
    const mask = Uint8Array.from([0, 1, 0, 1, 0, 1, 0, 0]);
    const r = maskRecovery(mask, bragg, counts);
    expect(r).toEqual({ braggPhotons: 121, removed: 120, removedFraction: 120 / 121, maskedFraction: 2 / 6 });
    const both = combineMaskRecovery([r, maskRecovery(new Uint8Array(8), bragg, counts)]);
    expect(both).toEqual({ shots: 2, removedFraction: 120 / 242, maxMaskedFraction: 2 / 6, meanMaskedFraction: 1 / 6 });
    expect(() => maskRecovery(new Uint8Array(3), bragg, counts)).toThrow(/mask has 3 pixels/);
  });
});
