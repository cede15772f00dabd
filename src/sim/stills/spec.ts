/**
 * The spec of a simulated serial (stills) dataset: one crystal form, N shots,
 * each a fresh random orientation, on the rotation simulator's detector, beam
 * and electron-unit intensity model (src/sim/spec.ts, physics.ts,
 * electron-units.ts), plus what is particular to stills:
 *
 * - **spot model** (Sauter, as DIALS stills write it): mosaic domain size D (Å)
 *   and half mosaicity η (°); the lattice point of H is an isotropic 3D
 *   Gaussian of σ = R/2.6 with R = 1/D + |q_H|·η (src/stills/partiality.ts,
 *   Gaussian model), so a spot's partiality is P = exp(−ε²/(2σ²)), ε its
 *   excitation error;
 * - **pulse energy** p_i (mJ), the p_order of the shot: a smooth drift with the
 *   shot index plus a uniform spread,
 *   p_i = mean · (1 + amplitude · sin(2π (i + ½)/periodShots + phase) + spread · (u_i − ½));
 * - **per-shot scale** b_i = (p_i/mean)^exponent · (1 + jitter · z_i), z_i ~ N(0, 1):
 *   smooth in p_order, plus jitter.
 *
 * Every random part (orientations, pulse energies, jitter, Bragg E², noise) is
 * a hash of the seed and the shot index, so a spec fully determines the output.
 */
import { InvalidValueError } from '../../errors.ts';
import { mulMM } from '../../geometry/linalg.ts';
import type { Mat3 } from '../../geometry/model.ts';
import { GAUSSIAN_RADIUS_IN_SIGMAS } from '../../stills/partiality.ts';
import { mixSeed, mulberry32, normal } from '../../util/random.ts';
import { electronUnitSpec, randomRotation, settingMatrix, type SimulationSpec, validateSpec } from '../spec.ts';

export interface StillsSpotModel {
  /** Å: ML_domain_size_ang */
  domainSizeA: number;
  /** degrees: ML_half_mosaicity_deg */
  halfMosaicityDeg: number;
}

export interface StillsPulseModel {
  /** mJ */
  mean: number;
  /** relative amplitude of the smooth drift */
  amplitude: number;
  /** shots per period of the drift */
  periodShots: number;
  phaseDeg: number;
  /** full width of the uniform shot-to-shot spread, relative */
  spread: number;
}

export interface StillsSimSpec {
  /**
   * The crystal form (cell, space group; its U is not used), beam, detector and
   * intensity model (electron units) shared by all shots; `scan.exposure` is the
   * exposure of one shot. The scan's other fields, the goniometer, frameScale and
   * truth.ndiv are not used.
   */
  base: SimulationSpec;
  shots: number;
  spot: StillsSpotModel;
  pulse: StillsPulseModel;
  /** b_i = (p_i/mean)^exponent · (1 + jitter · z_i) */
  scale: { exponent: number; jitter: number };
  /** sub-samples per pixel side over which the Bragg term is averaged (spots are smaller than a pixel) */
  braggSubsamples: number;
}

const DEG = Math.PI / 180;

/**
 * The default stills spec: `shots` shots of `size` × `size` pixels (2 × 2
 * modules with gap stripes), the electron-unit crystal of the rotation
 * simulator (P 2 2 2, 38.2 × 45.6 × 52.3 Å), 2.5 Å at the panel edges.
 */
export function stillsSpec(opts: { shots?: number; size?: number; seed?: number } = {}): StillsSimSpec {
  const shots = opts.shots ?? 500;
  const size = opts.size ?? 256;
  const seed = opts.seed ?? 1;
  if (!(Number.isInteger(size) && size >= 64 && size <= 2048 && size % 2 === 0)) {
    throw new InvalidValueError(`the panel size must be an even integer in 64…2048, got ${size}`, { field: 'size' });
  }
  const base = electronUnitSpec('small', seed);
  const gapX = 6;
  const gapY = 10;
  const pixelSize = 0.172;
  const halfWidthMm = (size * pixelSize) / 2;
  const edgeResolution = 2.5;
  const distance = Math.round((halfWidthMm / Math.tan(2 * Math.asin(base.beam.wavelength / (2 * edgeResolution)))) * 10) / 10;
  const spec: SimulationSpec = {
    ...base,
    prefix: 'still',
    detector: {
      ...base.detector,
      distance,
      pixelSize,
      modules: { nx: 2, ny: 2, moduleWidth: (size - gapX) / 2, moduleHeight: (size - gapY) / 2, gapX, gapY },
      beamCentre: [Math.round(0.48 * size) + 0.3, Math.round(0.53 * size) + 0.7],
      badPixels: [],
    },
    crystal: { ...base.crystal, domainSize: 2000, mosaicityDeg: 0.03 },
    // one exposure per shot; the scan's angles are not used
    scan: { frames: 1, startDeg: 0, widthDeg: 1, exposure: 1, subSteps: 1 },
    model: {
      ...base.model,
      frameScale: { amplitude: 0, periodFrames: 1, phaseDeg: 0 },
      absorption: { gradient: [0, 0], radial: 0 },
      offset: 0,
      electronUnits: base.model.electronUnits === undefined ? undefined : { ...base.model.electronUnits, photonsPerEu: 1.0e-3 },
    },
    truth: { ndiv: [1, 1, 1] },
  };
  return {
    base: spec,
    shots,
    spot: { domainSizeA: spec.crystal.domainSize, halfMosaicityDeg: spec.crystal.mosaicityDeg },
    pulse: { mean: 2.0, amplitude: 0.12, periodShots: Math.max(20, Math.round(shots * 0.7)), phaseDeg: 20, spread: 0.1 },
    scale: { exponent: 1, jitter: 0.03 },
    braggSubsamples: 12,
  };
}

/** B (the setting matrix of U = I) of the crystal form: A = U_i·B for shot i. */
export function stillsB(spec: StillsSimSpec): Mat3 {
  return settingMatrix({ ...spec.base.crystal, U: [1, 0, 0, 0, 1, 0, 0, 0, 1] });
}

/** U of shot `i`: uniform on SO(3), from the seed and the shot index. */
export function shotOrientation(spec: StillsSimSpec, i: number): Mat3 {
  return randomRotation(mulberry32(mixSeed(spec.base.seed, 0x5701, i)));
}

/** A = U_i·B of shot `i`. */
export function shotSettingMatrix(spec: StillsSimSpec, i: number): Mat3 {
  return mulMM(shotOrientation(spec, i), stillsB(spec));
}

/** The pulse energy (mJ; the shot's p_order) of shot `i`. */
export function pulseEnergy(spec: StillsSimSpec, i: number): number {
  const p = spec.pulse;
  const u = mulberry32(mixSeed(spec.base.seed, 0x9e15, i))();
  return p.mean * (1 + p.amplitude * Math.sin((2 * Math.PI * (i + 0.5)) / p.periodShots + p.phaseDeg * DEG) + p.spread * (u - 0.5));
}

/** The true scale b_i of shot `i` (multiplies the shot's expected counts). */
export function shotScale(spec: StillsSimSpec, i: number): number {
  const z = normal(mulberry32(mixSeed(spec.base.seed, 0x5ca1, i)));
  return (pulseEnergy(spec, i) / spec.pulse.mean) ** spec.scale.exponent * (1 + spec.scale.jitter * z);
}

/** σ (Å⁻¹) of the lattice point at |q| under the spot model: R/2.6 with R = 1/D + |q|·η. */
export function spotSigma(spot: StillsSpotModel, q: number): number {
  return (1 / spot.domainSizeA + q * spot.halfMosaicityDeg * DEG) / GAUSSIAN_RADIUS_IN_SIGMAS;
}

/** The file name of shot `i` (0-based). */
export function shotFileName(spec: StillsSimSpec, i: number): string {
  return `${spec.base.prefix}_${String(i + 1).padStart(6, '0')}.cbf`;
}

function check(ok: boolean, field: string, message: string): void {
  if (!ok) throw new InvalidValueError(message, { field });
}

/** Refuses specs the simulator cannot honour (InvalidValueError naming the field). */
export function validateStillsSpec(spec: StillsSimSpec): void {
  validateSpec(spec.base);
  check(spec.base.model.electronUnits !== undefined, 'base.model.electronUnits', 'the stills simulator needs an electron-unit model (absolute scale truth)');
  check(Number.isSafeInteger(spec.shots) && spec.shots >= 1 && spec.shots <= 999999, 'shots', `shots must be an integer in 1…999999, got ${spec.shots}`);
  const s = spec.spot;
  check(Number.isFinite(s.domainSizeA) && s.domainSizeA > 0, 'spot.domainSizeA', 'domain size must be positive');
  check(Number.isFinite(s.halfMosaicityDeg) && s.halfMosaicityDeg >= 0, 'spot.halfMosaicityDeg', 'half mosaicity must be ≥ 0');
  const p = spec.pulse;
  check([p.mean, p.periodShots].every((v) => Number.isFinite(v) && v > 0), 'pulse', 'pulse mean and period must be positive');
  check([p.amplitude, p.spread, p.phaseDeg].every(Number.isFinite) && Math.abs(p.amplitude) + Math.abs(p.spread) / 2 < 1, 'pulse', 'pulse energies must stay positive: |amplitude| + |spread|/2 < 1');
  check(Number.isFinite(spec.scale.exponent) && Number.isFinite(spec.scale.jitter) && spec.scale.jitter >= 0 && spec.scale.jitter < 0.2, 'scale', 'scale exponent must be finite, jitter in [0, 0.2)');
  check(Number.isInteger(spec.braggSubsamples) && spec.braggSubsamples >= 1 && spec.braggSubsamples <= 64, 'braggSubsamples', 'Bragg sub-samples must be an integer in 1…64');
}
