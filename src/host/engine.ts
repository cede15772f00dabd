/**
 * The engine: picks the backend for each kernel and steps down from GPU to CPU.
 *
 * Like pyFAI's method registry, `auto` tries the GPU and degrades to the CPU
 * twin with one log line: when no adapter exists, or only a software one
 * (llvmpipe, SwiftShader: slower than the CPU path; one notice), or when
 * the device is lost mid-run (one warning; the remaining work continues on the
 * CPU path, including the call that hit the loss).
 *
 * Host core: `create` reads DIFFRACT_BACKEND through the Node side
 * (node-gpu.ts) under Node and nothing in a browser, where `Engine.onContext`
 * runs the kernels on a wrapped `navigator.gpu` device.
 */
import { DeviceLostError, GpuError, invariant } from '../errors.ts';
import type { Kernel, KernelSession, StreamingKernel } from '../kernels/kernel.ts';
import { log, logOnce } from '../util/log.ts';
import { resolveBackendChoice, type BackendChoice } from './backend.ts';
import { GpuContext, type GpuCreateOptions } from './context.ts';
import type { DeviceArray } from './device-array.ts';
import { hostEnvironment } from './platform.ts';
import { threadCount } from './thread-count.ts';

export interface EngineOptions extends GpuCreateOptions {
  /** the CLI value; DIFFRACT_BACKEND overrides it */
  backend?: string;
  /** CPU threads (default: DIFFRACT_THREADS, else the runtime's parallelism; src/host/thread-count.ts) */
  threads?: number;
  /** host memory budget in MiB (frame batches, per-thread accumulators); default: sized to the machine by the caller */
  memoryMb?: number;
}

/** The CPU side of an engine. */
export interface CpuOptions {
  /** worker threads for the CPU kernels (1: the single-thread twins) */
  threads?: number;
  /** host memory budget in MiB; undefined: the default of the stage */
  memoryMb?: number;
}

export interface OpenOptions<B> {
  /**
   * Yields again what the first `count` batches given to `add` held (in any
   * order and grouping, for kernels whose result does not depend on them):
   * after a device loss the engine replays it into the CPU session. Without
   * it the session keeps every batch it was given until `finish`.
   */
  replay?: (count: number) => AsyncIterable<B>;
}

export class Engine {
  readonly choice: BackendChoice;
  /** CPU threads the CPU kernels may use (stages read `ctx.engine.threads`) */
  readonly threads: number;
  /** host memory budget in MiB, when one was set */
  readonly memoryMb: number | undefined;
  private gpuContext: GpuContext | null;
  private fellBack = false;
  /** why `auto` found no GPU: said once, when the first kernel runs (a command stopped by bad input says nothing of it) */
  private noGpuNotice: string | null;

  private constructor(choice: BackendChoice, gpu: GpuContext | null, noGpuNotice: string | null = null, cpu: CpuOptions = {}) {
    this.choice = choice;
    this.threads = cpu.threads ?? 1;
    invariant(Number.isSafeInteger(this.threads) && this.threads >= 1, `engine threads ${this.threads} is a positive integer`);
    this.memoryMb = cpu.memoryMb;
    this.gpuContext = gpu;
    this.noGpuNotice = noGpuNotice;
  }

  static async create(opts: EngineOptions = {}): Promise<Engine> {
    const env = opts.env ?? (await hostEnvironment());
    const choice = resolveBackendChoice(opts.backend, env);
    const cpu: CpuOptions = { threads: threadCount(opts.threads, env) };
    if (opts.memoryMb !== undefined) cpu.memoryMb = opts.memoryMb;
    if (choice === 'cpu') return new Engine(choice, null, null, cpu);
    try {
      const { backend: _backend, threads: _threads, memoryMb: _memoryMb, ...ctxOpts } = opts;
      // auto passes software adapters by (lavapipe, SwiftShader): the CPU path is faster than they are
      const ctx = await GpuContext.create({ ...ctxOpts, env, skipSoftware: choice === 'auto' });
      log('debug', `GPU adapter: ${ctx.name}`);
      return new Engine(choice, ctx, null, cpu);
    } catch (err) {
      if (choice === 'gpu' || !(err instanceof GpuError)) throw err;
      return new Engine(choice, null, `${err.message}; running on the CPU path (backend auto)`, cpu);
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

  /** A CPU-only engine (tests, benches of the CPU path); one thread unless `opts.threads` says more. */
  static cpu(opts: CpuOptions = {}): Engine {
    return new Engine('cpu', null, null, opts);
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
    const ctx = this.current(kernel.name);
    if (ctx === null) return kernel.cpu(params);
    return this.guarded(ctx, kernel.name, () => kernel.gpu(ctx, params), () => kernel.cpu(params));
  }

  /**
   * Opens a session of a streaming kernel on the current backend. A device
   * lost while it runs (in `add` or `finish`) moves it to the CPU: the batches
   * so far are replayed into a CPU session and the work goes on there.
   */
  async open<S, B, R>(kernel: StreamingKernel<S, B, R>, setup: S, opts: OpenOptions<B> = {}): Promise<KernelSession<B, R>> {
    const ctx = this.current(kernel.name);
    if (ctx === null) return kernel.openCpu(setup);
    return this.guarded<KernelSession<B, R>>(
      ctx,
      kernel.name,
      async () => new FallbackSession(this, ctx, kernel, setup, kernel.openGpu(ctx, setup), opts),
      () => kernel.openCpu(setup),
    );
  }

  /**
   * The one GPU → CPU step-down, for one-shot kernels and sessions alike:
   * runs `gpu`; when the device is lost (before or during it), warns once,
   * releases the device and returns `cpu()` instead. Other errors pass.
   * @internal (kernel sessions)
   */
  async guarded<T>(ctx: GpuContext, kernelName: string, gpu: () => Promise<T>, cpu: () => T | Promise<T>): Promise<T> {
    try {
      ctx.ensureAlive(kernelName);
      return await gpu();
    } catch (err) {
      if (!(err instanceof DeviceLostError) && !ctx.isLost) throw err;
      this.fallBack(ctx, kernelName, err);
      return cpu();
    }
  }

  /**
   * `data` on the device for `owner` under `name`: uploaded on the first call,
   * the same device array afterwards; kernels given `data` itself bind it
   * instead of uploading (src/host/resident.ts). Null on the CPU backend.
   */
  resident(owner: object, name: string, data: Uint32Array | Int32Array | Float32Array, label = name): DeviceArray | null {
    const ctx = this.gpu;
    return ctx === null ? null : ctx.resident(owner, name, data, label);
  }

  /** Releases `owner`'s resident arrays (they also go with the owner, and with the device). */
  releaseResident(owner: object): void {
    this.gpuContext?.releaseResident(owner);
  }

  /** Releases the GPU device. Safe to call twice. */
  destroy(): void {
    this.gpuContext?.destroy();
  }

  /** The live device for the next kernel, or null (a device found lost is let go first, with the warning). */
  private current(kernelName: string): GpuContext | null {
    if (this.noGpuNotice !== null) {
      logOnce('no-gpu', 'notice', this.noGpuNotice);
      this.noGpuNotice = null;
    }
    const ctx = this.gpuContext;
    if (ctx !== null && ctx.isLost && !this.fellBack) this.fallBack(ctx, kernelName, 'the device was lost');
    return this.gpu;
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

/** A GPU session that moves to the CPU when the device is lost. */
class FallbackSession<S, B, R> implements KernelSession<B, R> {
  private inner: KernelSession<B, R>;
  private added = 0;
  private retained: B[] | null;

  constructor(
    private readonly engine: Engine,
    private readonly ctx: GpuContext,
    private readonly kernel: StreamingKernel<S, B, R>,
    private readonly setup: S,
    gpu: KernelSession<B, R>,
    private readonly opts: OpenOptions<B>,
  ) {
    this.inner = gpu;
    this.retained = opts.replay === undefined ? [] : null;
  }

  get backend(): 'cpu' | 'gpu' {
    return this.inner.backend;
  }

  async add(batch: B): Promise<void> {
    await this.guard(() => this.inner.add(batch));
    this.added++;
    if (this.inner.backend === 'gpu') this.retained?.push(batch);
  }

  async finish(): Promise<R> {
    try {
      return await this.guard(() => this.inner.finish());
    } finally {
      this.dispose();
    }
  }

  dispose(): void {
    this.retained = null;
    this.inner.dispose();
  }

  /** Runs `step` on the current session; on a device loss, moves to the CPU (through the engine) and runs it there. */
  private async guard<T>(step: () => Promise<T>): Promise<T> {
    if (this.inner.backend === 'cpu') return step();
    return this.engine.guarded(this.ctx, this.kernel.name, step, async () => {
      await this.toCpu();
      return step();
    });
  }

  /** Replaces the lost GPU session by a CPU session holding the batches given so far. */
  private async toCpu(): Promise<void> {
    this.inner.dispose();
    const cpu = this.kernel.openCpu(this.setup);
    this.inner = cpu;
    const again = this.opts.replay !== undefined ? this.opts.replay(this.added) : (this.retained ?? []);
    for await (const b of again) await cpu.add(b);
    this.retained = null;
  }
}
