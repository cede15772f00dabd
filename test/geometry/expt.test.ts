/** DIALS ExperimentList reader: real files (l-cysteine, snase, SSX stills) and synthetic edge cases. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseExperimentList, readExperimentList } from '../../src/geometry/expt.ts';
import { IDENTITY, mulMM, mulMV, rotationAbout } from '../../src/geometry/linalg.ts';
import type { Mat3, Vec3 } from '../../src/geometry/model.ts';
import { labSettingMatrix } from '../../src/geometry/setting.ts';
import { sharedData } from '../helpers/paths.ts';
import { minimalExpt } from './fixtures.ts';

function expectMat(actual: Mat3, expected: Mat3, tol = 1e-12): void {
  actual.forEach((v, i) => expect(Math.abs(v - (expected[i] as number))).toBeLessThan(tol));
}
function expectVec(actual: Vec3, expected: Vec3, tol = 1e-12): void {
  actual.forEach((v, i) => expect(Math.abs(v - (expected[i] as number))).toBeLessThan(tol));
}
const DEG = Math.PI / 180;

describe('l-cysteine 11_integrated.expt', async () => {
  const list = await readExperimentList(sharedData('l-cysteine', '11_integrated.expt'));
  const exp = list.experiments[0];
  if (exp === undefined) throw new Error('no experiment');

  it('reads beam, detector, scan, crystal and image set', () => {
    expect(list.experiments).toHaveLength(1);
    expect(list.source).toContain('11_integrated.expt');
    expect(exp.identifier).toBe('0812526a-eca7-467f-b271-26cb05ff56f4');
    expect(exp.beam.wavelength).toBe(0.6889);
    expectVec(exp.beam.direction, [-0.07226617231907231, 0, 0.9973853820556777], 1e-15);
    expect(exp.beam.polarizationFraction).toBe(0.999);
    expectVec(exp.beam.polarizationNormal, [0, 1, 0]);

    const p = exp.detector.panels[0];
    if (p === undefined) throw new Error('no panel');
    expect(exp.detector.panels).toHaveLength(1);
    expect(p.imageSize).toEqual([1475, 1679]);
    expect(p.pixelSize).toEqual([0.172, 0.172]);
    expect(p.trustedRange).toEqual([-1, 388705]);
    expect(p.thickness).toBe(0.32);
    expect(p.material).toBe('Si');
    expect(p.mu).toBeCloseTo(1.4153520955616248, 15);
    expect(p.pxMmStrategy).toBe('parallax');
    expect(p.type).toBe('SENSOR_PAD');
    expect(p.identifier).toBe('PILATUS 2M, S/N 24-0107 Diamond');
    // the hierarchy root is the identity frame, so the panel frame is taken as written
    expectVec(p.origin, [-129.22214136235542, -47.05036888627608, -211.14442032819434], 1e-12);
    expectVec(p.fastAxis, [-0.14610098136934782, 0.8573374358839309, 0.49358588338290255], 1e-12);
    expect(p.mask).toHaveLength(9);
    expect(p.mask[0]).toEqual({ x0: 487, y0: 0, x1: 494, y1: 1679 });
    expect(p.mask[2]).toEqual({ x0: 0, y0: 195, x1: 1475, y1: 212 });
    expect(p.gain).toBe(1);
    expect(p.pedestal).toBe(0);

    expect(exp.scan?.imageRange).toEqual([1, 10]);
    expect(exp.scan?.oscillation).toEqual([-145, 0.1]);
    expect(exp.scan?.exposureTimes).toHaveLength(10);
    expect(exp.scan?.epochs[0]).toBe(1457168505.6129858);
    expect(exp.scan?.batchOffset).toBe(0);

    expect(exp.imageset?.template).toBe('l-cyst_01_#####.cbf');
    expect(exp.imageset?.mask).toBeUndefined();
  });

  it('A is the inverse of the matrix whose rows are a, b, c', () => {
    const c = exp.crystal;
    if (c === undefined) throw new Error('no crystal');
    const a: Vec3 = [4.249015511288146, 2.5362218260152654, -2.243776554586684];
    const b: Vec3 = [-1.0980785124623333, 6.293445190961343, 5.034289354254813];
    const cc: Vec3 = [7.337749317454328, -5.164946642232901, 8.057290832554557];
    const rows: Mat3 = [...a, ...b, ...cc];
    expectMat(mulMM(rows, c.A), IDENTITY, 1e-13);
    // columns of A are a*, b*, c*: a·a* = 1, a·b* = 0
    expect(mulMV(rows, [c.A[0], c.A[3], c.A[6]])[0]).toBeCloseTo(1, 13);
    expect(c.spaceGroupHall).toBe(' P 2 2');
    expect(c.unitCell.a).toBeCloseTo(5.43333, 4);
    expect(c.unitCell.b).toBeCloseTo(8.13371, 4);
    expect(c.unitCell.c).toBeCloseTo(12.05982, 4);
    expect(c.unitCell.alpha).toBeCloseTo(90, 6);
    expect(c.AAtScanPoints).toBeUndefined();
  });

  it('reduces the two-axis goniometer (GON_PHI, GON_OMEGA; scan axis 1) as dxtbx does', () => {
    const g = exp.goniometer;
    if (g === undefined) throw new Error('no goniometer');
    // scan axis is omega (index 1, the last): F = R(phi, 0°) = I, S = I, axis = omega's.
    expect(g.scanAxisIndex).toBe(1);
    expectVec(g.rotationAxis, [1, 0, 0]);
    expectMat(g.fixedRotation, IDENTITY);
    expectMat(g.settingRotation, IDENTITY);
    expect(g.axes?.map((a) => a.name)).toEqual(['GON_PHI', 'GON_OMEGA']);
    expect(g.axes?.[1]?.angleDeg).toBe(-145);
  });
});

describe('snase refined_experiments.json', async () => {
  const list = await readExperimentList(sharedData('snase', 'refined_experiments.json'));

  it('reads two experiments sharing beam, detector, goniometer and crystal', () => {
    expect(list.experiments).toHaveLength(2);
    const [e0, e1] = list.experiments;
    if (e0 === undefined || e1 === undefined) throw new Error('missing experiments');
    expect(e1.crystal).toBe(e0.crystal);
    expect(e1.beam).toBe(e0.beam);
    expect(e1.detector).toBe(e0.detector);
    expect(e1.goniometer).toBe(e0.goniometer);
    expect(e1.scan).not.toBe(e0.scan);
    expect(e0.scan?.imageRange).toEqual([1, 28]);
    expect(e1.scan?.imageRange).toEqual([29, 44]);
    expect(e1.scan?.oscillation[0]).toBeCloseTo(60, 12);
    expect(e0.scan?.oscillation[1]).toBe(2);
    expect(e0.imageset?.template).toBe('/Volumes/Pegasus/Diffuse/Wall/snc/osc/snc_reindex_###.img');
    expect(e0.imageset?.mask).toBeUndefined(); // "mask": null
    expect(e0.crystal?.spaceGroupHall).toBe(' P 4');
    expect(e0.beam.wavelength).toBeCloseTo(0.908, 12);
  });

  it('single-axis goniometer and SimplePxMm detector', () => {
    const e = list.experiments[0];
    if (e === undefined) throw new Error('no experiment');
    expectVec(e.goniometer?.rotationAxis ?? [0, 0, 0], [1, 0, 0]);
    expectMat(e.goniometer?.fixedRotation ?? IDENTITY, IDENTITY);
    expect(e.goniometer?.axes).toBeUndefined();
    const p = e.detector.panels[0];
    expect(p?.pxMmStrategy).toBe('simple');
    expect(p?.type).toBe('SENSOR_CCD');
    expect(p?.imageSize).toEqual([1024, 1024]);
    expect(p?.pixelSize).toEqual([0.08, 0.08]);
    expect(p?.trustedRange).toEqual([1, 65535]);
    expect(p?.mask).toEqual([]);
  });
});

describe('stills (SSX integrated.expt)', () => {
  it('have no goniometer or scan, and the lab setting is A', async () => {
    const list = await readExperimentList(sharedData('stills', 'ssx-cunir', 'integrated.expt'));
    expect(list.experiments).toHaveLength(5);
    for (const e of list.experiments) {
      expect(e.goniometer).toBeUndefined();
      expect(e.scan).toBeUndefined();
      expect(e.imageset?.images).toHaveLength(1);
      const A = e.crystal?.A;
      if (A === undefined) throw new Error('no crystal');
      expect(labSettingMatrix(e, 0)).toBe(A);
    }
    expect(list.experiments[0]?.crystal?.spaceGroupHall).toBe(' P 2ac 2ab 3');
    expect(list.experiments[1]?.crystal).not.toBe(list.experiments[0]?.crystal);
  });

  it('accepts goniometer/scan given as null', () => {
    const j = minimalExpt();
    const e = (j.experiment as Record<string, unknown>[])[0] as Record<string, unknown>;
    e.goniometer = null;
    e.scan = null;
    const list = parseExperimentList(j, 'stills.expt');
    expect(list.experiments[0]?.goniometer).toBeUndefined();
    expect(list.experiments[0]?.scan).toBeUndefined();
  });
});

describe('multi-axis goniometer reduction (dxtbx MultiAxisGoniometer)', () => {
  // axes from the crystal to the base: phi (z), kappa (y), omega (x), non-commuting rotations
  const axes: Vec3[] = [
    [0, 0, 1],
    [0, 1, 0],
    [1, 0, 0],
  ];
  const angles = [30, 50, 70];
  const R = axes.map((a, i) => rotationAbout(a, (angles[i] as number) * DEG));
  const parse = (scanAxis: number) => {
    const j = minimalExpt();
    j.goniometer = [{ axes, angles, names: ['PHI', 'KAPPA', 'OMEGA'], scan_axis: scanAxis }];
    const g = parseExperimentList(j, 'multi.expt').experiments[0]?.goniometer;
    if (g === undefined) throw new Error('no goniometer');
    return g;
  };
  const [R0, R1, R2] = R as [Mat3, Mat3, Mat3];

  it('omega scan: F = R_kappa·R_phi (phi acts first), S = I', () => {
    const g = parse(2);
    expectVec(g.rotationAxis, [1, 0, 0]);
    expectMat(g.fixedRotation, mulMM(R1, R0));
    expectMat(g.settingRotation, IDENTITY);
    // the other order is genuinely different for these axes
    expect(Math.abs((mulMM(R0, R1)[2] as number) - (g.fixedRotation[2] as number))).toBeGreaterThan(0.1);
  });

  it('phi scan: F = I, S = R_omega·R_kappa, axis = phi', () => {
    const g = parse(0);
    expectVec(g.rotationAxis, [0, 0, 1]);
    expectMat(g.fixedRotation, IDENTITY);
    expectMat(g.settingRotation, mulMM(R2, R1));
  });

  it('kappa scan: F = R_phi, S = R_omega; a crystal vector reaches the lab as omega(kappa(phi(v)))', () => {
    const g = parse(1);
    expectMat(g.fixedRotation, R0);
    expectMat(g.settingRotation, R2);
    const v: Vec3 = [0.3, -0.5, 0.8];
    const kappa = 50;
    // S·R(axis, κ)·F·v equals rotating v by phi, then kappa, then omega, one after the other
    const viaModel = mulMV(mulMM(g.settingRotation, mulMM(rotationAbout(g.rotationAxis, kappa * DEG), g.fixedRotation)), v);
    const stepwise = mulMV(R2, mulMV(rotationAbout([0, 1, 0], kappa * DEG), mulMV(R0, v)));
    expectVec(viaModel, stepwise, 1e-14);
  });
});

describe('detector hierarchy', () => {
  it('composes local panel frames with their group frames (dxtbx VirtualPanelFrame)', () => {
    const j = minimalExpt();
    const det = (j.detector as Record<string, unknown>[])[0] as Record<string, unknown>;
    const panel = (det.panels as Record<string, unknown>[])[0] as Record<string, unknown>;
    // panel local frame inside a group turned 90° about z and shifted; root shifted along z
    panel.fast_axis = [1, 0, 0];
    panel.slow_axis = [0, 1, 0];
    panel.origin = [5, 0, 0];
    det.hierarchy = {
      fast_axis: [1, 0, 0],
      slow_axis: [0, 1, 0],
      origin: [0, 0, -100],
      children: [{ fast_axis: [0, 1, 0], slow_axis: [-1, 0, 0], origin: [10, 20, 0], children: [{ panel: 0 }] }],
    };
    const p = parseExperimentList(j, 'h.expt').experiments[0]?.detector.panels[0];
    if (p === undefined) throw new Error('no panel');
    // group absolute: fast (0,1,0), slow (-1,0,0), normal (0,0,1), origin (10,20,-100)
    expectVec(p.fastAxis, [0, 1, 0]);
    expectVec(p.slowAxis, [-1, 0, 0]);
    expectVec(p.origin, [10, 25, -100]);
  });

  it('takes panel frames as absolute when there is no hierarchy', () => {
    const p = parseExperimentList(minimalExpt(), 'x.expt').experiments[0]?.detector.panels[0];
    expectVec(p?.origin ?? [0, 0, 0], [-50, 50, -200]);
    expectVec(p?.slowAxis ?? [0, 0, 0], [0, -1, 0]);
  });
});

describe('other dxtbx layouts', () => {
  it('reads a scan with a properties table (newer dxtbx)', () => {
    const j = minimalExpt();
    j.scan = [
      {
        image_range: [5, 7],
        batch_offset: 100,
        properties: { oscillation: [10, 10.5, 11], exposure_time: [0.1, 0.1, 0.1], epochs: [1, 2, 3] },
        valid_image_ranges: {},
      },
    ];
    const s = parseExperimentList(j, 'p.expt').experiments[0]?.scan;
    expect(s?.imageRange).toEqual([5, 7]);
    expect(s?.oscillation).toEqual([10, 0.5]);
    expect(s?.epochs).toEqual([1, 2, 3]);
    expect(s?.batchOffset).toBe(100);
  });

  it('reads scan-varying A and S at scan points', () => {
    const j = minimalExpt();
    const A2: number[] = [0.1, 0, 0, 0, 0.05, 0, 0, 0, 1 / 30];
    (j.crystal as Record<string, unknown>[])[0]!.A_at_scan_points = Array.from({ length: 11 }, () => A2);
    (j.goniometer as Record<string, unknown>[])[0]!.setting_rotation_at_scan_points = Array.from({ length: 11 }, () => [...IDENTITY]);
    const e = parseExperimentList(j, 'sv.expt').experiments[0];
    expect(e?.crystal?.AAtScanPoints).toHaveLength(11);
    expect(e?.goniometer?.settingRotationAtScanPoints).toHaveLength(11);
  });

  it('parallax is dropped when mu or thickness is zero, as dxtbx does', () => {
    const j = minimalExpt();
    const panel = ((j.detector as Record<string, unknown>[])[0]!.panels as Record<string, unknown>[])[0]!;
    panel.px_mm_strategy = { type: 'ParallaxCorrectedPxMmStrategy' };
    panel.mu = 0;
    panel.thickness = 0.45;
    expect(parseExperimentList(j, 'x.expt').experiments[0]?.detector.panels[0]?.pxMmStrategy).toBe('simple');
    panel.mu = 3;
    expect(parseExperimentList(j, 'x.expt').experiments[0]?.detector.panels[0]?.pxMmStrategy).toBe('parallax');
  });

  it('parses the real file through parseExperimentList too', () => {
    const text = readFileSync(sharedData('l-cysteine', '11_integrated.expt'), 'utf8');
    const list = parseExperimentList(JSON.parse(text), 'given-name.expt');
    expect(list.source).toBe('given-name.expt');
    expect(list.experiments[0]?.detector.panels[0]?.pxMmStrategy).toBe('parallax');
  });
});
