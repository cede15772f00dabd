/** Fuzz: the XDS reader (XDS.INP + XPARM/GXPARM) takes mutants of the l-cysteine geometry and gives a checked model or a typed error (issue 13). */
import { describe, expect, it } from 'vitest';
import { FormatError } from '../../src/errors.ts';
import { readExperimentList } from '../../src/geometry/expt.ts';
import type { ExperimentList } from '../../src/geometry/model.ts';
import { readXds, writeXdsInp, writeXparm } from '../../src/geometry/xds.ts';
import { sharedData } from '../helpers/paths.ts';
import { rejectionOf } from '../io/helpers.ts';
import { expectAllFinite, expectTypedOrValidAsync, fuzzAsync, textMutantArb } from './mutate.ts';
import { fuzzFolder } from './tmp.ts';

const { put } = fuzzFolder('xds');

function validList(list: ExperimentList): void {
  expectAllFinite(list);
  for (const e of list.experiments) {
    expect(e.beam.wavelength).toBeGreaterThan(0);
    for (const p of e.detector.panels) expect(p.imageSize.every((n) => Number.isSafeInteger(n) && n > 0)).toBe(true);
  }
}

describe('XDS reader fuzz', async () => {
  const exp = (await readExperimentList(sharedData('l-cysteine', '11_integrated.expt'))).experiments[0];
  if (exp === undefined) throw new Error('no experiment');
  const inp = writeXdsInp(exp);
  const xparm = writeXparm(exp);
  /** the old (pre-2013) XPARM layout: no header line, 11 lines of numbers */
  const oldXparm = xparm.split('\n').slice(1).join('\n');

  it('the seeds read', async () => {
    validList(await readXds(put('XDS.INP', inp), put('GXPARM.XDS', xparm)));
  });

  it('XPARM/GXPARM mutants give a model or a typed error naming the file', async () => {
    const inpPath = put('XDS.INP', inp);
    await fuzzAsync([textMutantArb([xparm, oldXparm])], async (text) => {
      const path = put('GXPARM.XDS', text);
      await expectTypedOrValidAsync(() => readXds(inpPath, path), undefined, validList);
    }, 400);
  });

  it('an XPARM image size of 1e300 pixels is refused naming the line (found by fuzzing)', async () => {
    const lines = xparm.split('\n');
    const l8 = lines[7]!.trim().split(/\s+/);
    lines[7] = ['1', '1e300', l8[2], l8[3], l8[4]].join(' ');
    const err = await rejectionOf(readXds(put('XDS.INP', inp), put('huge-XPARM.XDS', lines.join('\n'))));
    expect(err).toBeInstanceOf(FormatError);
    expect(err.message).toContain('huge-XPARM.XDS');
    expect(err.field).toBe('line 8');
  });

  it('XDS.INP mutants give a model or a typed error', async () => {
    const xparmPath = put('XPARM.XDS', xparm);
    await fuzzAsync([textMutantArb([inp])], async (text) => {
      const path = put('XDS.INP', text);
      await expectTypedOrValidAsync(() => readXds(path, xparmPath), undefined, validList);
    }, 300);
  });
});
