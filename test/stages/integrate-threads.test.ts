/**
 * Issue 14: the CPU engine's threads and memory budget do not change a single
 * number. The same frames integrated with 1, 2 and 3 threads (worker threads
 * reading, decoding and binning, exact merges), and with frame batches of
 * different sizes (memory budget, --batch), give identical included/excluded
 * tables, wedge rows, filter masks, filter statistics and accumulators;
 * through `integrateStage.run` and through `diffract integrate`. Also: the
 * threaded path decodes in the workers (the source's own readers are never
 * called), bad --threads / DIFFRACT_THREADS / --memory-mb values are one-line
 * errors, and the summary reports peak RSS and the timings file its phases.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadExperiments, pickExperiment } from '../../src/geometry/load.ts';
import { Engine } from '../../src/host/engine.ts';
import type { Experiment } from '../../src/geometry/model.ts';
import { voxelColumns } from '../../src/io/integrate-file.ts';
import type { FrameSource } from '../../src/io/sources/frame-source.ts';
import { openExperimentFrames } from '../../src/io/sources/experiment.ts';
import { readVoxelTables } from '../../src/io/voxel-tables.ts';
import { simulate } from '../../src/sim/simulate.ts';
import { integrateDefaults, integrateStage, silentContext, type IntegrateSettings } from '../../src/stages/index.ts';
import { integrateWedges, prepareIntegrate } from '../../src/stages/integrate.ts';
import { syntheticSpec } from '../filter/helpers.ts';
import { runInProcess } from '../helpers/cli.ts';

let dir: string;
let expt: string;
let experiment: Experiment;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'diffract-threads-'));
  expt = (await simulate(syntheticSpec(6, 5), join(dir, 'sim'))).expt;
  experiment = pickExperiment(await loadExperiments(expt), 0);
});
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function settings(): IntegrateSettings {
  const s = integrateDefaults();
  s.grid.wedgeFrames = 3;
  s.grid.wedgeDeg = null;
  s.filter.maxCount = 12; // some subvoxels overflow: both exclusion reasons occur
  return s;
}

const numbers = (a: ArrayLike<number | bigint>): number[] => Array.from(a, Number);
const columns = (c: Record<string, ArrayLike<number | bigint>>): Record<string, number[]> => Object.fromEntries(Object.entries(c).map(([k, v]) => [k, numbers(v)]));

/** Everything a wedge produced that must not depend on threads or batches (times and the backend left out). */
async function wedgeFingerprints(engine: Engine, source: FrameSource, s: IntegrateSettings, sharedArrays = false): Promise<unknown[]> {
  const p = prepareIntegrate({ experiment, exptPath: expt, frames: source }, s, { sharedArrays });
  // per-pixel arrays allocated in shared memory from the start, or copied there by the threaded path
  expect(p.setup.vectors.buffer instanceof SharedArrayBuffer && p.setup.channels.values.buffer instanceof SharedArrayBuffer).toBe(sharedArrays);
  const out: unknown[] = [];
  for await (const w of integrateWedges(silentContext(engine), p)) {
    const { seconds: _s, backend: _b, ...row } = w.row;
    const r = w.result;
    out.push({
      row,
      included: columns(voxelColumns(w.included, false)),
      excluded: columns(voxelColumns(w.excluded, true)),
      reason: numbers(r.mask.reason),
      stats: r.stats === undefined ? null : Object.fromEntries(Object.entries(r.stats).map(([k, v]) => [k, ArrayBuffer.isView(v) ? numbers(v as unknown as ArrayLike<number>) : v])),
      acc: numbers(r.acc.acc),
      channels: numbers(r.acc.channelSums),
      masked: [r.acc.maskedObservations, r.acc.maskedSum, r.frameSum],
    });
  }
  return out;
}

/** The source with its own readers disabled: only decode tasks (read by the workers) can deliver frames. */
function tasksOnly(source: FrameSource): FrameSource {
  const no = (): never => {
    throw new Error('the threaded path read a frame on the main thread');
  };
  return { ...source, read: no, readStored: no, range: no, [Symbol.asyncIterator]: no };
}

/** The source with its frame iterator disabled: the single-thread CPU engine must decode its decode tasks in place. */
function tasksOnlyButRead(source: FrameSource): FrameSource {
  const no = (): never => {
    throw new Error('the single-thread CPU path iterated the source instead of decoding its tasks in place');
  };
  return { ...source, range: no, [Symbol.asyncIterator]: no };
}

describe('CPU threads (issue 14)', () => {
  it('1, 2 and 3 threads and any batch size give identical tables, masks, statistics and accumulators', async () => {
    const source = await openExperimentFrames(experiment, expt);
    expect(source.decodeTask?.(0)).toMatchObject({ kind: 'image-file', frame: 0 });
    const ref = await wedgeFingerprints(Engine.cpu(), source, settings());
    expect(ref).toHaveLength(2);
    const first = ref[0] as { row: { outliers: number; overflow: number; occupied: number }; reason: number[] };
    expect(first.row.occupied).toBeGreaterThan(1000);
    expect(first.row.outliers).toBeGreaterThan(0);
    expect(first.row.overflow).toBeGreaterThan(0);
    for (const threads of [2, 3]) {
      expect(await wedgeFingerprints(Engine.cpu({ threads }), tasksOnly(source), settings()), `${threads} threads`).toEqual(ref);
      expect(await wedgeFingerprints(Engine.cpu({ threads }), tasksOnly(source), settings(), true), `${threads} threads, shared arrays`).toEqual(ref);
    }
    // one thread: frames decoded in place from the decode tasks (one-frame batches), or read through the source (larger batches)
    expect(await wedgeFingerprints(Engine.cpu(), tasksOnlyButRead(source), settings()), 'decoded in place').toEqual(ref);
    const two = settings();
    two.grid.batchFrames = 2;
    expect(await wedgeFingerprints(Engine.cpu(), source, two), '--batch 2').toEqual(ref);
    // batch size: one frame per batch on one thread; on 3 threads the smallest budget that holds a frame (one frame in flight)
    const one = settings();
    one.grid.batchFrames = 1;
    expect(await wedgeFingerprints(Engine.cpu(), source, one), '--batch 1').toEqual(ref);
    const tight = await wedgeFingerprints(Engine.cpu({ threads: 3, memoryMb: 1 }), source, settings()).catch((e: unknown) => e as Error);
    expect(tight).toBeInstanceOf(Error);
    expect((tight as Error).message).toMatch(/^field '--memory-mb': the memory budget of 1 MiB cannot hold one frame .* raise it to at least \d+ MiB/);
    const least = Number(/at least (\d+) MiB/.exec((tight as Error).message)![1]);
    expect(await wedgeFingerprints(Engine.cpu({ threads: 3, memoryMb: least }), source, settings()), `budget ${least} MiB`).toEqual(ref);
  }, 240_000);

  it('integrateStage.run gives the same result at 1, 2 and 3 threads', async () => {
    const runs = [];
    for (const threads of [1, 2, 3]) {
      const r = await integrateStage.run(silentContext(Engine.cpu({ threads })), { experiment, exptPath: expt, frames: await openExperimentFrames(experiment, expt) }, settings());
      runs.push({
        included: columns(voxelColumns(r.included, false)),
        excluded: columns(voxelColumns(r.excluded, true)),
        wedges: r.wedges.map(({ seconds: _s, ...w }) => w),
        summary: r.summary,
      });
    }
    expect(runs[0]!.included.counts!.length).toBeGreaterThan(1000);
    expect(runs[1]).toEqual(runs[0]);
    expect(runs[2]).toEqual(runs[0]);
  }, 240_000);

  it('diffract integrate: same file at --threads 1 and 3, peak RSS in the summary, timings JSON', async () => {
    const files: string[] = [];
    for (const threads of ['1', '3']) {
      const out = join(dir, `t${threads}.h5`);
      const timings = join(dir, `t${threads}.json`);
      const r = await runInProcess(['--backend', 'cpu', '--threads', threads, 'integrate', expt, '--out', out, '--wedge-frames', '3', '--max-count', '12', '--timings', timings]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`^peak RSS \\d+ MiB, ${threads} CPU threads?, \\d+\\.\\d s$`, 'm'));
      const t = JSON.parse(readFileSync(timings, 'utf8')) as Record<string, unknown>;
      expect(Object.keys(t).sort()).toEqual(['peakRssBytes', 'phases', 'pixelFrames', 'threads', 'wall_s']);
      expect(t.threads).toBe(Number(threads));
      expect(t.pixelFrames).toBe(6 * experiment.detector.panels.reduce((s, p) => s + p.imageSize[0] * p.imageSize[1], 0));
      expect(Object.keys(t.phases as object).sort()).toEqual(['bin_s', 'decode_s', 'filter_s', 'write_s']);
      expect(Object.values(t.phases as object).every((v) => typeof v === 'number' && v > 0)).toBe(true);
      expect(t.peakRssBytes as number).toBeGreaterThan(20 * 2 ** 20);
      files.push(out);
    }
    const [a, b] = await Promise.all(files.map((f) => readVoxelTables(f)));
    for (const table of ['included', 'excluded', 'wedges']) {
      const ta = a!.tables.get(table)!;
      const tb = b!.tables.get(table)!;
      expect([...tb.keys()]).toEqual([...ta.keys()]);
      for (const [name, col] of ta) if (name !== 'seconds') expect(numbers(tb.get(name)!), `${table}/${name}`).toEqual(numbers(col));
    }
  }, 240_000);

  it('bad --threads, DIFFRACT_THREADS and --memory-mb values are one-line errors', async () => {
    const base = ['integrate', expt, '--out', join(dir, 'bad.h5')];
    const zero = await runInProcess(['--backend', 'cpu', '--threads', '0', ...base]);
    expect(zero.code).toBe(1);
    expect(zero.stderr).toBe("diffract: error: field '--threads': threads must be an integer 1…1024, got '0'\n");
    const before = process.env.DIFFRACT_THREADS;
    process.env.DIFFRACT_THREADS = 'abc';
    try {
      const env = await runInProcess(['--backend', 'cpu', ...base]);
      expect(env.code).toBe(1);
      expect(env.stderr).toBe("diffract: error: field 'DIFFRACT_THREADS': threads must be an integer 1…1024, got 'abc'\n");
    } finally {
      if (before === undefined) delete process.env.DIFFRACT_THREADS;
      else process.env.DIFFRACT_THREADS = before;
    }
    const mem = await runInProcess(['--backend', 'cpu', '--memory-mb', '1', ...base]);
    expect(mem.code).toBe(1);
    expect(mem.stderr).toMatch(/^diffract: error: field '--memory-mb': the memory budget of 1 MiB cannot hold one frame [^\n]*\n$/);
    const junk = await runInProcess(['--backend', 'cpu', '--memory-mb', 'lots', ...base]);
    expect(junk.stderr).toBe("diffract: error: field '--memory-mb': the memory budget must be an integer 1…16777216 (MiB), got 'lots'\n");
  }, 120_000);
});
