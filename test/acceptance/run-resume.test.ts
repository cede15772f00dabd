/**
 * `diffract run` checkpoints, through the real command in child processes:
 *
 * - resume: a run killed with SIGKILL mid-integration, rerun, gives results
 *   identical byte for byte to an uninterrupted run, without recomputing the
 *   wedges finished before the kill (their files are untouched, and the log
 *   says they were reused);
 * - change: changing only a scaling option recomputes scale → export and
 *   reuses everything upstream;
 * - bad input: a missing image, a frame count that disagrees with the scan, an
 *   unknown config key, a corrupt HDF5 chunk and a full disk each give one clear message naming the
 *   file, frame or key, a non-zero exit, and leave the published results of
 *   the earlier complete run as they were.
 */
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCcp4, readCcp4 } from '../../src/export/ccp4.ts';
import { writeNexusSeries } from '../../src/io/nexus-write.ts';
import { readImage } from '../../src/io/series.ts';
import type { RunSummary } from '../../src/run/runner.ts';
import { simulate } from '../../src/sim/simulate.ts';
import { electronUnitSpec } from '../../src/sim/spec.ts';
import { REPO_ROOT } from '../helpers/paths.ts';
import { runCli } from '../helpers/cli.ts';

const RESULTS = ['map.nxs', 'map.ccp4', 'map_h0.png', 'map_k0.png', 'map_l0.png', 'report.html'];

function config(extra = ''): string {
  return [
    'output: out',
    'sweeps:',
    '  - name: s1',
    '    expt: data/sim.expt',
    'grid:',
    '  wedge_frames: 2',
    'filter:',
    '  max_count: 50',
    'scaling:',
    '  b_step_deg: 4',
    'absolute:',
    '  composition: C1650 H5642 N450 O2021 S12',
    extra,
  ].join('\n');
}

function snapshot(dir: string): Map<string, Buffer> {
  return new Map(RESULTS.map((f) => [f, readFileSync(join(dir, f))]));
}

/** The result files whose bytes differ from the reference (never a byte-level diff: they are large). */
function differing(dir: string, reference: Map<string, Buffer>): string[] {
  const now = snapshot(dir);
  return RESULTS.filter((f) => !(now.get(f)?.equals(reference.get(f)!) ?? false));
}

function wedgeFiles(out: string): Map<string, number> {
  const dir = join(out, 'stages', 's1', 'wedges');
  if (!existsSync(dir)) return new Map();
  return new Map(readdirSync(dir).filter((f) => f.endsWith('.h5')).map((f) => [f, statSync(join(dir, f)).mtimeMs]));
}

describe('diffract run: checkpoints, resume and bad input', () => {
  let root = '';
  let reference = new Map<string, Buffer>();

  const run = (args: string[], env: NodeJS.ProcessEnv = {}) => runCli(['run', ...args, '--backend', 'cpu'], { cwd: root, env });

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'diffract-run-'));
    const spec = electronUnitSpec('small', 3);
    spec.scan.frames = 10;
    spec.scan.widthDeg = 4;
    await simulate(spec, join(root, 'data'));
    writeFileSync(join(root, 'run.yaml'), config());
    const r = await run(['run.yaml', '--json', '-q']);
    expect(r.code, r.stderr).toBe(0);
    reference = snapshot(join(root, 'out'));
    const s = JSON.parse(r.stdout) as RunSummary;
    expect(s.sweeps[0]?.wedges).toBe(5);
    expect(s.voxels).toBeGreaterThan(1000);
  }, 600_000);

  afterAll(() => {
    if (root !== '') rmSync(root, { recursive: true, force: true });
  });

  it('reruns with nothing changed reuse every stage and rewrite nothing', async () => {
    const before = wedgeFiles(join(root, 'out'));
    const r = await run(['run.yaml', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout) as RunSummary;
    expect(s.stages.filter((t) => t.stage !== 'import').every((t) => t.skipped)).toBe(true);
    expect(wedgeFiles(join(root, 'out'))).toEqual(before);
    expect(differing(join(root, 'out'), reference)).toEqual([]);
  }, 300_000);

  it('an output folder copied elsewhere (with its config) reuses its own files and touches nothing of the original', async () => {
    const files = (dir: string): Map<string, string> => {
      const out = new Map<string, string>();
      for (const e of readdirSync(dir, { recursive: true, withFileTypes: true })) {
        if (!e.isFile()) continue;
        const p = join(e.parentPath, e.name);
        const st = statSync(p);
        out.set(p.slice(dir.length), `${st.size}:${st.mtimeMs}`);
      }
      return out;
    };
    const copy = mkdtempSync(join(tmpdir(), 'diffract-run-copy-'));
    try {
      cpSync(join(root, 'out'), join(copy, 'out'), { recursive: true, preserveTimestamps: true });
      writeFileSync(join(copy, 'run.yaml'), config().replace('expt: data/sim.expt', `expt: ${JSON.stringify(join(root, 'data', 'sim.expt'))}`));
      const original = files(join(root, 'out'));
      const copied = [...files(join(copy, 'out')).keys()].filter((f) => f.includes('/stages/'));
      expect(copied.length).toBeGreaterThan(8);

      const r = await runCli(['run', 'run.yaml', '--json', '--backend', 'cpu'], { cwd: copy });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).not.toMatch(/"level":"warn"/);
      const s = JSON.parse(r.stdout) as RunSummary;
      expect(s.stages.filter((t) => t.stage !== 'import' && !t.skipped)).toEqual([]);
      // every stage file of the copy is still there (absolute paths in the records made the copy reuse the original's and delete its own)
      const after = files(join(copy, 'out'));
      expect(copied.filter((f) => !after.has(f))).toEqual([]);
      for (const f of s.outputs) expect(f.startsWith(join(copy, 'out'))).toBe(true);
      // the original is untouched, file for file
      expect(files(join(root, 'out'))).toEqual(original);
      expect(differing(join(copy, 'out'), reference)).toEqual([]);
    } finally {
      rmSync(copy, { recursive: true, force: true });
    }
  }, 300_000);

  it('resumes after SIGKILL mid-integration without redoing finished wedges; results identical byte for byte', async () => {
    renameSync(join(root, 'out'), join(root, 'out-complete'));
    // start, and kill as soon as two wedges are on disk
    const child = spawn(process.execPath, [join(REPO_ROOT, 'bin', 'diffract.js'), 'run', 'run.yaml', '--json', '--backend', 'cpu'], { cwd: root, stdio: ['ignore', 'ignore', 'pipe'] });
    let written = 0;
    let log = '';
    await new Promise<void>((resolve, reject) => {
      child.stderr.on('data', (d: Buffer) => {
        log += d.toString();
        written = (log.match(/wedge \d+ \(frames [^)]*\) written/g) ?? []).length;
        if (written >= 2 && child.exitCode === null && !child.killed) child.kill('SIGKILL');
      });
      child.on('exit', (_code, signal) => (signal === 'SIGKILL' ? resolve() : reject(new Error(`the run ended before it was killed:\n${log}`))));
    });
    const afterKill = wedgeFiles(join(root, 'out'));
    expect(afterKill.size).toBeGreaterThanOrEqual(2);
    expect(afterKill.size).toBeLessThan(5);
    expect(existsSync(join(root, 'out', 'map.nxs'))).toBe(false);

    const r = await run(['run.yaml', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stderr.trim().split('\n').map((l) => JSON.parse(l) as { msg: string; reusedWedges?: number });
    const reuse = lines.find((l) => l.reusedWedges !== undefined);
    expect(reuse?.reusedWedges).toBe(afterKill.size);
    expect(reuse?.msg).toMatch(/finished in an earlier run, not recomputed/);
    const recomputed = lines.filter((l) => / written$/.test(l.msg)).length;
    expect(recomputed).toBe(5 - afterKill.size);
    // the wedges done before the kill were not rewritten
    const after = wedgeFiles(join(root, 'out'));
    for (const [f, mtime] of afterKill) expect(after.get(f)).toBe(mtime);
    const s = JSON.parse(r.stdout) as RunSummary;
    expect(s.sweeps[0]?.wedgesReused).toBe(afterKill.size);
    // every result equals the uninterrupted run's, byte for byte
    expect(differing(join(root, 'out'), reference)).toEqual([]);
  }, 600_000);

  it('after a full disk: a wedge file cut short, one overwritten and a truncated stage file are recomputed with one warning each; results identical byte for byte', async () => {
    const out = join(root, 'out');
    const wedgeDir = join(out, 'stages', 's1', 'wedges');
    const wedges = [...wedgeFiles(out).keys()].sort();
    expect(wedges).toHaveLength(5);
    // as the disk-full run of issue 13 left it: a wedge published half written, the integrate stage not done
    const short = join(wedgeDir, wedges[1]!);
    const bytes = readFileSync(short);
    writeFileSync(short, bytes.subarray(0, bytes.length >> 1));
    writeFileSync(join(wedgeDir, wedges[3]!), 'not an HDF5 file\n');
    rmSync(join(out, '.diffract', 'checkpoints', 'integrate.s1.json'));
    // and a later stage's checkpointed result cut short
    const scaled = readdirSync(join(out, 'stages')).find((f) => /^scaled-[0-9a-f]{16}\.h5$/.test(f));
    expect(scaled).toBeDefined();
    const scaledPath = join(out, 'stages', scaled!);
    writeFileSync(scaledPath, readFileSync(scaledPath).subarray(0, 4096));

    const r = await run(['run.yaml', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stderr.trim().split('\n').map((l) => JSON.parse(l) as { level: string; msg: string; stage?: string });
    const warnings = lines.filter((l) => l.level === 'warn');
    expect(warnings.map((w) => w.stage)).toEqual(['integrate.s1', 'scale']);
    expect(warnings[0]!.msg).toMatch(new RegExp(`^integrate\\.s1: 2 wedge file\\(s\\) of an earlier run cannot be used and are recomputed: ${wedges[1]} \\(truncated HDF5 file: .*\\); ${wedges[3]} \\(not an HDF5 file`));
    expect(warnings[1]!.msg).toContain(`stages/${scaled!}, cannot be used (truncated HDF5 file: 4096 bytes`);
    // exactly the two bad wedges were recomputed; the good ones were not rewritten
    expect(lines.filter((l) => / written$/.test(l.msg)).map((l) => l.msg.match(/wedge (\d+)/)?.[1])).toEqual(['1', '3']);
    const s = JSON.parse(r.stdout) as RunSummary;
    expect(s.sweeps[0]?.wedgesReused).toBe(3);
    expect(differing(out, reference)).toEqual([]);
    // and the next run reuses everything without a warning
    const again = await run(['run.yaml', '--json']);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).not.toMatch(/"level":"warn"/);
  }, 600_000);

  it('a wedge write that ends short (simulated full disk) is one error line and publishes nothing; the rerun finishes identical byte for byte', async () => {
    renameSync(join(root, 'out'), join(root, 'out-before-short'));
    const out = join(root, 'out');
    const r = await run(['run.yaml', '-q'], { DIFFRACT_FAULT_SHORT_WRITE: 'w0002-' });
    expect(r.code).toBe(1);
    const lines = r.stderr.trim().split('\n');
    expect(lines, r.stderr).toHaveLength(1);
    expect(lines[0]).toMatch(/^diffract: error: .*wedges\/w0002-[0-9a-f]{16}\.h5: writing HDF5 failed: the written file is incomplete \(truncated HDF5 file: .*\); nothing was replaced$/);
    const left = [...wedgeFiles(out).keys()];
    expect(left.some((f) => f.startsWith('w0002-'))).toBe(false);
    expect(readdirSync(join(out, 'stages', 's1', 'wedges')).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    const again = await run(['run.yaml', '--json']);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).not.toMatch(/"level":"warn"/);
    expect(differing(out, reference)).toEqual([]);
  }, 600_000);

  it('a changed scaling option recomputes exactly scale → export', async () => {
    writeFileSync(join(root, 'run-b.yaml'), config().replace('b_step_deg: 4', 'b_step_deg: 5'));
    const r = await run(['run-b.yaml', '--json', '-q']);
    expect(r.code, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout) as RunSummary;
    const recomputed = s.stages.filter((t) => !t.skipped && t.stage !== 'import').map((t) => t.stage);
    const reused = s.stages.filter((t) => t.skipped).map((t) => t.stage);
    expect(recomputed).toEqual(['scale', 'merge', 'absolute', 'export', 'report']);
    expect(reused).toEqual(['mask.s1', 'integrate.s1', 'correct.s1', 'combine']);
    expect(readFileSync(join(root, 'out', 'map.nxs')).equals(reference.get('map.nxs')!)).toBe(false);
    // back to the first settings: the old keys are recomputed only downstream of scale, and give the same bytes
    const back = await run(['run.yaml', '--json', '-q']);
    expect(back.code, back.stderr).toBe(0);
    expect(differing(join(root, 'out'), reference)).toEqual([]);
  }, 600_000);

  it('reads the frames from an Eiger/NeXus HDF5 series (bitshuffle-LZ4) and gives the same map as from the CBF files', async () => {
    const frames: Uint32Array[] = [];
    let size: [number, number] = [0, 0];
    for (let i = 1; i <= 10; i++) {
      const im = await readImage(join(root, 'data', `sim_${String(i).padStart(5, '0')}.cbf`));
      size = [im.width, im.height];
      frames.push(Uint32Array.from(im.pixels, (v) => v >>> 0));
    }
    mkdirSync(join(root, 'eiger'));
    await writeNexusSeries(join(root, 'eiger', 'sim_master.h5'), {
      frames,
      width: size[0],
      height: size[1],
      compression: 'bslz4',
      dataFiles: 5,
      geometry: { wavelength: 1, distance_mm: 100, beamCentre: [200, 200], pixelSize: [0.172, 0.172], omegaStart: 0, omegaIncrement: 4, exposure: 1 },
    });
    writeFileSync(join(root, 'h5.yaml'), config().replace('output: out', 'output: out-h5').replace('    expt: data/sim.expt', '    expt: data/sim.expt\n    images: {hdf5: eiger/sim_master.h5}'));
    const r = await run(['h5.yaml', '-q', '--json']);
    expect(r.code, r.stderr).toBe(0);
    // the map values are identical (the CCP4 labels name the stage files, whose keys differ with the input)
    const h5 = await readCcp4(join(root, 'out-h5', 'map.ccp4'));
    const cbf = parseCcp4(new Uint8Array(reference.get('map.ccp4')!), 'reference');
    expect(h5.data.length).toBe(cbf.data.length);
    expect(Buffer.from(h5.data.buffer).equals(Buffer.from(cbf.data.buffer))).toBe(true);
  }, 300_000);

  describe('bad input leaves the earlier results untouched', () => {
    const expectUntouched = (): void => expect(differing(join(root, 'out'), reference)).toEqual([]);

    it('a missing image names the file and the frame', async () => {
      cpSync(join(root, 'data'), join(root, 'data-missing'), { recursive: true });
      rmSync(join(root, 'data-missing', 'sim_00004.cbf'));
      writeFileSync(join(root, 'missing.yaml'), config().replace('data/sim.expt', 'data-missing/sim.expt'));
      const r = await run(['missing.yaml']);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/^diffract: error: .*sim_00004\.cbf, frame 3: no such file/m);
      expect(r.stderr.trim().split('\n').filter((l) => l.includes('error')).length).toBe(1);
      expectUntouched();
    }, 120_000);

    it('a frame count that disagrees with the scan names the key', async () => {
      const files = Array.from({ length: 9 }, (_v, i) => `      - data/sim_${String(i + 1).padStart(5, '0')}.cbf`).join('\n');
      writeFileSync(join(root, 'count.yaml'), config().replace('    expt: data/sim.expt', `    expt: data/sim.expt\n    images:\n${files}`));
      const r = await run(['count.yaml']);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/field 'sweeps\[0\]\.images': 9 frames given but the scan has 10/);
      expectUntouched();
    }, 120_000);

    it('a corrupt compressed chunk names the HDF5 file and the frame', async () => {
      cpSync(join(root, 'eiger'), join(root, 'eiger-bad'), { recursive: true });
      const data2 = join(root, 'eiger-bad', 'sim_data_000002.h5');
      const bytes = Buffer.from(readFileSync(data2));
      // each chunk starts with the bitshuffle-LZ4 header: the frame's byte count (uint64 BE), then the block size
      const n = 397 * 397 * 4;
      const header = Buffer.from([0, 0, 0, 0, (n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255]);
      const hits: number[] = [];
      for (let at = bytes.indexOf(header); at >= 0; at = bytes.indexOf(header, at + 1)) hits.push(at);
      expect(hits).toHaveLength(5);
      bytes.writeUInt32BE(0x7fffffff, hits[1]! + 12); // frame 6 of the series = frame 1 of the second data file
      writeFileSync(data2, bytes);
      writeFileSync(join(root, 'corrupt.yaml'), config().replace('    expt: data/sim.expt', '    expt: data/sim.expt\n    images: {hdf5: eiger-bad/sim_master.h5}'));
      const r = await run(['corrupt.yaml', '-q']);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/^diffract: error: .*sim_data_000002\.h5, frame 6: /m);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expectUntouched();
    }, 300_000);

    it('an unknown config key names the key', async () => {
      writeFileSync(join(root, 'unknown.yaml'), config().replace('  b_step_deg: 4', '  b_step_deg: 4\n  b_smoothness: 2'));
      const r = await run(['unknown.yaml']);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/scaling\.b_smoothness/);
      expectUntouched();
    }, 60_000);

    it('a full disk while writing a stage names the file; nothing is published', async () => {
      writeFileSync(join(root, 'full.yaml'), config().replace('b_step_deg: 4', 'b_step_deg: 6'));
      const r = await run(['full.yaml', '-q'], { DIFFRACT_FAULT_ENOSPC: 'scaled-' });
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/^diffract: error: .*stages\/scaled-[0-9a-f]{16}\.h5: .*no space left on device/m);
      expectUntouched();
      expect(readdirSync(join(root, 'out', 'stages')).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    }, 300_000);
  });
});
