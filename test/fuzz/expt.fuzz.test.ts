/** Fuzz: the DIALS `.expt` reader takes mutants of real experiment lists and gives a checked model or a typed error (issue 13). */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { InvalidValueError } from '../../src/errors.ts';
import { MAX_PANEL_PIXELS, WAVELENGTH_RANGE_A, readExperimentList } from '../../src/geometry/expt.ts';
import type { ExperimentList } from '../../src/geometry/model.ts';
import { sharedData } from '../helpers/paths.ts';
import { rejectionOf } from '../io/helpers.ts';
import { expectAllFinite, expectTypedOrValidAsync, fuzzAsync, jsonMutantArb, jsonText, textMutantArb } from './mutate.ts';
import { fuzzFolder } from './tmp.ts';

const { put } = fuzzFolder('expt');
const FILE = 'fuzz.expt';

/** A result is usable: finite numbers, a physical wavelength, panels within the pixel limit. */
function validList(list: ExperimentList): void {
  expectAllFinite(list);
  for (const e of list.experiments) {
    expect(e.beam.wavelength).toBeGreaterThanOrEqual(WAVELENGTH_RANGE_A.min);
    expect(e.beam.wavelength).toBeLessThanOrEqual(WAVELENGTH_RANGE_A.max);
    for (const p of e.detector.panels) {
      expect(p.imageSize[0] * p.imageSize[1]).toBeLessThanOrEqual(MAX_PANEL_PIXELS);
      expect(p.imageSize.every((n) => Number.isSafeInteger(n) && n > 0)).toBe(true);
    }
  }
}

/** Two real experiment lists (8–9 kB each): l-cysteine (rotation, Pilatus) and snase (SMV). */
const texts = [readFileSync(sharedData('l-cysteine', '11_integrated.expt'), 'utf8'), readFileSync(sharedData('snase', 'refined_experiments.json'), 'utf8')];

describe('.expt reader fuzz', () => {
  it('the seeds read', async () => {
    for (const t of texts) validList(await readExperimentList(put(FILE, t)));
  });

  it('text mutants (truncations, byte flips, hostile numbers) give a model or a typed error', async () => {
    await fuzzAsync([textMutantArb(texts)], async (text) => {
      const path = put(FILE, text);
      await expectTypedOrValidAsync(() => readExperimentList(path), path, validList);
    }, 300);
  });

  it('JSON tree mutants (hostile values at any node) give a model or a typed error', async () => {
    const tree = JSON.parse(texts[0]!) as unknown;
    await fuzzAsync([jsonMutantArb(tree)], async (text) => {
      const path = put(FILE, text);
      await expectTypedOrValidAsync(() => readExperimentList(path), path, validList);
    }, 300);
  });

  it('a panel claiming 100000×100000 pixels is refused naming the field', async () => {
    const tree = JSON.parse(texts[0]!) as { detector: Array<{ panels: Array<{ image_size: number[] }> }> };
    tree.detector[0]!.panels[0]!.image_size = [100000, 100000];
    const err = await rejectionOf(readExperimentList(put(FILE, jsonText(tree))));
    expect(err).toBeInstanceOf(InvalidValueError);
    expect(err.field).toContain('image_size');
  });
});
