#!/usr/bin/env node
// Integrate a rotation series into voxel tables, as a notebook would:
// geometry in, frames in, the integrate stage, tables out.
//
//   node examples/integrate-voxels.mjs EXPT OUT.h5 [IMAGE …]
//
// EXPT is a DIALS .expt (or XDS.INP); the images default to the ones the
// experiment names (CBF/SMV files or template, or an Eiger/NeXus HDF5 master).
// OUT.h5 has the same tables as `diffract integrate EXPT --out OUT.h5`.
import { DiffractError, Engine, loadExperiments, openExperimentFrames, pickExperiment, silentContext, stages, writeIntegrateFile } from 'diffract';

// a user error (missing file, bad header) is one line and exit 1; anything else is a bug
process.on('uncaughtException', (err) => {
  if (!(err instanceof DiffractError)) throw err;
  console.error(`error: ${err.message}`);
  process.exit(1);
});

const [expt, out, ...images] = process.argv.slice(2);
if (expt === undefined || out === undefined) {
  console.error('usage: integrate-voxels.mjs EXPT OUT.h5 [IMAGE …]');
  process.exit(2);
}

const experiment = pickExperiment(await loadExperiments(expt), 0);
const frames = await openExperimentFrames(experiment, expt, images);
const engine = await Engine.create({ backend: 'auto' }); // the GPU when there is one, else the CPU path
try {
  // the stage's own defaults, with one change: 3 frames per wedge
  const settings = structuredClone(stages.integrate.defaults);
  settings.grid.wedgeFrames = 3;
  settings.grid.wedgeDeg = null;
  const messages = { log: (level, message) => level !== 'debug' && console.error(`[${level}] ${message}`) };
  const r = await stages.integrate.run(silentContext(engine, messages), { experiment, exptPath: expt, frames }, settings);

  // the tables are columnar typed arrays: work with them directly …
  const { included, excluded, summary } = r;
  let counts = 0;
  for (const c of included.counts) counts += c;
  console.log(`${frames.length} frames, ${summary.wedges} wedges on ${summary.backend}`);
  console.log(`included: ${included.counts.length} subvoxels, ${counts} counts; excluded (Bragg): ${excluded.counts.length} subvoxels`);
  // … or write them as `diffract integrate` does
  await writeIntegrateFile(out, r);
  console.log(`wrote ${out}`);
} finally {
  engine.destroy();
  await frames.close();
}
