/**
 * PhotonSession: accumulation, clean image, ROI and step means, resets and
 * controls, batch-size independence, the scan file — on the CPU engine and on
 * the GPU engine (same answers).
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidValueError } from '../../src/errors.ts';
import { Engine } from '../../src/host/engine.ts';
import { readHdf5 } from '../../src/io/hdf5.ts';
import type { FrameArray } from '../../src/io/stream1.ts';
import { writeScanFile } from '../../src/photon/output.ts';
import { PhotonSession, type FrameSummary, type ResetEvent, type ScanRecord, type StepResult } from '../../src/photon/session.ts';
import { arrayEvents, mergeEvents, type SourceEvent } from '../../src/photon/sources.ts';
import { setLogSink } from '../../src/util/log.ts';
import { mulberry32 } from '../../src/util/random.ts';
import { gpuTestsDisabled } from '../helpers/gpu.ts';

const tmp = mkdtempSync(join(tmpdir(), 'diffract-photon-session-'));

function uniform(rows: number, cols: number, v: number, n: number): Float32Array[] {
  return Array.from({ length: n }, () => new Float32Array(rows * cols).fill(v));
}

/** CMOS-like uint16 frames: offset 100 ± 3, photons as 3×3 clouds. */
function cmosFrames(seed: number, n: number, rows: number, cols: number, photons: number): Uint16Array[] {
  const u = mulberry32(seed);
  return Array.from({ length: n }, () => {
    const f = new Uint16Array(rows * cols);
    for (let i = 0; i < f.length; i++) f[i] = 97 + Math.floor(u() * 7);
    for (let j = 0; j < photons; j++) {
      const r = 1 + Math.floor(u() * (rows - 2));
      const c = 1 + Math.floor(u() * (cols - 2));
      const peak = 350 + Math.floor(u() * 200);
      for (let dr = -1; dr <= 1; dr++) for (let dc = -1; dc <= 1; dc++) f[(r + dr) * cols + c + dc]! += dr === 0 && dc === 0 ? peak : Math.floor(peak * (0.2 + 0.3 * u()));
    }
    return f;
  });
}

async function motorEvents(positions: number[], framesPerStep: number): Promise<SourceEvent[]> {
  const out: SourceEvent[] = [{ kind: 'motor', stream: 'sardana', source: 'test', eventNumber: 0, message: { type: 'DataDescription', refMotor: 'mot', scanfile: [], raw: {} } }];
  positions.forEach((x, k) => out.push({ kind: 'motor', stream: 'sardana', source: 'test', eventNumber: (k + 1) * framesPerStep, message: { type: 'RecordData', pointNb: k, values: { mot: x }, raw: {} } }));
  return out;
}

async function* fromArray(evs: SourceEvent[]): AsyncGenerator<SourceEvent> {
  for (const e of evs) yield e;
}

function suite(name: string, makeEngine: () => Promise<Engine>): void {
  describe(name, () => {
    let engine: Engine;
    beforeAll(async () => {
      engine = await makeEngine();
    });
    afterAll(() => engine?.destroy());

    it('uniform 113, T 108, E_min 5, 21 frames: 21 accumulated frames, 21 at a plateau pixel of the clean image', async () => {
      const s = new PhotonSession({ engine, photon: { threshold: 108, emin: 5 }, correction: { kind: 'none' }, batchSize: 4 });
      const frames: FrameSummary[] = [];
      s.on('frame', (f) => frames.push(f));
      await s.run(arrayEvents(uniform(20, 24, 113, 21), [20, 24]));
      expect(s.accumulatedFrames).toBe(21);
      const clean = s.cleanImage();
      expect(clean?.data[10 * 24 + 10]).toBe(21);
      expect(clean?.data[0]).toBe(0);
      expect(frames.length).toBe(21);
      expect(frames[20]?.accumulatedFrames).toBe(21);
      console.log(`[photon] ${name}: 21 uniform frames → accumulated ${s.accumulatedFrames}, clean[10,10] = ${clean?.data[10 * 24 + 10]}, ${frames[0]?.hits} hits per frame`);
    });

    it('the row 800/600/300/150: three hits (reference), one (local-max), in full-frame coordinates', async () => {
      const f = new Float32Array(30 * 40);
      [800, 600, 300, 150].forEach((v, k) => (f[12 * 40 + 20 + k] = v));
      const energies: number[][] = [];
      for (const mode of ['reference', 'local-max'] as const) {
        const s = new PhotonSession({ engine, photon: { threshold: 108, emin: 0, mode, roi: { row0: 5, row1: 25, col0: 10, col1: 35 } }, correction: { kind: 'none' } });
        let scan: ScanRecord | null = null;
        s.on('scan-end', (r) => (scan = r));
        await s.run(arrayEvents([f], [30, 40]));
        const rec = scan as unknown as ScanRecord;
        energies.push(Array.from(rec.hits.energy));
        expect(rec.hits.row[0]).toBe(12);
        expect(rec.hits.col[0]).toBe(20);
      }
      expect(energies).toEqual([[1184, 1376, 726], [1184]]);
    });

    it('results do not depend on the batch size (hits, clean image, histogram, ROI means)', async () => {
      const frames = cmosFrames(3, 9, 48, 64, 25);
      const run = async (batchSize: number): Promise<{ scan: ScanRecord; clean: Uint32Array; hist: Uint32Array }> => {
        const s = new PhotonSession({ engine, photon: { emin: 900 }, rois: { a: { row0: 0, row1: 24, col0: 0, col1: 64 } }, batchSize });
        let scan: ScanRecord | null = null;
        s.on('scan-end', (r) => (scan = r));
        await s.run(arrayEvents(frames, [48, 64]));
        return { scan: scan as unknown as ScanRecord, clean: Uint32Array.from(s.cleanImage()?.data ?? []), hist: Uint32Array.from(s.histogram().counts) };
      };
      const a = await run(1);
      const b = await run(4);
      const c = await run(9);
      for (const x of [b, c]) {
        expect(Array.from(x.scan.hits.energy)).toEqual(Array.from(a.scan.hits.energy));
        expect(Array.from(x.scan.hits.frame)).toEqual(Array.from(a.scan.hits.frame));
        expect(Array.from(x.clean)).toEqual(Array.from(a.clean));
        expect(Array.from(x.hist)).toEqual(Array.from(a.hist));
        expect(x.scan.roiMeans.a).toEqual(a.scan.roiMeans.a);
        expect(x.scan.maxEnergy).toEqual(a.scan.maxEnergy);
      }
      expect(a.scan.hits.count).toBeGreaterThan(100);
      console.log(`[photon] ${name}: batch sizes 1/4/9 give the same ${a.scan.hits.count} hits`);
    });

    it('Infinity and NaN pixels are masked: the hits of a frame with zeros there, counted, one warning per scan', async () => {
      const base = cmosFrames(5, 4, 32, 48, 12).map((f) => Float32Array.from(f));
      const poisoned = [7, 300, 301, 777, 1200, 1500];
      const withValue = (v: number): Float32Array[] =>
        base.map((f, k) => {
          const g = Float32Array.from(f);
          if (k % 2 === 1) for (const i of poisoned) g[i] = v;
          return g;
        });
      const run = async (frames: Float32Array[]): Promise<{ scan: ScanRecord; summaries: FrameSummary[]; warnings: string[]; valid: Uint32Array }> => {
        const s = new PhotonSession({ engine, photon: { emin: 900 }, rois: { all: { row0: 0, row1: 32, col0: 0, col1: 48 } } });
        let scan: ScanRecord | null = null;
        const summaries: FrameSummary[] = [];
        s.on('scan-end', (r) => (scan = r));
        s.on('frame', (f) => summaries.push(f));
        const lines: string[] = [];
        const prev = setLogSink({ write: (l) => lines.push(l) });
        try {
          await s.run(arrayEvents(frames, [32, 48]));
        } finally {
          setLogSink(prev);
        }
        return { scan: scan as unknown as ScanRecord, summaries, warnings: lines.filter((l) => l.includes('Infinity/NaN')), valid: Uint32Array.from(s.accumulatedImage()?.valid ?? []) };
      };
      const zeros = await run(withValue(0));
      expect(zeros.scan.hits.count).toBeGreaterThan(20);
      for (const bad of [Infinity, NaN, -Infinity]) {
        const r = await run(withValue(bad));
        expect(Array.from(r.scan.hits.energy), `${bad}`).toEqual(Array.from(zeros.scan.hits.energy));
        expect(Array.from(r.scan.hits.posRow)).toEqual(Array.from(zeros.scan.hits.posRow));
        expect(r.scan.maxEnergy.every((e) => Number.isFinite(e))).toBe(true);
        expect(r.scan.roiMeans.all?.every((m) => Number.isFinite(m))).toBe(true);
        expect(r.summaries.map((f) => f.nonFinitePixels)).toEqual([0, 6, 0, 6]);
        expect([r.scan.nonFinitePixels, r.scan.nonFiniteFrames]).toEqual([12, 2]);
        expect(r.warnings).toHaveLength(1);
        expect(r.warnings[0]).toContain('12 Infinity/NaN pixels in 2 of 4 frames');
        // left out of the accumulation: valid in 2 of the 4 frames
        expect(r.valid[300]).toBe(2);
        expect(r.valid[299]).toBe(4);
      }
      expect(zeros.scan.nonFinitePixels).toBe(0);
      expect(zeros.warnings).toEqual([]);
    });

    it('CMOS correction, ROI means and step means against the motor position', async () => {
      const frames = cmosFrames(4, 6, 32, 32, 6);
      const steps: StepResult[] = [];
      const s = new PhotonSession({ engine, photon: null, rois: { all: { row0: 0, row1: 32, col0: 0, col1: 32 } } });
      s.on('step', (st) => steps.push(st));
      let scan: ScanRecord | null = null;
      s.on('scan-end', (r) => (scan = r));
      await s.run(mergeEvents(arrayEvents(frames, [32, 32]), fromArray(await motorEvents([1, 1.5, 2], 2))));
      // corrected = max(raw − 100, 0), zeroed below 12
      const expectMean = (f: Uint16Array): number => f.reduce((a, v) => a + (v - 100 < 12 ? 0 : v - 100), 0) / f.length;
      const rec = scan as unknown as ScanRecord;
      rec.roiMeans.all?.forEach((m, k) => expect(m).toBeCloseTo(expectMean(frames[k] as Uint16Array), 9));
      expect(rec.positions).toEqual([1, 1, 1.5, 1.5, 2, 2]);
      expect(steps.map((st) => [st.axis, st.x, st.frames])).toEqual([
        ['mot', 1, [0, 1]],
        ['mot', 1.5, [2, 3]],
        ['mot', 2, [4, 5]],
      ]);
      const m0 = expectMean(frames[0] as Uint16Array);
      const m1 = expectMean(frames[1] as Uint16Array);
      expect(steps[0]?.means.all?.mean).toBeCloseTo((m0 + m1) / 2, 9);
      expect(steps[0]?.means.all?.std).toBeCloseTo(Math.abs(m0 - m1) / 2, 9);
      // accumulated image: the corrected frames summed
      const acc = s.accumulatedImage();
      expect(acc?.frames).toBe(6);
    });

    it('without a motor stream every frame is a step at x = frame number', async () => {
      const s = new PhotonSession({ engine, photon: null, rois: { r: { row0: 0, row1: 4, col0: 0, col1: 4 } } });
      const steps: StepResult[] = [];
      s.on('step', (st) => steps.push(st));
      await s.run(arrayEvents(uniform(8, 8, 5, 3), [8, 8]));
      expect(steps.map((st) => [st.axis, st.x, st.means.r?.mean, st.means.r?.std])).toEqual([
        ['frame', 0, 5, 0],
        ['frame', 1, 5, 0],
        ['frame', 2, 5, 0],
      ]);
    });

    it('a shape change mid-scan resets the accumulation (documented), or is an error on request', async () => {
      const resets: ResetEvent[] = [];
      const s = new PhotonSession({ engine, photon: { emin: 0 }, correction: { kind: 'none' } });
      s.on('reset', (r) => resets.push(r));
      const evs: SourceEvent[] = [];
      for await (const e of arrayEvents(uniform(10, 12, 5, 3), [10, 12])) if (e.kind !== 'series-end') evs.push(e);
      evs.push({ kind: 'frame', stream: 'memory', source: 'memory', eventNumber: 9, frame: 3, shape: [12, 10], type: 'float32', data: new Float32Array(120).fill(7) });
      await s.run(fromArray(evs));
      expect(resets).toEqual([{ reason: 'shape', from: [10, 12], to: [12, 10] }]);
      expect(s.accumulatedFrames).toBe(1);
      expect(s.accumulatedImage()?.data[0]).toBe(7);
      const strict = new PhotonSession({ engine, photon: null, onShapeChange: 'error' });
      await expect(strict.run(fromArray(evs))).rejects.toThrow(InvalidValueError);
    });

    it('stop()/start() control accumulation; a new photon ROI resets it', async () => {
      const s = new PhotonSession({ engine, photon: { threshold: 108, emin: 5 }, correction: { kind: 'none' } });
      const resets: string[] = [];
      s.on('reset', (r) => resets.push(r.reason));
      const frames = uniform(12, 12, 113, 4);
      const evs: SourceEvent[] = [];
      for await (const e of arrayEvents(frames, [12, 12])) evs.push(e);
      await s.handle(evs[0] as SourceEvent);
      await s.handle(evs[1] as SourceEvent);
      await s.stop();
      await s.handle(evs[2] as SourceEvent);
      await s.start();
      await s.handle(evs[3] as SourceEvent);
      await s.finish();
      expect(s.accumulatedFrames).toBe(2);
      expect(s.cleanImage()?.data[5 * 12 + 5]).toBe(2);
      await s.setPhoton({ threshold: 108, emin: 5, roi: { row0: 0, row1: 6, col0: 0, col1: 6 } });
      expect(resets).toEqual(['roi']);
      expect(s.accumulatedFrames).toBe(0);
    });
  });
}

suite('PhotonSession, CPU engine', async () => Engine.cpu());
if (!gpuTestsDisabled()) suite('PhotonSession, GPU engine', async () => {
  const e = await Engine.create({ backend: 'gpu', debug: true });
  expect(e.backend).toBe('gpu');
  return e;
});

describe('scan file', () => {
  it('writes hits (N, 3), NeXus groups and the external link to the raw file', async () => {
    const s = new PhotonSession({ engine: Engine.cpu(), photon: { emin: 900, roi: { row0: 2, row1: 30, col0: 4, col1: 60 } }, rois: { a: { row0: 0, row1: 16, col0: 0, col1: 64 } } });
    let scan: ScanRecord | null = null;
    s.on('scan-end', (r) => (scan = r));
    const frames: FrameArray[] = cmosFrames(9, 4, 32, 64, 10);
    await s.run(arrayEvents(frames, [32, 64], { filename: '/data/raw/scan-77_balor.h5' }));
    const rec = scan as unknown as ScanRecord;
    const path = await writeScanFile(tmp, rec, { session: s });
    expect(path.endsWith('scan-77_balor_photon.h5')).toBe(true);
    await readHdf5(path, (f) => {
      expect(f.get_attribute('default', true)).toBe('entry');
      const xye = f.get('entry/hits/hits_xye');
      const shape = xye !== null && 'shape' in xye ? xye.shape : null;
      expect(shape).toEqual([rec.hits.count, 3]);
      const hits = f.get('entry/hits');
      expect(hits !== null && 'attrs' in hits ? hits.get_attribute('roi_x', true) : null).toEqual([4, 60]);
      expect(hits !== null && 'attrs' in hits ? hits.get_attribute('threshold_counting', true) : null).toBe(108);
      expect(f.get_external_link('entry/raw_data')).toEqual({ filename: '/data/raw/scan-77_balor.h5', obj_path: '/' });
      const acc = f.get('entry/accumulated');
      expect(acc !== null && 'attrs' in acc ? [acc.get_attribute('NX_class', true), acc.get_attribute('signal', true)] : null).toEqual(['NXdata', 'data']);
      const step = f.get('entry/step_means/a');
      expect(step !== null && 'attrs' in step ? step.get_attribute('axes', true) : null).toEqual(['x']);
      expect(f.get('entry/step_means/a/y_errors')).not.toBeNull();
    });
  });
});
