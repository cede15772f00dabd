#!/usr/bin/env node
// A host program (a streaming framework, a camera driver) pushes frames into
// the photon stage as they arrive, and reads hits and the energy histogram as
// each scan ends. Here the "camera" makes 20 frames of 64×64 with a flat
// background and a few isolated photons of 800 ADU above it.
//
//   node examples/photon-push.mjs
import { Engine, silentContext, stages } from 'diffract';

const W = 64;
const H = 64;
let seed = 7;
const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);

/** The frames as the host receives them: a header, frames, the end of the series. */
async function* camera() {
  const base = { source: 'camera', stream: 'camera' };
  yield { ...base, kind: 'header', eventNumber: 0, header: { htype: 'header', filename: 'scan-1' } };
  let planted = 0;
  for (let f = 0; f < 20; f++) {
    const data = new Uint16Array(W * H).fill(100);
    for (let p = 0; p < 3; p++) {
      const x = 4 + Math.floor(random() * (W - 8));
      const y = 4 + Math.floor(random() * (H - 8));
      if (data[y * W + x] !== 100) continue;
      data[y * W + x] = 900;
      planted++;
    }
    yield { ...base, kind: 'frame', eventNumber: f + 1, frame: f, shape: [H, W], type: 'uint16', data };
  }
  yield { ...base, kind: 'series-end', eventNumber: 21 };
  console.log(`the camera planted ${planted} photons`);
}

const engine = await Engine.create({ backend: 'auto' });
try {
  const settings = { ...stages.photon.defaults, threshold: 108, emin: 600, correction: 'none' };
  const result = await stages.photon.run(silentContext(engine), {
    events: camera(),
    poni: null,
    onScan: async (scan) => {
      console.log(`scan ${scan.scan} (${scan.filename ?? 'unnamed'}): ${scan.frameNumbers.length} frames, ${scan.hits.count} photons found`);
    },
  }, settings);
  for (const s of result.scans) console.log(`summary: scan ${s.scan}, ${s.hits} hits, brightest hit ${s.maxEnergy} ADU`);
} finally {
  engine.destroy();
}
