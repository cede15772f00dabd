/**
 * Synthetic Eiger-style NeXus (NXmx) series: a master file plus data files,
 * laid out as Eiger firmware writes them, for tests and demonstrations.
 *
 * Files. For a master `DIR/NAME_master.h5` (or `DIR/NAME.EXT`) the frames go
 * to `DIR/NAME_data_000001.h5`, `…_000002.h5`, … (`dataFiles` frames each,
 * default all in one file). Each data file holds `/entry/data/data`
 * [frames, height, width] (uint16 or uint32, the type of the first frame),
 * one chunk per frame, with `@image_nr_low`/`@image_nr_high` (1-based image
 * numbers of the whole series). The master's `/entry/data/data_00000N` are
 * external links to `NAME_data_00000N.h5:/entry/data/data` (relative names,
 * as Eiger writes them).
 *
 * Compression: 'bslz4' = bitshuffle + LZ4 (filter 32008, cd_values [0, 2]:
 * default block size, LZ4), 'lz4' = HDF5 LZ4 (32004), 'gzip' = deflate level
 * 4, 'none'.
 *
 * Master metadata (NXmx; NeXus/McStas frame, SI units as Eiger writes them):
 * beam/incident_wavelength (Å), detector/detector_distance (m),
 * beam_center_x/y (pixel), x/y_pixel_size (m), sensor_material,
 * sensor_thickness (m), saturation_value, underload_value, count_time,
 * frame_time (s), detector/depends_on → transformations/translation (d along
 * +z), module/fast_pixel_direction and slow_pixel_direction (@vector, value =
 * pixel size), module/module_offset (so that the depends_on chain puts pixel
 * (0, 0) where the beam-centre description does), sample/depends_on →
 * sample/transformations/omega (one angle per frame, @vector),
 * omega_increment_set, omega_end, and Eiger's sample/goniometer/omega (hard
 * link) with omega_range_average. Vectors given in the DIALS frame are
 * converted with x → −x, z → −z.
 *
 * Atomicity: every file is written to a temporary name and renamed into
 * place after it is closed (writeHdf5Atomic); the master is written last, so
 * a master never points at a partial data file. On failure the data files
 * already written are removed.
 *
 * Frames can be an array or any (async) iterable, e.g. a generator: they are
 * written one at a time (the dataset grows by one chunk per frame), so a long
 * series never sits in memory.
 */
import { unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { InvalidValueError } from '../errors.ts';
import { norm, normalize, scale } from '../geometry/linalg.ts';
import type { Vec3 } from '../geometry/model.ts';
import { h5Plugins, setAttributes, writeHdf5Atomic, type H5Dataset, type H5File, type H5Group } from './hdf5.ts';
import { dialsToMcstas } from './nexus-geometry.ts';

export type NexusCompression = 'bslz4' | 'lz4' | 'gzip' | 'none';
export type WritableFrame = Uint16Array | Uint32Array;

/** Geometry written to the master (diffract units; vectors in the DIALS frame). */
export interface NexusWriteGeometry {
  /** Å */
  wavelength: number;
  distance_mm: number;
  /** pixels, [x (fast), y (slow)], pixel corners at integers */
  beamCentre: readonly [number, number];
  /** mm, [fast, slow] */
  pixelSize: readonly [number, number];
  /** degrees */
  omegaStart: number;
  /** degrees per frame */
  omegaIncrement: number;
  /** s (count_time; frame_time too unless `frameTime`) */
  exposure: number;
  frameTime?: number;
  /** e.g. 'Si', 'CdTe' */
  sensorMaterial?: string;
  sensorThickness_mm?: number;
  saturation?: number;
  underload?: number;
  /** DIALS frame; default (1, 0, 0), (0, −1, 0) */
  fastAxis?: Vec3;
  slowAxis?: Vec3;
  /** DIALS frame; default (1, 0, 0) */
  rotationAxis?: Vec3;
  description?: string;
}

export interface NexusSeriesSpec {
  frames: Iterable<WritableFrame> | AsyncIterable<WritableFrame>;
  width: number;
  height: number;
  compression: NexusCompression;
  geometry: NexusWriteGeometry;
  /** frames per data file (default: all in one) */
  dataFiles?: number;
}

export interface NexusSeriesWritten {
  master: string;
  dataFiles: string[];
  frames: number;
}

/** The data file names of a master path: NAME_master.h5 → NAME_data_00000N.h5. */
export function dataFileName(master: string, n: number): string {
  const base = basename(master);
  const stem = base.replace(/_master\.[^.]+$/, '').replace(/\.[^.]+$/, '');
  return join(dirname(master), `${stem}_data_${String(n).padStart(6, '0')}.h5`);
}

function compressionArgs(c: NexusCompression): { compression?: number | 'gzip'; compression_opts?: number | number[] } {
  switch (c) {
    case 'bslz4':
      return { compression: 32008, compression_opts: [0, 2] };
    case 'lz4':
      return { compression: 32004, compression_opts: [0] };
    case 'gzip':
      return { compression: 'gzip', compression_opts: 4 };
    case 'none':
      return {};
  }
}

function scalar(parent: H5Group | H5File, name: string, value: number, units?: string, dtype = '<d'): H5Dataset {
  const ds = parent.create_dataset({ name, data: value, dtype });
  if (units !== undefined) ds.create_attribute('units', units);
  return ds;
}

function text(parent: H5Group | H5File, name: string, value: string): void {
  parent.create_dataset({ name, data: value });
}

function group(parent: H5Group | H5File, name: string, nxClass: string): H5Group {
  const g = parent.create_group(name);
  g.create_attribute('NX_class', nxClass);
  return g;
}

function transformation(ds: H5Dataset, type: 'translation' | 'rotation', vector: Vec3, units: string, dependsOn: string, offset?: Vec3): void {
  setAttributes(ds, { transformation_type: type, units, depends_on: dependsOn });
  ds.create_attribute('vector', new Float64Array(vector));
  if (offset !== undefined) ds.create_attribute('offset', new Float64Array(offset));
}

async function* asAsync(frames: Iterable<WritableFrame> | AsyncIterable<WritableFrame>): AsyncGenerator<WritableFrame> {
  if (Symbol.asyncIterator in frames) {
    for await (const f of frames) yield f;
  } else {
    for (const f of frames) yield f;
  }
}

function checkGeometry(g: NexusWriteGeometry): void {
  const positive: [string, number][] = [
    ['wavelength', g.wavelength],
    ['distance_mm', g.distance_mm],
    ['pixelSize[0]', g.pixelSize[0]],
    ['pixelSize[1]', g.pixelSize[1]],
  ];
  for (const [k, v] of positive) if (!(Number.isFinite(v) && v > 0)) throw new InvalidValueError(`must be a positive number, got ${v}`, { field: `geometry.${k}` });
  for (const [k, v] of [
    ['omegaStart', g.omegaStart],
    ['omegaIncrement', g.omegaIncrement],
    ['exposure', g.exposure],
    ['beamCentre[0]', g.beamCentre[0]],
    ['beamCentre[1]', g.beamCentre[1]],
  ] as const) {
    if (!Number.isFinite(v)) throw new InvalidValueError(`must be a finite number, got ${v}`, { field: `geometry.${k}` });
  }
}

/** Writes a master file and its data files (see the module comment). */
export async function writeNexusSeries(path: string, spec: NexusSeriesSpec): Promise<NexusSeriesWritten> {
  await h5Plugins();
  const { width, height } = spec;
  if (!(Number.isSafeInteger(width) && width > 0 && Number.isSafeInteger(height) && height > 0)) {
    throw new InvalidValueError(`frame size must be positive integers, got ${width}×${height}`, { field: 'width' });
  }
  const perFile = spec.dataFiles ?? Number.MAX_SAFE_INTEGER;
  if (!(Number.isSafeInteger(perFile) && perFile > 0)) throw new InvalidValueError(`dataFiles must be a positive integer, got ${perFile}`, { field: 'dataFiles' });
  checkGeometry(spec.geometry);
  const n = width * height;
  const written: string[] = [];
  const it = asAsync(spec.frames)[Symbol.asyncIterator]();
  let total = 0;
  let kind: 'uint16' | 'uint32' | undefined;
  let pending = await it.next();
  try {
    while (pending.done !== true) {
      const fileIndex = written.length + 1;
      const dataPath = dataFileName(path, fileIndex);
      const firstNr = total + 1;
      await writeHdf5Atomic(dataPath, async (file) => {
        const entry = group(file, 'entry', 'NXentry');
        const data = group(entry, 'data', 'NXdata');
        let ds: H5Dataset | undefined;
        let count = 0;
        while (pending.done !== true && count < perFile) {
          const frame = pending.value;
          const t = frame instanceof Uint16Array ? 'uint16' : frame instanceof Uint32Array ? 'uint32' : undefined;
          if (t === undefined) throw new InvalidValueError('frames must be Uint16Array or Uint32Array', { frame: total, field: 'frames' });
          kind ??= t;
          if (t !== kind) throw new InvalidValueError(`frame is ${t} but the first frame is ${kind}`, { frame: total, field: 'frames' });
          if (frame.length !== n) throw new InvalidValueError(`frame has ${frame.length} pixels, expected ${width}×${height} = ${n}`, { frame: total, field: 'frames' });
          if (ds === undefined) {
            ds = data.create_dataset({
              name: 'data',
              data: kind === 'uint16' ? new Uint16Array(0) : new Uint32Array(0),
              shape: [0, height, width],
              maxshape: [null, height, width],
              chunks: [1, height, width],
              dtype: kind === 'uint16' ? '<H' : '<I',
              ...compressionArgs(spec.compression),
            });
          }
          ds.resize([count + 1, height, width]);
          ds.write_slice([[count, count + 1], [], []], frame);
          count++;
          total++;
          pending = await it.next();
        }
        if (ds !== undefined) {
          ds.create_attribute('image_nr_low', firstNr, null, '<i');
          ds.create_attribute('image_nr_high', firstNr + count - 1, null, '<i');
        }
      });
      written.push(dataPath);
    }
    if (total === 0) throw new InvalidValueError('no frames to write', { field: 'frames' });
    await writeHdf5Atomic(path, (file) => writeMaster(file, written, total, spec, kind ?? 'uint16'));
  } catch (err) {
    await Promise.all(written.map((p) => unlink(p).catch(() => undefined)));
    throw err;
  }
  return { master: path, dataFiles: written, frames: total };
}

function writeMaster(file: H5File, dataFiles: readonly string[], frames: number, spec: NexusSeriesSpec, kind: 'uint16' | 'uint32'): void {
  const g = spec.geometry;
  const entry = group(file, 'entry', 'NXentry');
  text(entry, 'definition', 'NXmx');
  const data = group(entry, 'data', 'NXdata');
  dataFiles.forEach((p, i) => {
    data.create_external_link(basename(p), '/entry/data/data', `data_${String(i + 1).padStart(6, '0')}`);
  });

  const instrument = group(entry, 'instrument', 'NXinstrument');
  const beam = group(instrument, 'beam', 'NXbeam');
  scalar(beam, 'incident_wavelength', g.wavelength, 'angstrom');

  const det = group(instrument, 'detector', 'NXdetector');
  const dMetres = g.distance_mm / 1000;
  scalar(det, 'detector_distance', dMetres, 'm');
  scalar(det, 'beam_center_x', g.beamCentre[0], 'pixel');
  scalar(det, 'beam_center_y', g.beamCentre[1], 'pixel');
  scalar(det, 'x_pixel_size', g.pixelSize[0] / 1000, 'm');
  scalar(det, 'y_pixel_size', g.pixelSize[1] / 1000, 'm');
  scalar(det, 'count_time', g.exposure, 's');
  scalar(det, 'frame_time', g.frameTime ?? g.exposure, 's');
  if (g.sensorMaterial !== undefined) text(det, 'sensor_material', g.sensorMaterial);
  if (g.sensorThickness_mm !== undefined) scalar(det, 'sensor_thickness', g.sensorThickness_mm / 1000, 'm');
  scalar(det, 'saturation_value', g.saturation ?? (kind === 'uint16' ? 65535 : 0x7fffffff), undefined, '<i');
  if (g.underload !== undefined) scalar(det, 'underload_value', g.underload, undefined, '<i');
  scalar(det, 'bit_depth_readout', kind === 'uint16' ? 16 : 32, undefined, '<i');
  text(det, 'description', g.description ?? 'diffract synthetic EIGER');
  text(det, 'type', 'PIXEL');
  text(det, 'depends_on', '/entry/instrument/detector/transformations/translation');
  const detT = group(det, 'transformations', 'NXtransformations');
  transformation(scalar(detT, 'translation', dMetres), 'translation', [0, 0, 1], 'm', '.');

  const fast = normalize(g.fastAxis ?? [1, 0, 0]);
  const slow = normalize(g.slowAxis ?? [0, -1, 0]);
  const mod = group(det, 'module', 'NXdetector_module');
  mod.create_dataset({ name: 'data_origin', data: new Int32Array([0, 0]) });
  mod.create_dataset({ name: 'data_size', data: new Int32Array([spec.height, spec.width]) });
  // pixel (0, 0) relative to the detector translation, metres, McStas frame
  const off: Vec3 = dialsToMcstas([
    -(g.beamCentre[0] * g.pixelSize[0] * fast[0] + g.beamCentre[1] * g.pixelSize[1] * slow[0]) / 1000,
    -(g.beamCentre[0] * g.pixelSize[0] * fast[1] + g.beamCentre[1] * g.pixelSize[1] * slow[1]) / 1000,
    -(g.beamCentre[0] * g.pixelSize[0] * fast[2] + g.beamCentre[1] * g.pixelSize[1] * slow[2]) / 1000,
  ]);
  const offLen = norm(off);
  transformation(
    scalar(mod, 'module_offset', offLen),
    'translation',
    offLen > 0 ? scale(off, 1 / offLen) : [1, 0, 0],
    'm',
    '/entry/instrument/detector/transformations/translation',
  );
  const modOffset = '/entry/instrument/detector/module/module_offset';
  transformation(scalar(mod, 'fast_pixel_direction', g.pixelSize[0] / 1000), 'translation', dialsToMcstas(fast), 'm', modOffset, [0, 0, 0]);
  transformation(scalar(mod, 'slow_pixel_direction', g.pixelSize[1] / 1000), 'translation', dialsToMcstas(slow), 'm', modOffset, [0, 0, 0]);

  const sample = group(entry, 'sample', 'NXsample');
  text(sample, 'depends_on', '/entry/sample/transformations/omega');
  const sT = group(sample, 'transformations', 'NXtransformations');
  const angles = new Float64Array(frames);
  const ends = new Float64Array(frames);
  for (let i = 0; i < frames; i++) {
    angles[i] = g.omegaStart + i * g.omegaIncrement;
    ends[i] = g.omegaStart + (i + 1) * g.omegaIncrement;
  }
  const omega = sT.create_dataset({ name: 'omega', data: angles, shape: [frames] });
  transformation(omega, 'rotation', dialsToMcstas(normalize(g.rotationAxis ?? [1, 0, 0])), 'deg', '.');
  scalar(sT, 'omega_increment_set', g.omegaIncrement, 'deg');
  sT.create_dataset({ name: 'omega_end', data: ends, shape: [frames] }).create_attribute('units', 'deg');
  const gonio = group(sample, 'goniometer', 'NXgoniometer');
  gonio.create_hard_link('/entry/sample/transformations/omega', 'omega');
  scalar(gonio, 'omega_range_average', g.omegaIncrement, 'deg');
}
