import { describe, expect, it } from 'vitest';
import { InvalidValueError } from '../../src/errors.ts';
import {
  chainComposition,
  coherentSum,
  compositionFromSequence,
  electronCount,
  formatComposition,
  incoherentSum,
  parseComposition,
  sequenceChains,
} from '../../src/scattering/composition.ts';
import { formFactor, incoherent } from '../../src/scattering/factors.ts';

// hen egg-white lysozyme, mature chain (UniProt P00698 residues 19–147)
const HEWL = 'KVFGRCELAAAMKRHGLDNYRGYSLGNWVCAAKFESNFNTQATNRNTDGSTDYGILQINSRWWCNDGRTPGSRNLCNIPCSALLSSDITASVNCAKKIVSDGNGMNAWVAWRNRCKGTDVQAWIRGCRL';
const UBIQUITIN = 'MQIFVKTLTGKTITLEVEPSDTIENVKAKIQDKEGIPPDQQRLIFAGKQLEDGRTLSDYNIQKESTLHLVLRLRGG';
const INSULIN_A = 'GIVEQCCTSICSLYQLENYCN';

describe('parseComposition', () => {
  it('reads element lists and counts electrons', () => {
    const c = parseComposition('C2000 H3100 N540 O610 S12');
    expect(c).toEqual({ C: 2000, H: 3100, N: 540, O: 610, S: 12 });
    expect(electronCount(c)).toBe(2000 * 6 + 3100 + 540 * 7 + 610 * 8 + 12 * 16);
  });

  it('reads formulas, groups and multipliers', () => {
    expect(parseComposition('H2O')).toEqual({ H: 2, O: 1 });
    expect(electronCount(parseComposition('H2O'))).toBe(10);
    expect(parseComposition('5000 H2O')).toEqual({ H: 10000, O: 5000 });
    expect(parseComposition('8*C613H959N193O185S10 + 100*H2O + 8 Cl')).toEqual({ C: 4904, H: 7672 + 200, N: 1544, O: 1480 + 100, S: 80, Cl: 8 });
    expect(parseComposition('(H2O)3 Na')).toEqual({ H: 6, O: 3, Na: 1 });
    expect(parseComposition('Ca(OH)2')).toEqual({ Ca: 1, O: 2, H: 2 });
    expect(parseComposition('CO Co')).toEqual({ C: 1, O: 1, Co: 1 });
    expect(parseComposition('O2.5 H0.5')).toEqual({ O: 2.5, H: 0.5 });
    expect(parseComposition('C2 C3')).toEqual({ C: 5 });
  });

  it('rejects what it cannot read', () => {
    for (const bad of ['', 'Xy2', 'c2', 'C2 3', '(H2O', 'H2O)', '2*', 'C-1']) {
      expect(() => parseComposition(bad), bad).toThrow(InvalidValueError);
    }
  });

  it('formats in Hill order', () => {
    expect(formatComposition({ O: 185, S: 10, C: 613, N: 193, H: 959 })).toBe('C613 H959 N193 O185 S10');
    expect(formatComposition({ Na: 1, Cl: 1 })).toBe('Cl1 Na1');
  });
});

describe('compositionFromSequence', () => {
  it('gives the textbook atom counts (ExPASy ProtParam formulas)', () => {
    expect(chainComposition(HEWL)).toEqual({ C: 613, H: 959, N: 193, O: 185, S: 10 });
    expect(chainComposition(UBIQUITIN)).toEqual({ C: 378, H: 629, N: 105, O: 118, S: 1 });
    expect(chainComposition(INSULIN_A)).toEqual({ C: 99, H: 155, N: 25, O: 35, S: 4 });
    // one water lost per peptide bond: Gly-Gly = C4H8N2O3
    expect(chainComposition('GG')).toEqual({ C: 4, H: 8, N: 2, O: 3 });
    expect(electronCount(chainComposition(HEWL))).toBe(613 * 6 + 959 + 193 * 7 + 185 * 8 + 10 * 16);
  });

  it('reads FASTA, multiplies copies, adds bulk water, ions and disulfides', () => {
    expect(sequenceChains(`>sp|P00698 lysozyme\n${HEWL.slice(0, 60)}\n${HEWL.slice(60)}\n>b\nGG\n`)).toEqual([HEWL, 'GG']);
    const V = 79.1 * 79.1 * 37.9;
    const c = compositionFromSequence(`>hewl\n${HEWL.toLowerCase()}\n`, { copiesPerCell: 8, solventFraction: 0.4, cellVolume: V, disulfides: 4, ions: { Na: 8, Cl: 16 } });
    const waters = 0.4 * V * 0.0334;
    expect(c.C).toBe(8 * 613);
    expect(c.N).toBe(8 * 193);
    expect(c.S).toBe(8 * 10);
    expect(c.H).toBeCloseTo(8 * (959 - 8) + 2 * waters, 6);
    expect(c.O).toBeCloseTo(8 * 185 + waters, 6);
    expect(c.Na).toBe(8);
    expect(c.Cl).toBe(16);
    // two chains: each loses (n − 1) waters of its own
    expect(compositionFromSequence(['GG', 'GG'], { copiesPerCell: 1 })).toEqual({ C: 8, H: 16, N: 4, O: 6 });
  });

  it('rejects unknown residues and bad settings', () => {
    expect(() => chainComposition('GXG')).toThrow(InvalidValueError);
    expect(() => compositionFromSequence('GG', { copiesPerCell: 0 })).toThrow(InvalidValueError);
    expect(() => compositionFromSequence('GG', { copiesPerCell: 1, solventFraction: 0.5 })).toThrow(InvalidValueError);
    expect(() => compositionFromSequence('>only a header\n', { copiesPerCell: 1 })).toThrow(InvalidValueError);
  });
});

describe('sums over the cell', () => {
  const c = parseComposition('C100 H160 N28 O30 S2 Fe1');

  it('Σ n f² at s = 0 is Σ n Z²; Σ n S at 0 is 0', () => {
    expect(coherentSum(c, 0)).toBeCloseTo(100 * 36 + 160 + 28 * 49 + 30 * 64 + 2 * 256 + 676, 5);
    expect(incoherentSum(c, 0)).toBeCloseTo(0, 8);
  });

  it('equals the element-by-element sums at any s', () => {
    for (const s of [0.05, 0.4, 1.3, 3.2]) {
      let coh = 0;
      let inc = 0;
      for (const [el, n] of Object.entries(c)) {
        coh += n * formFactor(el, s) ** 2;
        inc += n * incoherent(el, s);
      }
      expect(coherentSum(c, s)).toBeCloseTo(coh, 8);
      expect(incoherentSum(c, s)).toBeCloseTo(inc, 8);
    }
  });

  it('Compton approaches N_e at high |s| while the coherent sum falls', () => {
    const Ne = electronCount(c);
    expect(incoherentSum(c, 4)).toBeGreaterThan(0.95 * Ne);
    expect(incoherentSum(c, 4)).toBeLessThan(Ne);
    expect(coherentSum(c, 4)).toBeLessThan(0.05 * coherentSum(c, 0));
  });
});
