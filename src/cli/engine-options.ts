/** Global CLI options shared by every subcommand, and the engine they choose. */
import type { Command } from 'commander';
import { resolveThreads } from '../host/node-threads.ts';
import { Engine, type EngineOptions } from '../host/engine.ts';
import { parseMemoryMb } from '../host/node-memory.ts';
import { setDebug, setLogMode } from '../util/log.ts';

export interface GlobalOptions {
  backend: string;
  /** --threads (validated by resolveThreads) */
  threads?: string;
  /** --memory-mb */
  memoryMb?: string;
  debugGpu?: boolean;
  quiet?: boolean;
}

export function globalOptions(cmd: Command): GlobalOptions {
  const o = cmd.optsWithGlobals<GlobalOptions & { json?: boolean }>();
  if (o.quiet) setLogMode('quiet');
  if (o.debugGpu) setDebug(true);
  return o;
}

/** The engine options of the global flags: backend, threads (flag, else DIFFRACT_THREADS, else one per core), memory budget. */
export function engineOptions(o: GlobalOptions, defaultThreads = true): EngineOptions {
  const opts: EngineOptions = { backend: o.backend };
  if (o.threads !== undefined || defaultThreads) opts.threads = resolveThreads(o.threads);
  const mb = parseMemoryMb(o.memoryMb);
  if (mb !== undefined) opts.memoryMb = mb;
  if (o.debugGpu === true) opts.debug = true;
  return opts;
}

/** Runs `fn` with an engine for the chosen backend, and always releases the device after. */
export async function withEngine<T>(cmd: Command, fn: (engine: Engine) => Promise<T>): Promise<T> {
  const o = globalOptions(cmd);
  const engine = await Engine.create(engineOptions(o));
  try {
    return await fn(engine);
  } finally {
    engine.destroy();
  }
}
