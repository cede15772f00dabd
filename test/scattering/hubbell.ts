/** Reads the Hubbell 1975 tables (xraylib layout) from ../shared/data for the tests. */
import { readFileSync } from 'node:fs';
import { sharedData } from '../helpers/paths.ts';

export interface HubbellTable {
  x: number[];
  y: number[];
}

/** Per element (index Z − 1): the table points (x = sinθ/λ in Å⁻¹, value). */
export function readHubbell(name: 'FF.dat' | 'SF.dat'): HubbellTable[] {
  const lines = readFileSync(sharedData('tables', 'hubbell1975', name), 'utf8').split('\n');
  const out: HubbellTable[] = [];
  let i = 0;
  while (i < lines.length) {
    const head = (lines[i++] ?? '').trim();
    if (head === '') continue;
    const n = Number(head);
    const t: HubbellTable = { x: [], y: [] };
    for (let j = 0; j < n; j++) {
      const [x, y] = (lines[i++] ?? '').trim().split(/\s+/).map(Number);
      t.x.push(x as number);
      t.y.push(y as number);
    }
    out.push(t);
  }
  return out;
}
