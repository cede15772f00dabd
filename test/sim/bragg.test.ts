/**
 * Synthetic acceptance: the Bragg peaks of a simulated series, read back from
 * the written CBF frames and mapped through the hkl machinery with the written
 * .expt, sit on integer hkl; and the predicted reflection positions carry
 * Bragg counts.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readExperimentList } from '../../src/geometry/expt.ts';
import type { Experiment } from '../../src/geometry/model.ts';
import { pointVectors } from '../../src/geometry/pixel-vectors.ts';
import { hklMatrixAt } from '../../src/geometry/setting.ts';
import { readCbf } from '../../src/io/cbf.ts';
import { hklMapCpu } from '../../src/kernels/hkl-map.ts';
import { simulate } from '../../src/sim/simulate.ts';
import { gapMask, smallSpec } from '../../src/sim/spec.ts';
import { TRUTH_FILES } from '../../src/sim/truth.ts';

const FRAMES = 10;
const TOP = 300;
const dir = mkdtempSync(join(tmpdir(), 'diffract-bragg-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// Bragg only: no diffuse, no ring, no offset
const spec = smallSpec(5);
spec.scan.frames = FRAMES;
spec.model.diffuse.scale = 0;
spec.model.ring.scale = 0;

describe('simulated Bragg peaks', () => {
  let exp: Experiment;
  const frames: Int32Array[] = [];
  let width = 0;
  let height = 0;

  beforeAll(async () => {
    await simulate(spec, dir);
    const list = await readExperimentList(join(dir, 'sim.expt'));
    exp = list.experiments[0]!;
    for (let i = 0; i < FRAMES; i++) {
      const img = await readCbf(join(dir, `sim_${String(i + 1).padStart(5, '0')}.cbf`));
      frames.push(img.pixels);
      width = img.width;
      height = img.height;
    }
  });

  it('map to their integer hkl (≥ 95% of the brightest peaks within 0.1 of integer h, k, l)', () => {
    // local maxima in x, y and frame: one pixel per spot, its brightest
    const peaks: { x: number; y: number; f: number; c: number }[] = [];
    for (let f = 0; f < FRAMES; f++) {
      const px = frames[f]!;
      for (let y = 1; y < height - 1; y++) {
        for (let x = 1; x < width - 1; x++) {
          const c = px[y * width + x]!;
          if (c < 5) continue;
          let isMax = true;
          for (let df = -1; df <= 1 && isMax; df++) {
            const other = frames[f + df];
            if (other === undefined) continue;
            for (let dy = -1; dy <= 1 && isMax; dy++) {
              for (let dx = -1; dx <= 1; dx++) {
                if (df === 0 && dx === 0 && dy === 0) continue;
                if (other[(y + dy) * width + x + dx]! > c) {
                  isMax = false;
                  break;
                }
              }
            }
          }
          if (isMax) peaks.push({ x, y, f, c });
        }
      }
    }
    peaks.sort((a, b) => b.c - a.c);
    const top = peaks.slice(0, TOP);
    expect(top).toHaveLength(TOP);

    const panel = exp.detector.panels;
    const vectors = pointVectors(panel, exp.beam, top.map((p) => ({ panel: 0, x: p.x + 0.5, y: p.y + 0.5 })));
    const matrices = new Float64Array(9 * top.length);
    top.forEach((p, i) => matrices.set(hklMatrixAt(exp, p.f + 0.5), 9 * i)); // the frame's mid angle
    const { hkl } = hklMapCpu({ vectors, matrices, matrixIndex: Uint32Array.from(top, (_p, i) => i) });
    let near = 0;
    let worst = 0;
    for (let i = 0; i < top.length; i++) {
      const off = Math.max(...[0, 1, 2].map((c) => Math.abs(hkl[3 * i + c]! - Math.round(hkl[3 * i + c]!))));
      worst = Math.max(worst, off);
      if (off <= 0.1) near++;
    }
    const fraction = near / top.length;
    console.log(`[bragg] ${near}/${top.length} brightest peaks (${(100 * fraction).toFixed(1)}%) within 0.1 of integer hkl; worst offset ${worst.toFixed(3)}; faintest counted peak ${top[top.length - 1]!.c} counts`);
    expect(fraction).toBeGreaterThanOrEqual(0.95);
  });

  it('predicted reflection positions carry Bragg counts', () => {
    const cols = JSON.parse(readFileSync(join(dir, TRUTH_FILES.reflections), 'utf8')) as Record<string, number[]>;
    const n = cols.h!.length;
    expect(n).toBeGreaterThan(100);
    const gaps = gapMask(spec.detector);
    const bad = new Set(spec.detector.badPixels.map(([x, y]) => y * width + x));
    const usable = (x: number, y: number): boolean => {
      for (let dy = -2; dy <= 2; dy++) {
        for (let dx = -2; dx <= 2; dx++) {
          const i = (y + dy) * width + x + dx;
          if (x + dx < 0 || y + dy < 0 || x + dx >= width || y + dy >= height || gaps[i] === 1 || bad.has(i)) return false;
        }
      }
      return true;
    };
    let tested = 0;
    let lit = 0;
    for (let r = 0; r < n; r++) {
      const z = cols.z![r]!;
      const x = Math.floor(cols.x![r]!);
      const y = Math.floor(cols.y![r]!);
      // strong reflections fully inside the scan and the panel's sensitive area
      if (z < 1 || z >= FRAMES - 1 || cols.intensity![r]! * spec.scan.exposure < 200 || !usable(x, y)) continue;
      tested++;
      const f = Math.floor(z);
      let max = 0;
      for (let df = -1; df <= 1; df++) {
        const px = frames[f + df];
        if (px === undefined) continue;
        for (let dy = -1; dy <= 1; dy++) for (let dx = -1; dx <= 1; dx++) max = Math.max(max, px[(y + dy) * width + x + dx]!);
      }
      if (max >= 10) lit++;
    }
    console.log(`[bragg] ${lit}/${tested} strong predicted reflections (${((100 * lit) / Math.max(1, tested)).toFixed(1)}%) carry ≥ 10 counts within ±1 px, ±1 frame`);
    expect(tested).toBeGreaterThan(50);
    expect(lit / tested).toBeGreaterThanOrEqual(0.95);
  });

  it('a Bragg-only frame is dark between the spots', () => {
    // background is exactly 0 in a Bragg-only simulation: most pixels read 0
    const px = frames[5]!;
    let zeros = 0;
    let total = 0;
    for (let i = 0; i < px.length; i++) {
      if (px[i]! < 0) continue;
      total++;
      if (px[i] === 0) zeros++;
    }
    expect(zeros / total).toBeGreaterThan(0.7);
  });
});
