/**
 * Air attenuation, simulated and corrected with one model. On a 200 mm,
 * λ = 1 Å setup (electron units, no drift, no absorption pattern, one
 * rotation sub-step, 0.5 mm pixels out to 2θ ≈ 30°), the noise-free diffuse counts of a frame divided by
 * T · κ (κ from `pixelCorrections` with the integrate stage's corrections)
 * recover the true diffuse intensity per pixel:
 *
 * - with the default (`air_path: 1`) to 0.1 % in the median and with no trend
 *   with resolution;
 * - with air left out (`air_path: 0`) the intensities come out ≈ 6 % low —
 *   beyond the 5 % tolerance of the absolute scale in the recovery tests —
 *   and fall further with resolution.
 */
import { describe, expect, it } from 'vitest';
import { pixelCorrections } from '../../src/corrections/pixel-corrections.ts';
import { hklMatrixAtAngle } from '../../src/geometry/setting.ts';
import { airExponent, diffuseTruthValue } from '../../src/sim/physics.ts';
import { FrameRenderer, PIXEL_NORMAL } from '../../src/sim/render.ts';
import { buildExperiment, electronUnitSpec, reciprocalMetric, validateSpec, type SimulationSpec } from '../../src/sim/spec.ts';
import { correctionOptions, INTEGRATE_DEFAULTS } from '../../src/stages/integrate.ts';

function airSpec(): SimulationSpec {
  const spec = electronUnitSpec('small', 5);
  // 200 mm with 0.5 mm pixels: 397 × 397 px reach 2θ ≈ 30° in the corners (q ≈ 0.5 Å⁻¹)
  spec.detector.distance = 200;
  spec.detector.pixelSize = 0.5;
  spec.scan.subSteps = 1;
  spec.model.frameScale = { amplitude: 0, periodFrames: 10, phaseDeg: 0 };
  spec.model.absorption = { gradient: [0, 0], radial: 0 };
  spec.model.offset = 0;
  validateSpec(spec);
  return spec;
}

interface Recovered {
  median: number;
  /** median ratio over the outer third of the pixels by q minus that over the inner third */
  trend: number;
  pixels: number;
}

const median = (v: number[]): number => {
  const s = [...v].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
};

/** Recovered / true diffuse intensity over the normal pixels, κ from the integrate corrections with this air path. */
function recover(spec: SimulationSpec, airPath: number): Recovered {
  const exp = buildExperiment(spec);
  const r = new FrameRenderer(spec, exp);
  const all = new Float64Array(r.pixels);
  const diffuse = new Float64Array(r.pixels);
  r.expected(0, all, { diffuse });
  const opts = correctionOptions({ ...INTEGRATE_DEFAULTS.corrections, airPath });
  expect(opts).toBeDefined();
  const kappa = pixelCorrections(exp, opts).kappa;
  // the simulator's solid angle is relative to a pixel at the foot of the panel normal
  const px = spec.detector.pixelSize;
  const omegaFoot = (px * px) / (spec.detector.distance * spec.detector.distance);
  const M = hklMatrixAtAngle(exp, r.subStepAngles(0)[0] as number);
  const gStar = reciprocalMetric(exp.crystal?.A ?? [1, 0, 0, 0, 1, 0, 0, 0, 1]);
  const eu = spec.model.electronUnits;
  expect(eu).toBeDefined();
  const rows: { q: number; ratio: number }[] = [];
  for (let i = 0; i < r.pixels; i++) {
    if (r.kind[i] !== PIXEL_NORMAL) continue;
    const v = [r.vectors[3 * i] as number, r.vectors[3 * i + 1] as number, r.vectors[3 * i + 2] as number];
    const [h, k, l] = [0, 1, 2].map((row) => (M[3 * row] as number) * v[0]! + (M[3 * row + 1] as number) * v[1]! + (M[3 * row + 2] as number) * v[2]!) as [number, number, number];
    const truth = (eu?.photonsPerEu ?? Number.NaN) * diffuseTruthValue(spec, gStar, h, k, l);
    const I = (diffuse[i] as number) / ((spec.scan.exposure * (kappa[i] as number)) / omegaFoot);
    // pixels where the model has no diffuse intensity (0 counts, 0 truth) say nothing
    if (truth === 0 && diffuse[i] === 0) continue;
    rows.push({ q: Math.hypot(v[0]!, v[1]!, v[2]!), ratio: I / truth });
  }
  rows.sort((a, b) => a.q - b.q);
  const third = Math.floor(rows.length / 3);
  const inner = rows.slice(0, third).map((x) => x.ratio);
  const outer = rows.slice(rows.length - third).map((x) => x.ratio);
  return { median: median(rows.map((x) => x.ratio)), trend: median(outer) - median(inner), pixels: rows.length };
}

describe('air attenuation: simulated, and corrected by default', () => {
  const spec = airSpec();

  it('the simulator attenuates along the whole sample–pixel path by default', () => {
    expect(spec.model.airPath).toBe(1);
    // total attenuation of dry air at 12.4 keV: ≈ 3.3e−4 mm⁻¹ (NIST XCOM)
    expect(airExponent(spec)).toBeGreaterThan(3.0e-4);
    expect(airExponent(spec)).toBeLessThan(3.6e-4);
    expect(airExponent({ ...spec, model: { ...spec.model, airPath: 0 } })).toBe(0);
  });

  it('the integrate default (air path 1) recovers the truth; air left out is biased low with a trend in resolution', () => {
    expect(INTEGRATE_DEFAULTS.corrections.airPath).toBe(1);
    const withAir = recover(spec, INTEGRATE_DEFAULTS.corrections.airPath ?? Number.NaN);
    const noAir = recover(spec, 0);
    console.log(
      `[air] 200 mm, 1 Å: default median ratio ${withAir.median.toFixed(5)} (trend ${(100 * withAir.trend).toFixed(3)} %); ` +
        `air off ${noAir.median.toFixed(5)} (trend ${(100 * noAir.trend).toFixed(3)} %) over ${withAir.pixels} pixels`,
    );
    expect(withAir.pixels).toBeGreaterThan(100_000);
    expect(Math.abs(withAir.median - 1)).toBeLessThanOrEqual(0.001);
    expect(Math.abs(withAir.trend)).toBeLessThanOrEqual(0.0005);
    expect(1 - noAir.median).toBeGreaterThan(0.05);
    expect(1 - noAir.median).toBeLessThan(0.08);
    expect(noAir.trend).toBeLessThan(-0.003);
  });
});
