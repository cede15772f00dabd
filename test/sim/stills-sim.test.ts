/**
 * `simulateStills` (src/sim/stills/): 50 shots of 256 × 256 pixels, read back
 * through the project's own readers:
 * - the `.expt`/`.refl` read by `readDialsStills`: one shot per experiment with
 *   its own crystal and Sauter spot model; every reflection's position predicted
 *   by `StillPredictor` (DIALS' stills ray) lies within 1 px of its `xyzcal.px`
 *   (the simulator's own ray through the lattice point), its observed centroid
 *   within 1 px too; partialities lie in (0, 1] and equal the Gaussian model of
 *   src/stills/partiality.ts;
 * - the images read through `ShotImages` equal what was rendered (a re-render
 *   with `StillsRenderer` gives the same pixels and the same Bragg photons);
 * - the same seed gives identical bytes in every file, another seed other pixels;
 * - `stillBraggMask` with its defaults removes ≥ 99 % of the Bragg photons of
 *   the 50 shots while masking ≤ 5 % of each shot's pixels;
 * - the pixels carry the truth: an oracle merge (true scales and per-pixel
 *   factors, Compton subtracted, Bragg masked) gives the box-averaged truth in
 *   electron units (r ≥ 0.98, slope within 2 %), and with each lattice point's
 *   true Bragg scattering folded into its voxel the sum rule gives diffract's
 *   absolute scale factor 1/K within 3 % (the data are absolutely consistent);
 * - p_order (pulse energy) and scale truth: the CSV, truth.json and the model
 *   agree; the scale follows p_order with a jitter of the stated size.
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readReflectionTable, getColumn } from '../../src/io/dials-refl.ts';
import { inverse } from '../../src/geometry/linalg.ts';
import { STILLS_DEMO_COMPOSITION } from '../../src/cli/commands/demo-stills.ts';
import { multiplicityFunction } from '../../src/merge/multiplicity.ts';
import { absoluteScale } from '../../src/pipeline/absolute.ts';
import { emptyMerged, type ObservationMeta } from '../../src/pipeline/observations.ts';
import { incoherentSum, parseComposition, resolveComposition } from '../../src/scattering/composition.ts';
import { qSquared, structureFactorSquared } from '../../src/sim/physics.ts';
import { HALL_SYMBOLS, reciprocalMetric } from '../../src/sim/spec.ts';
import { hashPixels } from '../../src/sim/simulate.ts';
import { maskRecovery, combineMaskRecovery, readStillsTruth, simulatedMaskRecovery, stillsMapRecovery, type MaskRecovery } from '../../src/sim/stills-recovery.ts';
import { StillsRenderer } from '../../src/sim/stills/render.ts';
import { simulateStills, STILLS_FILES, type StillsSimulationResult } from '../../src/sim/stills/simulate.ts';
import { pulseEnergy, shotScale, stillsB, stillsSpec } from '../../src/sim/stills/spec.ts';
import { readDialsStills } from '../../src/stills/dials.ts';
import { ShotImages } from '../../src/stills/images.ts';
import { MASK_PREDICTED, stillBraggMask } from '../../src/stills/mask.ts';
import type { StillsDataset } from '../../src/stills/model.ts';
import { computePartialities } from '../../src/stills/partiality.ts';
import { StillPredictor } from '../../src/stills/predict.ts';

const SHOTS = 50;
const root = mkdtempSync(join(tmpdir(), 'diffract-stills-sim-'));
const spec = stillsSpec({ shots: SHOTS, size: 256, seed: 7 });
let result: StillsSimulationResult;
let data: StillsDataset;
/** Bragg photons per pixel of each shot, as rendered */
const braggOf: Int32Array[] = [];

beforeAll(async () => {
  result = await simulateStills(spec, join(root, 'a'), { onShot: (shot) => void braggOf.push(shot.bragg.slice()) });
  data = await readDialsStills(result.expt, result.refl);
}, 300_000);
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('simulate --stills: the DIALS files', () => {
  it('read back as one still per experiment, with its own crystal, Sauter spot model and image', () => {
    expect(data.shots).toHaveLength(SHOTS);
    const ids = new Set(data.shots.map((s) => s.identifier));
    expect(ids.size).toBe(SHOTS);
    for (const s of data.shots) {
      expect(s.experiment.goniometer).toBeUndefined();
      expect(s.experiment.scan).toBeUndefined();
      expect(s.spotModel).toEqual({ kind: 'sauter', domainSizeA: spec.spot.domainSizeA, halfMosaicityDeg: spec.spot.halfMosaicityDeg });
      expect(s.image?.path).toBe(join(result.outDir, `still_${String(s.index + 1).padStart(6, '0')}.cbf`));
    }
    // different orientations: the first rows of A differ between shots
    const a0 = data.shots.map((s) => s.experiment.crystal?.A[0] ?? 0);
    expect(new Set(a0.map((v) => v.toFixed(6))).size).toBe(SHOTS);
    expect(data.reflections.n).toBe(result.reflections);
    expect(data.reflections.n).toBeGreaterThan(50 * SHOTS);
  });

  it('the .refl columns and identifiers are those DIALS writes', async () => {
    const t = await readReflectionTable(result.refl);
    expect(t.encoding).toBe('msgpack');
    for (const name of ['id', 'miller_index', 'panel', 'xyzcal.px', 'xyzobs.px.value', 'bbox', 'intensity.sum.value', 'intensity.sum.variance', 'partiality']) {
      expect(t.columns.has(name), name).toBe(true);
    }
    expect(getColumn(t, 'bbox').type).toBe('int6');
    expect(getColumn(t, 'panel').type).toBe('std::size_t');
    expect([...t.identifiers.entries()]).toEqual(data.shots.map((s) => [s.index, s.identifier]));
  });

  it("every reflection's StillPredictor position lies within 1 px of xyzcal.px, its centroid too", () => {
    const R = data.reflections;
    const predictors = data.shots.map((s) => new StillPredictor(s.experiment));
    let worst = 0;
    let worstObs = 0;
    for (let r = 0; r < R.n; r++) {
      const p = predictors[R.shot[r] as number]?.predict(R.h[r] as number, R.k[r] as number, R.l[r] as number);
      expect(p, `row ${r}`).toBeDefined();
      if (p === undefined) continue;
      const cx = R.xyzCal[2 * r] as number;
      const cy = R.xyzCal[2 * r + 1] as number;
      worst = Math.max(worst, Math.hypot(p.x - cx, p.y - cy));
      worstObs = Math.max(worstObs, Math.hypot((R.xyzObs[2 * r] as number) - cx, (R.xyzObs[2 * r + 1] as number) - cy));
    }
    console.log(`[stills sim] ${R.n} reflections: prediction − xyzcal ≤ ${worst.toFixed(3)} px, xyzobs − xyzcal ≤ ${worstObs.toFixed(3)} px`);
    expect(worst).toBeLessThan(1);
    expect(worstObs).toBeLessThan(1);
  });

  it('partialities lie in (0, 1] and are the Gaussian model of the shot’s spot model', () => {
    const R = data.reflections;
    expect(R.hasPartiality).toBe(true);
    const model = computePartialities(data, { model: 'gaussian' });
    let maxDiff = 0;
    for (let r = 0; r < R.n; r++) {
      const p = R.partiality[r] as number;
      expect(p > 0 && p <= 1, `row ${r}: ${p}`).toBe(true);
      maxDiff = Math.max(maxDiff, Math.abs(p - (model[r] as number)));
    }
    expect(maxDiff).toBeLessThan(1e-9);
    // the listed spots reach down to P ≈ e^−3.38 ≈ 0.034
    expect(Math.min(...R.partiality)).toBeGreaterThan(0.03);
    expect(Math.min(...R.partiality)).toBeLessThan(0.1);
  });
});

describe('simulate --stills: the Bragg truth', () => {
  it('truth_reflections.json is row for row the .refl; a spot holds K·|F|²/V_c·P/(√(2π)σ·A_pix) counts (a slice of the lattice point)', () => {
    const t = JSON.parse(readFileSync(join(result.outDir, STILLS_FILES.reflections), 'utf8')) as Record<'shot' | 'h' | 'k' | 'l' | 'f2' | 'sigma' | 'expected', number[]>;
    const R = data.reflections;
    expect(t.shot).toHaveLength(R.n);
    const renderer = new StillsRenderer(spec);
    const f = renderer.frame;
    const v = f.vectors;
    const K = spec.base.model.electronUnits?.photonsPerEu ?? Number.NaN;
    const cell = spec.base.crystal.unitCell;
    const volume = cell.a * cell.b * cell.c;
    const truth = JSON.parse(readFileSync(result.truth, 'utf8')) as { shotTruth: { scale: number }[] };
    const ratios: number[] = [];
    for (let r = 0; r < R.n; r++) {
      expect([t.shot[r], t.h[r], t.k[r], t.l[r]]).toEqual([R.shot[r], R.h[r], R.k[r], R.l[r]]);
      const x = Math.floor(R.xyzCal[2 * r] as number);
      const y = Math.floor(R.xyzCal[2 * r + 1] as number);
      const p = y * renderer.width + x;
      const d = (a: number, b: number): [number, number, number] => [(v[3 * a] as number) - (v[3 * b] as number), (v[3 * a + 1] as number) - (v[3 * b + 1] as number), (v[3 * a + 2] as number) - (v[3 * b + 2] as number)];
      const dx = d(p + 1, p);
      const dy = d(p + renderer.width, p);
      const area = Math.hypot(dx[1] * dy[2] - dx[2] * dy[1], dx[2] * dy[0] - dx[0] * dy[2], dx[0] * dy[1] - dx[1] * dy[0]);
      const b = truth.shotTruth[R.shot[r] as number]?.scale ?? Number.NaN;
      const predicted = (spec.base.scan.exposure * b * (f.pixelFactor[p] as number) * K * ((t.f2[r] as number) / volume) * (R.partiality[r] as number)) / (Math.sqrt(2 * Math.PI) * (t.sigma[r] as number) * area);
      ratios.push((t.expected[r] as number) / predicted);
    }
    ratios.sort((a, b) => a - b);
    const median = ratios[Math.floor(ratios.length / 2)] as number;
    const p05 = ratios[Math.floor(ratios.length * 0.05)] as number;
    const p95 = ratios[Math.floor(ratios.length * 0.95)] as number;
    console.log(`[stills sim] spot counts / slice formula: median ${median.toFixed(4)}, 5–95 % ${p05.toFixed(4)}–${p95.toFixed(4)}`);
    expect(Math.abs(median - 1)).toBeLessThan(0.02);
    expect(p05).toBeGreaterThan(0.9);
    expect(p95).toBeLessThan(1.1);
  });
});

describe('simulate --stills: images, seeds', () => {
  it('the images read through ShotImages are the rendered pixels; a re-render gives the same pixels and Bragg photons', async () => {
    const truth = await readStillsTruth(result.truth);
    expect(truth.shots).toHaveLength(SHOTS);
    const images = new ShotImages();
    const renderer = new StillsRenderer(spec);
    try {
      for (const shot of data.shots) {
        const image = await images.read(shot);
        expect([image.width, image.height]).toEqual([256, 256]);
        expect(hashPixels(image.pixels), `shot ${shot.index}`).toBe(truth.shots[shot.index]?.sha256);
      }
      for (const i of [0, 17, SHOTS - 1]) {
        const again = renderer.render(i);
        expect(hashPixels(again.counts)).toBe(truth.shots[i]?.sha256);
        expect(hashPixels(again.bragg)).toBe(hashPixels(braggOf[i] as Int32Array));
        expect(again.braggPhotons).toBe(truth.shots[i]?.braggPhotons);
      }
      // gaps read −1
      const image = await images.read(data.shots[0]!);
      const gapColumn = spec.base.detector.modules.moduleWidth;
      expect(image.pixels[10 * 256 + gapColumn]).toBe(-1);
    } finally {
      await images.close();
    }
  });

  it('the same seed gives identical bytes in every file; another seed other pixels', async () => {
    const small = (seed: number) => stillsSpec({ shots: 3, size: 128, seed });
    const a = await simulateStills(small(11), join(root, 's1'));
    const b = await simulateStills(small(11), join(root, 's2'));
    const c = await simulateStills(small(12), join(root, 's3'));
    const files = readdirSync(a.outDir).sort();
    expect(files).toEqual(readdirSync(b.outDir).sort());
    expect(files).toEqual(expect.arrayContaining([STILLS_FILES.expt, STILLS_FILES.refl, STILLS_FILES.pulse, STILLS_FILES.truth, STILLS_FILES.reflections, 'still_000001.cbf', 'still_000003.cbf']));
    for (const f of files) expect(Buffer.compare(readFileSync(join(a.outDir, f)), readFileSync(join(b.outDir, f))), f).toBe(0);
    for (let i = 0; i < 3; i++) expect(c.truthShots[i]?.sha256).not.toBe(a.truthShots[i]?.sha256);
  });
});

describe('simulate --stills: Bragg masks', () => {
  it('stillBraggMask removes ≥ 99 % of the Bragg photons of 50 shots while masking ≤ 5 % of each shot', async () => {
    const images = new ShotImages();
    const per: MaskRecovery[] = [];
    let byPrediction = 0;
    let photons = 0;
    try {
      for (const shot of data.shots) {
        const image = await images.read(shot);
        const m = stillBraggMask({ shot, image, reflections: data.reflections });
        const bragg = braggOf[shot.index] as Int32Array;
        per.push(maskRecovery(m.mask, bragg, image.pixels));
        for (let i = 0; i < bragg.length; i++) {
          photons += bragg[i] as number;
          if (((m.mask[i] as number) & MASK_PREDICTED) !== 0) byPrediction += bragg[i] as number;
        }
      }
    } finally {
      await images.close();
    }
    // simulatedMaskRecovery (re-rendering the shots) gives the same figures
    const again = await simulatedMaskRecovery(spec, result.expt, result.refl, 3);
    expect(again).toEqual(per.slice(0, 3));
    const all = combineMaskRecovery(per);
    if (all === null) throw new Error('no shots');
    const worstShot = Math.min(...per.map((p) => p.removedFraction));
    console.log(
      `[stills sim masks] ${SHOTS} shots, ${photons} Bragg photons: ${(100 * all.removedFraction).toFixed(3)} % removed (${((100 * byPrediction) / photons).toFixed(3)} % by the prediction alone; worst shot ${(100 * worstShot).toFixed(3)} %); masked ${(100 * all.meanMaskedFraction).toFixed(2)} % of the pixels on average, at most ${(100 * all.maxMaskedFraction).toFixed(2)} %`,
    );
    expect(all.removedFraction).toBeGreaterThanOrEqual(0.99);
    expect(worstShot).toBeGreaterThanOrEqual(0.99);
    expect(all.maxMaskedFraction).toBeLessThanOrEqual(0.05);
    // the masks are not trivially large: most pixels stay
    expect(all.meanMaskedFraction).toBeGreaterThan(0.002);
  });
});

describe('simulate --stills: the pixels carry the truth', () => {
  it('an oracle merge (true scales and per-pixel factors, Compton subtracted, Bragg masked) matches the box-averaged truth in electron units', async () => {
    const truth = await readStillsTruth(result.truth);
    const renderer = new StillsRenderer(spec);
    const f = renderer.frame;
    const K = spec.base.model.electronUnits?.photonsPerEu ?? Number.NaN;
    const cell = spec.base.crystal.unitCell;
    const images = new ShotImages();
    const sums = new Map<number, [number, number]>();
    try {
      for (const shot of data.shots) {
        const image = await images.read(shot);
        const m = stillBraggMask({ shot, image, reflections: data.reflections });
        const A = shot.experiment.crystal?.A;
        if (A === undefined) throw new Error('no crystal');
        const Ai = inverse(A);
        const b = truth.shots[shot.index]?.scale ?? Number.NaN;
        for (let p = 0; p < image.pixels.length; p++) {
          const c = image.pixels[p] as number;
          if (c < 0 || m.mask[p] !== 0) continue;
          const q = [f.vectors[3 * p] as number, f.vectors[3 * p + 1] as number, f.vectors[3 * p + 2] as number];
          // P 2 2 2: the ASU of ndiv 1 is (|H|, |K|, |L|)
          const hkl = [0, 3, 6].map((r) => Math.abs(Math.round((Ai[r] as number) * q[0]! + (Ai[r + 1] as number) * q[1]! + (Ai[r + 2] as number) * q[2]!)));
          const key = ((hkl[0] as number) * 1000 + (hkl[1] as number)) * 1000 + (hkl[2] as number);
          const v = c / (spec.base.scan.exposure * b * (f.pixelFactor[p] as number) * K) - (f.ring[p] as number) / K;
          const e = sums.get(key) ?? [0, 0];
          e[0] += v;
          e[1]++;
          sums.set(key, e);
        }
      }
    } finally {
      await images.close();
    }
    const merged = emptyMerged(sums.size);
    let row = 0;
    for (const [key, [sum, n]] of sums) {
      merged.H[row] = Math.floor(key / 1e6);
      merged.K[row] = Math.floor(key / 1000) % 1000;
      merged.L[row] = key % 1000;
      merged.I[row] = sum / n;
      merged.n[row] = n;
      row++;
    }
    const rec = stillsMapRecovery(spec, merged, [1, 1, 1], 3);
    console.log(`[stills sim oracle] ${SHOTS} shots: r = ${rec.r.toFixed(4)}, slope ${rec.slope.toFixed(4)}, median ratio ${rec.medianRatio.toFixed(4)} over ${rec.voxels} voxels`);
    expect(rec.r).toBeGreaterThan(0.98);
    expect(Math.abs(rec.slope - 1)).toBeLessThan(0.02);
    expect(rec.voxels).toBeGreaterThan(3000);

    // the sum rule holds: the same voxels in photons (Compton kept) with each lattice point's
    // Bragg scattering K·|F_H|²/V_c folded into its voxel as a density (÷ the voxel volume v)
    // give diffract's absolute scale factor 1/K within 3 %
    const meta: ObservationMeta = { ndiv: [1, 1, 1], hall: HALL_SYMBOLS[spec.base.crystal.spaceGroup], cell: [cell.a, cell.b, cell.c, cell.alpha, cell.beta, cell.gamma], wavelength: spec.base.beam.wavelength };
    const volume = cell.a * cell.b * cell.c;
    const vVoxel = 1 / volume;
    const gStar = reciprocalMetric(stillsB(spec));
    const rc = resolveComposition(parseComposition(STILLS_DEMO_COMPOSITION));
    const mult = multiplicityFunction(meta.hall);
    const photons = { ...merged, I: merged.I.slice(), s: new Float32Array(merged.I.length), multiplicity: new Uint16Array(merged.I.length) };
    for (let i = 0; i < photons.I.length; i++) {
      const [H, Kk, L] = [merged.H[i] as number, merged.K[i] as number, merged.L[i] as number];
      const s = Math.sqrt(qSquared(gStar, H, Kk, L));
      photons.s[i] = s;
      photons.multiplicity[i] = mult(H, Kk, L);
      photons.I[i] = K * ((merged.I[i] as number) + incoherentSum(rc, s) + structureFactorSquared(spec.base, gStar, H, Kk, L) / volume / vVoxel);
      if (merged.n[i]! < 3) photons.I[i] = Number.NaN;
    }
    const abs = absoluteScale(photons, undefined, meta, parseComposition(STILLS_DEMO_COMPOSITION));
    console.log(`[stills sim oracle] sum rule with the true Bragg folded in: K·scale = ${(abs.scale * K).toFixed(4)}`);
    expect(Math.abs(abs.scale * K - 1)).toBeLessThan(0.03);
  });
});

describe('simulate --stills: p_order and scale truth', () => {
  it('the pulse-energy CSV, truth.json and the model agree; the scale follows p_order with the stated jitter', async () => {
    const lines = readFileSync(result.pulseCsv, 'utf8').trim().split('\n');
    expect(lines[0]).toBe('shot,pulse_energy');
    expect(lines).toHaveLength(SHOTS + 1);
    const truth = await readStillsTruth(result.truth);
    const p = spec.pulse;
    const residual: number[] = [];
    lines.slice(1).forEach((line, i) => {
      const [shot, energy] = line.split(',').map(Number) as [number, number];
      expect(shot).toBe(i);
      const t = truth.shots[i];
      expect(energy).toBeCloseTo(t?.pOrder ?? Number.NaN, 8);
      expect(t?.pOrder).toBe(pulseEnergy(spec, i));
      expect(t?.scale).toBe(shotScale(spec, i));
      // the smooth drift plus a spread of at most ±spread/2
      const smooth = p.mean * (1 + p.amplitude * Math.sin((2 * Math.PI * (i + 0.5)) / p.periodShots + (p.phaseDeg * Math.PI) / 180));
      expect(Math.abs(energy - smooth)).toBeLessThanOrEqual((p.mean * p.spread) / 2 + 1e-9);
      residual.push((t?.scale ?? Number.NaN) / (energy / p.mean) - 1);
    });
    const mean = residual.reduce((a, r) => a + r, 0) / residual.length;
    const sd = Math.sqrt(residual.reduce((a, r) => a + (r - mean) ** 2, 0) / (residual.length - 1));
    console.log(`[stills sim] scale / (p/mean) − 1: mean ${mean.toFixed(4)}, sd ${sd.toFixed(4)} (jitter ${spec.scale.jitter})`);
    expect(Math.abs(mean)).toBeLessThan(0.015);
    expect(sd).toBeGreaterThan(0.5 * spec.scale.jitter);
    expect(sd).toBeLessThan(1.5 * spec.scale.jitter);
    // the pulse energy drifts: its range spans most of ±amplitude
    const energies = truth.shots.map((s) => s.pOrder);
    expect(Math.max(...energies) - Math.min(...energies)).toBeGreaterThan(p.mean * p.amplitude);
  });
});
