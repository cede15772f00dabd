/**
 * From a DIALS reflection table and its experiment list to `SpotDataset`s (one per
 * experiment), pure: tables in, typed arrays out.
 *
 * Which rows are kept, per experiment:
 * - `id` ≥ 0 and its identifier (the table's `identifiers` map) names an
 *   experiment of the `.expt`; identifiers that the `.expt` does not have are an
 *   error (the two files do not belong together). Tables without identifiers map
 *   `id` to the experiment's position instead.
 * - Miller index ≠ (0, 0, 0) (unindexed rows).
 * - flags (when the column exists): `sum` needs integrated_sum (bit 8), `prf`
 *   integrated_prf (bit 9); `scale` leaves out rows flagged user_excluded_in_scaling,
 *   outlier_in_scaling or excluded_for_scaling (bits 22–24) unless `keepOutliers`.
 *   Checked before the intensity: DIALS gives the rows it flags so a variance of
 *   0 or −1, and they count as `flagged` (all 1,427 such rows of the l-cysteine
 *   scaled_30.refl are).
 * - the chosen intensity and its variance finite (else counted as
 *   `nonFiniteIntensity`: DIALS never writes NaN or Infinity there, so such rows
 *   point at a damaged file and the CLI warns), variance > 0 (else
 *   `badIntensity`, with a warning too: no flag explains it).
 * - an image inside the scan (below): a frame coordinate that is not finite in
 *   both xyzobs.px.value and xyzcal.px is counted as `nonFinitePosition`, a finite
 *   one outside the scan as `outsideScan`.
 *
 * A table in which no row's `id` names an experiment (every id negative, or no
 * rows at all) is an InvalidValueError naming the file and the `id` column.
 *
 * Image (frame) of a row: z = `xyzobs.px.value`[2] (the observed centroid's frame
 * coordinate), falling back per row to `xyzcal.px`[2] when the row has no observed
 * centroid (all three components 0 or not finite) or the table has no observed
 * column; `frameFrom: 'cal'` uses `xyzcal.px` throughout. DIALS counts z from
 * array index imageRange[0] − 1, so the 0-based frame is
 * floor(z − (imageRange[0] − 1)), and the image number is frame + imageRange[0].
 * Stills (no scan) have one frame.
 *
 * Orientation of a frame: `labSettingMatrix(exp, frame + 0.5)` (S·R(φ)·F·A at the
 * frame's middle, scan-varying A and S interpolated).
 */
import { InvalidValueError, MissingFieldError } from '../errors.ts';
import { s0Vector, labSettingMatrix } from '../geometry/setting.ts';
import type { Experiment, ExperimentList } from '../geometry/model.ts';
import { getColumn, hasColumn, type ReflectionTable } from '../io/dials-refl.ts';
import { reciprocalMetric } from './orientation.ts';
import { INTENSITY_COLUMNS, type IntensitySource, type SpotDataset } from './types.ts';

export const FLAG_INTEGRATED_SUM = 1 << 8;
export const FLAG_INTEGRATED_PRF = 1 << 9;
/** user_excluded_in_scaling | outlier_in_scaling | excluded_for_scaling */
export const FLAG_BAD_FOR_SCALING = (1 << 22) | (1 << 23) | (1 << 24);

export interface ExtractOptions {
  /**
   * explicit intensity choice; default: scale when the table has it, else an error.
   * 'none': indices only (for matching): no intensity or flag filter, intensities NaN
   */
  intensity?: IntensitySource | 'none';
  /** frame coordinate from the observed centroid (default, with per-row fallback) or the prediction */
  frameFrom?: 'obs' | 'cal';
  /** keep rows that dials.scale flagged as outliers or excluded (scale only) */
  keepOutliers?: boolean;
  /** label prefix for the datasets (default: the table's file name without folder and extension) */
  label?: string;
}

/** Why rows were left out, per experiment. */
export interface DropCounts {
  rows: number;
  kept: number;
  unindexed: number;
  /** finite intensity but a variance ≤ 0 (DIALS' mark of a failed integration) */
  badIntensity: number;
  /** intensity or variance NaN or ±Infinity */
  nonFiniteIntensity: number;
  /** no finite frame coordinate (xyzobs.px.value and xyzcal.px both NaN or infinite) */
  nonFinitePosition: number;
  flagged: number;
  outsideScan: number;
  /** rows whose frame came from xyzcal.px because they had no observed centroid */
  frameFromPrediction: number;
}

export interface Extraction {
  datasets: SpotDataset[];
  /** per dataset, aligned with `datasets` */
  drops: DropCounts[];
  /** the experiments, aligned with `datasets` */
  experiments: Experiment[];
  intensity: IntensitySource | null;
}

/** The intensity sources the table has (value and variance columns both present). */
export function availableIntensities(table: ReflectionTable): IntensitySource[] {
  return (Object.keys(INTENSITY_COLUMNS) as IntensitySource[]).filter(
    (s) => hasColumn(table, INTENSITY_COLUMNS[s].value) && hasColumn(table, INTENSITY_COLUMNS[s].variance),
  );
}

/**
 * The intensity source to use: the requested one (MissingFieldError naming the file
 * and column when absent), else `scale` when present, else an error listing what
 * the table has, so that scaled and unscaled values are never mixed silently.
 */
export function chooseIntensity(table: ReflectionTable, requested?: IntensitySource): IntensitySource {
  const available = availableIntensities(table);
  const list = available.length > 0 ? available.join(', ') : 'none';
  if (requested !== undefined) {
    if (!available.includes(requested)) {
      const cols = INTENSITY_COLUMNS[requested];
      const missing = hasColumn(table, cols.value) ? cols.variance : cols.value;
      throw new MissingFieldError(`--intensity ${requested} needs this column; intensities available here: ${list}`, { file: table.source, field: missing });
    }
    return requested;
  }
  if (available.includes('scale')) return 'scale';
  throw new MissingFieldError(
    `no scaled intensities; choose unscaled ones explicitly with --intensity (available here: ${list})`,
    { file: table.source, field: INTENSITY_COLUMNS.scale.value },
  );
}

function stem(path: string): string {
  const base = path.split(/[\\/]/).pop() ?? path;
  return base.replace(/\.[^.]*$/, '');
}

/** experiment index for each `id` value present in the table */
function mapIds(table: ReflectionTable, experiments: ExperimentList, ids: Int32Array): Map<number, number> {
  const byIdentifier = new Map<string, number>();
  experiments.experiments.forEach((e, i) => byIdentifier.set(e.identifier, i));
  const used = new Set<number>();
  for (const v of ids) if (v >= 0) used.add(v);
  const out = new Map<number, number>();
  for (const id of [...used].sort((a, b) => a - b)) {
    if (table.identifiers.size > 0) {
      const ident = table.identifiers.get(id);
      if (ident === undefined) {
        throw new InvalidValueError(`rows use experiment id ${id}, which the table's identifiers map does not list`, { file: table.source, field: 'id' });
      }
      const e = byIdentifier.get(ident);
      if (e === undefined) {
        const have = experiments.experiments.map((x) => `'${x.identifier}'`).join(', ') || 'none';
        throw new InvalidValueError(
          `experiment identifier '${ident}' (id ${id}) is not in ${experiments.source} (which has ${have}): the .expt and .refl do not belong together`,
          { file: table.source, field: 'id' },
        );
      }
      out.set(id, e);
    } else {
      if (id >= experiments.experiments.length) {
        throw new InvalidValueError(`rows use experiment id ${id} but ${experiments.source} has ${experiments.experiments.length} experiments`, { file: table.source, field: 'id' });
      }
      out.set(id, id);
    }
  }
  return out;
}

export function extractDatasets(table: ReflectionTable, experiments: ExperimentList, options: ExtractOptions = {}): Extraction {
  const source = options.intensity === 'none' ? null : chooseIntensity(table, options.intensity);
  const cols = source !== null ? INTENSITY_COLUMNS[source] : null;
  const value = cols !== null ? getColumn(table, cols.value, 'double').data : null;
  const variance = cols !== null ? getColumn(table, cols.variance, 'double').data : null;
  const hkl = getColumn(table, 'miller_index', 'cctbx::miller::index<>').data;
  const ids = getColumn(table, 'id', 'int').data;
  const flags = source !== null && hasColumn(table, 'flags') ? getColumn(table, 'flags', 'std::size_t').data : null;
  const frameFrom = options.frameFrom ?? 'obs';
  const obs = frameFrom === 'obs' && hasColumn(table, 'xyzobs.px.value') ? getColumn(table, 'xyzobs.px.value', 'vec3<double>').data : null;
  const cal = hasColumn(table, 'xyzcal.px') ? getColumn(table, 'xyzcal.px', 'vec3<double>').data : null;
  if (obs === null && cal === null) {
    throw new MissingFieldError('needs xyzobs.px.value or xyzcal.px for the image of each reflection', { file: table.source, field: frameFrom === 'cal' ? 'xyzcal.px' : 'xyzobs.px.value' });
  }
  const idToExp = mapIds(table, experiments, ids);
  const label = options.label ?? stem(table.source);
  const requiredFlag = source === 'sum' ? FLAG_INTEGRATED_SUM : source === 'prf' ? FLAG_INTEGRATED_PRF : 0;
  const forbiddenFlag = source === 'scale' && !options.keepOutliers ? FLAG_BAD_FOR_SCALING : 0;

  // rows per experiment
  const rowsOf = new Map<number, number[]>();
  for (let r = 0; r < table.nrows; r++) {
    const e = idToExp.get(ids[r]!);
    if (e === undefined) continue;
    let list = rowsOf.get(e);
    if (list === undefined) rowsOf.set(e, (list = []));
    list.push(r);
  }

  if (rowsOf.size === 0) {
    const found = [...new Set(ids)].sort((a, b) => a - b);
    const shown = found.length > 5 ? `${found.slice(0, 5).join(', ')}, …` : found.join(', ');
    throw new InvalidValueError(
      table.nrows === 0 ? 'the table holds no reflections' : `no row's id names an experiment of ${experiments.source} (ids found: ${shown}; experiments are ids ≥ 0)`,
      { file: table.source, field: 'id' },
    );
  }

  const out: Extraction = { datasets: [], drops: [], experiments: [], intensity: source };
  for (const [e, rows] of [...rowsOf].sort((a, b) => a[0] - b[0])) {
    const exp = experiments.experiments[e]!;
    const scan = exp.goniometer !== undefined ? exp.scan : undefined;
    const first = scan?.imageRange[0] ?? 1;
    const nFrames = scan !== undefined ? scan.imageRange[1] - scan.imageRange[0] + 1 : 1;
    const drops: DropCounts = { rows: rows.length, kept: 0, unindexed: 0, badIntensity: 0, nonFiniteIntensity: 0, nonFinitePosition: 0, flagged: 0, outsideScan: 0, frameFromPrediction: 0 };
    const keep: number[] = [];
    const frames: number[] = [];
    for (const r of rows) {
      const h = hkl[3 * r]!;
      const k = hkl[3 * r + 1]!;
      const l = hkl[3 * r + 2]!;
      if (h === 0 && k === 0 && l === 0) {
        drops.unindexed++;
        continue;
      }
      if (flags !== null) {
        const f = flags[r]!;
        // flags hold at most 53 bits exactly; the bits used here are below 2^25
        const low = f % 2 ** 31;
        if ((requiredFlag !== 0 && (low & requiredFlag) === 0) || (low & forbiddenFlag) !== 0) {
          drops.flagged++;
          continue;
        }
      }
      if (value !== null && variance !== null) {
        const I = value[r]!;
        const V = variance[r]!;
        if (!Number.isFinite(I) || !Number.isFinite(V)) {
          drops.nonFiniteIntensity++;
          continue;
        }
        if (!(V > 0)) {
          drops.badIntensity++;
          continue;
        }
      }
      let frame = 0;
      if (scan !== undefined) {
        let z = Number.NaN;
        if (obs !== null) {
          const x = obs[3 * r]!;
          const y = obs[3 * r + 1]!;
          const zz = obs[3 * r + 2]!;
          if (Number.isFinite(x) && Number.isFinite(y) && Number.isFinite(zz) && !(x === 0 && y === 0 && zz === 0)) z = zz;
        }
        if (Number.isNaN(z) && cal !== null) {
          z = cal[3 * r + 2]!;
          if (frameFrom === 'obs' && Number.isFinite(z)) drops.frameFromPrediction++;
        }
        if (!Number.isFinite(z)) {
          drops.nonFinitePosition++;
          continue;
        }
        frame = Math.floor(z - (first - 1));
        if (!(frame >= 0 && frame < nFrames)) {
          drops.outsideScan++;
          continue;
        }
      }
      keep.push(r);
      frames.push(frame);
    }
    const n = keep.length;
    drops.kept = n;
    const ds: SpotDataset = {
      name: rowsOf.size > 1 || experiments.experiments.length > 1 ? `${label}#${e}` : label,
      source: table.source,
      identifier: exp.identifier,
      intensitySource: source,
      n,
      h: new Int32Array(n),
      k: new Int32Array(n),
      l: new Int32Array(n),
      frame: Int32Array.from(frames),
      intensity: new Float64Array(n),
      variance: new Float64Array(n),
      nFrames,
      firstImage: first,
    };
    keep.forEach((r, i) => {
      ds.h[i] = hkl[3 * r]!;
      ds.k[i] = hkl[3 * r + 1]!;
      ds.l[i] = hkl[3 * r + 2]!;
      ds.intensity[i] = value !== null ? value[r]! : Number.NaN;
      ds.variance[i] = variance !== null ? variance[r]! : Number.NaN;
    });
    if (exp.crystal !== undefined) {
      ds.reciprocalMetric = reciprocalMetric(exp.crystal.unitCell);
      const m = new Float64Array(9 * nFrames);
      for (let f = 0; f < nFrames; f++) m.set(labSettingMatrix(exp, f + 0.5), 9 * f);
      ds.settingAtFrame = m;
    }
    const s0 = s0Vector(exp.beam);
    const len = Math.hypot(s0[0], s0[1], s0[2]);
    ds.beamDirection = [s0[0] / len, s0[1] / len, s0[2] / len];
    out.datasets.push(ds);
    out.drops.push(drops);
    out.experiments.push(exp);
  }
  return out;
}
