/**
 * `openExperimentFrames`: the frames of an experiment, in any format, checked
 * before any work starts.
 *
 * Which frames:
 * - given files (`--images`): one file of any format (an HDF5 master or data
 *   file, a `.cbors` recording, one CBF) is opened whole; two or more are CBF/SMV
 *   files, one per frame;
 * - a config source (`ExperimentImages`): the experiment's own images, a file
 *   list, a template, or an HDF5 file with dataset and frame range;
 * - else the experiment's imageset: its file list; or its template (relative
 *   to the `.expt` file's folder unless absolute) over the scan's image range;
 *   a template without '#' names one container file (DIALS writes the Eiger
 *   master there), whose frames scan.imageRange selects.
 *
 * Checks: every file exists (FileAccessError naming it, its frame and the
 * config key); every frame has the detector's image size (single panel); the
 * number of frames equals the scan's (InvalidValueError naming the `.expt`
 * and the key), unless `checkScan` is false.
 */
import { existsSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import { FileAccessError, InvalidValueError, MissingFieldError } from '../../errors.ts';
import type { Experiment } from '../../geometry/model.ts';
import type { FrameSource } from './frame-source.ts';
import { openHdf5Frames } from './hdf5-frames.ts';
import { detectSourceKind, openFrameSource, type FrameSourceOptions } from './open.ts';

/** Where an experiment's frames are (the run config's image sources fit). */
export type ExperimentImages =
  /** the images the experiment names */
  | { kind: 'expt' }
  /** image files, one per frame (or one container file) */
  | { kind: 'files'; files: readonly string[] }
  /** a DIALS template with '#' for the image number, images first…last inclusive */
  | { kind: 'template'; template: string; first: number; last: number }
  /** an HDF5 master or data file; frames first…last (0-based, inclusive; null: to the end) of `dataset` */
  | { kind: 'hdf5'; file: string; dataset?: string; first?: number; last?: number | null };

export interface ExperimentFramesOptions {
  /** the option or config key named in errors (default: '--images' for given files, else 'imageset') */
  field?: string;
  /** check that the frame count equals the scan's (default true) */
  checkScan?: boolean;
  /** HDF5: decode worker threads (default 0) */
  workers?: number;
  /** CBF: check Content-MD5 (default true) */
  verifyMd5?: boolean;
}

function expectedSizeOf(exp: Experiment): readonly [number, number] | undefined {
  const panel = exp.detector.panels[0];
  return exp.detector.panels.length === 1 && panel !== undefined ? panel.imageSize : undefined;
}

/** Opens the frames of experiment `exp` read from `exptPath` (see the module comment). */
export async function openExperimentFrames(
  exp: Experiment,
  exptPath: string,
  images?: readonly string[] | ExperimentImages,
  options: ExperimentFramesOptions = {},
): Promise<FrameSource> {
  const given: ExperimentImages = images === undefined || (Array.isArray(images) && images.length === 0) ? { kind: 'expt' } : Array.isArray(images) ? { kind: 'files', files: images } : (images as ExperimentImages);
  const field = options.field ?? (given.kind === 'expt' ? 'imageset' : '--images');
  const base: FrameSourceOptions = { field };
  const expectedSize = expectedSizeOf(exp);
  if (expectedSize !== undefined) base.expectedSize = expectedSize;
  if (options.workers !== undefined) base.workers = options.workers;
  if (options.verifyMd5 !== undefined) base.verifyMd5 = options.verifyMd5;
  const source = await openGiven(exp, exptPath, given, base);
  if ((options.checkScan ?? true) && exp.scan !== undefined) {
    const [a, b] = exp.scan.imageRange;
    const scanFrames = b - a + 1;
    if (source.length !== scanFrames) {
      await source.close();
      throw new InvalidValueError(`${source.length} frames given but the scan has ${scanFrames} (images ${a}…${b})`, { file: exptPath, field });
    }
  }
  return source;
}

async function openGiven(exp: Experiment, exptPath: string, given: ExperimentImages, base: FrameSourceOptions): Promise<FrameSource> {
  const field = base.field;
  switch (given.kind) {
    case 'files':
      return openFrameSource(given.files, base);
    case 'template':
      return openFrameSource({ template: given.template, first: given.first, last: given.last }, base);
    case 'hdf5': {
      if (!existsSync(given.file)) throw new FileAccessError('no such file', field !== undefined ? { file: given.file, field } : { file: given.file });
      const h = { ...base, ...(given.dataset !== undefined ? { dataset: given.dataset } : {}), ...(given.first !== undefined ? { first: given.first } : {}), ...(given.last !== undefined ? { last: given.last } : {}) };
      return openHdf5Frames(given.file, h);
    }
    case 'expt':
      return openImageset(exp, exptPath, base);
  }
}

async function openImageset(exp: Experiment, exptPath: string, base: FrameSourceOptions): Promise<FrameSource> {
  const set = exp.imageset;
  const list = set?.images ?? [];
  // one container file (an Eiger master, a recording) named by the imageset: the scan's images are its frames
  const single = list.length === 1 ? list[0] : list.length === 0 && set?.template !== undefined && set.template !== '' && !set.template.includes('#') ? set.template : undefined;
  if (single !== undefined) {
    const file = isAbsolute(single) ? single : join(dirname(exptPath), single);
    const kind = await detectSourceKind(file, list.length === 1 ? 'imageset.images' : 'imageset.template');
    if (kind !== 'images') return openContainer(exp, file, { ...base, kind });
  }
  if (list.length > 0) return openFrameSource(list, base);
  if (set?.template === undefined || set.template === '') {
    throw new MissingFieldError('the experiment names no images (imageset template); give the files with --images', { file: exptPath, field: 'imageset.template' });
  }
  if (exp.scan === undefined) throw new MissingFieldError('an image template needs a scan for its image range', { file: exptPath, field: 'scan' });
  const [first, last] = exp.scan.imageRange;
  return openFrameSource({ template: set.template, first, last, dir: dirname(exptPath) }, base);
}

/** A container's frames for the scan's images first…last (1-based): frames first−1…last−1; all of them without a scan. */
async function openContainer(exp: Experiment, file: string, options: FrameSourceOptions): Promise<FrameSource> {
  const range = exp.scan?.imageRange;
  if (options.kind === 'hdf5') return openFrameSource(file, range === undefined ? options : { ...options, first: range[0] - 1, last: range[1] - 1 });
  const whole = await openFrameSource(file, options);
  if (range === undefined || (range[0] === 1 && range[1] === whole.length)) return whole;
  const [first, last] = range;
  if (first < 1 || last > whole.length) {
    await whole.close();
    throw new InvalidValueError(`the scan's images ${first}…${last} are outside the ${whole.length} frames of the file`, { file, field: 'scan.image_range' });
  }
  // recordings hold no resources between reads, so the view needs no close of its own
  return whole.view(first - 1, last - first + 1);
}
