/**
 * The image series an experiment names: its imageset template (relative to
 * the `.expt` file's folder unless absolute) over the scan's image range, or an
 * explicit file list. Every frame must match the first panel's image size.
 */
import { dirname } from 'node:path';
import { MissingFieldError } from '../errors.ts';
import type { Experiment } from '../geometry/model.ts';
import { openImageSeries, type ImageSeries } from '../io/series.ts';

export function experimentSeries(exp: Experiment, exptPath: string, override?: readonly string[]): ImageSeries {
  const panel = exp.detector.panels[0];
  const expectedSize = exp.detector.panels.length === 1 && panel !== undefined ? panel.imageSize : undefined;
  const base = expectedSize !== undefined ? { expectedSize } : {};
  if (override !== undefined && override.length > 0) return openImageSeries({ files: override, ...base });
  const set = exp.imageset;
  if (set?.images !== undefined && set.images.length > 0) return openImageSeries({ files: set.images, ...base });
  if (set?.template === undefined || set.template === '') {
    throw new MissingFieldError('the experiment names no images (imageset template); give the files with --images', { file: exptPath, field: 'imageset.template' });
  }
  if (exp.scan === undefined) throw new MissingFieldError('an image template needs a scan for its image range', { file: exptPath, field: 'scan' });
  return openImageSeries({ template: set.template, first: exp.scan.imageRange[0], last: exp.scan.imageRange[1], dir: dirname(exptPath), ...base });
}
