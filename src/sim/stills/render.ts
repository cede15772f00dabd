/**
 * One still at a time: expected counts and their Poisson draw.
 *
 * The per-pixel factors that do not depend on the orientation (the scattering
 * vector, a·g·t with the sensor efficiency, the isotropic diffuse term
 * K·C(s)(1 − β(s)) and the Compton term) come from the rotation simulator's
 * `FrameRenderer` of the base spec, built once. Shot i with A_i = U_i·B, scale
 * b_i and exposure T then reads, per pixel with scattering vector q:
 *
 *     E = T · b_i · a·g·t · K · [ C(s)(1 − β(s)) M(A_i⁻¹ q) + Σ n S(s) + ρ_Bragg(q) ]
 *
 * (electron units, src/sim/electron-units.ts), M the modulation of physics.ts,
 * and the Bragg density of the lattice points near the Ewald sphere, each an
 * isotropic 3D Gaussian of σ_H = R(|q_H|)/2.6 (the spot model, spec.ts) holding
 * |F_H|²/V_c:
 *
 *     ρ_Bragg(q) = Σ_H |F_H|² / (V_c (2π)^{3/2} σ_H³) · exp(−|q − A_i H|² / (2σ_H²))
 *
 * Spots are smaller than a pixel, so ρ_Bragg is averaged over `braggSubsamples`²
 * points of each pixel (the diffuse terms are taken at the pixel centre), over
 * the pixels within 5σ_H (plus one) of the spot centre. The spot centre is where
 * the ray through the lattice point, s1 ∥ s0 + A_i H, meets the panel (the point
 * of the Ewald sphere nearest the lattice point); the spot's partiality is
 * P = exp(−ε²/(2σ_H²)), ε = |s0 + A_i H| − |s0| (src/stills/partiality.ts,
 * Gaussian model). Lattice points farther than 5σ_H from the sphere are not drawn.
 *
 * Counts = Poisson(Bragg part) + Poisson(the rest), drawn from two streams
 * seeded per shot (seed, shot), so a shot re-rendered gives the same pixels and
 * the same Bragg photons per pixel (what the mask tests compare against).
 */
import { invariant } from '../../errors.ts';
import { inverse, mulMV } from '../../geometry/linalg.ts';
import type { Experiment, Mat3, Panel } from '../../geometry/model.ts';
import { scatteringVector } from '../../geometry/pixel-vectors.ts';
import { labPosition } from '../../geometry/pxmm.ts';
import { s0Vector } from '../../geometry/setting.ts';
import { StillPredictor } from '../../stills/predict.ts';
import { mixSeed, mulberry32, poisson } from '../../util/random.ts';
import { cellVolumeOf, diffuseModulation, structureFactorSquared } from '../physics.ts';
import { FrameRenderer, PIXEL_BAD, PIXEL_GAP, PIXEL_NORMAL } from '../render.ts';
import { HALL_SYMBOLS, reciprocalMetric } from '../spec.ts';
import { pulseEnergy, shotFileName, shotScale, shotSettingMatrix, spotSigma, stillsB, type StillsSimSpec } from './spec.ts';

/** Lattice points within this many σ of the Ewald sphere are drawn. */
const SPOT_SIGMAS = 5;

/** One drawn spot of a shot. */
export interface StillSpot {
  h: number;
  k: number;
  l: number;
  /** spot centre (pixel coordinates, corners at integers): the ray s1 ∥ s0 + A·H on the panel */
  x: number;
  y: number;
  /** excitation error ε = |s0 + A·H| − |s0| (Å⁻¹) */
  epsilon: number;
  /** |A·H| (Å⁻¹) */
  q: number;
  /** σ_H of the lattice point (Å⁻¹) */
  sigma: number;
  /** exp(−ε²/(2σ²)) */
  partiality: number;
  /** |F_H|² (electron units) */
  f2: number;
  /** expected Bragg counts of the spot over its window (T·b·a·g·t·K included) */
  expected: number;
  /** centroid of the expected Bragg counts (pixel coordinates) */
  xObs: number;
  yObs: number;
  /** window drawn, half-open [x0, x1) × [y0, y1), clipped to the panel */
  window: readonly [number, number, number, number];
}

/** A rendered shot. Its arrays are the renderer's own buffers, overwritten by the next `render`. */
export interface RenderedShot {
  index: number;
  A: Mat3;
  scale: number;
  pOrder: number;
  /** counts per pixel: gap −1, bad −2, else min(overload, Bragg photons + the rest) */
  counts: Int32Array;
  /** the Bragg photons drawn per pixel (0 on gap and bad pixels) */
  bragg: Int32Array;
  /** expected counts of everything but the Bragg term */
  background: Float64Array;
  /** expected Bragg counts */
  braggExpected: Float64Array;
  spots: StillSpot[];
  /** Σ bragg */
  braggPhotons: number;
}

export class StillsRenderer {
  readonly spec: StillsSimSpec;
  /** the per-pixel factors (FrameRenderer of the base spec) */
  readonly frame: FrameRenderer;
  readonly width: number;
  readonly height: number;
  readonly pixels: number;
  private readonly panel: Panel;
  private readonly gStar: Mat3;
  private readonly cellVolume: number;
  private readonly counts: Int32Array;
  private readonly bragg: Int32Array;
  private readonly background: Float64Array;
  private readonly braggExpected: Float64Array;

  constructor(spec: StillsSimSpec) {
    this.spec = spec;
    this.frame = new FrameRenderer(spec.base);
    this.width = this.frame.width;
    this.height = this.frame.height;
    this.pixels = this.frame.pixels;
    const panel = this.frame.experiment.detector.panels[0];
    invariant(panel !== undefined, 'simulated detector has a panel');
    this.panel = panel;
    this.gStar = reciprocalMetric(stillsB(spec));
    this.cellVolume = cellVolumeOf(this.gStar);
    this.counts = new Int32Array(this.pixels);
    this.bragg = new Int32Array(this.pixels);
    this.background = new Float64Array(this.pixels);
    this.braggExpected = new Float64Array(this.pixels);
  }

  /** The DIALS experiment of shot `i`: the shared beam and detector, its own crystal (with the Sauter spot model) and image. */
  experiment(i: number, identifier: string): Experiment {
    const base = this.frame.experiment;
    const c = this.spec.base.crystal;
    return {
      identifier,
      beam: base.beam,
      detector: base.detector,
      crystal: {
        A: shotSettingMatrix(this.spec, i),
        unitCell: { ...c.unitCell },
        spaceGroupHall: HALL_SYMBOLS[c.spaceGroup],
        mosaicity: { domainSizeA: this.spec.spot.domainSizeA, halfMosaicityDeg: this.spec.spot.halfMosaicityDeg },
      },
      imageset: { images: [shotFileName(this.spec, i)] },
    };
  }

  /** Renders shot `i` (see the module comment) into the renderer's buffers. */
  render(i: number): RenderedShot {
    const spec = this.spec;
    const m = spec.base.model;
    const eu = m.electronUnits;
    invariant(eu !== undefined, 'stills simulation in electron units');
    const A = shotSettingMatrix(spec, i);
    const Ai = inverse(A);
    const scale = shotScale(spec, i);
    const factor = spec.base.scan.exposure * scale;
    const { kind, vectors: v, pixelFactor, iso, ring } = this.frame;
    const bg = this.background;
    const be = this.braggExpected;
    for (let p = 0; p < this.pixels; p++) {
      be[p] = 0;
      if (kind[p] !== PIXEL_NORMAL) {
        bg[p] = 0;
        continue;
      }
      const x = v[3 * p] as number;
      const y = v[3 * p + 1] as number;
      const z = v[3 * p + 2] as number;
      const hh = Ai[0] * x + Ai[1] * y + Ai[2] * z;
      const kk = Ai[3] * x + Ai[4] * y + Ai[5] * z;
      const ll = Ai[6] * x + Ai[7] * y + Ai[8] * z;
      bg[p] = factor * (pixelFactor[p] as number) * ((iso[p] as number) * diffuseModulation(m.diffuse, hh, kk, ll) + (ring[p] as number));
    }
    const spots = this.drawSpots(A, factor * eu.photonsPerEu);

    const uB = mulberry32(mixSeed(spec.base.seed, 0x5b1, i));
    const uD = mulberry32(mixSeed(spec.base.seed, 0x5d1, i));
    const overload = Math.floor(spec.base.detector.trustedRange[1]);
    let braggPhotons = 0;
    for (let p = 0; p < this.pixels; p++) {
      const k = kind[p];
      if (k === PIXEL_GAP || k === PIXEL_BAD) {
        this.counts[p] = k === PIXEL_GAP ? -1 : -2;
        this.bragg[p] = 0;
        continue;
      }
      const e = be[p] as number;
      const b = e > 0 ? poisson(uB, e) : 0;
      this.bragg[p] = b;
      braggPhotons += b;
      this.counts[p] = Math.min(overload, b + poisson(uD, bg[p] as number));
    }
    return { index: i, A, scale, pOrder: pulseEnergy(spec, i), counts: this.counts, bragg: this.bragg, background: bg, braggExpected: be, spots, braggPhotons };
  }

  /** Adds every spot's expected counts to `braggExpected`; `k` = T·b·K. */
  private drawSpots(A: Mat3, k: number): StillSpot[] {
    const spec = this.spec;
    const frame = this.frame;
    const exp = frame.experiment;
    const s0 = s0Vector(exp.beam);
    const k0 = 1 / exp.beam.wavelength;
    const predictor = new StillPredictor({ ...exp, goniometer: undefined, scan: undefined, crystal: { A, unitCell: spec.base.crystal.unitCell, spaceGroupHall: ' P 1' } }, 'direct');
    const qLimit = Math.min(1 / spec.base.model.bragg.dmin, frame.qMax + 0.05);
    const real = inverse(A);
    const bound = (r: number): number => Math.ceil(Math.hypot(real[3 * r] as number, real[3 * r + 1] as number, real[3 * r + 2] as number) * qLimit);
    const [hm, km, lm] = [bound(0), bound(1), bound(2)];
    const n = spec.braggSubsamples;
    const w = this.width;
    const hgt = this.height;
    const v = frame.vectors;
    const spots: StillSpot[] = [];
    for (let H = -hm; H <= hm; H++) {
      for (let K = -km; K <= km; K++) {
        for (let L = -lm; L <= lm; L++) {
          const r = mulMV(A, [H, K, L]);
          const q = Math.hypot(r[0], r[1], r[2]);
          if (q > qLimit || q === 0) continue;
          const eps = Math.hypot(s0[0] + r[0], s0[1] + r[1], s0[2] + r[2]) - k0;
          const sigma = spotSigma(spec.spot, q);
          if (Math.abs(eps) > SPOT_SIGMAS * sigma) continue;
          const hit = predictor.predict(H, K, L);
          if (hit === undefined) continue;
          const f2 = structureFactorSquared(spec.base, this.gStar, H, K, L);
          if (!(f2 > 0)) continue;
          const cx = Math.min(w - 1, Math.floor(hit.x));
          const cy = Math.min(hgt - 1, Math.floor(hit.y));
          const c = cy * w + cx;
          const cn = cx + 1 < w ? c + 1 : c - 1;
          const dq = Math.hypot((v[3 * cn] as number) - (v[3 * c] as number), (v[3 * cn + 1] as number) - (v[3 * c + 1] as number), (v[3 * cn + 2] as number) - (v[3 * c + 2] as number));
          const half = Math.ceil((SPOT_SIGMAS * sigma) / dq) + 1;
          const x0 = Math.max(0, cx - half);
          const x1 = Math.min(w, cx + half + 1);
          const y0 = Math.max(0, cy - half);
          const y1 = Math.min(hgt, cy + half + 1);
          const peak = (k * f2) / (this.cellVolume * (2 * Math.PI) ** 1.5 * sigma * sigma * sigma);
          const inv2s2 = 1 / (2 * sigma * sigma);
          let total = 0;
          let sx = 0;
          let sy = 0;
          for (let py = y0; py < y1; py++) {
            for (let px = x0; px < x1; px++) {
              const p = py * w + px;
              if (frame.kind[p] !== PIXEL_NORMAL) continue;
              let sum = 0;
              for (let b = 0; b < n; b++) {
                for (let a = 0; a < n; a++) {
                  const qs = scatteringVector(labPosition(this.panel, px + (a + 0.5) / n, py + (b + 0.5) / n), s0, exp.beam.wavelength);
                  const d2 = (qs[0] - r[0]) ** 2 + (qs[1] - r[1]) ** 2 + (qs[2] - r[2]) ** 2;
                  sum += Math.exp(-d2 * inv2s2);
                }
              }
              const e = ((peak * sum) / (n * n)) * (frame.pixelFactor[p] as number);
              this.braggExpected[p] = (this.braggExpected[p] as number) + e;
              total += e;
              sx += e * (px + 0.5);
              sy += e * (py + 0.5);
            }
          }
          spots.push({
            h: H,
            k: K,
            l: L,
            x: hit.x,
            y: hit.y,
            epsilon: eps,
            q,
            sigma,
            partiality: Math.exp(-eps * eps * inv2s2),
            f2,
            expected: total,
            xObs: total > 0 ? sx / total : hit.x,
            yObs: total > 0 ? sy / total : hit.y,
            window: [x0, x1, y0, y1],
          });
        }
      }
    }
    return spots;
  }
}
