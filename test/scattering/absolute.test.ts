import { describe, expect, it } from 'vitest';
import { InvalidValueError } from '../../src/errors.ts';
import { absoluteScale } from '../../src/pipeline/absolute.ts';
import { compositionFromSequence, incoherentSum, parseComposition } from '../../src/scattering/composition.ts';
import { HEWL, synthesize } from './synthetic.ts';

const CELL = [30, 35, 40] as const;
const V = CELL[0] * CELL[1] * CELL[2];
const COMP = compositionFromSequence(HEWL, { copiesPerCell: 1, solventFraction: 0.55, cellVolume: V });
const K_TRUE = 2.5e-3;

describe('absoluteScale on synthetic data in known electron units', () => {
  const syn = synthesize(COMP, { cell: CELL, ndiv: [3, 3, 3], sMax: 0.8, kTrue: K_TRUE, noise: 0.1, seed: 7, beamstop: 0.03, blindCone: 25, drop: 0.1 });

  it('the synthetic set is incomplete and holds both tables', () => {
    expect(syn.diffuse.I.length).toBeGreaterThan(150_000);
    expect(syn.bragg.I.length).toBeGreaterThan(5_000);
    // the hole of the model is well inside the data
    expect(syn.model.holeWidth).toBeLessThan(0.8 / 3);
  });

  const r = absoluteScale(syn.diffuse, syn.bragg, syn.meta, COMP, { shells: 40 });

  it('recovers K within 1 % (found: 0.003 %) despite noise, a beam stop, a blind cone and gaps', () => {
    expect(Math.abs(r.scale / K_TRUE - 1)).toBeLessThan(0.002);
    expect(r.cutoff).toBeCloseTo(0.8, 3);
    expect(r.cellVolume).toBeCloseTo(V, 6);
    expect(r.forward).toBeCloseTo((r.electrons * r.electrons) / V, 6);
    // the shells really are incomplete: blind cone of 25° removes 1 − cos 25° ≈ 9.4 %, plus 10 % random gaps
    const mid = r.curves.completeness[20]!;
    expect(mid).toBeGreaterThan(0.78);
    expect(mid).toBeLessThan(0.84);
    expect(r.curves.completeness[0]!).toBeLessThan(0.6); // beam stop
  });

  it('the ratio curve T/O is flat (within 1 % of K) beyond 3 s_w and far off at low |s|', () => {
    const c = r.curves;
    for (let k = 0; k < c.s.length; k++) {
      if (c.s[k]! >= 0.6) expect(Math.abs(c.ratio[k]! / r.scale - 1), `s=${c.s[k]}`).toBeLessThan(0.01);
      if (c.s[k]! <= syn.model.holeWidth) expect(c.ratio[k]! / r.scale, `s=${c.s[k]}`).toBeLessThan(0.5);
    }
    // cumulative theory includes −N_e²/V: it starts negative
    expect(c.theory[0]!).toBeLessThan(0);
    expect(c.theory[0]!).toBeGreaterThan(-r.forward);
  });

  it('Compton subtraction restores the coherent part: I_abs = K·I − Σ n S(s), σ_abs = K·σ', () => {
    const d = r.diffuse;
    for (const i of [0, 1000, 77_777, d.I.length - 1]) {
      expect(d.I[i]!).toBeCloseTo(r.scale * syn.diffuse.I[i]! - incoherentSum(COMP, syn.diffuse.s[i]!), 6);
      expect(d.sigma[i]!).toBeCloseTo(r.scale * syn.diffuse.sigma[i]!, 9);
      expect(d.H[i]).toBe(syn.diffuse.H[i]);
      expect(d.multiplicity[i]).toBe(syn.diffuse.multiplicity[i]);
    }
    // averaged over a high-|s| shell, where Compton is a large part of the total, the result is the true coherent intensity
    let sumAbs = 0;
    let sumTrue = 0;
    let sumCompton = 0;
    for (let i = 0; i < d.I.length; i++) {
      const s = d.s[i]!;
      if (s < 0.7) continue;
      sumAbs += d.I[i]!;
      sumTrue += syn.diffuseCoherent[i]!;
      sumCompton += incoherentSum(COMP, s);
    }
    expect(sumCompton / sumTrue).toBeGreaterThan(0.3);
    expect(Math.abs(sumAbs / sumTrue - 1)).toBeLessThan(0.015);
    // Bragg subvoxels: Compton subtracted too, coherent (diffuse + gathered Bragg) restored
    const b = r.bragg!;
    let bAbs = 0;
    let bTrue = 0;
    for (let i = 0; i < b.I.length; i++) {
      bAbs += b.I[i]!;
      bTrue += syn.braggCoherent[i]!;
    }
    expect(Math.abs(bAbs / bTrue - 1)).toBeLessThan(0.015);
  });

  it('equal-volume shells and a lower cut-off give the same K', () => {
    const rv = absoluteScale(syn.diffuse, syn.bragg, syn.meta, COMP, { shells: 30, spacing: 'volume' });
    expect(Math.abs(rv.scale / K_TRUE - 1)).toBeLessThan(0.01);
    const rc = absoluteScale(syn.diffuse, syn.bragg, syn.meta, COMP, { shells: 40, cutoff: 0.61 });
    expect(Math.abs(rc.cutoff - 0.61)).toBeLessThanOrEqual(0.01);
    expect(Math.abs(rc.scale / K_TRUE - 1)).toBeLessThan(0.01);
  });

  it('the Bragg table counts: leaving it out biases K by the Bragg share of the integral', () => {
    const rn = absoluteScale(syn.diffuse, undefined, syn.meta, COMP, { shells: 40 });
    expect(rn.bragg).toBeUndefined();
    expect(rn.scale / K_TRUE).toBeGreaterThan(1.03);
  });

  it('a wrong composition gives a proportionally wrong K (theory scales with the atoms)', () => {
    const doubled = Object.fromEntries(Object.entries(COMP).map(([el, n]) => [el, 2 * n]));
    // twice the atoms in the same cell: Σ n f² and Compton double, N_e²/V quadruples
    const r2 = absoluteScale(syn.diffuse, syn.bragg, syn.meta, doubled, { shells: 40 });
    const T1 = r.curves.theory[39]!;
    const expected = (2 * (T1 + r.forward) - 4 * r.forward) / r.curves.observed[39]!;
    expect(r2.scale / expected).toBeCloseTo(1, 6);
  });
});

describe('absoluteScale input checks', () => {
  const syn = synthesize(parseComposition('C300 H500 N80 O150 S4'), { cell: [20, 22, 24], ndiv: [1, 1, 1], sMax: 0.6, kTrue: 1, noise: 0, seed: 1, beamstop: 0, blindCone: 0, drop: 0 });
  const comp = parseComposition('C300 H500 N80 O150 S4');

  it('rejects a cut-off beyond the data, too few shells, and a cut-off where the F(000) term dominates', () => {
    expect(() => absoluteScale(syn.diffuse, syn.bragg, syn.meta, comp, { cutoff: 0.9 })).toThrow(InvalidValueError);
    expect(() => absoluteScale(syn.diffuse, syn.bragg, syn.meta, comp, { shells: 1 })).toThrow(InvalidValueError);
    expect(() => absoluteScale(syn.diffuse, syn.bragg, syn.meta, comp, { cutoff: 0.02 })).toThrow(/F\(000\)/);
  });

  it('noise-free complete data with ndiv 1: K = 1 to 0.3 %', () => {
    const r = absoluteScale(syn.diffuse, syn.bragg, syn.meta, comp, { shells: 30 });
    expect(Math.abs(r.scale - 1)).toBeLessThan(0.003);
  });
});
