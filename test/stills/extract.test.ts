/**
 * Per-shot diffuse extraction of stills (src/stills/extract.ts), CPU engine,
 * synthetic shots on a 256² photon-counting detector (test/helpers/still-shots.ts):
 * - counts conserved: each shot's Σ binned counts equals Σ of the image values of
 *   the pixels left by the static and Bragg masks (recomputed here), and the
 *   rows carry them (corrections off: N = I·T·pixels is recovered from I/σ);
 * - recovery: a shot whose image is Poisson(T·κ·D(h)) for a known smooth D, no
 *   Bragg: every row's I matches the κ-weighted mean of D over the row's pixels
 *   within its Poisson σ (mean z ≈ 0, rms z ≈ 1);
 * - background: blank shots of a flat background B subtracted with propagated
 *   errors: again z ≈ 0, rms ≈ 1 with σ² the sum of both;
 * - rows: batch = shot, phi = 0, sweep = 0, indices in the ASU;
 * - the chunk file of src/io/stills-chunk-file.ts reads back what was written.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { pixelCorrections } from '../../src/corrections/pixel-corrections.ts';
import { Engine } from '../../src/host/engine.ts';
import { readStillsChunk, writeStillsChunk } from '../../src/io/stills-chunk-file.ts';
import { hklMapCpu } from '../../src/kernels/hkl-map.ts';
import { buildStaticMask } from '../../src/pipeline/voxel-masks.ts';
import { spaceGroupAsu } from '../../src/pipeline/correct.ts';
import { concatObservations, fineKey, fineIndex, splitFine, type ObservationTable } from '../../src/pipeline/observations.ts';
import { silentContext } from '../../src/stages/context.ts';
import { stillsExtractStage } from '../../src/stages/stills-extract.ts';
import { extractShots, stillsExtractDefaults, stillsGridMeta, type ShotObservations, type StillsExtractSettings } from '../../src/stills/extract.ts';
import { ShotVectorCache, shotHklParams } from '../../src/stills/geometry.ts';
import { ShotImages } from '../../src/stills/images.ts';
import { stillBraggMask } from '../../src/stills/mask.ts';
import type { StillShot, StillsDataset } from '../../src/stills/model.ts';
import { mulberry32, poisson } from '../../src/util/random.ts';
import { randomShots, smallDetectorExperiment, tempDir, writeImage } from '../helpers/still-shots.ts';
import { renderStill } from '../helpers/still-render.ts';

const dirs: string[] = [];
const engine = Engine.cpu();
afterAll(() => {
  engine.destroy();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A smooth 3D diffuse signal (photons per pixel per second per unit κ, ×1/κ̄) of fractional hkl. */
function truthD(h: number, k: number, l: number): number {
  return 1 + 0.4 * Math.cos((2 * Math.PI * h) / 9) * Math.cos((2 * Math.PI * k) / 11) + 0.3 * Math.sin((2 * Math.PI * l) / 13);
}

async function drain(data: StillsDataset, s: StillsExtractSettings, eng: Engine = engine): Promise<ShotObservations[]> {
  const images = new ShotImages();
  const out: ShotObservations[] = [];
  try {
    for await (const o of extractShots(silentContext(eng), { data, images, source: data.source }, s)) out.push(o);
  } finally {
    await images.close();
  }
  return out;
}

describe('stills extraction: counts conserved', () => {
  it('Σ counts of a shot = Σ of its unmasked in-detector pixel values, and the rows carry them', async () => {
    const dir = tempDir('stills-extract-');
    dirs.push(dir);
    const exp = await smallDetectorExperiment();
    const data = randomShots(exp, 3, 101, (i) => join(dir, `shot-${i}.img`));
    const rendered = new Map<number, Int32Array>();
    for (const shot of data.shots) {
      const { pixels } = renderStill(shot, { sigma: 0.0028 / 2.6, meanPeak: 3000, background: 40, seed: 11 + shot.index });
      // a few untrusted values: the kernel masks them
      pixels[100] = 2_000_000;
      rendered.set(shot.index, pixels);
      await writeImage((shot.image as { path: string }).path, pixels);
    }
    const s = stillsExtractDefaults();
    s.corrections.enabled = false;
    s.staticMask.edge = 3;
    s.staticMask.beamstop = [{ kind: 'circle', cx: 128, cy: 128, r: 10 }];
    s.exposure = 0.5;
    const got = await drain(data, s);
    expect(got.map((g) => g.shot)).toEqual([0, 1, 2]);
    const vectors = new ShotVectorCache();
    for (const g of got) {
      const shot = data.shots[g.shot] as StillShot;
      const pixels = rendered.get(g.shot) as Int32Array;
      const image = { width: 256, height: 256, pixels, header: { format: 'smv' as const, raw: new Map<string, string>(), lines: [] }, source: { file: 'x', frame: 0 } };
      const bragg = stillBraggMask({ shot, image, vectors }, s.mask);
      const valid = buildStaticMask(shot.experiment, { edge: 3, beamstop: s.staticMask.beamstop }).valid;
      let sum = 0;
      let n = 0;
      for (let i = 0; i < pixels.length; i++) {
        const v = pixels[i] as number;
        if (valid[i] === 1 && bragg.mask[i] === 0 && v >= 0 && v < 1_000_000) {
          sum += v;
          n++;
        }
      }
      expect(g.info.counts, shot.identifier).toBe(sum);
      expect(g.info.pixels, shot.identifier).toBe(n);
      expect(g.info.maskedFraction).toBeCloseTo(bragg.fraction, 12);
      expect(g.info.maskedFraction).toBeGreaterThan(0.005);
      expect(g.info.diffuse).toBeCloseTo(sum / 0.5, 6);
      // corrections off: I = N / (T·P), σ = sqrt(N + 1) / (T·P) → N from r = I/σ
      let fromRows = 0;
      const t = g.diffuse;
      for (let i = 0; i < t.I.length; i++) {
        const r = (t.I[i] as number) / (t.sigma[i] as number);
        fromRows += Math.round((r * r + Math.sqrt(r ** 4 + 4 * r * r)) / 2);
      }
      expect(fromRows, shot.identifier).toBe(sum);
      expect(g.info.rows).toBe(t.I.length);
      expect(t.batch.every((b) => b === g.shot)).toBe(true);
      expect(t.phi.every((p) => p === 0)).toBe(true);
      expect(t.sweep.every((p) => p === 0)).toBe(true);
      expect(g.info.backend).toBe('cpu');
      console.log(`[stills extract] ${shot.identifier}: ${g.info.rows} rows, ${g.info.pixels} pixels, ${g.info.counts} counts, masked ${(100 * g.info.maskedFraction).toFixed(2)}%`);
    }
  }, 120_000);
});

/** Per fine-index key of the ASU: Σ κ·D and Σ κ over the unmasked pixels of a shot (the kernel's f32 hkl). */
function truthByVoxel(shot: StillShot, kappa: Float64Array, keep: (i: number) => boolean, meta: { ndiv: readonly [number, number, number]; hall: string }, acc: Map<string, [number, number]>): void {
  const { hkl } = hklMapCpu(shotHklParams(shot.experiment));
  const { asu } = spaceGroupAsu(meta.hall, meta.ndiv as [number, number, number]);
  const [n1, n2, n3] = meta.ndiv;
  const m = new Int32Array(4);
  for (let i = 0; i < kappa.length; i++) {
    if (!keep(i)) continue;
    const h = hkl[3 * i] as number;
    const k = hkl[3 * i + 1] as number;
    const l = hkl[3 * i + 2] as number;
    asu(Math.round(h * n1), Math.round(k * n2), Math.round(l * n3), m);
    // the operator too: two observed voxels of one shot may share their ASU index
    const key = `${fineKey(m[0] as number, m[1] as number, m[2] as number)}:${m[3] as number}`;
    const e = acc.get(key) ?? [0, 0];
    const kp = kappa[i] as number;
    e[0] += kp * truthD(h, k, l);
    e[1] += kp;
    acc.set(key, e);
  }
}

function zStats(t: ObservationTable, ndiv: readonly [number, number, number], truth: Map<string, [number, number]>, scale: number): { n: number; mean: number; rms: number; minCounts: number } {
  let n = 0;
  let sz = 0;
  let szz = 0;
  for (let i = 0; i < t.I.length; i++) {
    const [fh, fk, fl] = fineIndex(t, ndiv, i);
    const e = truth.get(`${fineKey(fh, fk, fl)}:${t.op[i] as number}`);
    if (e === undefined) continue;
    const z = ((t.I[i] as number) - (scale * e[0]) / e[1]) / (t.sigma[i] as number);
    n++;
    sz += z;
    szz += z * z;
  }
  return { n, mean: sz / n, rms: Math.sqrt(szz / n), minCounts: 0 };
}

describe('stills extraction: recovery of a known diffuse signal', () => {
  it('every row’s I matches the κ-weighted truth of its pixels within Poisson σ (with and without a blank background)', async () => {
    const dir = tempDir('stills-recovery-');
    dirs.push(dir);
    const exp = await smallDetectorExperiment();
    const data = randomShots(exp, 2, 303, (i) => join(dir, `shot-${i}.img`));
    const kappa = pixelCorrections(exp, { solidAngle: true, polarization: true, efficiency: true, air: 1, columns: 'weights' }).kappa;
    let kmax = 0;
    for (const v of kappa) kmax = Math.max(kmax, v);
    // photons per pixel = T · scale · κ · D: about 300 at the largest κ
    const T = 2;
    const scale = 150 / kmax;
    const blank = 20;
    const u = mulberry32(9);
    const blanks: string[] = [];
    for (let b = 0; b < 4; b++) {
      const px = new Int32Array(256 * 256);
      for (let i = 0; i < px.length; i++) px[i] = poisson(u, blank);
      const p = join(dir, `blank-${b}.img`);
      await writeImage(p, px);
      blanks.push(p);
    }
    for (const withBackground of [false, true]) {
      for (const shot of data.shots) {
        const { hkl } = hklMapCpu(shotHklParams(shot.experiment));
        const px = new Int32Array(256 * 256);
        for (let i = 0; i < px.length; i++) {
          const mean = T * scale * (kappa[i] as number) * truthD(hkl[3 * i] as number, hkl[3 * i + 1] as number, hkl[3 * i + 2] as number);
          px[i] = poisson(u, mean + (withBackground ? blank : 0));
        }
        await writeImage((shot.image as { path: string }).path, px);
      }
      const s = stillsExtractDefaults();
      s.ndiv = [3, 3, 3];
      s.exposure = T;
      s.mask.outliers = false;
      if (withBackground) s.background = { images: blanks, exposure: T };
      const meta = stillsGridMeta(data, s);
      const got = await drain(data, s);
      const vectors = new ShotVectorCache();
      const stats = got.map((g) => {
        const shot = data.shots[g.shot] as StillShot;
        const bragg = stillBraggMask({ shot, vectors }, s.mask);
        const truth = new Map<string, [number, number]>();
        truthByVoxel(shot, kappa, (i) => bragg.mask[i] === 0, meta, truth);
        return zStats(g.diffuse, meta.ndiv, truth, scale);
      });
      console.log(`[stills recovery${withBackground ? ', blank background subtracted' : ''}] ${stats.map((z) => `${z.n} rows: mean z ${z.mean.toFixed(3)}, rms z ${z.rms.toFixed(3)}`).join('; ')}`);
      for (const z of stats) {
        expect(z.n).toBeGreaterThan(2000);
        expect(Math.abs(z.mean)).toBeLessThan(0.06);
        expect(z.rms).toBeGreaterThan(0.9);
        expect(z.rms).toBeLessThan(1.1);
      }
    }
  }, 180_000);
});

describe('stills extraction: stage and chunk file', () => {
  it('the stage drains every shot; a chunk file reads back the rows and the shots', async () => {
    const dir = tempDir('stills-chunk-');
    dirs.push(dir);
    const exp = await smallDetectorExperiment();
    const data = randomShots(exp, 2, 55, (i) => join(dir, `shot-${i}.img`));
    for (const shot of data.shots) {
      const { pixels } = renderStill(shot, { sigma: 0.0028 / 2.6, meanPeak: 500, background: 10, seed: 3 + shot.index });
      await writeImage((shot.image as { path: string }).path, pixels);
    }
    const images = new ShotImages();
    const s = stillsExtractDefaults();
    const r = await stillsExtractStage.run(silentContext(engine), { data, images, source: 'synthetic' }, s);
    await images.close();
    expect(r.shots.length).toBe(2);
    expect(r.summary.rows).toBe(r.diffuse.I.length);
    expect(r.summary.counts).toBe(r.shots[0]!.counts + r.shots[1]!.counts);
    console.log(`[stills stage] 2 shots of 256²: ${r.summary.rows} rows, ${r.summary.msPerShot.toFixed(0)} ms per shot (CPU, 1 thread)`);
    const path = join(dir, 'chunk-0.h5');
    await writeStillsChunk(path, { meta: r.meta, chunk: 0, diffuse: r.diffuse, shots: r.shots });
    const back = await readStillsChunk(path);
    expect(back.meta).toEqual({ ...r.meta, cell: [...r.meta.cell], ndiv: [...r.meta.ndiv] });
    expect(back.shots).toEqual(r.shots);
    const again = concatObservations([back.diffuse]);
    for (const col of ['H', 'K', 'L', 'dh', 'I', 'sigma', 'batch', 'x'] as const) expect(Array.from(again[col])).toEqual(Array.from(r.diffuse[col]));
    expect(splitFine(4, 3)).toEqual([1, 1]);
  }, 120_000);
});

describe('stills extraction: shots with their own detectors', () => {
  it('gives the same rows whether the shots share one detector object or each has its own copy (the bounded setup cache)', async () => {
    const dir = tempDir('stills-detectors-');
    dirs.push(dir);
    const exp = await smallDetectorExperiment();
    const shared = randomShots(exp, 6, 21, (i) => join(dir, `shot-${i}.img`));
    for (const shot of shared.shots) {
      const { pixels } = renderStill(shot, { sigma: 0.0028 / 2.6, meanPeak: 500, background: 20, seed: 60 + shot.index });
      await writeImage((shot.image as { path: string }).path, pixels);
    }
    // as CrystFEL shots with their own det_shift: a detector object per shot (the same geometry here), visited twice out of order
    const own: StillsDataset = { ...shared, shots: shared.shots.map((s) => ({ ...s, experiment: { ...s.experiment, detector: structuredClone(s.experiment.detector) } })) };
    const s = stillsExtractDefaults();
    const order = [0, 1, 2, 3, 4, 5, 0, 3];
    const images = new ShotImages();
    const a: ShotObservations[] = [];
    const b: ShotObservations[] = [];
    try {
      for await (const o of extractShots(silentContext(engine), { data: shared, images, source: 'shared' }, s, { shots: order })) a.push(o);
      for await (const o of extractShots(silentContext(engine), { data: own, images, source: 'own' }, s, { shots: order })) b.push(o);
    } finally {
      await images.close();
    }
    expect(b.map((o) => o.shot)).toEqual(order);
    a.forEach((o, k) => {
      const p = b[k] as ShotObservations;
      expect(p.info).toEqual(o.info);
      expect(Buffer.from(p.diffuse.I.buffer).equals(Buffer.from(o.diffuse.I.buffer))).toBe(true);
      expect(Buffer.from(p.diffuse.H.buffer).equals(Buffer.from(o.diffuse.H.buffer))).toBe(true);
    });
  }, 120_000);
});

describe('stills extraction: integrating detector', () => {
  it('turns ADU into photons with the gain and pedestal as the kernel does, for the shots and for the blank images', async () => {
    const dir = tempDir('stills-ccd-');
    dirs.push(dir);
    const base = await smallDetectorExperiment();
    const exp = { ...base, detector: { panels: base.detector.panels.map((p) => ({ ...p, type: 'SENSOR_CCD', trustedRange: [0, 60000] as const })) } };
    const data = randomShots(exp, 2, 909, (i) => join(dir, `shot-${i}.img`));
    const u = mulberry32(4);
    const raw = new Map<number, Int32Array>();
    for (const shot of data.shots) {
      const px = new Int32Array(256 * 256);
      // pedestal 10 ADU, 2.5 ADU per photon, a few values below the pedestal and above the trusted range
      for (let i = 0; i < px.length; i++) px[i] = 10 + Math.round(2.5 * poisson(u, 40) + 3 * (u() - 0.5));
      px[5] = 3;
      px[6] = 65000;
      raw.set(shot.index, px);
      await writeImage((shot.image as { path: string }).path, px);
    }
    const s = stillsExtractDefaults();
    s.detector = { kind: 'integrating', gain: 2.5, pedestal: 10 };
    s.mask.outliers = false;
    const got = await drain(data, s);
    const vectors = new ShotVectorCache();
    const f = Math.fround;
    for (const g of got) {
      const shot = data.shots[g.shot] as StillShot;
      const bragg = stillBraggMask({ shot, vectors }, s.mask);
      const px = raw.get(g.shot) as Int32Array;
      let sum = 0;
      for (let i = 0; i < px.length; i++) {
        const v = px[i] as number;
        // trusted range [0, 60000] read exclusively: 1…59999
        if (bragg.mask[i] !== 0 || v < 1 || v > 59999) continue;
        const x = f(f(f(v) - f(10)) * f(1 / 2.5));
        const r = Math.round(x);
        sum += Math.max(0, Math.abs(x - Math.trunc(x)) === 0.5 ? 2 * Math.round(x / 2) : r);
      }
      expect(g.info.counts, shot.identifier).toBe(sum);
    }
    // the shot's own image as the only blank, same exposure: the subtraction leaves exactly 0 in every row
    const self = stillsExtractDefaults();
    self.detector = { kind: 'integrating', gain: 2.5, pedestal: 10 };
    self.mask.outliers = false;
    self.background = { images: [(data.shots[0]!.image as { path: string }).path], exposure: null };
    const zero = await drain(data, self);
    const d = zero[0]!.diffuse;
    expect(d.I.length).toBe(got[0]!.diffuse.I.length);
    expect(d.I.every((v) => v === 0)).toBe(true);
    // σ² = 2 (N + 1)/(T Σκ)²: √2 × the shot's own σ
    for (let i = 0; i < d.I.length; i += 97) expect(d.sigma[i]! / got[0]!.diffuse.sigma[i]!).toBeCloseTo(Math.SQRT2, 5);
  }, 120_000);
});
