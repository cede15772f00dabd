/**
 * The kernel convention. Each kernel is `shaders/<name>.wgsl` plus one module
 * in `src/kernels/` that exports a `Kernel`: a typed params object, a CPU twin
 * that is the readable specification of the computation, and the GPU path with
 * the same inputs and outputs. Tests run one table of cases through both.
 *
 * A streaming kernel (its input arrives in batches, its state stays resident
 * between them) also has the session form: `open(setup)` on either backend,
 * then `add(batch)` any number of times and `finish()` once. The `Engine`
 * opens sessions (`engine.open`) and owns the GPU → CPU fall-back for both
 * forms, so no kernel or caller writes it again.
 */
import type { GpuContext } from '../host/context.ts';

export interface Kernel<P, R> {
  /** also the shader file name: shaders/<name>.wgsl */
  readonly name: string;
  /** the reference implementation */
  cpu(params: P): R;
  /** the WGSL implementation; resolves to the same result shape as `cpu` */
  gpu(ctx: GpuContext, params: P): Promise<R>;
}

/** A live session of a streaming kernel on one backend. */
export interface KernelSession<B, R> {
  readonly backend: 'cpu' | 'gpu';
  add(batch: B): Promise<void>;
  /** the result; the session is done afterwards */
  finish(): Promise<R>;
  /** releases what the session holds (idempotent; finish calls it) */
  dispose(): void;
}

/** The session form of a streaming kernel: setup S, batches B, result R. */
export interface StreamingKernel<S, B, R> {
  readonly name: string;
  openCpu(setup: S): KernelSession<B, R>;
  openGpu(ctx: GpuContext, setup: S): KernelSession<B, R>;
}
