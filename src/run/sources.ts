/**
 * The frames of a sweep, from whatever the config names: the experiment's own
 * imageset, a list of files, a template, or an Eiger/NeXus HDF5 file. A thin
 * layer over the frame-source layer (src/io/sources/): `openSweepSource` is
 * `openExperimentFrames` with the config key named in errors and the run's
 * decode workers, so it checks, before any work starts, that every image file
 * exists and that the number of frames equals the scan's. `source.range` reads
 * frames in order, decoded ahead (one frame read ahead for image files, worker
 * threads for HDF5); errors name the file and the frame's index in the sweep.
 */
import type { Experiment } from '../geometry/model.ts';
import { openExperimentFrames } from '../io/sources/experiment.ts';
import type { FrameSource } from '../io/sources/frame-source.ts';
import type { ImageSource } from './config-types.ts';

export { frameRange } from '../io/sources/complete.ts';

/** Random access to a sweep's frames plus what identifies them. */
export type SweepSource = FrameSource;

/**
 * Opens the frames of `src` for experiment `exp` (read from `exptPath`).
 * `field` is the config key named in errors (e.g. `sweeps[1].images`).
 */
export function openSweepSource(src: ImageSource, exp: Experiment, exptPath: string, field: string, checkScan = true, decodeWorkers = 0): Promise<SweepSource> {
  return openExperimentFrames(exp, exptPath, src, { field, checkScan, workers: decodeWorkers });
}
