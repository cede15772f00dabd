/** scan.ts, pxmm.ts and setting.ts on small synthetic models. */
import { describe, expect, it } from 'vitest';
import { InvalidValueError } from '../../src/errors.ts';
import { parseExperimentList } from '../../src/geometry/expt.ts';
import { inverse, mulMM, mulMV, rotationAbout } from '../../src/geometry/linalg.ts';
import type { Crystal, Experiment, Mat3, Panel, Vec3 } from '../../src/geometry/model.ts';
import { labPosition, mmToPixel, pixelToMm } from '../../src/geometry/pxmm.ts';
import { angleAtZ, crystalAAtZ, frameMidZ } from '../../src/geometry/scan.ts';
import {
  fractionalHkl,
  hklMatrixAt,
  hklMatrixAtAngle,
  labSettingMatrix,
  labSettingMatrixAtAngle,
  s0Vector,
  unitCellFromRealSpace,
} from '../../src/geometry/setting.ts';
import { minimalExpt } from './fixtures.ts';

const DEG = Math.PI / 180;

function experiment(): Experiment {
  const e = parseExperimentList(minimalExpt(), 'synthetic.expt').experiments[0];
  if (e === undefined) throw new Error('no experiment');
  return e;
}

describe('scan', () => {
  const scan = { imageRange: [5, 14] as const, oscillation: [-10, 0.5] as const, exposureTimes: [], epochs: [], batchOffset: 0 };

  it('angleAtZ = oscillation start + z·width; frameMidZ = offset + 0.5', () => {
    expect(angleAtZ(scan, 0)).toBe(-10);
    expect(angleAtZ(scan, 4)).toBe(-8);
    expect(frameMidZ(0)).toBe(0.5);
    expect(frameMidZ(3)).toBe(3.5);
    expect(angleAtZ(scan, frameMidZ(1))).toBe(-9.25);
  });

  it('crystalAAtZ interpolates between scan points and clamps at the ends', () => {
    const A0: Mat3 = [1, 0, 0, 0, 1, 0, 0, 0, 1];
    const A1: Mat3 = [3, 0, 0, 0, 1, 0, 0, 0, 1];
    const A2: Mat3 = [3, 2, 0, 0, 1, 0, 0, 0, 1];
    const c: Crystal = { A: A0, unitCell: unitCellFromRealSpace([1, 0, 0], [0, 1, 0], [0, 0, 1]), spaceGroupHall: 'P 1', AAtScanPoints: [A0, A1, A2] };
    expect(crystalAAtZ(c, 0.25)[0]).toBeCloseTo(1.5, 15);
    expect(crystalAAtZ(c, 1.5)[1]).toBeCloseTo(1, 15);
    expect(crystalAAtZ(c, -3)).toEqual(A0);
    expect(crystalAAtZ(c, 2)).toEqual(A2);
    expect(crystalAAtZ(c, 7)).toEqual(A2);
    expect(crystalAAtZ({ ...c, AAtScanPoints: undefined }, 1.5)).toBe(A0);
  });
});

describe('pixel ↔ mm', () => {
  const base: Panel = {
    name: 'p',
    type: 'SENSOR_PAD',
    origin: [-20, 30, -100],
    fastAxis: [1, 0, 0],
    slowAxis: [0, -1, 0],
    pixelSize: [0.2, 0.1],
    imageSize: [200, 600],
    trustedRange: [-1, 1e6],
    thickness: 0.45,
    material: 'Si',
    mu: 3.9,
    pxMmStrategy: 'simple',
    mask: [],
    gain: 1,
    pedestal: 0,
    identifier: '',
  };

  it('simple: scale by the pixel size; pixel centres at i + 0.5', () => {
    expect(pixelToMm(base, 10, 20)).toEqual([2, 2]);
    expect(mmToPixel(base, 2, 2)).toEqual([10, 20]);
    expect(labPosition(base, 0, 0)).toEqual([-20, 30, -100]);
    const c = labPosition(base, 100.5, 300.5);
    expect(c[0]).toBeCloseTo(0.1, 12);
    expect(c[1]).toBeCloseTo(-0.05, 12);
  });

  it('parallax: the recorded spot lies outwards along the ray, by the mean absorption depth', () => {
    const p: Panel = { ...base, pxMmStrategy: 'parallax' };
    // where the normal from the sample meets the panel (20 mm, 30 mm) the ray is normal: no shift
    const foot = mmToPixel(p, 20, 30);
    expect(foot[0]).toBeCloseTo(100, 12);
    expect(foot[1]).toBeCloseTo(300, 12);
    // off the normal: shift along +fast for a point at larger fast coordinate
    const xmm = 35;
    const [x] = mmToPixel(p, xmm, 30);
    const shift = x * p.pixelSize[0] - xmm;
    const u = [15, 0, -100].map((v) => v / Math.hypot(15, 100)) as [number, number, number];
    const cos = -u[2]; // normal (0,0,-1) points away from the sample
    const L = p.thickness / cos;
    const depth = 1 / p.mu - (L + 1 / p.mu) * Math.exp(-p.mu * L);
    expect(shift).toBeCloseTo(depth * u[0], 12);
    expect(shift).toBeGreaterThan(0);
    // to_millimeter is dxtbx's approximate inverse: close to, not exactly, the entry point
    const back = pixelToMm(p, x, 300)[0];
    expect(Math.abs(back - xmm)).toBeLessThan(1e-3);
  });

  it('parallax falls back to simple when mu or thickness is not positive', () => {
    const p: Panel = { ...base, pxMmStrategy: 'parallax', mu: 0 };
    expect(pixelToMm(p, 10, 20)).toEqual([2, 2]);
    expect(mmToPixel({ ...p, mu: 2, thickness: 0 }, 2, 2)).toEqual([10, 20]);
  });
});

describe('setting', () => {
  it('s0 = −unit(direction)/λ', () => {
    const s0 = s0Vector({ wavelength: 2, direction: [0, 0, 3], polarizationFraction: 0.999, polarizationNormal: [0, 1, 0] });
    expect(s0).toEqual([-0, -0, -0.5]);
  });

  it('M(z) = S·R(axis, φ(z))·F·A and its inverse', () => {
    const e = experiment();
    const F = rotationAbout([0, 1, 0], 20 * DEG);
    const S = rotationAbout([0, 0, 1], -35 * DEG);
    const g = e.goniometer;
    if (g === undefined || e.crystal === undefined) throw new Error('model');
    g.fixedRotation = F;
    g.settingRotation = S;
    const z = 2.5; // φ = 0 + 2.5·1°
    const expected = mulMM(S, mulMM(rotationAbout([1, 0, 0], 2.5 * DEG), mulMM(F, e.crystal.A)));
    labSettingMatrix(e, z).forEach((v, i) => expect(v).toBeCloseTo(expected[i] as number, 14));
    labSettingMatrixAtAngle(e, 2.5).forEach((v, i) => expect(v).toBeCloseTo(expected[i] as number, 14));
    const inv = inverse(expected);
    hklMatrixAt(e, z).forEach((v, i) => expect(v).toBeCloseTo(inv[i] as number, 12));
    hklMatrixAtAngle(e, 2.5).forEach((v, i) => expect(v).toBeCloseTo(inv[i] as number, 12));
  });

  it('uses the interpolated scan-varying A and S', () => {
    const e = experiment();
    const c = e.crystal;
    const g = e.goniometer;
    if (c === undefined || g === undefined) throw new Error('model');
    const A2 = c.A.map((v) => v * 2) as unknown as Mat3;
    c.AAtScanPoints = Array.from({ length: 11 }, (_, k) => (k < 5 ? c.A : A2));
    const S1 = rotationAbout([0, 0, 1], 10 * DEG);
    g.settingRotationAtScanPoints = Array.from({ length: 11 }, () => S1);
    const z = 4.5; // halfway between A (point 4) and 2A (point 5)
    const expected = mulMM(S1, mulMM(rotationAbout([1, 0, 0], 4.5 * DEG), c.A.map((v) => v * 1.5) as unknown as Mat3));
    labSettingMatrix(e, z).forEach((v, i) => expect(v).toBeCloseTo(expected[i] as number, 14));
  });

  it('fractionalHkl inverts a reflection placed on the detector', () => {
    const e = experiment();
    const panel = e.detector.panels[0];
    if (panel === undefined || e.crystal === undefined) throw new Error('model');
    // h = (1, 2, −3) is in diffracting position where |s0 + R(φ)·r0| = |s0| (r0 = A·h, axis x,
    // s0 = (0, 0, −1)): r0y·sinφ + r0z·cosφ = |r0|²/2. Solve for φ, place the spot, go back.
    const h: Vec3 = [1, 2, -3];
    const r0 = mulMV(labSettingMatrix(e, 0), h);
    const rho = Math.hypot(r0[1], r0[2]);
    const phi = (Math.atan2(r0[1], r0[2]) - Math.acos((r0[0] ** 2 + rho ** 2) / (2 * rho))) / DEG;
    const z = phi; // oscillation (0°, 1°/image)
    const s0 = s0Vector(e.beam);
    const s1 = mulMV(labSettingMatrix(e, z), h).map((v, i) => v + (s0[i] as number)) as unknown as Vec3;
    expect(Math.hypot(...s1)).toBeCloseTo(1, 12);
    // the ray from the sample along s1 meets the panel plane z = −200 (origin (−50, 50), slow = −y)
    const t = -200 / s1[2];
    const x = (s1[0] * t - panel.origin[0]) / panel.pixelSize[0];
    const y = -(s1[1] * t - panel.origin[1]) / panel.pixelSize[1];
    const got = fractionalHkl(e, 0, x, y, z);
    got.forEach((v, i) => expect(v).toBeCloseTo(h[i] as number, 9));
  });

  it('unitCellFromRealSpace gives lengths and angles', () => {
    const c = unitCellFromRealSpace([10, 0, 0], [-5, 5 * Math.sqrt(3), 0], [0, 0, 7]);
    expect(c.a).toBeCloseTo(10, 12);
    expect(c.b).toBeCloseTo(10, 12);
    expect(c.c).toBe(7);
    expect(c.alpha).toBeCloseTo(90, 12);
    expect(c.beta).toBeCloseTo(90, 12);
    expect(c.gamma).toBeCloseTo(120, 12);
  });

  it('typed errors for a missing crystal or panel', () => {
    const e = experiment();
    expect(() => fractionalHkl(e, 3, 0, 0, 0)).toThrow(InvalidValueError);
    expect(() => fractionalHkl(e, 3, 0, 0, 0)).toThrow(/panel 3/);
    const { crystal: _c, ...noCrystal } = e;
    expect(() => labSettingMatrix(noCrystal, 0)).toThrow(InvalidValueError);
    expect(() => labSettingMatrix(noCrystal, 0)).toThrow(/no crystal/);
  });
});
