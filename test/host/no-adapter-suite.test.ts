/**
 * `npm test` on a machine without a GPU adapter (a fresh clone, no Vulkan
 * driver): the suite's global setup (test/helpers/gpu-probe.ts) finds no
 * adapter, skips the GPU half with ONE notice saying how to run it, and the
 * run passes; with CI=true the same missing adapter fails the run. Runs vitest
 * itself in a child process on one small GPU test file, with the Vulkan
 * loader pointed at a driver manifest that does not exist.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../helpers/paths.ts';

const GPU_FILE = 'test/kernels/map-series.test.ts';

function vitestWithoutAdapter(ci: boolean): Promise<{ code: number; out: string }> {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    // this run's own vitest settings and the switches the probe reads stay out
    if (/^(VITEST|VITE_|CI$|DIFFRACT_SKIP_GPU_TESTS$|DIFFRACT_BACKEND$|NODE_OPTIONS$)/.test(k)) continue;
    env[k] = v;
  }
  env.VK_ICD_FILENAMES = '/nonexistent/icd.json';
  env.VK_DRIVER_FILES = '/nonexistent/icd.json';
  env.NO_COLOR = '1';
  if (ci) env.CI = 'true';
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [join(REPO_ROOT, 'node_modules', 'vitest', 'vitest.mjs'), 'run', GPU_FILE], { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolvePromise({ code: code ?? -1, out }));
  });
}

describe('the test suite on a machine with no GPU adapter', () => {
  it('outside CI: one notice naming .ci/setup-vulkan.sh, the GPU tests skipped, exit 0', async () => {
    const r = await vitestWithoutAdapter(false);
    expect(r.code, r.out).toBe(0);
    expect(r.out.match(/GPU TESTS SKIPPED/g), r.out).toHaveLength(1);
    expect(r.out).toMatch(/! To run them: a GPU with its Vulkan driver, or Mesa lavapipe on the CPU\n! \(bash \.ci\/setup-vulkan\.sh\)/);
    expect(r.out).toMatch(/Tests\s+1 skipped/);
    expect(r.out).not.toMatch(/failed/i);
  }, 180_000);

  it('with CI=true: no notice, and the missing adapter fails the run', async () => {
    const r = await vitestWithoutAdapter(true);
    expect(r.code, r.out).toBe(1);
    expect(r.out).not.toMatch(/GPU TESTS SKIPPED/);
    expect(r.out).toMatch(/Tests\s+1 failed/);
  }, 180_000);
});
