import { describe, expect, it } from 'vitest';
import { airAttenuation, elementMassAttenuation, energyKeV, linearAttenuation, massAttenuation, material } from '../../src/corrections/attenuation.ts';
import { pixelCorrections, quadSolidAngle } from '../../src/corrections/pixel-corrections.ts';
import { cross, dot, mulMV, norm, normalize, rotationAbout, sub } from '../../src/geometry/linalg.ts';
import type { Experiment, Panel, Vec3 } from '../../src/geometry/model.ts';
import { labPosition } from '../../src/geometry/pxmm.ts';
import { geometryFactor } from '../../src/sim/physics.ts';
import { makeExperiment, makePanel, tiltedPanel } from './fixtures.ts';

const DEG = Math.PI / 180;

function rel(a: number, b: number): number {
  return Math.abs(a - b) / Math.abs(b);
}

/** ∫ cos α / r² dA over pixel (x, y) of a panel, midpoint rule on n × n sub-squares. */
function solidAngleByIntegration(panel: Panel, x: number, y: number, n: number): number {
  const f = panel.fastAxis;
  const s = panel.slowAxis;
  const normal = normalize(cross(f, s));
  const dA = (panel.pixelSize[0] * panel.pixelSize[1]) / (n * n);
  let sum = 0;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      const p = labPosition(panel, x + (i + 0.5) / n, y + (j + 0.5) / n);
      const r = norm(p);
      sum += Math.abs(dot(p, normal)) / (r * r * r);
    }
  }
  return sum * dA;
}

describe('solid angle', () => {
  it('matches numerical integration over the pixel area of a tilted panel', () => {
    const panel = tiltedPanel(35, [20, 10, -60], [1.5, 1.0], [4, 3]);
    const c = pixelCorrections(makeExperiment([panel]), { efficiency: false });
    expect(c.nPixels).toBe(12);
    for (const [x, y] of [
      [0, 0],
      [3, 1],
      [2, 2],
    ] as const) {
      const numeric = solidAngleByIntegration(panel, x, y, 400);
      const omega = c.solidAngle[y * 4 + x] as number;
      expect(rel(omega, numeric)).toBeLessThan(2e-6);
      // and it is not the small-pixel approximation A·cos α / r² by accident: that one is off by more
      const p = labPosition(panel, x + 0.5, y + 0.5);
      const approx = (1.5 * Math.abs(dot(p, normalize(cross(panel.fastAxis, panel.slowAxis))))) / norm(p) ** 3;
      expect(rel(approx, numeric)).toBeGreaterThan(1e-5);
    }
  });

  it('each pixel\'s Ω is quadSolidAngle of its four corner positions, bit for bit (corner lengths shared between pixels), on two tilted panels', () => {
    // issue 14: pixelCorrections computes each corner's length once for the pixels that share it; the twin is the per-pixel formula
    const panels = [tiltedPanel(35, [20, 10, -60], [0.172, 0.172], [37, 23]), tiltedPanel(-20, [-15, 5, -80], [0.075, 0.1], [19, 31], { thickness: 0.45 })];
    const exp = makeExperiment(panels);
    const c = pixelCorrections(exp);
    const w = pixelCorrections(exp, { columns: 'weights' });
    let i = 0;
    for (const panel of panels) {
      const [nx, ny] = panel.imageSize;
      for (let y = 0; y < ny; y++) {
        for (let x = 0; x < nx; x++, i++) {
          const want = quadSolidAngle(labPosition(panel, x, y), labPosition(panel, x + 1, y), labPosition(panel, x + 1, y + 1), labPosition(panel, x, y + 1));
          expect(c.solidAngle[i], `pixel ${i}`).toBe(want);
          expect(c.kappa[i]).toBe(want * c.polarization[i]! * c.efficiency[i]! * c.air[i]!);
        }
      }
    }
    expect(i).toBe(c.nPixels);
    expect(Array.from(w.kappa)).toEqual(Array.from(c.kappa));
    expect(Array.from(w.d3s)).toEqual(Array.from(c.d3s));
  });

  it('gives the closed form for a large rectangle centred on its normal', () => {
    // half-sides a = 50, b = 30 mm at d = 40 mm: Ω = 4 atan(ab / (d sqrt(a² + b² + d²)))
    const panel = makePanel({ origin: [-50, 30, -40], fastAxis: [1, 0, 0], slowAxis: [0, -1, 0], pixelSize: [100, 60], imageSize: [1, 1] });
    const c = pixelCorrections(makeExperiment([panel]), { efficiency: false });
    const exact = 4 * Math.atan((50 * 30) / (40 * Math.sqrt(50 * 50 + 30 * 30 + 40 * 40)));
    expect(rel(c.solidAngle[0] as number, exact)).toBeLessThan(1e-12);
    // the pixels of a split panel add up to the whole
    const split = makePanel({ origin: [-50, 30, -40], fastAxis: [1, 0, 0], slowAxis: [0, -1, 0], pixelSize: [2, 2], imageSize: [50, 30] });
    const cs = pixelCorrections(makeExperiment([split]), { efficiency: false });
    expect(rel(cs.solidAngle.reduce((a, b) => a + b, 0), exact)).toBeLessThan(1e-11);
  });

  it('quadSolidAngle of the whole hemisphere side: a far-out square approaches 2π', () => {
    const L = 1e6;
    const w = quadSolidAngle([-L, -L, -1], [L, -L, -1], [L, L, -1], [-L, L, -1]);
    expect(Math.abs(w - 2 * Math.PI)).toBeLessThan(1e-5);
  });
});

describe('polarization', () => {
  it('is 1 − p along the electric vector, p along the normal, 1 forward', () => {
    const p = 0.93;
    const tiny: [number, number] = [1e-4, 1e-4];
    // pixel centres on +x (e = n × direction = (0,1,0) × (0,0,1) = +x), on +y (n) and on −z (forward)
    const alongE = makePanel({ origin: [100, 0.5e-4, 0.5e-4], fastAxis: [0, 0, -1], slowAxis: [0, -1, 0], pixelSize: tiny, imageSize: [1, 1] });
    const alongN = makePanel({ origin: [-0.5e-4, 100, 0.5e-4], fastAxis: [1, 0, 0], slowAxis: [0, 0, -1], pixelSize: tiny, imageSize: [1, 1] });
    const forward = makePanel({ origin: [-0.5e-4, 0.5e-4, -100], fastAxis: [1, 0, 0], slowAxis: [0, -1, 0], pixelSize: tiny, imageSize: [1, 1] });
    const c = pixelCorrections(makeExperiment([alongE, alongN, forward], { polarizationFraction: p }), { efficiency: false });
    expect(c.polarization[0]).toBeCloseTo(1 - p, 9);
    expect(c.polarization[1]).toBeCloseTo(p, 9);
    expect(c.polarization[2]).toBeCloseTo(1, 9);
    // 2θ = 90° in the plane of e and the beam: 1 − p; at 2θ = 60° in that plane: p(1 − sin²60°) + (1 − p)
    const at60 = makePanel({ origin: [100 * Math.sin(60 * DEG), 0.5e-4, -100 * Math.cos(60 * DEG)], fastAxis: [0, 0, -1], slowAxis: [0, -1, 0], pixelSize: tiny, imageSize: [1, 1] });
    const c60 = pixelCorrections(makeExperiment([at60], { polarizationFraction: p }), { efficiency: false });
    expect(c60.polarization[0]).toBeCloseTo(p * (1 - 0.75) + (1 - p), 6);
  });

  it('equals the DIALS form (1 − 2p)(1 − (n·ŝ1)²) + p(1 + (ŝ1·ŝ0)²) and the simulator term for a tilted panel', () => {
    const panel = tiltedPanel(-25, [-40, 30, -80], [7, 9], [12, 8]);
    const pf = 0.87;
    const nrm: Vec3 = normalize([1, 1, 0]);
    const exp = makeExperiment([panel], { polarizationFraction: pf, polarizationNormal: nrm });
    const c = pixelCorrections(exp, { efficiency: false });
    const s0hat: Vec3 = [0, 0, -1];
    const panelNormal = normalize(cross(panel.fastAxis, panel.slowAxis));
    const D = Math.abs(dot(panel.origin, panelNormal));
    for (let y = 0; y < 8; y++) {
      for (let x = 0; x < 12; x++) {
        const pos = labPosition(panel, x + 0.5, y + 0.5);
        const u = normalize(pos);
        const n1 = dot(nrm, u);
        const c1 = dot(u, s0hat);
        const dials = (1 - 2 * pf) * (1 - n1 * n1) + pf * (1 + c1 * c1);
        const got = c.polarization[y * 12 + x] as number;
        expect(Math.abs(got - dials)).toBeLessThan(1e-12);
        const cosA = Math.abs(dot(u, panelNormal));
        const sim = geometryFactor(panel, pos, [0, 0, 1], nrm, pf) / (D / norm(pos)) ** 3;
        expect(Math.abs(got - sim)).toBeLessThan(1e-12);
        expect(cosA).toBeGreaterThan(0);
      }
    }
    // a spread of values, not one constant
    expect(Math.max(...c.polarization) - Math.min(...c.polarization)).toBeGreaterThan(0.05);
  });
});

describe('sensor efficiency and air', () => {
  it('is 1 − exp(−μt) at normal incidence and 1 − exp(−μt/cos ω) off it', () => {
    const lambda = 1.0;
    const keV = energyKeV(lambda);
    const si = material('Si');
    if (si === undefined) throw new Error('no Si');
    const mu = linearAttenuation(si, keV, 'photo');
    // 12.398 keV, Si photoabsorption by log–log between the XCOM points at 10 and 15 keV
    const sigma = Math.exp(Math.log(1546) + (Math.log(keV / 10) / Math.log(1.5)) * Math.log(459.3 / 1546));
    expect(rel(mu, (sigma * 0.602214076 * 2.329) / 28.085501 / 10)).toBeLessThan(1e-12);
    // a pixel at the foot of the normal (tiny pixel centred on the beam) and one at 40° off it
    const tiny: [number, number] = [1e-3, 1e-3];
    const centre = makePanel({ origin: [-0.5e-3, 0.5e-3, -100], fastAxis: [1, 0, 0], slowAxis: [0, -1, 0], pixelSize: tiny, imageSize: [1, 1], thickness: 0.45 });
    const off = makePanel({ origin: [100 * Math.tan(40 * DEG) - 0.5e-3, 0.5e-3, -100], fastAxis: [1, 0, 0], slowAxis: [0, -1, 0], pixelSize: tiny, imageSize: [1, 1], thickness: 0.45 });
    const c = pixelCorrections(makeExperiment([centre, off], { wavelength: lambda }));
    expect(c.efficiency[0]).toBeCloseTo(1 - Math.exp(-mu * 0.45), 8);
    expect(c.efficiency[1]).toBeCloseTo(1 - Math.exp((-mu * 0.45) / Math.cos(40 * DEG)), 7);
    // 450 µm Si at 12.4 keV absorbs about 80%
    expect(c.efficiency[0]).toBeGreaterThan(0.75);
    expect(c.efficiency[0]).toBeLessThan(0.85);
    // the panel's own μ wins when given; an override material beats both
    const withMu = pixelCorrections(makeExperiment([{ ...centre, mu: 2 }], { wavelength: lambda }));
    expect(withMu.efficiency[0]).toBeCloseTo(1 - Math.exp(-2 * 0.45), 8);
    const cdte = pixelCorrections(makeExperiment([{ ...centre, mu: 2 }], { wavelength: lambda }), { material: 'CdTe', thicknessMm: 1 });
    const muCdTe = linearAttenuation(material('CdTe') as NonNullable<ReturnType<typeof material>>, keV, 'photo');
    expect(cdte.efficiency[0]).toBeCloseTo(1 - Math.exp(-muCdTe), 8);
    // κ is the product
    expect(c.kappa[1]).toBeCloseTo((c.solidAngle[1] as number) * (c.polarization[1] as number) * (c.efficiency[1] as number), 18);
    // columns 'weights' (issue 14: the integrate stage's memory): the same κ and d³s bits, no factor columns
    expect(c.efficiencyApplied).toBe(true);
    for (const [exp, opts] of [
      [makeExperiment([centre, off], { wavelength: lambda }), {}],
      [makeExperiment([centre, off], { wavelength: lambda }), { efficiency: false, air: 0.5 }],
    ] as const) {
      const full = pixelCorrections(exp, opts);
      const lean = pixelCorrections(exp, { ...opts, columns: 'weights' });
      expect([...lean.kappa]).toEqual([...full.kappa]);
      expect([...lean.d3s]).toEqual([...full.d3s]);
      expect(lean.efficiencyApplied).toBe(full.efficiency.some((v) => v !== 1));
      expect([lean.solidAngle.length, lean.polarization.length, lean.efficiency.length, lean.air.length, lean.lorentzInverse.length]).toEqual([0, 0, 0, 0, 0]);
    }
  });

  it('is 1 (with one warning) for an unknown material, and refuses an unknown override', () => {
    const panel = makePanel({ origin: [-1, 1, -100], fastAxis: [1, 0, 0], slowAxis: [0, -1, 0], pixelSize: [1, 1], imageSize: [2, 2], material: 'unobtainium', mu: 0 });
    const c = pixelCorrections(makeExperiment([panel]));
    expect([...c.efficiency]).toEqual([1, 1, 1, 1]);
    expect(() => pixelCorrections(makeExperiment([panel]), { material: 'Xx' })).toThrow(/unknown sensor material 'Xx'/);
  });

  it('air attenuation is exp(−μ_air · f · r) with f the air path fraction', () => {
    const panel = makePanel({ origin: [-0.5e-3, 0.5e-3, -250], fastAxis: [1, 0, 0], slowAxis: [0, -1, 0], pixelSize: [1e-3, 1e-3], imageSize: [1, 1] });
    const exp = makeExperiment([panel], { wavelength: HC(8) });
    const none = pixelCorrections(exp, { efficiency: false });
    expect(none.air[0]).toBe(1);
    const c = pixelCorrections(exp, { efficiency: false, air: 0.8 });
    // air at 8 keV: 9.921 cm²/g (NIST, Hubbell & Seltzer) × 1.205e−3 g/cm³
    const muAir = (9.921 * 1.205e-3) / 10;
    expect(rel(c.air[0] as number, Math.exp(-muAir * 0.8 * 250))).toBeLessThan(2e-3);
    expect(rel(airAttenuation(8), muAir)).toBeLessThan(2e-3);
  });
});

function HC(keV: number): number {
  return 12.398419843320026 / keV;
}

describe('attenuation tables', () => {
  it('reproduce published NIST total mass attenuation coefficients (Hubbell & Seltzer)', () => {
    // Si (cm²/g): 5 keV 245.0, 10 keV 33.89, 15 keV 10.34, 20 keV 4.464, 30 keV 1.436, 60 keV 0.3207
    for (const [e, v] of [
      [5, 245.0],
      [10, 33.89],
      [15, 10.34],
      [20, 4.464],
      [30, 1.436],
      [60, 0.3207],
    ] as const) {
      expect(rel(elementMassAttenuation('Si', e, 'total'), v)).toBeLessThan(2e-3);
    }
    // dry air: 5 keV 40.27, 10 keV 5.120, 20 keV 0.7779, 30 keV 0.3538, 100 keV 0.1541
    const air = material('air');
    if (air === undefined) throw new Error('no air');
    for (const [e, v] of [
      [5, 40.27],
      [10, 5.12],
      [20, 0.7779],
      [30, 0.3538],
      [100, 0.1541],
    ] as const) {
      expect(rel(massAttenuation(air, e, 'total'), v)).toBeLessThan(3e-3);
    }
  });

  it('interpolate log–log between grid points and jump at the K edges', () => {
    // a power law between two grid points is reproduced exactly: Si photo 10 → 15 keV
    const a = elementMassAttenuation('Si', 10, 'photo');
    const b = elementMassAttenuation('Si', 15, 'photo');
    const m = elementMassAttenuation('Si', Math.sqrt(150), 'photo');
    expect(rel(m, Math.sqrt(a * b))).toBeLessThan(1e-12);
    // K edges: Ga 10.3671, As 11.8667, Cd 26.7112, Te 31.8138 keV, jump ratios from the XCOM rows
    for (const [el, edge, below, above] of [
      ['Ga', 10.3671, 3406, 25450],
      ['As', 11.8667, 3023, 22120],
      ['Cd', 26.7112, 1480, 9289],
      ['Te', 31.8138, 1269, 7723],
    ] as const) {
      const lo = elementMassAttenuation(el, edge - 0.00005, 'photo');
      const hi = elementMassAttenuation(el, edge, 'photo');
      expect(rel(hi / lo, above / below)).toBeLessThan(1e-9);
      expect(hi / lo).toBeGreaterThan(5);
    }
    // CdTe just above the Cd K edge absorbs far more than just below it
    const cdte = material('cdte');
    if (cdte === undefined) throw new Error('no CdTe');
    expect(linearAttenuation(cdte, 26.8, 'photo') / linearAttenuation(cdte, 26.6, 'photo')).toBeGreaterThan(3);
    // CdTe weight fractions from the atomic weights: Cd 112.41 / 240.01
    expect(cdte.composition[0]?.[1]).toBeCloseTo(112.410004 / (112.410004 + 127.599998), 12);
    expect(() => elementMassAttenuation('Si', 200, 'photo')).toThrow(/outside the attenuation tables/);
  });
});

/** Volume of a hexahedron with (possibly non-planar) quad faces, by the divergence theorem over its triangulated surface. */
function hexVolume(v: readonly Vec3[]): number {
  const faces = [
    [0, 3, 2, 1],
    [4, 5, 6, 7],
    [0, 1, 5, 4],
    [1, 2, 6, 5],
    [2, 3, 7, 6],
    [3, 0, 4, 7],
  ];
  let vol = 0;
  for (const [a, b, c, d] of faces as [number, number, number, number][]) {
    const A = v[a] as Vec3;
    const B = v[b] as Vec3;
    const C = v[c] as Vec3;
    const D = v[d] as Vec3;
    vol += dot(A, cross(B, C)) + dot(A, cross(C, D));
  }
  return Math.abs(vol) / 6;
}

describe('d³s', () => {
  const lambda = 0.9;
  const S = rotationAbout([0, 0, 1], 20 * DEG);
  // away from the rotation axis, where the normal velocity (ê × s)·ŝ1 keeps its sign over a pixel
  const panel = tiltedPanel(30, [-3, 40, -70], [0.6, 0.6], [6, 5]);
  const osc = 0.4;
  const exp: Experiment = makeExperiment([panel], { wavelength: lambda, settingRotation: S, rotationAxis: normalize([1, 0.2, 0]), oscillation: [10, osc] });
  const c = pixelCorrections(exp, { efficiency: false });
  const axis = normalize(mulMV(S, normalize([1, 0.2, 0])));
  const s0: Vec3 = [0, 0, -1 / lambda];
  const sOf = (x: number, y: number): Vec3 => {
    const p = normalize(labPosition(panel, x, y));
    return [p[0] / lambda - s0[0], p[1] / lambda - s0[1], p[2] / lambda - s0[2]];
  };
  /** the crystal-frame point of detector position (x, y) at rotation φ (rad) */
  const q = (x: number, y: number, phi: number): Vec3 => mulMV(rotationAbout(axis, -phi), sOf(x, y));

  it('equals the volume of the hexahedron swept by the pixel corners in reciprocal space', () => {
    const dphi = osc * DEG;
    for (const [x, y] of [
      [0, 0],
      [5, 4],
      [2, 3],
    ] as const) {
      const corners: [number, number][] = [
        [x, y],
        [x + 1, y],
        [x + 1, y + 1],
        [x, y + 1],
      ];
      const verts = [...corners.map(([a, b]) => q(a, b, 0)), ...corners.map(([a, b]) => q(a, b, dphi))];
      const brute = hexVolume(verts);
      // the flat-faced hexahedron itself is off the curved slab by O(1e-4) here
      expect(rel(c.d3s[y * 6 + x] as number, brute)).toBeLessThan(1e-3);
    }
  });

  it('equals the Jacobian integral ∫|det ∂q/∂(x, y, φ)| over the pixel and the frame', () => {
    const dphi = osc * DEG;
    const n = 24;
    const h = 1e-4;
    const x = 3;
    const y = 1;
    let sum = 0;
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        for (let k = 0; k < 2; k++) {
          const xx = x + (i + 0.5) / n;
          const yy = y + (j + 0.5) / n;
          const ph = ((k + 0.5) / 2) * dphi;
          const dx = sub(q(xx + h, yy, ph), q(xx - h, yy, ph)).map((v) => v / (2 * h)) as unknown as Vec3;
          const dy = sub(q(xx, yy + h, ph), q(xx, yy - h, ph)).map((v) => v / (2 * h)) as unknown as Vec3;
          const dp = sub(q(xx, yy, ph + 1e-6), q(xx, yy, ph - 1e-6)).map((v) => v / 2e-6) as unknown as Vec3;
          sum += Math.abs(dot(dx, cross(dy, dp)));
        }
      }
    }
    const integral = (sum / (n * n * 2)) * dphi;
    // the centre-value formula is exact to second order in the pixel's angular size (0.6/80 here)
    expect(rel(c.d3s[y * 6 + x] as number, integral)).toBeLessThan(5e-5);
  });

  it('equals Ω Δφ · lorentzInverse / λ³, and lorentzInverse = |(ê × ŝ1)·ŝ0|', () => {
    const dphi = osc * DEG;
    for (let i = 0; i < c.nPixels; i++) {
      const w = c.solidAngle[i] as number;
      expect(rel(c.d3s[i] as number, (w * dphi * (c.lorentzInverse[i] as number)) / lambda ** 3)).toBeLessThan(1e-12);
    }
    const u = normalize(labPosition(panel, 2.5, 3.5));
    expect(c.lorentzInverse[3 * 6 + 2]).toBeCloseTo(Math.abs(dot(cross(axis, u), [0, 0, -1])), 14);
  });

  it('stills: lorentzInverse 1 and no swept volume', () => {
    const st = pixelCorrections(makeExperiment([panel], { stills: true }), { efficiency: false });
    expect([...st.lorentzInverse].every((v) => v === 1)).toBe(true);
    expect([...st.d3s].every((v) => v === 0)).toBe(true);
  });

  it('switched-off factors are 1 and κ follows', () => {
    const off = pixelCorrections(exp, { solidAngle: false, polarization: false, efficiency: false });
    expect([...off.kappa].every((v) => v === 1)).toBe(true);
    // the swept volume keeps the true Ω
    expect(off.d3s[7]).toBe(c.d3s[7]);
  });
});
