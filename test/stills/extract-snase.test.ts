/**
 * Stills extraction on real data: the 10 snase shots (../shared/data/snase/
 * stills.expt, 1024² SMV, integrating CCD). The data README states no gain: the
 * test uses 1 ADU/photon and pedestal 0, Lunus's trusted window (edge 40 px),
 * beamstop box and values from 1 (trusted range read inclusively).
 * Asserted per shot, at ndiv 1,1,1 and 3,3,3:
 * - Σ counts = Σ of the image values over the pixels left by the static mask,
 *   the trusted range and the shot's Bragg mask (recomputed here);
 * - the same pixels and counts at both ndiv (the grid only splits them);
 * - masked fraction ≤ 5%, rows > 0, rows at 3,3,3 > rows at 1,1,1;
 * - every row finite with σ > 0, batch = the shot.
 */
import { describe, expect, it } from 'vitest';
import { Engine } from '../../src/host/engine.ts';
import { buildStaticMask } from '../../src/pipeline/voxel-masks.ts';
import { silentContext } from '../../src/stages/context.ts';
import { readDialsStills } from '../../src/stills/dials.ts';
import { extractShots, type ShotObservations, type StillsExtractSettings } from '../../src/stills/extract.ts';
import { ShotImages } from '../../src/stills/images.ts';
import { stillBraggMask } from '../../src/stills/mask.ts';
import type { StillShot } from '../../src/stills/model.ts';
import { sharedData } from '../helpers/paths.ts';
import { snaseSettings } from '../helpers/still-shots.ts';

describe('snase stills: diffuse extraction', () => {
  it('extracts the 10 shots at ndiv 1,1,1 and 3,3,3 with every unmasked photon binned', async () => {
    const data = await readDialsStills(sharedData('snase', 'stills.expt'));
    const engine = Engine.cpu();
    const images = new ShotImages();
    const byNdiv = new Map<number, ShotObservations[]>();
    try {
      for (const n of [1, 3]) {
        const s: StillsExtractSettings = snaseSettings([n, n, n]);
        const out: ShotObservations[] = [];
        const t0 = performance.now();
        for await (const o of extractShots(silentContext(engine), { data, images, source: data.source }, s)) out.push(o);
        const ms = (performance.now() - t0) / out.length;
        byNdiv.set(n, out);
        console.log(
          `[snase extract ndiv ${n},${n},${n}] ${ms.toFixed(0)} ms per 1024² shot (CPU, 1 thread)\n  ` +
            out.map((o) => `${o.info.identifier}: ${o.info.rows} rows, ${o.info.pixels} pixels, ${o.info.counts} counts, masked ${(100 * o.info.maskedFraction).toFixed(2)}%`).join('\n  '),
        );
      }
      const one = byNdiv.get(1) as ShotObservations[];
      const three = byNdiv.get(3) as ShotObservations[];
      expect(one.length).toBe(10);
      const s = snaseSettings([1, 1, 1]);
      for (const [k, o] of one.entries()) {
        const t = three[k] as ShotObservations;
        const shot = data.shots[o.shot] as StillShot;
        expect(t.info.counts).toBe(o.info.counts);
        expect(t.info.pixels).toBe(o.info.pixels);
        expect(t.info.rows).toBeGreaterThan(o.info.rows);
        expect(o.info.rows).toBeGreaterThan(1000);
        expect(o.info.maskedFraction).toBeLessThanOrEqual(0.05);
        expect(o.info.maskedFraction).toBeGreaterThan(0.01);
        const image = await images.read(shot);
        const bragg = stillBraggMask({ shot, image }, s.mask);
        const valid = buildStaticMask(shot.experiment, { edge: 40, beamstop: s.staticMask.beamstop }).valid;
        let sum = 0;
        let n = 0;
        for (let i = 0; i < image.pixels.length; i++) {
          const v = image.pixels[i] as number;
          if (valid[i] === 1 && bragg.mask[i] === 0 && v >= 1 && v <= 65535) {
            sum += v;
            n++;
          }
        }
        expect(o.info.counts, shot.identifier).toBe(sum);
        expect(o.info.pixels, shot.identifier).toBe(n);
        for (const r of [o, t]) {
          const d = r.diffuse;
          for (let i = 0; i < d.I.length; i++) {
            if (!(Number.isFinite(d.I[i]) && (d.sigma[i] as number) > 0 && d.batch[i] === o.shot)) throw new Error(`${shot.identifier}: row ${i} is not a finite observation of the shot`);
          }
        }
      }
    } finally {
      await images.close();
      engine.destroy();
    }
  }, 400_000);
});
