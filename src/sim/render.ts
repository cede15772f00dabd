/**
 * Per-frame expected counts and their Poisson draw (the formulas are in
 * physics.ts). What depends only on the pixel (s1 − s0, q, the isotropic
 * diffuse and ring terms, a·g) is computed once; a frame then costs, per pixel
 * and rotation sub-step, one 3×3 product for h (the hkl-map arithmetic: f64
 * products of the f32 scattering vectors from `detectorPixelVectors`), three
 * cosines, and a Gaussian for pixels near a lattice point.
 */
import { invariant } from '../errors.ts';
import { inverse } from '../geometry/linalg.ts';
import type { Experiment, Mat3 } from '../geometry/model.ts';
import { detectorPixelVectors } from '../geometry/pixel-vectors.ts';
import { labPosition } from '../geometry/pxmm.ts';
import { hklMatrixAtAngle, labSettingMatrixAtAngle } from '../geometry/setting.ts';
import { mixSeed, mulberry32, poisson } from '../util/random.ts';
import {
  absorptionFactor,
  airExponent,
  braggIntensity,
  diffuseIsotropic,
  frameScale,
  geometryFactor,
  radialOf,
  ringIntensity,
  spotWidths,
} from './physics.ts';
import { braggFraction, sensorEfficiency } from './electron-units.ts';
import { cross, dot, normalize } from '../geometry/linalg.ts';
import { buildExperiment, gapMask, panelSize, reciprocalMetric, type SimulationSpec } from './spec.ts';

/** Pixel kinds in `FrameRenderer.kind`. */
export const PIXEL_NORMAL = 0;
export const PIXEL_GAP = 1;
export const PIXEL_BAD = 2;

/** Optional per-part outputs of `FrameRenderer.expected` (counts, with all factors applied). */
export interface ExpectedParts {
  /** the Bragg term alone: T·b·a·g·(1/S)Σ bragg */
  bragg?: Float64Array;
  /** the diffuse term alone: T·b·a·g·(1/S)Σ diffuse */
  diffuse?: Float64Array;
}

export class FrameRenderer {
  readonly spec: SimulationSpec;
  readonly experiment: Experiment;
  readonly width: number;
  readonly height: number;
  readonly pixels: number;
  /** PIXEL_NORMAL / PIXEL_GAP / PIXEL_BAD per pixel, row-major */
  readonly kind: Uint8Array;
  /** s1 − s0 per pixel centre, 3 f32 each */
  readonly vectors: Float32Array;
  /** a(x, y) · g(x, y) · t(x, y) per pixel (t the air transmission) */
  readonly pixelFactor: Float64Array;
  /** the largest q = |s1 − s0| on the panel (Å⁻¹) */
  readonly qMax: number;
  /** the isotropic diffuse term per pixel (photons/s/pixel before a·g·t and the modulation; electron units: K·C(s)(1 − β(s))) */
  readonly iso: Float64Array;
  /** the ring term per pixel (photons/s/pixel; electron units: the Compton scattering K·Σ n S(s)) */
  readonly ring: Float64Array;
  private readonly gStar: Mat3;
  /** I_H on the index box |h| ≤ hm, |k| ≤ km, |l| ≤ lm (null when the box would be too large) */
  private readonly braggTable: { data: Float64Array; hm: number; km: number; lm: number } | null;

  constructor(spec: SimulationSpec, experiment: Experiment = buildExperiment(spec)) {
    this.spec = spec;
    this.experiment = experiment;
    const panel = experiment.detector.panels[0];
    invariant(panel !== undefined && experiment.detector.panels.length === 1, 'simulated detector has one panel');
    const [w, h] = panelSize(spec.detector);
    invariant(panel.imageSize[0] === w && panel.imageSize[1] === h, 'panel size matches the spec');
    this.width = w;
    this.height = h;
    this.pixels = w * h;
    this.kind = gapMask(spec.detector);
    for (const [x, y] of spec.detector.badPixels) this.kind[y * w + x] = PIXEL_BAD;
    this.vectors = detectorPixelVectors(experiment.detector, experiment.beam).vectors;
    invariant(experiment.crystal !== undefined, 'simulated experiment has a crystal');
    this.gStar = reciprocalMetric(experiment.crystal.A);
    this.pixelFactor = new Float64Array(this.pixels);
    this.iso = new Float64Array(this.pixels);
    this.ring = new Float64Array(this.pixels);
    const m = spec.model;
    const eu = m.electronUnits;
    const radial = eu === undefined ? null : radialOf(spec, this.gStar);
    const normal = normalize(cross(panel.fastAxis, panel.slowAxis));
    const muAir = airExponent(spec);
    let q2max = 0;
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const i = y * w + x;
        const dx = this.vectors[3 * i] as number;
        const dy = this.vectors[3 * i + 1] as number;
        const dz = this.vectors[3 * i + 2] as number;
        const q2 = dx * dx + dy * dy + dz * dz;
        if (q2 > q2max) q2max = q2;
        let f = absorptionFactor(m.absorption, x, y, w, h);
        if (muAir > 0) {
          const p = labPosition(panel, x + 0.5, y + 0.5);
          f *= Math.exp(-muAir * Math.hypot(p[0], p[1], p[2]));
        }
        if (m.geometryFactors) {
          f *= geometryFactor(panel, labPosition(panel, x + 0.5, y + 0.5), experiment.beam.direction, experiment.beam.polarizationNormal, experiment.beam.polarizationFraction);
        }
        if (eu !== undefined && radial !== null) {
          // electron units: K·C(s)(1 − β(s)) diffuse, K·Σ n S(s) Compton (in the ring's slot), sensor efficiency in g
          const s = Math.sqrt(q2);
          const p = labPosition(panel, x + 0.5, y + 0.5);
          const cosOmega = dot(normalize(p), normal);
          f *= sensorEfficiency(eu.sensorMu, panel.thickness, cosOmega);
          this.iso[i] = eu.photonsPerEu * radial.coherent(s) * (1 - braggFraction(m.bragg.wilsonB, s));
          this.ring[i] = eu.photonsPerEu * radial.compton(s);
        } else {
          this.iso[i] = diffuseIsotropic(m.diffuse, q2);
          this.ring[i] = ringIntensity(m.ring, Math.sqrt(q2));
        }
        this.pixelFactor[i] = f;
      }
    }
    this.qMax = Math.sqrt(q2max);
    this.braggTable = FrameRenderer.tabulateBragg(spec, experiment.crystal.A, this.gStar);
  }

  /** I_H for every H within dmin, tabulated once (hot-loop lookups instead of a hash, a log and an exp). */
  private static tabulateBragg(spec: SimulationSpec, A: Mat3, gStar: Mat3): { data: Float64Array; hm: number; km: number; lm: number } | null {
    const real = inverse(A);
    const qMax = 1 / spec.model.bragg.dmin;
    const bound = (r: number): number => Math.ceil(Math.hypot(real[3 * r] as number, real[3 * r + 1] as number, real[3 * r + 2] as number) * qMax);
    const [hm, km, lm] = [bound(0), bound(1), bound(2)];
    const size = (2 * hm + 1) * (2 * km + 1) * (2 * lm + 1);
    if (!(size <= 1 << 24)) return null;
    const data = new Float64Array(size);
    let o = 0;
    for (let h = -hm; h <= hm; h++) {
      for (let k = -km; k <= km; k++) {
        for (let l = -lm; l <= lm; l++) data[o++] = braggIntensity(spec, gStar, h, k, l);
      }
    }
    return { data, hm, km, lm };
  }

  /** Rotation angles (degrees) of the sub-steps of frame `frame`. */
  subStepAngles(frame: number): number[] {
    const s = this.spec.scan;
    const start = s.startDeg + frame * s.widthDeg;
    return Array.from({ length: s.subSteps }, (_v, k) => start + ((k + 0.5) / s.subSteps) * s.widthDeg);
  }

  /**
   * Expected counts of frame `frame` (0-based) into `out` (length `pixels`);
   * gap and bad pixels get 0. `parts` receives the Bragg and diffuse terms alone.
   */
  expected(frame: number, out: Float64Array, parts: ExpectedParts = {}): void {
    invariant(out.length === this.pixels, 'expected: output length');
    const spec = this.spec;
    const m = spec.model;
    const S = spec.scan.subSteps;
    const angles = this.subStepAngles(frame);
    const inv: Mat3[] = angles.map((a) => hklMatrixAtAngle(this.experiment, a));
    const fwd: Mat3[] = angles.map((a) => labSettingMatrixAtAngle(this.experiment, a));
    const invFlat = new Float64Array(9 * S);
    const fwdFlat = new Float64Array(9 * S);
    inv.forEach((M, s) => invFlat.set(M, 9 * s));
    fwd.forEach((M, s) => fwdFlat.set(M, 9 * s));
    const scale = spec.scan.exposure * frameScale(m.frameScale, frame);
    const offset = m.offset;
    const [mh, mk, ml] = m.diffuse.modulation;
    const modulated = mh !== 0 || mk !== 0 || ml !== 0;
    const braggOn = m.bragg.scale > 0 || m.electronUnits !== undefined;
    const { sigmaRadial, eta } = spotWidths(spec);
    const sr2 = sigmaRadial * sigmaRadial;
    const eta2 = eta * eta;
    // beyond 6 σ a Bragg term is below e^-18 ≈ 1.5e-8 of its peak: skipped
    const qLimit = 1 / m.bragg.dmin;
    const cut2 = 36 * (sr2 + qLimit * qLimit * eta2);
    const table = this.braggTable;
    const gStar = this.gStar;
    const v = this.vectors;
    const kind = this.kind;
    const braggOut = parts.bragg;
    const diffuseOut = parts.diffuse;
    const PI = Math.PI;
    for (let i = 0; i < this.pixels; i++) {
      if (kind[i] !== PIXEL_NORMAL) {
        out[i] = 0;
        if (braggOut !== undefined) braggOut[i] = 0;
        if (diffuseOut !== undefined) diffuseOut[i] = 0;
        continue;
      }
      const x = v[3 * i] as number;
      const y = v[3 * i + 1] as number;
      const z = v[3 * i + 2] as number;
      let modSum = 0;
      let braggSum = 0;
      for (let s = 0; s < S; s++) {
        const b = 9 * s;
        const h = (invFlat[b] as number) * x + (invFlat[b + 1] as number) * y + (invFlat[b + 2] as number) * z;
        const k = (invFlat[b + 3] as number) * x + (invFlat[b + 4] as number) * y + (invFlat[b + 5] as number) * z;
        const l = (invFlat[b + 6] as number) * x + (invFlat[b + 7] as number) * y + (invFlat[b + 8] as number) * z;
        modSum += modulated ? 1 + mh * Math.cos(PI * h) + mk * Math.cos(PI * k) + ml * Math.cos(PI * l) : 1;
        if (!braggOn) continue;
        const H = Math.round(h);
        const K = Math.round(k);
        const L = Math.round(l);
        if (H === 0 && K === 0 && L === 0) continue;
        const eh = h - H;
        const ek = k - K;
        const el = l - L;
        const qx = (fwdFlat[b] as number) * eh + (fwdFlat[b + 1] as number) * ek + (fwdFlat[b + 2] as number) * el;
        const qy = (fwdFlat[b + 3] as number) * eh + (fwdFlat[b + 4] as number) * ek + (fwdFlat[b + 5] as number) * el;
        const qz = (fwdFlat[b + 6] as number) * eh + (fwdFlat[b + 7] as number) * ek + (fwdFlat[b + 8] as number) * el;
        const dq2 = qx * qx + qy * qy + qz * qz;
        if (dq2 > cut2) continue;
        // q_H = (s1 − s0) − δq: the lattice point's own vector at this angle
        const hx = x - qx;
        const hy = y - qy;
        const hz = z - qz;
        const qh2 = hx * hx + hy * hy + hz * hz;
        if (qh2 > qLimit * qLimit) continue;
        const rDot = qx * hx + qy * hy + qz * hz;
        const r2 = qh2 > 0 ? (rDot * rDot) / qh2 : 0;
        const t2 = Math.max(0, dq2 - r2);
        const st2 = sr2 + qh2 * eta2;
        const e = r2 / sr2 + t2 / st2;
        if (e > 36) continue;
        let I: number;
        if (table !== null && Math.abs(H) <= table.hm && Math.abs(K) <= table.km && Math.abs(L) <= table.lm) {
          I = table.data[((H + table.hm) * (2 * table.km + 1) + (K + table.km)) * (2 * table.lm + 1) + (L + table.lm)] as number;
        } else {
          I = braggIntensity(spec, gStar, H, K, L);
        }
        braggSum += I * Math.exp(-0.5 * e);
      }
      const f = scale * (this.pixelFactor[i] as number);
      const diffuse = f * ((this.iso[i] as number) * modSum) / S;
      const bragg = (f * braggSum) / S;
      out[i] = diffuse + f * (this.ring[i] as number) + bragg + offset;
      if (braggOut !== undefined) braggOut[i] = bragg;
      if (diffuseOut !== undefined) diffuseOut[i] = diffuse;
    }
  }

  /**
   * Poisson counts for frame `frame` from its expected values into `out`: gap
   * pixels −1, bad pixels −2, counts clipped at the overload value. The random
   * stream is seeded per frame (seed, frame), so frames are independent and
   * reproducible.
   */
  sample(frame: number, expected: Float64Array, out: Int32Array): void {
    invariant(expected.length === this.pixels && out.length === this.pixels, 'sample: lengths');
    const u = mulberry32(mixSeed(this.spec.seed, 0x9015, frame));
    const overload = Math.floor(this.spec.detector.trustedRange[1]);
    const kind = this.kind;
    for (let i = 0; i < this.pixels; i++) {
      const k = kind[i];
      if (k === PIXEL_GAP) out[i] = -1;
      else if (k === PIXEL_BAD) out[i] = -2;
      else out[i] = Math.min(overload, poisson(u, expected[i] as number));
    }
  }
}
