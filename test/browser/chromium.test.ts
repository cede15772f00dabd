/**
 * The `./browser` entry in a real browser: esbuild bundles src/browser.ts (ESM),
 * a tiny http server on 127.0.0.1 serves it (WebGPU needs a secure context:
 * http://127.0.0.1 is one, about:blank and setContent pages are not), and
 * Debian's headless Chromium, driven by playwright-core, requests an adapter
 * and a device from `navigator.gpu`, wraps the device (`GpuContext.wrap`) and
 * runs hkl-map and azimuthal-integrate on small cases built here, from real
 * l-cysteine geometry and a real Pilatus frame plus seeded synthetic data.
 * Inputs and results cross as the raw bytes (base64), so the comparison with
 * the CPU twins computed here in Node is bit for bit.
 *
 * Chromium flags: `--enable-unsafe-webgpu` turns WebGPU on in headless mode,
 * where it runs on Chromium's bundled SwiftShader (Vulkan on the CPU);
 * `--use-webgpu-adapter=swiftshader` pins that adapter, so a machine with a
 * GPU gives the same numbers. `--enable-features=Vulkan` is not needed.
 *
 * What is bit-identical (checked on SwiftShader, Chromium 156):
 * - azimuthal-integrate: every word equals the CPU twin's (fixed-point integer
 *   sums, as on Dawn/lavapipe).
 * - hkl-map: every value equals the CPU twin's bits. The twin is the kernel's
 *   f32 arithmetic written out (matrices rounded to f32, products and sums each
 *   rounded, left to right, no fused multiply-add), which SwiftShader and
 *   lavapipe both follow exactly.
 *
 * Needs /usr/bin/chromium (bash .ci/setup-browser.sh; DIFFRACT_CHROMIUM names
 * another binary). Without it the suite is skipped with a notice, except with
 * CI=true, where it fails.
 */
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { build } from 'esbuild';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readExperimentList } from '../../src/geometry/expt.ts';
import { panelPixelVectors } from '../../src/geometry/pixel-vectors.ts';
import { hklMatrixAt } from '../../src/geometry/setting.ts';
import { readCbf } from '../../src/io/cbf.ts';
import type { PoniGeometry } from '../../src/io/poni.ts';
import { azimuthalIntegrateCpu, type AzimuthalIntegrateParams, type AzimuthalIntegrateResult } from '../../src/kernels/azimuthal-integrate.ts';
import { hklMapCpu, type HklMapParams } from '../../src/kernels/hkl-map.ts';
import { buildBinMap } from '../../src/photon/geometry.ts';
import { mulberry32 } from '../../src/util/random.ts';
import { REPO_ROOT, sharedData } from '../helpers/paths.ts';

const CHROMIUM = process.env.DIFFRACT_CHROMIUM ?? '/usr/bin/chromium';
const HAVE_CHROMIUM = existsSync(CHROMIUM);
const IN_CI = process.env.CI === 'true';
/** WebGPU on SwiftShader, headless, on a machine with a closed network. */
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--enable-unsafe-webgpu',
  '--use-webgpu-adapter=swiftshader',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

if (!HAVE_CHROMIUM && !IN_CI) {
  console.warn(
    `\n*** SKIPPED test/browser/chromium.test.ts: no Chromium at ${CHROMIUM}. ` +
      'Install it with `bash .ci/setup-browser.sh` (with CI=true this test fails instead of skipping). ***\n',
  );
}

// ---- bytes across the page boundary ---------------------------------------------------------

type Wire = string; // base64 of the raw bytes

function toWire(a: ArrayBufferView): Wire {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('base64');
}
function bytesOf(w: Wire): Buffer {
  const b = Buffer.from(w, 'base64');
  return Buffer.from(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength)); // own, aligned copy
}
function f32Of(w: Wire): Float32Array {
  const b = bytesOf(w);
  return new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4);
}
/** Indices of the `size`-byte elements whose bytes differ (lengths must match). */
function differingElements(got: Buffer, want: ArrayBufferView, size: number): number[] {
  const w = Buffer.from(want.buffer, want.byteOffset, want.byteLength);
  expect(got.length).toBe(w.length);
  const out: number[] = [];
  for (let i = 0; i < w.length; i += size) if (!got.subarray(i, i + size).equals(w.subarray(i, i + size))) out.push(i / size);
  return out;
}
function u32Bits(a: ArrayBufferView): Uint32Array {
  return new Uint32Array(a.buffer, a.byteOffset, a.byteLength / 4);
}

// ---- cases ----------------------------------------------------------------------------------

interface HklWireCase {
  name: string;
  vectors: Wire;
  matrices: Wire; // f64
  matrixIndex?: Wire; // u32
}
interface AzWireCase {
  name: string;
  image: Wire;
  binIndex: Wire;
  norm: Wire;
  variance?: Wire;
  bins: number;
}
interface AzWireResult {
  signal: Wire;
  variance: Wire;
  norm: Wire;
  count: Wire;
  quantum: [number, number, number];
}
interface PageReport {
  adapterName: string;
  vendor: string;
  architecture: string;
  limits: { maxStorageBufferBindingSize: number; maxComputeWorkgroupsPerDimension: number };
  hkl: Record<string, Wire>;
  az: Record<string, AzWireResult>;
  engine: { backend: string; fellBack: boolean; deviceName: string; hkl: Wire };
  deviceUsableAfterDestroy: boolean;
  poolBuffersLeft: number;
  /** Engine.create() in the page: the browser branch of GpuContext.create (navigator.gpu) and no environment */
  created: { backend: string; deviceName: string; cpuBackend: string; autoBackend: string; hklBits: Wire };
}

async function hklCases(): Promise<Array<{ name: string; params: HklMapParams }>> {
  const list = await readExperimentList(sharedData('l-cysteine', '11_integrated.expt'));
  const exp = list.experiments[0];
  const panel = exp?.detector.panels[0];
  if (exp === undefined || panel === undefined) throw new Error('l-cysteine: no experiment');
  // every 211th pixel centre of the Pilatus 2M: ~29 500 scattering vectors over the whole detector
  const all = panelPixelVectors(panel, exp.beam);
  const step = 211;
  const n = Math.floor(all.length / 3 / step);
  const vectors = new Float32Array(3 * n);
  for (let i = 0; i < n; i++) vectors.set(all.subarray(3 * i * step, 3 * i * step + 3), 3 * i);
  const frames = [0.5, 4.5, 9.5].map((z) => hklMatrixAt(exp, z));
  const matrices = new Float64Array(9 * frames.length);
  frames.forEach((m, k) => matrices.set(m, 9 * k));
  const u = mulberry32(12);
  const pointMatrices = new Float64Array(9 * 7);
  for (let k = 0; k < 7; k++) pointMatrices.set(hklMatrixAt(exp, u() * 10), 9 * k);
  const rv = mulberry32(7);
  return [
    { name: 'l-cysteine pixels, grid of 3 frames', params: { vectors, matrices } },
    { name: 'l-cysteine pixels, points over 7 matrices', params: { vectors, matrices: pointMatrices, matrixIndex: Uint32Array.from({ length: n }, () => Math.floor(u() * 7)) } },
    {
      name: 'random 1257 vectors × 5 matrices (partial workgroup)',
      params: { vectors: Float32Array.from({ length: 3 * 1257 }, () => (rv() - 0.5) * 1.5), matrices: Float64Array.from({ length: 45 }, () => (rv() - 0.5) * 80) },
    },
  ];
}

/** pyFAI-style geometry for a 320×320 crop of a Pilatus 2M frame (PONI at the crop centre). */
const CROP = { row0: 1150, col0: 1300, rows: 320, cols: 320 };
const CROP_GEOM: PoniGeometry = { dist: 0.15, poni1: 160 * 172e-6, poni2: 160 * 172e-6, rot1: 0.02, rot2: -0.01, rot3: 0, wavelength: 0.6889e-10, pixel1: 172e-6, pixel2: 172e-6, detector: 'Pilatus2M' };

async function azCases(): Promise<Array<{ name: string; params: AzimuthalIntegrateParams }>> {
  const frame = await readCbf(sharedData('l-cysteine', 'images', 'l-cyst_01_00001.cbf'));
  const { row0, col0, rows, cols } = CROP;
  const image = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) image[r * cols + c] = frame.pixels[(row0 + r) * frame.width + col0 + c] as number;
  }
  const map = buildBinMap(CROP_GEOM, rows, cols, { bins: 150, polarizationFactor: 0.99 });
  const u = mulberry32(3);
  const sn = 257 * 301;
  const synthMap = buildBinMap({ ...CROP_GEOM, pixel1: 100e-6, pixel2: 100e-6 }, 257, 301, { bins: 400 });
  return [
    { name: 'Pilatus frame crop (gaps −1), Poisson variance, 150 q bins', params: { image, binIndex: map.binIndex, norm: map.normalization, bins: map.bins } },
    {
      name: 'random 257×301, explicit variance, 5% markers, 400 bins',
      params: {
        image: Float32Array.from({ length: sn }, () => (u() < 0.05 ? -Math.ceil(u() * 2) : Math.fround(u() * 1000))),
        binIndex: synthMap.binIndex,
        norm: Float32Array.from(synthMap.normalization, (v) => Math.fround(v * (1 + Math.floor(u() * 30)))),
        variance: Float32Array.from({ length: sn }, () => Math.fround(u() * 50)),
        bins: 400,
      },
    },
  ];
}

// ---- the page side (runs in Chromium; serialized by playwright, so self-contained) ---------------

type Diffract = typeof import('../../src/browser.ts');

async function runInPage(input: { hkl: HklWireCase[]; az: AzWireCase[] }): Promise<PageReport> {
  const d = (globalThis as unknown as { diffract: Diffract }).diffract;
  const bytes = (w: string): ArrayBuffer => Uint8Array.from(atob(w), (ch) => ch.charCodeAt(0)).buffer;
  const wire = (a: ArrayBufferView): string => {
    const u8 = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
    let s = '';
    for (let i = 0; i < u8.length; i += 0x8000) s += String.fromCharCode(...u8.subarray(i, i + 0x8000));
    return btoa(s);
  };
  const gpu = (globalThis as unknown as { navigator: { gpu?: GPU } }).navigator.gpu;
  if (gpu === undefined) throw new Error('navigator.gpu is missing: WebGPU is off (flags?) or the page is not a secure context');
  const adapter = await gpu.requestAdapter();
  if (adapter === null) throw new Error('navigator.gpu.requestAdapter() returned null');
  const device = await adapter.requestDevice({
    label: 'page device',
    requiredLimits: { maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize, maxBufferSize: adapter.limits.maxBufferSize },
  });
  const ctx = d.GpuContext.wrap(device, { adapter, debug: true });
  const hklParams = (c: HklWireCase): Parameters<typeof d.hklMapGpu>[1] => {
    const p: Parameters<typeof d.hklMapGpu>[1] = { vectors: new Float32Array(bytes(c.vectors)), matrices: new Float64Array(bytes(c.matrices)) };
    if (c.matrixIndex !== undefined) p.matrixIndex = new Uint32Array(bytes(c.matrixIndex));
    return p;
  };
  const hkl: Record<string, string> = {};
  for (const c of input.hkl) hkl[c.name] = wire((await d.hklMapGpu(ctx, hklParams(c))).hkl);
  const az: Record<string, AzWireResult> = {};
  for (const c of input.az) {
    const p: Parameters<typeof d.azimuthalIntegrateGpu>[1] = {
      image: new Float32Array(bytes(c.image)),
      binIndex: new Int32Array(bytes(c.binIndex)),
      norm: new Float32Array(bytes(c.norm)),
      bins: c.bins,
    };
    if (c.variance !== undefined) p.variance = new Float32Array(bytes(c.variance));
    const r = await d.azimuthalIntegrateGpu(ctx, p);
    az[c.name] = { signal: wire(r.signal), variance: wire(r.variance), norm: wire(r.norm), count: wire(r.count), quantum: r.quantum };
  }
  d.log('notice', `hello from the page on ${ctx.name}`); // no process here: log.ts writes to the console
  // the engine on the wrapped context: GPU path, no fall-back
  const engine = d.Engine.onContext(ctx);
  const first = input.hkl[0];
  if (first === undefined) throw new Error('no hkl case');
  const viaEngine = await engine.run(d.hklMapKernel, hklParams(first));
  const report: PageReport = {
    adapterName: ctx.name,
    vendor: ctx.adapter.vendor,
    architecture: ctx.adapter.architecture,
    limits: { maxStorageBufferBindingSize: ctx.limits.maxStorageBufferBindingSize, maxComputeWorkgroupsPerDimension: ctx.limits.maxComputeWorkgroupsPerDimension },
    hkl,
    az,
    engine: { backend: engine.backend, fellBack: engine.fellBackToCpu, deviceName: engine.deviceName, hkl: wire(viaEngine.hkl) },
    deviceUsableAfterDestroy: false,
    poolBuffersLeft: ctx.poolStats().buffers,
    created: { backend: '', deviceName: '', cpuBackend: '', autoBackend: '', hklBits: '' },
  };
  // destroying the context leaves the page's device alive: a round trip still works
  engine.destroy();
  const buf = device.createBuffer({ size: 16, usage: GPUBufferUsage.COPY_DST | GPUBufferUsage.MAP_READ });
  device.queue.writeBuffer(buf, 0, new Uint32Array([1, 2, 3, 4]));
  await buf.mapAsync(GPUMapMode.READ);
  report.deviceUsableAfterDestroy = new Uint32Array(buf.getMappedRange()).join(',') === '1,2,3,4';
  buf.unmap();
  device.destroy();
  // SwiftShader is a software adapter: auto passes it by for the CPU path, gpu uses it
  const auto = await d.Engine.create();
  const created = await d.Engine.create({ backend: 'gpu' });
  const cpuOnly = await d.Engine.create({ backend: 'cpu' });
  report.created = { backend: created.backend, deviceName: created.deviceName, cpuBackend: cpuOnly.backend, autoBackend: auto.backend, hklBits: wire((await created.run(d.hklMapKernel, hklParams(first))).hkl) };
  created.destroy();
  auto.destroy();
  return report;
}

// ---- the test -------------------------------------------------------------------------------

describe.skipIf(!HAVE_CHROMIUM && !IN_CI)('the ./browser entry in Chromium (WebGPU on SwiftShader)', () => {
  let server: Server | null = null;
  let browser: Browser | null = null;
  let page: Page;
  let report: PageReport;
  let hkl: Array<{ name: string; params: HklMapParams }>;
  let az: Array<{ name: string; params: AzimuthalIntegrateParams }>;
  const pageErrors: string[] = [];
  const consoleLines: string[] = [];
  const notFound: string[] = [];

  beforeAll(async () => {
    if (!HAVE_CHROMIUM) throw new Error(`Chromium not found at ${CHROMIUM}: install it with bash .ci/setup-browser.sh (with CI=true the browser test must run)`);
    const bundled = await build({
      entryPoints: [join(REPO_ROOT, 'src', 'browser.ts')],
      bundle: true,
      format: 'esm',
      platform: 'browser',
      target: 'es2022',
      write: false,
      logLevel: 'silent',
    });
    const js = bundled.outputFiles[0]?.text ?? '';
    expect(js.length).toBeGreaterThan(50_000);
    const html = '<!doctype html><meta charset="utf-8"><link rel="icon" href="data:,"><title>diffract</title><script type="module">import * as diffract from "/diffract.js"; globalThis.diffract = diffract; document.title = "ready";</script>';
    const srv = createServer((req, res) => {
      if (req.url === '/') {
        res.writeHead(200, { 'content-type': 'text/html' }).end(html);
      } else if (req.url === '/diffract.js') {
        res.writeHead(200, { 'content-type': 'text/javascript' }).end(js);
      } else {
        notFound.push(req.url ?? '?');
        res.writeHead(404).end();
      }
    });
    server = srv;
    await new Promise<void>((resolvePromise) => srv.listen(0, '127.0.0.1', resolvePromise));
    const base = `http://127.0.0.1:${(srv.address() as AddressInfo).port}/`;
    [hkl, az] = await Promise.all([hklCases(), azCases()]);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 30_000 });
    page = await browser.newPage();
    page.on('pageerror', (e) => pageErrors.push(e.message));
    page.on('console', (m) => consoleLines.push(`${m.type()}: ${m.text()}`));
    await page.goto(base);
    await page.waitForFunction("document.title === 'ready'", undefined, { timeout: 20_000 });
    const input = {
      hkl: hkl.map((c): HklWireCase => {
        const w: HklWireCase = { name: c.name, vectors: toWire(c.params.vectors), matrices: toWire(Float64Array.from(c.params.matrices)) };
        if (c.params.matrixIndex !== undefined) w.matrixIndex = toWire(c.params.matrixIndex);
        return w;
      }),
      az: az.map((c): AzWireCase => {
        const w: AzWireCase = { name: c.name, image: toWire(c.params.image), binIndex: toWire(c.params.binIndex), norm: toWire(c.params.norm), bins: c.params.bins };
        if (c.params.variance !== undefined) w.variance = toWire(c.params.variance);
        return w;
      }),
    };
    report = await page.evaluate(runInPage, input);
    console.log(`[browser] ${report.adapterName}: vendor ${report.vendor}, maxStorageBufferBindingSize ${report.limits.maxStorageBufferBindingSize}`);
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await new Promise<void>((r) => (server === null ? r() : server.close(() => r())));
  });

  it('wraps the page’s navigator.gpu device: SwiftShader, the device’s limits, no page errors', () => {
    expect(report.vendor).toBe('google');
    expect(report.adapterName).toMatch(/swiftshader/i);
    expect(report.limits.maxStorageBufferBindingSize).toBeGreaterThanOrEqual(128 * 1024 * 1024);
    expect(report.limits.maxComputeWorkgroupsPerDimension).toBeGreaterThanOrEqual(65535);
    expect(pageErrors).toEqual([]);
    expect(consoleLines.filter((l) => /^(error|warning):/.test(l))).toEqual([]);
    expect(consoleLines).toContain(`info: diffract: notice: hello from the page on ${report.adapterName}`);
    expect(notFound).toEqual([]);
    expect(report.poolBuffersLeft).toBe(0);
    expect(report.deviceUsableAfterDestroy).toBe(true);
  });

  it('azimuthal-integrate: every word bit-identical to the CPU twin', () => {
    expect(az.length).toBe(2);
    for (const c of az) {
      const twin: AzimuthalIntegrateResult = azimuthalIntegrateCpu(c.params);
      const got = report.az[c.name];
      if (got === undefined) throw new Error(`no browser result for ${c.name}`);
      const counted = twin.count.reduce((s, v) => s + v, 0);
      expect(counted, c.name).toBeGreaterThan(0.5 * c.params.image.length); // a real case, not an empty one
      expect(counted, c.name).toBeLessThan(c.params.image.length); // masked pixels (gaps, markers, out of range) left out
      expect(got.quantum, c.name).toEqual(twin.quantum);
      const differing = {
        count: differingElements(bytesOf(got.count), twin.count, 4),
        signal: differingElements(bytesOf(got.signal), twin.signal, 8),
        variance: differingElements(bytesOf(got.variance), twin.variance, 8),
        norm: differingElements(bytesOf(got.norm), twin.norm, 8),
      };
      expect(differing, `${c.name}: bins whose bits differ from the CPU twin`).toEqual({ count: [], signal: [], variance: [], norm: [] });
    }
  });

  it('hkl-map: bit-identical to the CPU twin', () => {
    expect(hkl.length).toBe(3);
    for (const c of hkl) {
      const wire = report.hkl[c.name];
      if (wire === undefined) throw new Error(`no browser result for ${c.name}`);
      const got = u32Bits(f32Of(wire));
      const twin = u32Bits(hklMapCpu(c.params).hkl);
      expect(got.length, c.name).toBe(twin.length);
      let differ = 0;
      for (let i = 0; i < got.length; i++) if (got[i] !== twin[i]) differ++;
      expect(differ, `${c.name}: values whose bits differ from the CPU twin`).toBe(0);
    }
  });

  it('Engine.onContext on the wrapped device runs the GPU path and gives the same bits', () => {
    expect(report.engine.backend).toBe('gpu');
    expect(report.engine.fellBack).toBe(false);
    expect(report.engine.deviceName).toBe(report.adapterName);
    const first = hkl[0];
    if (first === undefined) throw new Error('no hkl case');
    expect(report.engine.hkl).toBe(report.hkl[first.name]);
  });

  it('Engine.create() in the page opens its own navigator.gpu device (no environment there); auto passes SwiftShader by', () => {
    expect(report.created.backend).toBe('gpu');
    expect(report.created.autoBackend).toBe('cpu');
    expect(report.created.deviceName).toBe(report.adapterName);
    expect(report.created.cpuBackend).toBe('cpu');
    const first = hkl[0];
    if (first === undefined) throw new Error('no hkl case');
    expect(report.created.hklBits).toBe(report.hkl[first.name]);
  });
});
