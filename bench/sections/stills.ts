/**
 * Stills extraction cost per shot (issue 15: 5,000 shots of 256² must be
 * practical): `40·size` synthetic shots of a 256² photon-counting detector at
 * random orientations (a 50 × 60 × 70 Å P 2 2 2 cell, λ 1 Å, 100 mm), Poisson
 * background images read from SMV files, extracted with `extractShots` at ndiv
 * 1,1,1 and 3,3,3 (mask, binning, correction, reading included). The first two
 * shots (the detector's one-time setup) are not timed.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { GpuContext } from '../../src/host/context.ts';
import { Engine } from '../../src/host/engine.ts';
import { writeSmv } from '../../src/io/smv.ts';
import { mulMM, rotationAbout } from '../../src/geometry/linalg.ts';
import type { Experiment, Mat3 } from '../../src/geometry/model.ts';
import { silentContext } from '../../src/stages/context.ts';
import { extractShots, stillsExtractDefaults } from '../../src/stills/extract.ts';
import { ShotImages } from '../../src/stills/images.ts';
import { allocateStillReflections, type StillShot, type StillsDataset } from '../../src/stills/model.ts';
import { mulberry32, poisson } from '../../src/util/random.ts';
import type { BenchRow, BenchSection } from '../harness.ts';

const N = 256;
const PX = 0.32;

function experiment(A: Mat3): Experiment {
  return {
    identifier: '',
    beam: { wavelength: 1, direction: [0, 0, 1], polarizationFraction: 0.999, polarizationNormal: [0, 1, 0] },
    detector: {
      panels: [
        {
          name: 'bench',
          type: 'SENSOR_PAD',
          origin: [(-N * PX) / 2, (N * PX) / 2, -100],
          fastAxis: [1, 0, 0],
          slowAxis: [0, -1, 0],
          pixelSize: [PX, PX],
          imageSize: [N, N],
          trustedRange: [-1, 1e6],
          thickness: 0.45,
          material: 'Si',
          mu: 0,
          pxMmStrategy: 'simple',
          mask: [],
          gain: 1,
          pedestal: 0,
          identifier: '',
        },
      ],
    },
    crystal: { A, unitCell: { a: 50, b: 60, c: 70, alpha: 90, beta: 90, gamma: 90 }, spaceGroupHall: ' P 2 2' },
  };
}

async function dataset(dir: string, shots: number): Promise<StillsDataset> {
  const u = mulberry32(3);
  const B: Mat3 = [1 / 50, 0, 0, 0, 1 / 60, 0, 0, 0, 1 / 70];
  const pixels = new Int32Array(N * N);
  for (let i = 0; i < pixels.length; i++) pixels[i] = poisson(u, 30);
  const out: StillShot[] = [];
  for (let i = 0; i < shots; i++) {
    const U = mulMM(rotationAbout([u() - 0.5, u() - 0.5, u() - 0.5], 2 * Math.PI * u()), rotationAbout([0, 0, 1], 2 * Math.PI * u()));
    const path = join(dir, `shot-${i}.img`);
    await writeSmv(path, { width: N, height: N, pixels, type: 'unsigned_long' });
    out.push({ index: i, identifier: `bench-${i}`, experiment: experiment(mulMM(U, B)), image: { path, index: 0, event: '' }, spotModel: { kind: 'radius', radius: 0.002 }, rayMethod: 'ewald', chunk: i });
  }
  // one detector and beam object for all, as a DIALS list has
  const first = out[0] as StillShot;
  for (const s of out) s.experiment = { ...s.experiment, detector: first.experiment.detector, beam: first.experiment.beam };
  return { source: 'bench', format: 'dials', shots: out, reflections: allocateStillReflections(0) };
}

async function measure(engine: Engine, size: number): Promise<BenchRow[]> {
  const shots = Math.max(4, Math.round(40 * size));
  const dir = mkdtempSync(join(tmpdir(), 'bench-stills-'));
  const rows: BenchRow[] = [];
  try {
    const data = await dataset(dir, shots);
    for (const n of [1, 3]) {
      const s = stillsExtractDefaults();
      s.ndiv = [n, n, n];
      const images = new ShotImages();
      let t0 = 0;
      let k = 0;
      try {
        for await (const o of extractShots(silentContext(engine), { data, images, source: 'bench' }, s)) {
          void o;
          if (++k === 2) t0 = performance.now();
        }
      } finally {
        await images.close();
      }
      const ms = (performance.now() - t0) / (shots - 2);
      rows.push({ section: 'stills', name: `stills extraction 256² shot, ndiv ${n},${n},${n} (read, mask, bin, correct)`, backend: engine.backend, value: ms, unit: 'ms/shot', note: `${shots - 2} shots timed; 5,000 shots ≈ ${((5000 * ms) / 60000).toFixed(1)} min` });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}

export const stillsSection: BenchSection = {
  name: 'stills',
  async gpu(ctx: GpuContext, size) {
    return measure(Engine.onContext(ctx), size);
  },
  async cpu(size) {
    const engine = Engine.cpu();
    try {
      return await measure(engine, size);
    } finally {
      engine.destroy();
    }
  },
};
