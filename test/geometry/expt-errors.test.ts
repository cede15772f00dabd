/** Bad ExperimentList input: each gives a typed error whose message names the file and the JSON path. */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FileAccessError, FormatError, InvalidValueError, MissingFieldError } from '../../src/errors.ts';
import { parseExperimentList, readExperimentList } from '../../src/geometry/expt.ts';
import { sharedData } from '../helpers/paths.ts';
import { minimalExpt } from './fixtures.ts';

const dir = mkdtempSync(join(tmpdir(), 'diffract-expt-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

type Json = Record<string, unknown>;
const realJson = (): Json => JSON.parse(readFileSync(sharedData('l-cysteine', '11_integrated.expt'), 'utf8')) as Json;
const first = (j: Json, key: string): Json => (j[key] as Json[])[0] as Json;
const panel0 = (j: Json): Json => (first(j, 'detector').panels as Json[])[0] as Json;

async function readEdited(name: string, edit: (j: Json) => void): Promise<unknown> {
  const j = realJson();
  edit(j);
  const path = join(dir, name);
  writeFileSync(path, JSON.stringify(j));
  return readExperimentList(path).then(
    () => undefined,
    (e: unknown) => e,
  );
}

function expectError(err: unknown, cls: new (...args: never[]) => Error, ...parts: string[]): void {
  expect(err).toBeInstanceOf(cls);
  for (const p of parts) expect((err as Error).message).toContain(p);
}

describe('ExperimentList errors', () => {
  it('missing beam[0].wavelength → MissingFieldError naming file and path', async () => {
    const err = await readEdited('no-wavelength.expt', (j) => {
      delete first(j, 'beam').wavelength;
    });
    expectError(err, MissingFieldError, 'no-wavelength.expt', "field 'beam[0].wavelength'", 'missing');
    expect((err as MissingFieldError).field).toBe('beam[0].wavelength');
    expect((err as MissingFieldError).file).toBe(join(dir, 'no-wavelength.expt'));
  });

  it('wrong type → InvalidValueError naming the path and what was found', async () => {
    const err = await readEdited('bad-pixel-size.expt', (j) => {
      panel0(j).pixel_size = '0.172';
    });
    expectError(err, InvalidValueError, 'bad-pixel-size.expt', "field 'detector[0].panels[0].pixel_size'", 'expected an array', 'string "0.172"');

    const err2 = await readEdited('bad-axis.expt', (j) => {
      panel0(j).fast_axis = [1, 'x', 0];
    });
    expectError(err2, InvalidValueError, "field 'detector[0].panels[0].fast_axis[1]'", 'finite number');

    const err3 = await readEdited('short-mask.expt', (j) => {
      (panel0(j).mask as unknown[])[1] = [1, 2, 3];
    });
    expectError(err3, InvalidValueError, "field 'detector[0].panels[0].mask[1]'", '[f0, s0, f1, s1]');

    const err4 = await readEdited('bad-scan-axis.expt', (j) => {
      first(j, 'goniometer').scan_axis = 2;
    });
    expectError(err4, InvalidValueError, "field 'goniometer[0].scan_axis'", 'scan axis 2');

    const err5 = await readEdited('bad-strategy.expt', (j) => {
      panel0(j).px_mm_strategy = { type: 'MysteryPxMmStrategy' };
    });
    expectError(err5, InvalidValueError, "field 'detector[0].panels[0].px_mm_strategy.type'", 'MysteryPxMmStrategy');
  });

  it('missing nested and top-level fields', async () => {
    const err = await readEdited('no-origin.expt', (j) => {
      delete panel0(j).origin;
    });
    expectError(err, MissingFieldError, "field 'detector[0].panels[0].origin'");
    const err2 = await readEdited('no-hall.expt', (j) => {
      delete first(j, 'crystal').space_group_hall_symbol;
    });
    expectError(err2, MissingFieldError, "field 'crystal[0].space_group_hall_symbol'");
    const err3 = await readEdited('no-experiments.expt', (j) => {
      delete j.experiment;
    });
    expectError(err3, MissingFieldError, "field 'experiment'");
    const err4 = await readEdited('no-oscillation.expt', (j) => {
      delete first(j, 'scan').oscillation;
    });
    expectError(err4, MissingFieldError, "field 'scan[0].oscillation'");
  });

  it('a model index out of range names the experiment field', async () => {
    const err = await readEdited('bad-index.expt', (j) => {
      first(j, 'experiment').beam = 3;
    });
    expectError(err, InvalidValueError, "field 'experiment[0].beam'", 'refers to beam 3 but the file has 1');
  });

  it('bad JSON → FormatError naming the file', async () => {
    const path = join(dir, 'broken.expt');
    writeFileSync(path, '{"experiment": [');
    const err = await readExperimentList(path).catch((e: unknown) => e);
    expectError(err, FormatError, path, 'not valid JSON');
  });

  it('not an ExperimentList → FormatError', () => {
    expect(() => parseExperimentList({ __id__: 'DataBlock' }, 'datablock.json')).toThrow(FormatError);
    expect(() => parseExperimentList({ __id__: 'DataBlock' }, 'datablock.json')).toThrow(/datablock\.json, field '__id__'/);
    expect(() => parseExperimentList([1, 2], 'array.json')).toThrow(InvalidValueError);
  });

  it('missing file → FileAccessError naming the path', async () => {
    const path = join(dir, 'does-not-exist.expt');
    const err = await readExperimentList(path).catch((e: unknown) => e);
    expectError(err, FileAccessError, path, 'no such file');
  });

  it('degenerate values are refused', () => {
    const j = minimalExpt();
    first(j, 'crystal').real_space_c = [10, 0, 0];
    expect(() => parseExperimentList(j, 'flat.expt')).toThrow(/flat\.expt, field 'crystal\[0\]\.real_space_c'.*zero cell volume/);
    const k = minimalExpt();
    first(k, 'beam').direction = [0, 0, 0];
    expect(() => parseExperimentList(k, 'z.expt')).toThrow(InvalidValueError);
    const m = minimalExpt();
    first(m, 'scan').image_range = [5, 2];
    expect(() => parseExperimentList(m, 'r.expt')).toThrow(/field 'scan\[0\]\.image_range'/);
  });

  it('an image size no detector has is refused before any per-pixel array is made', async () => {
    expectError(await readEdited('huge.expt', (j) => (panel0(j).image_size = [100000, 100000])), InvalidValueError, 'huge.expt', 'image_size', 'pixels per panel');
  });

  it('a wavelength or cell outside any physical range is refused naming the file and the JSON path', async () => {
    for (const wl of [1e-300, 1e300]) {
      const err = await readEdited('wl.expt', (j) => (first(j, 'beam').wavelength = wl));
      expectError(err, InvalidValueError, 'wl.expt', "field 'beam[0].wavelength'", 'physical range');
    }
    const scaled = await readEdited('cell.expt', (j) => {
      const c = first(j, 'crystal');
      for (const k of ['real_space_a', 'real_space_b', 'real_space_c']) c[k] = (c[k] as number[]).map((v) => v * 1e300);
    });
    expectError(scaled, InvalidValueError, 'cell.expt', "field 'crystal[0].real_space_a'", 'physical range');
    const tiny = await readEdited('tiny.expt', (j) => {
      const c = first(j, 'crystal');
      c.real_space_b = (c.real_space_b as number[]).map((v) => v * 1e-3);
    });
    expectError(tiny, InvalidValueError, "field 'crystal[0].real_space_b'", 'cell edge length');
    const old = minimalExpt();
    const beam = first(old, 'beam');
    delete beam.direction;
    delete beam.wavelength;
    beam.s0 = [0, 0, -1e300];
    expect(() => parseExperimentList(old, 's0.expt')).toThrow(/s0\.expt, field 'beam\[0\]\.s0'.*physical range/);
  });

  it('the ends of the physical ranges are accepted (3 MeV electrons, soft X-rays, a 10 µm cell)', () => {
    const j = minimalExpt();
    first(j, 'beam').wavelength = 0.001;
    expect(parseExperimentList(j, 'e.expt').experiments[0]?.beam.wavelength).toBe(0.001);
    first(j, 'beam').wavelength = 100;
    const c = first(j, 'crystal');
    c.real_space_a = [1e5, 0, 0];
    expect(parseExperimentList(j, 'e.expt').experiments[0]?.crystal?.unitCell.a).toBeCloseTo(1e5, 6);
  });
});
