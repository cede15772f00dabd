/** Fuzz: the PONI reader takes mutants of a real fitted PONI and gives checked geometry or a typed error (issue 13). */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { InvalidValueError } from '../../src/errors.ts';
import { type PoniGeometry, parsePoni } from '../../src/io/poni.ts';
import { REPO_ROOT } from '../helpers/paths.ts';
import { errorOf } from '../io/helpers.ts';
import { expectAllFinite, expectTypedOrValid, fuzz, textMutantArb } from './mutate.ts';

const FILE = 'fuzz.poni';

function validGeometry(g: PoniGeometry): void {
  expectAllFinite(g);
  expect(g.dist).toBeGreaterThan(0);
  expect(g.wavelength).toBeGreaterThan(0);
  expect(g.pixel1 > 0 && g.pixel2 > 0).toBe(true);
  if (g.maxShape !== undefined) expect(g.maxShape.every((n) => Number.isSafeInteger(n) && n > 0)).toBe(true);
}

describe('PONI reader fuzz', () => {
  // the LaB6 calibration fitted on the real FemtoMAX stream (pyFAI v2 layout), and the same in v1 layout (PixelSize keys)
  const v2 = readFileSync(`${REPO_ROOT}/test/photon/lab6.poni`, 'utf8');
  const v1 = v2.replace(/^poni_version: 2\n/m, '').replace(/^Detector_config: .*$/m, 'PixelSize1: 0.000172\nPixelSize2: 0.000172');

  it('the seeds read', () => {
    for (const t of [v2, v1]) validGeometry(parsePoni(t, FILE));
    expect(parsePoni(v2, FILE).maxShape).toEqual([831, 1475]);
  });

  it('mutants give geometry or a typed error naming the file', () => {
    fuzz([textMutantArb([v2, v1])], (text) => expectTypedOrValid(() => parsePoni(text, FILE), FILE, validGeometry), 1500);
  });

  it('hostile Detector_config values are refused naming the key', () => {
    for (const cfg of ['{"pixel1": 1e300, "pixel2": 0.000172}', '{"pixel1": 0.000172, "pixel2": 0.000172, "max_shape": [1e9, 1e9]}', '{"pixel1": -1, "pixel2": 0.000172}']) {
      const err = errorOf(() => parsePoni(v2.replace(/^Detector_config: .*$/m, `Detector_config: ${cfg}`), FILE));
      expect(err).toBeInstanceOf(InvalidValueError);
      expect(err.message).toContain(FILE);
    }
  });
});
