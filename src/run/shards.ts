/**
 * Shards of `diffract run CONFIG --shard I/N`: which units of work (the wedges
 * of every sweep) shard I of N computes.
 *
 * The assignment depends on the units alone (their ids and frame counts), so
 * every shard, on any host, computes the same one without talking to the
 * others: longest processing time first, units taken in order of (frames
 * descending, id ascending), each given to the shard with the fewest frames so
 * far (the lowest shard index on a tie). Every unit goes to exactly one shard,
 * and no shard has more frames than the least loaded one plus the largest
 * unit.
 */
import { UsageError } from '../errors.ts';

/** One independent piece of per-unit work. */
export interface WorkUnit {
  /** unique and stable across runs of the same config: `<sweep>/w0003` */
  id: string;
  /** frames it reads (its cost) */
  frames: number;
}

/** Shard `index` (0-based) of `count`. */
export interface ShardSpec {
  index: number;
  count: number;
}

/** Parses `I/N` (I in 0…N−1); `field` names the flag in the error. */
export function parseShard(text: string, field = '--shard'): ShardSpec {
  const m = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(text);
  if (m === null) throw new UsageError(`expected I/N (shard I of N, I counted from 0), got '${text}'`, { field });
  const index = Number(m[1]);
  const count = Number(m[2]);
  if (count < 1 || count > 100_000) throw new UsageError(`the shard count N must be in 1…100000, got ${count}`, { field });
  if (index >= count) throw new UsageError(`the shard index I must be in 0…${count - 1} (counted from 0), got ${index}`, { field });
  return { index, count };
}

/** The units of each of `count` shards (ids, in the order of `units`). */
export function assignShards(units: readonly WorkUnit[], count: number): string[][] {
  if (!Number.isInteger(count) || count < 1) throw new RangeError(`shard count must be a positive integer, got ${count}`);
  const order = [...units].sort((a, b) => b.frames - a.frames || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const load = new Array<number>(count).fill(0);
  const owner = new Map<string, number>();
  for (const u of order) {
    let best = 0;
    for (let s = 1; s < count; s++) if (load[s]! < load[best]!) best = s;
    load[best]! += u.frames;
    owner.set(u.id, best);
  }
  const shards = Array.from({ length: count }, () => [] as string[]);
  for (const u of units) shards[owner.get(u.id)!]!.push(u.id);
  return shards;
}

/** The shard (0-based) of every unit id, for `count` shards. */
export function shardOfUnits(units: readonly WorkUnit[], count: number): Map<string, number> {
  const m = new Map<string, number>();
  assignShards(units, count).forEach((ids, s) => ids.forEach((id) => m.set(id, s)));
  return m;
}
