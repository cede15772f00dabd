/**
 * CrystFEL stream (`.stream`) reader: the text `indexamajig` writes, format 2.x.
 *
 * A stream is a header, an optional geometry section (the `.geom` file as given to
 * indexamajig), an optional target unit cell, then one chunk per image:
 *
 *     ----- Begin geometry file -----   … `key = value`, `panel/key = value` …   ----- End geometry file -----
 *     ----- Begin unit cell -----       … a = 79.20 A … al = 90.00 deg …         ----- End unit cell -----
 *     ----- Begin chunk -----
 *     Image filename: run1.h5
 *     Event: //17                        (multi-event files only)
 *     photon_energy_eV = 9700.000000
 *     beam_divergence = 0.00e+00 rad
 *     beam_bandwidth = 1.00e-08 (fraction)
 *     average_camera_length = 0.149000 m
 *     Peaks from peak search … End of peak list
 *     --- Begin crystal                  (zero or more per chunk)
 *     Cell parameters 7.9 8.0 3.8 nm, 90.6 90.1 89.7 deg
 *     astar = +0.0279588 -0.1224762 -0.0092915 nm^-1
 *     bstar = …   cstar = …
 *     profile_radius = 0.00355 nm^-1
 *     predict_refine/det_shift x = 0.010 y = -0.032 mm
 *     Reflections measured after indexing
 *        h    k    l          I   sigma(I)       peak background  fs/px  ss/px panel
 *     End of reflections
 *     --- End crystal
 *     ----- End chunk -----
 *
 * Everything is kept in CrystFEL's own frame and units here (lab frame +z along the
 * beam, +y up; reciprocal vectors in nm⁻¹; panel positions in pixels; clen in m).
 * The conversion to diffract's (DIALS) conventions is `src/stills/crystfel.ts`
 * and is documented in docs/stills.md.
 *
 * Geometry keys read (crystfel_geometry(5)): per panel `min_fs max_fs min_ss max_ss
 * fs ss corner_x corner_y res clen coffset`, each defaulting to the global value of
 * the same key; `photon_energy` (eV) globally. A `clen` or `photon_energy` that
 * names an HDF5 field (a value that is not a number) is kept as that name; the
 * chunk's `average_camera_length` / `photon_energy_eV` then supply the value.
 * Lines starting with `;` are comments; `bad_*` and `rigid_group*` entries are not
 * panels.
 *
 * Errors name the file and the 1-based line (`field: 'line N'`).
 */
import { FormatError, InvalidValueError, MissingFieldError } from '../errors.ts';
import type { UnitCell } from '../geometry/model.ts';
import { readTextFile } from '../util/read-text.ts';

export type Xyz = readonly [number, number, number];

/** One panel of a CrystFEL geometry, in CrystFEL units (pixels, metres). */
export interface CrystfelPanel {
  name: string;
  /** inclusive data-array bounds */
  minFs: number;
  maxFs: number;
  minSs: number;
  maxSs: number;
  /** lab-frame direction of +fs and +ss, in pixels per pixel step (x, y, z) */
  fs: Xyz;
  ss: Xyz;
  /** lab x, y of the corner of the panel's first pixel, in pixels */
  cornerX: number;
  cornerY: number;
  /** pixels per metre */
  res: number;
  /** camera length in m, or the HDF5 field that holds it */
  clen: number | string;
  /** m, added to clen */
  coffset: number;
}

export interface CrystfelGeometry {
  panels: CrystfelPanel[];
  /** eV, or the HDF5 field that holds it; undefined when the geometry has none */
  photonEnergy: number | string | undefined;
  /** every global (panel-less) key as written */
  globals: ReadonlyMap<string, string>;
}

/** A unit cell: a, b, c in Å, angles in degrees. */
export type CrystfelCell = UnitCell;

/** The reflections of one crystal, as columns (row r of each). */
export interface StreamReflections {
  h: Int32Array;
  k: Int32Array;
  l: Int32Array;
  intensity: Float64Array;
  sigma: Float64Array;
  peak: Float64Array;
  background: Float64Array;
  /** data-array coordinates (pixels), as written */
  fs: Float64Array;
  ss: Float64Array;
  /** index into `geometry.panels` */
  panel: Int32Array;
}

export interface StreamCrystal {
  /** 1-based line of `--- Begin crystal` */
  line: number;
  /** from `Cell parameters` (nm → Å) */
  cell: CrystfelCell | undefined;
  /** reciprocal axes in CrystFEL's lab frame, nm⁻¹ */
  astar: Xyz;
  bstar: Xyz;
  cstar: Xyz;
  /** nm⁻¹ (0 when absent) */
  profileRadius: number;
  /** mm, `predict_refine/det_shift` (0, 0 when absent) */
  detShift: readonly [number, number];
  latticeType: string;
  centering: string;
  reflections: StreamReflections;
}

export interface StreamChunk {
  /** 0-based position in the stream */
  index: number;
  /** 1-based line of `----- Begin chunk -----` */
  line: number;
  filename: string;
  /** `Event:` value (e.g. `//17`), '' when absent */
  event: string;
  serial: number | undefined;
  indexedBy: string;
  /** eV */
  photonEnergyEv: number | undefined;
  /** rad */
  beamDivergence: number;
  /** full width, as a fraction of the wavelength */
  beamBandwidth: number;
  /** m */
  averageCameraLength: number | undefined;
  numPeaks: number;
  crystals: StreamCrystal[];
}

export interface CrystfelStream {
  source: string;
  /** e.g. '2.3' */
  formatVersion: string;
  geometry: CrystfelGeometry | undefined;
  targetCell: CrystfelCell | undefined;
  chunks: StreamChunk[];
}

const NUM = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

function isNumber(s: string): boolean {
  return NUM.test(s);
}

/** Reads a stream file's text. `source` names the file in errors. */
export function parseCrystfelStream(text: string, source: string): CrystfelStream {
  const lines = text.split(/\r?\n/);
  const fail = (lineNo: number, message: string): FormatError => new FormatError(message, { file: source, field: `line ${lineNo}` });
  const first = lines[0] ?? '';
  const m = /^CrystFEL stream format (\d+(?:\.\d+)?)/.exec(first);
  if (m === null) throw fail(1, `not a CrystFEL stream: the first line is ${JSON.stringify(first.slice(0, 60))}`);
  const formatVersion = m[1] as string;

  let geometry: CrystfelGeometry | undefined;
  let targetCell: CrystfelCell | undefined;
  const chunks: StreamChunk[] = [];
  let i = 1;
  while (i < lines.length) {
    const line = (lines[i] as string).trim();
    if (line === '----- Begin geometry file -----') {
      const start = i + 1;
      const end = findLine(lines, i + 1, '----- End geometry file -----');
      if (end < 0) throw fail(i + 1, 'geometry section has no end line');
      geometry = parseGeometry(lines.slice(start, end), start + 1, source);
      i = end + 1;
    } else if (line === '----- Begin unit cell -----') {
      const end = findLine(lines, i + 1, '----- End unit cell -----');
      if (end < 0) throw fail(i + 1, 'unit cell section has no end line');
      targetCell = parseTargetCell(lines.slice(i + 1, end));
      i = end + 1;
    } else if (line === '----- Begin chunk -----') {
      const end = findLine(lines, i + 1, '----- End chunk -----');
      if (end < 0) throw fail(i + 1, `chunk ${chunks.length} has no end line (the stream is cut short)`);
      chunks.push(parseChunk(lines, i, end, chunks.length, geometry, source));
      i = end + 1;
    } else {
      i++;
    }
  }
  return { source, formatVersion, geometry, targetCell, chunks };
}

function findLine(lines: readonly string[], from: number, what: string): number {
  for (let j = from; j < lines.length; j++) if ((lines[j] as string).trim() === what) return j;
  return -1;
}

/** `key = value` with comments (`;` …) stripped, or undefined. */
function keyValue(raw: string): [string, string] | undefined {
  const semi = raw.indexOf(';');
  const line = (semi >= 0 ? raw.slice(0, semi) : raw).trim();
  const eq = line.indexOf('=');
  if (eq <= 0) return undefined;
  return [line.slice(0, eq).trim(), line.slice(eq + 1).trim()];
}

// ---------------------------------------------------------------------------- geometry

/** A direction like `-0.000009x -0.999996y -0.002520z` or `+x`. */
function parseDirection(value: string, where: () => InvalidValueError): Xyz {
  const v = [0, 0, 0];
  const compact = value.replace(/\s+/g, '');
  if (compact === '') throw where();
  const re = /([+-]?)(\d*\.?\d*(?:[eE][+-]?\d+)?)([xyz])/gy;
  let pos = 0;
  let mm: RegExpExecArray | null;
  while (pos < compact.length) {
    re.lastIndex = pos;
    mm = re.exec(compact);
    if (mm === null) throw where();
    const mag = mm[2] === '' ? 1 : Number(mm[2]);
    if (!Number.isFinite(mag)) throw where();
    const axis = mm[3] === 'x' ? 0 : mm[3] === 'y' ? 1 : 2;
    v[axis] = (v[axis] as number) + (mm[1] === '-' ? -mag : mag);
    pos = re.lastIndex;
  }
  return [v[0] as number, v[1] as number, v[2] as number];
}

function parseGeometry(lines: readonly string[], firstLineNo: number, source: string): CrystfelGeometry {
  const globals = new Map<string, string>();
  const panelKeys = new Map<string, Map<string, { value: string; line: number }>>();
  const globalLine = new Map<string, number>();
  lines.forEach((raw, j) => {
    const kv = keyValue(raw);
    if (kv === undefined) return;
    const [key, value] = kv;
    const slash = key.indexOf('/');
    if (slash < 0) {
      globals.set(key, value);
      globalLine.set(key, firstLineNo + j);
      return;
    }
    const panel = key.slice(0, slash);
    if (panel.startsWith('bad') || panel.startsWith('rigid_group')) return;
    let keys = panelKeys.get(panel);
    if (keys === undefined) {
      keys = new Map();
      panelKeys.set(panel, keys);
    }
    keys.set(key.slice(slash + 1), { value, line: firstLineNo + j });
  });
  const panels: CrystfelPanel[] = [];
  for (const [name, keys] of panelKeys) {
    const get = (k: string): { value: string; line: number } | undefined => {
      const own = keys.get(k);
      if (own !== undefined) return own;
      const g = globals.get(k);
      return g === undefined ? undefined : { value: g, line: globalLine.get(k) ?? firstLineNo };
    };
    const need = (k: string): { value: string; line: number } => {
      const v = get(k);
      if (v === undefined) throw new MissingFieldError(`geometry: panel '${name}' has no ${k}`, { file: source, field: `${name}/${k}` });
      return v;
    };
    const num = (k: string, dflt?: number): number => {
      const v = dflt === undefined ? need(k) : get(k);
      if (v === undefined) return dflt as number;
      if (!isNumber(v.value)) throw new InvalidValueError(`geometry line ${v.line}: ${name}/${k} = '${v.value}' is not a number`, { file: source, field: `${name}/${k}` });
      return Number(v.value);
    };
    const dir = (k: string): Xyz => {
      const v = need(k);
      return parseDirection(v.value, () => new InvalidValueError(`geometry line ${v.line}: ${name}/${k} = '${v.value}' is not a direction like '+1.0x -0.5y'`, { file: source, field: `${name}/${k}` }));
    };
    const clenRaw = need('clen');
    const res = num('res');
    if (!(res > 0)) throw new InvalidValueError(`geometry: panel '${name}' has res ${res}, expected pixels per metre > 0`, { file: source, field: `${name}/res` });
    const panel: CrystfelPanel = {
      name,
      minFs: num('min_fs'),
      maxFs: num('max_fs'),
      minSs: num('min_ss'),
      maxSs: num('max_ss'),
      fs: dir('fs'),
      ss: dir('ss'),
      cornerX: num('corner_x'),
      cornerY: num('corner_y'),
      res,
      clen: isNumber(clenRaw.value) ? Number(clenRaw.value) : clenRaw.value,
      coffset: num('coffset', 0),
    };
    if (!(panel.maxFs >= panel.minFs && panel.maxSs >= panel.minSs)) {
      throw new InvalidValueError(`geometry: panel '${name}' has an empty pixel range`, { file: source, field: `${name}/max_fs` });
    }
    panels.push(panel);
  }
  const pe = globals.get('photon_energy');
  let photonEnergy: number | string | undefined;
  if (pe !== undefined) {
    const first = pe.split(/\s+/)[0] as string;
    photonEnergy = isNumber(first) ? Number(first) : pe;
  }
  return { panels, photonEnergy, globals };
}

function parseTargetCell(lines: readonly string[]): CrystfelCell | undefined {
  const vals = new Map<string, number>();
  for (const raw of lines) {
    const kv = keyValue(raw);
    if (kv === undefined) continue;
    const n = Number(kv[1].split(/\s+/)[0]);
    if (Number.isFinite(n)) vals.set(kv[0], n);
  }
  const get = (k: string): number | undefined => vals.get(k);
  const [a, b, c, al, be, ga] = [get('a'), get('b'), get('c'), get('al'), get('be'), get('ga')];
  if (a === undefined || b === undefined || c === undefined || al === undefined || be === undefined || ga === undefined) return undefined;
  return { a, b, c, alpha: al, beta: be, gamma: ga };
}

// ---------------------------------------------------------------------------- chunks

function parseChunk(lines: readonly string[], begin: number, end: number, index: number, geometry: CrystfelGeometry | undefined, source: string): StreamChunk {
  const chunk: StreamChunk = {
    index,
    line: begin + 1,
    filename: '',
    event: '',
    serial: undefined,
    indexedBy: '',
    photonEnergyEv: undefined,
    beamDivergence: 0,
    beamBandwidth: 0,
    averageCameraLength: undefined,
    numPeaks: 0,
    crystals: [],
  };
  const where = (j: number, field: string): { file: string; field: string } => ({ file: source, field: `chunk ${index} (line ${j + 1}) ${field}` });
  const firstNumber = (j: number, key: string, value: string): number => {
    const t = value.split(/\s+/)[0] as string;
    if (!isNumber(t)) throw new InvalidValueError(`'${value}' is not a number`, where(j, key));
    return Number(t);
  };
  let j = begin + 1;
  while (j < end) {
    const line = (lines[j] as string).trim();
    if (line.startsWith('Image filename:')) {
      chunk.filename = line.slice('Image filename:'.length).trim();
    } else if (line.startsWith('Event:')) {
      chunk.event = line.slice('Event:'.length).trim();
    } else if (line.startsWith('Image serial number:')) {
      chunk.serial = firstNumber(j, 'Image serial number', line.slice('Image serial number:'.length).trim());
    } else if (line === 'Peaks from peak search') {
      const stop = findLine(lines, j + 1, 'End of peak list');
      if (stop < 0 || stop > end) throw new FormatError('peak list has no end line', where(j, 'peaks'));
      chunk.numPeaks = Math.max(0, stop - j - 2);
      j = stop;
    } else if (line === '--- Begin crystal') {
      const stop = findLine(lines, j + 1, '--- End crystal');
      if (stop < 0 || stop > end) throw new FormatError('crystal has no end line', where(j, 'crystal'));
      chunk.crystals.push(parseCrystal(lines, j, stop, index, geometry, source));
      j = stop;
    } else {
      const kv = keyValue(line);
      if (kv !== undefined) {
        const [key, value] = kv;
        if (key === 'indexed_by') chunk.indexedBy = value;
        else if (key === 'photon_energy_eV') chunk.photonEnergyEv = firstNumber(j, key, value);
        else if (key === 'beam_divergence') chunk.beamDivergence = firstNumber(j, key, value);
        else if (key === 'beam_bandwidth') chunk.beamBandwidth = firstNumber(j, key, value);
        else if (key === 'average_camera_length') chunk.averageCameraLength = firstNumber(j, key, value);
      }
    }
    j++;
  }
  return chunk;
}

function parseXyzNm(j: number, value: string, key: string, where: (j: number, f: string) => { file: string; field: string }): Xyz {
  const parts = value.split(/\s+/);
  const nums = parts.slice(0, 3).map(Number);
  if (nums.length !== 3 || !nums.every(Number.isFinite) || parts[3] !== 'nm^-1') {
    throw new InvalidValueError(`'${value}' is not three numbers in nm^-1`, where(j, key));
  }
  return [nums[0] as number, nums[1] as number, nums[2] as number];
}

function parseCrystal(lines: readonly string[], begin: number, end: number, chunkIndex: number, geometry: CrystfelGeometry | undefined, source: string): StreamCrystal {
  const where = (j: number, field: string): { file: string; field: string } => ({ file: source, field: `chunk ${chunkIndex} (line ${j + 1}) ${field}` });
  let astar: Xyz | undefined;
  let bstar: Xyz | undefined;
  let cstar: Xyz | undefined;
  let cell: CrystfelCell | undefined;
  let profileRadius = 0;
  let detShift: readonly [number, number] = [0, 0];
  let latticeType = '';
  let centering = '';
  let reflections: StreamReflections | undefined;
  let j = begin + 1;
  while (j < end) {
    const line = (lines[j] as string).trim();
    if (line.startsWith('Cell parameters')) {
      const mm = /^Cell parameters\s+(\S+)\s+(\S+)\s+(\S+)\s+nm,\s+(\S+)\s+(\S+)\s+(\S+)\s+deg/.exec(line);
      const v = mm?.slice(1, 7).map(Number);
      if (v === undefined || !v.every(Number.isFinite)) throw new InvalidValueError(`cannot read '${line}'`, where(j, 'Cell parameters'));
      cell = { a: (v[0] as number) * 10, b: (v[1] as number) * 10, c: (v[2] as number) * 10, alpha: v[3] as number, beta: v[4] as number, gamma: v[5] as number };
    } else if (line.startsWith('predict_refine/det_shift')) {
      const mm = /x\s*=\s*(\S+)\s+y\s*=\s*(\S+)\s+mm/.exec(line);
      if (mm === null || !isNumber(mm[1] as string) || !isNumber(mm[2] as string)) throw new InvalidValueError(`cannot read '${line}'`, where(j, 'predict_refine/det_shift'));
      detShift = [Number(mm[1]), Number(mm[2])];
    } else if (line === 'Reflections measured after indexing') {
      const stop = findLine(lines, j + 1, 'End of reflections');
      if (stop < 0 || stop > end) throw new FormatError('reflection list has no end line', where(j, 'reflections'));
      reflections = parseReflections(lines, j + 2, stop, chunkIndex, geometry, source);
      j = stop;
    } else {
      const kv = keyValue(line);
      if (kv !== undefined) {
        const [key, value] = kv;
        if (key === 'astar') astar = parseXyzNm(j, value, key, where);
        else if (key === 'bstar') bstar = parseXyzNm(j, value, key, where);
        else if (key === 'cstar') cstar = parseXyzNm(j, value, key, where);
        else if (key === 'profile_radius') {
          const t = value.split(/\s+/)[0] as string;
          if (!isNumber(t)) throw new InvalidValueError(`'${value}' is not a number`, where(j, key));
          profileRadius = Number(t);
        } else if (key === 'lattice_type') latticeType = value;
        else if (key === 'centering') centering = value;
      }
    }
    j++;
  }
  if (astar === undefined || bstar === undefined || cstar === undefined) {
    const missing = [astar === undefined ? 'astar' : '', bstar === undefined ? 'bstar' : '', cstar === undefined ? 'cstar' : ''].filter((s) => s !== '').join(', ');
    throw new MissingFieldError(`crystal has no cell (${missing} missing)`, where(begin, 'crystal'));
  }
  return { line: begin + 1, cell, astar, bstar, cstar, profileRadius, detShift, latticeType, centering, reflections: reflections ?? emptyReflections(0) };
}

function emptyReflections(n: number): StreamReflections {
  return {
    h: new Int32Array(n),
    k: new Int32Array(n),
    l: new Int32Array(n),
    intensity: new Float64Array(n),
    sigma: new Float64Array(n),
    peak: new Float64Array(n),
    background: new Float64Array(n),
    fs: new Float64Array(n),
    ss: new Float64Array(n),
    panel: new Int32Array(n),
  };
}

function parseReflections(lines: readonly string[], from: number, to: number, chunkIndex: number, geometry: CrystfelGeometry | undefined, source: string): StreamReflections {
  const n = Math.max(0, to - from);
  const out = emptyReflections(n);
  const panelIndex = new Map<string, number>();
  geometry?.panels.forEach((p, i) => panelIndex.set(p.name, i));
  for (let r = 0; r < n; r++) {
    const j = from + r;
    const parts = (lines[j] as string).trim().split(/\s+/);
    const where = { file: source, field: `chunk ${chunkIndex} (line ${j + 1}) reflection` };
    if (parts.length < 10) throw new FormatError(`expected 10 columns (h k l I sigma(I) peak background fs/px ss/px panel), found ${parts.length}`, where);
    const nums = parts.slice(0, 9).map(Number);
    if (!nums.every(Number.isFinite) || !nums.slice(0, 3).every(Number.isInteger)) throw new InvalidValueError(`cannot read '${(lines[j] as string).trim()}'`, where);
    out.h[r] = nums[0] as number;
    out.k[r] = nums[1] as number;
    out.l[r] = nums[2] as number;
    out.intensity[r] = nums[3] as number;
    out.sigma[r] = nums[4] as number;
    out.peak[r] = nums[5] as number;
    out.background[r] = nums[6] as number;
    out.fs[r] = nums[7] as number;
    out.ss[r] = nums[8] as number;
    const name = parts[9] as string;
    const p = panelIndex.get(name);
    if (p === undefined && geometry !== undefined) throw new InvalidValueError(`panel '${name}' is not in the geometry`, where);
    out.panel[r] = p ?? -1;
  }
  return out;
}

/** Reads and parses a CrystFEL stream file. */
export async function readCrystfelStream(path: string): Promise<CrystfelStream> {
  return parseCrystfelStream(await readTextFile(path), path);
}
