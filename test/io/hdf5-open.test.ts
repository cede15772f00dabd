/**
 * A missing, truncated or non-HDF5 file is one line naming it, never dozens of
 * HDF5-DIAG lines from h5wasm or an internal error (issue 13).
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileAccessError, FormatError } from '../../src/errors.ts';
import { checkHdf5File, readHdf5, writeHdf5Atomic, writeTableGroup } from '../../src/io/hdf5.ts';
import { runCli } from '../helpers/cli.ts';
import { sharedData } from '../helpers/paths.ts';

const root = mkdtempSync(join(tmpdir(), 'diffract-h5open-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const good = join(root, 'good.h5');
const truncated = join(root, 'truncated.h5');
const text = join(root, 'text.h5');

beforeAll(async () => {
  await writeHdf5Atomic(good, (f) => {
    writeTableGroup(f, 'rows', { x: Float64Array.from({ length: 5000 }, (_v, i) => i * 0.5) });
  });
  const bytes = readFileSync(good);
  writeFileSync(truncated, bytes.subarray(0, Math.floor(bytes.length / 2)));
  writeFileSync(text, 'this is a text file, not HDF5\n');
});

function thrown(fn: () => void): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected an error');
}

describe('checkHdf5File', () => {
  it('accepts complete files: written by diffract, and the real Eiger data files', async () => {
    expect(() => checkHdf5File(good)).not.toThrow();
    const x = await readHdf5(good, (f) => (f.get('rows/x') as { value: Float64Array }).value);
    expect(x.length).toBe(5000);
    expect(x[4999]).toBe(2499.5);
    for (const f of ['eiger2_simread7_2datafiles_4images_bslz4_data_000001.h5', 'eiger1_testmode10_2datafiles_4images_bslz4_data_000001.h5']) {
      expect(() => checkHdf5File(sharedData('eiger', f))).not.toThrow();
    }
  });

  it('a missing file is a FileAccessError "no such file"', () => {
    const e = thrown(() => checkHdf5File(join(root, 'missing.h5')));
    expect(e).toBeInstanceOf(FileAccessError);
    expect((e as Error).message).toBe(`${join(root, 'missing.h5')}: no such file`);
  });

  it('a text file, an empty file and a folder are refused; a truncated file names its declared size', () => {
    expect(thrown(() => checkHdf5File(text))).toBeInstanceOf(FormatError);
    const empty = join(root, 'empty.h5');
    writeFileSync(empty, '');
    expect((thrown(() => checkHdf5File(empty)) as Error).message).toContain('empty file');
    const dir = join(root, 'dir.h5');
    mkdirSync(dir);
    expect(thrown(() => checkHdf5File(dir))).toBeInstanceOf(FileAccessError);
    const t = thrown(() => checkHdf5File(truncated));
    expect(t).toBeInstanceOf(FormatError);
    expect((t as Error).message).toContain(`truncated HDF5 file: ${statSync(truncated).size} bytes, its superblock says ${statSync(good).size}`);
    // a real Eiger data file cut short by one byte
    const eiger = readFileSync(sharedData('eiger', 'eiger2_simread7_2datafiles_4images_bslz4_data_000001.h5'));
    const cut = join(root, 'eiger-cut.h5');
    writeFileSync(cut, eiger.subarray(0, eiger.length - 1));
    expect(thrown(() => checkHdf5File(cut))).toBeInstanceOf(FormatError);
  });
});

describe('through the CLI: one line on stderr, exit 1', () => {
  const cases: [string, string, RegExp][] = [
    ['missing', join(root, 'missing.h5'), /missing\.h5: no such file$/],
    ['truncated', truncated, /truncated\.h5: truncated HDF5 file: \d+ bytes, its superblock says \d+$/],
    ['text', text, /text\.h5: not an HDF5 file \(no HDF5 signature\)$/],
  ];
  for (const [name, file, pattern] of cases) {
    it(`diffract correct on a ${name} file`, async () => {
      const r = await runCli(['correct', file, '--out', join(root, `out-${name}.h5`), '--backend', 'cpu']);
      expect(r.code, r.stderr).toBe(1);
      const lines = r.stderr.trim().split('\n');
      expect(lines, r.stderr).toHaveLength(1);
      expect(lines[0]).toMatch(/^diffract: error: /);
      expect(lines[0]).toMatch(pattern);
    }, 60_000);
  }
});

describe('a full-length but internally damaged HDF5 file: one line naming it, no HDF5-DIAG, exit 1', () => {
  const eiger = (): Buffer => readFileSync(sharedData('eiger', 'eiger2_simread7_2datafiles_4images_bslz4_data_000001.h5'));
  /** the real Eiger data file with 64 bytes inverted from `at` (the length stays: checkHdf5File passes it) */
  function damaged(name: string, at: number): string {
    const b = eiger();
    for (let i = at; i < at + 64; i++) b[i] = b[i]! ^ 0xff;
    const f = join(root, name);
    writeFileSync(f, b);
    expect(() => checkHdf5File(f)).not.toThrow();
    return f;
  }
  const cases: [string, number, RegExp][] = [
    // the object headers: h5wasm printed ~40 HDF5-DIAG lines, then 'name not defined!' as an internal error (exit 70)
    ['metadata', 128, /metadata\.h5: damaged HDF5 file: .*\(HDF5: incorrect metadata checksum after all read attempts\)$/],
    // a compressed chunk in the middle: 29 HDF5-DIAG lines before the error line
    ['chunk', 26_919, /chunk\.h5, frame 0: cannot decode the frame \(image 0 of \/entry\/data\/data in this file, filters 32008 \(bitshuffle\)\): HDF5 read status -1 \(HDF5: filter returned failure during read\)$/],
  ];
  for (const [name, at, pattern] of cases) {
    it(`diffract photon on a file with a damaged ${name}`, async () => {
      const file = damaged(`${name}.h5`, at);
      const r = await runCli(['photon', file, '--out', join(root, `photon-${name}`), '--backend', 'cpu', '-q']);
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr).not.toMatch(/HDF5-DIAG|decompressed size/);
      const lines = r.stderr.trimEnd().split('\n');
      expect(lines, r.stderr).toHaveLength(1);
      expect(lines[0]).toMatch(/^diffract: error: /);
      expect(lines[0]).toMatch(pattern);
      expect(r.stdout).toBe('');
    }, 60_000);
  }
});
