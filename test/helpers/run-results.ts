/** The published results of `diffract run`, as the tests that compare runs read them. */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { simulate } from '../../src/sim/simulate.ts';
import { electronUnitSpec } from '../../src/sim/spec.ts';

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

/** A folder under the system temp folder holding `data/`: a small simulated sweep (electron units, 4° frames), and `run.yaml` = `config`. */
export async function smallRunFolder(prefix: string, seed: number, frames: number, config: string): Promise<string> {
  const root = mkdtempSync(join(tmpdir(), prefix));
  const spec = electronUnitSpec('small', seed);
  spec.scan.frames = frames;
  spec.scan.widthDeg = 4;
  await simulate(spec, join(root, 'data'));
  writeFileSync(join(root, 'run.yaml'), config);
  return root;
}
