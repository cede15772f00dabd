/**
 * Bad input of stills extraction: one line naming the shot (ShotError, with
 * `.shot`, so that a runner can skip the shot and go on with the others):
 * a missing image file, an image index past the file's end, an image of the
 * wrong size. Settings problems (an integrating detector without a gain, a bad
 * ndiv, a mask file of the wrong size) stop the extraction naming the setting
 * or the file; they are not shot errors. (A `.refl` whose
 * ids do not match the experiments: test/stills/dials-stills.test.ts.)
 */
import { rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { UsageError } from '../../src/errors.ts';
import { Engine } from '../../src/host/engine.ts';
import { writeNpy } from '../../src/io/npy.ts';
import { writeSmv } from '../../src/io/smv.ts';
import { silentContext } from '../../src/stages/context.ts';
import { extractShots, ShotError, stillsExtractDefaults, type StillsExtractSettings } from '../../src/stills/extract.ts';
import { ShotImages } from '../../src/stills/images.ts';
import type { StillShot, StillsDataset } from '../../src/stills/model.ts';
import { randomShots, smallDetectorExperiment, tempDir, writeImage } from '../helpers/still-shots.ts';

const engine = Engine.cpu();
const dirs: string[] = [];
afterAll(() => {
  engine.destroy();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function shotsDone(data: StillsDataset, s: StillsExtractSettings, shots?: number[]): Promise<number[]> {
  const images = new ShotImages();
  const done: number[] = [];
  try {
    for await (const o of extractShots(silentContext(engine), { data, images, source: data.source }, s, shots !== undefined ? { shots } : {})) done.push(o.shot);
  } finally {
    await images.close();
  }
  return done;
}

async function dataset(): Promise<{ data: StillsDataset; dir: string }> {
  const dir = tempDir('stills-errors-');
  dirs.push(dir);
  const exp = await smallDetectorExperiment();
  const data = randomShots(exp, 4, 5, (i) => join(dir, `shot-${i}.img`));
  for (const shot of data.shots) await writeImage((shot.image as { path: string }).path, new Int32Array(256 * 256).fill(7));
  return { data, dir };
}

describe('stills extraction: bad shots', () => {
  it('a missing image file is a ShotError naming the shot and the file; the other shots still extract', async () => {
    const { data, dir } = await dataset();
    rmSync(join(dir, 'shot-1.img'));
    const s = stillsExtractDefaults();
    const err = await shotsDone(data, s).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ShotError);
    const e = err as ShotError;
    expect(e.shot).toBe(1);
    expect(e.message.split('\n')).toHaveLength(1);
    expect(e.message).toMatch(/shot-1\.img, field 'shot 1': no such file: the image of shot 1 \('synthetic-1'\)/);
    console.log(`[stills bad shot] ${e.message}`);
    // a runner skipping it goes on with the rest
    expect(await shotsDone(data, s, [2, 3])).toEqual([2, 3]);
  });

  it('an image index past the end of its file, or an image of the wrong size, names the shot', async () => {
    const { data, dir } = await dataset();
    (data.shots[2] as StillShot).image = { path: join(dir, 'shot-2.img'), index: 3, event: '' };
    const s = stillsExtractDefaults();
    const past = await shotsDone(data, s, [2]).then(
      () => undefined,
      (e: unknown) => e as ShotError,
    );
    expect(past).toBeInstanceOf(ShotError);
    expect(past?.shot).toBe(2);
    expect(past?.message).toMatch(/shot 2 \('synthetic-2'\) names image 3 but the file holds 1/);
    await writeSmv(join(dir, 'shot-3.img'), { width: 128, height: 128, pixels: new Int32Array(128 * 128).fill(1) });
    const small = await shotsDone(data, s, [3]).then(
      () => undefined,
      (e: unknown) => e as ShotError,
    );
    expect(small).toBeInstanceOf(ShotError);
    expect(small?.shot).toBe(3);
    expect(small?.message).toMatch(/shot-3\.img, frame 0, field 'shot 3': image has 128×128 pixels but the detector of shot 3 \('synthetic-3'\) has 65536/);
    expect(small?.message.split('\n')).toHaveLength(1);
  });

  it('settings problems are usage errors naming the setting, not shot errors', async () => {
    const { data } = await dataset();
    const ccd = structuredClone(data);
    for (const shot of ccd.shots) shot.experiment = { ...shot.experiment, detector: { ...shot.experiment.detector, panels: shot.experiment.detector.panels.map((p) => ({ ...p, type: 'SENSOR_CCD' })) } };
    const s = stillsExtractDefaults();
    const noGain = await shotsDone(ccd, s).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(noGain).toBeInstanceOf(UsageError);
    expect(noGain).not.toBeInstanceOf(ShotError);
    expect((noGain as Error).message).toMatch(/field 'detector\.gain'.*charge-integrating/);
    const bad = stillsExtractDefaults();
    bad.ndiv = [2, 3, 3];
    await expect(shotsDone(data, bad)).rejects.toThrow(/ndiv must be three odd integers/);
    const edge = stillsExtractDefaults();
    edge.staticMask.edge = -2;
    await expect(shotsDone(data, edge)).rejects.toThrow(/field 'staticMask\.edge'/);
    // a mask file of the wrong size is the detector's problem, not a shot's: it stops the run naming the file
    const maskFile = join(tempDir('stills-maskfile-'), 'mask.npy');
    dirs.push(dirname(maskFile));
    writeNpy(maskFile, new Uint8Array(100).fill(1), [10, 10]);
    const withMask = stillsExtractDefaults();
    withMask.staticMask.file = maskFile;
    const maskErr = await shotsDone(data, withMask).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(maskErr).not.toBeInstanceOf(ShotError);
    expect((maskErr as Error).message).toMatch(/mask\.npy: the mask has 100 values \(shape 10×10\) but the detector has 65536 pixels/);
  });
});
