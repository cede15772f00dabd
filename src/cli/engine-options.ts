/** Global CLI options shared by every subcommand, and the engine they choose. */
import type { Command } from 'commander';
import { Engine } from '../host/engine.ts';
import { setDebug, setLogMode } from '../util/log.ts';

export interface GlobalOptions {
  backend: string;
  debugGpu?: boolean;
  quiet?: boolean;
}

export function globalOptions(cmd: Command): GlobalOptions {
  const o = cmd.optsWithGlobals<GlobalOptions & { json?: boolean }>();
  if (o.quiet) setLogMode('quiet');
  if (o.debugGpu) setDebug(true);
  return o;
}

/** Runs `fn` with an engine for the chosen backend, and always releases the device after. */
export async function withEngine<T>(cmd: Command, fn: (engine: Engine) => Promise<T>): Promise<T> {
  const o = globalOptions(cmd);
  const engine = await Engine.create({ backend: o.backend, debug: o.debugGpu === true ? true : undefined });
  try {
    return await fn(engine);
  } finally {
    engine.destroy();
  }
}
