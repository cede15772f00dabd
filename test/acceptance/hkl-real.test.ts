/**
 * Acceptance on real data, on both backends:
 * - l-cysteine (Pilatus 2M CBF + DIALS integration): every indexed reflection,
 *   mapped at its `xyzcal.px`, gives fractional hkl within 0.01 of its Miller index;
 * - snase (SMV stills, refined_experiments.json + header PHI): in every frame, at
 *   least 60% of the 500 brightest pixels in the detector window lie within 0.15
 *   of an integer in all three indices, against a few % for random pixels.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { readExperimentList } from '../../src/geometry/expt.ts';
import { pointVectors } from '../../src/geometry/pixel-vectors.ts';
import { hklMatrixAtAngle } from '../../src/geometry/setting.ts';
import { Engine } from '../../src/host/engine.ts';
import { getColumn, readReflectionTable } from '../../src/io/dials-refl.ts';
import { readSmv } from '../../src/io/smv.ts';
import { hklMapKernel } from '../../src/kernels/hkl-map.ts';
import { hklAtPositions } from '../../src/pipeline/hkl-positions.ts';
import { mulberry32 } from '../../src/util/random.ts';
import { gpuTestsDisabled } from '../helpers/gpu.ts';
import { sharedData } from '../helpers/paths.ts';

const BACKENDS: Array<'cpu' | 'gpu'> = gpuTestsDisabled() ? ['cpu'] : ['cpu', 'gpu'];
const engines: Engine[] = [];
afterAll(() => engines.forEach((e) => e.destroy()));

async function engineFor(backend: 'cpu' | 'gpu'): Promise<Engine> {
  const e = await Engine.create({ backend, env: {} });
  engines.push(e);
  expect(e.backend).toBe(backend);
  if (backend === 'gpu') console.log(`[gpu] real-data hkl on ${e.deviceName}`);
  return e;
}

describe.each(BACKENDS)('l-cysteine: hkl at DIALS xyzcal.px (%s)', (backend) => {
  it('every indexed reflection maps within 0.01 of its Miller index', async () => {
    const list = await readExperimentList(sharedData('l-cysteine', '11_integrated.expt'));
    const exp = list.experiments[0];
    if (exp === undefined) throw new Error('no experiment');
    const refl = await readReflectionTable(sharedData('l-cysteine', '11_integrated.refl'));
    const miller = getColumn(refl, 'miller_index', 'cctbx::miller::index<>').data;
    const xyz = getColumn(refl, 'xyzcal.px', 'vec3<double>').data;
    const panelCol = refl.columns.get('panel');
    const positions: { x: number; y: number; z: number; panel: number }[] = [];
    const expected: number[] = [];
    for (let r = 0; r < refl.nrows; r++) {
      const H = [miller[3 * r], miller[3 * r + 1], miller[3 * r + 2]] as number[];
      if (H.every((v) => v === 0)) continue;
      positions.push({ x: xyz[3 * r] as number, y: xyz[3 * r + 1] as number, z: xyz[3 * r + 2] as number, panel: panelCol ? Number(panelCol.data[r]) : 0 });
      expected.push(...H);
    }
    expect(positions.length).toBeGreaterThan(50);
    const engine = await engineFor(backend);
    const t = await hklAtPositions(engine, exp, positions);
    let worst = 0;
    for (let i = 0; i < positions.length; i++) {
      worst = Math.max(
        worst,
        Math.abs((t.h[i] as number) - (expected[3 * i] as number)),
        Math.abs((t.k[i] as number) - (expected[3 * i + 1] as number)),
        Math.abs((t.l[i] as number) - (expected[3 * i + 2] as number)),
      );
    }
    console.log(`[l-cysteine ${backend}] ${positions.length} indexed reflections, max |hkl − Miller index| = ${worst.toFixed(5)}`);
    expect(worst).toBeLessThan(0.01);
  });
});

const SNASE_FRAMES = Array.from({ length: 10 }, (_v, i) => `snc_newhead_${String(i + 1).padStart(5, '0')}.img`);

/** Lunus's settings for these frames (see ../shared/data/README.md). */
function inWindow(x: number, y: number): boolean {
  const window = x >= 40 && x <= 984 && y >= 40 && y <= 984;
  const beamstop = x >= 510 && x <= 556 && y >= 473 && y <= 517;
  return window && !beamstop;
}

function fractionNearInteger(hkl: Float32Array, tol: number): number {
  const n = hkl.length / 3;
  let near = 0;
  for (let i = 0; i < n; i++) {
    let ok = true;
    for (let c = 0; c < 3; c++) {
      const v = hkl[3 * i + c] as number;
      if (Math.abs(v - Math.round(v)) > tol) ok = false;
    }
    if (ok) near++;
  }
  return near / n;
}

describe.each(BACKENDS)('snase stills: brightest pixels on integer hkl (%s)', (backend) => {
  it('≥ 60% of the 500 brightest pixels in every frame lie within 0.15 of integer hkl', async () => {
    const list = await readExperimentList(sharedData('snase', 'refined_experiments.json'));
    const exp = list.experiments[0];
    if (exp === undefined) throw new Error('no experiment');
    const panels = exp.detector.panels;
    const engine = await engineFor(backend);
    const u = mulberry32(11);
    const summary: string[] = [];
    for (const name of SNASE_FRAMES) {
      const img = await readSmv(sharedData('snase', 'images', name));
      const phi = img.header.phi;
      if (phi === undefined) throw new Error(`${name} has no PHI`);
      const candidates: number[] = [];
      for (let y = 0; y < img.height; y++) {
        for (let x = 0; x < img.width; x++) {
          const v = img.pixels[y * img.width + x] as number;
          if (v >= 1 && v <= 10000 && inWindow(x, y)) candidates.push(y * img.width + x);
        }
      }
      candidates.sort((a, b) => (img.pixels[b] as number) - (img.pixels[a] as number) || a - b);
      const brightest = candidates.slice(0, 500);
      const random = Array.from({ length: 2000 }, () => candidates[Math.floor(u() * candidates.length)] as number);
      const M = new Float64Array(hklMatrixAtAngle(exp, phi));
      const run = async (idx: number[]): Promise<Float32Array> => {
        const vectors = pointVectors(panels, exp.beam, idx.map((p) => ({ panel: 0, x: (p % img.width) + 0.5, y: Math.floor(p / img.width) + 0.5 })));
        return (await engine.run(hklMapKernel, { vectors, matrices: M })).hkl;
      };
      const fBright = fractionNearInteger(await run(brightest), 0.15);
      const fRandom = fractionNearInteger(await run(random), 0.15);
      summary.push(`${name} PHI=${phi}: ${(100 * fBright).toFixed(1)}% bright vs ${(100 * fRandom).toFixed(1)}% random`);
      expect(fBright, name).toBeGreaterThanOrEqual(0.6);
      expect(fRandom, name).toBeLessThan(0.1);
    }
    console.log(`[snase ${backend}]\n  ${summary.join('\n  ')}`);
  });
});
