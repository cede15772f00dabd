/**
 * The frames an experiment names, in any format: kept for callers of the old
 * name; the frame-source layer's `openExperimentFrames`
 * (src/io/sources/experiment.ts) does the work.
 */
import type { Experiment } from '../geometry/model.ts';
import { openExperimentFrames } from '../io/sources/experiment.ts';
import type { FrameSource } from '../io/sources/frame-source.ts';

/** @deprecated use `openExperimentFrames` (now asynchronous: HDF5 and recordings are opened here). */
export function experimentSeries(exp: Experiment, exptPath: string, override?: readonly string[]): Promise<FrameSource> {
  return openExperimentFrames(exp, exptPath, override);
}
