/** The published results of `diffract run`, as the tests that compare runs read them. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The map files, identical byte for byte between any two runs of one config. */
export const MAP_FILES = ['map.nxs', 'map.ccp4', 'map_h0.png', 'map_k0.png', 'map_l0.png'];

export function readMaps(dir: string): Map<string, Buffer> {
  return new Map(MAP_FILES.map((f) => [f, readFileSync(join(dir, f))]));
}

/** The map files of `dir` whose bytes differ from `reference`. */
export function differingMaps(dir: string, reference: ReadonlyMap<string, Buffer>): string[] {
  return MAP_FILES.filter((f) => !readFileSync(join(dir, f)).equals(reference.get(f)!));
}

/** report.html without its row on the shard tasks (the one part that says how the units were computed, not what they are). */
export function reportData(dir: string): string {
  return readFileSync(join(dir, 'report.html'), 'utf8').replace(/<tr>(?:(?!<\/tr>)[^])*shard tasks(?:(?!<\/tr>)[^])*<\/tr>/, '');
}
