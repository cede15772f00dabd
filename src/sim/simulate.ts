/**
 * `simulate(spec, outDir)`: writes a rotation series with known truth.
 *
 * Frames are streamed: each is computed into one reused pair of buffers
 * (expected values and counts), encoded, written and dropped, so memory does
 * not grow with the number of frames. Every file is written atomically (a
 * temporary file, then a rename), and the order is: the frames, the truth
 * arrays and reflection list, then `<prefix>.expt`, then `truth.json` last; a
 * stale `<prefix>.expt` / `truth.json` from an earlier run in the same folder
 * is removed first. So a folder holding `truth.json` holds a complete run.
 */
import { createHash } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { FileAccessError } from '../errors.ts';
import { formatExperimentList } from '../geometry/expt-write.ts';
import type { Experiment } from '../geometry/model.ts';
import { encodeCbf } from '../io/cbf.ts';
import { encodeNpy } from '../io/npy.ts';
import { writeFileAtomic } from '../io/atomic-file.ts';
import { frameScale } from './physics.ts';
import { predictReflections } from './predict.ts';
import { FrameRenderer } from './render.ts';
import { buildExperiment, frameFileName, frameTemplate, type SimulationSpec, validateSpec } from './spec.ts';
import { TRUTH_FILES, absorptionTruth, diffuseTruth, reflectionColumns, truthDocument, truthGridFor } from './truth.ts';

/** What `onFrame` is told after each frame is written. */
export interface FrameInfo {
  /** 0-based frame index */
  index: number;
  /** DIALS image number (index + 1) */
  imageNumber: number;
  /** the written file (absolute path) */
  file: string;
  /**
   * the frame's counts. The simulator reuses this one buffer for every frame:
   * it is valid only during the callback (copy it to keep it).
   */
  pixels: Int32Array;
  /** sha256 (hex) of `pixels` as little-endian int32 */
  sha256: string;
  /** the frame scale b(index) */
  scale: number;
}

export interface SimulateOptions {
  onFrame?: (info: FrameInfo) => void | Promise<void>;
}

export interface SimulationResult {
  outDir: string;
  expt: string;
  truth: string;
  truthDiffuse: string;
  truthAbsorption: string;
  truthReflections: string;
  template: string;
  frames: number;
  width: number;
  height: number;
  frameHashes: string[];
  /** predicted Bragg reflections recorded during the scan */
  predictedReflections: number;
  /** shape of the diffuse truth grid */
  truthShape: readonly [number, number, number];
  seconds: number;
}

/** sha256 (hex) of an Int32Array's bytes (little-endian on every platform Node supports). */
export function hashPixels(pixels: Int32Array): string {
  return createHash('sha256').update(new Uint8Array(pixels.buffer, pixels.byteOffset, pixels.byteLength)).digest('hex');
}

const fixed = (v: number, digits: number): string => v.toFixed(digits);

/** The PILATUS header lines of frame `index`. */
export function frameHeaderLines(spec: SimulationSpec, exp: Experiment, index: number): string[] {
  const d = spec.detector;
  const s = spec.scan;
  const start = s.startDeg + index * s.widthDeg;
  const px = `${(d.pixelSize * 1000).toFixed(0)}e-6 m`;
  const t = new Date(Date.UTC(2000, 0, 1) + Math.round(index * s.exposure * 1000)).toISOString().replace('Z', '');
  const panel = exp.detector.panels[0];
  return [
    `Detector: ${panel?.identifier ?? 'diffract simulated PAD'}, S/N 00-0000`,
    t,
    `Pixel_size ${px} x ${px}`,
    `${d.material === 'Si' ? 'Silicon' : d.material} sensor, thickness ${fixed(d.thickness / 1000, 6)} m`,
    `Exposure_time ${fixed(s.exposure, 7)} s`,
    `Exposure_period ${fixed(s.exposure, 7)} s`,
    'Tau = 0 s',
    `Count_cutoff ${Math.floor(d.trustedRange[1])} counts`,
    `N_excluded_pixels = ${d.badPixels.length}`,
    'Excluded_pixels: (nil)',
    'Flat_field: (nil)',
    'Trim_file: (nil)',
    `Wavelength ${fixed(spec.beam.wavelength, 5)} A`,
    `Detector_distance ${fixed(d.distance / 1000, 5)} m`,
    'Detector_Voffset 0.00000 m',
    `Beam_xy (${fixed(d.beamCentre[0], 2)}, ${fixed(d.beamCentre[1], 2)}) pixels`,
    'Flux 0.000000',
    'Filter_transmission 1.0000',
    `Start_angle ${fixed(start, 4)} deg.`,
    `Angle_increment ${fixed(s.widthDeg, 4)} deg.`,
    'Detector_2theta 0.0000 deg.',
    `Polarization ${fixed(spec.beam.polarizationFraction, 3)}`,
    'Alpha 0.0000 deg.',
    'Kappa 0.0000 deg.',
    `Phi ${fixed(start, 4)} deg.`,
    `Phi_increment ${fixed(s.widthDeg, 4)} deg.`,
    'Omega 0.0000 deg.',
    'Omega_increment 0.0000 deg.',
    'Chi 0.0000 deg.',
    'Chi_increment 0.0000 deg.',
    'Oscillation_axis PHI',
    'N_oscillations 1',
  ];
}

export async function simulate(spec: SimulationSpec, outDir: string, options: SimulateOptions = {}): Promise<SimulationResult> {
  const t0 = performance.now();
  validateSpec(spec);
  const dir = resolve(outDir);
  try {
    await mkdir(dir, { recursive: true });
  } catch (err) {
    throw new FileAccessError(`cannot create the output folder: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { file: outDir }, { cause: err });
  }
  const exptPath = join(dir, `${spec.prefix}.expt`);
  const truthPath = join(dir, TRUTH_FILES.json);
  // an earlier complete run in this folder must not make a partial new one look complete
  await rm(truthPath, { force: true });
  await rm(exptPath, { force: true });

  const exp = buildExperiment(spec);
  const renderer = new FrameRenderer(spec, exp);
  const { width, height } = renderer;
  const expected = new Float64Array(renderer.pixels);
  const counts = new Int32Array(renderer.pixels);
  const frameFiles: string[] = [];
  const frameHashes: string[] = [];
  for (let i = 0; i < spec.scan.frames; i++) {
    renderer.expected(i, expected);
    renderer.sample(i, expected, counts);
    const sha256 = hashPixels(counts);
    const name = frameFileName(spec, i);
    const file = join(dir, name);
    const bytes = encodeCbf({ width, height, pixels: counts, headerLines: frameHeaderLines(spec, exp, i), name: name.replace(/\.cbf$/, '') });
    await writeFileAtomic(file, bytes);
    frameFiles.push(name);
    frameHashes.push(sha256);
    if (options.onFrame) await options.onFrame({ index: i, imageNumber: i + 1, file, pixels: counts, sha256, scale: frameScale(spec.model.frameScale, i) });
  }

  const crystal = exp.crystal;
  if (crystal === undefined) throw new Error('internal invariant failed: simulated experiment has a crystal');
  const grid = truthGridFor(spec, crystal.A, renderer.qMax);
  await writeFileAtomic(join(dir, TRUTH_FILES.diffuse), encodeNpy(diffuseTruth(spec, crystal.A, grid), grid.shape));
  await writeFileAtomic(join(dir, TRUTH_FILES.absorption), encodeNpy(absorptionTruth(spec), [height, width]));
  const predicted = predictReflections(spec, exp);
  await writeFileAtomic(join(dir, TRUTH_FILES.reflections), `${JSON.stringify(reflectionColumns(predicted))}\n`);
  await writeFileAtomic(exptPath, formatExperimentList({ source: exptPath, experiments: [exp] }));
  const doc = truthDocument({
    spec,
    A: crystal.A,
    grid,
    expt: `${spec.prefix}.expt`,
    template: frameTemplate(spec),
    frameFiles,
    frameHashes,
    predicted: predicted.length,
    panel: { width, height },
  });
  await writeFileAtomic(truthPath, `${JSON.stringify(doc, null, 2)}\n`);
  return {
    outDir: dir,
    expt: exptPath,
    truth: truthPath,
    truthDiffuse: join(dir, TRUTH_FILES.diffuse),
    truthAbsorption: join(dir, TRUTH_FILES.absorption),
    truthReflections: join(dir, TRUTH_FILES.reflections),
    template: join(dir, frameTemplate(spec)),
    frames: spec.scan.frames,
    width,
    height,
    frameHashes,
    predictedReflections: predicted.length,
    truthShape: grid.shape,
    seconds: (performance.now() - t0) / 1000,
  };
}
