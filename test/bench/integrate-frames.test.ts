/**
 * The `integrate-throughput` bench's frame generator (bench/integrate-frames.ts)
 * makes the frames it declares: the Pilatus 6M layout's size, gap pixels at −1
 * and only there, a few % of the pixels above 20 counts, and cached files
 * (CBF + .expt) that read back as the same frames and geometry. Tiny sizes; no
 * timings.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ensureFrameSet, FrameSynth, frameSetSpec, fractionAbove, PILATUS_6M_MODULES, squareModules, type FrameSetLayout } from '../../bench/integrate-frames.ts';
import { readExperimentList } from '../../src/geometry/expt.ts';
import { readCbf } from '../../src/io/cbf.ts';
import { gapMask, panelSize } from '../../src/sim/spec.ts';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

// four modules of the real Pilatus 6M: one vertical and one horizontal gap
const tiny: FrameSetLayout = { name: 'pilatus2x2', modules: { ...PILATUS_6M_MODULES, nx: 2, ny: 2 }, frames: 3, widthDeg: 0.2 };

describe('integrate-throughput frames', () => {
  it('the 6M layout is 2463 × 2527 with 7-column and 17-row gaps', () => {
    const d = frameSetSpec({ name: 'p6m', modules: PILATUS_6M_MODULES, frames: 20, widthDeg: 0.2 }).detector;
    expect(panelSize(d)).toEqual([2463, 2527]);
    let gaps = 0;
    for (const g of gapMask(d)) gaps += g;
    // 4 gap columns of 7 px × 2527 rows, 11 gap rows of 17 px × 2463 columns, crossings counted once
    expect(gaps).toBe(4 * 7 * 2527 + 11 * 17 * 2463 - 4 * 7 * 11 * 17);
  });

  it('gap pixels read −1 and only they; a few % of the pixels read above 20 counts', () => {
    const spec = frameSetSpec(tiny);
    const synth = new FrameSynth(spec);
    expect([synth.width, synth.height]).toEqual([2 * 487 + 7, 2 * 195 + 17]);
    const gaps = gapMask(spec.detector);
    const pixels = new Int32Array(synth.width * synth.height);
    for (const frame of [0, 2]) {
      synth.frame(frame, pixels);
      let wrong = 0;
      for (let i = 0; i < pixels.length; i++) {
        const v = pixels[i] as number;
        if (gaps[i] === 1 ? v !== -1 : v < 0) wrong++;
      }
      expect(wrong).toBe(0);
      const f = fractionAbove(pixels, 20);
      expect(f).toBeGreaterThan(0.005);
      expect(f).toBeLessThan(0.08);
    }
  });

  it('writes CBF frames and .expt files that read back, each frame the same for any frame count', async () => {
    const root = mkdtempSync(join(tmpdir(), 'diffract-bench-frames-'));
    dirs.push(root);
    const layout: FrameSetLayout = { name: 'square', modules: squareModules(96), frames: 2, widthDeg: 0.1 };
    const small = await ensureFrameSet(root, layout);
    expect(small.generatedSeconds).toBeGreaterThan(0);
    const first = await readCbf(join(small.dir, 'frame_00002.cbf'));
    // a longer set generates only the missing frames and keeps the first ones
    const longer = await ensureFrameSet(root, { ...layout, frames: 4 });
    expect(longer.dir).toBe(small.dir);
    const again = await readCbf(join(longer.dir, 'frame_00002.cbf'));
    expect(again.pixels).toEqual(first.pixels);
    const synth = new FrameSynth(frameSetSpec({ ...layout, frames: 4 }));
    const expected = new Int32Array(96 * 96);
    synth.frame(3, expected);
    expect((await readCbf(join(longer.dir, 'frame_00004.cbf'))).pixels).toEqual(expected);
    expect(Math.max(...expected)).toBeGreaterThan(0);

    const list = await readExperimentList(await longer.expt(3));
    const exp = list.experiments[0];
    expect(exp?.scan?.imageRange).toEqual([1, 3]);
    expect(exp?.detector.panels[0]?.imageSize).toEqual([96, 96]);
    expect(exp?.imageset?.template).toBe('frame_#####.cbf');
    await expect(longer.expt(5)).rejects.toThrow(/4 frames/);
  });
});
