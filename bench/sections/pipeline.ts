/**
 * The whole rotation pipeline end to end (`runPipeline`, the engine of
 * `diffract run`) on a simulated two-sweep data set (the demo's, `size` scales
 * the frames per sweep): frames/s of every stage and of the whole run, on the
 * GPU (the bench's device) and on the CPU path, and the GPU/CPU ratios of the
 * stages that run kernels (integrate, merge) and of the whole run. Host-only
 * stages run slower on the GPU side because Dawn polls a core while the device
 * lives; that is part of the end-to-end figure. Each
 * run starts from an empty output folder (no checkpoint reused).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { demoConfig, demoSpecs } from '../../src/cli/commands/demo.ts';
import type { GpuContext } from '../../src/host/context.ts';
import { Engine } from '../../src/host/engine.ts';
import { loadRunConfig } from '../../src/run/config.ts';
import { runPipeline, type RunSummary } from '../../src/run/runner.ts';
import { simulate } from '../../src/sim/simulate.ts';
import type { BenchRow, BenchSection } from '../harness.ts';

const KERNEL_STAGES = new Set(['integrate', 'merge', 'whole run']);

let dataset: { dir: string; size: number; frames: number } | undefined;
const gpuRates = new Map<string, number>();

async function prepare(size: number): Promise<{ dir: string; frames: number }> {
  if (dataset?.size === size) return dataset;
  const dir = mkdtempSync(join(tmpdir(), 'diffract-bench-pipeline-'));
  const specs = demoSpecs('tiny', 1).map((s) => ({ ...s, scan: { ...s.scan, frames: Math.max(4, Math.round(12 * size)) } }));
  for (let i = 0; i < specs.length; i++) await simulate(specs[i]!, join(dir, 'data', `sweep${i + 1}`));
  dataset = { dir, size, frames: specs.reduce((n, s) => n + s.scan.frames, 0) };
  return dataset;
}

async function runOnce(size: number, backend: 'gpu' | 'cpu', engine?: Engine): Promise<{ summary: RunSummary; frames: number }> {
  const d = await prepare(size);
  const run = mkdtempSync(join(d.dir, `run-${backend}-`));
  writeFileSync(join(run, 'diffract.yaml'), demoConfig(2).replace(/data\//g, '../data/'));
  const cfg = await loadRunConfig(join(run, 'diffract.yaml'));
  cfg.report = false;
  try {
    return { summary: await runPipeline(cfg, { backend, ...(engine !== undefined ? { engine } : {}) }), frames: d.frames };
  } finally {
    rmSync(run, { recursive: true, force: true });
  }
}

function rows(s: RunSummary, frames: number, backend: 'gpu' | 'cpu'): BenchRow[] {
  const out: BenchRow[] = [];
  const perStage = new Map<string, number>();
  for (const t of s.stages) {
    const stage = t.stage.replace(/\..*$/, '');
    perStage.set(stage, (perStage.get(stage) ?? 0) + t.seconds);
  }
  for (const [stage, seconds] of perStage) {
    if (seconds <= 0) continue;
    const rate = frames / seconds;
    out.push({ section: 'pipeline', name: `${stage} (${frames} frames, 2 sweeps)`, backend, value: rate, unit: 'frames/s', note: `${seconds.toFixed(2)} s` });
    if (backend === 'gpu') gpuRates.set(stage, rate);
  }
  out.push({ section: 'pipeline', name: `whole run (${frames} frames, 2 sweeps)`, backend, value: frames / s.seconds, unit: 'frames/s', note: `${s.seconds.toFixed(1)} s on ${s.adapter}` });
  if (backend === 'gpu') gpuRates.set('whole run', frames / s.seconds);
  return out;
}

export const pipelineSection: BenchSection = {
  name: 'pipeline',
  async gpu(ctx: GpuContext, size: number) {
    const { summary, frames } = await runOnce(size, 'gpu', Engine.onContext(ctx));
    return rows(summary, frames, 'gpu');
  },
  async cpu(size: number) {
    const { summary, frames } = await runOnce(size, 'cpu');
    const out = rows(summary, frames, 'cpu');
    for (const r of [...out]) {
      const stage = r.name.replace(/ \(.*$/, '');
      const g = gpuRates.get(stage);
      // only the stages that run kernels: the others are host code (slowed on the GPU side by Dawn's polling core)
      if (g !== undefined && KERNEL_STAGES.has(stage)) out.push({ section: 'pipeline', name: `${stage}: GPU / CPU`, backend: 'host', value: g / r.value, unit: 'ratio' });
    }
    if (dataset !== undefined) rmSync(dataset.dir, { recursive: true, force: true });
    dataset = undefined;
    return out;
  },
};
