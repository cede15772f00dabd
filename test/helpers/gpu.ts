/**
 * The GPU side of the test suite. Every kernel test opens a real device here.
 * With no adapter the suite FAILS (it does not skip), in CI and locally: install
 * Mesa's lavapipe (see .ci/setup-vulkan.sh). Outside CI, DIFFRACT_SKIP_GPU_TESTS=1
 * turns the GPU halves of the case tables off explicitly; with CI=true that
 * variable is refused.
 */
import { GpuContext } from '../../src/host/context.ts';

export function gpuTestsDisabled(): boolean {
  const optOut = process.env.DIFFRACT_SKIP_GPU_TESTS === '1';
  if (optOut && process.env.CI === 'true') {
    throw new Error('DIFFRACT_SKIP_GPU_TESTS=1 is not allowed with CI=true: the GPU suite must run in CI');
  }
  return optOut;
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
        'Install a Vulkan driver (CPU: bash .ci/setup-vulkan.sh for Mesa lavapipe), or outside CI set DIFFRACT_SKIP_GPU_TESTS=1.',
    );
  }
  if (!announced.has(ctx.name)) {
    announced.add(ctx.name);
    console.log(`[gpu] adapter: ${ctx.name} (vendor ${ctx.adapter.vendor}, maxStorageBufferBindingSize ${ctx.limits.maxStorageBufferBindingSize})`);
  }
  return ctx;
}
