/**
 * Identical backends for stills extraction (issue 15 acceptance): every shot's
 * integer Σ counts, the pixel count and counts of every subvoxel, and every
 * observation row are identical between the GPU engine (lavapipe here) and the
 * CPU engine — on 3 synthetic shots with Bragg spots (256², photon counting)
 * and on 2 real snase shots (1024² CCD, gain 1 ADU/photon, Lunus's window and
 * beamstop).
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Engine } from '../../src/host/engine.ts';
import { OBSERVATION_COLUMNS, type ObservationColumn } from '../../src/pipeline/observations.ts';
import { silentContext } from '../../src/stages/context.ts';
import { readDialsStills } from '../../src/stills/dials.ts';
import { extractShots, stillsExtractDefaults, type ShotObservations, type StillsExtractSettings } from '../../src/stills/extract.ts';
import { ShotImages } from '../../src/stills/images.ts';
import type { StillsDataset } from '../../src/stills/model.ts';
import { gpuTestsDisabled } from '../helpers/gpu.ts';
import { sharedData } from '../helpers/paths.ts';
import { renderStill } from '../helpers/still-render.ts';
import { randomShots, smallDetectorExperiment, snaseSettings, tempDir, writeImage } from '../helpers/still-shots.ts';

const engines: Engine[] = [];
const dirs: string[] = [];
afterAll(() => {
  engines.forEach((e) => e.destroy());
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function run(engine: Engine, data: StillsDataset, s: StillsExtractSettings, shots?: number[]): Promise<ShotObservations[]> {
  const images = new ShotImages();
  const out: ShotObservations[] = [];
  try {
    for await (const o of extractShots(silentContext(engine), { data, images, source: data.source }, s, { keepVoxels: true, ...(shots !== undefined ? { shots } : {}) })) out.push(o);
  } finally {
    await images.close();
  }
  return out;
}

function compare(gpu: ShotObservations[], cpu: ShotObservations[]): string[] {
  expect(gpu.length).toBe(cpu.length);
  const lines: string[] = [];
  gpu.forEach((g, k) => {
    const c = cpu[k] as ShotObservations;
    expect(g.info.backend).toBe('gpu');
    expect(c.info.backend).toBe('cpu');
    expect(g.info.counts, g.info.identifier).toBe(c.info.counts);
    expect(g.info.pixels, g.info.identifier).toBe(c.info.pixels);
    expect(g.info.rows, g.info.identifier).toBe(c.info.rows);
    const gv = g.voxels;
    const cv = c.voxels;
    if (gv === undefined || cv === undefined) throw new Error('voxels not kept');
    for (const col of ['H', 'K', 'L', 'ix', 'iy', 'iz', 'counts', 'pixels', 'xSum', 'ySum', 'panelSum', 'kappaSum'] as const) {
      expect(Buffer.from((gv[col] as Float64Array).buffer).equals(Buffer.from((cv[col] as Float64Array).buffer)), `${g.info.identifier} voxel column ${col}`).toBe(true);
    }
    for (const col of Object.keys(OBSERVATION_COLUMNS) as ObservationColumn[]) {
      expect(Buffer.from(g.diffuse[col].buffer).equals(Buffer.from(c.diffuse[col].buffer)), `${g.info.identifier} row column ${col}`).toBe(true);
    }
    lines.push(`${g.info.identifier}: ${g.info.counts} counts, ${g.info.pixels} pixels, ${gv.counts.length} subvoxels, ${g.info.rows} rows identical`);
  });
  return lines;
}

describe.skipIf(gpuTestsDisabled())('stills extraction: GPU = CPU', () => {
  it('synthetic shots and 2 snase shots: identical integer sums per shot and per subvoxel, identical rows', async () => {
    const gpu = await Engine.create({ backend: 'gpu', env: {} });
    engines.push(gpu);
    expect(gpu.backend).toBe('gpu');
    const cpu = Engine.cpu();
    engines.push(cpu);

    const dir = tempDir('stills-backends-');
    dirs.push(dir);
    const exp = await smallDetectorExperiment();
    const synthetic = randomShots(exp, 3, 777, (i) => join(dir, `shot-${i}.img`));
    for (const shot of synthetic.shots) {
      const { pixels } = renderStill(shot, { sigma: 0.0028 / 2.6, meanPeak: 2000, background: 30, seed: 40 + shot.index });
      await writeImage((shot.image as { path: string }).path, pixels);
    }
    const s = stillsExtractDefaults();
    s.ndiv = [3, 3, 3];
    const lines = compare(await run(gpu, synthetic, s), await run(cpu, synthetic, s));

    const snase = await readDialsStills(sharedData('snase', 'stills.expt'));
    const ss = snaseSettings([3, 3, 3]);
    lines.push(...compare(await run(gpu, snase, ss, [0, 7]), await run(cpu, snase, ss, [0, 7])));
    console.log(`[stills extract on ${gpu.deviceName}]\n  ${lines.join('\n  ')}`);
  }, 300_000);
});
