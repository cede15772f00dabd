/**
 * The electron-unit simulation obeys the sum rule absolute scaling relies on:
 * beyond the solvent hole, ∫ (Bragg + diffuse) d³s = ∫ Σnf² d³s − N_e²/V_c,
 * and its Bragg intensities average to C(s)·β(s) per unit volume.
 */
import { describe, expect, it } from 'vitest';
import { coherentSum, electronCount } from '../../src/scattering/index.ts';
import { braggFraction, shellIntegral } from '../../src/sim/electron-units.ts';
import { braggIntensity, diffuseTruthValue, radialOf, spotWidths } from '../../src/sim/physics.ts';
import { buildExperiment, electronUnitSpec, reciprocalMetric, validateSpec } from '../../src/sim/spec.ts';

describe('electron-unit simulation', () => {
  const spec = electronUnitSpec('small', 3);
  const exp = buildExperiment(spec);
  const gStar = reciprocalMetric(exp.crystal!.A);
  const radial = radialOf(spec, gStar);

  it('is a valid spec with a protein-like cell content', () => {
    expect(() => validateSpec(spec)).not.toThrow();
    const comp = spec.model.electronUnits!.composition;
    expect(radial.electrons).toBe(electronCount(comp));
    expect(radial.electrons).toBe(1650 * 6 + 5642 + 450 * 7 + 2021 * 8 + 12 * 16);
    expect(radial.cellVolume).toBeCloseTo(38.2 * 45.6 * 52.3, 6);
    expect(exp.detector.panels[0]!.mu).toBe(3.8);
  });

  it('removes exactly N_e²/V_c with the solvent hole (the Krogh-Moe forward term)', () => {
    const forward = (radial.electrons * radial.electrons) / radial.cellVolume;
    const beyond = radial.holeStart + radial.holeTaper;
    expect(radial.holeStart).toBeGreaterThan(0.1);
    expect(radial.holeStart).toBeLessThan(0.3);
    for (const S of [beyond + 0.01, 0.45, 0.6]) {
      const observed = shellIntegral((s) => radial.coherent(s), S);
      const theory = shellIntegral((s) => coherentSum(comp(), s), S) - forward;
      expect(Math.abs(observed / theory - 1)).toBeLessThan(2e-3);
    }
    // no coherent scattering inside the hole (up to the midpoint rule's last step)
    expect(shellIntegral((s) => radial.coherent(s), radial.holeStart)).toBeLessThan(1e-3 * forward);
  });

  it('gives Bragg peaks whose integrals average to C(s)·β(s) per unit volume', () => {
    // Σ_H integral(H) over a shell ≈ ∫ C β d³s over the shell (lattice-point density V_c)
    const { sigmaRadial, eta } = spotWidths(spec);
    const K = spec.model.electronUnits!.photonsPerEu;
    let sum = 0;
    const [s0, s1] = [0.35, 0.5];
    const lim = 30;
    for (let h = -lim; h <= lim; h++) {
      for (let k = -lim; k <= lim; k++) {
        for (let l = -lim; l <= lim; l++) {
          const q2 = gStar[0]! * h * h + gStar[4]! * k * k + gStar[8]! * l * l;
          if (q2 < s0 * s0 || q2 >= s1 * s1) continue;
          const st2 = sigmaRadial * sigmaRadial + q2 * eta * eta;
          sum += (braggIntensity(spec, gStar, h, k, l) * (2 * Math.PI) ** 1.5 * sigmaRadial * st2) / K;
        }
      }
    }
    const expected = (shellIntegral((s) => radial.coherent(s) * braggFraction(spec.model.bragg.wilsonB, s), s1) - shellIntegral((s) => radial.coherent(s) * braggFraction(spec.model.bragg.wilsonB, s), s0));
    // Wilson E² average 1 over a few thousand reflections: a few per cent
    expect(sum / expected).toBeGreaterThan(0.95);
    expect(sum / expected).toBeLessThan(1.05);
  });

  it('makes the diffuse truth C(s)(1 − β(s)) M(h), in electron units', () => {
    const [h, k, l] = [3.4, -2.2, 5.1];
    const q = Math.sqrt(gStar[0]! * h * h + gStar[4]! * k * k + gStar[8]! * l * l);
    const m = spec.model.diffuse.modulation;
    const M = 1 + m[0] * Math.cos(Math.PI * h) + m[1] * Math.cos(Math.PI * k) + m[2] * Math.cos(Math.PI * l);
    const expected = radial.coherent(q) * (1 - braggFraction(spec.model.bragg.wilsonB, q)) * M;
    expect(diffuseTruthValue(spec, gStar, h, k, l)).toBeCloseTo(expected, 6);
  });

  function comp() {
    return spec.model.electronUnits!.composition;
  }
});
