/**
 * Backend choice: `auto` (GPU when a hardware adapter exists, else the CPU
 * path with one notice: a software adapter such as lavapipe is slower than the
 * CPU path), `gpu` (a GPU is required, a software adapter will do: no adapter
 * is an error), `cpu`.
 * The CLI's `--backend` sets it; the environment variable DIFFRACT_BACKEND
 * overrides it, so a site can pin a backend without changing scripts.
 * Host core: the environment is passed in (Node's `process.env`, read by the
 * Node side; a browser has none).
 */
import { UsageError } from '../errors.ts';
import type { Environment } from './platform.ts';

export type BackendChoice = 'auto' | 'gpu' | 'cpu';
export const BACKEND_ENV = 'DIFFRACT_BACKEND';

export function parseBackendChoice(value: string, source: string): BackendChoice {
  const v = value.trim().toLowerCase();
  if (v === 'auto' || v === 'gpu' || v === 'cpu') return v;
  throw new UsageError(`unknown backend '${value}' (expected auto, gpu or cpu)`, { field: source });
}

/** The effective choice: the environment variable wins over the CLI value. */
export function resolveBackendChoice(cliValue: string | undefined, env: Environment): BackendChoice {
  const fromEnv = env[BACKEND_ENV];
  if (fromEnv !== undefined && fromEnv.trim() !== '') return parseBackendChoice(fromEnv, BACKEND_ENV);
  return parseBackendChoice(cliValue ?? 'auto', '--backend');
}
