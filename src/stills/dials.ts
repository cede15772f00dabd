/**
 * DIALS stills import: an ExperimentList with one experiment per shot (each with
 * its own crystal and an ImageSet of one image, or one index into a multi-image
 * file; no goniometer, no scan), and optionally the matching reflection table.
 *
 * The models are read by the rotation reader (`geometry/expt.ts`); this module
 * only checks that the list is one of stills and turns it into shots, and maps the
 * `.refl` columns:
 *
 * | `.refl` column                          | StillReflections           |
 * | --------------------------------------- | -------------------------- |
 * | `id` (experiment index)                 | `shot`                     |
 * | `miller_index`                          | `h`, `k`, `l`              |
 * | `panel`                                 | `panel` (0 when absent)    |
 * | `xyzobs.px.value` (x, y; z dropped)     | `xyzObs`                   |
 * | `xyzcal.px` (x, y)                      | `xyzCal`                   |
 * | `bbox` (x0, x1, y0, y1, z0, z1)         | `bbox` (x0, x1, y0, y1)    |
 * | `intensity.sum.value` / `.variance`     | `intensitySum(Variance)`   |
 * | `intensity.prf.value` / `.variance`     | `intensityPrf(Variance)`   |
 * | `partiality`                            | `partiality`               |
 *
 * Rows with a negative `id` (not indexed) or Miller index (0, 0, 0) are left out.
 * Each `id` must name an experiment of the list, and where the table maps ids to
 * experiment identifiers those must be the list's own: otherwise one
 * InvalidValueError names the `.refl` file, the row and the id.
 */
import { dirname, isAbsolute, resolve } from 'node:path';
import { InvalidValueError, MissingFieldError } from '../errors.ts';
import { readExperimentList } from '../geometry/expt.ts';
import type { Experiment, ExperimentList, ImageSetRef } from '../geometry/model.ts';
import { getColumn, hasColumn, readReflectionTable, type ReflectionTable } from '../io/dials-refl.ts';
import { defaultRayMethod } from './predict.ts';
import { allocateStillReflections, type ShotImage, type SpotModel, type StillReflections, type StillShot, type StillsDataset } from './model.ts';

/** Turns a parsed stills ExperimentList into shots. `base` is the folder image paths are relative to. */
export function stillsFromExperimentList(list: ExperimentList, base: string): StillShot[] {
  const file = list.source;
  // experiments sharing one multi-image ImageSet take its images in order
  const sharing = new Map<ImageSetRef, number>();
  for (const e of list.experiments) if (e.imageset !== undefined) sharing.set(e.imageset, (sharing.get(e.imageset) ?? 0) + 1);
  const taken = new Map<ImageSetRef, number>();
  return list.experiments.map((exp, i): StillShot => {
    const path = `experiment[${i}]`;
    if (exp.crystal === undefined) throw new MissingFieldError('a still needs its own crystal (the experiment is not indexed)', { file, field: `${path}.crystal` });
    if (exp.scan !== undefined && exp.scan.imageRange[1] > exp.scan.imageRange[0]) {
      throw new InvalidValueError(`has a scan of ${exp.scan.imageRange[1] - exp.scan.imageRange[0] + 1} images: this is a rotation experiment, not a still`, { file, field: `${path}.scan` });
    }
    let image: ShotImage | undefined;
    const set = exp.imageset;
    if (set?.images !== undefined && set.images.length > 0) {
      const n = set.images.length;
      let k = 0;
      if (n > 1) {
        if (sharing.get(set) !== n) {
          throw new InvalidValueError(`the ImageSet has ${n} images but ${sharing.get(set) ?? 0} experiments use it: which image is this shot's is not known`, { file, field: `${path}.imageset` });
        }
        k = taken.get(set) ?? 0;
        taken.set(set, k + 1);
      }
      const name = set.images[k] as string;
      image = { path: isAbsolute(name) ? name : resolve(base, name), index: set.singleFileIndices?.[k] ?? 0, event: '' };
    }
    const m = exp.crystal.mosaicity;
    const spotModel: SpotModel = m === undefined ? { kind: 'none' } : { kind: 'sauter', domainSizeA: m.domainSizeA, halfMosaicityDeg: m.halfMosaicityDeg };
    const experiment: Experiment = { identifier: exp.identifier, beam: exp.beam, detector: exp.detector, crystal: exp.crystal };
    if (exp.imageset !== undefined) experiment.imageset = exp.imageset;
    if (exp.profile !== undefined) experiment.profile = exp.profile;
    return { index: i, identifier: exp.identifier, experiment, image, spotModel, rayMethod: defaultRayMethod(experiment), chunk: i };
  });
}

/** Maps a DIALS reflection table onto the shots (see the module comment for the columns). */
export function stillReflectionsFromTable(table: ReflectionTable, shots: readonly StillShot[]): StillReflections {
  const file = table.source;
  const ids = getColumn(table, 'id', 'int').data;
  const hkl = getColumn(table, 'miller_index', 'cctbx::miller::index<>').data;
  // check every id first, so that a mismatch is reported before anything is built
  for (const [id, ident] of table.identifiers) {
    const shot = shots[id];
    if (shot !== undefined && shot.identifier !== '' && ident !== shot.identifier) {
      throw new InvalidValueError(`id ${id} is experiment '${ident}' here but experiment ${id} of the list is '${shot.identifier}': the .refl does not belong to this .expt`, { file, field: 'id' });
    }
  }
  const keep: number[] = [];
  for (let r = 0; r < table.nrows; r++) {
    const id = ids[r] as number;
    if (id < 0) continue;
    if (id >= shots.length) {
      throw new InvalidValueError(`row ${r} has id ${id} but the experiment list has ${shots.length} experiment${shots.length === 1 ? '' : 's'}: the .refl does not belong to this .expt`, { file, field: 'id' });
    }
    if (hkl[3 * r] === 0 && hkl[3 * r + 1] === 0 && hkl[3 * r + 2] === 0) continue;
    keep.push(r);
  }
  const out = allocateStillReflections(keep.length);
  const panel = hasColumn(table, 'panel') ? getColumn(table, 'panel', ['std::size_t', 'int']).data : undefined;
  const vec = (name: string): Float64Array | undefined => (hasColumn(table, name) ? getColumn(table, name, 'vec3<double>').data : undefined);
  const scalar = (name: string): Float64Array | undefined => (hasColumn(table, name) ? getColumn(table, name, 'double').data : undefined);
  const obs = vec('xyzobs.px.value');
  const cal = vec('xyzcal.px');
  const bbox = hasColumn(table, 'bbox') ? getColumn(table, 'bbox', 'int6').data : undefined;
  const sum = scalar('intensity.sum.value');
  const sumVar = scalar('intensity.sum.variance');
  const prf = scalar('intensity.prf.value');
  const prfVar = scalar('intensity.prf.variance');
  const part = scalar('partiality');
  out.hasPartiality = part !== undefined;
  keep.forEach((r, o) => {
    out.shot[o] = ids[r] as number;
    out.h[o] = hkl[3 * r] as number;
    out.k[o] = hkl[3 * r + 1] as number;
    out.l[o] = hkl[3 * r + 2] as number;
    out.panel[o] = panel === undefined ? 0 : (panel[r] as number);
    if (obs !== undefined) {
      out.xyzObs[2 * o] = obs[3 * r] as number;
      out.xyzObs[2 * o + 1] = obs[3 * r + 1] as number;
    }
    if (cal !== undefined) {
      out.xyzCal[2 * o] = cal[3 * r] as number;
      out.xyzCal[2 * o + 1] = cal[3 * r + 1] as number;
    }
    if (bbox !== undefined) for (let c = 0; c < 4; c++) out.bbox[4 * o + c] = bbox[6 * r + c] as number;
    if (sum !== undefined) out.intensitySum[o] = sum[r] as number;
    if (sumVar !== undefined) out.intensitySumVariance[o] = sumVar[r] as number;
    if (prf !== undefined) out.intensityPrf[o] = prf[r] as number;
    if (prfVar !== undefined) out.intensityPrfVariance[o] = prfVar[r] as number;
    if (part !== undefined) out.partiality[o] = part[r] as number;
  });
  return out;
}

/** Reads a DIALS stills `.expt` and, when given, its `.refl`. Image paths are resolved against the `.expt`'s folder. */
export async function readDialsStills(exptPath: string, reflPath?: string): Promise<StillsDataset> {
  const list = await readExperimentList(exptPath);
  const shots = stillsFromExperimentList(list, dirname(resolve(exptPath)));
  const reflections = reflPath === undefined ? allocateStillReflections(0) : stillReflectionsFromTable(await readReflectionTable(reflPath), shots);
  return { source: reflPath === undefined ? exptPath : `${exptPath} + ${reflPath}`, format: 'dials', shots, reflections };
}
