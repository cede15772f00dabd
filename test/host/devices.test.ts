/**
 * `--devices` (src/host/node-devices.ts): parsing the flag, reading Dawn's list of
 * adapters out of its error message, and choosing adapters, Slurm's GPU
 * assignment included (by index: WebGPU reports no UUID or PCI bus ID).
 */
import { describe, expect, it } from 'vitest';
import { chooseAdapters, parseAdapterList, parseDevices, slurmGpus, type AdapterEntry } from '../../src/host/node-devices.ts';

const entry = (index: number, name: string): AdapterEntry => ({ index, name, backend: 'vulkan', vendor: 'nvidia', architecture: '', device: '', description: name });

describe('--devices', () => {
  it('parses all, a count, and indices', () => {
    expect(parseDevices('all')).toEqual({ kind: 'all' });
    expect(parseDevices('2')).toEqual({ kind: 'count', count: 2 });
    expect(parseDevices('0,2')).toEqual({ kind: 'indices', indices: [0, 2] });
    expect(parseDevices('1,')).toEqual({ kind: 'indices', indices: [1] });
    expect(() => parseDevices('0')).toThrow(/--devices.*1…64, got 0/);
    expect(() => parseDevices('1,1')).toThrow(/listed twice/);
    expect(() => parseDevices('gpu0')).toThrow(/expected all, a device count N, or adapter indices/);
  });

  it("reads the adapters from Dawn's message for a name that matches none", () => {
    const message = "no suitable backends found\nAvailable adapters:\n * backend: 'vulkan', name: 'NVIDIA A100-SXM4-40GB'\n * backend: 'vulkan', name: 'llvmpipe (LLVM 15.0.6, 256 bits)'\n";
    expect(parseAdapterList(message)).toEqual([
      { backend: 'vulkan', name: 'NVIDIA A100-SXM4-40GB' },
      { backend: 'vulkan', name: 'llvmpipe (LLVM 15.0.6, 256 bits)' },
    ]);
    expect(parseAdapterList('no adapter at all')).toEqual([]);
  });

  it("chooses adapters: a count on the default one, indices checked against Dawn's list, Slurm's GPUs by index", () => {
    const four = ['A', 'B', 'C', 'D'].map((n, i) => entry(i, `GPU ${n}`));
    expect(chooseAdapters({ kind: 'count', count: 3 }, [], {})).toEqual([0, 0, 0]);
    expect(chooseAdapters({ kind: 'indices', indices: [2, 0] }, four, {})).toEqual([2, 0]);
    expect(() => chooseAdapters({ kind: 'indices', indices: [4] }, four, {})).toThrow(/no adapter 4: Dawn lists 4 \(0: GPU A; 1: GPU B; 2: GPU C; 3: GPU D\)/);
    expect(chooseAdapters({ kind: 'all' }, four, {})).toEqual([0, 1, 2, 3]);
    // a task given GPUs 1 and 3 of a node whose adapters are all visible
    expect(chooseAdapters({ kind: 'all' }, four, { SLURM_STEP_GPUS: '1,3', CUDA_VISIBLE_DEVICES: '0,1' })).toEqual([1, 3]);
    // cgroups hide the others: Dawn lists exactly the assigned ones
    expect(chooseAdapters({ kind: 'all' }, four.slice(0, 2), { SLURM_JOB_GPUS: '5,6' })).toEqual([0, 1]);
    // two adapters of one name cannot be told apart by Dawn: the second is left out
    expect(chooseAdapters({ kind: 'all' }, [entry(0, 'A100'), entry(1, 'A100')], {})).toEqual([0]);
  });

  it("takes Slurm's GPU variables in order of precedence; UUIDs are not indices", () => {
    expect(slurmGpus({ SLURM_STEP_GPUS: '2', SLURM_JOB_GPUS: '2,3' })).toEqual({ indices: [2], from: 'SLURM_STEP_GPUS' });
    expect(slurmGpus({ CUDA_VISIBLE_DEVICES: 'GPU-8f1c2a3b-aaaa-bbbb-cccc-123456789abc' })).toBeNull();
    expect(slurmGpus({})).toBeNull();
  });
});
