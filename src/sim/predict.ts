/**
 * Bragg prediction for the simulated scan: for every lattice point H within
 * dmin, the rotation angles at which it crosses the Ewald sphere and where its
 * diffracted ray meets the panel.
 *
 * With q₀ = F·A·H (before the scan rotation), e the unit rotation axis and
 * s = Sᵀ·s0 (s0 brought back through the setting rotation), H diffracts when
 * |s0 + S·R(φ)·q₀| = |s0|, i.e. 2 s·R(φ)q₀ + |q₀|² = 0. Writing
 * R(φ)q₀ = q∥ + cos φ q⊥ + sin φ (e × q₀):
 *
 *     α cos φ + β sin φ = γ,   α = s·q⊥,  β = s·(e × q₀),  γ = −|q₀|²/2 − s·q∥
 *
 * whose solutions are φ = atan2(β, α) ± acos(γ/ρ), ρ = sqrt(α² + β²) (none
 * when |γ| > ρ: the point never meets the sphere, e.g. in the blind region).
 * The ray s1 = s0 + S·R(φ)·q₀ meets the panel plane at
 * p = s1 · (origin·n)/(s1·n), n the panel normal.
 */
import { add, cross, dot, inverse, mulMV, normalize, rotationAbout, scale, sub, transpose } from '../geometry/linalg.ts';
import type { Experiment, Mat3, Vec3 } from '../geometry/model.ts';
import { mmToPixel } from '../geometry/pxmm.ts';
import { s0Vector } from '../geometry/setting.ts';
import { braggIntensity } from './physics.ts';
import { reciprocalMetric, type SimulationSpec } from './spec.ts';

const DEG = Math.PI / 180;

export interface PredictedReflection {
  h: number;
  k: number;
  l: number;
  /** I_H (photons/s/pixel at the peak) */
  intensity: number;
  /** Å⁻¹ */
  q: number;
  /** pixel coordinates on panel 0 (corners at integers) */
  x: number;
  y: number;
  /** scan-frame coordinate: frame index + fraction (0 at the start of the first frame) */
  z: number;
  /** rotation angle, degrees */
  phi: number;
}

/** Reflections with I_H > 0 that cross the Ewald sphere inside the scan and land on the panel. */
export function predictReflections(spec: SimulationSpec, exp: Experiment): PredictedReflection[] {
  const crystal = exp.crystal;
  const g = exp.goniometer;
  const scan = exp.scan;
  const panel = exp.detector.panels[0];
  if (crystal === undefined || g === undefined || scan === undefined || panel === undefined) return [];
  const A = crystal.A;
  const gStar = reciprocalMetric(A);
  const qMax = 1 / spec.model.bragg.dmin;
  // |h| ≤ |a| q: the real-space axis lengths bound each index
  const real = inverse(A);
  const bound = (r: number): number => Math.ceil(Math.hypot(real[3 * r] as number, real[3 * r + 1] as number, real[3 * r + 2] as number) * qMax);
  const [hm, km, lm] = [bound(0), bound(1), bound(2)];
  const s0 = s0Vector(exp.beam);
  const S: Mat3 = g.settingRotation;
  const s = mulMV(transpose(S), s0);
  const e = normalize(g.rotationAxis);
  const normal = normalize(cross(panel.fastAxis, panel.slowAxis));
  const on = dot(panel.origin, normal);
  const [phi0, width] = scan.oscillation;
  const nFrames = scan.imageRange[1] - scan.imageRange[0] + 1;
  const phiEnd = phi0 + nFrames * width;
  const [w, hPx] = panel.imageSize;
  const out: PredictedReflection[] = [];
  for (let h = -hm; h <= hm; h++) {
    for (let k = -km; k <= km; k++) {
      for (let l = -lm; l <= lm; l++) {
        const q2 = (gStar[0] * h * h + gStar[4] * k * k + gStar[8] * l * l + 2 * (gStar[1] * h * k + gStar[2] * h * l + gStar[5] * k * l));
        if (q2 > qMax * qMax || q2 === 0) continue;
        const intensity = braggIntensity(spec, gStar, h, k, l);
        if (!(intensity > 0)) continue;
        const q0 = mulMV(g.fixedRotation, mulMV(A, [h, k, l]));
        const qPar = scale(e, dot(e, q0));
        const qPerp = sub(q0, qPar);
        const exq = cross(e, q0);
        const alpha = dot(s, qPerp);
        const beta = dot(s, exq);
        const gamma = -q2 / 2 - dot(s, qPar);
        const rho = Math.hypot(alpha, beta);
        if (!(rho > 0) || Math.abs(gamma) > rho) continue;
        const base = Math.atan2(beta, alpha);
        const delta = Math.acos(gamma / rho);
        for (const root of [base + delta, base - delta]) {
          let phi = root / DEG;
          // bring into [phi0, phi0 + 360)
          phi = phi0 + ((((phi - phi0) % 360) + 360) % 360);
          for (; phi < phiEnd; phi += 360) {
            const R = rotationAbout(e, phi * DEG);
            const q = mulMV(S, mulMV(R, q0));
            const s1 = add(s0, q);
            const sn = dot(s1, normal);
            if (!(sn * on > 0)) continue;
            const p = scale(s1, on / sn);
            const rel = sub(p, panel.origin);
            const [x, y] = mmToPixel(panel, dot(rel, panel.fastAxis), dot(rel, panel.slowAxis));
            if (!(x >= 0 && y >= 0 && x < w && y < hPx)) continue;
            out.push({ h, k, l, intensity, q: Math.sqrt(q2), x, y, z: (phi - phi0) / width, phi });
          }
        }
      }
    }
  }
  out.sort((a, b) => a.z - b.z || a.y - b.y || a.x - b.x);
  return out;
}
