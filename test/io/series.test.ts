import { copyFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, describe, expect, it } from 'vitest';
import { DiffractError, FileAccessError, FormatError, InvalidValueError } from '../../src/errors.ts';
import { encodeCbf } from '../../src/io/cbf.ts';
import type { DetectorImage } from '../../src/io/image.ts';
import { detectImageFormat, expandTemplate, openImageSeries, readImage, type SeriesEvent } from '../../src/io/series.ts';
import { encodeSmv } from '../../src/io/smv.ts';
import { sharedData } from '../helpers/paths.ts';
import { errorOf, pixelMd5, pixelSum, tempDir } from './helpers.ts';
import { L_CYSTEINE, SNASE } from './reference/values.ts';

const tmp = tempDir('series');
afterAll(() => tmp.remove());

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('expandTemplate', () => {
  it('replaces the run of # with the zero-padded image number', () => {
    expect(expandTemplate('l-cyst_01_#####.cbf', 1, 3)).toEqual(['l-cyst_01_00001.cbf', 'l-cyst_01_00002.cbf', 'l-cyst_01_00003.cbf']);
    expect(expandTemplate('/d/x_###.img', 999, 1000)).toEqual(['/d/x_999.img', '/d/x_1000.img']);
  });
  it('refuses templates without exactly one run, and bad ranges', () => {
    for (const [t, a, b] of [['x.cbf', 1, 2], ['x_##_##.cbf', 1, 2], ['x_##.cbf', 3, 2], ['x_##.cbf', -1, 2], ['x_##.cbf', 1.5, 2]] as const) {
      const err = errorOf(() => expandTemplate(t, a, b));
      expect(err).toBeInstanceOf(InvalidValueError);
      expect(err.field).toBe('template');
    }
  });
});

describe('openImageSeries: l-cysteine through its DIALS template', () => {
  it('yields the 10 frames in order, one at a time, holding at most two', async () => {
    const events: SeriesEvent[] = [];
    const series = openImageSeries({
      template: 'l-cyst_01_#####.cbf',
      first: 1,
      last: 10,
      dir: sharedData('l-cysteine', 'images'),
      expectedSize: [1475, 1679],
      probe: (e) => events.push(e),
    });
    expect(series.length).toBe(10);
    expect(series.files.map((f) => basename(f))).toEqual(L_CYSTEINE.map((r) => r.file));
    expect(events).toEqual([]); // nothing is read before iteration

    // frames the series holds: from the start of its read until released
    let held = 0;
    let maxHeld = 0;
    const check = (): void => {
      held = 0;
      const started = new Set<number>();
      for (const e of events) {
        if (e.type === 'read-start') started.add(e.frame);
        if (e.type === 'released') started.delete(e.frame);
      }
      held = started.size;
      maxHeld = Math.max(maxHeld, held);
    };
    const seen: number[] = [];
    for await (const img of series) {
      check();
      const i = seen.length;
      seen.push(img.source.frame);
      expect(img.source.file).toBe(series.files[i]);
      expect(pixelSum(img.pixels)).toBe(L_CYSTEINE[i]!.sum);
      expect(img.header.startAngle).toBeCloseTo(-145 + 0.1 * i, 6);
      // while the consumer works, the series reads at most the next file, never further
      const readsStarted = events.filter((e) => e.type === 'read-start').length;
      expect(readsStarted).toBeLessThanOrEqual(i + 2);
      await sleep(15); // a slow consumer: the read-ahead has time to finish, and must not run on
      check();
      expect(events.filter((e) => e.type === 'read-start').length).toBeLessThanOrEqual(i + 2);
    }
    expect(seen).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(maxHeld).toBe(2); // the frame handed out + one read-ahead
    check();
    expect(held).toBe(0); // all released at the end
    // decoded in order, each once
    expect(events.filter((e) => e.type === 'decoded').map((e) => e.frame)).toEqual(seen);
  });

  it('a consumer that stops early leaves nothing held; a second pass starts again', async () => {
    const events: SeriesEvent[] = [];
    const files = L_CYSTEINE.map((r) => sharedData('l-cysteine', 'images', r.file));
    const series = openImageSeries({ files, probe: (e) => events.push(e) });
    for await (const img of series) {
      if (img.source.frame === 1) break;
    }
    const started = events.filter((e) => e.type === 'read-start').map((e) => e.frame);
    const released = events.filter((e) => e.type === 'released').map((e) => e.frame);
    expect(started).toEqual([0, 1, 2]);
    expect([...released].sort()).toEqual([0, 1, 2]);
    const again: number[] = [];
    for await (const img of series) {
      again.push(img.source.frame);
      if (again.length === 3) break;
    }
    expect(again).toEqual([0, 1, 2]);
    const seventh = await series.read(6);
    expect(pixelMd5(seventh.pixels)).toBe(L_CYSTEINE[6]!.md5);
    expect(seventh.source).toEqual({ file: files[6], frame: 6 });
  });
});

describe('openImageSeries: snase SMV frames', () => {
  it('reads the frames with their PHI', async () => {
    const series = openImageSeries({ template: 'snc_newhead_#####.img', first: 1, last: 10, dir: sharedData('snase', 'images') });
    const phis: number[] = [];
    for await (const img of series) {
      expect(pixelMd5(img.pixels)).toBe(SNASE[img.source.frame]!.md5);
      phis.push(img.header.phi!);
    }
    expect(phis).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });
});

describe('openImageSeries: bad series', () => {
  const cbf = (w: number, h: number): Uint8Array => encodeCbf({ width: w, height: h, pixels: new Int32Array(w * h) });

  it('a missing file: FileAccessError naming it and its frame, after the frames before it', async () => {
    const files = [join(tmp.dir, 'm_001.cbf'), join(tmp.dir, 'm_002.cbf'), join(tmp.dir, 'm_003.cbf')];
    writeFileSync(files[0]!, cbf(4, 4));
    writeFileSync(files[1]!, cbf(4, 4));
    const seen: number[] = [];
    let error: unknown;
    try {
      for await (const img of openImageSeries({ template: 'm_###.cbf', first: 1, last: 3, dir: tmp.dir })) seen.push(img.source.frame);
    } catch (err) {
      error = err;
    }
    expect(seen).toEqual([0, 1]);
    expect(error).toBeInstanceOf(FileAccessError);
    const e = error as DiffractError;
    expect(e.file).toBe(files[2]);
    expect(e.frame).toBe(2);
    expect(e.message).toContain(files[2]!);
    expect(e.message).toContain('frame 2');
    expect(e.message).toContain('no such file');
  });

  it('a frame of another size: InvalidValueError naming the file and frame', async () => {
    const files = [join(tmp.dir, 'd_1.cbf'), join(tmp.dir, 'd_2.cbf'), join(tmp.dir, 'd_3.cbf')];
    writeFileSync(files[0]!, cbf(6, 5));
    writeFileSync(files[1]!, cbf(6, 5));
    writeFileSync(files[2]!, cbf(5, 6));
    const frames: DetectorImage[] = [];
    let error: unknown;
    try {
      for await (const img of openImageSeries({ files })) frames.push(img);
    } catch (err) {
      error = err;
    }
    expect(frames).toHaveLength(2);
    expect(error).toBeInstanceOf(InvalidValueError);
    const e = error as DiffractError;
    expect(e.message).toContain(files[2]!);
    expect(e.message).toContain('frame 2');
    expect(e.message).toContain('5×6');
    expect(e.message).toContain('6×5');
  });

  it('formats by magic bytes first, then by extension', async () => {
    const disguised = join(tmp.dir, 'really_a_cbf.img');
    copyFileSync(sharedData('l-cysteine', 'images', 'l-cyst_01_00002.cbf'), disguised);
    const img = await readImage(disguised);
    expect(img.header.format).toBe('cbf');
    expect(pixelMd5(img.pixels)).toBe(L_CYSTEINE[1]!.md5);
    const smv = encodeSmv({ width: 2, height: 2, pixels: Int32Array.from([1, 2, 3, 4]) });
    expect(detectImageFormat(smv, 'frame.dat')).toBe('smv');
    expect(detectImageFormat(cbf(2, 2), 'frame.dat')).toBe('cbf');
    const unknown = join(tmp.dir, 'notes.txt');
    writeFileSync(unknown, 'hello');
    const err = await readImage(unknown, { frame: 4 }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(FormatError);
    expect((err as DiffractError).message).toContain(unknown);
    expect((err as DiffractError).message).toContain('frame 4');
  });

  it('mixed CBF and SMV frames of one size stream together', async () => {
    const a = join(tmp.dir, 'mix_1.cbf');
    const b = join(tmp.dir, 'mix_2.img');
    writeFileSync(a, encodeCbf({ width: 3, height: 2, pixels: Int32Array.from([1, 2, 3, 4, 5, 6]) }));
    writeFileSync(b, encodeSmv({ width: 3, height: 2, pixels: Int32Array.from([6, 5, 4, 3, 2, 1]), byteOrder: 'big_endian' }));
    const sums: number[] = [];
    for await (const img of openImageSeries({ files: [a, b] })) sums.push(pixelSum(img.pixels) * (img.header.format === 'cbf' ? 1 : -1));
    expect(sums).toEqual([21, -21]);
  });

  it('an empty list is refused', () => {
    expect(errorOf(() => openImageSeries({ files: [] }))).toBeInstanceOf(InvalidValueError);
  });
});

describe('openImageSeries: the iterator keeps no old frame alive', () => {
  it('frames the consumer dropped are garbage-collected (WeakRef after a forced GC)', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const series = openImageSeries({ template: 'l-cyst_01_#####.cbf', first: 1, last: 6, dir: sharedData('l-cysteine', 'images') });
    const refs: WeakRef<Int32Array>[] = [];
    const alive: number[] = [];
    for await (const img of series) {
      refs.push(new WeakRef(img.pixels));
      await sleep(0); // end the job that created the WeakRef
      gc();
      await sleep(0);
      // frames before the current one: only the series could still hold them
      alive.push(refs.slice(0, -1).filter((r) => r.deref() !== undefined).length);
    }
    expect(alive).toEqual([0, 0, 0, 0, 0, 0]);
  });
});
