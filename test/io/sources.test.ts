/**
 * The frame-source layer on real data, every format through the one
 * interface: length, shape, type, read(i), readStored(i), range (offsets,
 * order), view, iteration, fingerprint stability (same file → same; touched
 * file → different), close twice. Reference values: the Eiger files' md5,
 * sums and maxima of ../shared/data/README.md; the CBF files' own Content-MD5
 * (checked on decode); the truncated dranspose stream must give a clear
 * error; the femtomax stream1 frames are float32 (readStored gives them;
 * read, which delivers counts, refuses non-integer values by name).
 *
 * Also: openExperimentFrames (template, file list, a master named by the
 * imageset, pre-flight errors) and the photon/viewer HDF5 source on the
 * bitshuffle-LZ4 file (issue 13: it used to return garbage there).
 */
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Encoder, Tag } from 'cbor-x';
import { afterAll, describe, expect, it } from 'vitest';
import { FileAccessError, FormatError, InvalidValueError, TruncatedError } from '../../src/errors.ts';
import { loadExperiments, pickExperiment } from '../../src/geometry/load.ts';
import { readHdf5, writeHdf5Atomic } from '../../src/io/hdf5.ts';
import type { DetectorImage } from '../../src/io/image.ts';
import { openExperimentFrames } from '../../src/io/sources/experiment.ts';
import type { FrameSource, StoredArray } from '../../src/io/sources/frame-source.ts';
import { detectSourceKind, openFrameSource } from '../../src/io/sources/open.ts';
import { encodeStream1 } from '../../src/io/stream1.ts';
import { cborsEvents, h5StackEvents } from '../../src/photon/sources.ts';
import { openSpecs } from '../../src/viewer/live.ts';
import { runCli } from '../helpers/cli.ts';
import { sharedData } from '../helpers/paths.ts';

const tmp = mkdtempSync(join(tmpdir(), 'diffract-sources-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function sum(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] as number;
  return s;
}

function max(a: ArrayLike<number>): number {
  let m = -Infinity;
  for (let i = 0; i < a.length; i++) m = Math.max(m, a[i] as number);
  return m;
}

/** Same type, same values (byte comparison: toEqual on millions of elements takes minutes). */
function same(a: StoredArray, b: StoredArray): boolean {
  return a.constructor === b.constructor && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

function md5(a: StoredArray): string {
  return createHash('md5').update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength)).digest('hex');
}

async function errorOf(p: Promise<unknown> | (() => Promise<unknown>)): Promise<unknown> {
  return (typeof p === 'function' ? p() : p).then(
    () => undefined,
    (e: unknown) => e,
  );
}

async function collect(it: AsyncIterable<{ offset: number; image: DetectorImage }>): Promise<{ offset: number; image: DetectorImage }[]> {
  const out = [];
  for await (const f of it) out.push(f);
  return out;
}

/**
 * What every source must do: frame i from read, range, view and iteration is
 * the same frame; a view keeps its parent's offsets; indices outside are
 * InvalidValueErrors; the fingerprint is stable; close twice is fine.
 */
async function checkInterface(src: FrameSource, probe: readonly [number, number]): Promise<void> {
  const [first, count] = probe;
  const direct = await Promise.all(Array.from({ length: count }, (_v, k) => src.read(first + k)));
  for (const im of direct) {
    expect([im.width, im.height]).toEqual(src.shape);
    expect(im.pixels).toHaveLength(im.width * im.height);
  }
  const ranged = await collect(src.range(first, count));
  expect(ranged.map((f) => f.offset)).toEqual(Array.from({ length: count }, (_v, k) => first + k));
  ranged.forEach((f, k) => expect(same(f.image.pixels, direct[k]!.pixels)).toBe(true));
  const view = src.view(first, count);
  expect(view.length).toBe(count);
  expect(view.shape).toEqual(src.shape);
  expect(same((await view.read(0)).pixels, direct[0]!.pixels)).toBe(true);
  expect((await collect(view.range(0, count))).map((f) => f.offset)).toEqual(ranged.map((f) => f.offset));
  let n = 0;
  for await (const im of view) expect(same(im.pixels, direct[n++]!.pixels)).toBe(true);
  expect(n).toBe(count);
  expect(JSON.stringify(view.fingerprint())).not.toBe(JSON.stringify(src.fingerprint()));
  expect(await errorOf(src.read(src.length))).toBeInstanceOf(InvalidValueError);
  expect(await errorOf(src.read(-1))).toBeInstanceOf(InvalidValueError);
  expect(() => src.range(src.length - 1, 2)).toThrow(InvalidValueError);
  expect(() => src.view(0, src.length + 1)).toThrow(InvalidValueError);
  expect(JSON.stringify(src.fingerprint())).toBe(JSON.stringify(src.fingerprint()));
  await view.close();
  await src.close();
  await src.close();
}

/** Copies `file` into the temporary folder, opens it twice around a touch: the fingerprint must change. */
async function checkTouch(file: string, name: string): Promise<void> {
  const copy = join(tmp, name);
  copyFileSync(file, copy);
  utimesSync(copy, new Date(1_600_000_000_000), new Date(1_600_000_000_000));
  const a = await openFrameSource(copy);
  const b = await openFrameSource(copy);
  const before = JSON.stringify(a.fingerprint());
  expect(JSON.stringify(b.fingerprint())).toBe(before);
  utimesSync(copy, new Date(1_700_000_000_000), new Date(1_700_000_000_000));
  const c = await openFrameSource(copy);
  expect(JSON.stringify(c.fingerprint())).not.toBe(before);
  await Promise.all([a.close(), b.close(), c.close()]);
}

// First in the file: the bug showed only while no reader of this process had registered the
// compression plugins, and the tests below register them.
describe('photon and viewer sources read Eiger HDF5 through the one reader (issue 13: garbage before)', () => {
  const file = (): string => sharedData('eiger', 'eiger2_simread7_2datafiles_4images_bslz4_data_000001.h5');

  it('h5StackEvents and the viewer: every frame sums to 3,648,540 with max 7', async () => {
    for (const events of [h5StackEvents(file()), openSpecs([file()], new AbortController().signal)]) {
      const frames: number[][] = [];
      for await (const ev of events) if (ev.kind === 'frame') frames.push([sum(ev.data), max(ev.data), ev.shape[0], ev.shape[1]]);
      expect(frames).toEqual([
        [3648540, 7, 512, 1028],
        [3648540, 7, 512, 1028],
      ]);
    }
  });

  it('diffract photon: the accumulated image of the 2 frames is their pixel sum (7,297,080); no hits below the threshold', async () => {
    const src = await openFrameSource(file());
    const a = (await src.readStored(0)).data;
    const b = (await src.readStored(1)).data;
    await src.close();
    const truthMax = max(Array.from(a, (v, i) => v + (b[i] as number)));
    const out = join(tmp, 'photon');
    // a process of its own: this one has the compression plugins registered already
    const r = await runCli(['photon', file(), '--out', out, '--correction', 'none', '--json', '--backend', 'cpu']);
    expect(r.code, r.stderr).toBe(0);
    const summary = JSON.parse(r.stdout.trim().split('\n')[0]!) as { file: string; frames: number; hits: number };
    expect(summary.frames).toBe(2);
    // photon detection counts pixels above --threshold 108; these frames hold at most 7 counts
    expect(summary.hits).toBe(0);
    const acc = await readHdf5(summary.file, (f) => {
      const d = f.get('/entry/accumulated/data') as { value: Float64Array } | null;
      return d?.value;
    });
    expect(acc).toBeDefined();
    expect(sum(acc!)).toBe(7297080);
    expect(max(acc!)).toBe(truthMax);
  }, 120_000);
});

describe('CBF: l-cysteine through its template', () => {
  const dir = sharedData('l-cysteine', 'images');

  it('10 Pilatus frames, 1475×1679 int32; every access path gives the same frames', async () => {
    const src = await openFrameSource({ template: 'l-cyst_01_#####.cbf', first: 1, last: 10, dir });
    expect(src.length).toBe(10);
    expect(src.shape).toEqual([1475, 1679]);
    expect(src.type).toBe('int32');
    const im = await src.read(3);
    expect(im.header.format).toBe('cbf');
    expect(im.source).toEqual({ file: join(dir, 'l-cyst_01_00004.cbf'), frame: 3 });
    // Pilatus gap pixels are −1 and stay −1
    expect(im.pixels.includes(-1)).toBe(true);
    const stored = await src.readStored(3);
    expect(stored.type).toBe('int32');
    expect(same(stored.data, im.pixels)).toBe(true);
    const fp = src.fingerprint() as { name: string }[];
    expect(fp.map((f) => f.name)).toEqual(Array.from({ length: 10 }, (_v, i) => `l-cyst_01_${String(i + 1).padStart(5, '0')}.cbf`));
    await checkInterface(src, [4, 2]);
  }, 400_000);

  it('a touched file changes the fingerprint', async () => {
    await checkTouch(join(dir, 'l-cyst_01_00001.cbf'), 'one.cbf');
  }, 120_000);

  it('a missing file of a list is a FileAccessError naming it and its frame, at open', async () => {
    const files = [join(dir, 'l-cyst_01_00001.cbf'), join(tmp, 'gone_00002.cbf')];
    const err = await errorOf(openFrameSource(files));
    expect(err).toBeInstanceOf(FileAccessError);
    expect((err as FileAccessError).file).toBe(files[1]);
    expect((err as FileAccessError).frame).toBe(1);
  });
});

describe('SMV: snase', () => {
  it('10 frames, 1024×1024 uint16; readStored gives the stored uint16 values', async () => {
    const src = await openFrameSource({ template: 'snc_newhead_#####.img', first: 1, last: 10, dir: sharedData('snase', 'images') });
    expect([src.length, src.shape, src.type]).toEqual([10, [1024, 1024], 'uint16']);
    const im = await src.read(0);
    const stored = await src.readStored(0);
    expect(stored.data).toBeInstanceOf(Uint16Array);
    expect(same(Int32Array.from(stored.data), im.pixels)).toBe(true);
    // README: 65535 = saturated, values are counts
    expect(max(im.pixels)).toBeLessThanOrEqual(65535);
    expect(await detectSourceKind(join(sharedData('snase', 'images'), 'snc_newhead_00001.img'))).toBe('images');
    await checkInterface(src, [8, 2]);
  }, 120_000);
});

describe('Eiger HDF5 data files: the README reference values', () => {
  const REFS: { file: string; shape: [number, number]; type: string; frames: [number, number, string][] }[] = [
    { file: 'eiger1_testmode10_2datafiles_4images_bslz4_data_000001.h5', shape: [1030, 1065], type: 'uint16', frames: [[2511479273, 65535, '2c23b22cfe1507ed3900f81a6a53c278'], [2511479273, 65535, '0248398a0f86ab73c0c115109fcbf7d4']] },
    { file: 'eiger2_simread7_2datafiles_4images_bslz4_data_000001.h5', shape: [1028, 512], type: 'uint16', frames: [[3648540, 7, 'dcb50212fb2652d200b3e9aafc594f84'], [3648540, 7, 'dbdce80d7a1626fa2bee9dfbdeb5a545']] },
    { file: 'eiger2_simread7_2datafiles_4images_bslz4_uint32_data_000001.h5', shape: [1028, 512], type: 'uint32', frames: [[21891240, 42, '94387af2d9b347b88d4c5f445d7f7c53'], [21891240, 42, 'c7bfc1f2570b9ca56a629ea9dcc21398']] },
    { file: 'eiger2_simread7_2datafiles_4images_lz4_data_000001.h5', shape: [1028, 512], type: 'uint16', frames: [[3648540, 7, '1174fc695763c50861d88af303eb41fb'], [3648540, 7, '1ae276132e221b152b51fd1b029244f5']] },
  ];
  for (const ref of REFS) {
    it(`${ref.file}: md5, sum and max of every frame, in-thread and through 2 decode workers`, async () => {
      const file = sharedData('eiger', ref.file);
      expect(await detectSourceKind(file)).toBe('hdf5');
      const src = await openFrameSource(file);
      expect([src.length, src.shape, src.type]).toEqual([2, ref.shape, ref.type]);
      for (let i = 0; i < 2; i++) {
        const stored = await src.readStored(i);
        expect([sum(stored.data), max(stored.data), md5(stored.data)]).toEqual(ref.frames[i]);
        const im = await src.read(i);
        expect([sum(im.pixels), max(im.pixels)]).toEqual(ref.frames[i]!.slice(0, 2));
      }
      const pooled = await openFrameSource(file, { workers: 2 });
      const viaWorkers = await collect(pooled.range(0, 2));
      expect(viaWorkers.map((f) => [sum(f.image.pixels), max(f.image.pixels)])).toEqual(ref.frames.map((f) => f.slice(0, 2)));
      await pooled.close();
      await pooled.close();
      await checkInterface(src, [1, 1]);
    }, 120_000);
  }

  it('a touched file changes the fingerprint', async () => {
    await checkTouch(sharedData('eiger', REFS[1]!.file), 'touched.h5');
  });
});

describe('Dectris stream recording: dranspose eiger-small.cbors (blobs cut to 20,000 bytes)', () => {
  const file = sharedData('dranspose', 'eiger-small.cbors');

  it('opens: 3 frames of 3108×3262 uint32; every frame read is a TruncatedError naming the file and the frame', async () => {
    expect(await detectSourceKind(file)).toBe('dectris-stream');
    const src = await openFrameSource(file);
    expect([src.length, src.shape, src.type]).toEqual([3, [3108, 3262], 'uint32']);
    for (const i of [0, 2]) {
      const err = await errorOf(src.read(i));
      expect(err).toBeInstanceOf(TruncatedError);
      expect((err as TruncatedError).file).toBe(file);
      expect((err as TruncatedError).frame).toBe(i);
      expect((err as Error).message).toMatch(/truncated compressed frame/);
    }
    expect(await errorOf(src.readStored(1))).toBeInstanceOf(TruncatedError);
    const err = await errorOf(collect(src.range(1, 2)));
    expect(err).toBeInstanceOf(TruncatedError);
    expect((err as TruncatedError).frame).toBe(1);
    expect(JSON.stringify(src.fingerprint())).toBe(JSON.stringify(src.fingerprint()));
    await src.close();
    await src.close();
  });

  it('a touched copy changes the fingerprint', async () => {
    await checkTouch(file, 'touched.cbors');
  });
});

describe('stream1 event recordings', () => {
  it('femtomax pilatus-lab6.cbors.gz: 30 float32 frames 1475×831 as stored; read refuses non-integer counts by name', async () => {
    const file = sharedData('femtomax', 'pilatus-lab6.cbors.gz');
    expect(await detectSourceKind(file)).toBe('stream1');
    const src = await openFrameSource(file);
    expect([src.length, src.shape, src.type]).toEqual([30, [1475, 831], 'float32']);
    // the same values the photon pipeline's event reader gives
    const sums: number[] = [];
    for await (const ev of cborsEvents(file)) if (ev.kind === 'frame' && ev.frame >= 28) sums.push(sum(ev.data));
    const last = [await src.readStored(28), await src.readStored(29)];
    expect(last.map((f) => sum(f.data))).toEqual(sums);
    expect(last[0]!.data).toBeInstanceOf(Float32Array);
    // −1 gap and −2 bad pixels (README)
    expect(last[0]!.data.includes(-1) && last[0]!.data.includes(-2)).toBe(true);
    const err = await errorOf(src.read(28));
    expect(err).toBeInstanceOf(FormatError);
    expect((err as FormatError).file).toBe(file);
    expect((err as FormatError).frame).toBe(28);
    expect((err as FormatError).field).toBe('pixels');
    const view = src.view(28, 2);
    expect(same((await view.readStored(1)).data, last[1]!.data)).toBe(true);
    expect(JSON.stringify(src.fingerprint())).toBe(JSON.stringify(src.fingerprint()));
    await src.close();
    await src.close();
  }, 120_000);

  /** A recording as the ingester writes it: tag 55799 around tag 42877 events. */
  function recording(frames: Uint16Array[], rows: number, cols: number, secondHeader = false): Buffer {
    const enc = new Encoder({ mapsAsObjects: true });
    const item = (ev: number, parts: Uint8Array[]): Buffer =>
      enc.encode(new Tag(new Tag([ev, { det: new Tag(['STINS', parts.map((p) => Buffer.from(p))], 42878) }, '2024-11-21T11:21:03.175Z'], 42877), 55799));
    const items = [item(0, encodeStream1({ htype: 'header', filename: 'raw.h5' }))];
    frames.forEach((data, k) => {
      items.push(item(k + 1, encodeStream1({ htype: 'image', frame: k, data, shape: [rows, cols], type: 'uint16' })));
      if (secondHeader && k === 0) items.push(item(k + 1, encodeStream1({ htype: 'header', filename: 'raw2.h5' })));
    });
    items.push(item(frames.length + 1, encodeStream1({ htype: 'series_end' })));
    return Buffer.concat(items);
  }

  it('integer frames read as counts, exactly; every access path agrees', async () => {
    const rows = 3;
    const cols = 5;
    const frames = Array.from({ length: 4 }, (_v, k) => Uint16Array.from({ length: rows * cols }, (_w, i) => (i * 7 + k * 11) % 97));
    const file = join(tmp, 'det.cbors');
    writeFileSync(file, recording(frames, rows, cols));
    const src = await openFrameSource(file);
    expect([src.length, src.shape, src.type]).toEqual([4, [cols, rows], 'uint16']);
    for (let k = 0; k < 4; k++) expect(Array.from((await src.read(k)).pixels)).toEqual(Array.from(frames[k]!));
    expect((await src.read(2)).header.format).toBe('stream1');
    await checkInterface(src, [1, 3]);
  });

  it('a recording with two series is refused, naming the stream', async () => {
    const file = join(tmp, 'two.cbors');
    writeFileSync(file, recording([new Uint16Array(4), new Uint16Array(4)], 2, 2, true));
    const err = await errorOf(openFrameSource(file));
    expect(err).toBeInstanceOf(InvalidValueError);
    expect((err as InvalidValueError).field).toBe('det');
  });
});

describe('openFrameSource: formats and bad input', () => {
  it('a folder, a missing file and an unknown format each give one typed error naming the file', async () => {
    const folder = join(tmp, 'a-folder.cbors');
    mkdirSync(folder);
    expect(await errorOf(openFrameSource(folder))).toBeInstanceOf(FileAccessError);
    expect(await errorOf(openFrameSource(join(tmp, 'none.h5')))).toBeInstanceOf(FileAccessError);
    const text = join(tmp, 'notes.txt');
    writeFileSync(text, 'hello');
    const err = await errorOf(openFrameSource(text));
    expect(err).toBeInstanceOf(InvalidValueError);
    expect((err as InvalidValueError).file).toBe(text);
  });

  it('FILE.h5:/dataset names the dataset; float HDF5 frames are read as stored', async () => {
    const file = join(tmp, 'floats.h5');
    const data = Float32Array.from({ length: 2 * 3 * 4 }, (_v, i) => i + 0.5);
    await writeHdf5Atomic(file, (f) => {
      f.create_group('entry').create_group('instrument').create_group('balor').create_dataset({ name: 'data', data, shape: [2, 3, 4] });
    });
    const src = await openFrameSource(`${file}:/entry/instrument/balor/data`);
    expect([src.length, src.shape, src.type]).toEqual([2, [4, 3], 'float32']);
    expect(Array.from((await src.readStored(1)).data)).toEqual(Array.from(data.subarray(12)));
    const err = await errorOf(src.read(1));
    expect(err).toBeInstanceOf(FormatError);
    expect((err as FormatError).frame).toBe(1);
    await src.close();
  });
});

describe('openExperimentFrames', () => {
  const images = sharedData('l-cysteine', 'images');
  const files = Array.from({ length: 10 }, (_v, i) => join(images, `l-cyst_01_${String(i + 1).padStart(5, '0')}.cbf`));

  /** The l-cysteine .expt in a folder of its own with the frames beside it (its template is relative). */
  function exptWithImages(name: string, count = 10): string {
    const dir = join(tmp, name);
    mkdirSync(dir);
    copyFileSync(sharedData('l-cysteine', '11_integrated.expt'), join(dir, 'x.expt'));
    for (const f of files.slice(0, count)) symlinkSync(f, join(dir, f.slice(images.length + 1)));
    return join(dir, 'x.expt');
  }

  it("the imageset template (relative to the .expt), checked against the scan's 10 images and the detector size", async () => {
    const expt = exptWithImages('tpl');
    const exp = pickExperiment(await loadExperiments(expt), 0);
    const src = await openExperimentFrames(exp, expt);
    expect(src.length).toBe(10);
    expect(src.shape).toEqual(exp.detector.panels[0]!.imageSize);
    const given = await openExperimentFrames(exp, expt, files);
    expect(same((await given.read(9)).pixels, (await src.read(9)).pixels)).toBe(true);
  }, 60_000);

  it('a missing frame names the file and frame; a count unlike the scan names the .expt and the key', async () => {
    const expt = exptWithImages('short', 9);
    const exp = pickExperiment(await loadExperiments(expt), 0);
    const missing = await errorOf(openExperimentFrames(exp, expt));
    expect(missing).toBeInstanceOf(FileAccessError);
    expect((missing as FileAccessError).frame).toBe(9);
    const count = await errorOf(openExperimentFrames(exp, expt, files.slice(0, 9), { field: 'sweeps[0].images' }));
    expect(count).toBeInstanceOf(InvalidValueError);
    expect((count as InvalidValueError).file).toBe(expt);
    expect((count as InvalidValueError).field).toBe('sweeps[0].images');
    expect((count as Error).message).toMatch(/9 frames given but the scan has 10/);
    // without the scan check the 9 frames open
    expect((await openExperimentFrames(exp, expt, files.slice(0, 9), { checkScan: false })).length).toBe(9);
  }, 60_000);

  it('an HDF5 file named by the imageset template: the scan images are its frames', async () => {
    const dir = join(tmp, 'h5set');
    mkdirSync(dir);
    const first = await (await openFrameSource(files[0]!)).read(0);
    const stack = new Int32Array(10 * first.pixels.length);
    for (let k = 0; k < 10; k++) stack.set((await (await openFrameSource(files[k]!)).read(0)).pixels, k * first.pixels.length);
    await writeHdf5Atomic(join(dir, 'frames.h5'), (f) => {
      f.create_group('entry').create_group('data').create_dataset({ name: 'data', data: stack, shape: [10, first.height, first.width] });
    });
    const text = readFileSync(sharedData('l-cysteine', '11_integrated.expt'), 'utf8').replace('"l-cyst_01_#####.cbf"', '"frames.h5"');
    writeFileSync(join(dir, 'x.expt'), text);
    const exp = pickExperiment(await loadExperiments(join(dir, 'x.expt')), 0);
    const src = await openExperimentFrames(exp, join(dir, 'x.expt'));
    expect(src.type).toBe('int32');
    expect(src.length).toBe(10);
    expect(same((await src.read(6)).pixels, (await (await openFrameSource(files[6]!)).read(0)).pixels)).toBe(true);
    await src.close();
  }, 120_000);
});
