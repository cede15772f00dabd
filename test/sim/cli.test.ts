/** `diffract simulate` through the real command line. */
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.ts';

const root = mkdtempSync(join(tmpdir(), 'diffract-simcli-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('diffract simulate', () => {
  it('writes the series and prints a JSON summary', async () => {
    const out = join(root, 'ok');
    const r = await runCli(['simulate', '--out', out, '--frames', '3', '--seed', '4', '--progress-every', '2', '--json']);
    expect(r.stderr).not.toMatch(/error/);
    expect(r.code).toBe(0);
    const summary = JSON.parse(r.stdout) as { frames: number; width: number; height: number; expt: string; truth: string; frameSha256: string[] };
    expect(summary.frames).toBe(3);
    expect([summary.width, summary.height]).toEqual([397, 397]);
    expect(summary.frameSha256).toHaveLength(3);
    expect(existsSync(summary.expt)).toBe(true);
    expect(existsSync(summary.truth)).toBe(true);
    expect(readdirSync(out).filter((f) => f.endsWith('.cbf'))).toHaveLength(3);
    // progress lines on stderr: after frames 2 and 3
    expect(r.stderr).toMatch(/simulate: 2\/3 frames/);
    expect(r.stderr).toMatch(/simulate: 3\/3 frames/);
  });

  for (const bad of [
    ['--frames', '-3'],
    ['--frames', '0'],
    ['--frames', 'many'],
    ['--size', 'huge'],
    ['--seed', '-1'],
  ]) {
    it(`refuses ${bad.join(' ')} with one line and no stack trace`, async () => {
      const out = join(root, `bad${bad.join('')}`);
      const r = await runCli(['simulate', '--out', out, ...bad]);
      expect(r.code).toBe(1);
      expect(r.stdout).toBe('');
      const lines = r.stderr.trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/^diffract: error: /);
      expect(r.stderr).not.toMatch(/\n\s+at /);
      expect(existsSync(join(out, 'truth.json'))).toBe(false);
    });
  }
});
