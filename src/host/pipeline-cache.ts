/**
 * Compiled compute pipelines, keyed by kernel name and compile-time defines
 * only. Run-time sizes travel in uniforms, so a new image size never compiles
 * a new pipeline.
 */
import type { ShaderDefines } from './shader-source.ts';

export function pipelineKey(kernel: string, defines: ShaderDefines): string {
  const parts = Object.keys(defines)
    .sort()
    .map((k) => `${k}=${String(defines[k])}`);
  return `${kernel}|${parts.join(',')}`;
}

export class PipelineCache {
  private readonly pipelines = new Map<string, GPUComputePipeline>();
  private compiles = 0;

  get(kernel: string, defines: ShaderDefines, build: () => GPUComputePipeline): GPUComputePipeline {
    const key = pipelineKey(kernel, defines);
    let p = this.pipelines.get(key);
    if (p === undefined) {
      p = build();
      this.compiles++;
      this.pipelines.set(key, p);
    }
    return p;
  }

  get size(): number {
    return this.pipelines.size;
  }
  get compileCount(): number {
    return this.compiles;
  }
  clear(): void {
    this.pipelines.clear();
  }
}
