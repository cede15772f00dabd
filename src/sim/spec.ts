/**
 * The simulation model: every parameter of a simulated rotation series, as one
 * plain JSON-serialisable object (`truth.json` records it verbatim), and the
 * DIALS geometry it stands for.
 *
 * Geometry (DIALS conventions, see src/geometry/model.ts): beam along −z
 * (direction (0, 0, 1) points at the source), rotation axis +x, one flat panel
 * normal to the beam at z = −distance with fast axis +x and slow axis −y, pixel
 * corner (0, 0) at the top left. The panel is tiled with Pilatus-like modules
 * separated by gap stripes (columns and rows that read −1); a few bad pixels
 * read −2. The random parts (crystal orientation, bad pixels) are drawn from
 * the seed when a spec is made (`smallSpec`, `sizedSpec`) and then stored
 * explicitly, so a spec fully determines the output.
 */
import { InvalidValueError } from '../errors.ts';
import { IDENTITY, det, inverse, mulMM, transpose } from '../geometry/linalg.ts';
import type { Experiment, Mat3, MaskRect, Panel, UnitCell, Vec3 } from '../geometry/model.ts';
import { mixSeed, mulberry32, type Uniform } from '../util/random.ts';
import type { SimElectronUnits } from './electron-units.ts';

/** Space groups the simulator knows: the Laue group decides which indices are equivalent. */
export type SimSpaceGroup = 'P 1' | 'P 2 2 2';

/** Hall symbols as DIALS writes them. */
export const HALL_SYMBOLS: Readonly<Record<SimSpaceGroup, string>> = { 'P 1': ' P 1', 'P 2 2 2': ' P 2 2' };

export interface SimCrystal {
  unitCell: UnitCell;
  spaceGroup: SimSpaceGroup;
  /** orientation U (row-major), a proper rotation; A = U·B */
  U: Mat3;
  /** σ of the mosaic spread, degrees */
  mosaicityDeg: number;
  /** Å: coherent domain size; sets the isotropic spot width σ = 1/domainSize (Å⁻¹) */
  domainSize: number;
}

export interface SimBeam {
  /** Å */
  wavelength: number;
  /** dxtbx polarization_fraction */
  polarizationFraction: number;
  /** dxtbx polarization_normal */
  polarizationNormal: Vec3;
  /** σ of the beam divergence, degrees (widens the Bragg spots; not written to the .expt) */
  divergenceDeg: number;
}

export interface SimDetector {
  /** mm, sample to panel along the beam */
  distance: number;
  /** mm (square pixels) */
  pixelSize: number;
  /** module layout: nx × ny modules of moduleWidth × moduleHeight pixels, separated by gapX columns / gapY rows */
  modules: { nx: number; ny: number; moduleWidth: number; moduleHeight: number; gapX: number; gapY: number };
  /** pixel coordinates (corners at integers) of the direct beam on the panel */
  beamCentre: readonly [number, number];
  /** pixels that read −2: [x, y] each (never in a gap) */
  badPixels: readonly (readonly [number, number])[];
  /** dxtbx trusted_range; counts are clipped at the upper end (the overload value) */
  trustedRange: readonly [number, number];
  /** mm, sensor thickness (recorded only: the simple pixel→mm strategy is used) */
  thickness: number;
  material: string;
}

export interface SimScan {
  frames: number;
  /** degrees: the angle at the start of the first frame */
  startDeg: number;
  /** degrees per frame */
  widthDeg: number;
  /** seconds per frame */
  exposure: number;
  /** rotation sub-steps per frame over which the signal is averaged */
  subSteps: number;
}

/**
 * The intensity model (photons per second per pixel, before the exposure and
 * the scale factors). See `src/sim/physics.ts` for the formulas.
 */
export interface SimModel {
  /** diffuse(h) = scale · (floor + (q/q0)²) · exp(−(q/q0)²) · (1 + m_h cos πh + m_k cos πk + m_l cos πl) */
  diffuse: { scale: number; q0: number; floor: number; modulation: readonly [number, number, number] };
  /** ring(q) = scale · exp(−½ ((q − centre)/sigma)²), q = |s1 − s0| (Å⁻¹) */
  ring: { scale: number; centre: number; sigma: number };
  /** I_hkl = scale · exp(−B q²/2) · E², E² ~ Exp(1) drawn per symmetry-unique hkl from the seed; 0 beyond dmin */
  bragg: { scale: number; wilsonB: number; dmin: number };
  /** b(frame) = 1 + amplitude · sin(2π (frame + 0.5)/periodFrames + phaseDeg°) */
  frameScale: { amplitude: number; periodFrames: number; phaseDeg: number };
  /** a(x, y) = 1 + gradient[0]·u + gradient[1]·v + radial·(u² + v²), u = (x+½)/W − ½, v = (y+½)/H − ½ */
  absorption: { gradient: readonly [number, number]; radial: number };
  /** c: counts added to every pixel's expected value (before the Poisson draw) */
  offset: number;
  /** multiply by the polarization factor and the relative solid angle (see physics.ts) */
  geometryFactors: boolean;
  /**
   * fraction 0…1 of the sample–pixel distance in air: intensities are
   * attenuated by exp(−μ_air · airPath · |p|) (src/corrections/attenuation.ts,
   * the model of the correction stage); absent: 1 (all air)
   */
  airPath?: number;
  /**
   * total scattering in electron units (src/sim/electron-units.ts): when set,
   * diffuse, Bragg and Compton intensities come from the cell's composition
   * (diffuse.scale/q0/floor, bragg.scale and the ring are not used; the
   * modulation, wilsonB and dmin are), and g includes the sensor efficiency
   */
  electronUnits?: SimElectronUnits;
}

export interface SimulationSpec {
  /** seeds the Poisson noise, the Bragg intensities and (when the spec was made) the orientation and bad pixels */
  seed: number;
  /** file prefix: frames `<prefix>_#####.cbf`, `<prefix>.expt` */
  prefix: string;
  crystal: SimCrystal;
  beam: SimBeam;
  detector: SimDetector;
  /** single-axis goniometer: the rotation axis (unit vector, lab frame) */
  goniometer: { rotationAxis: Vec3 };
  scan: SimScan;
  model: SimModel;
  /** the ground-truth diffuse grid: ndiv points per unit cell along h, k, l */
  truth: { ndiv: readonly [number, number, number] };
}

export type SimSize = 'small' | 'medium' | 'large';
export const SIM_SIZES: readonly SimSize[] = ['small', 'medium', 'large'];

const DEG = Math.PI / 180;

/** A uniformly distributed random rotation (Shoemake's quaternion method). */
export function randomRotation(u: Uniform): Mat3 {
  const u1 = u();
  const u2 = u() * 2 * Math.PI;
  const u3 = u() * 2 * Math.PI;
  const a = Math.sqrt(1 - u1);
  const b = Math.sqrt(u1);
  const [x, y, z, w] = [a * Math.sin(u2), a * Math.cos(u2), b * Math.sin(u3), b * Math.cos(u3)];
  return [
    1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w),
    2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w),
    2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y),
  ];
}

/** Panel width and height in pixels from the module layout. */
export function panelSize(d: SimDetector): [number, number] {
  const m = d.modules;
  return [m.nx * m.moduleWidth + (m.nx - 1) * m.gapX, m.ny * m.moduleHeight + (m.ny - 1) * m.gapY];
}

/** The gap stripes as half-open mask rectangles (columns first, then rows), as DIALS writes Pilatus masks. */
export function gapRects(d: SimDetector): MaskRect[] {
  const [w, h] = panelSize(d);
  const m = d.modules;
  const rects: MaskRect[] = [];
  if (m.gapX > 0) {
    for (let i = 1; i < m.nx; i++) {
      const x0 = i * m.moduleWidth + (i - 1) * m.gapX;
      rects.push({ x0, y0: 0, x1: x0 + m.gapX, y1: h });
    }
  }
  if (m.gapY > 0) {
    for (let j = 1; j < m.ny; j++) {
      const y0 = j * m.moduleHeight + (j - 1) * m.gapY;
      rects.push({ x0: 0, y0, x1: w, y1: y0 + m.gapY });
    }
  }
  return rects;
}

/** 1 for pixels in a gap stripe, row-major. */
export function gapMask(d: SimDetector): Uint8Array {
  const [w, h] = panelSize(d);
  const out = new Uint8Array(w * h);
  for (const r of gapRects(d)) {
    for (let y = r.y0; y < r.y1; y++) out.fill(1, y * w + r.x0, y * w + r.x1);
  }
  return out;
}

/**
 * Real-space axes (Å) of a cell in the standard orthogonal frame (a along x, b
 * in the xy-plane), as the rows of a matrix.
 */
export function orthogonalCellRows(c: UnitCell): Mat3 {
  const ca = Math.cos(c.alpha * DEG);
  const cb = Math.cos(c.beta * DEG);
  const cg = Math.cos(c.gamma * DEG);
  const sg = Math.sin(c.gamma * DEG);
  const cx = c.c * cb;
  const cy = (c.c * (ca - cb * cg)) / sg;
  const cz = Math.sqrt(Math.max(0, c.c * c.c - cx * cx - cy * cy));
  return [c.a, 0, 0, c.b * cg, c.b * sg, 0, cx, cy, cz];
}

/** A = U·B: the reciprocal setting (columns a*, b*, c* in the lab at φ = 0). */
export function settingMatrix(crystal: SimCrystal): Mat3 {
  const rowsLocal = orthogonalCellRows(crystal.unitCell); // rows a, b, c in the crystal frame
  const B = inverse(rowsLocal); // columns a*, b*, c* in the crystal frame
  return mulMM(crystal.U, B);
}

/** Reciprocal metric G* = AᵀA: q² = hᵀ G* h. */
export function reciprocalMetric(A: Mat3): Mat3 {
  return mulMM(transpose(A), A);
}

/** A deterministic UUID-shaped identifier from the seed (DIALS experiments carry a UUID). */
export function experimentIdentifier(seed: number): string {
  const hex = [0, 1, 2, 3].map((i) => mixSeed(seed, 0x1d, i).toString(16).padStart(8, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-a${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

/** The DIALS image template of the frames. */
export function frameTemplate(spec: SimulationSpec): string {
  return `${spec.prefix}_#####.cbf`;
}

/** The file name of frame `index` (0-based; image numbers start at 1). */
export function frameFileName(spec: SimulationSpec, index: number): string {
  return `${spec.prefix}_${String(index + 1).padStart(5, '0')}.cbf`;
}

/** The one panel of the simulated detector. */
export function simPanel(spec: SimulationSpec): Panel {
  const d = spec.detector;
  const [w, h] = panelSize(d);
  const px = d.pixelSize;
  return {
    name: 'Panel',
    type: 'SENSOR_PAD',
    // fast +x, slow −y: pixel (bx, by) lies on the beam axis
    origin: [-d.beamCentre[0] * px, d.beamCentre[1] * px, -d.distance],
    fastAxis: [1, 0, 0],
    slowAxis: [0, -1, 0],
    pixelSize: [px, px],
    imageSize: [w, h],
    trustedRange: [d.trustedRange[0], d.trustedRange[1]],
    thickness: d.thickness,
    material: d.material,
    mu: spec.model.electronUnits?.sensorMu ?? 0,
    pxMmStrategy: 'simple',
    mask: gapRects(d),
    gain: 1,
    pedestal: 0,
    identifier: `diffract simulated ${spec.detector.modules.nx}x${spec.detector.modules.ny} module PAD`,
  };
}

/** The DIALS experiment the simulation stands for (what `<prefix>.expt` holds). */
export function buildExperiment(spec: SimulationSpec): Experiment {
  const s = spec.scan;
  return {
    identifier: experimentIdentifier(spec.seed),
    beam: {
      wavelength: spec.beam.wavelength,
      direction: [0, 0, 1],
      polarizationFraction: spec.beam.polarizationFraction,
      polarizationNormal: spec.beam.polarizationNormal,
    },
    detector: { panels: [simPanel(spec)] },
    goniometer: { rotationAxis: spec.goniometer.rotationAxis, fixedRotation: IDENTITY, settingRotation: IDENTITY },
    scan: {
      imageRange: [1, s.frames],
      oscillation: [s.startDeg, s.widthDeg],
      exposureTimes: new Array<number>(s.frames).fill(s.exposure),
      // seconds from the start of the scan, rounded to µs (no float noise in the file)
      epochs: Array.from({ length: s.frames }, (_v, i) => Math.round(i * s.exposure * 1e6) / 1e6),
      batchOffset: 0,
    },
    crystal: {
      A: settingMatrix(spec.crystal),
      unitCell: { ...spec.crystal.unitCell },
      spaceGroupHall: HALL_SYMBOLS[spec.crystal.spaceGroup],
    },
    imageset: { template: frameTemplate(spec) },
  };
}

/** `count` distinct bad pixels outside the gaps, drawn from `u`. */
function drawBadPixels(d: SimDetector, count: number, u: Uniform): [number, number][] {
  const [w, h] = panelSize(d);
  const gaps = gapMask(d);
  const out: [number, number][] = [];
  const taken = new Set<number>();
  while (out.length < count) {
    const x = Math.floor(u() * w);
    const y = Math.floor(u() * h);
    const i = y * w + x;
    if (gaps[i] === 1 || taken.has(i)) continue;
    taken.add(i);
    out.push([x, y]);
  }
  return out.sort((p, q) => p[1] - q[1] || p[0] - q[0]);
}

interface SizeParams {
  nx: number;
  ny: number;
  moduleWidth: number;
  moduleHeight: number;
  frames: number;
  widthDeg: number;
  badPixels: number;
}

const SIZES: Readonly<Record<SimSize, SizeParams>> = {
  // 397 × 397 px, 40 frames of 0.5°: a few seconds on one core
  small: { nx: 2, ny: 3, moduleWidth: 195, moduleHeight: 121, frames: 40, widthDeg: 0.5, badPixels: 6 },
  // Pilatus 1M layout (981 × 1043 px), 90 frames of 0.25°
  medium: { nx: 2, ny: 5, moduleWidth: 487, moduleHeight: 195, frames: 90, widthDeg: 0.25, badPixels: 40 },
  // Pilatus 2M layout (1475 × 1679 px), 180 frames of 0.2°
  large: { nx: 3, ny: 8, moduleWidth: 487, moduleHeight: 195, frames: 180, widthDeg: 0.2, badPixels: 120 },
};

/**
 * The spec of a given size, random parts drawn from `seed`. The detector
 * distance scales with the panel so that every size covers the same
 * resolution range (≈ 2.2 Å at the edges, ≈ 1.7 Å in the corners).
 */
export function sizedSpec(size: SimSize, seed = 1): SimulationSpec {
  const p = SIZES[size];
  const u = mulberry32(mixSeed(seed, 0x5bec));
  const modules = { nx: p.nx, ny: p.ny, moduleWidth: p.moduleWidth, moduleHeight: p.moduleHeight, gapX: 7, gapY: 17 };
  const w = p.nx * p.moduleWidth + (p.nx - 1) * modules.gapX;
  const h = p.ny * p.moduleHeight + (p.ny - 1) * modules.gapY;
  const pixelSize = 0.172;
  const halfWidthMm = (Math.min(w, h) * pixelSize) / 2;
  const detectorBase: SimDetector = {
    distance: Math.round(halfWidthMm / Math.tan(2 * Math.asin(1 / (2 * 2.2))) * 10) / 10,
    pixelSize,
    modules,
    // off the module gaps and off centre, as at a real beamline
    beamCentre: [Math.round(0.47 * w) + 0.3, Math.round(0.56 * h) + 0.7],
    badPixels: [],
    trustedRange: [-1, 1000000],
    thickness: 0.45,
    material: 'Si',
  };
  const U = randomRotation(u);
  const badPixels = drawBadPixels(detectorBase, p.badPixels, u);
  return {
    seed,
    prefix: 'sim',
    crystal: {
      unitCell: { a: 38.2, b: 45.6, c: 52.3, alpha: 90, beta: 90, gamma: 90 },
      spaceGroup: 'P 2 2 2',
      U,
      mosaicityDeg: 0.25,
      domainSize: 800,
    },
    beam: { wavelength: 1.0, polarizationFraction: 0.99, polarizationNormal: [0, 1, 0], divergenceDeg: 0.03 },
    detector: { ...detectorBase, badPixels },
    goniometer: { rotationAxis: [1, 0, 0] },
    scan: { frames: p.frames, startDeg: 0, widthDeg: p.widthDeg, exposure: 0.1, subSteps: 5 },
    model: {
      diffuse: { scale: 150, q0: 0.35, floor: 0.3, modulation: [0.3, 0.2, 0.15] },
      ring: { scale: 60, centre: 1 / 3.2, sigma: 0.025 },
      bragg: { scale: 20000, wilsonB: 15, dmin: 1.5 },
      frameScale: { amplitude: 0.1, periodFrames: Math.max(8, p.frames), phaseDeg: 0 },
      absorption: { gradient: [0, 0], radial: 0 },
      offset: 0,
      geometryFactors: true,
      airPath: 1,
    },
    truth: { ndiv: [2, 2, 2] },
  };
}

/**
 * A spec in electron units (see src/sim/electron-units.ts) with everything
 * relative scaling has to undo: a per-frame drift b (±12 %), a detector
 * absorption pattern a (gradients of ±6 % and ±4 % across the panel; a radial
 * term would be indistinguishable from the map's own |s| dependence), and an
 * offset c of 0.2 counts per pixel and frame. Diffuse counts reach ≈ 15 per
 * pixel and frame (integrate with --max-count 50). The
 * crystal holds ≈ 35,000 electrons per cell (protein at ≈ 50 % solvent as
 * element counts: C, H, N, O, S, water included).
 */
export function electronUnitSpec(size: SimSize = 'small', seed = 1): SimulationSpec {
  const base = sizedSpec(size, seed);
  // 180° of rotation: symmetry mates are seen at other detector positions, which is
  // what separates a(x, y) from the map (rotation about x keeps s_x, so one sweep
  // alone cannot tell an x gradient of a from the map)
  const frames = Math.max(90, base.scan.frames);
  return {
    ...base,
    crystal: { ...base.crystal, mosaicityDeg: 0.1 },
    scan: { ...base.scan, frames, widthDeg: 180 / frames },
    model: {
      ...base.model,
      bragg: { ...base.model.bragg, dmin: 1.5 },
      ring: { ...base.model.ring, scale: 0 },
      frameScale: { amplitude: 0.12, periodFrames: Math.round(frames * 0.8), phaseDeg: 30 },
      absorption: { gradient: [0.12, -0.08], radial: 0 },
      offset: 0.2,
      electronUnits: {
        composition: { C: 1650, H: 5642, N: 450, O: 2021, S: 12 },
        photonsPerEu: 2.4e-3,
        holeTaper: 0.1,
        // Si at 12.4 keV (λ = 1 Å): μ/ρ ≈ 16.4 cm²/g × 2.33 g/cm³ ≈ 3.8 mm⁻¹
        sensorMu: 3.8,
      },
    },
  };
}

/** The default spec (`diffract simulate` without --size): 397 × 397 px, 40 frames. */
export function smallSpec(seed = 1): SimulationSpec {
  return sizedSpec('small', seed);
}

function check(ok: boolean, field: string, message: string): void {
  if (!ok) throw new InvalidValueError(message, { field });
}

const finite = (v: number): boolean => typeof v === 'number' && Number.isFinite(v);
const posInt = (v: number): boolean => Number.isSafeInteger(v) && v > 0;

/** Refuses specs the simulator cannot honour (InvalidValueError naming the field). */
export function validateSpec(spec: SimulationSpec): void {
  check(Number.isSafeInteger(spec.seed), 'seed', `seed must be an integer, got ${spec.seed}`);
  check(/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(spec.prefix), 'prefix', `prefix '${spec.prefix}' must be a plain file name (letters, digits, . _ -)`);
  const c = spec.crystal;
  const cell = c.unitCell;
  check([cell.a, cell.b, cell.c].every((v) => finite(v) && v > 0), 'crystal.unitCell', 'cell lengths must be positive');
  check([cell.alpha, cell.beta, cell.gamma].every((v) => finite(v) && v > 0 && v < 180), 'crystal.unitCell', 'cell angles must lie in (0°, 180°)');
  check(Math.abs(det(orthogonalCellRows(cell))) > 1e-6, 'crystal.unitCell', 'cell has no volume');
  if (c.spaceGroup === 'P 2 2 2') check(cell.alpha === 90 && cell.beta === 90 && cell.gamma === 90, 'crystal.unitCell', 'P 2 2 2 needs α = β = γ = 90°');
  check(c.spaceGroup in HALL_SYMBOLS, 'crystal.spaceGroup', `space group '${c.spaceGroup}' is not one of ${Object.keys(HALL_SYMBOLS).join(', ')}`);
  check(c.U.every(finite) && Math.abs(det(c.U) - 1) < 1e-9, 'crystal.U', 'U must be a proper rotation (det 1)');
  const UtU = mulMM(transpose(c.U), c.U);
  check(UtU.every((v, i) => Math.abs(v - (IDENTITY[i] as number)) < 1e-9), 'crystal.U', 'U must be orthonormal');
  check(finite(c.mosaicityDeg) && c.mosaicityDeg >= 0, 'crystal.mosaicityDeg', 'mosaicity must be ≥ 0');
  check(finite(c.domainSize) && c.domainSize > 0, 'crystal.domainSize', 'domain size must be positive');
  const b = spec.beam;
  check(finite(b.wavelength) && b.wavelength > 0, 'beam.wavelength', 'wavelength must be positive');
  check(finite(b.polarizationFraction) && b.polarizationFraction >= 0 && b.polarizationFraction <= 1, 'beam.polarizationFraction', 'polarization fraction must lie in [0, 1]');
  check(b.polarizationNormal.every(finite) && Math.hypot(...b.polarizationNormal) > 0, 'beam.polarizationNormal', 'polarization normal must be a non-zero vector');
  check(Math.abs(b.polarizationNormal[2]) < 1e-9 * Math.hypot(...b.polarizationNormal), 'beam.polarizationNormal', 'polarization normal must be perpendicular to the beam (z component 0)');
  check(finite(b.divergenceDeg) && b.divergenceDeg >= 0, 'beam.divergenceDeg', 'divergence must be ≥ 0');
  const d = spec.detector;
  const m = d.modules;
  check([m.nx, m.ny, m.moduleWidth, m.moduleHeight].every(posInt), 'detector.modules', 'module counts and sizes must be positive integers');
  check([m.gapX, m.gapY].every((v) => Number.isSafeInteger(v) && v >= 0), 'detector.modules', 'gaps must be integers ≥ 0');
  check(finite(d.distance) && d.distance > 0, 'detector.distance', 'distance must be positive');
  check(finite(d.pixelSize) && d.pixelSize > 0, 'detector.pixelSize', 'pixel size must be positive');
  check(d.beamCentre.every(finite), 'detector.beamCentre', 'beam centre must be finite');
  check(finite(d.trustedRange[0]) && finite(d.trustedRange[1]) && d.trustedRange[1] > Math.max(0, d.trustedRange[0]), 'detector.trustedRange', 'trusted range must be [lo, hi] with hi > max(0, lo)');
  check(d.trustedRange[1] <= 2147483647, 'detector.trustedRange', 'the overload value must fit a signed 32-bit integer');
  const [w, h] = panelSize(d);
  check(w * h <= 2 ** 28, 'detector.modules', `a ${w}×${h} panel is too large`);
  const gaps = gapMask(d);
  d.badPixels.forEach(([x, y], i) => {
    check(Number.isInteger(x) && Number.isInteger(y) && x >= 0 && y >= 0 && x < w && y < h, `detector.badPixels[${i}]`, `bad pixel (${x}, ${y}) lies outside the ${w}×${h} panel`);
    check(gaps[y * w + x] === 0, `detector.badPixels[${i}]`, `bad pixel (${x}, ${y}) lies in a gap`);
  });
  check(spec.goniometer.rotationAxis.every(finite) && Math.hypot(...spec.goniometer.rotationAxis) > 0, 'goniometer.rotationAxis', 'rotation axis must be a non-zero vector');
  const s = spec.scan;
  check(posInt(s.frames) && s.frames <= 99999, 'scan.frames', `frames must be an integer in 1…99999, got ${s.frames}`);
  check(finite(s.startDeg), 'scan.startDeg', 'start angle must be finite');
  check(finite(s.widthDeg) && s.widthDeg > 0, 'scan.widthDeg', 'frame width must be positive');
  check(finite(s.exposure) && s.exposure > 0, 'scan.exposure', 'exposure must be positive');
  check(posInt(s.subSteps) && s.subSteps <= 1000, 'scan.subSteps', 'sub-steps must be an integer in 1…1000');
  const mo = spec.model;
  const df = mo.diffuse;
  check([df.scale, df.floor].every((v) => finite(v) && v >= 0) && finite(df.q0) && df.q0 > 0, 'model.diffuse', 'diffuse scale and floor must be ≥ 0, q0 > 0');
  check(df.modulation.every(finite) && df.modulation.reduce((acc, v) => acc + Math.abs(v), 0) < 1, 'model.diffuse.modulation', 'modulation amplitudes must sum (in absolute value) to less than 1');
  check(finite(mo.ring.scale) && mo.ring.scale >= 0 && finite(mo.ring.centre) && mo.ring.centre > 0 && finite(mo.ring.sigma) && mo.ring.sigma > 0, 'model.ring', 'ring scale must be ≥ 0, centre and sigma > 0');
  check(finite(mo.bragg.scale) && mo.bragg.scale >= 0 && finite(mo.bragg.wilsonB) && finite(mo.bragg.dmin) && mo.bragg.dmin > 0, 'model.bragg', 'Bragg scale must be ≥ 0, dmin > 0');
  const fs = mo.frameScale;
  check(finite(fs.amplitude) && Math.abs(fs.amplitude) < 1 && finite(fs.periodFrames) && fs.periodFrames > 0 && finite(fs.phaseDeg), 'model.frameScale', 'frame scale amplitude must lie in (−1, 1), period > 0');
  const ab = mo.absorption;
  check(
    ab.gradient.every(finite) && finite(ab.radial) && (Math.abs(ab.gradient[0]) + Math.abs(ab.gradient[1])) / 2 + Math.abs(ab.radial) / 2 < 1,
    'model.absorption',
    'absorption map must stay positive: |g_x|/2 + |g_y|/2 + |radial|/2 < 1',
  );
  check(finite(mo.offset) && mo.offset >= 0, 'model.offset', 'offset must be ≥ 0');
  if (mo.airPath !== undefined) check(finite(mo.airPath) && mo.airPath >= 0 && mo.airPath <= 1, 'model.airPath', 'air path must be a fraction 0…1 of the sample–pixel distance');
  const eu = mo.electronUnits;
  if (eu !== undefined) {
    const entries = Object.entries(eu.composition);
    check(entries.length > 0 && entries.every(([, n]) => finite(n) && n >= 0), 'model.electronUnits.composition', 'composition must map element symbols to atom counts ≥ 0');
    check(finite(eu.photonsPerEu) && eu.photonsPerEu > 0, 'model.electronUnits.photonsPerEu', 'photonsPerEu must be positive');
    check(finite(eu.holeTaper) && eu.holeTaper > 0, 'model.electronUnits.holeTaper', 'holeTaper must be positive');
    check(finite(eu.sensorMu) && eu.sensorMu > 0, 'model.electronUnits.sensorMu', 'sensorMu must be positive (mm⁻¹)');
    check(mo.bragg.dmin > 0, 'model.bragg.dmin', 'dmin must be positive');
  }
  check(spec.truth.ndiv.every(posInt), 'truth.ndiv', 'ndiv must be three positive integers');
}
