/** `diffract info`: the adapter, its limits, whether it is a software adapter, and the backend chosen. */
import type { Command } from 'commander';
import { softwareAdapterReason } from '../../host/adapter-kind.ts';
import { resolveBackendChoice } from '../../host/backend.ts';
import { GpuContext } from '../../host/context.ts';
import { listNodeAdapters, type AdapterEntry } from '../../host/node-devices.ts';
import { GpuError } from '../../errors.ts';
import { globalOptions } from '../engine-options.ts';
import type { CommandSpec } from '../command-spec.ts';

export interface InfoReport {
  backendChoice: string;
  /** what this choice runs on */
  backend: 'gpu' | 'cpu';
  /** what `--backend auto` runs on (the CPU path when the adapter is a software one) */
  autoPicks: 'gpu' | 'cpu';
  adapter: { vendor: string; architecture: string; device: string; description: string; fallback?: boolean } | null;
  /** why the adapter counts as a software adapter (llvmpipe, SwiftShader, fallback), or null for a hardware one */
  software: string | null;
  limits: Record<string, number> | null;
  reason?: string;
  /** every adapter Dawn lists, with the index `diffract run --devices` takes (empty when Dawn cannot load) */
  adapters: AdapterEntry[];
  node: string;
}

export async function gatherInfo(backendCli: string): Promise<InfoReport> {
  const choice = resolveBackendChoice(backendCli, process.env);
  if (choice === 'cpu') return { backendChoice: choice, node: process.version, adapters: [], backend: 'cpu', autoPicks: 'cpu', adapter: null, software: null, limits: null, reason: 'backend cpu requested' };
  const base = { backendChoice: choice, node: process.version, adapters: await listNodeAdapters() };
  let ctx: GpuContext;
  try {
    // the adapter is opened even under auto, to say what it is (a software one included)
    ctx = await GpuContext.create();
  } catch (err) {
    if (choice === 'gpu' || !(err instanceof GpuError)) throw err;
    return { ...base, backend: 'cpu', autoPicks: 'cpu', adapter: null, software: null, limits: null, reason: err.message };
  }
  try {
    const software = softwareAdapterReason(ctx.adapter);
    const autoPicks = software === null ? 'gpu' : 'cpu';
    const report: InfoReport = { ...base, backend: choice === 'gpu' ? 'gpu' : autoPicks, autoPicks, adapter: { ...ctx.adapter }, software, limits: { ...ctx.limits } };
    if (software !== null && choice === 'auto') report.reason = `software adapter (${software}): the CPU path is faster; --backend gpu uses it`;
    return report;
  } finally {
    ctx.destroy();
  }
}

export function formatInfo(r: InfoReport): string {
  const lines = [`backend: ${r.backend} (requested ${r.backendChoice}; auto picks ${r.autoPicks})`];
  if (r.adapter) {
    lines.push(`adapter: ${r.adapter.description || r.adapter.device}`);
    lines.push(`  vendor ${r.adapter.vendor}, architecture ${r.adapter.architecture || '-'}, device ${r.adapter.device || '-'}`);
    lines.push(`  ${r.software !== null ? `software adapter (${r.software}): auto runs on the CPU path, which is faster; --backend gpu uses it` : 'hardware adapter'}`);
  } else {
    lines.push(`adapter: none${r.reason ? ` (${r.reason})` : ''}`);
  }
  if (r.adapters.length > 0) {
    lines.push('adapters (diffract run --devices takes these indices; WebGPU reports no UUID or PCI bus ID):');
    for (const a of r.adapters) lines.push(`  ${a.index}: ${a.name} (${a.backend}; vendor ${a.vendor}, architecture ${a.architecture || '-'}, device ${a.device || '-'})`);
  }
  if (r.limits) {
    lines.push('limits:');
    for (const [k, v] of Object.entries(r.limits)) lines.push(`  ${k.padEnd(36)} ${v}`);
  }
  lines.push(`node: ${r.node}`);
  return lines.join('\n');
}

export const infoCommand: CommandSpec = {
  name: 'info',
  register(program) {
    program
      .command('info')
      .description('print the GPU adapter, its limits, whether it is a software adapter, every adapter Dawn lists (with the indices --devices takes) and the backend that would be chosen')
      .option('--json', 'print JSON')
      .action(async (opts: { json?: boolean }, cmd: Command) => {
        const g = globalOptions(cmd);
        const report = await gatherInfo(g.backend);
        process.stdout.write(opts.json ? `${JSON.stringify(report, null, 2)}\n` : `${formatInfo(report)}\n`);
      });
  },
};
