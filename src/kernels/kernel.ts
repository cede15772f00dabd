/**
 * The kernel convention. Each kernel is `shaders/<name>.wgsl` plus one module
 * in `src/kernels/` that exports a `Kernel`: a typed params object, a CPU twin
 * that is the readable specification of the computation, and the GPU path with
 * the same inputs and outputs. Tests run one table of cases through both.
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
