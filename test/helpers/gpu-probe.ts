/**
 * vitest global setup: asks once, in a child process, whether this machine has
 * a WebGPU adapter (`diffract info --json`), and hands the answer to every test
 * file (`inject('gpuAdapter')`, read by test/helpers/gpu.ts).
 *
 * With no adapter and CI unset, the GPU half of the suite is skipped and this
 * prints ONE notice saying how to run it. With CI=true nothing is skipped: the
 * GPU tests then fail on the missing adapter.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { REPO_ROOT } from './paths.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    /** the adapter's name, or null when the machine has none */
    gpuAdapter: string | null;
  }
}

function probeAdapter(): { name: string | null; why: string } {
  try {
    const out = execFileSync(process.execPath, [join(REPO_ROOT, 'bin', 'diffract.js'), 'info', '--json', '--backend', 'auto'], {
      cwd: REPO_ROOT,
      env: { ...process.env, DIFFRACT_BACKEND: '' },
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
      timeout: 60_000,
    });
    const info = JSON.parse(out) as { adapter: { description?: string; vendor?: string } | null; reason?: string };
    if (info.adapter === null) return { name: null, why: info.reason ?? 'no adapter' };
    return { name: info.adapter.description || info.adapter.vendor || 'unnamed adapter', why: '' };
  } catch (err) {
    return { name: null, why: `the adapter probe failed: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}` };
  }
}

export function setup(project: TestProject): void {
  const optOut = process.env.DIFFRACT_SKIP_GPU_TESTS === '1';
  const probe = optOut ? { name: null, why: 'DIFFRACT_SKIP_GPU_TESTS=1' } : probeAdapter();
  project.provide('gpuAdapter', probe.name);
  if (probe.name === null && process.env.CI !== 'true') {
    const bar = '!'.repeat(78);
    process.stderr.write(
      `\n${bar}\n! GPU TESTS SKIPPED: ${probe.why}.\n` +
        '! The WGSL kernels were NOT run; only their CPU twins were tested.\n' +
        '! To run them: a GPU with its Vulkan driver, or Mesa lavapipe on the CPU\n' +
        '! (bash .ci/setup-vulkan.sh). With CI=true a missing adapter fails the run.\n' +
        `${bar}\n\n`,
    );
  }
}
