/**
 * Azimuthal integration: geometry checks against the pyFAI formulas, then one
 * case table through the CPU twin and the WGSL kernel — identical words (the
 * fixed-point sums are exact), and within the stated tolerance of plain f64
 * sums.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GpuContext } from '../../src/host/context.ts';
import type { PoniGeometry } from '../../src/io/poni.ts';
import {
  azimuthalIntegrateCpu,
  azimuthalIntegrateGpu,
  finishIntegration,
  type AzimuthalIntegrateParams,
  type AzimuthalIntegrateResult,
} from '../../src/kernels/azimuthal-integrate.ts';
import { buildBinMap, chiAt, ringOverlay, tthAt } from '../../src/photon/geometry.ts';
import { mulberry32 } from '../../src/util/random.ts';
import { gpuTestsDisabled, openTestGpu } from '../helpers/gpu.ts';

const GEOM: PoniGeometry = { dist: 0.1, poni1: 0.012, poni2: 0.015, rot1: 0.05, rot2: -0.03, rot3: 0.2, wavelength: 1e-10, pixel1: 100e-6, pixel2: 100e-6, detector: 'Detector' };

function randomCase(seed: number, rows: number, cols: number, bins: number, opts: { variance?: boolean; markers?: number } = {}): AzimuthalIntegrateParams {
  const u = mulberry32(seed);
  const map = buildBinMap(GEOM, rows, cols, { bins });
  const n = rows * cols;
  const image = Float32Array.from({ length: n }, () => (u() < (opts.markers ?? 0) ? -Math.ceil(u() * 2) : Math.fround(u() * 1000)));
  const norm = Float32Array.from(map.normalization, (v) => Math.fround(v * (1 + Math.floor(u() * 30))));
  const p: AzimuthalIntegrateParams = { image, binIndex: map.binIndex, norm, bins };
  if (opts.variance) p.variance = Float32Array.from({ length: n }, () => Math.fround(u() * 50));
  return p;
}

const CASES: Array<{ name: string; params: AzimuthalIntegrateParams }> = [
  { name: '64×80 pixels, 50 bins, Poisson variance', params: randomCase(1, 64, 80, 50) },
  { name: '257×301 pixels, 400 bins, explicit variance, 5% markers', params: randomCase(2, 257, 301, 400, { variance: true, markers: 0.05 }) },
  { name: 'one pixel, one bin', params: { image: new Float32Array([3.5]), binIndex: new Int32Array([0]), norm: new Float32Array([0.25]), bins: 1 } },
  { name: 'every pixel masked', params: { image: new Float32Array([-1, 2, 3]), binIndex: new Int32Array([0, -1, 0]), norm: new Float32Array([1, 1, 0]), bins: 2 } },
];

/** Plain f64 sums, for the tolerance check. */
function reference(p: AzimuthalIntegrateParams): AzimuthalIntegrateResult {
  const r: AzimuthalIntegrateResult = { signal: new Float64Array(p.bins), variance: new Float64Array(p.bins), norm: new Float64Array(p.bins), count: new Uint32Array(p.bins), quantum: [0, 0, 0] };
  for (let k = 0; k < p.image.length; k++) {
    const b = p.binIndex[k] as number;
    const v = p.image[k] as number;
    const n = p.norm[k] as number;
    const s2 = p.variance !== undefined ? (p.variance[k] as number) : v;
    if (b < 0 || !(v >= 0) || !(n > 0) || !(s2 >= 0)) continue;
    r.signal[b] = (r.signal[b] as number) + v;
    r.variance[b] = (r.variance[b] as number) + s2;
    r.norm[b] = (r.norm[b] as number) + n;
    r.count[b] = (r.count[b] as number) + 1;
  }
  return r;
}

describe('azimuthal geometry (pyFAI conventions)', () => {
  it('without rotations, 2θ = atan(r / dist) around the PONI and χ = atan2(Δrow, Δcol)', () => {
    const g: PoniGeometry = { ...GEOM, rot1: 0, rot2: 0, rot3: 0 };
    expect(tthAt(g, 120, 150)).toBeCloseTo(0, 12); // the PONI itself (0.012 m / 100 µm = row 120)
    const t = tthAt(g, 120 + 300, 150 + 400); // 500 px = 0.05 m from the PONI
    expect(t).toBeCloseTo(Math.atan(0.05 / 0.1), 12);
    expect(chiAt(g, 120 + 300, 150 + 400)).toBeCloseTo(Math.atan2(300, 400), 12);
  });

  it('rot1 moves the beam centre to p2 = −dist·tan(rot1), rot2 to p1 = dist·tan(rot2)/cos(rot1)', () => {
    const g: PoniGeometry = { ...GEOM, rot3: 0 };
    const p2 = -g.dist * Math.tan(g.rot1);
    const p1 = (g.dist * Math.tan(g.rot2)) / Math.cos(g.rot1);
    expect(tthAt(g, (g.poni1 + p1) / g.pixel1, (g.poni2 + p2) / g.pixel2)).toBeCloseTo(0, 9);
  });

  it('the ring overlay marks the pixels a q ring crosses', () => {
    const rows = 120;
    const cols = 160;
    const map = buildBinMap(GEOM, rows, cols, { bins: 10 });
    const q = (map.edges[3] as number) + 0.01;
    const ov = ringOverlay(GEOM, rows, cols, [q]);
    const marked = ov.reduce((s, v) => s + v, 0);
    expect(marked).toBeGreaterThan(20);
    expect(marked).toBeLessThan(rows * cols / 10);
  });
});

describe('azimuthal-integrate CPU twin', () => {
  for (const c of CASES) {
    it(`${c.name}: within count·quantum/2 of f64 sums`, () => {
      const r = azimuthalIntegrateCpu(c.params);
      const ref = reference(c.params);
      expect(Array.from(r.count)).toEqual(Array.from(ref.count));
      for (let b = 0; b < c.params.bins; b++) {
        const n = ref.count[b] as number;
        expect(Math.abs((r.signal[b] as number) - (ref.signal[b] as number))).toBeLessThanOrEqual(n * r.quantum[0] * 0.5 + 1e-12 * Math.abs(ref.signal[b] as number));
        expect(Math.abs((r.variance[b] as number) - (ref.variance[b] as number))).toBeLessThanOrEqual(n * r.quantum[1] * 0.5 + 1e-12 * Math.abs(ref.variance[b] as number));
        expect(Math.abs((r.norm[b] as number) - (ref.norm[b] as number))).toBeLessThanOrEqual(n * r.quantum[2] * 0.5 + 1e-12 * Math.abs(ref.norm[b] as number));
      }
    });
  }

  it('I = Σsignal/Σnorm, σ = √Σvariance/Σnorm', () => {
    const r = azimuthalIntegrateCpu({ image: new Float32Array([4, 8]), binIndex: new Int32Array([0, 0]), norm: new Float32Array([1, 3]), bins: 1 });
    const { intensity, sigma } = finishIntegration(r);
    expect(intensity[0]).toBeCloseTo(3, 9);
    expect(sigma[0]).toBeCloseTo(Math.sqrt(12) / 4, 9);
  });
});

describe.skipIf(gpuTestsDisabled())('azimuthal-integrate GPU = CPU', () => {
  let ctx: GpuContext;
  beforeAll(async () => {
    ctx = await openTestGpu();
  });
  afterAll(() => ctx?.destroy());

  for (const c of CASES) {
    it(`${c.name}: identical sums`, async () => {
      const cpu = azimuthalIntegrateCpu(c.params);
      const gpu = await azimuthalIntegrateGpu(ctx, c.params);
      expect(Array.from(gpu.count)).toEqual(Array.from(cpu.count));
      expect(Array.from(gpu.signal)).toEqual(Array.from(cpu.signal));
      expect(Array.from(gpu.variance)).toEqual(Array.from(cpu.variance));
      expect(Array.from(gpu.norm)).toEqual(Array.from(cpu.norm));
      const again = await azimuthalIntegrateGpu(ctx, c.params);
      expect(Array.from(again.signal)).toEqual(Array.from(gpu.signal));
    });
  }
});
