/**
 * The GPU side of the test suite. Every kernel test opens a real device here.
 *
 * - CI=true: nothing skips. With no adapter the GPU tests FAIL (CI installs
 *   Mesa's lavapipe: .ci/setup-vulkan.sh), and DIFFRACT_SKIP_GPU_TESTS is refused.
 * - Otherwise, on a machine with no adapter (a fresh clone without a Vulkan
 *   driver) the GPU halves of the case tables are skipped, with one notice for
 *   the whole run (test/helpers/gpu-probe.ts, the suite's global setup);
 *   DIFFRACT_SKIP_GPU_TESTS=1 skips them explicitly.
 */
import { inject } from 'vitest';
import { GpuContext } from '../../src/host/context.ts';

export function gpuTestsDisabled(): boolean {
  const inCi = process.env.CI === 'true';
  if (process.env.DIFFRACT_SKIP_GPU_TESTS === '1' && inCi) {
    throw new Error('DIFFRACT_SKIP_GPU_TESTS=1 is not allowed with CI=true: the GPU suite must run in CI');
  }
  return !inCi && inject('gpuAdapter') === null;
}

const announced = new Set<string>();

/** Opens a device for a test file; throws (fails the suite) when there is no adapter. */
export async function openTestGpu(debug = true): Promise<GpuContext> {
  let ctx: GpuContext;
  try {
    ctx = await GpuContext.create({ debug });
  } catch (err) {
    throw new Error(
      `GPU tests need a WebGPU adapter and found none (${err instanceof Error ? err.message : String(err)}). ` +
        'Install a Vulkan driver (CPU: bash .ci/setup-vulkan.sh for Mesa lavapipe); outside CI the GPU tests are skipped when there is no adapter.',
    );
  }
  if (!announced.has(ctx.name)) {
    announced.add(ctx.name);
    console.log(`[gpu] adapter: ${ctx.name} (vendor ${ctx.adapter.vendor}, maxStorageBufferBindingSize ${ctx.limits.maxStorageBufferBindingSize})`);
  }
  return ctx;
}
