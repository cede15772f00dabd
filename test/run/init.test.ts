/**
 * `diffract init [FILE]`: writes the commented template, which the loader
 * accepts; refuses to overwrite an existing file unless --force.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadRunConfig } from '../../src/run/config.ts';
import { RUN_CONFIG_TEMPLATE } from '../../src/run/config-template.ts';
import { runInProcess } from '../helpers/cli.ts';

const root = mkdtempSync(join(tmpdir(), 'diffract-init-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('diffract init', () => {
  it('writes the template, which loads as a run config', async () => {
    const dir = join(root, 'a');
    mkdirSync(dir);
    const file = join(dir, 'lyso.yaml');
    const r = await runInProcess(['init', file]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain(`wrote ${file}`);
    expect(readFileSync(file, 'utf8')).toBe(RUN_CONFIG_TEMPLATE);
    // no temporary files left beside it
    expect(readdirSync(dir)).toEqual(['lyso.yaml']);
    const c = await loadRunConfig(file);
    expect(c.source).toBe(file);
    expect(c.sweeps).toHaveLength(1);
    expect(c.sweeps[0]?.expt).toBe(join(dir, 'indexed.expt'));
    expect(c.output).toBe(join(dir, 'diffract-out'));
  });

  it('refuses to overwrite an existing file, and overwrites it with --force', async () => {
    const file = join(root, 'mine.yaml');
    writeFileSync(file, 'sweeps:\n  - expt: my.expt\n');
    const r = await runInProcess(['init', file]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(file);
    expect(r.stderr).toContain('--force');
    expect(readFileSync(file, 'utf8')).toBe('sweeps:\n  - expt: my.expt\n');

    const f = await runInProcess(['init', file, '--force']);
    expect(f.code, f.stderr).toBe(0);
    expect(readFileSync(file, 'utf8')).toBe(RUN_CONFIG_TEMPLATE);
  });

  it('writes diffract.yaml in the working folder by default', async () => {
    const dir = join(root, 'cwd');
    mkdirSync(dir);
    const cwd = process.cwd();
    process.chdir(dir);
    try {
      const r = await runInProcess(['init']);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toContain('wrote diffract.yaml');
    } finally {
      process.chdir(cwd);
    }
    expect(existsSync(join(dir, 'diffract.yaml'))).toBe(true);
    expect((await loadRunConfig(join(dir, 'diffract.yaml'))).sweeps[0]?.name).toBe('sweep1');
  });

  it('a folder that does not exist is a file-access error', async () => {
    const r = await runInProcess(['init', join(root, 'no', 'such', 'dir', 'x.yaml')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^diffract: error: .*x\.yaml: cannot write the file.*ENOENT/);
  });
});
