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

  it('--stills writes a serial dataset and prints a JSON summary', async () => {
    const out = join(root, 'stills');
    const r = await runCli(['simulate', '--stills', '--out', out, '--shots', '3', '--size', '64', '--seed', '5', '--progress-every', '2', '--json']);
    expect(r.stderr).not.toMatch(/error/);
    expect(r.code).toBe(0);
    const summary = JSON.parse(r.stdout) as { shots: number; width: number; height: number; expt: string; refl: string; pulseCsv: string; truth: string; shotSha256: string[] };
    expect(summary.shots).toBe(3);
    expect([summary.width, summary.height]).toEqual([64, 64]);
    expect(summary.shotSha256).toHaveLength(3);
    for (const f of [summary.expt, summary.refl, summary.pulseCsv, summary.truth]) expect(existsSync(f)).toBe(true);
    expect(readdirSync(out).filter((f) => f.endsWith('.cbf'))).toHaveLength(3);
    expect(r.stderr).toMatch(/simulate: 2\/3 shots/);
    expect(r.stderr).toMatch(/simulate: 3\/3 shots/);
  });

  for (const bad of [
    ['--stills', '--shots', '0'],
    ['--stills', '--size', '65'],
    ['--stills', '--size', 'medium'],
    ['--stills', '--frames', '3'],
    ['--shots', '3'],
  ]) {
    it(`refuses ${bad.join(' ')} with one line`, async () => {
      const out = join(root, `bad${bad.join('')}`);
      const r = await runCli(['simulate', '--out', out, ...bad]);
      expect(r.code).toBe(1);
      const lines = r.stderr.trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/^diffract: error: .*(--shots|--size|--frames)/);
      expect(existsSync(join(out, 'truth.json'))).toBe(false);
    });
  }
});
