import { describe, expect, it } from 'vitest';
import { InvalidValueError } from '../../src/errors.ts';
import type { Panel } from '../../src/geometry/model.ts';
import { readCbf } from '../../src/io/cbf.ts';
import type { DetectorImage } from '../../src/io/image.ts';
import { buildPixelMask, MaskReason, maskStats } from '../../src/io/pixel-mask.ts';
import { readSmv } from '../../src/io/smv.ts';
import { sharedData } from '../helpers/paths.ts';
import { errorOf } from './helpers.ts';
import { L_CYSTEINE_BAD_PIXELS, L_CYSTEINE_GAP_PIXELS, SNASE } from './reference/values.ts';

function panel(over: Partial<Panel>): Panel {
  return {
    name: 'Panel',
    type: 'SENSOR_PAD',
    origin: [0, 0, -100],
    fastAxis: [1, 0, 0],
    slowAxis: [0, -1, 0],
    pixelSize: [0.172, 0.172],
    imageSize: [1475, 1679],
    trustedRange: [-1, 388705],
    thickness: 0.32,
    material: 'Si',
    mu: 3.96,
    pxMmStrategy: 'parallax',
    mask: [],
    gain: 1,
    pedestal: 0,
    identifier: '',
    ...over,
  };
}

function synthetic(values: number[], width: number): DetectorImage {
  return {
    width,
    height: values.length / width,
    pixels: Int32Array.from(values),
    header: { format: 'cbf', raw: new Map(), lines: [] },
    source: { file: 'synthetic.cbf', frame: 3 },
  };
}

describe('buildPixelMask', () => {
  it('trusted range: exclusive (dxtbx ≤ 2022, default) and inclusive (newer dxtbx) conventions', () => {
    const img = synthetic([-3, -2, -1, 0, 1, 2, 3, 4], 8);
    const p = panel({ imageSize: [8, 1], trustedRange: [0, 3] });
    expect([...buildPixelMask(img, p)]).toEqual([0, 0, 0, 0, 1, 1, 0, 0]);
    expect([...buildPixelMask(img, p, { trustedRange: 'inclusive' })]).toEqual([0, 0, 0, 1, 1, 1, 1, 0]);
    // the same Pilatus panel written under each convention gives the same mask
    const old = buildPixelMask(synthetic([-2, -1, 0, 5, 388704, 388705], 6), panel({ imageSize: [6, 1], trustedRange: [-1, 388705] }));
    const modern = buildPixelMask(synthetic([-2, -1, 0, 5, 388704, 388705], 6), panel({ imageSize: [6, 1], trustedRange: [0, 388704] }), {
      trustedRange: 'inclusive',
    });
    expect([...old]).toEqual([0, 0, 1, 1, 1, 0]);
    expect([...modern]).toEqual([...old]);
  });

  it('reasons: markers first, then trusted range, then the panel’s and the extra rectangles', () => {
    // 4×3 image
    const img = synthetic([-1, -2, 0, 50, 7, 7, 7, 7, 7, 100, 7, -1], 4);
    const p = panel({ imageSize: [4, 3], trustedRange: [-1, 100], mask: [{ x0: 0, y0: 1, x1: 2, y1: 3 }] });
    const reasons = new Uint8Array(12);
    const mask = buildPixelMask(img, p, { rects: [{ x0: 2, y0: 1, x1: 10, y1: 2 }], reasons });
    expect([...reasons]).toEqual([
      MaskReason.gap, MaskReason.bad, MaskReason.valid, MaskReason.valid,
      MaskReason.panelRect, MaskReason.panelRect, MaskReason.extraRect, MaskReason.extraRect,
      MaskReason.panelRect, MaskReason.aboveTrusted, MaskReason.valid, MaskReason.gap,
    ]);
    expect([...mask]).toEqual([0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 1, 0]);
    expect(maskStats(mask, reasons)).toEqual({
      total: 12,
      valid: 3,
      masked: 9,
      byReason: { gap: 2, bad: 1, belowTrusted: 0, aboveTrusted: 1, panelRect: 3, extraRect: 2 },
    });
    expect(maskStats(mask)).toEqual({ total: 12, valid: 3, masked: 9 });
    // without a panel only the markers count; markers can be turned off
    expect([...buildPixelMask(img)]).toEqual([0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0]);
    expect([...buildPixelMask(img, undefined, { markers: false })].every((v) => v === 1)).toBe(true);
  });

  it('errors name the image', () => {
    const img = synthetic([1, 2, 3, 4], 2);
    const size = errorOf(() => buildPixelMask(img, panel({ imageSize: [4, 1] })));
    expect(size).toBeInstanceOf(InvalidValueError);
    expect(size.message).toContain('synthetic.cbf, frame 3');
    const empty = errorOf(() => buildPixelMask(img, panel({ imageSize: [2, 2], trustedRange: [0, 1] })));
    expect(empty).toBeInstanceOf(InvalidValueError);
    expect(empty.field).toBe('trusted_range');
    const rect = errorOf(() => buildPixelMask(img, undefined, { rects: [{ x0: 2, y0: 0, x1: 1, y1: 1 }] }));
    expect(rect).toBeInstanceOf(InvalidValueError);
  });

  it('l-cysteine: masks the Pilatus gaps and bad pixels, nothing else with the DIALS panel', async () => {
    const img = await readCbf(sharedData('l-cysteine', 'images', 'l-cyst_01_00004.cbf'));
    // trusted_range [-1, 388705] as in 11_integrated.expt (written by DIALS in 2020: exclusive)
    const reasons = new Uint8Array(img.pixels.length);
    const mask = buildPixelMask(img, panel({}), { reasons });
    const stats = maskStats(mask, reasons);
    expect(stats.byReason).toEqual({ gap: L_CYSTEINE_GAP_PIXELS, bad: L_CYSTEINE_BAD_PIXELS, belowTrusted: 0, aboveTrusted: 0, panelRect: 0, extraRect: 0 });
    expect(stats.valid).toBe(1475 * 1679 - L_CYSTEINE_GAP_PIXELS - L_CYSTEINE_BAD_PIXELS);
    // a 10×10 beamstop box at the beam centre (730, 865) lies on sensor: 100 more masked pixels
    const boxed = maskStats(buildPixelMask(img, panel({}), { rects: [{ x0: 725, y0: 860, x1: 735, y1: 870 }] }));
    expect(boxed.masked).toBe(stats.masked + 100);
  });

  it('snase: Lunus’s window, beamstop and 1…10000 value range give the reference count', async () => {
    const ref = SNASE[2]!;
    const img = await readSmv(sharedData('snase', 'images', ref.file));
    const lunus = panel({
      imageSize: [1024, 1024],
      pixelSize: [0.08, 0.08],
      trustedRange: [1, 10000],
      // everything outside x, y ∈ 40…984, and the beamstop x 510…556 × y 473…517
      mask: [
        { x0: 0, y0: 0, x1: 1024, y1: 40 },
        { x0: 0, y0: 985, x1: 1024, y1: 1024 },
        { x0: 0, y0: 0, x1: 40, y1: 1024 },
        { x0: 985, y0: 0, x1: 1024, y1: 1024 },
        { x0: 510, y0: 473, x1: 557, y1: 518 },
      ],
    });
    const t0 = performance.now();
    const mask = buildPixelMask(img, lunus, { trustedRange: 'inclusive' });
    const ms = performance.now() - t0;
    expect(maskStats(mask).valid).toBe(ref.lunusValid);
    console.log(`[mask] 1024×1024 mask in ${ms.toFixed(1)} ms`);
  });
});
