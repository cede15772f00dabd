/**
 * Backend choice seen from the command line: no adapter → one notice and the
 * CPU path (auto) or an error (gpu); DIFFRACT_BACKEND overrides --backend.
 * "No adapter" is produced by asking Dawn for an adapter name that does not
 * exist (gpu), or by pointing the Vulkan loader at no driver (auto: a machine
 * whose only driver is a software one is answered before Dawn is asked, see
 * test/host/software-adapter.test.ts).
 */
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.ts';
import { sharedData } from '../helpers/paths.ts';

const NO_ADAPTER = { DIFFRACT_DAWN_FLAGS: 'adapter=no-such-adapter' };
const NO_DRIVER = { VK_DRIVER_FILES: '/nonexistent/diffract-test-icd.json' };
const XYZ = ['--xyz', '897.95,1021.27,0.64', '--xyz', '100.5,200.5,3.5', '--json'];

function notices(stderr: string): string[] {
  return stderr.split('\n').filter((l) => l.startsWith('diffract:'));
}

describe('backend choice on the command line', () => {
  it('auto without an adapter prints one notice and gives the CPU answer', async () => {
    const expt = sharedData('l-cysteine', '11_integrated.expt');
    const auto = await runCli(['hkl', expt, ...XYZ], { env: NO_DRIVER });
    expect(auto.code, auto.stderr).toBe(0);
    const lines = notices(auto.stderr);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/notice: no WebGPU adapter found.*running on the CPU path/);
    const cpu = await runCli(['hkl', expt, ...XYZ, '--backend', 'cpu']);
    expect(cpu.code).toBe(0);
    expect(JSON.parse(auto.stdout)).toEqual(JSON.parse(cpu.stdout));
  });

  it('--backend gpu without an adapter is an error', async () => {
    const r = await runCli(['hkl', sharedData('l-cysteine', '11_integrated.expt'), ...XYZ, '--backend', 'gpu'], { env: NO_ADAPTER });
    expect(r.code).toBe(1);
    expect(notices(r.stderr)).toEqual(['diffract: error: no WebGPU adapter found (no GPU driver or Vulkan ICD on this machine)']);
  });

  it('DIFFRACT_BACKEND overrides --backend, and info reports the choice', async () => {
    const r = await runCli(['info', '--backend', 'gpu', '--json'], { env: { DIFFRACT_BACKEND: 'cpu' } });
    expect(r.code, r.stderr).toBe(0);
    const info = JSON.parse(r.stdout) as { backendChoice: string; backend: string; adapter: unknown };
    expect(info).toMatchObject({ backendChoice: 'cpu', backend: 'cpu', adapter: null });
  });
});
