/** Hand-built experiments for the correction tests. */
import { IDENTITY, normalize } from '../../src/geometry/linalg.ts';
import type { Experiment, Mat3, Panel, Vec3 } from '../../src/geometry/model.ts';

export function makePanel(p: Partial<Panel> & { origin: Vec3; fastAxis: Vec3; slowAxis: Vec3; pixelSize: readonly [number, number]; imageSize: readonly [number, number] }): Panel {
  return {
    name: 'P',
    type: 'SENSOR_PAD',
    trustedRange: [-1, 1e6],
    thickness: 0.45,
    material: 'Si',
    mu: 0,
    pxMmStrategy: 'simple',
    mask: [],
    gain: 1,
    pedestal: 0,
    identifier: '',
    ...p,
    fastAxis: normalize(p.fastAxis),
    slowAxis: normalize(p.slowAxis),
  };
}

const DEG = Math.PI / 180;

/** A panel tilted by `tiltDeg` about the lab y axis, its first corner at `origin`. */
export function tiltedPanel(tiltDeg: number, origin: Vec3, pixelSize: readonly [number, number], imageSize: readonly [number, number], extra: Partial<Panel> = {}): Panel {
  const c = Math.cos(tiltDeg * DEG);
  const s = Math.sin(tiltDeg * DEG);
  return makePanel({ origin, fastAxis: [c, 0, s], slowAxis: [0, -1, 0], pixelSize, imageSize, ...extra });
}

export interface ExpOptions {
  wavelength?: number;
  polarizationFraction?: number;
  polarizationNormal?: Vec3;
  rotationAxis?: Vec3;
  settingRotation?: Mat3;
  oscillation?: readonly [number, number];
  exposure?: number;
  nImages?: number;
  stills?: boolean;
  cellA?: Mat3;
  hall?: string;
}

/** A rotation experiment: beam along −z (direction +z towards the source). */
export function makeExperiment(panels: readonly Panel[], o: ExpOptions = {}): Experiment {
  const n = o.nImages ?? 10;
  const A: Mat3 = o.cellA ?? [0.1, 0, 0, 0, 0.05, 0, 0, 0, 1 / 30];
  return {
    identifier: 'test',
    beam: {
      wavelength: o.wavelength ?? 1,
      direction: [0, 0, 1],
      polarizationFraction: o.polarizationFraction ?? 0.999,
      polarizationNormal: o.polarizationNormal ?? [0, 1, 0],
    },
    detector: { panels },
    ...(o.stills === true
      ? {}
      : {
          goniometer: { rotationAxis: o.rotationAxis ?? [1, 0, 0], fixedRotation: IDENTITY, settingRotation: o.settingRotation ?? IDENTITY },
          scan: {
            imageRange: [1, n] as const,
            oscillation: o.oscillation ?? ([0, 0.5] as const),
            exposureTimes: o.exposure === undefined ? [] : Array.from({ length: n }, () => o.exposure as number),
            epochs: [],
            batchOffset: 0,
          },
        }),
    crystal: { A, unitCell: { a: 10, b: 20, c: 30, alpha: 90, beta: 90, gamma: 90 }, spaceGroupHall: o.hall ?? ' P 1' },
  };
}
