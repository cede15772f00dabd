/**
 * Several devices in one process (`diffract run --devices all|0,2|N`), Node
 * side.
 *
 * Dawn's Node bindings (npm `webgpu`) answer `requestAdapter` with one
 * adapter; another is reached by creating a GPU object with the flag
 * `adapter=<name>`, and the list of adapters is what Dawn's error message
 * gives for a name that matches none ("Available adapters: * backend:
 * 'vulkan', name: '…'"). WebGPU's adapter info carries no UUID and no PCI bus
 * ID, and Dawn selects by name: adapters are numbered in Dawn's order, and
 * two adapters of the same name cannot be told apart (the second is skipped,
 * with a warning).
 *
 * - `N` (a count): N devices on the default adapter (on a machine with one
 *   GPU, the same adapter opened N times; the multi-device test does this).
 * - `all`: one device per adapter; inside a Slurm job with GPUs
 *   (SLURM_STEP_GPUS, SLURM_JOB_GPUS or CUDA_VISIBLE_DEVICES) and more
 *   adapters listed than GPUs assigned, the assigned indices, by index.
 * - `0,2` (indices, comma-separated; one index: `1,`): those adapters.
 */
import { UsageError, GpuError } from '../errors.ts';
import { log } from '../util/log.ts';
import { describeAdapter, GpuContext, type AdapterDescription } from './context.ts';
import { loadDawn } from './dawn.ts';
import { Engine } from './engine.ts';
import { contextOptionsFromEnv, dawnFlags } from './node-gpu.ts';
import type { Environment } from './platform.ts';

export type DeviceSpec = { kind: 'all' } | { kind: 'indices'; indices: number[] } | { kind: 'count'; count: number };

/** One adapter Dawn lists. */
export interface AdapterEntry extends AdapterDescription {
  /** position in Dawn's list, from 0 */
  index: number;
  /** Dawn's backend: 'vulkan', 'metal', … */
  backend: string;
  /** the name Dawn selects it by */
  name: string;
}

/** Parses `--devices`: 'all', a count N, or indices '0,2' (a single index: '1,'). */
export function parseDevices(text: string, field = '--devices'): DeviceSpec {
  const t = text.trim();
  if (t === 'all') return { kind: 'all' };
  if (/^\d+$/.test(t)) {
    const count = Number(t);
    if (count < 1 || count > 64) throw new UsageError(`a device count must be in 1…64, got ${count}`, { field });
    return { kind: 'count', count };
  }
  if (/^\d+(\s*,\s*\d+)*\s*,?$/.test(t)) {
    const indices = t.split(',').filter((s) => s.trim() !== '').map((s) => Number(s.trim()));
    if (new Set(indices).size !== indices.length) throw new UsageError(`an adapter is listed twice in '${text}'`, { field });
    return { kind: 'indices', indices };
  }
  throw new UsageError(`expected all, a device count N, or adapter indices such as 0,2, got '${text}'`, { field });
}

/** The adapters in Dawn's "Available adapters" message, in its order. */
export function parseAdapterList(message: string): { backend: string; name: string }[] {
  const out: { backend: string; name: string }[] = [];
  for (const m of message.matchAll(/^\s*\*\s*backend:\s*'([^']*)',\s*name:\s*'(.*)'\s*$/gm)) out.push({ backend: m[1]!, name: m[2]! });
  return out;
}

type DawnModule = { create(flags: string[]): GPU };

async function dawnModule(env: Environment): Promise<DawnModule | null> {
  if ((await loadDawn(dawnFlags(env))) === null) return null;
  return (await import('webgpu')) as DawnModule;
}

/** A name no adapter has: Dawn then lists them all in its error. */
const NO_SUCH_ADAPTER = 'diffract: list the adapters';

/**
 * The GPU objects made for named adapters, one per name, kept for the life of
 * the process: a device outlives neither its Dawn instance (collected with
 * its GPU object) nor may two instances of one adapter run side by side.
 */
const namedGpus = new Map<string, GPU>();

/** The adapter named `name`, or null when none. */
async function requestAdapterNamed(dawn: DawnModule, env: Environment, name: string): Promise<GPUAdapter | null> {
  let gpu = namedGpus.get(name);
  if (gpu === undefined) {
    gpu = dawn.create([...dawnFlags(env), `adapter=${name}`]);
    namedGpus.set(name, gpu);
  }
  return gpu.requestAdapter({ powerPreference: 'high-performance' });
}

/** Every adapter Dawn reports, with its index and identifiers ([] when Dawn cannot load). */
export async function listNodeAdapters(env: Environment = process.env): Promise<AdapterEntry[]> {
  const dawn = await dawnModule(env);
  if (dawn === null) return [];
  let listed: { backend: string; name: string }[] = [];
  try {
    await dawn.create([...dawnFlags(env), `adapter=${NO_SUCH_ADAPTER}`]).requestAdapter();
  } catch (err) {
    listed = parseAdapterList(err instanceof Error ? err.message : String(err));
  }
  const out: AdapterEntry[] = [];
  for (const [index, l] of listed.entries()) {
    let desc: AdapterDescription = { vendor: 'unknown vendor', architecture: '', device: '', description: '' };
    try {
      const a = await requestAdapterNamed(dawn, env, l.name);
      if (a !== null) desc = describeAdapter(a);
    } catch (err) {
      log('debug', `adapter ${index} (${l.name}) could not be opened: ${err instanceof Error ? err.message : String(err)}`);
    }
    out.push({ ...desc, index, backend: l.backend, name: l.name });
  }
  return out;
}

/** The GPU indices Slurm assigned to this task, and the variable they came from; null outside a Slurm GPU job. */
export function slurmGpus(env: Environment): { indices: number[]; from: string } | null {
  for (const from of ['SLURM_STEP_GPUS', 'SLURM_JOB_GPUS', 'CUDA_VISIBLE_DEVICES']) {
    const v = env[from];
    if (v === undefined || v.trim() === '') continue;
    const parts = v.split(',').map((s) => s.trim());
    if (parts.every((p) => /^\d+$/.test(p))) return { indices: parts.map(Number), from };
    log('info', `${from}=${v} names GPUs by UUID, which WebGPU adapters do not report; taking the adapters by index`);
  }
  return null;
}

/** Which adapters (indices into `adapters`) `spec` opens; logs how Slurm's assignment was mapped. */
export function chooseAdapters(spec: DeviceSpec, adapters: readonly AdapterEntry[], env: Environment): number[] {
  if (spec.kind === 'count') return Array.from({ length: spec.count }, () => 0);
  if (spec.kind === 'indices') {
    for (const i of spec.indices) {
      if (i >= adapters.length) {
        throw new UsageError(`no adapter ${i}: Dawn lists ${adapters.length} (${adapters.map((a) => `${a.index}: ${a.name}`).join('; ') || 'none'}); see diffract info`, { field: '--devices' });
      }
    }
    return spec.indices;
  }
  let chosen = adapters.map((a) => a.index);
  const slurm = slurmGpus(env);
  if (slurm !== null && adapters.length > slurm.indices.length) {
    const inRange = slurm.indices.filter((i) => i < adapters.length);
    log('info', `Slurm assigned GPUs ${slurm.indices.join(',')} (${slurm.from}); Dawn lists ${adapters.length} adapters and gives no UUID or PCI bus ID, so they are taken by index: ${inRange.join(',')}`);
    chosen = inRange;
  } else if (slurm !== null) {
    log('info', `Slurm assigned GPUs ${slurm.indices.join(',')} (${slurm.from}); Dawn lists exactly that many adapters (the others are hidden from this task): using all of them`);
  }
  const seen = new Map<string, number>();
  return chosen.filter((i) => {
    const name = adapters[i]!.name;
    const first = seen.get(name);
    if (first === undefined) {
      seen.set(name, i);
      return true;
    }
    log('warn', `adapters ${first} and ${i} have the same name '${name}', and Dawn selects adapters by name: only adapter ${first} is used`);
    return false;
  });
}

/** Opens one engine per device of `spec` (the caller destroys them); the names say which adapter each is on. */
export async function openDeviceEngines(spec: DeviceSpec, env: Environment = process.env): Promise<Engine[]> {
  const dawn = await dawnModule(env);
  if (dawn === null) throw new GpuError('--devices needs a GPU adapter, and Dawn found none (no GPU driver or Vulkan ICD on this machine)');
  const adapters = spec.kind === 'count' ? [] : await listNodeAdapters(env);
  const picks = chooseAdapters(spec, adapters, env);
  const engines: Engine[] = [];
  try {
    // a count: every device from the one GPU object of this process (several Dawn instances at once do not mix)
    const shared = spec.kind === 'count' ? await loadDawn(dawnFlags(env)) : null;
    for (const i of picks) {
      const adapter = shared !== null ? await shared.requestAdapter({ powerPreference: 'high-performance' }) : await requestAdapterNamed(dawn, env, adapters[i]!.name);
      if (adapter === null) throw new GpuError(`adapter ${i} is listed but cannot be opened`);
      engines.push(Engine.onContext(await GpuContext.fromAdapter(adapter, contextOptionsFromEnv({}, env))));
    }
  } catch (err) {
    for (const e of engines) e.destroy();
    throw err;
  }
  log('info', `devices: ${engines.map((e, k) => `${k}: ${e.deviceName}${spec.kind === 'count' ? '' : ` (adapter ${picks[k]})`}`).join(', ')}`);
  return engines;
}
