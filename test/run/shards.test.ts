/**
 * Shard assignment (src/run/shards.ts): a partition of the units for every
 * shard count, balanced by frames (longest processing time first), the same
 * whatever the order the units are listed in; and `I/N` parsing.
 */
import { describe, expect, it } from 'vitest';
import { assignShards, parseShard, shardOfUnits, type WorkUnit } from '../../src/run/shards.ts';

/** Three sweeps of 90, 45 and 31 frames in wedges of 10 (last wedges short), ids as the runner makes them. */
function units(): WorkUnit[] {
  const out: WorkUnit[] = [];
  for (const [name, frames] of [['s1', 90], ['s2', 45], ['s3', 31]] as const) {
    for (let first = 0, i = 0; first < frames; first += 10, i++) out.push({ id: `${name}/w${String(i).padStart(4, '0')}`, frames: Math.min(10, frames - first) });
  }
  return out;
}

describe('shard assignment', () => {
  const all = units();
  const total = all.reduce((s, u) => s + u.frames, 0);
  const largest = Math.max(...all.map((u) => u.frames));

  it('is a partition of the units for N = 1…7 (every unit exactly once), balanced by frames', () => {
    expect(all).toHaveLength(9 + 5 + 4);
    expect(total).toBe(166);
    for (let n = 1; n <= 7; n++) {
      const shards = assignShards(all, n);
      expect(shards).toHaveLength(n);
      const seen = shards.flat();
      expect(seen).toHaveLength(all.length);
      expect(new Set(seen)).toEqual(new Set(all.map((u) => u.id)));
      const frames = new Map(all.map((u) => [u.id, u.frames]));
      const loads = shards.map((ids) => ids.reduce((s, id) => s + frames.get(id)!, 0));
      expect(loads.reduce((a, b) => a + b, 0)).toBe(total);
      // LPT bound: no shard exceeds the least loaded one by more than one unit
      expect(Math.max(...loads) - Math.min(...loads)).toBeLessThanOrEqual(largest);
      // the average is met to within one unit
      expect(Math.max(...loads)).toBeLessThanOrEqual(Math.ceil(total / n) + largest);
    }
  });

  it('finds the best split of 16 units of 10 frames, one of 5 and one of 1 over 4 shards', () => {
    const loads = assignShards(all, 4).map((ids) => ids.reduce((s, id) => s + all.find((u) => u.id === id)!.frames, 0));
    // four tens each (a fifth ten anywhere would make 50), then the 5 and the 1 on different shards: 45 is the least possible maximum
    expect(loads).toEqual([45, 41, 40, 40]);
  });

  it('does not depend on the order the units are listed in (every host computes the same assignment)', () => {
    const reversed = [...all].reverse();
    for (let n = 1; n <= 7; n++) {
      const a = shardOfUnits(all, n);
      const b = shardOfUnits(reversed, n);
      for (const u of all) expect(b.get(u.id)).toBe(a.get(u.id));
    }
  });

  it('gives some shards nothing when there are more shards than units', () => {
    const shards = assignShards(all.slice(0, 3), 5);
    expect(shards.map((s) => s.length)).toEqual([1, 1, 1, 0, 0]);
  });

  it('parses I/N with I counted from 0, and names the flag on bad input', () => {
    expect(parseShard('0/4')).toEqual({ index: 0, count: 4 });
    expect(parseShard(' 3 / 4 ')).toEqual({ index: 3, count: 4 });
    expect(() => parseShard('4/4')).toThrow(/--shard.*0…3 \(counted from 0\), got 4/);
    expect(() => parseShard('1/0')).toThrow(/1…100000, got 0/);
    expect(() => parseShard('a/b')).toThrow(/expected I\/N/);
  });
});
