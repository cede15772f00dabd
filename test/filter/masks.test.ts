/**
 * Static masks (panel rectangles, edges, beamstop shapes, mask image, hot
 * pixels) and the counting model (photon counting, integrating detectors and
 * the refusal without a gain), each against a direct construction.
 */
import { describe, expect, it } from 'vitest';
import type { Experiment, Panel } from '../../src/geometry/model.ts';
import { buildStaticMask, resolveCounting } from '../../src/pipeline/voxel-masks.ts';
import { buildExperiment, smallSpec } from '../../src/sim/spec.ts';

const exp = buildExperiment(smallSpec(1));
const panel = exp.detector.panels[0]!;
const [W, H] = panel.imageSize;

function withPanel(p: Partial<Panel>): Experiment {
  return { ...exp, detector: { panels: [{ ...panel, ...p }] } };
}

describe('static mask', () => {
  it('masks the .expt rectangles, borders, beamstop shapes, the mask image and hot pixels', () => {
    const image = new Uint8Array(W * H).fill(1);
    image[5 * W + 300] = 0;
    const m = buildStaticMask(exp, {
      edge: 2,
      beamstop: [
        { kind: 'rect', x0: 10.5, y0: 20, x1: 14, y1: 23 },
        { kind: 'circle', cx: 100, cy: 100, r: 3 },
        { kind: 'polygon', points: [[200, 200], [210, 200], [200, 210]] },
      ],
      maskImage: image,
      hotPixels: [[50, 60]],
    });
    const at = (x: number, y: number): number => m.valid[y * W + x]!;
    // panel gap rectangles
    for (const r of panel.mask) {
      expect(at(r.x0, Math.max(r.y0, 5))).toBe(0);
      expect(at(r.x1 - 1, Math.min(r.y1, H) - 3)).toBe(0);
    }
    // edges
    expect([at(0, 50), at(1, 50), at(2, 50), at(W - 1, 50), at(W - 3, 50), at(50, H - 2)]).toEqual([0, 0, 1, 0, 1, 0]);
    // rectangle: ceil of the bounds, half-open (x 11…13, y 20…22)
    expect([at(10, 21), at(11, 21), at(13, 22), at(14, 22), at(12, 23)]).toEqual([1, 0, 0, 1, 1]);
    // circle: pixel centres within 3 of (100, 100)
    let inCircle = 0;
    for (let y = 90; y < 110; y++) for (let x = 90; x < 110; x++) if ((x + 0.5 - 100) ** 2 + (y + 0.5 - 100) ** 2 <= 9) {
      inCircle++;
      expect(at(x, y)).toBe(0);
    }
    expect(at(96, 100)).toBe(1);
    // polygon: centre (201.5, 201.5) inside, (208.5, 208.5) outside
    expect([at(201, 201), at(208, 208)]).toEqual([0, 1]);
    expect([at(300, 5), at(50, 60), at(51, 60)]).toEqual([0, 0, 1]);
    // 9 (rectangle) + the circle + the triangle's 45 pixel centres (less those already in a module gap)
    expect(m.byReason.beamstop).toBeGreaterThan(9 + inCircle);
    expect(m.byReason.beamstop).toBeLessThanOrEqual(9 + inCircle + 45);
    expect(m.byReason.hot).toBe(1);
    expect(m.byReason.maskImage).toBe(1);
    expect(m.byReason.edge).toBeGreaterThan(0);
    const masked = m.valid.length - m.valid.reduce((s, v) => s + v, 0);
    expect(masked).toBe(m.byReason.panelRect + m.byReason.edge + m.byReason.beamstop + m.byReason.maskImage + m.byReason.hot);
  });
  it('refuses malformed shapes and inputs', () => {
    expect(() => buildStaticMask(exp, { beamstop: [{ kind: 'polygon', points: [[1, 1], [2, 2]] }] })).toThrow(/at least 3/);
    expect(() => buildStaticMask(exp, { beamstop: [{ kind: 'rect', x0: 5, y0: 5, x1: 1, y1: 9 }] })).toThrow(/not a rectangle/);
    expect(() => buildStaticMask(exp, { maskImage: new Uint8Array(10) })).toThrow(/mask image has 10 pixels/);
    expect(() => buildStaticMask(exp, { hotPixels: [[W, 0]] })).toThrow(/outside/);
    expect(() => buildStaticMask(exp, { beamstop: [{ kind: 'circle', cx: 1, cy: 1, r: 1, panel: 3 }] })).toThrow(/panel 3/);
  });
});

describe('counting model', () => {
  it('photon counting for SENSOR_PAD panels, with the exclusive trusted range', () => {
    const c = resolveCounting(withPanel({ trustedRange: [-1, 388705] }), {}, true);
    expect(c.kind).toBe('photon-counting');
    expect(c.params).toEqual({ trustedLo: 0, trustedHi: 388704, markers: true });
    expect(resolveCounting(withPanel({ trustedRange: [0, 388704] }), { trustedRange: 'inclusive' }, true).params.trustedHi).toBe(388704);
  });
  it('integrating detectors need a gain for the Poisson filter', () => {
    const ccd = withPanel({ type: 'SENSOR_CCD', gain: 1, pedestal: 40, trustedRange: [0, 65535] });
    expect(() => resolveCounting(ccd, {}, true)).toThrow(/charge-integrating \(panel type SENSOR_CCD\).*--gain/);
    const noFilter = resolveCounting(ccd, {}, false);
    expect(noFilter.gainUnknown).toBe(true);
    expect(noFilter.params.integrating).toEqual({ invGain: 1, pedestal: 40 });
    const withGain = resolveCounting(ccd, { gain: 2.5 }, true);
    expect(withGain.kind).toBe('integrating');
    expect(withGain.params.integrating).toEqual({ invGain: 0.4, pedestal: 40 });
    expect(resolveCounting(withPanel({ type: 'SENSOR_CCD', gain: 3.2 }), {}, true).params.integrating?.invGain).toBeCloseTo(1 / 3.2, 12);
    expect(resolveCounting(exp, { detector: 'integrating', gain: 4, pedestal: 10 }, true).params.integrating).toEqual({ invGain: 0.25, pedestal: 10 });
    expect(() => resolveCounting(exp, { gain: 2 }, true)).toThrow(/photon-counting/);
  });
});
