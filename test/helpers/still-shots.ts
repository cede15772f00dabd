/**
 * Small synthetic stills datasets for the extraction tests: the snase stills
 * geometry (beam, crystal) on a 256² photon-counting detector with 0.32 mm
 * pixels (the same 82 mm square), shots at random orientations, images written
 * as SMV files so that they are read through ShotImages as real shots are.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Experiment, Panel } from '../../src/geometry/model.ts';
import { writeSmv } from '../../src/io/smv.ts';
import { readDialsStills } from '../../src/stills/dials.ts';
import { stillsExtractDefaults, type StillsExtractSettings } from '../../src/stills/extract.ts';
import { allocateStillReflections, type StillShot, type StillsDataset } from '../../src/stills/model.ts';
import { sharedData } from './paths.ts';
import { randomlyOriented } from './still-render.ts';

export const SMALL = 256;

/** The snase experiment of shot 0 on a 256² Si pixel-array detector (trusted 0…10⁶). */
export async function smallDetectorExperiment(): Promise<Experiment> {
  const snase = await readDialsStills(sharedData('snase', 'stills.expt'));
  const exp = (snase.shots[0] as StillShot).experiment;
  const p0 = exp.detector.panels[0] as Panel;
  const panel: Panel = { ...p0, type: 'SENSOR_PAD', imageSize: [SMALL, SMALL], pixelSize: [0.32, 0.32], trustedRange: [-1, 1_000_000], material: 'Si', thickness: 0.45, mu: 0, gain: 1, pedestal: 0 };
  return { ...exp, detector: { ...exp.detector, panels: [panel] } };
}

/** `n` shots of `exp` at random orientations (seeded), no reflections, images to be written at `imagePath(i)`. */
export function randomShots(exp: Experiment, n: number, seed: number, imagePath: (i: number) => string): StillsDataset {
  const crystal = exp.crystal;
  if (crystal === undefined) throw new Error('no crystal');
  const shots: StillShot[] = Array.from({ length: n }, (_v, i) => ({
    index: i,
    identifier: `synthetic-${i}`,
    experiment: { ...exp, identifier: `synthetic-${i}`, crystal: { ...crystal, A: randomlyOriented(crystal.A, seed + 7919 * i) } },
    image: { path: imagePath(i), index: 0, event: '' },
    spotModel: { kind: 'radius', radius: 0.0028 },
    rayMethod: 'ewald',
    chunk: i,
  }));
  return { source: 'synthetic', format: 'dials', shots, reflections: allocateStillReflections(0) };
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Writes a 256² image as SMV (unsigned 32-bit). */
export async function writeImage(path: string, pixels: Int32Array): Promise<void> {
  await writeSmv(path, { width: SMALL, height: SMALL, pixels, type: 'unsigned_long' });
}

/** Lunus's settings for the snase frames (../shared/data/README.md): window 40–984 px, beamstop box, values 1…; gain 1 ADU/photon (none is stated). */
export function snaseSettings(ndiv: [number, number, number]): StillsExtractSettings {
  const s = stillsExtractDefaults();
  s.ndiv = ndiv;
  s.detector = { kind: 'integrating', gain: 1, pedestal: 0 };
  s.staticMask.edge = 40;
  s.staticMask.beamstop = [{ kind: 'rect', x0: 510, y0: 473, x1: 557, y1: 518 }];
  s.staticMask.trustedRange = 'inclusive';
  return s;
}
