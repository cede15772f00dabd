/** XDS reader/writers: a hand-written XDS.INP + XPARM.XDS, the old XPARM layout, and the l-cysteine round trip. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FileAccessError, FormatError, InvalidValueError, MissingFieldError, TruncatedError } from '../../src/errors.ts';
import { readExperimentList } from '../../src/geometry/expt.ts';
import { IDENTITY, mulMM } from '../../src/geometry/linalg.ts';
import type { Experiment, Mat3, Vec3 } from '../../src/geometry/model.ts';
import { fractionalHkl } from '../../src/geometry/setting.ts';
import { parseXdsInpText, parseXparmText, readXds, writeXdsInp, writeXparm, xdsToExperimentList } from '../../src/geometry/xds.ts';
import { getColumn, readReflectionTable } from '../../src/io/dials-refl.ts';
import { sharedData } from '../helpers/paths.ts';

const dir = mkdtempSync(join(tmpdir(), 'diffract-xds-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function put(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

function expectVec(actual: Vec3, expected: Vec3, tol = 1e-9): void {
  actual.forEach((v, i) => expect(Math.abs(v - (expected[i] as number))).toBeLessThan(tol));
}

/**
 * Written by hand in the layout XDS itself uses: XDS.INP after the XDS-PILATUS
 * template (several parameters per line, `!` comments, the Pilatus gap
 * rectangles), XPARM.XDS in the post-2013 format with XDS's own column widths
 * (%6d%14.4f%10.4f%10.6f…, see the module comment in xds.ts). A lysozyme-like
 * P4₃2₁2 crystal on a Pilatus 6M, XDS lab frame with the beam along +z.
 */
const HAND_INP = ` JOB= XYCORR INIT COLSPOT IDXREF DEFPIX INTEGRATE CORRECT
 DETECTOR=PILATUS  MINIMUM_VALID_PIXEL_VALUE=0  OVERLOAD=1048500
 SENSOR_THICKNESS=0.45  SILICON= 3.962  !1/mm at 0.9795 A
 NX=2463 NY=2527 QX=0.172  QY=0.172  !PILATUS 6M
 DIRECTION_OF_DETECTOR_X-AXIS=1 0 0
 DIRECTION_OF_DETECTOR_Y-AXIS=0 1 0
 TRUSTED_REGION=0.0 1.05 !Relative radii limiting trusted detector region
 VALUE_RANGE_FOR_TRUSTED_DETECTOR_PIXELS= 7000. 30000.
!EXCLUSION OF VERTICAL DEAD AREAS OF THE PILATUS 6M DETECTOR
 UNTRUSTED_RECTANGLE= 487  495     0 2528
!EXCLUSION OF HORIZONTAL DEAD AREAS OF THE PILATUS 6M DETECTOR
 UNTRUSTED_RECTANGLE=   0 2464   195  213
 UNTRUSTED_ELLIPSE= 1200 1260 1230 1290  ! beam stop (not representable, ignored)
 DETECTOR_DISTANCE= 250.0
 ORGX= 1231.5 ORGY= 1263.5
 ROTATION_AXIS= 1 0 0
 OSCILLATION_RANGE=0.1
 STARTING_ANGLE= 0.0  STARTING_FRAME=1
 X-RAY_WAVELENGTH= 0.9795
 INCIDENT_BEAM_DIRECTION=0 0 1
 FRACTION_OF_POLARIZATION=0.99
 POLARIZATION_PLANE_NORMAL= 0 1 0
 NAME_TEMPLATE_OF_DATA_FRAMES=../images/lyso_1_?????.cbf  CBF
 DATA_RANGE=11 100
 SPACE_GROUP_NUMBER=96
 UNIT_CELL_CONSTANTS= 78.9 78.9 37.1 90 90 90
`;

const HAND_XPARM = ` XPARM.XDS    VERSION Jan 10, 2022  BUILT=20220220
     1        0.0000    0.1000  1.000000  0.000000  0.000000
       0.979500       0.000000       0.000000       1.020929
    96     78.8990     78.8990     37.1000  90.000  90.000  90.000
      55.790000      55.790000       0.000000
     -55.790000      55.790000       0.000000
       0.000000       0.000000      37.100000
         1      2463      2527    0.172000    0.172000
    1231.500000    1263.500000     250.000000
       1.000000       0.000000       0.000000
       0.000000       1.000000       0.000000
       0.000000       0.000000       1.000000
         1         1      2463         1      2527
    0.00    0.00    0.00  1.00000  0.00000  0.00000  0.00000  1.00000  0.00000
`;

/** The same geometry in the pre-2013 layout (11 lines, 42 numbers, no header). */
const HAND_XPARM_OLD = `     1        0.0000    0.1000  1.000000  0.000000  0.000000
       0.979500       0.000000       0.000000       1.020929
      2463      2527    0.172000    0.172000
     250.000000    1231.500000    1263.500000
       1.000000       0.000000       0.000000
       0.000000       1.000000       0.000000
       0.000000       0.000000       1.000000
    96     78.8990     78.8990     37.1000  90.000  90.000  90.000
      55.790000      55.790000       0.000000
     -55.790000      55.790000       0.000000
       0.000000       0.000000      37.100000
`;

describe('hand-written XDS.INP + XPARM.XDS', async () => {
  const inpPath = put('XDS.INP', HAND_INP);
  const list = await readXds(inpPath, put('XPARM.XDS', HAND_XPARM));
  const exp = list.experiments[0];
  if (exp === undefined) throw new Error('no experiment');
  const panel = exp.detector.panels[0];
  if (panel === undefined) throw new Error('no panel');

  it('parses the keywords of XDS.INP (several per line, comments)', () => {
    const inp = parseXdsInpText(HAND_INP);
    expect(inp.get('DETECTOR')?.[0]?.value).toBe('PILATUS');
    expect(inp.get('OVERLOAD')?.[0]?.value).toBe('1048500');
    expect(inp.get('SILICON')?.[0]?.value).toBe('3.962');
    expect(inp.get('ORGY')?.[0]?.value).toBe('1263.5');
    expect(inp.get('UNTRUSTED_RECTANGLE')?.map((e) => e.line)).toEqual([10, 12]);
    expect(inp.get('NAME_TEMPLATE_OF_DATA_FRAMES')?.[0]?.value).toBe('../images/lyso_1_?????.cbf  CBF');
  });

  it('turns the XDS frame into the DIALS frame (rotation axis +x, beam towards the source +z)', () => {
    // R = rows (e1, e2, e3) with e1 = axis = x, e3 = sample→source = −z, e2 = e3 × e1 = −y
    expectVec(exp.goniometer?.rotationAxis ?? [0, 0, 0], [1, 0, 0]);
    expectVec(exp.beam.direction, [0, 0, 1]);
    expect(exp.beam.wavelength).toBe(0.9795);
    expectVec(panel.fastAxis, [1, 0, 0]);
    expectVec(panel.slowAxis, [0, -1, 0]);
    // origin = R·(D·N − (ORGX − 0.5)·QX·X − (ORGY − 0.5)·QY·Y)
    expectVec(panel.origin, [-1231 * 0.172, 1263 * 0.172, -250]);
    expect(exp.goniometer?.fixedRotation).toEqual(IDENTITY);
  });

  it('reads detector, trusted range, rectangles and the parallax sensor', () => {
    expect(panel.imageSize).toEqual([2463, 2527]);
    expect(panel.pixelSize).toEqual([0.172, 0.172]);
    expect(panel.trustedRange).toEqual([-1, 1048500]);
    expect(panel.type).toBe('SENSOR_PAD');
    expect(panel.thickness).toBe(0.45);
    expect(panel.mu).toBe(3.962);
    expect(panel.pxMmStrategy).toBe('parallax');
    // XDS excludes x1 < IX < x2 (1-based): "487 495" is DIALS columns 487…493 = [487, 494)
    expect(panel.mask).toEqual([
      { x0: 487, y0: 0, x1: 494, y1: 2527 },
      { x0: 0, y0: 195, x1: 2463, y1: 212 },
    ]);
  });

  it('reads scan, beam polarization, crystal and template', () => {
    // DATA_RANGE starts 10 frames after STARTING_FRAME: 0° + 10 · 0.1°
    expect(exp.scan?.imageRange).toEqual([11, 100]);
    expect(exp.scan?.oscillation[0]).toBeCloseTo(1.0, 12);
    expect(exp.scan?.oscillation[1]).toBe(0.1);
    expect(exp.beam.polarizationFraction).toBe(0.99);
    expectVec(exp.beam.polarizationNormal, [0, -1, 0]); // (0, 1, 0) turned by R: the same plane
    expect(exp.imageset?.template).toBe('../images/lyso_1_#####.cbf');
    const c = exp.crystal;
    if (c === undefined) throw new Error('no crystal');
    expect(c.spaceGroupHall).toBe('P 4nw 2abw');
    expect(c.unitCell.a).toBeCloseTo(78.899, 4);
    expect(c.unitCell.c).toBeCloseTo(37.1, 9);
    expect(c.unitCell.gamma).toBeCloseTo(90, 9);
    // rows of A⁻¹ are the real-space axes turned by R: a = (55.79, −55.79, 0)
    const rows: Mat3 = [55.79, -55.79, 0, -55.79, -55.79, 0, 0, 0, -37.1];
    mulMM(rows, c.A).forEach((v, i) => expect(v).toBeCloseTo(IDENTITY[i] as number, 12));
    expect(list.source).toContain('XPARM.XDS');
  });

  it('reads the old XPARM layout to the same geometry', () => {
    const old = xdsToExperimentList(parseXdsInpText(HAND_INP), parseXparmText(HAND_XPARM_OLD, 'XPARM.XDS'), 'XDS.INP', 'XPARM.XDS').experiments[0];
    if (old === undefined) throw new Error('no experiment');
    expect(old.detector.panels[0]?.origin).toEqual(panel.origin);
    expect(old.crystal?.A).toEqual(exp.crystal?.A);
    expect(old.scan).toEqual(exp.scan);
    expect(old.crystal?.spaceGroupHall).toBe('P 4nw 2abw');
  });
});

describe('l-cysteine .expt → XDS files → reader', async () => {
  const exp = (await readExperimentList(sharedData('l-cysteine', '11_integrated.expt'))).experiments[0];
  if (exp === undefined) throw new Error('no experiment');
  const xparm = writeXparm(exp);
  const inp = writeXdsInp(exp);
  const back = (await readXds(put('lc-XDS.INP', inp), put('GXPARM.XDS', xparm))).experiments[0];
  if (back === undefined) throw new Error('no experiment');

  it('writes the real XDS layouts', () => {
    const lines = xparm.trimEnd().split('\n');
    expect(lines).toHaveLength(14);
    expect(lines[0]).toContain('XPARM.XDS');
    expect(lines.map((l) => l.trim().split(/\s+/).length).slice(1)).toEqual([6, 4, 7, 3, 3, 3, 5, 3, 3, 3, 3, 5, 9]);
    expect(lines[3]?.trim().startsWith('16 ')).toBe(true); // " P 2 2" = P222
    // the dxtbx mask [487, 0, 494, 1679] is XDS's Pilatus-template rectangle "487 495 0 1680"
    expect(inp).toContain('UNTRUSTED_RECTANGLE= 487 495 0 1680');
    expect(inp).toContain('NAME_TEMPLATE_OF_DATA_FRAMES= l-cyst_01_?????.cbf');
    expect(inp).toMatch(/MINIMUM_VALID_PIXEL_VALUE= 0 +OVERLOAD= 388705/);
  });

  it('reads back the same detector, mask, trusted range, sensor and scan', () => {
    const p0 = exp.detector.panels[0];
    const p1 = back.detector.panels[0];
    if (p0 === undefined || p1 === undefined) throw new Error('no panel');
    expect(p1.mask).toEqual(p0.mask);
    expect(p1.trustedRange).toEqual(p0.trustedRange);
    expect(p1.pxMmStrategy).toBe('parallax');
    expect(p1.mu).toBeCloseTo(p0.mu, 9);
    expect(p1.thickness).toBe(p0.thickness);
    expectVec(p1.origin, p0.origin, 1e-8); // the DIALS frame of this file is already XDS→DIALS aligned
    expect(back.scan?.imageRange).toEqual([1, 10]);
    expect(back.scan?.oscillation).toEqual([-145, 0.1]);
    expect(back.crystal?.spaceGroupHall).toBe('P 2 2');
    expect(back.imageset?.template).toBe('l-cyst_01_#####.cbf');
  });

  it('gives the same fractional hkl at every reflection (within 1e-6)', async () => {
    const refl = await readReflectionTable(sharedData('l-cysteine', '11_integrated.refl'));
    const xyz = getColumn(refl, 'xyzcal.px', 'vec3<double>').data;
    const miller = getColumn(refl, 'miller_index', 'cctbx::miller::index<>').data;
    let worst = 0;
    let n = 0;
    for (let r = 0; r < refl.nrows; r++) {
      if (miller[3 * r] === 0 && miller[3 * r + 1] === 0 && miller[3 * r + 2] === 0) continue;
      const [x, y, z] = [xyz[3 * r] as number, xyz[3 * r + 1] as number, xyz[3 * r + 2] as number];
      const a = fractionalHkl(exp, 0, x, y, z);
      const b = fractionalHkl(back, 0, x, y, z);
      worst = Math.max(worst, ...[0, 1, 2].map((k) => Math.abs((a[k] as number) - (b[k] as number))));
      n++;
    }
    console.log(`[geometry] l-cysteine XDS round trip: max |Δhkl| = ${worst.toExponential(2)} over ${n} reflections`);
    expect(n).toBeGreaterThan(50);
    expect(worst).toBeLessThan(1e-6);
  });

  it('folds a multi-axis setting into the single XDS axis (S·R(axis)·F = R(S·axis)·S·F)', async () => {
    const g = exp.goniometer;
    if (g === undefined) throw new Error('no goniometer');
    const c = Math.cos(0.4);
    const s = Math.sin(0.4);
    const tilted: Experiment = {
      ...exp,
      goniometer: { ...g, fixedRotation: [c, 0, s, 0, 1, 0, -s, 0, c], settingRotation: [1, 0, 0, 0, c, -s, 0, s, c] },
    };
    const rt = (await readXds(put('t-XDS.INP', writeXdsInp(tilted)), put('t-XPARM.XDS', writeXparm(tilted)))).experiments[0];
    if (rt === undefined) throw new Error('no experiment');
    for (const [x, y, z] of [
      [100.5, 200.5, 0.5],
      [1000.2, 1500.7, 9.5],
    ] as const) {
      const a = fractionalHkl(tilted, 0, x, y, z);
      const b = fractionalHkl(rt, 0, x, y, z);
      a.forEach((v, k) => expect(Math.abs(v - (b[k] as number))).toBeLessThan(1e-6));
    }
  });
});

describe('XDS errors', () => {
  const inpPath = put('ok-XDS.INP', HAND_INP);

  it('XPARM too short: TruncatedError naming the file and the missing line', async () => {
    const short = put('short-XPARM.XDS', HAND_XPARM.split('\n').slice(0, 8).join('\n'));
    const err = await readXds(inpPath, short).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TruncatedError);
    expect((err as Error).message).toContain('short-XPARM.XDS');
    expect((err as Error).message).toContain('line 9');
    expect((err as Error).message).toMatch(/ORGX/);
  });

  it('XPARM with a bad number: FormatError naming the line', () => {
    const bad = HAND_XPARM.replace('250.000000', '250.0x0000');
    expect(() => parseXparmText(bad, 'bad-XPARM.XDS')).toThrow(FormatError);
    expect(() => parseXparmText(bad, 'bad-XPARM.XDS')).toThrow(/bad-XPARM\.XDS, field 'line 9'.*'250\.0x0000' is not a number/);
    const fewer = HAND_XPARM.replace('    96     78.8990', '          78.8990');
    expect(() => parseXparmText(fewer, 'X.XDS')).toThrow(/field 'line 4': expected 7 numbers/);
  });

  it('multi-segment XPARM is refused with a typed error', () => {
    const multi = HAND_XPARM.replace('         1      2463      2527', '         2      2463      2527');
    expect(() => parseXparmText(multi, 'm.XDS')).toThrow(TruncatedError); // the second segment's lines are missing
    const withSegments = `${multi}         2         1      2463      1300      2527\n    0.00    0.00    0.00  1.00000  0.00000  0.00000  0.00000  1.00000  0.00000\n`;
    const xp = parseXparmText(withSegments, 'm.XDS');
    expect(() => xdsToExperimentList(parseXdsInpText(HAND_INP), xp, 'XDS.INP', 'm.XDS')).toThrow(InvalidValueError);
    expect(() => xdsToExperimentList(parseXdsInpText(HAND_INP), xp, 'XDS.INP', 'm.XDS')).toThrow(/m\.XDS, field 'line 8'.*segments/);
  });

  it('XPARM wavelength or cell axes outside any physical range: InvalidValueError naming the line', () => {
    const inp = parseXdsInpText(HAND_INP);
    const wl = parseXparmText(HAND_XPARM.replace('0.979500       0.000000       0.000000       1.020929', '1e300 0 0 1e-300'), 'wl.XDS');
    expect(() => xdsToExperimentList(inp, wl, 'XDS.INP', 'wl.XDS')).toThrow(InvalidValueError);
    expect(() => xdsToExperimentList(inp, wl, 'XDS.INP', 'wl.XDS')).toThrow(/wl\.XDS, field 'line 3'.*wavelength 1e\+300 Å is outside/);
    const cell = parseXparmText(HAND_XPARM.replace('0.000000       0.000000      37.100000', '0 0 3.71e301'), 'c.XDS');
    expect(() => xdsToExperimentList(inp, cell, 'XDS.INP', 'c.XDS')).toThrow(/c\.XDS, field 'line 5'.*unit-cell c axis length/);
  });

  it('XDS.INP without DATA_RANGE or with a bad value: typed error naming the keyword', () => {
    const xp = parseXparmText(HAND_XPARM, 'XPARM.XDS');
    const noRange = parseXdsInpText(HAND_INP.replace(' DATA_RANGE=11 100\n', ''));
    expect(() => xdsToExperimentList(noRange, xp, 'my/XDS.INP', 'XPARM.XDS')).toThrow(MissingFieldError);
    expect(() => xdsToExperimentList(noRange, xp, 'my/XDS.INP', 'XPARM.XDS')).toThrow(/my\/XDS\.INP, field 'DATA_RANGE'/);
    const badOverload = parseXdsInpText(HAND_INP.replace('OVERLOAD=1048500', 'OVERLOAD=lots'));
    expect(() => xdsToExperimentList(badOverload, xp, 'XDS.INP', 'XPARM.XDS')).toThrow(InvalidValueError);
    expect(() => xdsToExperimentList(badOverload, xp, 'XDS.INP', 'XPARM.XDS')).toThrow(/field 'OVERLOAD \(line 2\)'.*'lots' is not a number/);
  });

  it('missing files: FileAccessError naming the path', async () => {
    const err = await readXds(inpPath, join(dir, 'nope', 'XPARM.XDS')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FileAccessError);
    expect((err as Error).message).toContain(join(dir, 'nope', 'XPARM.XDS'));
  });

  it('writers refuse stills', () => {
    const still: Experiment = {
      identifier: 's',
      beam: { wavelength: 1, direction: [0, 0, 1], polarizationFraction: 0.999, polarizationNormal: [0, 1, 0] },
      detector: { panels: [] },
    };
    expect(() => writeXparm(still)).toThrow(InvalidValueError);
  });
});
