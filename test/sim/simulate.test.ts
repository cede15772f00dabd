/**
 * `simulate()`: the written series round-trips through the CBF reader bit for
 * bit, is deterministic in the seed, streams its frames, carries Poisson
 * counts with the documented markers, and writes the documented truth.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readExperimentList } from '../../src/geometry/expt.ts';
import { readCbf } from '../../src/io/cbf.ts';
import { readNpy } from '../../src/io/npy.ts';
import { diffuseIntensity, frameScale } from '../../src/sim/physics.ts';
import { FrameRenderer, PIXEL_NORMAL } from '../../src/sim/render.ts';
import { hashPixels, simulate, type FrameInfo, type SimulationResult } from '../../src/sim/simulate.ts';
import { buildExperiment, gapMask, reciprocalMetric, smallSpec, type SimulationSpec, validateSpec } from '../../src/sim/spec.ts';
import { gridPoint, TRUTH_FILES, type TruthGrid } from '../../src/sim/truth.ts';
import { InvalidValueError } from '../../src/errors.ts';

const FRAMES = 6;
const root = mkdtempSync(join(tmpdir(), 'diffract-sim-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function specWith(seed: number, frames = FRAMES): SimulationSpec {
  const spec = smallSpec(seed);
  spec.scan.frames = frames;
  return spec;
}

function fileHashes(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const f of readdirSync(dir).sort()) out.set(f, createHash('sha256').update(readFileSync(join(dir, f))).digest('hex'));
  return out;
}

describe('simulate', () => {
  const dirA = join(root, 'a');
  const spec = specWith(7);
  let result: SimulationResult;
  const seen: { index: number; sha256: string; buffer: Int32Array; nextExists: boolean; thisExists: boolean }[] = [];

  beforeAll(async () => {
    result = await simulate(spec, dirA, {
      onFrame: (f: FrameInfo) => {
        seen.push({
          index: f.index,
          sha256: f.sha256,
          buffer: f.pixels,
          thisExists: existsSync(f.file),
          nextExists: existsSync(join(dirA, `sim_${String(f.imageNumber + 1).padStart(5, '0')}.cbf`)),
        });
        // the hash handed out is the hash of the buffer handed out
        expect(hashPixels(f.pixels)).toBe(f.sha256);
      },
    });
  });

  it('writes the frames, the .expt and the truth, and no temporary files', () => {
    const files = readdirSync(dirA).sort();
    expect(files.filter((f) => f.endsWith('.cbf'))).toEqual(Array.from({ length: FRAMES }, (_v, i) => `sim_${String(i + 1).padStart(5, '0')}.cbf`));
    for (const f of ['sim.expt', TRUTH_FILES.json, TRUTH_FILES.diffuse, TRUTH_FILES.absorption, TRUTH_FILES.reflections]) expect(files).toContain(f);
    expect(files.filter((f) => f.includes('.tmp-'))).toEqual([]);
    expect(result.frames).toBe(FRAMES);
    expect([result.width, result.height]).toEqual([397, 397]);
  });

  it('writes truth.json last and the .expt after every frame', () => {
    const mtime = (f: string): number => statSync(join(dirA, f)).mtimeMs;
    const lastFrame = Math.max(...readdirSync(dirA).filter((f) => f.endsWith('.cbf')).map(mtime));
    expect(mtime('sim.expt')).toBeGreaterThanOrEqual(lastFrame);
    expect(mtime(TRUTH_FILES.json)).toBeGreaterThanOrEqual(mtime('sim.expt'));
    expect(mtime(TRUTH_FILES.json)).toBeGreaterThanOrEqual(mtime(TRUTH_FILES.diffuse));
  });

  it('streams: one frame buffer, reused; each frame written before the next is computed', () => {
    expect(seen.map((s) => s.index)).toEqual(Array.from({ length: FRAMES }, (_v, i) => i));
    const first = seen[0]!.buffer;
    for (const s of seen) {
      expect(s.buffer).toBe(first); // the same object every time: a single frame buffer is alive
      expect(s.thisExists).toBe(true);
      expect(s.nextExists).toBe(false);
    }
  });

  it('the simulated series round-trips through the CBF writer and reader bit for bit', async () => {
    for (let i = 0; i < FRAMES; i++) {
      const img = await readCbf(join(dirA, `sim_${String(i + 1).padStart(5, '0')}.cbf`));
      expect([img.width, img.height]).toEqual([397, 397]);
      expect(hashPixels(img.pixels)).toBe(seen[i]!.sha256);
      expect(hashPixels(img.pixels)).toBe(result.frameHashes[i]);
      // PILATUS-style header: the angles, wavelength, exposure and pixel size read back
      expect(img.header.startAngle).toBeCloseTo(spec.scan.startDeg + i * spec.scan.widthDeg, 6);
      expect(img.header.angleIncrement).toBeCloseTo(spec.scan.widthDeg, 6);
      expect(img.header.wavelength).toBeCloseTo(spec.beam.wavelength, 6);
      expect(img.header.exposureTime).toBeCloseTo(spec.scan.exposure, 6);
      expect(img.header.pixelSize?.[0]).toBeCloseTo(0.172, 6);
    }
  });

  it('gaps read −1 and bad pixels −2; the .expt masks exactly the gaps', async () => {
    const img = await readCbf(join(dirA, 'sim_00001.cbf'));
    const gaps = gapMask(spec.detector);
    const bad = new Set(spec.detector.badPixels.map(([x, y]) => y * img.width + x));
    expect(bad.size).toBeGreaterThan(0);
    let gapCount = 0;
    let wrong = 0;
    for (let i = 0; i < img.pixels.length; i++) {
      const v = img.pixels[i]!;
      if (gaps[i] === 1) {
        gapCount++;
        if (v !== -1) wrong++;
      } else if (bad.has(i)) {
        if (v !== -2) wrong++;
      } else if (v < 0) wrong++;
    }
    expect(wrong).toBe(0);
    expect(gapCount).toBe(397 * 7 + 2 * 17 * 397 - 2 * 7 * 17);
    const list = await readExperimentList(join(dirA, 'sim.expt'));
    const panel = list.experiments[0]!.detector.panels[0]!;
    let masked = 0;
    for (const r of panel.mask) masked += (r.x1 - r.x0) * (r.y1 - r.y0);
    // the rectangles overlap where row and column gaps cross
    const crossings = (spec.detector.modules.nx - 1) * (spec.detector.modules.ny - 1) * spec.detector.modules.gapX * spec.detector.modules.gapY;
    expect(masked - crossings).toBe(gapCount);
    expect(panel.trustedRange).toEqual([-1, 1000000]);
  });

  it('counts are Poisson around the expected values', async () => {
    const renderer = new FrameRenderer(spec);
    const expected = new Float64Array(renderer.pixels);
    const counts = new Int32Array(renderer.pixels);
    const frame = 3;
    renderer.expected(frame, expected);
    renderer.sample(frame, expected, counts);
    // the renderer reproduces the written frame exactly
    expect(hashPixels(counts)).toBe(result.frameHashes[frame]);
    let sumC = 0;
    let sumE = 0;
    let n = 0;
    let chi = 0;
    let nChi = 0;
    for (let i = 0; i < renderer.pixels; i++) {
      if (renderer.kind[i] !== PIXEL_NORMAL) continue;
      const e = expected[i]!;
      const c = counts[i]!;
      sumC += c;
      sumE += e;
      n++;
      if (e >= 3 && e <= 50) {
        chi += ((c - e) * (c - e)) / e;
        nChi++;
      }
    }
    expect(n).toBeGreaterThan(100000);
    // the mean count matches the mean expectation to within 4 standard errors
    expect(Math.abs(sumC - sumE) / Math.sqrt(sumE)).toBeLessThan(4);
    expect(sumE / n).toBeGreaterThan(3); // a real signal, not an empty frame
    // variance = mean
    expect(nChi).toBeGreaterThan(50000);
    expect(chi / nChi).toBeGreaterThan(0.97);
    expect(chi / nChi).toBeLessThan(1.03);
  });

  it('the truth grid equals diffuse(h) at its points, and truth.json describes it', () => {
    const truth = JSON.parse(readFileSync(join(dirA, TRUTH_FILES.json), 'utf8')) as Record<string, Record<string, unknown>>;
    expect(truth.format).toBe('diffract-simulation-truth');
    const d = truth.diffuse!;
    const grid: TruthGrid = {
      origin: d.origin as [number, number, number],
      ndiv: d.ndiv as [number, number, number],
      shape: d.shape as [number, number, number],
    };
    expect(d.axes).toEqual(['h', 'k', 'l']);
    const npy = readNpy(join(dirA, TRUTH_FILES.diffuse));
    expect(npy.dtype).toBe('<f4');
    expect(npy.shape).toEqual(grid.shape);
    // the grid is centred on the origin of reciprocal space and covers the panel
    expect(grid.origin.map((o, i) => o + (grid.shape[i]! - 1) / 2 / grid.ndiv[i]!)).toEqual([0, 0, 0]);
    const A = buildExperiment(spec).crystal!.A;
    const gStar = reciprocalMetric(A);
    const [nh, nk, nl] = grid.shape;
    let o = 0;
    let mismatches = 0;
    for (let i = 0; i < nh; i++) {
      for (let j = 0; j < nk; j++) {
        for (let k = 0; k < nl; k++) {
          const [h, kk, l] = gridPoint(grid, i, j, k);
          if (npy.data[o++] !== Math.fround(diffuseIntensity(spec.model.diffuse, gStar, h, kk, l))) mismatches++;
        }
      }
    }
    expect(mismatches).toBe(0);
    // symmetric under the Laue group mmm (P 2 2 2): sign changes of each index
    const at = (i: number, j: number, k: number): number => npy.data[(i * nk + j) * nl + k]!;
    expect(at(3, 10, 20)).toBe(at(nh - 1 - 3, 10, 20));
    expect(at(3, 10, 20)).toBe(at(3, nk - 1 - 10, nl - 1 - 20));
    // the per-frame scale and the recorded spec
    expect(truth.frameScale!.perFrame).toEqual(Array.from({ length: FRAMES }, (_v, i) => frameScale(spec.model.frameScale, i)));
    expect(truth.spec).toEqual(JSON.parse(JSON.stringify(spec)));
    expect(truth.seed).toBe(7);
    expect((truth.frames as Record<string, unknown>).sha256).toEqual(result.frameHashes);
    const abs = readNpy(join(dirA, TRUTH_FILES.absorption));
    expect(abs.shape).toEqual([397, 397]);
    expect(Array.from(abs.data).every((v) => v === 1)).toBe(true);
  });

  it('the same seed gives identical files; a different seed differs', async () => {
    const dirA2 = join(root, 'a2');
    await simulate(specWith(7), dirA2);
    const a = fileHashes(dirA);
    const a2 = fileHashes(dirA2);
    expect([...a2.keys()]).toEqual([...a.keys()]);
    for (const [f, h] of a) expect(a2.get(f), f).toBe(h);

    const dirB = join(root, 'b');
    await simulate(specWith(8, 2), dirB);
    const b = fileHashes(dirB);
    for (const f of ['sim_00001.cbf', 'sim_00002.cbf', 'sim.expt', TRUTH_FILES.reflections]) expect(b.get(f), f).not.toBe(a.get(f));
  });

  it('refuses invalid specs with a typed error', async () => {
    const bad = specWith(1);
    bad.scan.frames = 0;
    expect(() => validateSpec(bad)).toThrow(InvalidValueError);
    await expect(simulate(bad, join(root, 'bad'))).rejects.toThrow(InvalidValueError);
    const gapBad = specWith(1);
    gapBad.detector.badPixels = [[196, 5]];
    expect(() => validateSpec(gapBad)).toThrow(/gap/);
    const neg = specWith(1);
    neg.model.diffuse.modulation = [0.6, 0.3, 0.2];
    expect(() => validateSpec(neg)).toThrow(InvalidValueError);
  });
});
