import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { mergedOf, readStageFile, writeStageFile } from '../../src/io/observation-file.ts';
import { compositionFromSequence, incoherentSum } from '../../src/scattering/composition.ts';
import { runCli } from '../helpers/cli.ts';
import { HEWL, synthesize } from './synthetic.ts';

const dir = mkdtempSync(join(tmpdir(), 'diffract-absolute-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const CELL = [30, 35, 40] as const;
const V = CELL[0] * CELL[1] * CELL[2];
const K_TRUE = 40;

describe('diffract absolute', () => {
  const comp = compositionFromSequence(HEWL, { copiesPerCell: 1, solventFraction: 0.55, cellVolume: V });
  const syn = synthesize(comp, { cell: CELL, ndiv: [3, 3, 3], sMax: 0.7, kTrue: K_TRUE, noise: 0.05, seed: 3, beamstop: 0.03, blindCone: 15, drop: 0.05 });
  const merged = join(dir, 'merged.h5');

  it('scales a merge file given a FASTA sequence and writes the absolute stage file', async () => {
    await writeStageFile(merged, { stage: 'merge', meta: syn.meta, merged: { diffuse: syn.diffuse, bragg: syn.bragg } });
    const fasta = join(dir, 'hewl.fasta');
    writeFileSync(fasta, `>hewl\n${HEWL.slice(0, 60)}\n${HEWL.slice(60)}\n`);
    const out = join(dir, 'abs.h5');
    const r = await runCli(['absolute', merged, '--out', out, '--sequence', fasta, '--copies', '1', '--solvent', '0.55', '--shells', '35', '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const summary = JSON.parse(r.stdout) as { scale: number; cutoff: number; electrons: number; composition: string };
    expect(Math.abs(summary.scale / K_TRUE - 1)).toBeLessThan(0.01);
    expect(summary.composition.startsWith('C613 H')).toBe(true);

    const sf = await readStageFile(out);
    expect(sf.stage).toBe('absolute');
    expect(sf.meta.cell).toEqual([30, 35, 40, 90, 90, 90]);
    expect(Number(sf.attrs.scale_factor)).toBeCloseTo(summary.scale, 9);
    expect(Number(sf.attrs.electrons)).toBeCloseTo(summary.electrons, 6);
    expect(Number(sf.attrs.forward_term)).toBeCloseTo((summary.electrons * summary.electrons) / V, 3);
    expect(String(sf.attrs.units)).toMatch(/electron units per unit cell/);
    const curves = sf.groups.get('curves');
    expect(curves?.columns.get('ratio')?.length).toBe(35);
    expect(curves?.columns.get('s')?.[34]).toBeCloseTo(0.7, 3);
    const d = mergedOf(sf, 'diffuse', out);
    const b = mergedOf(sf, 'bragg', out);
    expect(d.I.length).toBe(syn.diffuse.I.length);
    expect(b.I.length).toBe(syn.bragg.I.length);
    for (const i of [0, 5000, d.I.length - 1]) {
      expect(d.I[i]!).toBeCloseTo(summary.scale * syn.diffuse.I[i]! - incoherentSum(comp, syn.diffuse.s[i]!), 6);
      expect(d.sigma[i]!).toBeCloseTo(summary.scale * syn.diffuse.sigma[i]!, 6);
    }
  });

  it('prints a human summary with the ratio curve', async () => {
    const out = join(dir, 'abs2.h5');
    const r = await runCli(['absolute', merged, '--out', out, '--composition', 'C613 H959 N193 O185 S10 + 854 H2O', '--cutoff', '0.6']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/scale factor K = [0-9.e+-]+ at cut-off \|s\| = 0\.6\d* Å⁻¹/);
    expect(r.stdout).toMatch(/wrote /);
  });

  it('bad input: one line, exit 1', async () => {
    const out = join(dir, 'bad.h5');
    const cases: string[][] = [
      ['absolute', merged, '--out', out],
      ['absolute', merged, '--out', out, '--sequence', 'GXG'],
      ['absolute', merged, '--out', out, '--composition', 'C613 H959 N193 O185 S10', '--cutoff', '3'],
    ];
    for (const args of cases) {
      const r = await runCli(args);
      expect(r.code, args.join(' ')).toBe(1);
      expect(r.stderr.trim().split('\n'), args.join(' ')).toHaveLength(1);
      expect(r.stderr).toMatch(/^diffract: error: /);
    }
  });
});
