/**
 * Shot images through the frame-source layer (src/stills/images.ts):
 * - snase/stills.expt: each shot's SMV image, as the SMV reader reads it;
 * - a multi-event HDF5 stack (`/entry/data/data`, CrystFEL `Event: //N`): a
 *   shot reads image N, shots sharing the file share one open source;
 * - a missing image file, an event past the stack and a shot without an image
 *   each give one line naming the shot.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FileAccessError, InvalidValueError } from '../../src/errors.ts';
import { writeHdf5Atomic } from '../../src/io/hdf5.ts';
import { readSmv } from '../../src/io/smv.ts';
import { readDialsStills } from '../../src/stills/dials.ts';
import { ShotImages } from '../../src/stills/images.ts';
import type { StillShot } from '../../src/stills/model.ts';
import { sharedData } from '../helpers/paths.ts';

const dir = mkdtempSync(join(tmpdir(), 'stills-images-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('stills shot images', () => {
  it('reads each snase shot’s SMV image', async () => {
    const data = await readDialsStills(sharedData('snase', 'stills.expt'));
    const images = new ShotImages();
    try {
      for (const shot of [data.shots[0]!, data.shots[9]!]) {
        const img = await images.read(shot);
        const direct = await readSmv(shot.image!.path);
        expect(img.width).toBe(1024);
        expect(img.height).toBe(1024);
        expect(Buffer.from(img.pixels.buffer).equals(Buffer.from(direct.pixels.buffer))).toBe(true);
      }
    } finally {
      await images.close();
    }
  });

  it('reads image N of a multi-event HDF5 stack (/entry/data/data, Event //N); errors name the shot', async () => {
    const [w, h, n] = [6, 4, 3];
    const stack = new Uint16Array(n * w * h).map((_v, i) => 100 * Math.floor(i / (w * h)) + (i % (w * h)));
    await writeHdf5Atomic(join(dir, 'run.h5'), (f) => {
      f.create_group('entry').create_group('data').create_dataset({ name: 'data', data: stack, shape: [n, h, w] });
    });
    const data = await readDialsStills(sharedData('snase', 'stills.expt'));
    const base = data.shots[0]!;
    const shotAt = (index: number, image: StillShot['image']): StillShot => ({ ...base, index, identifier: `chunk ${index} crystal 0`, image });
    const images = new ShotImages({ root: dir });
    try {
      const two = await images.read(shotAt(0, { path: 'run.h5', index: 2, event: '//2' }));
      expect([two.width, two.height]).toEqual([w, h]);
      expect(Array.from(two.pixels.subarray(0, 3))).toEqual([200, 201, 202]);
      const one = await images.read(shotAt(1, { path: join(dir, 'run.h5'), index: 1, event: '//1' }));
      expect(one.pixels[w * h - 1]).toBe(100 + w * h - 1);
      await expect(images.read(shotAt(4, { path: 'run.h5', index: 3, event: '//3' }))).rejects.toThrow(
        new InvalidValueError("shot 4 ('chunk 4 crystal 0') names image 3 (event //3) but the file holds 3", { file: join(dir, 'run.h5'), frame: 3, field: 'shot 4' }),
      );
      const missing = images.read(shotAt(5, { path: 'gone.h5', index: 0, event: '' }));
      await expect(missing).rejects.toThrow(FileAccessError);
      await expect(missing).rejects.toThrow(/gone\.h5, field 'shot 5': no such file: the image of shot 5 \('chunk 5 crystal 0'\)$/);
      await expect(images.read(shotAt(6, undefined))).rejects.toThrow(/field 'shot 6': shot 6 \('chunk 6 crystal 0'\) names no image/);
    } finally {
      await images.close();
      await images.close();
    }
  });
});
