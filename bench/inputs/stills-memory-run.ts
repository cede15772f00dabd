/**
 * Child process of the `stills-memory` bench section: scaleStills + mergeStills
 * (CPU engine) over `--shots N` synthetic shots of `--rows R` rows each, made
 * chunk by chunk on demand (src/stills/synthetic-rows.ts: nothing held), with a
 * fixed row budget for the fit and a fixed byte budget for the merge. Prints one
 * JSON line: the figures and this process's own peak RSS (the parent also
 * polls /proc).
 */
import { readFileSync } from 'node:fs';
import { Engine } from '../../src/host/engine.ts';
import { silentContext } from '../../src/stages/context.ts';
import { mergeStills, STILLS_MERGE_DEFAULTS } from '../../src/stills/merge.ts';
import { scaleStills, STILLS_SCALE_DEFAULTS } from '../../src/stills/scale.ts';
import { simulateStillsRows } from '../../src/stills/synthetic-rows.ts';
import { benchArg } from '../harness.ts';

function peakRss(): number {
  const m = /^VmHWM:\s+(\d+)\s+kB$/m.exec(readFileSync('/proc/self/status', 'latin1'));
  return m?.[1] === undefined ? Number.NaN : Number(m[1]) * 1024;
}

const shots = Number(benchArg('--shots') ?? '500');
const rows = Number(benchArg('--rows') ?? '600');
const rowBudget = Number(benchArg('--row-budget') ?? '250000');
const budgetBytes = Number(benchArg('--budget-mib') ?? '32') * 2 ** 20;
const sim = simulateStillsRows({ shots, rowsPerShot: rows, side: 31, shotsPerChunk: 100, seed: 3 });
const ctx = silentContext(Engine.cpu());
const t0 = performance.now();
const scaled = await scaleStills(ctx, sim.chunks, sim.meta, sim.pulseEnergy, { ...STILLS_SCALE_DEFAULTS, rowBudget, minShotRows: 20, maxIterations: 5 });
const t1 = performance.now();
const afterScale = peakRss();
const merged = await mergeStills(ctx, sim.chunks, sim.meta, { model: scaled.model, shots: scaled.shots, pOrder: sim.pulseEnergy }, { ...STILLS_MERGE_DEFAULTS, budgetBytes });
const t2 = performance.now();
console.log(
  JSON.stringify({
    shots,
    rows: sim.rows,
    fitRows: scaled.summary.fitRows,
    minShotFitRows: scaled.summary.minShotFitRows,
    used: scaled.summary.used,
    partitions: merged.summary.partitions,
    peakPartitionRows: merged.summary.peakPartitionRows,
    voxels: merged.summary.voxels,
    cchalf: merged.summary.cchalf,
    scaleSeconds: (t1 - t0) / 1000,
    mergeSeconds: (t2 - t1) / 1000,
    peakRssAfterScale: afterScale,
    peakRss: peakRss(),
  }),
);
