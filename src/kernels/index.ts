/**
 * The `./kernels` entry: every WGSL kernel with its CPU twin (the readable
 * specification), its params and result types and its program definition,
 * plus the kernel contracts. Run them through an `Engine` (`engine.run(kernel,
 * params)`, `engine.open(kernel, setup)` for the streaming ones): it picks the
 * GPU or the CPU twin and falls back once, on device loss.
 */
export type { Kernel, KernelSession, StreamingKernel } from './kernel.ts';
export * from './azimuthal-integrate.ts';
export * from './cell-bounds.ts';
export * from './cell-occupancy.ts';
export * from './filter-stats.ts';
export * from './hkl-map.ts';
export * from './merge-weighted.ts';
export * from './photon-detect.ts';
export * from './voxel-accumulate.ts';
