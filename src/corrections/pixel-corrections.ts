/**
 * Per-pixel correction factors of a rotation (or stills) experiment, in the
 * flat pixel order of `detectorPixelVectors` (panel-major, then y·width + x).
 *
 * Notation: the sample sits at the lab origin; p is the lab position (mm) of
 * the pixel centre (through the panel's pixel→mm strategy, as the hkl
 * mapping), û = p/|p| = ŝ1, b̂ = ŝ0 = −unit(beam direction), λ the
 * wavelength (Å).
 *
 * - **Solid angle** Ω (sr): exact for the planar quadrilateral whose corners
 *   are the lab positions of the pixel's corners (x, y), (x+1, y), (x+1, y+1),
 *   (x, y+1), as two triangles by the Van Oosterom–Strackee formula
 *   tan(Ω/2) = |R1·(R2×R3)| / (r1r2r3 + (R1·R2)r3 + (R1·R3)r2 + (R2·R3)r1).
 * - **Polarization** (fraction of the intensity scattered towards û for the
 *   beam's polarization): P = p(1 − (û·ê)²) + (1 − p)(1 − (û·n̂)²), p the
 *   dxtbx `polarization_fraction`, n̂ the `polarization_normal` and
 *   ê = unit(n̂ × beam direction) the main electric vector. For n̂ ⊥ beam this
 *   equals DIALS' `polarization_correction`,
 *   (1 − 2p)(1 − (n̂·û)²) + p(1 + (û·ŝ0)²), and the simulator's
 *   `geometryFactor` polarization term.
 * - **Efficiency** (fraction of the photons absorbed in the sensor):
 *   1 − exp(−μ t / cos ω), ω the angle between û and the panel normal, t the
 *   thickness (mm), μ (mm⁻¹) from the options' material, else the panel's
 *   μ when > 0 (dxtbx stores its own total attenuation coefficient there),
 *   else the panel's material in the photoabsorption tables (attenuation.ts).
 *   Unknown: 1, with one warning.
 * - **Air**: exp(−μ_air · f · |p|), f the air path fraction (option; off when
 *   not given here — the integrate stage's settings default to f = 1, the
 *   whole sample–pixel path in air, as the physics and mdx2).
 * - **Lorentz** (inverse): |(ê_rot × û)·ŝ0|, ê_rot = unit(S · rotation axis)
 *   the scan axis in the lab; 1 for stills.
 * - **d³s** (Å⁻³), the reciprocal-space volume the pixel sweeps in one frame:
 *   the pixel covers an area Ω/λ² of the Ewald sphere (radius 1/λ), and the
 *   rotation by Δφ moves the point s = s1 − s0 with velocity ê_rot × s, so
 *   d³s = (Ω/λ²)·Δφ·|(ê_rot × s)·û| (= Ω Δφ · lorentzInverse / λ³); 0 for
 *   stills (no rotation).
 * - **κ** = Ω · P · efficiency · air: counts ≈ exposure · scale · κ · I.
 *
 * A factor switched off in the options is 1 in its array (the d³s keeps the
 * true Ω).
 */
import { InvalidValueError } from '../errors.ts';
import { cross, dot, mulMV, normalize } from '../geometry/linalg.ts';
import type { Experiment, Panel, Vec3 } from '../geometry/model.ts';
import { labPosition } from '../geometry/pxmm.ts';
import { logOnce } from '../util/log.ts';
import { airAttenuation, energyKeV, linearAttenuation, material, MATERIALS } from './attenuation.ts';

export interface CorrectionOptions {
  solidAngle?: boolean;
  polarization?: boolean;
  efficiency?: boolean; // default true
  /** air attenuation: number = air path fraction of the sample–pixel distance (1 = all air, the integrate stage's default); false or absent: none */
  air?: number | false;
  /** sensor material/thickness overrides (default: the panel's material, thickness in mm, mu in mm^-1 when > 0) */
  material?: string;
  thicknessMm?: number;
  /**
   * 'weights': only kappa and d3s are filled (the factor arrays come back
   * empty), so a large detector does not hold five more f64 per pixel at
   * once (the integrate stage); default 'all'
   */
  columns?: 'all' | 'weights';
}

export interface PixelCorrections {
  /** Σ over panels of width·height; flat order: panel-major, then row-major (y·width + x), the order of detectorPixelVectors */
  nPixels: number;
  /** sr subtended by the pixel */
  solidAngle: Float64Array;
  /** fraction of intensity transmitted for the beam's polarization (dxtbx polarization_fraction & polarization_normal) */
  polarization: Float64Array;
  /** 1 − exp(−μ t / cos ω), ω the angle between the ray and the panel normal (1 when efficiency off or material unknown) */
  efficiency: Float64Array;
  /** exp(−μ_air · path) (1 when off) */
  air: Float64Array;
  /** |(ê × ŝ1)·ŝ0| for the rotation axis ê (1 for stills) */
  lorentzInverse: Float64Array;
  /** reciprocal-space volume swept by the pixel in one frame (Å⁻³) = (Ω/λ²)·Δφ(rad)·|(ê × s)·ŝ1|, s = s1 − s0 */
  d3s: Float64Array;
  /** solidAngle · polarization · efficiency · air */
  kappa: Float64Array;
  /** true when some pixel's efficiency is not 1 (the sensor was known and efficiency on) */
  efficiencyApplied: boolean;
}

/** Solid angle (sr) of the triangle (a, b, c) seen from the origin (Van Oosterom & Strackee 1983). */
export function triangleSolidAngle(a: Vec3, b: Vec3, c: Vec3): number {
  return triangleSolidAngleOfNorms(a, b, c, Math.hypot(a[0], a[1], a[2]), Math.hypot(b[0], b[1], b[2]), Math.hypot(c[0], c[1], c[2]));
}

/** `triangleSolidAngle` with the corners' lengths given (|a|, |b|, |c| as Math.hypot gives them: the same bits). */
function triangleSolidAngleOfNorms(a: Vec3, b: Vec3, c: Vec3, ra: number, rb: number, rc: number): number {
  // a·(b×c) through the edges, a·((b−a)×(c−a)): no cancellation between large vectors
  const e1: Vec3 = [b[0] - a[0], b[1] - a[1], b[2] - a[2]];
  const e2: Vec3 = [c[0] - a[0], c[1] - a[1], c[2] - a[2]];
  const num = Math.abs(dot(a, cross(e1, e2)));
  const den = ra * rb * rc + dot(a, b) * rc + dot(a, c) * rb + dot(b, c) * ra;
  return 2 * Math.atan2(num, den);
}

/** Solid angle (sr) of the planar quadrilateral (c00, c10, c11, c01), in order around its edge. */
export function quadSolidAngle(c00: Vec3, c10: Vec3, c11: Vec3, c01: Vec3): number {
  const r = (p: Vec3): number => Math.hypot(p[0], p[1], p[2]);
  return quadSolidAngleOfNorms(c00, c10, c11, c01, r(c00), r(c10), r(c11), r(c01));
}

/**
 * `quadSolidAngle` with the corners' lengths given: the same bits, without
 * recomputing a length that neighbouring pixels share (Math.hypot is most of
 * the per-pixel time of `pixelCorrections`).
 */
function quadSolidAngleOfNorms(c00: Vec3, c10: Vec3, c11: Vec3, c01: Vec3, r00: number, r10: number, r11: number, r01: number): number {
  return triangleSolidAngleOfNorms(c00, c10, c11, r00, r10, r11) + triangleSolidAngleOfNorms(c00, c11, c01, r00, r11, r01);
}

/** Outward unit normal of a panel (pointing away from the sample). */
function panelNormal(panel: Panel): Vec3 {
  const n = normalize(cross(panel.fastAxis, panel.slowAxis));
  return dot(n, panel.origin) < 0 ? [-n[0], -n[1], -n[2]] : n;
}

/** μ (mm⁻¹) and t (mm) of a panel's sensor, or undefined when unknown (warned once). */
function sensorAttenuation(panel: Panel, index: number, keV: number, opts: CorrectionOptions): { mu: number; t: number } | undefined {
  const t = opts.thicknessMm ?? panel.thickness;
  if (opts.thicknessMm !== undefined && !(Number.isFinite(t) && t > 0)) {
    throw new InvalidValueError(`the sensor thickness must be a positive number of mm, got ${opts.thicknessMm}`, { field: 'thickness' });
  }
  let mu: number | undefined;
  if (opts.material !== undefined) {
    const m = material(opts.material);
    if (m === undefined) {
      throw new InvalidValueError(`unknown sensor material '${opts.material}' (known: ${MATERIALS.filter((x) => x.name !== 'air').map((x) => x.name).join(', ')})`, { field: 'material' });
    }
    mu = linearAttenuation(m, keV, 'photo');
  } else if (panel.mu > 0) {
    mu = panel.mu;
  } else if (panel.material !== '' && material(panel.material) !== undefined && panel.material.toLowerCase() !== 'air') {
    mu = linearAttenuation(material(panel.material) as (typeof MATERIALS)[number], keV, 'photo');
  }
  if (mu === undefined) {
    logOnce(`corrections-material-${panel.material}`, 'warn', `panel ${index} ('${panel.name}'): sensor material '${panel.material}' unknown and no attenuation coefficient: detector efficiency not corrected`);
    return undefined;
  }
  if (!(t > 0)) {
    logOnce(`corrections-thickness-${index}`, 'warn', `panel ${index} ('${panel.name}'): sensor thickness unknown: detector efficiency not corrected`);
    return undefined;
  }
  return { mu, t };
}

/** The per-pixel correction factors (see the module comment). */
export function pixelCorrections(exp: Experiment, opts: CorrectionOptions = {}): PixelCorrections {
  const panels = exp.detector.panels;
  const nPixels = panels.reduce((s, p) => s + p.imageSize[0] * p.imageSize[1], 0);
  const all = (opts.columns ?? 'all') === 'all';
  const factor = (): Float64Array => new Float64Array(all ? nPixels : 0);
  const solidAngle = factor();
  const polarization = factor();
  const efficiency = factor();
  const air = factor();
  const lorentzInverse = factor();
  let efficiencyApplied = false;
  const d3s = new Float64Array(nPixels);
  const kappa = new Float64Array(nPixels);

  const doSolid = opts.solidAngle ?? true;
  const doPol = opts.polarization ?? true;
  const doEff = opts.efficiency ?? true;
  const airFraction = opts.air ?? false;
  if (airFraction !== false && !(Number.isFinite(airFraction) && airFraction >= 0)) {
    throw new InvalidValueError(`the air path fraction must be a number ≥ 0, got ${airFraction}`, { field: 'air' });
  }

  const beam = exp.beam;
  const lambda = beam.wavelength;
  if (!(lambda > 0)) throw new InvalidValueError(`the wavelength must be positive, got ${lambda}`, { field: 'wavelength' });
  const keV = energyKeV(lambda);
  const dir = normalize(beam.direction);
  const s0hat: Vec3 = [-dir[0], -dir[1], -dir[2]];
  const pn = normalize(beam.polarizationNormal);
  const pe = normalize(cross(pn, dir));
  const pf = beam.polarizationFraction;
  const muAir = airFraction !== false && airFraction > 0 ? airAttenuation(keV) * airFraction : 0;

  const g = exp.goniometer;
  const scan = exp.scan;
  const rotating = g !== undefined && scan !== undefined;
  const axis: Vec3 = rotating ? normalize(mulMV(g.settingRotation, normalize(g.rotationAxis))) : [0, 0, 0];
  const dphi = rotating ? Math.abs(scan.oscillation[1]) * (Math.PI / 180) : 0;
  // ê × s0 (unit s0): (ê × s)·û = −(ê × s0)·û since (ê × s1)·û = 0; kept explicit below
  const invL = 1 / lambda;

  let offset = 0;
  panels.forEach((panel, pi) => {
    const [w, h] = panel.imageSize;
    const normal = panelNormal(panel);
    const sensor = doEff ? sensorAttenuation(panel, pi, keV, opts) : undefined;
    // two rows of corner positions (y and y + 1) and their lengths, each computed once for the pixels that share it
    let rowA = new Float64Array(3 * (w + 1));
    let rowB = new Float64Array(3 * (w + 1));
    let lenA = new Float64Array(w + 1);
    let lenB = new Float64Array(w + 1);
    const fillRow = (row: Float64Array, len: Float64Array, y: number): void => {
      for (let x = 0; x <= w; x++) {
        const c = labPosition(panel, x, y);
        row.set(c, 3 * x);
        len[x] = Math.hypot(c[0], c[1], c[2]);
      }
    };
    fillRow(rowA, lenA, 0);
    const corner = (row: Float64Array, x: number): Vec3 => [row[3 * x] as number, row[3 * x + 1] as number, row[3 * x + 2] as number];
    for (let y = 0; y < h; y++) {
      fillRow(rowB, lenB, y + 1);
      for (let x = 0; x < w; x++) {
        const i = offset + y * w + x;
        const omega = quadSolidAngleOfNorms(corner(rowA, x), corner(rowA, x + 1), corner(rowB, x + 1), corner(rowB, x), lenA[x] as number, lenA[x + 1] as number, lenB[x + 1] as number, lenB[x] as number);
        const p = labPosition(panel, x + 0.5, y + 0.5);
        const r = Math.hypot(p[0], p[1], p[2]);
        const u: Vec3 = [p[0] / r, p[1] / r, p[2] / r];

        const ue = dot(u, pe);
        const un = dot(u, pn);
        const pol = doPol ? pf * (1 - ue * ue) + (1 - pf) * (1 - un * un) : 1;

        let eff = 1;
        if (sensor !== undefined) {
          const cosw = Math.abs(dot(u, normal));
          eff = cosw > 0 ? -Math.expm1((-sensor.mu * sensor.t) / cosw) : 1;
        }
        const att = muAir > 0 ? Math.exp(-muAir * r) : 1;

        let lor = 1;
        let vol = 0;
        if (rotating) {
          lor = Math.abs(dot(cross(axis, u), s0hat));
          const s: Vec3 = [(u[0] - s0hat[0]) * invL, (u[1] - s0hat[1]) * invL, (u[2] - s0hat[2]) * invL];
          vol = omega * invL * invL * dphi * Math.abs(dot(cross(axis, s), u));
        }
        const sa = doSolid ? omega : 1;
        if (eff !== 1) efficiencyApplied = true;
        if (all) {
          solidAngle[i] = sa;
          polarization[i] = pol;
          efficiency[i] = eff;
          air[i] = att;
          lorentzInverse[i] = lor;
        }
        d3s[i] = vol;
        kappa[i] = sa * pol * eff * att;
      }
      const t = rowA;
      rowA = rowB;
      rowB = t;
      const tl = lenA;
      lenA = lenB;
      lenB = tl;
    }
    offset += w * h;
  });
  return { nPixels, solidAngle, polarization, efficiency, air, lorentzInverse, d3s, kappa, efficiencyApplied };
}
