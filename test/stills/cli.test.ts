/**
 * `diffract stills-import FILE [REFL] --summary`: shots, crystals, cells and
 * reflection counts of both formats; a mismatched .refl is one user error.
 */
import { Command } from 'commander';
import { describe, expect, it, vi } from 'vitest';
import { stillsImportCommand } from '../../src/cli/commands/stills-import.ts';
import { InvalidValueError, UsageError } from '../../src/errors.ts';
import { readCrystfelStills } from '../../src/stills/crystfel.ts';
import { formatStillsSummary, summarizeStills } from '../../src/stills/summary.ts';
import { sharedData } from '../helpers/paths.ts';

async function run(args: string[]): Promise<string> {
  const program = new Command('diffract').exitOverride();
  stillsImportCommand.register(program);
  const out: string[] = [];
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => out.push(String(chunk)) > 0);
  try {
    await program.parseAsync(['stills-import', ...args], { from: 'user' });
  } finally {
    spy.mockRestore();
  }
  return out.join('');
}

describe('stills summary', () => {
  it('counts shots, images, reflections and gives the cell range of the CrystFEL stream', async () => {
    const s = summarizeStills(await readCrystfelStills(sharedData('stills', 'crystfel', 'crystfel.stream')));
    expect(s).toMatchObject({ format: 'crystfel', shots: 3, images: 3, maxCrystalsPerImage: 1, reflections: 618, partiality: false });
    expect(s.perShot.map((p) => p.reflections)).toEqual([263, 102, 253]);
    // lysozyme, tetragonal 79.2 × 79.2 × 38.0 Å (the stream's target cell)
    expect(s.cellRange.min[0]).toBeGreaterThan(79);
    expect(s.cellRange.max[2]).toBeLessThan(39.1);
    const text = formatStillsSummary(s, 2);
    expect(text).toContain('shots (crystals): 3 on 3 images, at most 1 per image');
    expect(text).toContain('… 1 more shots');
  });

  it('prints the DIALS summary as JSON and refuses a .refl of other experiments', async () => {
    const json = JSON.parse(await run([sharedData('stills', 'ssx-cunir', 'integrated.expt'), sharedData('stills', 'ssx-cunir', 'integrated.refl'), '--json'])) as { shots: number; reflections: number; partiality: boolean; perShot: { reflections: number }[] };
    expect(json.shots).toBe(5);
    expect(json.reflections).toBe(5203);
    expect(json.partiality).toBe(true);
    expect(json.perShot.reduce((a, p) => a + p.reflections, 0)).toBe(5203);
    await expect(run([sharedData('snase', 'stills.expt'), sharedData('stills', 'ssx-cunir', 'integrated.refl')])).rejects.toThrow(InvalidValueError);
    await expect(run([sharedData('stills', 'crystfel', 'crystfel.stream'), 'x.refl'])).rejects.toThrow(UsageError);
  });

  it('--mask prints the masked fraction of every snase shot; a stream whose images are missing names the shot', async () => {
    const json = JSON.parse(await run([sharedData('snase', 'stills.expt'), '--mask', '--json'])) as { shots: number; masks: { shot: number; fraction: number; predicted: number; outlier: number }[] };
    expect(json.shots).toBe(10);
    expect(json.masks.map((m) => m.shot)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    for (const m of json.masks) {
      expect(m.fraction).toBeGreaterThan(0.02);
      expect(m.fraction).toBeLessThanOrEqual(0.05);
      expect(m.predicted).toBeGreaterThan(0);
      expect(m.outlier).toBeGreaterThan(0);
    }
    await expect(run([sharedData('stills', 'crystfel', 'crystfel.stream'), '--mask', '--image-root', sharedData('stills', 'crystfel')])).rejects.toThrow(/field 'shot 0': no such file: the image of shot 0 \('chunk \d+ crystal 0'\)/);
  }, 240_000);
});
