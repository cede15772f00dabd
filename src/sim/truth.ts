/**
 * The ground truth of a simulation (format documented in docs/simulate.md):
 * the diffuse intensity on a fractional-hkl grid, the absorption map, the
 * predicted Bragg reflections and `truth.json` describing them.
 */
import { inverse } from '../geometry/linalg.ts';
import type { Mat3 } from '../geometry/model.ts';
import { absorptionFactor, airExponent, airPathOf, braggIntensity, diffuseTruthValue, frameScale, qSquared, radialOf } from './physics.ts';
import type { PredictedReflection } from './predict.ts';
import { HALL_SYMBOLS, panelSize, reciprocalMetric, type SimulationSpec } from './spec.ts';

export const TRUTH_FORMAT = 'diffract-simulation-truth';
export const TRUTH_VERSION = 1;
export const TRUTH_FILES = {
  json: 'truth.json',
  diffuse: 'truth_diffuse.npy',
  absorption: 'truth_absorption.npy',
  reflections: 'truth_reflections.json',
} as const;

/** The fractional-hkl grid of the diffuse truth: point [i, j, k] is h = origin + (i, j, k) / ndiv. */
export interface TruthGrid {
  /** fractional hkl of point [0, 0, 0] (integers: −H, −K, −L) */
  origin: readonly [number, number, number];
  ndiv: readonly [number, number, number];
  /** (nh, nk, nl) */
  shape: readonly [number, number, number];
}

/** The grid covering every hkl the panel can record: |h_i| ≤ |a_i| · q_max, rounded up to integers. */
export function truthGridFor(spec: SimulationSpec, A: Mat3, qMax: number): TruthGrid {
  const real = inverse(A);
  const bound = (r: number): number => Math.ceil(Math.hypot(real[3 * r] as number, real[3 * r + 1] as number, real[3 * r + 2] as number) * qMax);
  const H: [number, number, number] = [bound(0), bound(1), bound(2)];
  const nd = spec.truth.ndiv;
  return {
    origin: [-H[0], -H[1], -H[2]],
    ndiv: [nd[0], nd[1], nd[2]],
    shape: [2 * H[0] * nd[0] + 1, 2 * H[1] * nd[1] + 1, 2 * H[2] * nd[2] + 1],
  };
}

/** Fractional hkl of grid point (i, j, k). */
export function gridPoint(grid: TruthGrid, i: number, j: number, k: number): [number, number, number] {
  return [grid.origin[0] + i / grid.ndiv[0], grid.origin[1] + j / grid.ndiv[1], grid.origin[2] + k / grid.ndiv[2]];
}

/** diffuse(h) at every grid point, f32, C order (l fastest). */
export function diffuseTruth(spec: SimulationSpec, A: Mat3, grid: TruthGrid): Float32Array {
  const gStar = reciprocalMetric(A);
  const [nh, nk, nl] = grid.shape;
  const out = new Float32Array(nh * nk * nl);
  let o = 0;
  for (let i = 0; i < nh; i++) {
    for (let j = 0; j < nk; j++) {
      for (let k = 0; k < nl; k++) {
        const [h, kk, l] = gridPoint(grid, i, j, k);
        out[o++] = diffuseTruthValue(spec, gStar, h, kk, l);
      }
    }
  }
  return out;
}

/** a(x, y) for every pixel, f32, shape (height, width). */
export function absorptionTruth(spec: SimulationSpec): Float32Array {
  const [w, h] = panelSize(spec.detector);
  const out = new Float32Array(w * h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) out[y * w + x] = absorptionFactor(spec.model.absorption, x, y, w, h);
  }
  return out;
}

/** Lattice points H ≠ 0 within dmin, and their mean I_H. */
export function braggSummary(spec: SimulationSpec, A: Mat3): { latticePoints: number; meanIntensity: number; maxIntensity: number } {
  const gStar = reciprocalMetric(A);
  const real = inverse(A);
  const qMax = 1 / spec.model.bragg.dmin;
  const bound = (r: number): number => Math.ceil(Math.hypot(real[3 * r] as number, real[3 * r + 1] as number, real[3 * r + 2] as number) * qMax);
  const [hm, km, lm] = [bound(0), bound(1), bound(2)];
  let n = 0;
  let sum = 0;
  let max = 0;
  for (let h = -hm; h <= hm; h++) {
    for (let k = -km; k <= km; k++) {
      for (let l = -lm; l <= lm; l++) {
        const q2 = qSquared(gStar, h, k, l);
        if (q2 === 0 || q2 > qMax * qMax) continue;
        const I = braggIntensity(spec, gStar, h, k, l);
        n++;
        sum += I;
        if (I > max) max = I;
      }
    }
  }
  return { latticePoints: n, meanIntensity: n > 0 ? sum / n : 0, maxIntensity: max };
}

/** The predicted reflections as columns (the `truth_reflections.json` layout). */
export function reflectionColumns(refl: readonly PredictedReflection[]): Record<string, number[]> {
  const cols: Record<string, number[]> = { h: [], k: [], l: [], intensity: [], q: [], x: [], y: [], z: [], phi: [] };
  for (const r of refl) {
    cols.h?.push(r.h);
    cols.k?.push(r.k);
    cols.l?.push(r.l);
    cols.intensity?.push(r.intensity);
    cols.q?.push(r.q);
    cols.x?.push(r.x);
    cols.y?.push(r.y);
    cols.z?.push(r.z);
    cols.phi?.push(r.phi);
  }
  return cols;
}

export interface TruthInputs {
  spec: SimulationSpec;
  A: Mat3;
  grid: TruthGrid;
  expt: string;
  template: string;
  frameFiles: readonly string[];
  frameHashes: readonly string[];
  predicted: number;
  panel: { width: number; height: number };
}

/** The `truth.json` object. */
export function truthDocument(t: TruthInputs): Record<string, unknown> {
  const { spec, grid } = t;
  const m = spec.model;
  const cell = spec.crystal.unitCell;
  const summary = braggSummary(spec, t.A);
  const eu = m.electronUnits;
  const radial = eu === undefined ? null : radialOf(spec, reciprocalMetric(t.A));
  const px = spec.detector.pixelSize;
  const electronUnits =
    eu === undefined || radial === null
      ? null
      : {
          ...eu,
          electrons: radial.electrons,
          cellVolume: radial.cellVolume,
          holeStart: radial.holeStart,
          forwardTerm: (radial.electrons * radial.electrons) / radial.cellVolume,
          diffuseFormula: 'C(s) (1 − β(s)) M(h), C = Σnf² (1 − w(s)), β = exp(−B s²/2) (src/sim/electron-units.ts)',
          // corrected intensity counts/(T·Σκ) (κ = Ω(sr)·P·efficiency) = K·b·a·I_eu·D²/px² (g/κ = D²/px²)
          correctedPerEu: (eu.photonsPerEu * spec.detector.distance * spec.detector.distance) / (px * px),
        };
  return {
    format: TRUTH_FORMAT,
    version: TRUTH_VERSION,
    seed: spec.seed,
    expt: t.expt,
    template: t.template,
    frames: {
      count: spec.scan.frames,
      files: t.frameFiles,
      sha256: t.frameHashes,
      sha256Of: 'the decoded pixels as little-endian int32, row-major (index = y·width + x)',
    },
    panel: { width: t.panel.width, height: t.panel.height },
    expectedCounts:
      'E = T · b(frame) · a(x, y) · g(x, y) · (1/S) Σ_s [diffuse(h_s) + ring(q) + bragg(h_s)] + c; counts = min(Poisson(E), overload); gaps −1, bad pixels −2',
    exposure: spec.scan.exposure,
    subSteps: spec.scan.subSteps,
    cell: { ...cell },
    spaceGroup: spec.crystal.spaceGroup,
    spaceGroupHall: HALL_SYMBOLS[spec.crystal.spaceGroup],
    A: [...t.A],
    U: [...spec.crystal.U],
    diffuse: {
      file: TRUTH_FILES.diffuse,
      dtype: '<f4',
      axes: ['h', 'k', 'l'],
      order: 'C (l varies fastest)',
      shape: [...grid.shape],
      origin: [...grid.origin],
      ndiv: [...grid.ndiv],
      step: grid.ndiv.map((n) => 1 / n),
      point: 'value [i, j, k] is diffuse(h) at h = origin + (i/ndiv_h, j/ndiv_k, k/ndiv_l)',
      units: eu === undefined ? 'photons per second per pixel, before T, b, a, g' : 'electron units per unit cell (before K, T, b, a, g)',
      formula:
        eu === undefined
          ? 'scale · (floor + (q/q0)²) · exp(−(q/q0)²) · (1 + m_h cos πh + m_k cos πk + m_l cos πl), q = |A·h| (Å⁻¹)'
          : 'C(s) (1 − exp(−B s²/2)) · (1 + m_h cos πh + m_k cos πk + m_l cos πl), s = |A·h| (Å⁻¹)',
      parameters: m.diffuse,
    },
    ring: { formula: 'scale · exp(−½ ((q − centre)/sigma)²), q in Å⁻¹', units: 'photons per second per pixel', parameters: m.ring },
    bragg: {
      formula: 'I_H · exp(−½ (r²/σ_r² + t²/σ_t²)) around the nearest lattice point H ≠ 0 (see docs/simulate.md)',
      intensity: 'I_H = scale · exp(−B q_H²/2) · E², E² = −ln u, u = hashUniform(seed, 0xb7a6, canonical H); 0 beyond dmin',
      parameters: m.bragg,
      mosaicityDeg: spec.crystal.mosaicityDeg,
      divergenceDeg: spec.beam.divergenceDeg,
      domainSize: spec.crystal.domainSize,
      latticePointsWithinDmin: summary.latticePoints,
      meanIntensity: summary.meanIntensity,
      maxIntensity: summary.maxIntensity,
      predicted: t.predicted,
      reflectionsFile: TRUTH_FILES.reflections,
    },
    frameScale: {
      formula: 'b(i) = 1 + amplitude · sin(2π (i + ½)/periodFrames + phaseDeg°), i the 0-based frame',
      parameters: m.frameScale,
      perFrame: Array.from({ length: spec.scan.frames }, (_v, i) => frameScale(m.frameScale, i)),
    },
    absorption: {
      formula: 'a(x, y) = 1 + gradient[0]·u + gradient[1]·v + radial·(u² + v²), u = (x+½)/width − ½, v = (y+½)/height − ½',
      parameters: m.absorption,
      file: TRUTH_FILES.absorption,
      dtype: '<f4',
      shape: [t.panel.height, t.panel.width],
    },
    geometryFactors: {
      applied: m.geometryFactors,
      formula: 'g = P · (D/r)³, P = p (1 − (ŝ1·e)²) + (1 − p)(1 − (ŝ1·n)²), e = unit(n × beam direction)',
    },
    air: {
      pathFraction: airPathOf(m),
      formula: 't = exp(−μ_air · pathFraction · r), r the sample–pixel-centre distance (mm), μ_air the total attenuation of dry air (src/corrections/attenuation.ts)',
      muTimesFractionPerMm: airExponent(spec),
    },
    offset: m.offset,
    electronUnits,
    spec,
  };
}
