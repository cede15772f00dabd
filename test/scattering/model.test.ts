import { describe, expect, it } from 'vitest';
import { InvalidValueError } from '../../src/errors.ts';
import { coherentSum, compositionFromSequence, electronCount, incoherentSum, parseComposition } from '../../src/scattering/composition.ts';
import { cellVolume, shellIntegral, shellVolume, totalScatteringModel } from '../../src/scattering/model.ts';

const HEWL = 'KVFGRCELAAAMKRHGLDNYRGYSLGNWVCAAKFESNFNTQATNRNTDGSTDYGILQINSRWWCNDGRTPGSRNLCNIPCSALLSSDITASVNCAKKIVSDGNGMNAWVAWRNRCKGTDVQAWIRGCRL';

describe('radial integrals and cells', () => {
  it('shellIntegral of 1 is the shell volume; of s² it is 4π(b⁵ − a⁵)/5', () => {
    expect(shellIntegral(() => 1, 0.1, 0.73)).toBeCloseTo(shellVolume(0.1, 0.73), 12);
    expect(shellIntegral((s) => s * s, 0.2, 1.9)).toBeCloseTo((4 * Math.PI * (1.9 ** 5 - 0.2 ** 5)) / 5, 10);
    // Gaussian over all space: π^{3/2} σ³
    expect(shellIntegral((s) => Math.exp(-((s / 0.3) ** 2)), 0, 4)).toBeCloseTo(Math.PI ** 1.5 * 0.3 ** 3, 10);
  });

  it('cell volumes', () => {
    expect(cellVolume([10, 20, 30, 90, 90, 90])).toBeCloseTo(6000, 9);
    expect(cellVolume([10, 20, 30, 90, 120, 90])).toBeCloseTo(6000 * Math.sin((120 * Math.PI) / 180), 9);
    expect(() => cellVolume([10, 10, 10, 10, 10, 100])).toThrow(InvalidValueError);
  });
});

describe('totalScatteringModel (sum rule for the simulator)', () => {
  const V = 30 * 35 * 40;
  const comp = compositionFromSequence(HEWL, { copiesPerCell: 1, solventFraction: 0.55, cellVolume: V });
  const m = totalScatteringModel(comp, V);

  it('solves the hole so that ∫ w Σnf² d³s = N_e²/V', () => {
    const Ne = electronCount(comp);
    expect(m.electrons).toBeCloseTo(Ne, 9);
    expect(m.forward).toBeCloseTo((Ne * Ne) / V, 6);
    const hole = shellIntegral((s) => Math.exp(-((s / m.holeWidth) ** 2)) * coherentSum(comp, s), 0, 4);
    expect(hole / m.forward).toBeCloseTo(1, 9);
    expect(m.holeWidth).toBeGreaterThan(0.1);
    expect(m.holeWidth).toBeLessThan(0.5);
  });

  it('its cumulative total meets the theory T(S) once S ≳ 3 s_w, and not below', () => {
    for (const S of [3.2 * m.holeWidth, 0.9, 1.5]) {
      expect(Math.abs(m.cumulativeTotal(S) / m.cumulativeTheory(S) - 1), `S=${S}`).toBeLessThan(2e-4);
    }
    // at S = s_w the forward term is not yet paid back: the theory is far below
    expect(m.cumulativeTheory(m.holeWidth)).toBeLessThan(0.5 * m.cumulativeTotal(m.holeWidth));
  });

  it('coherent → 0 at s → 0 and → Σ n f² at high s; total = coherent + Compton', () => {
    expect(m.coherent(0)).toBe(0);
    expect(m.coherent(1.5) / coherentSum(comp, 1.5)).toBeCloseTo(1, 9);
    expect(m.total(0.7)).toBeCloseTo(m.coherent(0.7) + incoherentSum(comp, 0.7), 9);
    expect(m.laue(0)).toBeCloseTo(coherentSum(comp, 0), 9);
  });

  it('refuses a composition that cannot fit in the cell', () => {
    expect(() => totalScatteringModel(parseComposition('U1000'), 100)).toThrow(InvalidValueError);
  });
});
