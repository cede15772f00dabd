/**
 * A small still renderer for mask tests: Gaussian Bragg spots at every
 * reciprocal-lattice point near the Ewald sphere, on a flat + smooth background,
 * with Poisson noise, the Bragg and background photons drawn apart so a test
 * knows how many Bragg photons each pixel holds.
 *
 * A lattice point r with intensity I puts I·exp(−|q − r|²/(2σ²)) photons
 * (expected) in the pixel whose centre has scattering vector q: a 3D Gaussian
 * spot model of width σ sliced by the Ewald sphere (σ = R/2.6, CrystFEL's
 * Gaussian convention, for a spot model of radius R). Lattice points farther
 * than 8σ from a pixel add nothing. Spot intensities are exponential
 * (Wilson-like) with mean `meanPeak`.
 */
import type { Mat3 } from '../../src/geometry/model.ts';
import { inverse, mulMM, rotationAbout } from '../../src/geometry/linalg.ts';
import { detectorPixelVectors } from '../../src/geometry/pixel-vectors.ts';
import type { StillShot } from '../../src/stills/model.ts';
import { hashUniform, mulberry32, poisson } from '../../src/util/random.ts';

export interface RenderedStill {
  /** total photons per pixel (Bragg + background) */
  pixels: Int32Array;
  /** Bragg photons per pixel */
  bragg: Int32Array;
}

/** A random rotation (uniform on SO(3), from a random unit quaternion) applied to A. */
export function randomlyOriented(A: Mat3, seed: number): Mat3 {
  const u = mulberry32(seed);
  const [a, b, c] = [u(), u(), u()];
  const q = [Math.sqrt(1 - a) * Math.sin(2 * Math.PI * b), Math.sqrt(1 - a) * Math.cos(2 * Math.PI * b), Math.sqrt(a) * Math.sin(2 * Math.PI * c), Math.sqrt(a) * Math.cos(2 * Math.PI * c)] as const;
  const angle = 2 * Math.acos(Math.min(1, Math.abs(q[3])));
  const s = Math.sin(angle / 2) || 1;
  const sign = q[3] < 0 ? -1 : 1;
  return mulMM(rotationAbout([(sign * q[0]) / s, (sign * q[1]) / s, (sign * q[2]) / s], angle), A);
}

export function renderStill(shot: StillShot, opts: { sigma: number; meanPeak: number; background: number; seed: number }): RenderedStill {
  const exp = shot.experiment;
  if (exp.crystal === undefined) throw new Error('no crystal');
  const A = exp.crystal.A;
  const Ai = inverse(A);
  const { vectors } = detectorPixelVectors(exp.detector, exp.beam);
  const n = vectors.length / 3;
  const width = exp.detector.panels[0]?.imageSize[0] ?? 1;
  const u = mulberry32(opts.seed);
  const pixels = new Int32Array(n);
  const bragg = new Int32Array(n);
  const s2 = 2 * opts.sigma * opts.sigma;
  const cut2 = 64 * opts.sigma * opts.sigma;
  for (let i = 0; i < n; i++) {
    const q = [vectors[3 * i] as number, vectors[3 * i + 1] as number, vectors[3 * i + 2] as number] as const;
    const f = [Ai[0] * q[0] + Ai[1] * q[1] + Ai[2] * q[2], Ai[3] * q[0] + Ai[4] * q[1] + Ai[5] * q[2], Ai[6] * q[0] + Ai[7] * q[1] + Ai[8] * q[2]] as const;
    let expected = 0;
    // the lattice points of the hkl cell's corners and their neighbours
    for (let dh = -1; dh <= 2; dh++) {
      for (let dk = -1; dk <= 2; dk++) {
        for (let dl = -1; dl <= 2; dl++) {
          const H = Math.floor(f[0]) + dh;
          const K = Math.floor(f[1]) + dk;
          const L = Math.floor(f[2]) + dl;
          const x = A[0] * H + A[1] * K + A[2] * L - q[0];
          const y = A[3] * H + A[4] * K + A[5] * L - q[1];
          const z = A[6] * H + A[7] * K + A[8] * L - q[2];
          const d2 = x * x + y * y + z * z;
          if (d2 > cut2) continue;
          const I = -Math.log(1 - hashUniform(opts.seed, H, K, L)) * opts.meanPeak;
          expected += I * Math.exp(-d2 / s2);
        }
      }
    }
    const b = expected > 0 ? poisson(u, expected) : 0;
    const fx = (i % width) / width;
    const fy = Math.floor(i / width) / width;
    const bg = opts.background * (1 + 0.5 * Math.sin(3 * fx) * Math.cos(2 * fy));
    bragg[i] = b;
    pixels[i] = b + poisson(u, bg);
  }
  return { pixels, bragg };
}
