/**
 * `diffract photon` end to end on a small synthetic recording (two scans,
 * uint16 CMOS frames): one scan file per scan; bad input (malformed ROI JSON,
 * a cut-short recording) is one error line and exit status 1.
 */
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Encoder, Tag } from 'cbor-x';
import { describe, expect, it } from 'vitest';
import { readHdf5 } from '../../src/io/hdf5.ts';
import { encodeStream1 } from '../../src/io/stream1.ts';
import { mulberry32 } from '../../src/util/random.ts';
import { runCli } from '../helpers/cli.ts';

const tmp = mkdtempSync(join(tmpdir(), 'diffract-photon-cli-'));

function recordingFile(rawName: (scan: number) => string = (scan) => `/data/raw/scan-${scan}_balor.h5`, fileName = 'balor.cbors'): string {
  const enc = new Encoder({ mapsAsObjects: true });
  const u = mulberry32(21);
  const items: Buffer[] = [];
  let ev = 0;
  const push = (parts: Uint8Array[]): void => {
    items.push(enc.encode(new Tag(new Tag([ev++, { balor: new Tag(['STINS', parts.map((p) => Buffer.from(p))], 42878) }, 'now'], 42877), 55799)));
  };
  for (const scan of [0, 1]) {
    push(encodeStream1({ htype: 'header', filename: rawName(scan) }));
    for (let k = 0; k < 5; k++) {
      const f = new Uint16Array(40 * 50);
      for (let i = 0; i < f.length; i++) f[i] = 97 + Math.floor(u() * 7);
      for (let j = 0; j < 6; j++) {
        const r = 2 + Math.floor(u() * 36);
        const c = 2 + Math.floor(u() * 46);
        for (let dr = -1; dr <= 1; dr++) for (let dc = -1; dc <= 1; dc++) f[(r + dr) * 50 + c + dc]! += dr === 0 && dc === 0 ? 500 : 150;
      }
      push(encodeStream1({ htype: 'image', frame: k, data: f, shape: [40, 50], type: 'uint16' }));
    }
    push(encodeStream1({ htype: 'series_end' }));
  }
  const path = join(tmp, fileName);
  writeFileSync(path, Buffer.concat(items));
  return path;
}

describe('diffract photon', () => {
  const rec = recordingFile();

  it('writes one scan file per scan', async () => {
    const out = join(tmp, 'out');
    const r = await runCli(['--backend', 'cpu', 'photon', rec, '--out', out, '--roi', '0:40,0:50', '--emin', '900', '--rois', '{"top": [0, 20, 0, 50]}', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { scan: number; frames: number; hits: number; file: string });
    expect(lines.map((l) => [l.scan, l.frames])).toEqual([
      [0, 5],
      [1, 5],
    ]);
    expect(lines.every((l) => l.hits >= 20)).toBe(true);
    for (const l of lines) expect(existsSync(l.file)).toBe(true);
    await readHdf5(join(out, 'scan-1_balor_photon.h5'), (f) => {
      const acc = f.get('entry/accumulated');
      // accumulation runs across scans: 10 frames by the end of scan 1
      expect(acc !== null && 'attrs' in acc ? acc.get_attribute('frames', true) : null).toBe(10);
    });
    console.log(`[photon] CLI: ${lines.map((l) => `scan ${l.scan}: ${l.hits} hits`).join(', ')}`);
  });

  it('two headers naming the same raw file give two scan files, the first not overwritten', async () => {
    const same = recordingFile(() => '/data/raw/same_balor.h5', 'same.cbors');
    const out = join(tmp, 'out-same');
    const r = await runCli(['--backend', 'cpu', 'photon', same, '--out', out, '--roi', '0:40,0:50', '--emin', '900', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { scan: number; frames: number; file: string });
    expect(lines.map((l) => l.file)).toEqual([join(out, 'same_balor_photon.h5'), join(out, 'same_balor_scan-1_photon.h5')]);
    // each file holds its own scan: the accumulation counts 5 frames after scan 0, 10 after scan 1
    for (const [i, l] of lines.entries()) {
      await readHdf5(l.file, (f) => {
        const acc = f.get('entry/accumulated');
        expect(acc !== null && 'attrs' in acc ? acc.get_attribute('frames', true) : null).toBe(5 * (i + 1));
      });
    }
  });

  it('malformed ROI JSON: one error line, exit 1', async () => {
    const r = await runCli(['--backend', 'cpu', 'photon', rec, '--out', join(tmp, 'bad'), '--rois', '{"top": [0, 20, 0']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^diffract: error: .*ROI JSON does not parse/m);
    expect(r.stderr).not.toMatch(/at .*\.ts:\d+/);
  });

  it('a cut-short recording: one error line, exit 1', async () => {
    const { readFileSync } = await import('node:fs');
    const cut = join(tmp, 'cut.cbors');
    const b = readFileSync(rec);
    writeFileSync(cut, b.subarray(0, Math.floor(b.length * 0.7)));
    const r = await runCli(['--backend', 'cpu', 'photon', cut, '--out', join(tmp, 'cut')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/diffract: error: .*cut\.cbors, frame \d+: the recording ends inside item \d+/);
  });

  it('an empty recording (plain or gzipped) is one line saying it holds no events, exit 1', async () => {
    const { gzipSync } = await import('node:zlib');
    for (const [name, bytes] of [
      ['empty.cbors', Buffer.alloc(0)],
      ['empty.cbors.gz', gzipSync(Buffer.alloc(0))],
    ] as const) {
      const path = join(tmp, name);
      writeFileSync(path, bytes);
      const r = await runCli(['--backend', 'cpu', 'photon', path, '--out', join(tmp, `out-${name}`)]);
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toContain(`${name}: holds no events`);
    }
  });

  it('a folder given as the recording is one line naming it, exit 1', async () => {
    const { mkdirSync } = await import('node:fs');
    const folder = join(tmp, 'not-a-file.cbors');
    mkdirSync(folder);
    const r = await runCli(['--backend', 'cpu', 'photon', folder, '--out', join(tmp, 'out-folder')]);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain(`${folder}: is a folder, not a .cbors recording`);
  });
});
