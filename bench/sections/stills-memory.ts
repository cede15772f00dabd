/**
 * `stills-memory` (issue 15, "Bounded memory"): peak RSS of scaleStills +
 * mergeStills over 500 and 5,000 synthetic shots of 600 rows each (0.3 and 3
 * million rows, made chunk by chunk on demand), with the same fixed budgets:
 * a fit of at most 250,000 rows and a merge of 64 MiB per partition. Each
 * count runs in its own process (bench/inputs/stills-memory-run.ts), measured
 * from outside (VmHWM, bench/measure-process.ts); the larger of that and the
 * child's own figure is reported. The ratio 5,000 / 500 shots should be ≈ 1.
 * `--size` scales the shot counts (not the budgets).
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BenchRow, BenchSection } from '../harness.ts';
import { measureProcess } from '../measure-process.ts';

const SECTION = 'stills-memory';
const REPO = fileURLToPath(new URL('../../', import.meta.url));

interface ChildFigures {
  shots: number;
  rows: number;
  fitRows: number;
  minShotFitRows: number;
  partitions: number;
  peakPartitionRows: number;
  voxels: number;
  cchalf: number;
  scaleSeconds: number;
  mergeSeconds: number;
  peakRss: number;
}

const mib = (b: number): string => `${(b / 2 ** 20).toFixed(0)} MiB`;

async function runShots(shots: number): Promise<{ figures: ChildFigures; peak: number }> {
  const m = await measureProcess(process.execPath, [join(REPO, 'bin', 'run-ts.js'), join(REPO, 'bench', 'inputs', 'stills-memory-run.ts'), '--shots', String(shots), '--rows', '600', '--row-budget', '250000', '--budget-mib', '64'], { cwd: REPO });
  const line = m.stdout.trim().split('\n').at(-1) ?? '';
  if (m.code !== 0 || !line.startsWith('{')) throw new Error(`stills-memory child (${shots} shots) failed with code ${m.code}: ${m.stderr.trim().split('\n').at(-1) ?? ''}`);
  const figures = JSON.parse(line) as ChildFigures;
  return { figures, peak: Math.max(m.peakRssBytes ?? 0, figures.peakRss) };
}

export const stillsMemorySection: BenchSection = {
  name: SECTION,
  async cpu(size: number): Promise<BenchRow[]> {
    const counts = [Math.max(50, Math.round(500 * size)), Math.max(500, Math.round(5000 * size))];
    const rows: BenchRow[] = [];
    const peaks: number[] = [];
    for (const shots of counts) {
      const { figures: f, peak } = await runShots(shots);
      peaks.push(peak);
      rows.push({
        section: SECTION,
        name: `peak RSS, scale + merge of ${shots} shots (${(f.rows / 1e6).toFixed(2)} M rows)`,
        backend: 'cpu',
        value: peak / 2 ** 20,
        unit: 'MiB',
        note: `fit ${f.fitRows} rows (smallest shot ${f.minShotFitRows}), merge ${f.partitions} partitions of ≤ ${f.peakPartitionRows} rows, ${f.voxels} voxels, CC½ ${f.cchalf.toFixed(4)}; scale ${f.scaleSeconds.toFixed(1)} s, merge ${f.mergeSeconds.toFixed(1)} s`,
      });
    }
    rows.push({ section: SECTION, name: `peak RSS ${counts[1]} shots / ${counts[0]} shots`, backend: 'cpu', value: peaks[1]! / peaks[0]!, unit: '×', note: `flat in the shot count: ≈ 1 (${mib(peaks[0]!)} → ${mib(peaks[1]!)})` });
    return rows;
  },
};
