/**
 * p_order per shot from each source, on the real imports (DIALS ssx-cunir, the
 * CrystFEL stream), and the one-line errors: no timestamp in either import, a
 * NaN / missing / non-numeric CSV value naming file, shot and column.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidValueError, MissingFieldError } from '../../src/errors.ts';
import { readCrystfelStream } from '../../src/io/crystfel-stream.ts';
import { readCrystfelStills } from '../../src/stills/crystfel.ts';
import { readDialsStills } from '../../src/stills/dials.ts';
import type { StillsDataset } from '../../src/stills/model.ts';
import { pOrderValues, type POrderShotInfo } from '../../src/stills/porder.ts';
import { sharedData } from '../helpers/paths.ts';

const CUNIR_EXPT = (): string => sharedData('stills', 'ssx-cunir', 'integrated.expt');
const STREAM = (): string => sharedData('stills', 'crystfel', 'crystfel.stream');

let dials: StillsDataset;
let crystfel: StillsDataset;
let dir: string;

beforeAll(async () => {
  dials = await readDialsStills(CUNIR_EXPT());
  crystfel = await readCrystfelStills(STREAM());
  dir = mkdtempSync(join(tmpdir(), 'porder-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const info = (shot: number, diffuse: number, photonEnergyEv = 9000): POrderShotInfo => ({ shot, diffuse, photonEnergyEv });

function csv(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

describe('pOrderValues', () => {
  it('index: the shot index', async () => {
    expect(dials.shots.length).toBe(5);
    expect(Array.from(await pOrderValues({ kind: 'index' }, dials, []))).toEqual([0, 1, 2, 3, 4]);
  });

  it('timestamp: neither import carries one, and the error names the key and the file', async () => {
    for (const d of [dials, crystfel]) {
      const e = await pOrderValues({ kind: 'timestamp' }, d, []).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(MissingFieldError);
      expect((e as Error).message).toContain(`${d.source}, field 'timestamp': no per-shot timestamp`);
      expect((e as Error).message.split('\n')).toHaveLength(1);
    }
  });

  it('diffuse: the total diffuse intensity of each shot from extraction; NaN for shots without info', async () => {
    const v = await pOrderValues({ kind: 'diffuse' }, dials, [info(0, 10.5), info(2, 30), info(1, 20), info(4, 50)]);
    expect(Array.from(v.subarray(0, 3))).toEqual([10.5, 20, 30]);
    expect(v[3]).toBeNaN();
    expect(v[4]).toBe(50);
    await expect(pOrderValues({ kind: 'diffuse' }, dials, [info(2, Number.NaN)])).rejects.toThrow(/shot 2 \('.+'\): total diffuse intensity NaN is not finite/);
    await expect(pOrderValues({ kind: 'diffuse' }, dials, [info(7, 1)])).rejects.toThrow('shot info for shot 7, but the data set has shots 0…4');
  });

  it("pulse_energy: each CrystFEL chunk's photon energy, or extraction's value", async () => {
    const stream = await readCrystfelStream(STREAM());
    const v = await pOrderValues({ kind: 'pulse_energy' }, crystfel, []);
    expect(v.length).toBe(crystfel.shots.length);
    crystfel.shots.forEach((s, i) => {
      const chunk = stream.chunks[s.chunk]!;
      const e = chunk.photonEnergyEv ?? Number(stream.geometry?.photonEnergy);
      expect(Math.abs(v[i]! - e)).toBeLessThan(1e-6 * e);
    });
    const w = await pOrderValues({ kind: 'pulse_energy' }, dials, [info(1, 0, 9123.5)]);
    expect(w[1]).toBe(9123.5);
    // the others from the beam: E = hc/λ
    expect(Math.abs(w[0]! * dials.shots[0]!.experiment.beam.wavelength - 12398.419843320026)).toBeLessThan(1e-6);
  });

  it('csv: a numeric column keyed by identifier or by index, any row order', async () => {
    const ids = dials.shots.map((s) => s.identifier);
    const byId = csv('by-id.csv', `id,flux,other\n${[4, 2, 0, 1, 3].map((i) => `"${ids[i]}",${100 + i},x`).join('\n')}\n`);
    expect(Array.from(await pOrderValues({ kind: 'csv', file: byId, column: 'flux', key: 'id' }, dials, []))).toEqual([100, 101, 102, 103, 104]);
    const byIndex = csv('by-index.csv', 'shot,flux\r\n3,1.5e3\r\n0,7\r\n1,-2\r\n2,0.25\r\n4,9\r\n');
    expect(Array.from(await pOrderValues({ kind: 'csv', file: byIndex, column: 'flux', key: 'shot' }, dials, []))).toEqual([7, -2, 0.25, 1500, 9]);
  });

  it('csv: NaN, an empty field, text, a missing shot or column: one line naming file, shot and column', async () => {
    const bad = async (text: string, column = 'flux', key = 'shot'): Promise<Error> => {
      const got: unknown = await pOrderValues({ kind: 'csv', file: csv('bad.csv', text), column, key }, dials, []).catch((x: unknown) => x);
      expect(got).toBeInstanceOf(Error);
      const e = got as Error;
      expect(e.message.split('\n')).toHaveLength(1);
      expect(e.message).toContain(join(dir, 'bad.csv'));
      return e;
    };
    const id2 = dials.shots[2]!.identifier;
    const nan = await bad('shot,flux\n0,1\n1,2\n2,NaN\n3,4\n4,5\n');
    expect(nan).toBeInstanceOf(InvalidValueError);
    expect(nan.message).toBe(`${join(dir, 'bad.csv')}, field 'flux': shot 2 ('${id2}') (line 4): 'NaN' is not a finite number`);
    expect((await bad('shot,flux\n0,1\n1,\n2,3\n3,4\n4,5\n')).message).toContain("field 'flux': shot 1");
    expect((await bad('shot,flux\n0,1\n1,2\n2,3\n3,high\n4,5\n')).message).toContain("field 'flux': shot 3");
    expect((await bad('shot,flux\n0,1\n1,2\n2,3\n4,5\n')).message).toContain("field 'flux': shot 3");
    expect((await bad('shot,flux\n0,1\n1,2\n2,3\n3,4\n4,5\n', 'energy')).message).toContain("field 'energy': no column 'energy'");
    expect((await bad('shot,flux\n0,1\n9,2\n', 'flux')).message).toContain("field 'shot': line 3: '9' is neither a shot identifier nor a shot index (0…4)");
    expect((await bad('shot,flux\n0,1\n0,2\n', 'flux')).message).toContain('line 3: shot 0');
  });
});
