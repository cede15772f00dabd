/**
 * Thread-count invariance of the CPU photon detection: planted photon clouds
 * through `CpuPhotonDetection` on 1, 2 and 3 threads give the CPU twin's
 * hits, energies, positions, maxima and histogram exactly; and a whole
 * `PhotonSession` (uint16 and float32 frames with a crop, accumulation,
 * clean image, ROI means) gives identical scan records for 1, 2 and 3 threads.
 */
import { describe, expect, it } from 'vitest';
import { Engine } from '../../src/host/engine.ts';
import type { FrameArray } from '../../src/io/stream1.ts';
import { cropFrames, photonDetectCpu } from '../../src/kernels/photon-detect.ts';
import { PhotonSession, type ScanRecord } from '../../src/photon/session.ts';
import { arrayEvents } from '../../src/photon/sources.ts';
import { CpuPhotonDetection } from '../../src/photon/threaded-detection.ts';
import { mulberry32 } from '../../src/util/random.ts';

const ROWS = 70;
const COLS = 90;

/** uint16 frames: offset 100 ± 3, 3×3 clouds (at the edges too), a few touching. */
function planted(seed: number, n: number): Uint16Array[] {
  const u = mulberry32(seed);
  return Array.from({ length: n }, () => {
    const f = new Uint16Array(ROWS * COLS);
    for (let i = 0; i < f.length; i++) f[i] = 97 + Math.floor(u() * 7);
    for (let j = 0; j < 60; j++) {
      const r = Math.floor(u() * ROWS);
      const c = Math.floor(u() * COLS);
      const peak = 300 + Math.floor(u() * 500);
      for (let dr = -1; dr <= 1; dr++) {
        for (let dc = -1; dc <= 1; dc++) {
          const rr = r + dr;
          const cc = c + dc;
          if (rr >= 0 && rr < ROWS && cc >= 0 && cc < COLS) f[rr * COLS + cc]! += dr === 0 && dc === 0 ? peak : Math.floor(peak * (0.15 + 0.4 * u()));
        }
      }
    }
    return f;
  });
}

function stack(frames: Uint16Array[]): Uint16Array {
  const out = new Uint16Array(frames.length * ROWS * COLS);
  frames.forEach((f, k) => out.set(f, k * ROWS * COLS));
  return out;
}

describe('CPU photon detection on 1, 2 and 3 threads', () => {
  it('equals the CPU twin exactly, whatever the thread count', async () => {
    const frames = planted(3, 7);
    const roi = { row0: 4, row1: 66, col0: 2, col1: 85 };
    const w = roi.col1 - roi.col0;
    const h = roi.row1 - roi.row0;
    const setup = { width: w, height: h, threshold: 108, emin: 700, mode: 'reference' as const, histogram: { bins: 100, min: 0, max: 4000 } };
    const twin = photonDetectCpu({ ...setup, frames: cropFrames(stack(frames), COLS, ROWS, roi), clean: false });
    expect(twin.hits.count).toBeGreaterThan(100);
    for (const threads of [1, 2, 3]) {
      const det = new CpuPhotonDetection(threads);
      try {
        await det.started; // else this thread detects every frame while the workers start
        // own buffers (moved or copied), views into one buffer, and shared memory: all come back intact
        const joined = stack(frames);
        const data = frames.map((f, k) => (k % 3 === 0 ? f.slice() : k % 3 === 1 ? joined.subarray(k * ROWS * COLS, (k + 1) * ROWS * COLS) : new Uint16Array(new SharedArrayBuffer(f.byteLength)).fill(0).map((_v, i) => f[i] as number)));
        const visited: number[] = [];
        const { detection: got, frames: back } = await det.detect(data, data.map((_d, k) => k % 2 === 0), setup, { offset: roi.row0 * COLS + roi.col0, stride: COLS }, (k, d) => {
          visited.push(k);
          expect(Array.from(d.subarray(0, 50))).toEqual(Array.from(frames[k]!.subarray(0, 50)));
        });
        expect(visited).toEqual([0, 1, 2, 3, 4, 5, 6]);
        back.forEach((d, k) => expect(Buffer.from(d.buffer, d.byteOffset, d.byteLength).equals(Buffer.from(frames[k]!.buffer))).toBe(true));
        expect(got.candidates, `${threads} threads`).toBe(twin.candidates);
        for (const col of ['frame', 'row', 'col', 'energy', 'posRow', 'posCol'] as const) expect(Array.from(got.hits[col]), `${threads} threads: ${col}`).toEqual(Array.from(twin.hits[col]));
        expect(Array.from(got.maxEnergy)).toEqual(Array.from(twin.maxEnergy));
        expect(Array.from(got.histogram)).toEqual(Array.from(twin.histogram));
      } finally {
        await det.close();
      }
    }
  });
});

async function sessionRecord(frames: FrameArray[], threads: number): Promise<{ rec: ScanRecord; acc: Float64Array; valid: Uint32Array; clean: Uint32Array }> {
  const s = new PhotonSession({
    engine: Engine.cpu(),
    photon: { roi: { row0: 3, row1: 67, col0: 5, col1: 88 }, threshold: 108, emin: 800 },
    correction: { kind: 'none' },
    rois: { left: { row0: 0, row1: 70, col0: 0, col1: 45 } },
    roiSource: 'image',
    batchSize: 8,
    threads,
  });
  let rec: ScanRecord | null = null;
  s.on('scan-end', (r) => (rec = r));
  try {
    await s.threadsStarted(); // the workers take their share from the first frame on
    for await (const ev of arrayEvents(frames, [ROWS, COLS])) await s.handle(ev);
    await s.finish();
  } finally {
    await s.close();
  }
  const acc = s.accumulatedImage();
  const clean = s.cleanImage();
  if (rec === null || acc === null || clean === null) throw new Error('the session produced no scan');
  return { rec, acc: acc.data.slice(), valid: acc.valid.slice(), clean: Uint32Array.from(clean.data) };
}

describe('PhotonSession on 1, 2 and 3 CPU threads', () => {
  for (const kind of ['uint16', 'float32 with NaN and −1 pixels'] as const) {
    it(`${kind}: identical hits, histogram, accumulation, clean image and ROI means`, async () => {
      const u16 = planted(17, 5);
      const frames: FrameArray[] =
        kind === 'uint16'
          ? u16
          : u16.map((f, k) => {
              const g = Float32Array.from(f, (v) => v + 0.25);
              g[k * 7 + 100] = Number.NaN;
              g[k * 11 + 500] = -1;
              return g;
            });
      const runs = [];
      for (const threads of [1, 2, 3]) runs.push(await sessionRecord(frames.map((f) => f.slice()), threads));
      const one = runs[0]!;
      expect(one.rec.hits.count).toBeGreaterThan(50);
      expect(one.rec.frameNumbers).toEqual([0, 1, 2, 3, 4]);
      for (const r of runs.slice(1)) {
        for (const col of ['frame', 'row', 'col', 'energy', 'posRow', 'posCol'] as const) expect(Array.from(r.rec.hits[col])).toEqual(Array.from(one.rec.hits[col]));
        expect(Array.from(r.rec.histogram)).toEqual(Array.from(one.rec.histogram));
        expect(r.rec.maxEnergy).toEqual(one.rec.maxEnergy);
        expect(r.rec.roiMeans).toEqual(one.rec.roiMeans);
        expect(Array.from(r.acc)).toEqual(Array.from(one.acc));
        expect(Array.from(r.valid)).toEqual(Array.from(one.valid));
        expect(Array.from(r.clean)).toEqual(Array.from(one.clean));
      }
      if (kind !== 'uint16') {
        // the NaN and −1 pixels are left out of the accumulation: 4 valid frames there
        expect(one.valid[100]).toBe(4);
        expect(one.valid[511]).toBe(4);
      }
    });
  }
});
