import { defineConfig } from 'vitest/config';

// GPU tests create a Dawn device; dawn.node busy-polls a core while one lives,
// so test files run in separate forked processes and each GPU suite destroys
// its device in afterAll.
export const config = defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/helpers/gpu-probe.ts'],
    pool: 'forks',
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
    testTimeout: 120_000,
    hookTimeout: 120_000,
    reporters: ['default'],
  },
});
// vitest loads the default export of its config file; the project otherwise uses named exports only.
export { config as default };
