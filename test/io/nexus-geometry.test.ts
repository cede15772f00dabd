/**
 * NXmx geometry import and the synthetic Eiger-style writer: round trips of
 * pixels (every compression, frame ranges across data files, decode workers)
 * and of geometry (DIALS frame, McStas conversion), typed errors for missing
 * fields, and `loadExperiments` dispatch on a master file.
 */
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MissingFieldError } from '../../src/errors.ts';
import { loadExperiments } from '../../src/geometry/load.ts';
import type { Vec3 } from '../../src/geometry/model.ts';
import { openHdf5Series } from '../../src/io/eiger-h5.ts';
import { writeHdf5Atomic } from '../../src/io/hdf5.ts';
import { experimentFromNexus, mcstasToDials, unitFactor } from '../../src/io/nexus-geometry.ts';
import { writeNexusSeries, type NexusCompression, type NexusWriteGeometry } from '../../src/io/nexus-write.ts';
import { NEXUS_GEOMETRY } from './nexus-fixture.ts';
import { sharedData } from '../helpers/paths.ts';

const tmp = mkdtempSync(join(tmpdir(), 'diffract-nexus-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const W = 40;
const H = 24;
const N = 8;

function frame16(i: number): Uint16Array {
  const f = new Uint16Array(W * H);
  for (let k = 0; k < f.length; k++) f[k] = (k * 7 + i * 131 + ((k * k) % 17)) % 65536;
  f[3] = 65535;
  return f;
}

function frame32(i: number): Uint32Array {
  const f = new Uint32Array(W * H);
  for (let k = 0; k < f.length; k++) f[k] = (k * 100003 + i * 7919) % 5000;
  f[5] = 0xffffffff; // gap marker → −1
  return f;
}

const GEOMETRY = NEXUS_GEOMETRY;

function close(a: readonly number[], b: readonly number[], tol = 1e-9): void {
  expect(a.length).toBe(b.length);
  a.forEach((x, i) => expect(Math.abs(x - (b[i] as number))).toBeLessThan(tol));
}

function expectedOrigin(g: NexusWriteGeometry, f: Vec3, s: Vec3): Vec3 {
  const [bx, by] = g.beamCentre;
  const [px, py] = g.pixelSize;
  return [0, 1, 2].map((k) => (k === 2 ? -g.distance_mm : 0) - bx * px * f[k]! - by * py * s[k]!) as unknown as Vec3;
}

describe('writeNexusSeries → openHdf5Series: exact pixels', () => {
  for (const compression of ['bslz4', 'lz4', 'gzip', 'none'] as NexusCompression[]) {
    it(`${compression}, uint16 and uint32, 8 frames in two data files`, async () => {
      for (const [kind, make] of [
        ['u16', frame16],
        ['u32', frame32],
      ] as const) {
        const master = join(tmp, `${compression}_${kind}_master.h5`);
        function* frames(): Generator<Uint16Array | Uint32Array> {
          for (let i = 0; i < N; i++) yield make(i);
        }
        const out = await writeNexusSeries(master, { frames: frames(), width: W, height: H, compression, geometry: GEOMETRY, dataFiles: 4 });
        expect(out.frames).toBe(N);
        expect(out.dataFiles.map((p) => p.slice(tmp.length + 1))).toEqual([`${compression}_${kind}_data_000001.h5`, `${compression}_${kind}_data_000002.h5`]);

        const all = await openHdf5Series({ file: master });
        expect([all.length, all.width, all.height, all.pixelType]).toEqual([N, W, H, kind === 'u16' ? 'uint16' : 'uint32']);
        expect(all.layout.blocks.map((b) => [b.start, b.frames, b.link])).toEqual([
          [0, 4, '/entry/data/data_000001'],
          [4, 4, '/entry/data/data_000002'],
        ]);
        for (let i = 0; i < N; i++) expect(Array.from(await all.readRaw(i))).toEqual(Array.from(make(i)));
        all.close();

        // frames 3…5: across the two data files
        const part = await openHdf5Series({ file: master, first: 3, last: 5 });
        const got = [];
        for await (const im of part) got.push(im);
        expect(got.map((im) => im.source)).toEqual([0, 1, 2].map((frame) => ({ file: master, frame })));
        got.forEach((im, j) => {
          const want = Int32Array.from(make(3 + j), (v) => (v >= 2 ** 31 ? -1 : v));
          expect(Array.from(im.pixels)).toEqual(Array.from(want));
          expect(im.header.raw.get('image_nr')).toBe(String(4 + j));
          expect(im.header.wavelength).toBeCloseTo(GEOMETRY.wavelength, 12);
          expect(im.header.startAngle).toBeCloseTo(GEOMETRY.omegaStart + (3 + j) * GEOMETRY.omegaIncrement, 12);
        });
      }
    });
  }

  it('decode workers read a multi-file series identically', async () => {
    const master = join(tmp, 'bslz4_u16_master.h5');
    const a = await openHdf5Series({ file: master, first: 2, last: 7 });
    const b = await openHdf5Series({ file: master, first: 2, last: 7, workers: 2 });
    const pa = [];
    for await (const im of a) pa.push(Array.from(im.pixels));
    const pb = [];
    for await (const im of b) pb.push(Array.from(im.pixels));
    expect(pb).toEqual(pa);
    expect(pa).toHaveLength(6);
  });

  it('leaves no temporary files behind', () => {
    expect(readdirSync(tmp).filter((f) => f.includes('.tmp'))).toEqual([]);
  });
});

describe('experimentFromNexus', () => {
  it('reads the writer\'s geometry back (default Eiger orientation)', async () => {
    const master = join(tmp, 'bslz4_u16_master.h5');
    const list = await experimentFromNexus(master);
    expect(list.source).toBe(master);
    expect(list.experiments).toHaveLength(1);
    const e = list.experiments[0]!;
    expect(e.crystal).toBeUndefined();
    expect(e.imageset).toEqual({ images: [master] });
    expect(Math.abs(e.beam.wavelength - GEOMETRY.wavelength)).toBeLessThan(1e-9);
    close(e.beam.direction, [0, 0, 1]);
    const p = e.detector.panels[0]!;
    close(p.fastAxis, [1, 0, 0]);
    close(p.slowAxis, [0, -1, 0]);
    close(p.origin, expectedOrigin(GEOMETRY, [1, 0, 0], [0, -1, 0]));
    close(p.pixelSize, [0.075, 0.075]);
    expect(p.imageSize).toEqual([W, H]);
    expect(p.trustedRange).toEqual([-1, 40000]);
    expect(p.material).toBe('Si');
    expect(Math.abs(p.thickness - 0.45)).toBeLessThan(1e-9);
    expect(p.mu).toBeGreaterThan(0);
    expect(p.pxMmStrategy).toBe('parallax');
    close(e.goniometer!.rotationAxis, [1, 0, 0]);
    expect(e.scan!.imageRange).toEqual([1, N]);
    close(e.scan!.oscillation, [12.5, 0.1]);
    expect(e.scan!.exposureTimes).toHaveLength(N);
    close(e.scan!.exposureTimes, new Array<number>(N).fill(0.02));
  });

  it('reads other axes through the McStas → DIALS conversion, and loadExperiments dispatches', async () => {
    const g: NexusWriteGeometry = {
      ...GEOMETRY,
      fastAxis: [0, 1, 0],
      slowAxis: [1, 0, 0],
      rotationAxis: [0, 1, 0],
      omegaIncrement: -0.25,
      sensorMaterial: 'CdTe',
      sensorThickness_mm: 1,
      saturation: undefined,
      underload: undefined,
    };
    const master = join(tmp, 'axes.nxs');
    await writeNexusSeries(master, { frames: [frame32(0), frame32(1), frame32(2)], width: W, height: H, compression: 'lz4', geometry: g });
    expect(existsSync(join(tmp, 'axes_data_000001.h5'))).toBe(true);
    const list = await loadExperiments(master);
    const e = list.experiments[0]!;
    const p = e.detector.panels[0]!;
    close(p.fastAxis, [0, 1, 0]);
    close(p.slowAxis, [1, 0, 0]);
    close(p.origin, expectedOrigin(g, [0, 1, 0], [1, 0, 0]));
    expect(p.material).toBe('CdTe');
    expect(p.trustedRange).toEqual([-1, 0x7fffffff]);
    close(e.goniometer!.rotationAxis, [0, 1, 0]);
    expect(e.scan!.imageRange).toEqual([1, 3]);
    close(e.scan!.oscillation, [12.5, -0.25]);
  });

  it('a missing required field is a MissingFieldError naming file and path', async () => {
    const master = join(tmp, 'nobeam_master.h5');
    await writeHdf5Atomic(master, (f) => {
      const entry = f.create_group('entry');
      const data = entry.create_group('data');
      data.create_dataset({ name: 'data', data: new Uint16Array(2 * W * H), shape: [2, H, W], chunks: [1, H, W] });
    });
    const err = await experimentFromNexus(master).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MissingFieldError);
    expect((err as MissingFieldError).file).toBe(master);
    expect((err as MissingFieldError).field).toBe('/entry/instrument/beam/incident_wavelength');
    // a real Eiger data file has no geometry either
    const data = sharedData('eiger', 'eiger2_simread7_2datafiles_4images_lz4_data_000001.h5');
    await expect(experimentFromNexus(data)).rejects.toBeInstanceOf(MissingFieldError);
  });

  it('a master whose data file is gone: FileAccessError naming the data file', async () => {
    const g = { ...GEOMETRY };
    const master = join(tmp, 'lost_master.h5');
    const out = await writeNexusSeries(master, { frames: [frame16(0)], width: W, height: H, compression: 'none', geometry: g });
    rmSync(out.dataFiles[0]!);
    const err = await openHdf5Series({ file: master }).catch((e: unknown) => e);
    expect((err as { kind?: string }).kind).toBe('file-access');
    expect((err as { file?: string }).file).toBe(out.dataFiles[0]);
  });
});

describe('units and frames', () => {
  it('converts units and McStas vectors', () => {
    const at = { file: 'x', field: 'y' };
    expect(unitFactor('m', 'length', 'mm', at)).toBe(1000);
    expect(unitFactor('um', 'length', 'mm', at)).toBe(1e-3);
    expect(unitFactor('mm', 'length', 'm', at)).toBe(1);
    expect(unitFactor('angstrom', 'wavelength', 'm', at)).toBe(1);
    expect(unitFactor('nm', 'wavelength', 'm', at)).toBe(10);
    expect(unitFactor('degrees', 'angle', 'rad', at)).toBe(1);
    expect(unitFactor(undefined, 'time', 's', at)).toBe(1);
    expect(() => unitFactor('furlong', 'length', 'm', at)).toThrow(/furlong/);
    expect(mcstasToDials([-1, 0, 0])).toEqual([1, 0, 0]);
    expect(mcstasToDials([0, -1, 0])).toEqual([0, -1, 0]);
    expect(mcstasToDials([0, 0, 1])).toEqual([0, 0, -1]);
  });
});
