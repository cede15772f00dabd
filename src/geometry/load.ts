/**
 * Opens a geometry description by what it is: a DIALS ExperimentList (`.expt`,
 * `.json`), or XDS files (`XDS.INP` with `GXPARM.XDS`/`XPARM.XDS` beside it, or
 * a folder holding them), or a NeXus/Eiger master file (`.h5`, `.nxs`, `.nx5`,
 * `.hdf5`: see src/io/nexus-geometry.ts).
 */
import { existsSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { FileAccessError, InvalidValueError } from '../errors.ts';
import { experimentFromNexus, isNexusPath } from '../io/nexus-geometry.ts';
import { readExperimentList } from './expt.ts';
import type { Experiment, ExperimentList } from './model.ts';
import { readXds } from './xds.ts';

export async function loadExperiments(path: string): Promise<ExperimentList> {
  if (!existsSync(path)) throw new FileAccessError('no such file or folder', { file: path });
  const isDir = statSync(path).isDirectory();
  const dir = isDir ? path : dirname(path);
  const name = isDir ? '' : basename(path).toUpperCase();
  if (isDir || name === 'XDS.INP' || name.endsWith('XPARM.XDS')) {
    const inp = join(dir, 'XDS.INP');
    const xparm = ['GXPARM.XDS', 'XPARM.XDS'].map((f) => join(dir, f)).find((f) => existsSync(f));
    if (!existsSync(inp)) throw new FileAccessError('XDS.INP not found beside the XDS geometry', { file: inp });
    if (xparm === undefined) throw new FileAccessError('neither GXPARM.XDS nor XPARM.XDS found', { file: dir });
    return readXds(inp, xparm);
  }
  if (isNexusPath(path)) return experimentFromNexus(path);
  return readExperimentList(path);
}

/** Experiment `index` of the list, or a typed error naming the file. */
export function pickExperiment(list: ExperimentList, index: number): Experiment {
  const exp = list.experiments[index];
  if (exp === undefined) {
    throw new InvalidValueError(`experiment ${index} requested but the file has ${list.experiments.length}`, { file: list.source, field: 'experiment' });
  }
  return exp;
}
