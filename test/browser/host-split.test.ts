/**
 * The host split for the browser, checked in Node: the core takes its settings
 * as options (the Node side reads DIFFRACT_GPU_DEBUG, DIFFRACT_GPU_MEMORY_MB,
 * DIFFRACT_DAWN_FLAGS and DIFFRACT_BACKEND), `GpuContext.create` still opens a
 * Dawn device under Node, and `GpuContext.wrap` adopts a device someone else
 * made — here a Dawn device, as a page would hand over its navigator.gpu one.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeviceLostError, UsageError } from '../../src/errors.ts';
import { adapterName, describeAdapter, GpuContext, MIB } from '../../src/host/context.ts';
import { Engine } from '../../src/host/engine.ts';
import { contextOptionsFromEnv, dawnFlags, requestNodeAdapter } from '../../src/host/node-gpu.ts';
import { browserGpu, hostEnvironment, isNodeRuntime, loadNodeHost } from '../../src/host/platform.ts';
import { azimuthalIntegrateCpu, azimuthalIntegrateGpu, type AzimuthalIntegrateParams } from '../../src/kernels/azimuthal-integrate.ts';
import { hklMapCpu, hklMapGpu, type HklMapParams } from '../../src/kernels/hkl-map.ts';
import { mulberry32 } from '../../src/util/random.ts';
import { gpuTestsDisabled } from '../helpers/gpu.ts';

function bits(a: ArrayBufferView): Buffer {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

describe('Node side: environment → options', () => {
  it('fills debug and the memory budget from the environment; explicit options win', () => {
    const env = { DIFFRACT_GPU_DEBUG: '1', DIFFRACT_GPU_MEMORY_MB: '512' };
    expect(contextOptionsFromEnv({}, env)).toEqual({ debug: true, memoryBudgetBytes: 512 * MIB });
    expect(contextOptionsFromEnv({ debug: false, memoryBudgetBytes: 3 * MIB }, env)).toEqual({ debug: false, memoryBudgetBytes: 3 * MIB });
    expect(contextOptionsFromEnv({}, { DIFFRACT_GPU_DEBUG: '0' })).toEqual({ debug: false });
    expect(contextOptionsFromEnv({}, {})).toEqual({});
  });

  it('refuses a memory budget that is not a positive finite number, naming the variable', () => {
    for (const v of ['abc', '-5', '0', 'Infinity', 'NaN']) {
      expect(() => contextOptionsFromEnv({}, { DIFFRACT_GPU_MEMORY_MB: v })).toThrow(UsageError);
      expect(() => contextOptionsFromEnv({}, { DIFFRACT_GPU_MEMORY_MB: v })).toThrow(/field 'DIFFRACT_GPU_MEMORY_MB'/);
    }
  });

  it('splits DIFFRACT_DAWN_FLAGS at blanks', () => {
    expect(dawnFlags({ DIFFRACT_DAWN_FLAGS: '  enable_immediate_error_handling  use_dxc ' })).toEqual(['enable_immediate_error_handling', 'use_dxc']);
    expect(dawnFlags({})).toEqual([]);
  });

  it('under Node: no navigator.gpu (h5wasm stays safe), the environment comes from the Node side', async () => {
    expect(isNodeRuntime()).toBe(true);
    expect(browserGpu()).toBeNull();
    expect(await hostEnvironment()).toBe(process.env);
    const host = await loadNodeHost();
    expect(typeof host.createNodeContext).toBe('function');
    expect(await loadNodeHost()).toBe(host);
  });

  it('Engine.create reads DIFFRACT_BACKEND from the environment it is given', async () => {
    const e = await Engine.create({ backend: 'gpu', env: { DIFFRACT_BACKEND: 'cpu' } });
    expect(e.backend).toBe('cpu');
    expect(e.choice).toBe('cpu');
  });
});

describe.skipIf(gpuTestsDisabled())('GpuContext on Dawn: create from the environment, wrap a given device', () => {
  let adapter: GPUAdapter;
  let device: GPUDevice;
  const toDestroy: Array<{ destroy(): void }> = [];
  const hkl: HklMapParams = (() => {
    const u = mulberry32(21);
    return { vectors: Float32Array.from({ length: 3 * 3001 }, () => (u() - 0.5) * 1.5), matrices: Float64Array.from({ length: 9 * 4 }, () => (u() - 0.5) * 80) };
  })();
  const az: AzimuthalIntegrateParams = (() => {
    const u = mulberry32(22);
    const n = 20_000;
    return {
      image: Float32Array.from({ length: n }, () => (u() < 0.03 ? -1 : Math.fround(u() * 500))),
      binIndex: Int32Array.from({ length: n }, () => Math.floor(u() * 101) - 1),
      norm: Float32Array.from({ length: n }, () => Math.fround(0.5 + u())),
      bins: 100,
    };
  })();

  beforeAll(async () => {
    const a = await requestNodeAdapter({});
    if (a === null) throw new Error('no Dawn adapter: install a Vulkan driver (bash .ci/setup-vulkan.sh) or set DIFFRACT_SKIP_GPU_TESTS=1 outside CI');
    adapter = a;
    device = await adapter.requestDevice({ label: 'given device', requiredLimits: { maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize } });
    toDestroy.push(device);
  });
  afterAll(() => toDestroy.forEach((x) => x.destroy()));

  it('create() takes the budget and debug flag from the env option, through the Node side', async () => {
    const ctx = await GpuContext.create({ env: { DIFFRACT_GPU_MEMORY_MB: '64', DIFFRACT_GPU_DEBUG: '1' } });
    toDestroy.push(ctx);
    expect(ctx.memoryBudgetBytes).toBe(64 * MIB);
    expect(ctx.debug).toBe(true);
    const plain = await GpuContext.create({ env: {} });
    toDestroy.push(plain);
    expect(plain.memoryBudgetBytes).toBe(4096 * MIB);
    expect(plain.debug).toBe(false);
    await expect(GpuContext.create({ env: { DIFFRACT_GPU_MEMORY_MB: 'lots' } })).rejects.toThrow(/DIFFRACT_GPU_MEMORY_MB/);
    const e = await Engine.create({ backend: 'gpu', env: { DIFFRACT_GPU_MEMORY_MB: '32' } });
    toDestroy.push(e);
    expect(e.gpu?.memoryBudgetBytes).toBe(32 * MIB);
  });

  it('wrap() takes the limits the device was granted and the adapter name from the device', () => {
    const ctx = GpuContext.wrap(device, { memoryBudgetBytes: 256 * MIB });
    expect(ctx.name).toBe(adapterName(describeAdapter(adapter)));
    expect(ctx.limits.maxStorageBufferBindingSize).toBe(device.limits.maxStorageBufferBindingSize);
    expect(ctx.limits.maxBufferSize).toBe(device.limits.maxBufferSize);
    expect(ctx.limits.maxComputeWorkgroupsPerDimension).toBe(device.limits.maxComputeWorkgroupsPerDimension);
    expect(ctx.memoryBudgetBytes).toBe(256 * MIB);
    expect(ctx.debug).toBe(false);
    expect(GpuContext.wrap(device, { adapter: { vendor: 'v', architecture: 'a', device: '', description: '' } }).name).toBe('v a');
    expect(() => GpuContext.wrap(device, { memoryBudgetBytes: Number.NaN })).toThrow(/field 'memoryBudgetBytes'/);
    ctx.destroy();
  });

  it('kernels on a wrapped device: azimuthal words equal the twin, hkl bits equal the twin', async () => {
    const ctx = GpuContext.wrap(device, { adapter, debug: true });
    const a = await azimuthalIntegrateGpu(ctx, az);
    const twin = azimuthalIntegrateCpu(az);
    expect(twin.count.reduce((s, v) => s + v, 0)).toBeGreaterThan(15_000);
    for (const k of ['signal', 'variance', 'norm', 'count'] as const) expect(bits(a[k]).equals(bits(twin[k])), k).toBe(true);
    const h = (await hklMapGpu(ctx, hkl)).hkl;
    expect(bits(h).equals(bits(hklMapCpu(hkl).hkl))).toBe(true);
    expect(ctx.poolStats().buffers).toBe(0);
    ctx.destroy();
  });

  it('destroying a wrapping context leaves the device to its owner; destroyDevice hands it over', async () => {
    const ctx = GpuContext.wrap(device);
    ctx.buffer('scratch', 1024);
    ctx.destroy();
    expect(ctx.isDestroyed).toBe(true);
    expect(() => ctx.ensureAlive('hkl-map')).toThrow(DeviceLostError);
    // the device still works
    const buf = device.createBuffer({ size: 16, usage: GPUBufferUsage.COPY_DST | GPUBufferUsage.MAP_READ });
    device.queue.writeBuffer(buf, 0, new Uint32Array([4, 3, 2, 1]));
    await buf.mapAsync(GPUMapMode.READ);
    expect(Array.from(new Uint32Array(buf.getMappedRange()))).toEqual([4, 3, 2, 1]);
    buf.unmap();
    buf.destroy();

    const second = await requestNodeAdapter({});
    if (second === null) throw new Error('no second adapter');
    const own = await second.requestDevice({ label: 'handed over' });
    const owner = GpuContext.wrap(own, { destroyDevice: true });
    owner.destroy();
    const lost = await own.lost;
    expect(lost.reason).toBe('destroyed');
    expect(owner.isLost).toBe(false); // destroyed by its owner, not lost
  });
});
