/**
 * `npm run bench [-- --size S] [--only NAME[,NAME…]] [--gpu-only] [--json FILE]`:
 * every section's GPU part first, then the device is destroyed (dawn.node
 * busy-polls a core while a device lives, which would slow the CPU path), then
 * every CPU part (none with `--gpu-only`: bench/device.sh on a GPU machine).
 * Prints one table with the adapter named, and GPU/CPU ratios for rates
 * measured in the same run. Progress goes to stderr with the elapsed time.
 */
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { softwareAdapterReason } from '../src/host/adapter-kind.ts';
import { GpuContext } from '../src/host/context.ts';
import * as nodeHost from '../src/host/node-gpu.ts';
import { provideNodeHost } from '../src/host/platform.ts';
import { benchArg as arg, type BenchRow, type BenchSection } from './harness.ts';
import { SECTIONS } from './sections/index.ts';

function fmt(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  if (a >= 1e9) return `${(v / 1e9).toFixed(2)}e9`;
  if (a >= 1e6) return `${(v / 1e6).toFixed(2)}e6`;
  if (a >= 1e3) return `${(v / 1e3).toFixed(2)}e3`;
  return v.toPrecision(3);
}

async function main(): Promise<void> {
  const size = Number(arg('--size') ?? '1');
  const only = arg('--only')?.split(',');
  const gpuOnly = process.argv.includes('--gpu-only');
  const sections: BenchSection[] = SECTIONS.filter((s) => only === undefined || only.includes(s.name));
  // the Node host given statically, so that a bundle of this file (bench/device-prepare.sh) carries it
  provideNodeHost(nodeHost);
  const t0 = performance.now();
  const elapsed = (): string => `${((performance.now() - t0) / 1000).toFixed(0)} s`;
  const rows: BenchRow[] = [];
  let adapter = 'none (CPU only)';

  const wantsGpu = sections.some((s) => s.gpu !== undefined) && process.env.DIFFRACT_BACKEND !== 'cpu';
  if (wantsGpu) {
    let ctx: GpuContext | null = null;
    try {
      ctx = await GpuContext.create();
      const soft = softwareAdapterReason(ctx.adapter);
      adapter = `${ctx.name} (vendor ${ctx.adapter.vendor}, architecture ${ctx.adapter.architecture || '-'}${soft !== null ? `; a software adapter: ${soft}` : ''})`;
      console.error(`bench: adapter ${adapter}`);
    } catch (err) {
      console.error(`bench: no GPU adapter (${err instanceof Error ? err.message : String(err)}); GPU rows omitted`);
    }
    if (ctx !== null) {
      try {
        for (const s of sections) {
          if (s.gpu === undefined) continue;
          console.error(`bench: ${s.name} on GPU … (${elapsed()})`);
          rows.push(...(await s.gpu(ctx, size)));
        }
      } finally {
        ctx.destroy();
      }
    }
  }
  for (const s of gpuOnly ? [] : sections) {
    console.error(`bench: ${s.name} on CPU … (${elapsed()})`);
    rows.push(...(await s.cpu(size)));
  }

  console.error(`bench: done (${elapsed()})`);
  console.log(`diffract bench — adapter: ${adapter}; CPU: ${cpus()[0]?.model ?? '?'} × ${cpus().length}; node ${process.version}; size ${size}`);
  console.log('');
  const sw = Math.max(12, ...rows.map((r) => r.section.length));
  console.log(`${'section'.padEnd(sw)} ${'backend'.padEnd(7)} ${'value'.padStart(10)} ${'unit'.padEnd(16)} what`);
  for (const r of rows) {
    console.log(`${r.section.padEnd(sw)} ${r.backend.padEnd(7)} ${fmt(r.value).padStart(10)} ${r.unit.padEnd(16)} ${r.name}${r.note ? ` (${r.note})` : ''}`);
  }
  // GPU/CPU ratios for rate rows of the same workload (the name without its
  // trailing "(…)" variant) and the same unit, measured in this run
  const workload = (name: string): string => name.replace(/\s*\([^)]*\)\s*$/, '');
  const ratios: string[] = [];
  for (const g of rows.filter((r) => r.backend === 'gpu' && r.unit.endsWith('/s'))) {
    const cpu = rows.find((r) => r.section === g.section && r.backend === 'cpu' && r.unit === g.unit && workload(r.name) === workload(g.name));
    if (cpu !== undefined) ratios.push(`${g.section}: GPU/CPU = ${(g.value / cpu.value).toFixed(2)}× — ${g.name} vs ${cpu.name}`);
  }
  if (ratios.length > 0) {
    console.log('');
    for (const line of ratios) console.log(line);
  }
  const jsonOut = arg('--json');
  if (jsonOut !== undefined) writeFileSync(jsonOut, JSON.stringify({ adapter, size, rows }, null, 2));
}

await main();
