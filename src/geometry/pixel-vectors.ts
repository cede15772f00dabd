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

/** d = s1 − s0 for lab position `p` (mm). */
export function scatteringVector(p: Vec3, s0: Vec3, wavelength: number): Vec3 {
  const r = Math.hypot(p[0], p[1], p[2]);
  const k = 1 / (wavelength * r);
  return [p[0] * k - s0[0], p[1] * k - s0[1], p[2] * k - s0[2]];
}

/** d for every pixel centre of one panel, row-major (index = y·width + x), 3 f32 each. */
export function panelPixelVectors(panel: Panel, beam: Beam): Float32Array {
  const [w, h] = panel.imageSize;
  const s0 = s0Vector(beam);
  const out = new Float32Array(3 * w * h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const d = scatteringVector(labPosition(panel, x + 0.5, y + 0.5), s0, beam.wavelength);
      const o = 3 * (y * w + x);
      out[o] = d[0];
      out[o + 1] = d[1];
      out[o + 2] = d[2];
    }
  }
  return out;
}

export interface DetectorVectors {
  /** all panels concatenated, 3 f32 per pixel */
  vectors: Float32Array;
  /** first pixel index of each panel in `vectors` (length panels + 1) */
  panelOffsets: readonly number[];
}

/** d for every pixel of every panel. */
export function detectorPixelVectors(detector: Detector, beam: Beam): DetectorVectors {
  const parts = detector.panels.map((p) => panelPixelVectors(p, beam));
  const offsets = [0];
  let total = 0;
  for (const part of parts) {
    total += part.length / 3;
    offsets.push(total);
  }
  const vectors = new Float32Array(3 * total);
  parts.forEach((part, i) => vectors.set(part, 3 * (offsets[i] as number)));
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
