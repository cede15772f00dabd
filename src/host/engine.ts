/**
 * The engine: picks the backend for each kernel and steps down from GPU to CPU.
 *
 * Like pyFAI's method registry, `auto` tries the GPU and degrades to the CPU
 * twin with one log line: when no adapter exists (one notice at start), or when
 * the device is lost mid-run (one warning; the remaining work continues on the
 * CPU path, including the call that hit the loss).
 *
 * Host core: `create` reads DIFFRACT_BACKEND through the Node side
 * (node-gpu.ts) under Node and nothing in a browser, where `Engine.onContext`
 * runs the kernels on a wrapped `navigator.gpu` device.
 */
import { DeviceLostError, GpuError } from '../errors.ts';
import type { Kernel } from '../kernels/kernel.ts';
import { log, logOnce } from '../util/log.ts';
import { resolveBackendChoice, type BackendChoice } from './backend.ts';
import { GpuContext, type GpuCreateOptions } from './context.ts';
import { hostEnvironment } from './platform.ts';

export interface EngineOptions extends GpuCreateOptions {
  /** the CLI value; DIFFRACT_BACKEND overrides it */
  backend?: string;
}

export class Engine {
  readonly choice: BackendChoice;
  private gpuContext: GpuContext | null;
  private fellBack = false;

  private constructor(choice: BackendChoice, gpu: GpuContext | null) {
    this.choice = choice;
    this.gpuContext = gpu;
  }

  static async create(opts: EngineOptions = {}): Promise<Engine> {
    const env = opts.env ?? (await hostEnvironment());
    const choice = resolveBackendChoice(opts.backend, env);
    if (choice === 'cpu') return new Engine(choice, null);
    try {
      const { backend: _backend, ...ctxOpts } = opts;
      const ctx = await GpuContext.create({ ...ctxOpts, env });
      log('debug', `GPU adapter: ${ctx.name}`);
      return new Engine(choice, ctx);
    } catch (err) {
      if (choice === 'gpu' || !(err instanceof GpuError)) throw err;
      logOnce('no-gpu', 'notice', `${err.message}; running on the CPU path (backend auto)`);
      return new Engine(choice, null);
    }
  }

  /**
   * An engine on a given context (a wrapped browser device, benches): the GPU
   * path, falling back to the CPU if that device is lost. `destroy()` destroys
   * the context (and its device, unless the context wraps one it does not own).
   */
  static onContext(ctx: GpuContext): Engine {
    return new Engine('gpu', ctx);
  }

  /** A CPU-only engine (tests, benches of the CPU path). */
  static cpu(): Engine {
    return new Engine('cpu', null);
  }

  /** The backend the next kernel runs on. */
  get backend(): 'gpu' | 'cpu' {
    return this.gpuContext !== null && !this.gpuContext.isLost ? 'gpu' : 'cpu';
  }
  get gpu(): GpuContext | null {
    return this.backend === 'gpu' ? this.gpuContext : null;
  }
  /** The adapter in use, or 'CPU'. */
  get deviceName(): string {
    return this.gpu?.name ?? 'CPU';
  }
  /** True once a lost device moved the work to the CPU. */
  get fellBackToCpu(): boolean {
    return this.fellBack;
  }

  /** Runs `kernel` on the current backend; on device loss, warns once and reruns on the CPU. */
  async run<P, R>(kernel: Kernel<P, R>, params: P): Promise<R> {
    const lostCtx = this.gpuContext;
    if (lostCtx !== null && lostCtx.isLost && !this.fellBack) this.fallBack(lostCtx, kernel.name, 'the device was lost');
    const ctx = this.gpu;
    if (ctx === null) return kernel.cpu(params);
    try {
      return await kernel.gpu(ctx, params);
    } catch (err) {
      if (!(err instanceof DeviceLostError) && !ctx.isLost) throw err;
      this.fallBack(ctx, kernel.name, err);
      return kernel.cpu(params);
    }
  }

  /** Releases the GPU device. Safe to call twice. */
  destroy(): void {
    this.gpuContext?.destroy();
  }

  private fallBack(ctx: GpuContext, kernelName: string, err: unknown): void {
    if (!this.fellBack) {
      const why = err instanceof Error ? err.message : String(err);
      log('warn', `GPU device lost during kernel ${kernelName} (${why}); continuing on the CPU path`);
    }
    this.fellBack = true;
    ctx.destroy();
  }
}
