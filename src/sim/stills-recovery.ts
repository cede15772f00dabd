/**
 * Recovery figures of the stills pipeline against the truth of
 * `diffract simulate --stills` (src/sim/stills/), for the acceptance tests and
 * `diffract demo --kind stills`:
 *
 * - **Map.** The merged diffuse map against the true diffuse intensity on the
 *   subvoxels with ≥ `minObservations` observations: Pearson r, the slope through
 *   the origin Σ I·T / Σ T² (the absolute-scale ratio when the map is in
 *   electron units: 1 when exact) and the median I/T. A merged subvoxel is the
 *   mean of the pixels that fell in its box of width 1/ndiv, which many random
 *   orientations sample evenly, so the truth is the box average of the true
 *   intensity (4 × 4 × 4 Gauss–Legendre points): at ndiv 1 the centre value
 *   differs from it by up to ~10 % (the modulation cos πh averages to 2/π of its
 *   centre value, and C(s)(1 − β(s)) is curved).
 * - **Per-shot scale.** The fitted b of each used shot over its true b; one
 *   overall factor is free (the pipeline fixes its own normalisation), so the
 *   ratios are divided by their mean before the RMS of their deviation from 1.
 * - **Masks.** Given a shot's 2D mask and its Bragg photons per pixel (re-rendered
 *   with `StillsRenderer`): the fraction of the Bragg photons under the mask, and
 *   the masked fraction of the panel's pixels outside the gaps.
 */
import { readFile } from 'node:fs/promises';
import { FileAccessError, InvalidValueError, MissingFieldError } from '../errors.ts';
import { mergedOf, readStageFile, type StageFile } from '../io/observation-file.ts';
import { readDialsStills } from '../stills/dials.ts';
import { ShotVectorCache } from '../stills/geometry.ts';
import { ShotImages } from '../stills/images.ts';
import { STILLS_MASK_DEFAULTS, stillBraggMask, type StillsMaskSettings } from '../stills/mask.ts';
import type { MergedTable, Ndiv } from '../pipeline/observations.ts';
import { diffuseTruthValue } from './physics.ts';
import { mapRecovery, type MapRecovery } from './recovery.ts';
import { reciprocalMetric } from './spec.ts';
import { STILLS_TRUTH_FORMAT, type StillShotTruth } from './stills/simulate.ts';
import { StillsRenderer } from './stills/render.ts';
import { stillsB, type StillsSimSpec } from './stills/spec.ts';

export interface StillsTruth {
  spec: StillsSimSpec;
  shots: StillShotTruth[];
}

/** Reads the `truth.json` of a stills simulation. */
export async function readStillsTruth(path: string): Promise<StillsTruth> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new FileAccessError(`cannot read (${(err as NodeJS.ErrnoException).code ?? String(err)})`, { file: path }, { cause: err });
  }
  let doc: { format?: unknown; spec?: StillsSimSpec; shotTruth?: StillShotTruth[] };
  try {
    doc = JSON.parse(text) as typeof doc;
  } catch (err) {
    throw new InvalidValueError(`not JSON (${err instanceof Error ? err.message : String(err)})`, { file: path }, { cause: err });
  }
  if (doc.format !== STILLS_TRUTH_FORMAT) throw new InvalidValueError(`not the truth of a stills simulation (format '${String(doc.format)}')`, { file: path, field: 'format' });
  if (doc.spec === undefined || !Array.isArray(doc.shotTruth)) throw new InvalidValueError('has no spec or shotTruth', { file: path, field: doc.spec === undefined ? 'spec' : 'shotTruth' });
  return { spec: doc.spec, shots: doc.shotTruth };
}

/** Gauss–Legendre nodes and weights on (−½, ½), 4 points (weights sum to 1). */
const GL_NODES = [-0.4305681557970263, -0.1699905217924281, 0.1699905217924281, 0.4305681557970263];
const GL_WEIGHTS = [0.17392742256872692, 0.32607257743127307, 0.32607257743127307, 0.17392742256872692];

/** The true mean diffuse intensity over the subvoxel box centred on (h, k, l), of width 1/ndiv (see the module comment). */
export function boxTruth(spec: StillsSimSpec, ndiv: Ndiv): (h: number, k: number, l: number) => number {
  const base = spec.base;
  const gStar = reciprocalMetric(stillsB(spec));
  const n = GL_NODES.length;
  return (h, k, l) => {
    let sum = 0;
    for (let a = 0; a < n; a++) {
      const ha = h + (GL_NODES[a] as number) / ndiv[0];
      for (let b = 0; b < n; b++) {
        const kb = k + (GL_NODES[b] as number) / ndiv[1];
        const wab = (GL_WEIGHTS[a] as number) * (GL_WEIGHTS[b] as number);
        for (let c = 0; c < n; c++) sum += wab * (GL_WEIGHTS[c] as number) * diffuseTruthValue(base, gStar, ha, kb, l + (GL_NODES[c] as number) / ndiv[2]);
      }
    }
    return sum;
  };
}

/** The merged diffuse map (electron units after the absolute stage) against the box-averaged truth. */
export function stillsMapRecovery(spec: StillsSimSpec, merged: MergedTable, ndiv: Ndiv, minObservations = 3): MapRecovery {
  const B = stillsB(spec);
  return mapRecovery(spec.base, B, reciprocalMetric(B), merged, ndiv, minObservations, boxTruth(spec, ndiv));
}

export interface ShotScaleRecovery {
  /** RMS of (b_fit/b_true)/mean − 1 over the used shots */
  rms: number;
  /** the mean of b_fit/b_true: the overall factor taken out */
  overall: number;
  /** shots compared */
  shots: number;
  /** shots of the fit with no truth, or not used (rejected) */
  skipped: number;
}

/** Per-shot scale recovery from the scaling step's `{shot, b}` table (rows with status 'rejected' or a non-finite b are skipped). */
export function shotScaleRecovery(truth: readonly StillShotTruth[], fitted: readonly { shot: number; b: number; status?: string }[]): ShotScaleRecovery {
  const byShot = new Map<number, number>();
  for (const t of truth) byShot.set(t.shot, t.scale);
  const ratios: number[] = [];
  let skipped = 0;
  for (const f of fitted) {
    const t = byShot.get(f.shot);
    if (t === undefined || f.status === 'rejected' || !Number.isFinite(f.b) || !(t > 0)) {
      skipped++;
      continue;
    }
    ratios.push(f.b / t);
  }
  const n = ratios.length;
  if (n === 0) return { rms: Number.NaN, overall: Number.NaN, shots: 0, skipped };
  const mean = ratios.reduce((a, r) => a + r, 0) / n;
  const ss = ratios.reduce((a, r) => a + (r / mean - 1) ** 2, 0);
  return { rms: Math.sqrt(ss / n), overall: mean, shots: n, skipped };
}

export interface MaskRecovery {
  braggPhotons: number;
  /** Bragg photons on masked pixels */
  removed: number;
  /** removed / braggPhotons (1 when the shot has none) */
  removedFraction: number;
  /** masked pixels outside the gaps / pixels outside the gaps */
  maskedFraction: number;
}

/**
 * How much of a shot's Bragg signal its mask removes. `bragg` holds the shot's
 * Bragg photons per pixel and `counts` its pixels (gaps < 0, left out of the
 * masked fraction); `mask` is non-zero where masked.
 */
export function maskRecovery(mask: Uint8Array, bragg: Int32Array, counts: Int32Array): MaskRecovery {
  if (mask.length !== bragg.length || counts.length !== bragg.length) {
    throw new InvalidValueError(`mask has ${mask.length} pixels, the shot ${bragg.length}`, { field: 'mask' });
  }
  let total = 0;
  let removed = 0;
  let inside = 0;
  let masked = 0;
  for (let i = 0; i < bragg.length; i++) {
    const b = bragg[i] as number;
    total += b;
    const m = (mask[i] as number) !== 0;
    if (m) removed += b;
    if ((counts[i] as number) >= 0) {
      inside++;
      if (m) masked++;
    }
  }
  return { braggPhotons: total, removed, removedFraction: total > 0 ? removed / total : 1, maskedFraction: inside > 0 ? masked / inside : 0 };
}

/** The figures `diffract demo --kind stills` prints. */
export interface StillsRecovery {
  map: MapRecovery;
  /** |slope − 1| of the map in electron units (null when the map is not on the absolute scale) */
  absoluteError: number | null;
  scale: ShotScaleRecovery | null;
  masks: { shots: number; removedFraction: number; maxMaskedFraction: number; meanMaskedFraction: number } | null;
}

/** Sums per-shot mask figures: Bragg photons removed over all shots, and the masked fraction per shot (max, mean). */
export function combineMaskRecovery(perShot: readonly MaskRecovery[]): StillsRecovery['masks'] {
  if (perShot.length === 0) return null;
  let total = 0;
  let removed = 0;
  let max = 0;
  let sum = 0;
  for (const r of perShot) {
    total += r.braggPhotons;
    removed += r.removed;
    max = Math.max(max, r.maskedFraction);
    sum += r.maskedFraction;
  }
  return { shots: perShot.length, removedFraction: total > 0 ? removed / total : 1, maxMaskedFraction: max, meanMaskedFraction: sum / perShot.length };
}

/** The `{shot, b, status}` rows of a stills 'scale' stage file's `shots` group (status 0 used, 1 rejected). */
export function shotScalesOf(file: StageFile, path: string): { shot: number; b: number; status: 'used' | 'rejected' }[] {
  const g = file.groups.get('shots');
  const shot = g?.columns.get('shot');
  const b = g?.columns.get('b');
  if (g === undefined || shot === undefined || b === undefined) throw new MissingFieldError("has no 'shots' group with columns shot and b (not a stills scale stage file)", { file: path, field: 'shots' });
  const status = g.columns.get('status');
  return Array.from({ length: shot.length }, (_v, i) => ({ shot: shot[i] as number, b: b[i] as number, status: status !== undefined && (status[i] as number) !== 0 ? ('rejected' as const) : ('used' as const) }));
}

/**
 * Mask figures of the first `shots` shots of a simulated dataset: each shot
 * re-rendered (its Bragg photons per pixel) and masked by `stillBraggMask` with
 * `settings`, from the dataset's `.expt`/`.refl` and images as a run reads them.
 */
export async function simulatedMaskRecovery(spec: StillsSimSpec, expt: string, refl: string, shots: number, settings: StillsMaskSettings = STILLS_MASK_DEFAULTS): Promise<MaskRecovery[]> {
  const data = await readDialsStills(expt, refl);
  const renderer = new StillsRenderer(spec);
  const images = new ShotImages();
  const vectors = new ShotVectorCache();
  const out: MaskRecovery[] = [];
  try {
    for (const shot of data.shots.slice(0, shots)) {
      const image = await images.read(shot);
      const m = stillBraggMask({ shot, image, reflections: data.reflections, vectors }, settings);
      const rendered = renderer.render(shot.index);
      out.push(maskRecovery(m.mask, rendered.bragg, image.pixels));
    }
  } finally {
    await images.close();
  }
  return out;
}

/**
 * The recovery figures of a stills run on simulated data: the map of the final
 * stage file (absolute when present, else merge) against the truth, the
 * per-shot scales of the scale stage file, and the masks of the first
 * `maskShots` shots.
 */
export async function stillsRunRecovery(
  truth: StillsTruth,
  files: { final: string; absolute: boolean; scale: string | null },
  data: { expt: string; refl: string; maskShots: number; maskSettings?: StillsMaskSettings },
  minObservations = 3,
): Promise<StillsRecovery> {
  const fin = await readStageFile(files.final);
  const map = stillsMapRecovery(truth.spec, mergedOf(fin, 'diffuse', files.final), fin.meta.ndiv, minObservations);
  let scale: ShotScaleRecovery | null = null;
  if (files.scale !== null) scale = shotScaleRecovery(truth.shots, shotScalesOf(await readStageFile(files.scale), files.scale));
  const masks = data.maskShots > 0 ? combineMaskRecovery(await simulatedMaskRecovery(truth.spec, data.expt, data.refl, data.maskShots, data.maskSettings)) : null;
  return { map, absoluteError: files.absolute ? Math.abs(map.slope - 1) : null, scale, masks };
}

/** The lines `diffract demo --kind stills` prints. */
export function stillsRecoveryLines(r: StillsRecovery): string[] {
  const pct = (x: number): string => `${(100 * x).toFixed(2)} %`;
  const lines = ['recovery against the truth:', `  map correlation with the true diffuse map (box averages, voxels with ≥ 3 observations): r = ${r.map.r.toFixed(4)} over ${r.map.voxels} voxels`];
  if (r.absoluteError !== null) lines.push(`  absolute scale: slope ${r.map.slope.toFixed(4)} (error ${pct(r.absoluteError)}), median ratio ${r.map.medianRatio.toFixed(4)}`);
  else lines.push(`  absolute scale: not run (relative map; slope ${r.map.slope.toExponential(3)})`);
  if (r.scale !== null) lines.push(`  per-shot scale: RMS error ${pct(r.scale.rms)} after the overall factor ${r.scale.overall.toPrecision(4)} over ${r.scale.shots} shots (${r.scale.skipped} rejected or unmatched)`);
  if (r.masks !== null) {
    lines.push(`  Bragg masks (${r.masks.shots} shots): ${pct(r.masks.removedFraction)} of the Bragg photons removed; masked fraction ${pct(r.masks.meanMaskedFraction)} mean, ${pct(r.masks.maxMaskedFraction)} max`);
  }
  return lines;
}
