/**
 * Corrected voxel observations from integrated voxel tables (the `included`
 * and `excluded` groups of `diffract integrate`, docs/tables.md), as rows of
 * the observation table (observations.ts) — the input of scaling and merging.
 *
 * Per subvoxel row, with T the exposure time per frame (s), Σκ = kappa_sum
 * (Σ over the subvoxel's pixel·frames of the per-pixel correction
 * κ = Ω · P · efficiency · air, src/corrections/pixel-corrections.ts), N =
 * counts and P = pixels (pixel·frames):
 *
 *     I = N / (T · Σκ)
 *     σ = sqrt(N + 1) / (T · Σκ)
 *
 * σ² = N + 1 is the variance of the posterior of a Poisson rate under a flat
 * prior (Gamma(N + 1)): it equals the usual N for large counts and never
 * vanishes, so a subvoxel that saw 0 photons keeps a finite weight
 * (σ = 1/(T Σκ)) in inverse-variance merging instead of an infinite one.
 *
 * Background run (when the table has `bg_counts`, `bg_pixels`): the
 * background counts of the same subvoxel, scaled to the sample's pixel·frames
 * by r = P / P_bg, corrected with the same Σκ and the background exposure
 * T_bg:
 *
 *     I_bg = r · N_bg / (T_bg · Σκ),   σ_bg = r · sqrt(N_bg + 1) / (T_bg · Σκ)
 *     I = I_sample − I_bg,             σ² = σ_sample² + σ_bg²
 *
 * Indices: the fine index f = H·n + ix − (n + 1)/2 per axis (odd n) is mapped
 * into the reciprocal-space asymmetric unit by the space group's mapper; the
 * row keeps the operator index and the ASU cell and offset (`splitFine`).
 * s = |s| = sqrt(hᵀ G* h) at the unmapped subvoxel centre h = f/n, G* the
 * reciprocal metric of the unit cell. x, y = x_sum/P + ½, y_sum/P + ½ (mean
 * pixel centre); panel = round(panel_sum/P); φ = φ₀ + z̄·Δφ with
 * z̄ = frame_sum/P + ½ (0 for stills); batch = wedge; sweep = the option.
 * fraction = d3s_sum · n1·n2·n3 / V*, V* the reciprocal cell volume.
 *
 * Rows with P = 0 or Σκ = 0 (and, with a background, P_bg = 0) are dropped
 * and counted.
 */
import { InvalidValueError, MissingFieldError } from '../errors.ts';
import type { Experiment, Scan, UnitCell } from '../geometry/model.ts';
import type { ReadTable } from '../io/voxel-tables.ts';
import { asuMapper, reciprocalOps, spaceGroup } from '../symmetry/index.ts';
import { emptyObservations, selectObservations, splitFine, type Ndiv, type ObservationMeta, type ObservationTable } from './observations.ts';

/** Writes the ASU fine index (h', k', l') and the operator index into out[0..3]. */
export type AsuMapper = (h: number, k: number, l: number, out: Int32Array) => void;

export interface CorrectSettings {
  ndiv: Ndiv;
  asu: AsuMapper;
  /** s per frame */
  exposure: number;
  /** s per background frame (default: `exposure`) */
  backgroundExposure?: number;
  /** sweep number written to every row (default 0) */
  sweep?: number;
  unitCell: UnitCell;
  /** for φ: absent for stills (φ = 0) */
  scan?: Scan;
  /** where the table came from, for messages */
  file?: string;
  group?: string;
}

export interface CorrectStats {
  /** rows of the input table */
  rows: number;
  /** rows written */
  kept: number;
  droppedNoPixels: number;
  droppedNoKappa: number;
  /** background run given but no background pixel·frames in the subvoxel */
  droppedNoBackground: number;
  backgroundSubtracted: boolean;
}

export interface CorrectResult {
  observations: ObservationTable;
  stats: CorrectStats;
}

/** Columns `correctVoxels` needs (integrate files written with the per-subvoxel sums). */
export const REQUIRED_COLUMNS = ['H', 'K', 'L', 'ix', 'iy', 'iz', 'counts', 'pixels', 'frame_sum', 'wedge', 'x_sum', 'y_sum', 'panel_sum', 'kappa_sum', 'd3s_sum'] as const;

const DEG = Math.PI / 180;

/** The real-space metric G (Å²), row-major. */
export function realMetric(c: UnitCell): number[] {
  const ca = Math.cos(c.alpha * DEG);
  const cb = Math.cos(c.beta * DEG);
  const cg = Math.cos(c.gamma * DEG);
  return [c.a * c.a, c.a * c.b * cg, c.a * c.c * cb, c.a * c.b * cg, c.b * c.b, c.b * c.c * ca, c.a * c.c * cb, c.b * c.c * ca, c.c * c.c];
}

/** The reciprocal metric G* = G⁻¹ (Å⁻²) and the reciprocal cell volume V* = 1/V (Å⁻³). */
export function reciprocalMetric(c: UnitCell): { gStar: number[]; vStar: number } {
  const g = realMetric(c);
  const [a, b, cc, d, e, f, gg, h, i] = g as [number, number, number, number, number, number, number, number, number];
  const det = a * (e * i - f * h) - b * (d * i - f * gg) + cc * (d * h - e * gg);
  if (!(det > 0)) throw new InvalidValueError(`the unit cell (${c.a}, ${c.b}, ${c.c}, ${c.alpha}, ${c.beta}, ${c.gamma}) has no volume`, { field: 'unit_cell' });
  const inv = [(e * i - f * h) / det, (cc * h - b * i) / det, (b * f - cc * e) / det, (f * gg - d * i) / det, (a * i - cc * gg) / det, (cc * d - a * f) / det, (d * h - e * gg) / det, (b * gg - a * h) / det, (a * e - b * d) / det];
  return { gStar: inv, vStar: 1 / Math.sqrt(det) };
}

/**
 * Checks that the symmetry operators map subvoxel centres to subvoxel
 * centres: an operator that mixes axes i and j (a non-zero off-diagonal
 * element) needs n_i = n_j. Throws naming the operator otherwise.
 */
export function checkNdivForOperators(rotations: readonly ArrayLike<number>[], ndiv: Ndiv, hall: string): void {
  rotations.forEach((R, k) => {
    for (let i = 0; i < 3; i++) {
      for (let j = 0; j < 3; j++) {
        if (i !== j && (R[3 * i + j] as number) !== 0 && ndiv[i] !== ndiv[j]) {
          throw new InvalidValueError(`space group '${hall.trim()}' operator ${k} mixes axes ${'hkl'[i]} and ${'hkl'[j]}, but ndiv is ${ndiv.join(',')}: integrate with equal subdivisions on related axes`, { field: 'ndiv' });
        }
      }
    }
  });
}

/**
 * The ASU mapper of a space group (number, Hermann–Mauguin or Hall symbol),
 * checked against the subdivision; `hall` is the group's Hall symbol.
 */
export function spaceGroupAsu(symbol: string, ndiv: Ndiv): { hall: string; asu: AsuMapper; operators: number } {
  const g = spaceGroup(symbol);
  const ops = reciprocalOps(g);
  checkNdivForOperators(ops, ndiv, g.hall);
  return { hall: g.hall, asu: asuMapper(g), operators: ops.length };
}

/**
 * The exposure time per frame (s) from the scan: the common value of
 * `exposure_time`, or an error asking for `--exposure` when it is missing,
 * not positive or varies between images.
 */
export function scanExposure(exp: Experiment, file?: string): number {
  const times = exp.scan?.exposureTimes ?? [];
  const where = { ...(file !== undefined ? { file } : {}), field: 'scan.exposure_time' };
  if (times.length === 0) throw new MissingFieldError('the scan has no exposure time: give --exposure SECONDS', where);
  const t0 = times[0] as number;
  if (!(t0 > 0) || times.some((t) => Math.abs(t - t0) > 1e-9 * t0)) {
    throw new InvalidValueError(`the scan's exposure times are not one positive value (${t0}${times.length > 1 ? ', …' : ''}): give --exposure SECONDS`, where);
  }
  return t0;
}

/** The observation-file metadata of an experiment. */
export function observationMeta(exp: Experiment, ndiv: Ndiv, hall: string): ObservationMeta {
  const c = exp.crystal?.unitCell;
  if (c === undefined) throw new InvalidValueError(`experiment '${exp.identifier}' has no crystal model (not indexed)`, { field: 'crystal' });
  return { ndiv, hall, cell: [c.a, c.b, c.c, c.alpha, c.beta, c.gamma], wavelength: exp.beam.wavelength };
}

function column(table: ReadTable, name: string, s: CorrectSettings): ArrayLike<number> {
  const col = table.get(name);
  const group = s.group ?? 'table';
  if (col === undefined) {
    throw new MissingFieldError(`table '${group}' has no column '${name}' (an integrate file without the per-subvoxel sums, from an older version or --no-corrections: integrate again)`, {
      ...(s.file !== undefined ? { file: s.file } : {}),
      field: `${group}/${name}`,
    });
  }
  return col;
}

/** Corrected observations from one voxel table (see the module comment). */
export function correctVoxels(table: ReadTable, s: CorrectSettings): CorrectResult {
  const where = s.file !== undefined ? { file: s.file } : {};
  for (const n of s.ndiv) {
    if (!(Number.isInteger(n) && n >= 1 && n % 2 === 1 && n <= 255)) throw new InvalidValueError(`ndiv must be odd integers 1…255, got ${s.ndiv.join(',')}`, { ...where, field: 'ndiv' });
  }
  if (!(s.exposure > 0 && Number.isFinite(s.exposure))) throw new InvalidValueError(`the exposure time must be positive, got ${s.exposure}`, { ...where, field: 'exposure' });
  const cols = Object.fromEntries(REQUIRED_COLUMNS.map((n) => [n, column(table, n, s)])) as Record<(typeof REQUIRED_COLUMNS)[number], ArrayLike<number>>;
  const hasBg = table.has('bg_counts') || table.has('bg_pixels');
  const bgCounts = hasBg ? column(table, 'bg_counts', s) : undefined;
  const bgPixels = hasBg ? column(table, 'bg_pixels', s) : undefined;
  const tBg = s.backgroundExposure ?? s.exposure;
  if (hasBg && !(tBg > 0 && Number.isFinite(tBg))) throw new InvalidValueError(`the background exposure time must be positive, got ${tBg}`, { ...where, field: 'background_exposure' });

  const rows = cols.counts.length;
  for (const [name, c] of Object.entries(cols)) {
    if (c.length !== rows) throw new InvalidValueError(`column '${name}' has ${c.length} rows, 'counts' has ${rows}`, { ...where, field: `${s.group ?? 'table'}/${name}` });
  }
  const [n1, n2, n3] = s.ndiv;
  const { gStar, vStar } = reciprocalMetric(s.unitCell);
  const [g00, g01, g02, , g11, g12, , , g22] = gStar as [number, number, number, number, number, number, number, number, number];
  const subVolume = vStar / (n1 * n2 * n3);
  const osc = s.scan?.oscillation;
  const sweep = s.sweep ?? 0;

  const out = emptyObservations(rows);
  const keep: number[] = [];
  const asu = new Int32Array(4);
  const stats: CorrectStats = { rows, kept: 0, droppedNoPixels: 0, droppedNoKappa: 0, droppedNoBackground: 0, backgroundSubtracted: hasBg };
  const half1 = (n1 + 1) / 2;
  const half2 = (n2 + 1) / 2;
  const half3 = (n3 + 1) / 2;

  for (let i = 0; i < rows; i++) {
    const P = cols.pixels[i] as number;
    if (!(P > 0)) {
      stats.droppedNoPixels++;
      continue;
    }
    const kappa = cols.kappa_sum[i] as number;
    if (!(kappa > 0)) {
      stats.droppedNoKappa++;
      continue;
    }
    const N = cols.counts[i] as number;
    const scale = 1 / (s.exposure * kappa);
    let I = N * scale;
    let var_ = (N + 1) * scale * scale;
    if (bgCounts !== undefined && bgPixels !== undefined) {
      const Pb = bgPixels[i] as number;
      if (!(Pb > 0)) {
        stats.droppedNoBackground++;
        continue;
      }
      const Nb = bgCounts[i] as number;
      const bScale = P / Pb / (tBg * kappa);
      I -= Nb * bScale;
      var_ += (Nb + 1) * bScale * bScale;
    }

    const fh = (cols.H[i] as number) * n1 + (cols.ix[i] as number) - half1;
    const fk = (cols.K[i] as number) * n2 + (cols.iy[i] as number) - half2;
    const fl = (cols.L[i] as number) * n3 + (cols.iz[i] as number) - half3;
    s.asu(fh, fk, fl, asu);
    const [H, dh] = splitFine(asu[0] as number, n1);
    const [K, dk] = splitFine(asu[1] as number, n2);
    const [L, dl] = splitFine(asu[2] as number, n3);
    const h = fh / n1;
    const k = fk / n2;
    const l = fl / n3;
    const s2 = g00 * h * h + g11 * k * k + g22 * l * l + 2 * (g01 * h * k + g02 * h * l + g12 * k * l);

    out.H[i] = H;
    out.K[i] = K;
    out.L[i] = L;
    out.dh[i] = dh;
    out.dk[i] = dk;
    out.dl[i] = dl;
    out.op[i] = asu[3] as number;
    out.I[i] = I;
    out.sigma[i] = Math.sqrt(var_);
    out.s[i] = Math.sqrt(Math.max(0, s2));
    out.x[i] = (cols.x_sum[i] as number) / P + 0.5;
    out.y[i] = (cols.y_sum[i] as number) / P + 0.5;
    out.panel[i] = Math.round((cols.panel_sum[i] as number) / P);
    out.phi[i] = osc !== undefined ? osc[0] + ((cols.frame_sum[i] as number) / P + 0.5) * osc[1] : 0;
    out.batch[i] = cols.wedge[i] as number;
    out.sweep[i] = sweep;
    out.fraction[i] = (cols.d3s_sum[i] as number) / subVolume;
    keep.push(i);
  }
  stats.kept = keep.length;
  return { observations: keep.length === rows ? out : selectObservations(out, keep), stats };
}
