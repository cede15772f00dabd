/**
 * The engine: picks the backend for each kernel and steps down from GPU to CPU.
 *
 * Like pyFAI's method registry, `auto` tries the GPU and degrades to the CPU
 * twin with one log line: when no adapter exists (one notice at start), or when
 * the device is lost mid-run (one warning; the remaining work continues on the
 * CPU path, including the call that hit the loss).
 */
import { DeviceLostError, GpuError, invariant } from '../errors.ts';
import type { Kernel, KernelSession, StreamingKernel } from '../kernels/kernel.ts';
import { log, logOnce } from '../util/log.ts';
import { resolveBackendChoice, type BackendChoice } from './backend.ts';
import { GpuContext, type GpuContextOptions } from './context.ts';
import type { DeviceArray } from './device-array.ts';

export interface EngineOptions extends GpuContextOptions {
  /** the CLI value; DIFFRACT_BACKEND overrides it */
  backend?: string;
  env?: NodeJS.ProcessEnv;
}

export interface OpenOptions<B> {
  /**
   * Yields again the first `count` batches given to `add` (any order): after a
   * device loss the engine replays them into the CPU session. Without it the
   * session keeps every batch it was given until `finish`.
   */
  replay?: (count: number) => AsyncIterable<B>;
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
    const choice = resolveBackendChoice(opts.backend, opts.env ?? process.env);
    if (choice === 'cpu') return new Engine(choice, null);
    try {
      const ctx = await GpuContext.create(opts);
      log('debug', `GPU adapter: ${ctx.name}`);
      return new Engine(choice, ctx);
    } catch (err) {
      if (choice === 'gpu' || !(err instanceof GpuError)) throw err;
      logOnce('no-gpu', 'notice', `${err.message}; running on the CPU path (backend auto)`);
      return new Engine(choice, null);
    }
  }

  /** An engine on a device someone else owns (benches): `destroy()` on it releases that device too. */
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

  /**
   * Opens a session of a streaming kernel on the current backend. A device
   * lost while it runs (in `add` or `finish`) moves it to the CPU: the batches
   * so far are replayed into a CPU session and the work goes on there.
   */
  async open<S, B, R>(kernel: StreamingKernel<S, B, R>, setup: S, opts: OpenOptions<B> = {}): Promise<KernelSession<B, R>> {
    const lostCtx = this.gpuContext;
    if (lostCtx !== null && lostCtx.isLost && !this.fellBack) this.fallBack(lostCtx, kernel.name, 'the device was lost');
    const ctx = this.gpu;
    if (ctx === null) return kernel.openCpu(setup);
    try {
      return new FallbackSession(this, ctx, kernel, setup, kernel.openGpu(ctx, setup), opts);
    } catch (err) {
      if (!this.isLoss(ctx, err)) throw err;
      this.fallBack(ctx, kernel.name, err);
      return kernel.openCpu(setup);
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

  /** @internal: whether `err` from work on `ctx` means the device is gone. */
  isLoss(ctx: GpuContext, err: unknown): boolean {
    return err instanceof DeviceLostError || ctx.isLost;
  }

  /** @internal: a session's device was lost: warn once, release the device. */
  lost(ctx: GpuContext, kernelName: string, err: unknown): void {
    this.fallBack(ctx, kernelName, err);
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

  /** Runs `step` on the current session; on a device loss, moves to the CPU and runs it there. */
  private async guard<T>(step: () => Promise<T>): Promise<T> {
    if (this.inner.backend === 'cpu') return step();
    try {
      this.ctx.ensureAlive(this.kernel.name);
      return await step();
    } catch (err) {
      if (!this.engine.isLoss(this.ctx, err)) throw err;
      await this.toCpu(err);
      return step();
    }
  }

  private async toCpu(err: unknown): Promise<void> {
    this.engine.lost(this.ctx, this.kernel.name, err);
    this.inner.dispose();
    const cpu = this.kernel.openCpu(this.setup);
    this.inner = cpu;
    if (this.opts.replay !== undefined) {
      let n = 0;
      for await (const b of this.opts.replay(this.added)) {
        await cpu.add(b);
        n++;
      }
      invariant(n === this.added, `${this.kernel.name}: the replay gave ${n} batches for ${this.added}`);
    } else {
      for (const b of this.retained ?? []) await cpu.add(b);
    }
    this.retained = null;
  }
}
