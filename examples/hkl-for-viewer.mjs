#!/usr/bin/env node
// What a viewer needs under the mouse: the fractional Miller indices of
// detector pixels, on the GPU when there is one (hkl-map kernel), else on the
// CPU twin. Prints hkl at a few pixels of the first frame and of a later one.
//
//   node examples/hkl-for-viewer.mjs EXPT [x,y,z …]
import { Engine, hklAtPositions, loadExperiments, pickExperiment } from 'diffract';

const [expt, ...points] = process.argv.slice(2);
if (expt === undefined) {
  console.error('usage: hkl-for-viewer.mjs EXPT [x,y,z …]');
  process.exit(2);
}
const experiment = pickExperiment(await loadExperiments(expt), 0);
const [width, height] = experiment.detector.panels[0].imageSize;
const positions = (points.length > 0 ? points : [`${width / 2},${height / 2},0.5`, `10.5,10.5,0.5`, `${width - 10.5},${height - 10.5},5.5`]).map((p) => {
  const [x, y, z] = p.split(',').map(Number);
  return { x, y, z, panel: 0 };
});
const engine = await Engine.create({ backend: 'auto' });
try {
  const { h, k, l } = await hklAtPositions(engine, experiment, positions);
  positions.forEach((p, i) => console.log(`pixel (${p.x}, ${p.y}) at z ${p.z}: hkl = (${h[i].toFixed(3)}, ${k[i].toFixed(3)}, ${l[i].toFixed(3)})`));
  console.log(`computed on ${engine.deviceName}`);
} finally {
  engine.destroy();
}
