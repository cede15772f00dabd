/**
 * Bad input through the real CLI: a typed error naming the file and what is
 * wrong, one line on stderr, no stack trace, a non-zero exit.
 */
import { mkdtempSync, readFileSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runCli, type CliResult } from '../helpers/cli.ts';
import { sharedData } from '../helpers/paths.ts';

let dir: string;
let expt: string;
let goodCbf: Buffer;

function expectOneLineError(r: CliResult, ...patterns: RegExp[]): void {
  expect(r.code, r.stderr).toBe(1);
  const lines = r.stderr.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('Warning: max'));
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^diffract: error: /);
  expect(r.stderr).not.toMatch(/\n\s+at /);
  for (const p of patterns) expect(lines[0]).toMatch(p);
  expect(r.stdout).toBe('');
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'diffract-bad-'));
  expt = join(dir, 'good.expt');
  copyFileSync(sharedData('l-cysteine', '11_integrated.expt'), expt);
  goodCbf = readFileSync(sharedData('l-cysteine', 'images', 'l-cyst_01_00001.cbf'));
});

describe('bad input on the command line', () => {
  it('a truncated CBF', async () => {
    const f = join(dir, 'truncated.cbf');
    writeFileSync(f, goodCbf.subarray(0, Math.floor(goodCbf.length / 2)));
    expectOneLineError(await runCli(['map', expt, '--backend', 'cpu', '--images', f]), /truncated\.cbf/, /frame 0/, /(truncat|short|end)/i);
  });

  it('a garbled CBF header', async () => {
    const f = join(dir, 'garbled.cbf');
    writeFileSync(f, Buffer.from(goodCbf.toString('latin1').replace('X-Binary-Size-Fastest-Dimension: 1475', 'X-Binary-Size-Fastest-Dimension: abc'), 'latin1'));
    expectOneLineError(await runCli(['map', expt, '--backend', 'cpu', '--images', f]), /garbled\.cbf/, /Fastest-Dimension/);
  });

  it('image dimensions that disagree with the detector model', async () => {
    const f = join(dir, 'swapped.cbf');
    const text = goodCbf
      .toString('latin1')
      .replace('X-Binary-Size-Fastest-Dimension: 1475', 'X-Binary-Size-Fastest-Dimension: 1679')
      .replace('X-Binary-Size-Second-Dimension: 1679', 'X-Binary-Size-Second-Dimension: 1475');
    writeFileSync(f, Buffer.from(text, 'latin1'));
    expectOneLineError(await runCli(['map', expt, '--backend', 'cpu', '--images', f, '--json']), /swapped\.cbf/, /1679/, /1475/);
  });

  it('an .expt missing a field', async () => {
    const f = join(dir, 'no-wavelength.expt');
    const json = JSON.parse(readFileSync(expt, 'utf8')) as { beam: Array<Record<string, unknown>> };
    delete json.beam[0]?.wavelength;
    writeFileSync(f, JSON.stringify(json));
    expectOneLineError(await runCli(['hkl', f, '--xyz', '100,100,1', '--backend', 'cpu']), /no-wavelength\.expt/, /wavelength/);
  });

  it('a reversed trusted_range blames the .expt (file and JSON path), not the first image', async () => {
    const f = join(dir, 'reversed-trust.expt');
    const json = JSON.parse(readFileSync(expt, 'utf8')) as { detector: Array<{ panels: Array<{ trusted_range: number[] }> }> };
    const p = json.detector[0]!.panels[0]!;
    p.trusted_range = [...p.trusted_range].reverse();
    writeFileSync(f, JSON.stringify(json));
    const cbf = sharedData('l-cysteine', 'images', 'l-cyst_01_00001.cbf');
    const r = await runCli(['integrate', f, '--backend', 'cpu', '--out', join(dir, 'never.h5'), '--images', cbf]);
    expectOneLineError(r, /reversed-trust\.expt, field 'detector\[0\]\.panels\[0\]\.trusted_range'/, /reversed/);
    expect(r.stderr).not.toMatch(/\.cbf/);
  });

  it('an unknown space group fails before any work, naming the config file and key, or the flag', async () => {
    const cfg = join(dir, 'bad-group.yaml');
    writeFileSync(cfg, `space_group: "P 99"\nsweeps:\n  - expt: ${JSON.stringify(expt)}\n`);
    expectOneLineError(await runCli(['run', cfg]), /bad-group\.yaml, field 'space_group'/, /'P 99'/);
    // the flag is checked before the input is even opened (this one does not exist)
    expectOneLineError(await runCli(['correct', join(dir, 'absent.h5'), '--space-group', 'P 99', '--out', join(dir, 'never.h5')]), /--space-group/, /'P 99'/);
  });

  it('a UTF-8 byte order mark in an .expt is accepted: the same answer as without it', async () => {
    const f = join(dir, 'bom.expt');
    writeFileSync(f, Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), readFileSync(expt)]));
    const args = ['--xyz', '897.95,1021.27,0.64', '--json', '--backend', 'cpu'];
    const [withBom, plain] = await Promise.all([runCli(['hkl', f, ...args]), runCli(['hkl', expt, ...args])]);
    expect(withBom.code, withBom.stderr).toBe(0);
    expect(withBom.stdout).toBe(plain.stdout);
    expect(JSON.parse(withBom.stdout)).toHaveLength(1);
  });

  it('a missing image file', async () => {
    expectOneLineError(await runCli(['map', expt, '--backend', 'cpu', '--images', join(dir, 'nope.cbf')]), /nope\.cbf/);
  });

  it('an unknown backend', async () => {
    expectOneLineError(await runCli(['info', '--backend', 'cuda']), /--backend/, /cuda/);
  });

  it('an unknown subcommand: one line naming it and the nearest registered command, exit 1', async () => {
    expectOneLineError(await runCli(['submti']), /unknown command 'submti'/, /did you mean 'submit'\?/);
    expectOneLineError(await runCli(['--backend', 'cpu', 'intgrate', 'x.expt']), /unknown command 'intgrate'/, /did you mean 'integrate'\?/);
  });

  it('the good data maps, for contrast', async () => {
    const r = await runCli(['hkl', expt, '--xyz', '897.95,1021.27,0.64', '--json', '--backend', 'cpu']);
    expect(r.code, r.stderr).toBe(0);
    const rows = JSON.parse(r.stdout) as Array<{ h: number; k: number; l: number }>;
    expect(rows).toHaveLength(1);
  });
});
