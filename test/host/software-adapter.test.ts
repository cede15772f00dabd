/**
 * `--backend auto` passes software adapters by (issue 14): lavapipe/llvmpipe,
 * SwiftShader and fallback adapters are slower than the CPU path, so auto runs
 * on the CPU with one notice, while `--backend gpu` still runs on them.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { softwareAdapterReason } from '../../src/host/adapter-kind.ts';
import { describeAdapter, refuseSoftwareAdapter } from '../../src/host/context.ts';
import { Engine } from '../../src/host/engine.ts';
import { requestNodeAdapter } from '../../src/host/node-gpu.ts';
import { softwareVulkanOnly } from '../../src/host/node-vulkan.ts';
import { resetLogOnce, setLogSink } from '../../src/util/log.ts';
import { runCli } from '../helpers/cli.ts';
import { gpuTestsDisabled } from '../helpers/gpu.ts';
import { sharedData } from '../helpers/paths.ts';

const hw = { vendor: 'nvidia', architecture: 'hopper', device: 'NVIDIA H100 80GB HBM3', description: 'NVIDIA: 550.54' };

describe('what counts as a software adapter', () => {
  it('names the field that gives it away', () => {
    expect(softwareAdapterReason(hw)).toBeNull();
    expect(softwareAdapterReason({ ...hw, architecture: 'Software' })).toBe('architecture software');
    expect(softwareAdapterReason({ vendor: 'mesa', architecture: '', device: 'llvmpipe-llvm-15', description: '' })).toBe('llvmpipe in its device');
    expect(softwareAdapterReason({ vendor: 'google', architecture: 'swiftshader', device: '', description: 'SwiftShader Device (Subzero)' })).toBe('swiftshader in its description');
    expect(softwareAdapterReason({ ...hw, description: 'lavapipe' })).toBe('lavapipe in its description');
    expect(softwareAdapterReason({ ...hw, fallback: true })).toBe('a fallback adapter');
    expect(softwareAdapterReason({ ...hw, fallback: false })).toBeNull();
  });
});

describe('software Vulkan drivers, from the ICD manifests (before Dawn loads)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'diffract-icd-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const manifest = (name: string, lib: string): string => {
    const p = join(dir, name);
    writeFileSync(p, JSON.stringify({ file_format_version: '1.0.0', ICD: { library_path: lib, api_version: '1.3.0' } }));
    return p;
  };
  const lvp = manifest('lvp_icd.json', 'libvulkan_lvp.so');
  const swift = manifest('vk_swiftshader_icd.json', './libvk_swiftshader.so');
  const nvidia = manifest('nvidia_icd.json', 'libGLX_nvidia.so.0');
  const withNode = (): boolean => true;
  const noNode = (): boolean => false;

  it('lavapipe or SwiftShader alone: software only, whatever the device nodes', () => {
    expect(softwareVulkanOnly({ VK_DRIVER_FILES: lvp }, withNode)).toBe('the only Vulkan drivers are software renderers (libvulkan_lvp.so)');
    expect(softwareVulkanOnly({ VK_ICD_FILENAMES: `${lvp}:${swift}` }, withNode)).toMatch(/software renderers \(libvulkan_lvp\.so, libvk_swiftshader\.so\)/);
  });
  it('a hardware driver beside it: software only when no GPU device node exists', () => {
    expect(softwareVulkanOnly({ VK_DRIVER_FILES: `${lvp}:${nvidia}` }, withNode)).toBeNull();
    expect(softwareVulkanOnly({ VK_DRIVER_FILES: `${lvp}:${nvidia}` }, noNode)).toMatch(/^no GPU device node.*libvulkan_lvp\.so/);
  });
  it('no software driver, or none at all: not decided here', () => {
    expect(softwareVulkanOnly({ VK_DRIVER_FILES: nvidia }, noNode)).toBeNull();
    expect(softwareVulkanOnly({ VK_DRIVER_FILES: join(dir, 'missing.json') }, noNode)).toBeNull();
  });

  it('auto on a lavapipe-only machine: one notice, the CPU answer, and no native lines on stderr', async () => {
    const expt = sharedData('l-cysteine', '11_integrated.expt');
    const xyz = ['--xyz', '897.95,1021.27,0.64', '--json'];
    const auto = await runCli(['hkl', expt, ...xyz], { env: { VK_DRIVER_FILES: lvp, DIFFRACT_BACKEND: '' } });
    expect(auto.code, auto.stderr).toBe(0);
    const lines = auto.stderr.split('\n').filter((l) => l.trim() !== '');
    expect(lines).toEqual([
      'diffract: notice: the only Vulkan drivers are software renderers (libvulkan_lvp.so), slower than the CPU path; --backend gpu uses them; running on the CPU path (backend auto)',
    ]);
    const cpu = await runCli(['hkl', expt, ...xyz, '--backend', 'cpu']);
    expect(JSON.parse(auto.stdout)).toEqual(JSON.parse(cpu.stdout));
  }, 60_000);
});

describe.skipIf(gpuTestsDisabled())('on this machine’s adapter', () => {
  it('refuses it under auto only when it is a software adapter; gpu uses it', async () => {
    const adapter = await requestNodeAdapter({});
    if (adapter === null) throw new Error('no adapter');
    const why = softwareAdapterReason(describeAdapter(adapter));
    if (why === null) expect(() => refuseSoftwareAdapter(adapter, true)).not.toThrow();
    else expect(() => refuseSoftwareAdapter(adapter, true)).toThrow(new RegExp(`software renderer \\(${why}\\).*--backend gpu uses it`));
    expect(() => refuseSoftwareAdapter(adapter, false)).not.toThrow();

    const lines: string[] = [];
    const prev = setLogSink({ write: (l) => lines.push(l) });
    resetLogOnce();
    const auto = await Engine.create({ backend: 'auto', env: process.env });
    const gpu = await Engine.create({ backend: 'gpu', env: process.env });
    try {
      expect(gpu.backend).toBe('gpu');
      expect(auto.backend).toBe(why === null ? 'gpu' : 'cpu');
      expect(auto.deviceName).toBe(why === null ? gpu.deviceName : 'CPU');
    } finally {
      auto.destroy();
      gpu.destroy();
      setLogSink(prev);
    }

    // diffract info says what the adapter is and what auto picks
    const info = await runCli(['info', '--json'], { env: { DIFFRACT_BACKEND: '' } });
    expect(info.code, info.stderr).toBe(0);
    const r = JSON.parse(info.stdout) as { backend: string; autoPicks: string; software: string | null; adapter: { description: string } | null };
    expect(r.adapter?.description).toBe(describeAdapter(adapter).description);
    expect(r.software).toBe(why);
    expect(r.autoPicks).toBe(why === null ? 'gpu' : 'cpu');
    expect(r.backend).toBe(r.autoPicks);
  }, 90_000);
});
