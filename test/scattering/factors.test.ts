import { describe, expect, it } from 'vitest';
import { InvalidValueError } from '../../src/errors.ts';
import { element, formFactor, incoherent, MAX_Z, S_MAX } from '../../src/scattering/factors.ts';
import { incoherentX2 } from '../../src/scattering/factors.ts';
import { readHubbell } from './hubbell.ts';

/**
 * Stated accuracy of the fits over 0 ≤ x = sinθ/λ ≤ 2 Å⁻¹, every element:
 * |Δ| ≤ 0.004·Z + 0.002 electrons (worst found: f 2.7e-3·Z for Be, S 3.7e-3·Z for Li;
 * absolute f 0.040 for Tl, S 0.12 for Pa).
 */
const tol = (Z: number): number => 0.004 * Z + 0.002;

describe('fitted scattering factors vs the Hubbell 1975 table points', () => {
  const ff = readHubbell('FF.dat');
  const sf = readHubbell('SF.dat');

  it('covers H…U', () => {
    expect(MAX_Z).toBe(92);
    expect(element(1).symbol).toBe('H');
    expect(element(92).symbol).toBe('U');
    expect(element('Fe').Z).toBe(26);
    expect(S_MAX).toBe(4);
  });

  it('f(s) matches every table point with x ≤ 2 Å⁻¹ (s = 2x) within the stated tolerance, and the recorded max errors are honest', () => {
    let worst = 0;
    for (let Z = 1; Z <= 92; Z++) {
      const t = ff[Z - 1]!;
      let maxErr = 0;
      let n = 0;
      for (let j = 0; j < t.x.length; j++) {
        const x = t.x[j]!;
        if (x > 2) continue;
        n++;
        maxErr = Math.max(maxErr, Math.abs(formFactor(Z, 2 * x) - t.y[j]!));
      }
      expect(n).toBeGreaterThan(40);
      expect(maxErr, `Z=${Z}`).toBeLessThan(tol(Z));
      // the generated file records its own max error: it must be what we find
      expect(Math.abs(maxErr - element(Z).maxErrorF), `Z=${Z} recorded error`).toBeLessThan(0.01 * maxErr + 1e-6);
      worst = Math.max(worst, maxErr);
    }
    expect(worst).toBeGreaterThan(0);
  });

  it('S(s) matches every table point with x ≤ 2 Å⁻¹ within the stated tolerance', () => {
    for (let Z = 1; Z <= 92; Z++) {
      const t = sf[Z - 1]!;
      let maxErr = 0;
      for (let j = 0; j < t.x.length; j++) {
        const x = t.x[j]!;
        if (x > 2) continue;
        maxErr = Math.max(maxErr, Math.abs(incoherent(Z, 2 * x) - t.y[j]!));
      }
      expect(maxErr, `Z=${Z}`).toBeLessThan(tol(Z));
      expect(Math.abs(maxErr - element(Z).maxErrorS), `Z=${Z} recorded error`).toBeLessThan(0.01 * maxErr + 1e-6);
    }
  });

  it('relative accuracy for the light elements of proteins is better than 0.2 % of Z', () => {
    for (const sym of ['H', 'C', 'N', 'O', 'P', 'S']) {
      const e = element(sym);
      const t = ff[e.Z - 1]!;
      for (let j = 0; j < t.x.length; j++) {
        if (t.x[j]! > 2) continue;
        expect(Math.abs(formFactor(sym, 2 * t.x[j]!) - t.y[j]!), `${sym} x=${t.x[j]}`).toBeLessThan(0.002 * e.Z);
      }
    }
  });
});

describe('textbook values', () => {
  it('f(0) = Z and S(0) = 0 for every element; f_C(0) = 6', () => {
    expect(formFactor('C', 0)).toBeCloseTo(6, 8);
    expect(formFactor(6, 0)).toBeCloseTo(6, 8);
    for (let Z = 1; Z <= 92; Z++) {
      expect(formFactor(Z, 0), `Z=${Z}`).toBeCloseTo(Z, 6);
      expect(incoherent(Z, 0), `Z=${Z}`).toBeCloseTo(0, 8);
    }
  });

  it('S → Z at large |s| (the functional form goes to Z exactly; at s = 4 Å⁻¹ light atoms are within 4 %)', () => {
    for (let Z = 1; Z <= 92; Z++) expect(incoherentX2(element(Z), 1e6)).toBeCloseTo(Z, 9);
    for (const sym of ['H', 'C', 'N', 'O']) {
      const Z = element(sym).Z;
      expect(incoherent(sym, 4)).toBeGreaterThan(0.96 * Z);
      expect(incoherent(sym, 4)).toBeLessThanOrEqual(Z + 0.01);
    }
  });

  it('hydrogen: f = 1/(1 + (2π a0 x)²)² and S = 1 − f² (one electron), x = s/2', () => {
    const a0 = 0.529177;
    for (const s of [0.1, 0.3, 0.5, 1, 1.5, 2, 3]) {
      const x = s / 2;
      const fExact = 1 / (1 + (2 * Math.PI * a0 * x) ** 2) ** 2;
      expect(Math.abs(formFactor('H', s) - fExact), `s=${s}`).toBeLessThan(3e-4);
      expect(Math.abs(incoherent('H', s) - (1 - fExact * fExact)), `s=${s}`).toBeLessThan(3e-4);
    }
  });

  it('f decreases and S increases with |s| for C, O, Fe (no wiggles from the fit)', () => {
    for (const sym of ['C', 'O', 'Fe']) {
      let fPrev = Infinity;
      let sPrev = -Infinity;
      for (let s = 0; s <= 4; s += 0.01) {
        const f = formFactor(sym, s);
        const S = incoherent(sym, s);
        expect(f, `${sym} s=${s}`).toBeLessThan(fPrev + 1e-9);
        expect(S, `${sym} s=${s}`).toBeGreaterThan(sPrev - 1e-9);
        fPrev = f;
        sPrev = S;
      }
    }
  });

  it('rejects unknown elements and |s| out of range with InvalidValueError', () => {
    expect(() => formFactor('Xx', 0.1)).toThrow(InvalidValueError);
    expect(() => formFactor(93, 0.1)).toThrow(InvalidValueError);
    expect(() => formFactor('C', 4.5)).toThrow(InvalidValueError);
    expect(() => incoherent('C', -0.1)).toThrow(InvalidValueError);
    expect(() => incoherent('C', Number.NaN)).toThrow(InvalidValueError);
  });
});
