/**
 * The output folder is made ready before any work (issue 13: `output: /proc/x`
 * spun at 100 % CPU forever inside Node's recursive mkdir).
 */
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FileAccessError } from '../../src/errors.ts';
import { prepareOutputFolder } from '../../src/run/output-folder.ts';
import { runCli } from '../helpers/cli.ts';

const root = mkdtempSync(join(tmpdir(), 'diffract-outdir-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function refusal(dir: string): FileAccessError {
  try {
    prepareOutputFolder(dir);
  } catch (err) {
    expect(err).toBeInstanceOf(FileAccessError);
    return err as FileAccessError;
  }
  throw new Error(`expected ${dir} to be refused`);
}

describe('prepareOutputFolder', () => {
  it('creates missing folders and leaves no probe file behind', () => {
    const dir = join(root, 'a', 'b', 'c');
    prepareOutputFolder(dir);
    expect(existsSync(dir)).toBe(true);
    expect(readdirSync(dir)).toEqual([]);
    prepareOutputFolder(dir); // an existing folder is fine
    expect(readdirSync(dir)).toEqual([]);
  });

  it('refuses /proc and /sys, naming the output key, in one line', () => {
    for (const dir of ['/proc/x', '/proc/x/y/z', '/sys/x']) {
      const e = refusal(dir);
      expect(e.field).toBe('output');
      expect(e.file).toBe(dir);
      expect(e.message).toMatch(/(proc|sysfs) file system/);
      expect(e.message.split('\n')).toHaveLength(1);
      expect(existsSync(dir)).toBe(false);
    }
  });

  it('refuses a path through a regular file', () => {
    const file = join(root, 'plain.txt');
    writeFileSync(file, 'x');
    const e = refusal(join(file, 'out'));
    expect(e.field).toBe('output');
    expect(e.message).toContain('ENOTDIR');
    expect(refusal(file).message).toContain('is not a folder');
  });
});

describe('diffract run with an unusable output folder', () => {
  it('output: /proc/x is one error line naming the key, before any work', async () => {
    const dir = join(root, 'cli');
    prepareOutputFolder(dir);
    // the .expt does not exist: the output folder is checked before the sweeps are imported
    writeFileSync(join(dir, 'run.yaml'), 'output: /proc/x\nsweeps:\n  - expt: nothing.expt\n');
    const r = await runCli(['run', 'run.yaml', '--backend', 'cpu'], { cwd: dir });
    expect(r.code).toBe(1);
    const lines = r.stderr.trim().split('\n');
    expect(lines, r.stderr).toHaveLength(1);
    expect(lines[0]).toMatch(/^diffract: error: \/proc\/x, field 'output': cannot use the output folder: .*proc file system/);
  }, 60_000);
});
