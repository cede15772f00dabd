/**
 * CCP4/MRC2014 map files of a reciprocal-space grid (mode 2, float32,
 * little-endian), and a reader for them.
 *
 * Header (1024 bytes: 56 four-byte words, then ten 80-byte labels):
 *
 *   NX NY NZ       = nh, nk, nl (columns, rows, sections)
 *   MODE           = 2 (32-bit float)
 *   NXSTART …      = fine index of the first grid point along h, k, l
 *   MX MY MZ       = NX NY NZ (the "cell" is the grid's extent)
 *   CELLA          = nh·a* / n1, nk·b* / n2, nl·c* / n3 (Å⁻¹): the grid extent in
 *                    reciprocal space, so that CELLA/MX is the grid step
 *   CELLB          = α*, β*, γ* (degrees), the reciprocal cell angles
 *   MAPC MAPR MAPS = 1 2 3: columns run along h (fastest), rows along k,
 *                    sections along l (slowest); X = h, Y = k, Z = l
 *   DMIN DMAX DMEAN RMS = over the measured (finite) grid points only, by
 *                    default; the unmeasured points are written as the fill
 *                    value (default 0, said in a label). With no measured
 *                    point: DMIN 0, DMAX −1, DMEAN −2, RMS −1 (MRC2014's "not
 *                    determined"). Option `stats: 'written'` computes them over
 *                    every value written, fill included (MRC2014-strict: what
 *                    mrcfile's validator recomputes).
 *   ISPG           = 1 (the map is already expanded to the full sphere: P1)
 *   NSYMBT         = 0, NVERSION = 20140, ORIGIN = 0 0 0
 *   MAP            = 'MAP ', MACHST = 0x44 0x44 0x00 0x00 (little-endian, as
 *                    MRC2014 specifies; the reader also accepts CCP4's 0x44 0x41
 *                    and big-endian 0x11 0x11)
 *
 * Data: NX·NY·NZ float32 values, column fastest, i.e. value(h, k, l) at
 * ((l − NZSTART)·NY + (k − NYSTART))·NX + (h − NXSTART). mrcfile's
 * `data` array is therefore indexed [l][k][h].
 */
import { readFile } from 'node:fs/promises';
import { FormatError, InvalidValueError, TruncatedError } from '../errors.ts';
import { writeFileAtomic } from '../io/atomic-file.ts';
import { reciprocalCell, type Cell6 } from './cell.ts';
import type { DenseGrid } from './dense-grid.ts';

export const CCP4_HEADER_BYTES = 1024;
const LABEL_BYTES = 80;
const MAX_LABELS = 10;

export interface Ccp4Header {
  nx: number;
  ny: number;
  nz: number;
  mode: number;
  nxstart: number;
  nystart: number;
  nzstart: number;
  mx: number;
  my: number;
  mz: number;
  /** a, b, c, α, β, γ of the header (here: grid extent in Å⁻¹ and reciprocal angles) */
  cell: [number, number, number, number, number, number];
  mapc: number;
  mapr: number;
  maps: number;
  dmin: number;
  dmax: number;
  dmean: number;
  ispg: number;
  nsymbt: number;
  exttyp: string;
  nversion: number;
  origin: [number, number, number];
  /** the 4 characters at word 53 ('MAP ') */
  map: string;
  machst: [number, number, number, number];
  rms: number;
  nlabl: number;
  labels: string[];
  littleEndian: boolean;
}

export interface Ccp4Map {
  header: Ccp4Header;
  /** values in file order: column fastest, then row, then section */
  data: Float32Array;
}

export interface Ccp4Options {
  /** value written for unmeasured (non-finite) points (default 0) */
  fill?: number;
  /** extra labels (at most 10 in all; each cut to 80 ASCII characters) */
  labels?: readonly string[];
  /**
   * what DMIN/DMAX/DMEAN/RMS describe: 'measured' (default) the finite grid
   * values only; 'written' every value in the file, fill included (what
   * mrcfile's validator recomputes)
   */
  stats?: 'measured' | 'written';
}

export interface Ccp4Stats {
  dmin: number;
  dmax: number;
  dmean: number;
  rms: number;
  /** finite values counted */
  n: number;
}

/**
 * Min, max, mean and RMS deviation from the mean over the finite values, or,
 * with `fill`, over every value with the non-finite ones read as `fill`
 * (MRC2014 "undetermined" values when nothing is counted).
 */
export function finiteStats(values: ArrayLike<number>, fill?: number): Ccp4Stats {
  const get = (i: number): number => {
    const v = values[i] as number;
    return Number.isFinite(v) ? v : (fill ?? NaN);
  };
  let n = 0;
  let min = Infinity;
  let max = -Infinity;
  let sum = 0;
  for (let i = 0; i < values.length; i++) {
    const v = get(i);
    if (!Number.isFinite(v)) continue;
    n++;
    if (v < min) min = v;
    if (v > max) max = v;
    sum += v;
  }
  if (n === 0) return { dmin: 0, dmax: -1, dmean: -2, rms: -1, n: 0 };
  const mean = sum / n;
  let ss = 0;
  for (let i = 0; i < values.length; i++) {
    const v = get(i);
    if (Number.isFinite(v)) ss += (v - mean) * (v - mean);
  }
  return { dmin: min, dmax: max, dmean: mean, rms: Math.sqrt(ss / n), n };
}

function asciiLabel(s: string): string {
  return s.replace(/[^\x20-\x7e]/g, '?').slice(0, LABEL_BYTES);
}

/** The bytes of a CCP4/MRC2014 map of `grid` (layout in the module comment); `cell` is the direct cell (Å, degrees). */
export function ccp4Bytes(grid: Pick<DenseGrid, 'data' | 'shape' | 'origin' | 'ndiv'>, cell: Cell6, options: Ccp4Options = {}): Uint8Array {
  const fill = options.fill ?? 0;
  if (!Number.isFinite(fill)) throw new InvalidValueError(`the CCP4 fill value must be finite, got ${fill}`, { field: 'fill' });
  const [nh, nk, nl] = grid.shape;
  const n = nh * nk * nl;
  if (grid.data.length !== n) throw new InvalidValueError(`grid data has ${grid.data.length} values, shape ${grid.shape.join('×')} needs ${n}`, { field: 'data' });
  const measured = finiteStats(grid.data);
  const unmeasured = n - measured.n;
  const statsOver = options.stats ?? 'measured';
  const stats = statsOver === 'measured' || unmeasured === 0 ? measured : finiteStats(grid.data, fill);
  const rc = reciprocalCell(cell);

  const buf = new ArrayBuffer(CCP4_HEADER_BYTES + 4 * n);
  const dv = new DataView(buf);
  const i32 = (word: number, v: number): void => dv.setInt32(4 * word, v, true);
  const f32 = (word: number, v: number): void => dv.setFloat32(4 * word, v, true);
  i32(0, nh);
  i32(1, nk);
  i32(2, nl);
  i32(3, 2);
  i32(4, grid.origin[0]);
  i32(5, grid.origin[1]);
  i32(6, grid.origin[2]);
  i32(7, nh);
  i32(8, nk);
  i32(9, nl);
  f32(10, (nh * rc[0]) / grid.ndiv[0]);
  f32(11, (nk * rc[1]) / grid.ndiv[1]);
  f32(12, (nl * rc[2]) / grid.ndiv[2]);
  f32(13, rc[3]);
  f32(14, rc[4]);
  f32(15, rc[5]);
  i32(16, 1);
  i32(17, 2);
  i32(18, 3);
  f32(19, stats.dmin);
  f32(20, stats.dmax);
  f32(21, stats.dmean);
  i32(22, 1);
  i32(23, 0);
  // words 25-26 extra, 27 EXTTYP (blank: no extended header), 28 NVERSION, 29-49 extra
  i32(27, 20140);
  // words 50-52 ORIGIN stay 0
  const bytes = new Uint8Array(buf);
  bytes.set([0x4d, 0x41, 0x50, 0x20], 4 * 52);
  bytes.set([0x44, 0x44, 0x00, 0x00], 4 * 53);
  f32(54, stats.rms);

  const labels = [
    `diffract reciprocal-space map: X=h Y=k Z=l, step 1/${grid.ndiv.join(',1/')} rlu`,
    ...(unmeasured > 0 ? [`${unmeasured} of ${n} points unmeasured, written as ${fill}; ${statsOver === 'measured' ? 'stats over measured' : 'stats include fill'}`] : []),
    ...(options.labels ?? []),
  ].slice(0, MAX_LABELS);
  i32(55, labels.length);
  bytes.fill(0x20, 4 * 56, CCP4_HEADER_BYTES);
  labels.forEach((label, i) => {
    const s = asciiLabel(label);
    for (let c = 0; c < s.length; c++) bytes[4 * 56 + LABEL_BYTES * i + c] = s.charCodeAt(c);
  });

  // data: h fastest (transpose of the grid's l-fastest order)
  let o = CCP4_HEADER_BYTES;
  for (let l = 0; l < nl; l++) {
    for (let k = 0; k < nk; k++) {
      for (let h = 0; h < nh; h++) {
        const v = grid.data[(h * nk + k) * nl + l] as number;
        dv.setFloat32(o, Number.isFinite(v) ? v : fill, true);
        o += 4;
      }
    }
  }
  return bytes;
}

/** Writes a CCP4/MRC2014 map atomically (temporary name, then rename). */
export async function writeCcp4(path: string, grid: Pick<DenseGrid, 'data' | 'shape' | 'origin' | 'ndiv'>, cell: Cell6, options: Ccp4Options = {}): Promise<void> {
  await writeFileAtomic(path, ccp4Bytes(grid, cell, options));
}

/** Parses a CCP4/MRC map (mode 2 data only). */
export function parseCcp4(bytes: Uint8Array, file?: string): Ccp4Map {
  const where = file !== undefined ? { file } : {};
  if (bytes.length < CCP4_HEADER_BYTES) throw new TruncatedError(`a CCP4/MRC header needs ${CCP4_HEADER_BYTES} bytes, the file has ${bytes.length}`, where);
  const machst: [number, number, number, number] = [bytes[212] as number, bytes[213] as number, bytes[214] as number, bytes[215] as number];
  const littleEndian = machst[0] !== 0x11;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const i32 = (word: number): number => dv.getInt32(4 * word, littleEndian);
  const f32 = (word: number): number => dv.getFloat32(4 * word, littleEndian);
  const text = (start: number, len: number): string => String.fromCharCode(...bytes.subarray(start, start + len));
  const map = text(208, 4);
  if (map !== 'MAP ') throw new FormatError(`no 'MAP ' stamp at byte 208 (found ${JSON.stringify(map)})`, { ...where, field: 'MAP' });
  const nlabl = i32(55);
  if (nlabl < 0 || nlabl > MAX_LABELS) throw new FormatError(`NLABL ${nlabl} is not 0…10`, { ...where, field: 'NLABL' });
  const header: Ccp4Header = {
    nx: i32(0),
    ny: i32(1),
    nz: i32(2),
    mode: i32(3),
    nxstart: i32(4),
    nystart: i32(5),
    nzstart: i32(6),
    mx: i32(7),
    my: i32(8),
    mz: i32(9),
    cell: [f32(10), f32(11), f32(12), f32(13), f32(14), f32(15)],
    mapc: i32(16),
    mapr: i32(17),
    maps: i32(18),
    dmin: f32(19),
    dmax: f32(20),
    dmean: f32(21),
    ispg: i32(22),
    nsymbt: i32(23),
    exttyp: text(104, 4).replace(/\0/g, ''),
    nversion: i32(27),
    origin: [f32(49), f32(50), f32(51)],
    map,
    machst,
    rms: f32(54),
    nlabl,
    labels: Array.from({ length: nlabl }, (_v, i) => text(224 + LABEL_BYTES * i, LABEL_BYTES).replace(/[\s\0]+$/, '')),
    littleEndian,
  };
  if (header.mode !== 2) throw new FormatError(`MODE ${header.mode} is not supported (only 2, 32-bit float)`, { ...where, field: 'MODE' });
  if (header.nx < 0 || header.ny < 0 || header.nz < 0 || header.nsymbt < 0) throw new FormatError('negative NX/NY/NZ/NSYMBT', { ...where, field: 'NX' });
  const n = header.nx * header.ny * header.nz;
  const start = CCP4_HEADER_BYTES + header.nsymbt;
  const need = start + 4 * n;
  if (bytes.length < need) throw new TruncatedError(`the map needs ${need} bytes (header, ${header.nsymbt} symmetry bytes, ${n} floats), the file has ${bytes.length}`, where);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = dv.getFloat32(start + 4 * i, littleEndian);
  return { header, data };
}

/** Reads a CCP4/MRC map file (mode 2). */
export async function readCcp4(path: string): Promise<Ccp4Map> {
  return parseCcp4(new Uint8Array(await readFile(path)), path);
}

/**
 * The map's values in [X][Y][Z] order (Z fastest) whatever MAPC/MAPR/MAPS say,
 * with shape [nX, nY, nZ] and the start index along X, Y, Z: for a map written
 * here, the grid's own [h][k][l] layout and fine-index origin.
 */
export function ccp4ToXyz(m: Ccp4Map): { data: Float32Array; shape: [number, number, number]; start: [number, number, number] } {
  const { header: h } = m;
  const axes = [h.mapc - 1, h.mapr - 1, h.maps - 1];
  if ([...axes].sort().join() !== '0,1,2') throw new FormatError(`MAPC/MAPR/MAPS ${h.mapc},${h.mapr},${h.maps} is not a permutation of 1,2,3`, { field: 'MAPC' });
  const ncrs = [h.nx, h.ny, h.nz];
  const startCrs = [h.nxstart, h.nystart, h.nzstart];
  const shape: [number, number, number] = [0, 0, 0];
  const start: [number, number, number] = [0, 0, 0];
  axes.forEach((ax, i) => {
    shape[ax as 0 | 1 | 2] = ncrs[i] as number;
    start[ax as 0 | 1 | 2] = startCrs[i] as number;
  });
  const out = new Float32Array(m.data.length);
  const [nc, nr] = [h.nx, h.ny];
  const xyz = [0, 0, 0];
  for (let s = 0; s < h.nz; s++) {
    for (let r = 0; r < nr; r++) {
      for (let c = 0; c < nc; c++) {
        xyz[axes[0] as number] = c;
        xyz[axes[1] as number] = r;
        xyz[axes[2] as number] = s;
        out[((xyz[0] as number) * shape[1] + (xyz[1] as number)) * shape[2] + (xyz[2] as number)] = m.data[(s * nr + r) * nc + c] as number;
      }
    }
  }
  return { data: out, shape, start };
}
