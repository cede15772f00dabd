import { describe, expect, it } from 'vitest';
import { availableParallelism } from 'node:os';
import { resolveThreads, WorkerPool, workerUrl } from '../../src/host/node-threads.ts';
import { InvalidValueError, UsageError } from '../../src/errors.ts';
import type { SumReq } from './fixtures/sum-worker.ts';

describe('resolveThreads', () => {
  it('takes the flag, else DIFFRACT_THREADS, else the machine', () => {
    expect(resolveThreads(3, { DIFFRACT_THREADS: '5' })).toBe(3);
    expect(resolveThreads(undefined, { DIFFRACT_THREADS: ' 5 ' })).toBe(5);
    expect(resolveThreads(undefined, {})).toBe(availableParallelism());
    expect(resolveThreads(undefined, { DIFFRACT_THREADS: '' })).toBe(availableParallelism());
  });
  it('names the source of a bad value in one line', () => {
    expect(() => resolveThreads(0, {})).toThrow(UsageError);
    expect(() => resolveThreads(0, {})).toThrow(/^field '--threads': threads must be an integer 1…1024, got '0'$/);
    expect(() => resolveThreads(1.5, {})).toThrow(/--threads/);
    expect(() => resolveThreads(undefined, { DIFFRACT_THREADS: 'abc' })).toThrow(/^field 'DIFFRACT_THREADS': threads must be an integer 1…1024, got 'abc'$/);
    expect(() => resolveThreads(undefined, { DIFFRACT_THREADS: '-2' })).toThrow(/DIFFRACT_THREADS/);
  });
});

describe('WorkerPool', () => {
  it('shares inputs, transfers results, rethrows typed errors and is destroyed twice safely', async () => {
    const url = workerUrl(new URL('./fixtures/sum-worker.ts', import.meta.url).href, 'sum-worker');
    const pool = new WorkerPool<SumReq, Float64Array>(url, { size: 3, workerData: { tag: 7 }, name: 'test' });
    try {
      const shared = new SharedArrayBuffer(4 * 1000);
      const a = new Uint32Array(shared);
      for (let i = 0; i < a.length; i++) a[i] = i;
      const parts = await Promise.all([0, 1, 2, 3].map((k) => pool.run({ shared, from: k * 250, to: (k + 1) * 250 })));
      expect(parts.map((p) => p[0])).toEqual([31125, 93625, 156125, 218625]);
      expect(parts.every((p) => p[1] === 7)).toBe(true);
      const all = await pool.broadcast({ shared, from: 0, to: 1000 });
      expect(all.map((p) => p[0])).toEqual([499500, 499500, 499500]);
      const err = await pool.run({ fail: 'bad pixel' }, [], 1).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(InvalidValueError);
      expect((err as Error).message).toBe('x.cbf, frame 3: bad pixel');
      // the pool still serves after a typed error
      expect((await pool.run({ shared, from: 0, to: 3 }))[0]).toBe(3);
    } finally {
      await pool.destroy();
      await pool.destroy();
    }
  }, 60_000);
});
