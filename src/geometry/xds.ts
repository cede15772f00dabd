/**
 * XDS geometry: reader for XDS.INP + (G)XPARM.XDS, and minimal writers.
 *
 * ## XPARM.XDS layout (XDS ≥ 2013, first line holds "XPARM.XDS")
 *
 *     line  1  header (" XPARM.XDS    VERSION …")
 *     line  2  STARTING_FRAME  STARTING_ANGLE  OSCILLATION_RANGE  rotation axis (3)
 *     line  3  wavelength (Å)  incident beam vector (3; XDS writes it with length 1/λ)
 *     line  4  space-group number  a b c α β γ
 *     line 5–7 unit-cell a, b, c axes (Å, lab frame of the file, crystal at φ = 0)
 *     line  8  number of segments  NX  NY  QX  QY
 *     line  9  ORGX  ORGY  DETECTOR_DISTANCE
 *     line 10–12 detector X axis, Y axis, normal
 *     then per segment: "iseg x1 x2 y1 y2" and "ORGXS ORGYS FS EDS(:,1) EDS(:,2)"
 *
 * The old layout (before 2013, no header, 11 lines / 42 numbers) is read too:
 * frame, angle, range, axis | λ, beam | NX NY QX QY | distance ORGX ORGY |
 * X axis | Y axis | normal | space group, cell | a | b | c.
 * (Sources: XDS documentation of XPARM.XDS as implemented by iotbx `xds.xparm`
 * and xia2 `xds_read_xparm`.) XDS reads the file free-format (dxtbx/iotbx write
 * other column widths than XDS's own and XDS accepts them), so `writeXparm`
 * keeps the line layout but writes more decimals than XDS does, for exact round
 * trips. Only one-segment detectors are supported.
 *
 * ## XDS frame → DIALS (imgCIF) frame
 *
 * XDS takes its vectors in whatever right-handed lab frame the user chose. As
 * dxtbx does (rstbx `import_xds_xparm`), the reader rotates everything by the R
 * that takes the rotation axis A to +x and the sample→source direction
 * B = −unit(incident beam) into the x–z plane, towards +z:
 *
 *     e₁ = unit(A),  e₃ = unit(B − (B·e₁) e₁),  e₂ = e₃ × e₁,   R = rows (e₁, e₂, e₃)
 *
 * Fractional hkl do not depend on this choice (every vector turns together); it
 * only makes the result look like a DIALS import.
 *
 * Detector: N = X × Y; the point of the detector plane nearest the crystal is at
 * D·N (D = DETECTOR_DISTANCE, signed), at pixel (ORGX, ORGY). XDS numbers pixels
 * from 1 with pixel IX's centre at coordinate IX, while DIALS puts pixel i's
 * centre at i + 0.5 (i = IX − 1), so x_XDS = x_DIALS + 0.5 (dxtbx: "XDS seems to
 * do centroids in fortran coords"). The DIALS panel origin (corner of the first
 * pixel) is therefore
 *
 *     origin = D·N − (ORGX − 0.5)·QX·X − (ORGY − 0.5)·QY·Y.
 *
 * Crystal: the XPARM cell axes are the DIALS datum orientation (φ = 0), as dxtbx
 * reads them; A = inverse(rows R·a, R·b, R·c). Rotation: STARTING_ANGLE is the
 * spindle angle at the start of frame STARTING_FRAME, so the DIALS scan over
 * DATA_RANGE = first…last starts at STARTING_ANGLE + (first − STARTING_FRAME)·OSCILLATION_RANGE.
 *
 * ## XDS.INP keywords used
 *
 * - `DATA_RANGE=` (required) → scan image range.
 * - `NAME_TEMPLATE_OF_DATA_FRAMES=` → image-set template ('?' → '#').
 * - `MINIMUM_VALID_PIXEL_VALUE=` (default 0), `OVERLOAD=` (required) → trusted
 *   range [MIN − 1, OVERLOAD]: dxtbx's trusted range is exclusive at both ends
 *   (lo < v < hi) and its XDS writer puts MIN = lo + 1, OVERLOAD = hi.
 * - `SENSOR_THICKNESS=` (mm) and `SILICON=` (the sensor's linear attenuation
 *   coefficient, mm⁻¹) → thickness, μ; parallax correction when both are > 0.
 *   (dxtbx computes μ from tables when SILICON= is absent; we have no tables, so
 *   without SILICON= the panel stays 'simple'.)
 * - `UNTRUSTED_RECTANGLE= x1 x2 y1 y2`: XDS excludes the (1-based) pixels with
 *   x1 < IX < x2 and y1 < IY < y2 — the XDS Pilatus templates write the 7-column
 *   gap after column 487 as "487 495". In 0-based half-open terms that is
 *   [x1, x2 − 1) × [y1, y2 − 1) (and dxtbx's XDS writer turns a mask [f0, s0, f1, s1]
 *   into "f0 f1+1 s0 s1+1").
 * - `FRACTION_OF_POLARIZATION=` (XDS default 0.5), `POLARIZATION_PLANE_NORMAL=`
 *   (default 0 1 0, XDS frame) → beam polarization (same definition as dxtbx,
 *   whose writer copies them across).
 * - `DETECTOR=` → panel type (PILATUS/EIGER: SENSOR_PAD).
 * - Not represented, ignored: `TRUSTED_REGION=` (a ring around ORGX/ORGY in radii
 *   relative to the detector size), `UNTRUSTED_ELLIPSE=`, `UNTRUSTED_QUADRILATERAL=`,
 *   and `VALUE_RANGE_FOR_TRUSTED_DETECTOR_PIXELS=` (DEFPIX's test on the
 *   background-normalised image, not a raw-pixel range).
 * Geometry in XDS.INP (axes, ORGX, distance, …) is superseded by the refined
 * values in (G)XPARM.XDS and not read.
 *
 * Errors name the file and the keyword (XDS.INP) or line (XPARM).
 */
import { FormatError, InvalidValueError, MissingFieldError, TruncatedError } from '../errors.ts';
import { cross, det, dot, inverse, mulMM, mulMV, norm, normalize, sub } from './linalg.ts';
import type { Crystal, Experiment, ExperimentList, Mat3, MaskRect, Panel, Vec3 } from './model.ts';
import { CELL_EDGE_RANGE_A, MAX_PANEL_PIXELS, WAVELENGTH_RANGE_A, outsideRange } from './expt.ts';
import { s0Vector, unitCellFromRealSpace } from './setting.ts';
import { readTextFile } from '../util/read-text.ts';

// ---------------------------------------------------------------------------- space groups

/**
 * Hall symbols (sgtbx/International Tables default settings; R groups on
 * hexagonal axes) of the 65 Sohncke space groups — the ones a macromolecular
 * XDS run ends in — plus P-1. Other numbers read as an empty Hall symbol.
 */
const HALL_BY_NUMBER: ReadonlyMap<number, string> = new Map([
  [1, 'P 1'], [2, '-P 1'], [3, 'P 2y'], [4, 'P 2yb'], [5, 'C 2y'],
  [16, 'P 2 2'], [17, 'P 2c 2'], [18, 'P 2 2ab'], [19, 'P 2ac 2ab'], [20, 'C 2c 2'], [21, 'C 2 2'],
  [22, 'F 2 2'], [23, 'I 2 2'], [24, 'I 2b 2c'],
  [75, 'P 4'], [76, 'P 4w'], [77, 'P 4c'], [78, 'P 4cw'], [79, 'I 4'], [80, 'I 4bw'],
  [89, 'P 4 2'], [90, 'P 4ab 2ab'], [91, 'P 4w 2c'], [92, 'P 4abw 2nw'], [93, 'P 4c 2'], [94, 'P 4n 2n'],
  [95, 'P 4cw 2c'], [96, 'P 4nw 2abw'], [97, 'I 4 2'], [98, 'I 4bw 2bw'],
  [143, 'P 3'], [144, 'P 31'], [145, 'P 32'], [146, 'R 3'], [149, 'P 3 2'], [150, 'P 3 2"'],
  [151, 'P 31 2c (0 0 1)'], [152, 'P 31 2"'], [153, 'P 32 2c (0 0 -1)'], [154, 'P 32 2"'], [155, 'R 3 2"'],
  [168, 'P 6'], [169, 'P 61'], [170, 'P 65'], [171, 'P 62'], [172, 'P 64'], [173, 'P 6c'],
  [177, 'P 6 2'], [178, 'P 61 2 (0 0 -1)'], [179, 'P 65 2 (0 0 1)'], [180, 'P 62 2c (0 0 1)'],
  [181, 'P 64 2c (0 0 -1)'], [182, 'P 6c 2c'],
  [195, 'P 2 2 3'], [196, 'F 2 2 3'], [197, 'I 2 2 3'], [198, 'P 2ac 2ab 3'], [199, 'I 2b 2c 3'],
  [207, 'P 4 2 3'], [208, 'P 4n 2 3'], [209, 'F 4 2 3'], [210, 'F 4d 2 3'], [211, 'I 4 2 3'],
  [212, 'P 4acd 2ab 3'], [213, 'P 4bd 2ab 3'], [214, 'I 4bd 2c 3'],
]);

const normalizeHall = (h: string): string => h.trim().replace(/\s+/g, ' ');

const NUMBER_BY_HALL: ReadonlyMap<string, number> = new Map([...HALL_BY_NUMBER].map(([n, h]) => [normalizeHall(h), n]));

/** Space-group number of a Hall symbol in the table above, else undefined. */
function spaceGroupNumber(hall: string): number | undefined {
  return NUMBER_BY_HALL.get(normalizeHall(hall));
}

// ---------------------------------------------------------------------------- XDS.INP

interface InpEntry {
  value: string;
  line: number;
}

/** XDS.INP keywords → their values in file order (a keyword may repeat). */
export type XdsInp = ReadonlyMap<string, readonly InpEntry[]>;

/**
 * Split XDS.INP text into keyword/value pairs: `!` starts a comment, a token
 * ending in `=` (or containing `=` with the value attached, `DETECTOR=PILATUS`)
 * names a parameter, and its value runs to the next parameter on the line.
 */
export function parseXdsInpText(text: string): XdsInp {
  const out = new Map<string, InpEntry[]>();
  text.split(/\r?\n/).forEach((raw, i) => {
    const bang = raw.indexOf('!');
    const line = bang >= 0 ? raw.slice(0, bang) : raw;
    const matches = [...line.matchAll(/(^|\s)([^\s=]+)=/g)];
    matches.forEach((m, k) => {
      const start = (m.index ?? 0) + m[0].length;
      const next = matches[k + 1];
      const end = next === undefined ? line.length : (next.index ?? line.length);
      const key = m[2] as string;
      const list = out.get(key) ?? [];
      list.push({ value: line.slice(start, end).trim(), line: i + 1 });
      out.set(key, list);
    });
  });
  return out;
}

class InpReader {
  readonly file: string;
  readonly inp: XdsInp;

  constructor(file: string, inp: XdsInp) {
    this.file = file;
    this.inp = inp;
  }

  /** The last occurrence of `key` (XDS takes the last value given). */
  last(key: string): InpEntry | undefined {
    const list = this.inp.get(key);
    return list?.[list.length - 1];
  }

  private where(key: string, e?: InpEntry): { file: string; field: string } {
    return { file: this.file, field: e === undefined ? key : `${key} (line ${e.line})` };
  }

  numbers(key: string, count: number, e: InpEntry): number[] {
    const tokens = e.value.split(/\s+/).filter((t) => t !== '');
    if (tokens.length < count) {
      throw new InvalidValueError(`expected ${count} number${count > 1 ? 's' : ''}, found '${e.value}'`, this.where(key, e));
    }
    return tokens.slice(0, count).map((t) => {
      const v = Number(t.replace(/[dD]/, 'e'));
      if (!Number.isFinite(v)) throw new InvalidValueError(`'${t}' is not a number`, this.where(key, e));
      return v;
    });
  }

  integers(key: string, count: number, e: InpEntry): number[] {
    const v = this.numbers(key, count, e);
    v.forEach((x) => {
      if (!Number.isInteger(x)) throw new InvalidValueError(`expected integers, found '${e.value}'`, this.where(key, e));
    });
    return v;
  }

  requiredNumbers(key: string, count: number): number[] {
    const e = this.last(key);
    if (e === undefined) throw new MissingFieldError('required keyword is missing', this.where(key));
    return this.numbers(key, count, e);
  }

  optionalNumbers(key: string, count: number): number[] | undefined {
    const e = this.last(key);
    return e === undefined ? undefined : this.numbers(key, count, e);
  }

  string(key: string): string | undefined {
    const e = this.last(key);
    if (e === undefined) return undefined;
    const first = e.value.split(/\s+/)[0] ?? '';
    return first === '' ? undefined : first;
  }

  rectangles(): MaskRect[] {
    const list = this.inp.get('UNTRUSTED_RECTANGLE') ?? [];
    const rects: MaskRect[] = [];
    for (const e of list) {
      const [x1, x2, y1, y2] = this.integers('UNTRUSTED_RECTANGLE', 4, e) as [number, number, number, number];
      const r = { x0: x1, y0: y1, x1: x2 - 1, y1: y2 - 1 };
      if (r.x1 > r.x0 && r.y1 > r.y0) rects.push(r);
    }
    return rects;
  }
}

// ---------------------------------------------------------------------------- XPARM

/** The contents of a (G)XPARM.XDS file, in its own (XDS) frame. */
export interface Xparm {
  startingFrame: number;
  startingAngle: number;
  oscillationRange: number;
  rotationAxis: Vec3;
  wavelength: number;
  /** incident beam vector as written (XDS: length 1/λ) */
  beam: Vec3;
  spaceGroup: number;
  /** a b c α β γ as written */
  cell: readonly number[];
  a: Vec3;
  b: Vec3;
  c: Vec3;
  segments: number;
  nx: number;
  ny: number;
  qx: number;
  qy: number;
  orgx: number;
  orgy: number;
  distance: number;
  xAxis: Vec3;
  yAxis: Vec3;
  normal: Vec3;
  /** 1-based line numbers of the records, for messages (they differ between the layouts) */
  lineOf: { scan: number; beam: number; cellAxes: number; detectorSize: number; detectorAxes: number };
}

class XparmLines {
  readonly file: string;
  readonly lines: string[];

  constructor(file: string, text: string) {
    this.file = file;
    this.lines = text.split(/\r?\n/);
    while (this.lines.length > 0 && (this.lines[this.lines.length - 1] as string).trim() === '') this.lines.pop();
  }

  /** `count` numbers from 1-based line `n`, described as `what` in errors. */
  numbers(n: number, count: number, what: string): number[] {
    const raw = this.lines[n - 1];
    const where = { file: this.file, field: `line ${n}` };
    if (raw === undefined) {
      throw new TruncatedError(`file ends after line ${this.lines.length}; line ${n} should hold ${what}`, where);
    }
    const tokens = raw.trim().split(/\s+/).filter((t) => t !== '');
    if (tokens.length !== count) {
      throw new FormatError(`expected ${count} numbers (${what}), found ${tokens.length}`, where);
    }
    return tokens.map((t) => {
      const v = Number(t);
      if (!Number.isFinite(v)) throw new FormatError(`'${t}' is not a number (${what})`, where);
      return v;
    });
  }

  vec(n: number, what: string): Vec3 {
    const [x, y, z] = this.numbers(n, 3, what) as [number, number, number];
    return [x, y, z];
  }
}

function int(v: number, file: string, line: number, what: string): number {
  if (!Number.isInteger(v)) throw new FormatError(`${what} must be an integer, found ${v}`, { file, field: `line ${line}` });
  return v;
}

/** Parse (G)XPARM.XDS text (new or old layout). */
export function parseXparmText(text: string, file: string): Xparm {
  const L = new XparmLines(file, text);
  const first = L.lines[0];
  if (first === undefined) throw new TruncatedError('file is empty', { file, field: 'line 1' });
  if (first.includes('XPARM')) {
    const l2 = L.numbers(2, 6, 'starting frame, starting angle, oscillation range, rotation axis');
    const l3 = L.numbers(3, 4, 'wavelength, incident beam vector');
    const l4 = L.numbers(4, 7, 'space group number, a b c α β γ');
    const a = L.vec(5, 'unit-cell a axis');
    const b = L.vec(6, 'unit-cell b axis');
    const c = L.vec(7, 'unit-cell c axis');
    const l8 = L.numbers(8, 5, 'number of segments, NX, NY, QX, QY');
    const l9 = L.numbers(9, 3, 'ORGX, ORGY, detector distance');
    const xAxis = L.vec(10, 'detector X axis');
    const yAxis = L.vec(11, 'detector Y axis');
    const normal = L.vec(12, 'detector normal');
    const segments = int(l8[0] as number, file, 8, 'number of segments');
    for (let s = 0; s < segments; s++) {
      L.numbers(13 + 2 * s, 5, `segment ${s + 1}: iseg x1 x2 y1 y2`);
      L.numbers(14 + 2 * s, 9, `segment ${s + 1}: ORGXS ORGYS FS EDS(:,1) EDS(:,2)`);
    }
    return {
      startingFrame: int(l2[0] as number, file, 2, 'starting frame'),
      startingAngle: l2[1] as number,
      oscillationRange: l2[2] as number,
      rotationAxis: [l2[3], l2[4], l2[5]] as Vec3,
      wavelength: l3[0] as number,
      beam: [l3[1], l3[2], l3[3]] as Vec3,
      spaceGroup: int(l4[0] as number, file, 4, 'space group number'),
      cell: l4.slice(1),
      a,
      b,
      c,
      segments,
      nx: int(l8[1] as number, file, 8, 'NX'),
      ny: int(l8[2] as number, file, 8, 'NY'),
      qx: l8[3] as number,
      qy: l8[4] as number,
      orgx: l9[0] as number,
      orgy: l9[1] as number,
      distance: l9[2] as number,
      xAxis,
      yAxis,
      normal,
      lineOf: { scan: 2, beam: 3, cellAxes: 5, detectorSize: 8, detectorAxes: 10 },
    };
  }
  // old layout: 11 lines, 42 numbers
  const l1 = L.numbers(1, 6, 'starting frame, starting angle, oscillation range, rotation axis');
  const l2 = L.numbers(2, 4, 'wavelength, incident beam vector');
  const l3 = L.numbers(3, 4, 'NX, NY, QX, QY');
  const l4 = L.numbers(4, 3, 'detector distance, ORGX, ORGY');
  const xAxis = L.vec(5, 'detector X axis');
  const yAxis = L.vec(6, 'detector Y axis');
  const normal = L.vec(7, 'detector normal');
  const l8 = L.numbers(8, 7, 'space group number, a b c α β γ');
  return {
    startingFrame: int(l1[0] as number, file, 1, 'starting frame'),
    startingAngle: l1[1] as number,
    oscillationRange: l1[2] as number,
    rotationAxis: [l1[3], l1[4], l1[5]] as Vec3,
    wavelength: l2[0] as number,
    beam: [l2[1], l2[2], l2[3]] as Vec3,
    spaceGroup: int(l8[0] as number, file, 8, 'space group number'),
    cell: l8.slice(1),
    a: L.vec(9, 'unit-cell a axis'),
    b: L.vec(10, 'unit-cell b axis'),
    c: L.vec(11, 'unit-cell c axis'),
    segments: 1,
    nx: int(l3[0] as number, file, 3, 'NX'),
    ny: int(l3[1] as number, file, 3, 'NY'),
    qx: l3[2] as number,
    qy: l3[3] as number,
    orgx: l4[1] as number,
    orgy: l4[2] as number,
    distance: l4[0] as number,
    xAxis,
    yAxis,
    normal,
    lineOf: { scan: 1, beam: 2, cellAxes: 9, detectorSize: 3, detectorAxes: 5 },
  };
}

// ---------------------------------------------------------------------------- reader

/** Rotation taking `axis` to +x and the part of `toSource` normal to it to +z (rows e₁, e₂, e₃). */
function xdsToDialsRotation(axis: Vec3, toSource: Vec3): Mat3 | undefined {
  const e1 = normalize(axis);
  const perp = sub(toSource, [e1[0] * dot(toSource, e1), e1[1] * dot(toSource, e1), e1[2] * dot(toSource, e1)]);
  if (!(norm(perp) > 1e-9)) return undefined;
  const e3 = normalize(perp);
  const e2 = cross(e3, e1);
  return [e1[0], e1[1], e1[2], e2[0], e2[1], e2[2], e3[0], e3[1], e3[2]];
}

/** Build the experiment from parsed XDS.INP and XPARM contents. `inpFile`/`xparmFile` name them in errors. */
export function xdsToExperimentList(inp: XdsInp, xparm: Xparm, inpFile: string, xparmFile: string): ExperimentList {
  const I = new InpReader(inpFile, inp);
  const xp = xparm;
  const bad = (line: number, msg: string): FormatError => new FormatError(msg, { file: xparmFile, field: `line ${line}` });
  if (xp.segments !== 1) {
    throw new InvalidValueError(`${xp.segments} detector segments; only one-segment XPARM files are supported`, {
      file: xparmFile,
      field: `line ${xp.lineOf.detectorSize}`,
    });
  }
  const at = xp.lineOf;
  if (!(norm(xp.rotationAxis) > 0)) throw bad(at.scan, 'rotation axis has zero length');
  if (!(norm(xp.beam) > 0)) throw bad(at.beam, 'incident beam vector has zero length');
  if (!(xp.wavelength > 0)) throw bad(at.beam, `wavelength must be positive, found ${xp.wavelength}`);
  const range = (line: number, why: string | undefined): void => {
    if (why !== undefined) throw new InvalidValueError(why, { file: xparmFile, field: `line ${line}` });
  };
  range(at.beam, outsideRange('wavelength', xp.wavelength, WAVELENGTH_RANGE_A));
  for (const [name, v] of [['a', xp.a], ['b', xp.b], ['c', xp.c]] as const) {
    range(at.cellAxes, outsideRange(`unit-cell ${name} axis length`, norm(v), CELL_EDGE_RANGE_A));
  }
  if (!(xp.qx > 0 && xp.qy > 0)) throw bad(at.detectorSize, `pixel size must be positive, found ${xp.qx} ${xp.qy}`);
  if (!(xp.nx > 0 && xp.ny > 0)) throw bad(at.detectorSize, `image size must be positive, found ${xp.nx} ${xp.ny}`);
  // the image size sizes pixel buffers: bounded as a DIALS panel's is
  if (xp.nx * xp.ny > MAX_PANEL_PIXELS) throw bad(at.detectorSize, `image size ${xp.nx}×${xp.ny} is more than ${MAX_PANEL_PIXELS} pixels`);
  if (!(norm(cross(xp.xAxis, xp.yAxis)) > 0)) throw bad(at.detectorAxes, 'detector X and Y axes are zero or parallel');

  const B = normalize([-xp.beam[0], -xp.beam[1], -xp.beam[2]]);
  const R = xdsToDialsRotation(xp.rotationAxis, B);
  if (R === undefined) throw bad(at.beam, 'incident beam is parallel to the rotation axis');
  const rot = (v: Vec3): Vec3 => mulMV(R, v);

  const X = normalize(xp.xAxis);
  const Y = normalize(xp.yAxis);
  const N = normalize(cross(X, Y));
  const ox = (xp.orgx - 0.5) * xp.qx;
  const oy = (xp.orgy - 0.5) * xp.qy;
  const originXds: Vec3 = [
    xp.distance * N[0] - ox * X[0] - oy * Y[0],
    xp.distance * N[1] - ox * X[1] - oy * Y[1],
    xp.distance * N[2] - ox * X[2] - oy * Y[2],
  ];

  const [dataFirst, dataLast] = I.requiredNumbers('DATA_RANGE', 2) as [number, number];
  const dr = I.last('DATA_RANGE') as InpEntry;
  if (!Number.isInteger(dataFirst) || !Number.isInteger(dataLast) || dataLast < dataFirst) {
    throw new InvalidValueError(`expected first and last image numbers, found '${dr.value}'`, { file: inpFile, field: `DATA_RANGE (line ${dr.line})` });
  }
  const minValid = I.optionalNumbers('MINIMUM_VALID_PIXEL_VALUE', 1)?.[0] ?? 0;
  const overload = (I.requiredNumbers('OVERLOAD', 1) as [number])[0];
  const thickness = I.optionalNumbers('SENSOR_THICKNESS', 1)?.[0] ?? 0;
  const mu = I.optionalNumbers('SILICON', 1)?.[0] ?? 0;
  const detectorName = (I.string('DETECTOR') ?? '').toUpperCase();
  const polFraction = I.optionalNumbers('FRACTION_OF_POLARIZATION', 1)?.[0] ?? 0.5;
  const polNormal = (I.optionalNumbers('POLARIZATION_PLANE_NORMAL', 3) as Vec3 | undefined) ?? [0, 1, 0];
  if (!(norm(polNormal) > 0)) {
    throw new InvalidValueError('polarization plane normal has zero length', { file: inpFile, field: 'POLARIZATION_PLANE_NORMAL' });
  }

  const panel: Panel = {
    name: 'Panel',
    type: detectorName === 'PILATUS' || detectorName === 'EIGER' ? 'SENSOR_PAD' : 'SENSOR_UNKNOWN',
    origin: rot(originXds),
    fastAxis: rot(X),
    slowAxis: rot(Y),
    pixelSize: [xp.qx, xp.qy],
    imageSize: [xp.nx, xp.ny],
    trustedRange: [minValid - 1, overload],
    thickness,
    material: '',
    mu,
    pxMmStrategy: mu > 0 && thickness > 0 ? 'parallax' : 'simple',
    mask: I.rectangles(),
    gain: 1,
    pedestal: 0,
    identifier: '',
  };

  const a = rot(xp.a);
  const b = rot(xp.b);
  const c = rot(xp.c);
  const rows: Mat3 = [a[0], a[1], a[2], b[0], b[1], b[2], c[0], c[1], c[2]];
  if (!(Math.abs(det(rows)) > 1e-12)) throw bad(at.cellAxes, 'unit-cell axes are linearly dependent');
  const crystal: Crystal = {
    A: inverse(rows),
    unitCell: unitCellFromRealSpace(a, b, c),
    spaceGroupHall: HALL_BY_NUMBER.get(xp.spaceGroup) ?? '',
  };

  const experiment: Experiment = {
    identifier: '',
    beam: {
      wavelength: xp.wavelength,
      direction: rot(B),
      polarizationFraction: polFraction,
      polarizationNormal: rot(normalize(polNormal)),
    },
    detector: { panels: [panel] },
    goniometer: {
      rotationAxis: rot(normalize(xp.rotationAxis)),
      fixedRotation: [1, 0, 0, 0, 1, 0, 0, 0, 1],
      settingRotation: [1, 0, 0, 0, 1, 0, 0, 0, 1],
    },
    scan: {
      imageRange: [dataFirst, dataLast],
      oscillation: [xp.startingAngle + (dataFirst - xp.startingFrame) * xp.oscillationRange, xp.oscillationRange],
      exposureTimes: [],
      epochs: [],
      batchOffset: 0,
    },
    crystal,
  };
  const template = I.string('NAME_TEMPLATE_OF_DATA_FRAMES');
  if (template !== undefined) experiment.imageset = { template: template.replace(/\?/g, '#') };
  return { source: xparmFile, experiments: [experiment] };
}

/** Read XDS.INP and (G)XPARM.XDS into a one-experiment list in the DIALS frame. */
export async function readXds(xdsInpPath: string, xparmPath: string): Promise<ExperimentList> {
  const [inpText, xparmText] = await Promise.all([readTextFile(xdsInpPath), readTextFile(xparmPath)]);
  return xdsToExperimentList(parseXdsInpText(inpText), parseXparmText(xparmText, xparmPath), xdsInpPath, xparmPath);
}

// ---------------------------------------------------------------------------- writers

function needRotation(exp: Experiment, what: string): { panel: Panel; crystal: Crystal; axis: Vec3; setting: Mat3 } {
  const fail = (msg: string): InvalidValueError => new InvalidValueError(`cannot write ${what}: ${msg}`, { field: 'experiment' });
  const panel = exp.detector.panels[0];
  if (panel === undefined || exp.detector.panels.length !== 1) throw fail('XDS output supports one-panel detectors only');
  if (exp.goniometer === undefined || exp.scan === undefined) throw fail('a rotation experiment (goniometer and scan) is needed');
  if (exp.crystal === undefined) throw fail('the experiment has no crystal model');
  const g = exp.goniometer;
  // S·R(axis, φ)·F·A = R(S·axis, φ)·(S·F·A): XDS's single axis is S·axis, its datum crystal S·F·A.
  return { panel, crystal: exp.crystal, axis: normalize(mulMV(g.settingRotation, g.rotationAxis)), setting: mulMM(g.settingRotation, g.fixedRotation) };
}

/** The detector as XDS describes it: unit X, Y, N = X × Y, signed distance, ORGX/ORGY in XDS pixel coordinates. */
function xdsDetector(panel: Panel): { X: Vec3; Y: Vec3; N: Vec3; distance: number; orgx: number; orgy: number } {
  const X = normalize(panel.fastAxis);
  const Y = normalize(panel.slowAxis);
  const N = normalize(cross(X, Y));
  const distance = dot(panel.origin, N);
  // foot of the normal from the crystal, relative to the origin, in (fast, slow) mm (axes need not be orthogonal)
  const p = sub([N[0] * distance, N[1] * distance, N[2] * distance], panel.origin);
  const xx = dot(X, X);
  const xy = dot(X, Y);
  const yy = dot(Y, Y);
  const px = dot(p, X);
  const py = dot(p, Y);
  const d = xx * yy - xy * xy;
  const xmm = (px * yy - py * xy) / d;
  const ymm = (py * xx - px * xy) / d;
  return { X, Y, N, distance, orgx: xmm / panel.pixelSize[0] + 0.5, orgy: ymm / panel.pixelSize[1] + 0.5 };
}

/** Real-space axes (rows of (S·F·A)⁻¹) of the crystal as XDS sees it at φ = 0. */
function xdsCellAxes(crystal: Crystal, setting: Mat3): [Vec3, Vec3, Vec3] {
  const m = inverse(mulMM(setting, crystal.A));
  return [
    [m[0], m[1], m[2]],
    [m[3], m[4], m[5]],
    [m[6], m[7], m[8]],
  ];
}

const fx = (v: number, digits = 10): string => v.toFixed(digits);
const vec = (v: Vec3, digits = 10): string => v.map((x) => fx(x, digits).padStart(digits + 6)).join(' ');

/**
 * XPARM.XDS text (new layout, one segment) for a rotation experiment, in the
 * experiment's own lab frame (any right-handed frame is valid for XDS). Multi-axis
 * settings are folded in (axis S·axis, crystal S·F·A); scan-varying models are
 * written at their static values. The space group is written by number when its
 * Hall symbol is in the Sohncke table, else as 1.
 */
export function writeXparm(exp: Experiment): string {
  const { panel, crystal, axis, setting } = needRotation(exp, 'XPARM.XDS');
  const scan = exp.scan as NonNullable<Experiment['scan']>;
  const geo = xdsDetector(panel);
  const [a, b, c] = xdsCellAxes(crystal, setting);
  const cell = unitCellFromRealSpace(a, b, c);
  const s0 = s0Vector(exp.beam);
  const sg = spaceGroupNumber(crystal.spaceGroupHall) ?? 1;
  const lines = [
    ' XPARM.XDS    VERSION diffract',
    `${String(scan.imageRange[0]).padStart(6)} ${fx(scan.oscillation[0])} ${fx(scan.oscillation[1])} ${vec(axis)}`,
    `${fx(exp.beam.wavelength)} ${vec(s0)}`,
    `${String(sg).padStart(6)} ${[cell.a, cell.b, cell.c, cell.alpha, cell.beta, cell.gamma].map((v) => fx(v, 6)).join(' ')}`,
    vec(a),
    vec(b),
    vec(c),
    `${String(1).padStart(10)}${String(panel.imageSize[0]).padStart(10)}${String(panel.imageSize[1]).padStart(10)} ${fx(panel.pixelSize[0])} ${fx(panel.pixelSize[1])}`,
    `${fx(geo.orgx)} ${fx(geo.orgy)} ${fx(geo.distance)}`,
    vec(geo.X),
    vec(geo.Y),
    vec(geo.N),
    `${String(1).padStart(10)}${String(1).padStart(10)}${String(panel.imageSize[0]).padStart(10)}${String(1).padStart(10)}${String(panel.imageSize[1]).padStart(10)}`,
    '    0.00    0.00    0.00  1.00000  0.00000  0.00000  0.00000  1.00000  0.00000',
  ];
  return `${lines.join('\n')}\n`;
}

/** XDS detector name for a panel: EIGER/PILATUS for pixel arrays (by identifier), else ADSC (as dxtbx does for unknown ones). */
function xdsDetectorName(panel: Panel): string {
  const id = `${panel.identifier} ${panel.name}`.toUpperCase();
  if (id.includes('EIGER')) return 'EIGER';
  if (id.includes('PILATUS') || panel.type === 'SENSOR_PAD') return 'PILATUS';
  return 'ADSC';
}

/**
 * A minimal XDS.INP for a rotation experiment, consistent with `writeXparm`
 * (same lab frame): detector, trusted range and rectangles, sensor, geometry,
 * beam, rotation, image template and range, space group and cell.
 */
export function writeXdsInp(exp: Experiment): string {
  const { panel, crystal, axis, setting } = needRotation(exp, 'XDS.INP');
  const scan = exp.scan as NonNullable<Experiment['scan']>;
  const geo = xdsDetector(panel);
  const [a, b, c] = xdsCellAxes(crystal, setting);
  const cell = unitCellFromRealSpace(a, b, c);
  const s0 = s0Vector(exp.beam);
  const v = (x: Vec3): string => x.map((e) => fx(e)).join(' ');
  const lines = [
    '! written by diffract (minimal XDS.INP; geometry refined values are in XPARM.XDS)',
    'JOB= XYCORR INIT COLSPOT IDXREF DEFPIX INTEGRATE CORRECT',
    `DETECTOR= ${xdsDetectorName(panel)}  MINIMUM_VALID_PIXEL_VALUE= ${panel.trustedRange[0] + 1}  OVERLOAD= ${panel.trustedRange[1]}`,
    `NX= ${panel.imageSize[0]}  NY= ${panel.imageSize[1]}  QX= ${fx(panel.pixelSize[0])}  QY= ${fx(panel.pixelSize[1])}`,
  ];
  if (panel.thickness > 0) lines.push(`SENSOR_THICKNESS= ${fx(panel.thickness)}`);
  if (panel.pxMmStrategy === 'parallax' && panel.mu > 0) lines.push(`SILICON= ${fx(panel.mu)}`);
  lines.push(
    `DIRECTION_OF_DETECTOR_X-AXIS= ${v(geo.X)}`,
    `DIRECTION_OF_DETECTOR_Y-AXIS= ${v(geo.Y)}`,
    `DETECTOR_DISTANCE= ${fx(geo.distance)}`,
    `ORGX= ${fx(geo.orgx)}  ORGY= ${fx(geo.orgy)}`,
    `ROTATION_AXIS= ${v(axis)}`,
    `STARTING_ANGLE= ${fx(scan.oscillation[0])}  STARTING_FRAME= ${scan.imageRange[0]}`,
    `OSCILLATION_RANGE= ${fx(scan.oscillation[1])}`,
    `X-RAY_WAVELENGTH= ${fx(exp.beam.wavelength)}`,
    `INCIDENT_BEAM_DIRECTION= ${v(s0)}`,
    `FRACTION_OF_POLARIZATION= ${fx(exp.beam.polarizationFraction)}`,
    `POLARIZATION_PLANE_NORMAL= ${v(exp.beam.polarizationNormal)}`,
  );
  const template = exp.imageset?.template;
  if (template !== undefined) lines.push(`NAME_TEMPLATE_OF_DATA_FRAMES= ${template.replace(/#/g, '?')}`);
  lines.push(`DATA_RANGE= ${scan.imageRange[0]} ${scan.imageRange[1]}`);
  const sg = spaceGroupNumber(crystal.spaceGroupHall);
  if (sg !== undefined) {
    lines.push(`SPACE_GROUP_NUMBER= ${sg}`);
    lines.push(`UNIT_CELL_CONSTANTS= ${[cell.a, cell.b, cell.c, cell.alpha, cell.beta, cell.gamma].map((x) => fx(x, 6)).join(' ')}`);
  }
  for (const m of panel.mask) lines.push(`UNTRUSTED_RECTANGLE= ${m.x0} ${m.x1 + 1} ${m.y0} ${m.y1 + 1}`);
  return `${lines.join('\n')}\n`;
}
