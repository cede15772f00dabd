/**
 * Per-position scattering vectors d = s1 − s0, computed once per detector (the
 * per-frame work is then one 3×3 product per pixel, in the hkl-map kernel).
 *
 *   s1 = unit(lab position) / λ,   s0 = −unit(beam direction) / λ
 *
 * Pixel centres are at (i + 0.5, j + 0.5) in pixel coordinates; the lab position
 * goes through the panel's pixel→mm strategy (parallax-corrected for thick
 * sensors, as DIALS does).
 */
import { InvalidValueError } from '../errors.ts';
import type { Beam, Detector, Panel, Vec3 } from './model.ts';
import { labPosition } from './pxmm.ts';
import { s0Vector } from './setting.ts';
import { allocTyped } from '../util/typed-alloc.ts';

/** d = s1 − s0 for lab position `p` (mm). */
export function scatteringVector(p: Vec3, s0: Vec3, wavelength: number): Vec3 {
  const r = Math.hypot(p[0], p[1], p[2]);
  const k = 1 / (wavelength * r);
  return [p[0] * k - s0[0], p[1] * k - s0[1], p[2] * k - s0[2]];
}

/**
 * d for every pixel centre of one panel, row-major (index = y·width + x), 3 f32
 * each; written into `out` from pixel `at` when given (no copy per panel).
 */
export function panelPixelVectors(panel: Panel, beam: Beam, out?: Float32Array, at = 0): Float32Array {
  const [w, h] = panel.imageSize;
  const s0 = s0Vector(beam);
  const into = out ?? new Float32Array(3 * w * h);
  if (into.length < 3 * (at + w * h)) throw new InvalidValueError(`pixel vectors: ${into.length / 3} slots for panel pixels ${at}…${at + w * h - 1}`, { field: 'vectors' });
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const d = scatteringVector(labPosition(panel, x + 0.5, y + 0.5), s0, beam.wavelength);
      const o = 3 * (at + y * w + x);
      into[o] = d[0];
      into[o + 1] = d[1];
      into[o + 2] = d[2];
    }
  }
  return into;
}

export interface DetectorVectors {
  /** all panels concatenated, 3 f32 per pixel */
  vectors: Float32Array;
  /** first pixel index of each panel in `vectors` (length panels + 1) */
  panelOffsets: readonly number[];
}

/** d for every pixel of every panel, in one array (in shared memory when `shared`: see src/util/typed-alloc.ts). */
export function detectorPixelVectors(detector: Detector, beam: Beam, shared = false): DetectorVectors {
  const offsets = [0];
  let total = 0;
  for (const p of detector.panels) {
    total += p.imageSize[0] * p.imageSize[1];
    offsets.push(total);
  }
  const vectors = allocTyped(Float32Array, 3 * total, shared);
  detector.panels.forEach((p, i) => panelPixelVectors(p, beam, vectors, offsets[i] as number));
  return { vectors, panelOffsets: offsets };
}

/** d for arbitrary positions (pixel coordinates on a panel). */
export function pointVectors(panels: readonly Panel[], beam: Beam, points: readonly { panel: number; x: number; y: number }[]): Float32Array {
  const s0 = s0Vector(beam);
  const out = new Float32Array(3 * points.length);
  points.forEach((pt, i) => {
    const panel = panels[pt.panel];
    if (panel === undefined) throw new InvalidValueError(`position ${i} names panel ${pt.panel}, but the detector has ${panels.length}`, { field: 'panel' });
    const d = scatteringVector(labPosition(panel, pt.x, pt.y), s0, beam.wavelength);
    out.set(d, 3 * i);
  });
  return out;
}
