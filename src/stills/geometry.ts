/**
 * Per-shot geometry of stills: the fractional hkl of every pixel, from the
 * shot's own setting A (a still has no goniometer and no scan, so
 * s1 − s0 = A·h and h = A⁻¹·(s1 − s0)).
 *
 * The per-pixel vectors d = s1 − s0 come from the shot's detector and beam
 * (src/geometry/pixel-vectors.ts); the mapping is the hkl-map kernel
 * (src/kernels/hkl-map.ts) run through the Engine, so the GPU and the CPU give
 * the same f32 values (the CPU twin is the kernel's arithmetic, f32-exact).
 * Shots sharing one detector and beam (a DIALS list usually has one) reuse
 * their vectors.
 */
import type { Experiment } from '../geometry/model.ts';
import { detectorPixelVectors, type DetectorVectors } from '../geometry/pixel-vectors.ts';
import { hklMatrixAt } from '../geometry/setting.ts';
import type { Engine } from '../host/engine.ts';
import { hklMapKernel, type HklMapParams } from '../kernels/hkl-map.ts';
import type { StillShot } from './model.ts';

export interface ShotHkl {
  /** h, k, l per pixel: 3 per pixel, pixels of panel 0 row-major, then panel 1, … */
  hkl: Float32Array;
  /** first pixel of each panel (length panels + 1) */
  panelOffsets: readonly number[];
}

/** The kernel's inputs for one shot: the pixel vectors of its detector and its A⁻¹. */
export function shotHklParams(exp: Experiment, vectors: DetectorVectors = detectorPixelVectors(exp.detector, exp.beam)): HklMapParams {
  // no goniometer / no scan: M = A (src/geometry/setting.ts)
  return { vectors: vectors.vectors, matrices: new Float64Array(hklMatrixAt(exp, 0)) };
}

/** Pixel vectors cached by detector and beam object, for shots that share them. */
export class ShotVectorCache {
  private readonly byDetector = new WeakMap<object, WeakMap<object, DetectorVectors>>();

  get(exp: Experiment): DetectorVectors {
    let byBeam = this.byDetector.get(exp.detector);
    if (byBeam === undefined) {
      byBeam = new WeakMap();
      this.byDetector.set(exp.detector, byBeam);
    }
    let v = byBeam.get(exp.beam);
    if (v === undefined) {
      v = detectorPixelVectors(exp.detector, exp.beam);
      byBeam.set(exp.beam, v);
    }
    return v;
  }
}

/** Fractional hkl of every pixel of one shot, on the engine's backend. */
export async function shotHkl(engine: Engine, shot: StillShot, cache: ShotVectorCache = new ShotVectorCache()): Promise<ShotHkl> {
  const vectors = cache.get(shot.experiment);
  const { hkl } = await engine.run(hklMapKernel, shotHklParams(shot.experiment, vectors));
  return { hkl, panelOffsets: vectors.panelOffsets };
}
