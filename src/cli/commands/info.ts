/** `diffract info`: the adapter, its limits and the backend chosen. */
import type { Command } from 'commander';
import { resolveBackendChoice } from '../../host/backend.ts';
import { GpuContext } from '../../host/context.ts';
import { GpuError } from '../../errors.ts';
import { globalOptions } from '../engine-options.ts';
import type { CommandSpec } from '../command-spec.ts';

export interface InfoReport {
  backendChoice: string;
  backend: 'gpu' | 'cpu';
  adapter: { vendor: string; architecture: string; device: string; description: string } | null;
  limits: Record<string, number> | null;
  reason?: string;
  node: string;
}

export async function gatherInfo(backendCli: string): Promise<InfoReport> {
  const choice = resolveBackendChoice(backendCli, process.env);
  const base = { backendChoice: choice, node: process.version };
  if (choice === 'cpu') return { ...base, backend: 'cpu', adapter: null, limits: null, reason: 'backend cpu requested' };
  let ctx: GpuContext;
  try {
    ctx = await GpuContext.create();
  } catch (err) {
    if (choice === 'gpu' || !(err instanceof GpuError)) throw err;
    return { ...base, backend: 'cpu', adapter: null, limits: null, reason: err.message };
  }
  try {
    return { ...base, backend: 'gpu', adapter: { ...ctx.adapter }, limits: { ...ctx.limits } };
  } finally {
    ctx.destroy();
  }
}

export function formatInfo(r: InfoReport): string {
  const lines = [`backend: ${r.backend} (requested ${r.backendChoice})`];
  if (r.adapter) {
    lines.push(`adapter: ${r.adapter.description || r.adapter.device}`);
    lines.push(`  vendor ${r.adapter.vendor}, architecture ${r.adapter.architecture || '-'}, device ${r.adapter.device || '-'}`);
  } else {
    lines.push(`adapter: none${r.reason ? ` (${r.reason})` : ''}`);
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
      .description('print the GPU adapter, its limits and the backend that would be chosen')
      .option('--json', 'print JSON')
      .action(async (opts: { json?: boolean }, cmd: Command) => {
        const g = globalOptions(cmd);
        const report = await gatherInfo(g.backend);
        process.stdout.write(opts.json ? `${JSON.stringify(report, null, 2)}\n` : `${formatInfo(report)}\n`);
      });
  },
};
