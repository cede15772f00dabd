/** `diffract demo` end to end through the CLI: simulate, read back, map on each backend, recover Bragg positions. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { DemoSummary } from '../../src/cli/commands/demo.ts';
import { gpuTestsDisabled } from '../helpers/gpu.ts';
import { runCli } from '../helpers/cli.ts';

const BACKENDS: Array<'cpu' | 'gpu'> = gpuTestsDisabled() ? ['cpu'] : ['cpu', 'gpu'];

describe('diffract demo', () => {
  const results = new Map<string, DemoSummary>();
  for (const backend of BACKENDS) {
    it(`runs on ${backend} and maps the simulated Bragg peaks to integer hkl`, async () => {
      const out = mkdtempSync(join(tmpdir(), `diffract-demo-${backend}-`));
      const r = await runCli(['demo', '--out', out, '--json', '--backend', backend, '--quiet']);
      expect(r.code, r.stderr).toBe(0);
      const s = JSON.parse(r.stdout) as DemoSummary;
      console.log(`[demo ${backend}] ${s.frames} frames on ${s.device}: strongest pixels on integer hkl ${(100 * s.strongNearInteger).toFixed(1)}% vs all ${(100 * s.allNearInteger).toFixed(1)}%`);
      expect(s.backend).toBe(backend);
      expect(s.frames).toBeGreaterThan(10);
      expect(s.strongNearInteger).toBeGreaterThan(0.6);
      expect(s.allNearInteger).toBeLessThan(0.03);
      results.set(backend, s);
    });
  }
  it.runIf(BACKENDS.length === 2)('both backends give the same figures', () => {
    const a = results.get('cpu');
    const b = results.get('gpu');
    expect(a && b).toBeTruthy();
    expect(Math.abs((a?.strongNearInteger ?? 0) - (b?.strongNearInteger ?? 1))).toBeLessThan(0.005);
    expect(Math.abs((a?.allNearInteger ?? 0) - (b?.allNearInteger ?? 1))).toBeLessThan(0.001);
  });
});
