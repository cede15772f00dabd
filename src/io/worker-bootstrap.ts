/**
 * What the HDF5 worker threads of src/io share: the JavaScript bootstrap that
 * loads a worker module of this folder (from the TypeScript sources through
 * tsx, from dist/ directly), and typed errors sent over a message port and
 * rebuilt as the same class on the other side.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { DiffractError, FileAccessError, FormatError, InvalidValueError, MissingFieldError, TruncatedError, UsageError, invariant, type ErrorLocation } from '../errors.ts';

const bootstraps = new Map<string, string>();

/** File URL of a package export's `import` target (read from its package.json; works where import.meta.resolve does not). */
export function exportUrl(pkgName: string, subpath: string): string {
  const req = createRequire(import.meta.url);
  // not req.resolve(`${pkgName}/package.json`): a package's exports may not list it
  const pkgPath = (req.resolve.paths(pkgName) ?? []).map((dir) => join(dir, pkgName, 'package.json')).find((p) => existsSync(p));
  invariant(pkgPath !== undefined, `package ${pkgName} is installed`);
  const pkg = JSON.parse(readFileSync(pkgPath, 'utf8')) as { exports?: Record<string, { import?: string | { default?: string } } | string> };
  const e = pkg.exports?.[subpath];
  const rel = typeof e === 'string' ? e : typeof e?.import === 'string' ? e.import : e?.import?.default;
  invariant(rel !== undefined, `${pkgName} exports ${subpath}`);
  return pathToFileURL(resolve(dirname(pkgPath), rel)).href;
}

/**
 * JavaScript that loads worker module `module` of src/io (its name without extension): imports h5wasm first (plain Node:
 * through tsx's loader its 4 MB module takes seconds), then the worker module.
 * From the TypeScript sources it registers tsx's ESM loader in the new thread
 * first (a Worker does not inherit the parent's loader hooks, and `--import` in
 * a Worker's execArgv is not honoured everywhere), so this works under plain
 * Node (bin/diffract.js), tsx and vitest alike; the compiled library (dist/)
 * imports its .js worker directly, without tsx.
 */
export function workerBootstrap(module: string): string {
  const known = bootstraps.get(module);
  if (known !== undefined) return known;
  const h5 = JSON.stringify(exportUrl('h5wasm', './node'));
  const compiled = !import.meta.url.endsWith('.ts');
  const entry = JSON.stringify(new URL(`./${module}${compiled ? '.js' : '.ts'}`, import.meta.url).href);
  let code: string;
  if (compiled) {
    code = `import(${h5}).then(() => import(${entry}));`;
  } else {
    const tsx = JSON.stringify(exportUrl('tsx', './esm/api'));
    code = `import(${h5}).then(() => import(${tsx})).then((m) => { m.register(); return import(${entry}); });`;
  }
  bootstraps.set(module, code);
  return code;
}

/** A worker error as sent over the message port. */
export interface SerializedError {
  name: string;
  message: string;
  file?: string;
  frame?: number;
  field?: string;
}

export function serializeError(err: unknown): SerializedError {
  const out: SerializedError = { name: err instanceof Error ? err.name : 'Error', message: err instanceof Error ? err.message : String(err) };
  if (err instanceof DiffractError) {
    if (err.file !== undefined) out.file = err.file;
    if (err.frame !== undefined) out.frame = err.frame;
    if (err.field !== undefined) out.field = err.field;
  }
  return out;
}

const ERROR_CLASSES: Record<string, new (message: string, where?: ErrorLocation, options?: { cause?: unknown }) => DiffractError> = {
  FormatError,
  TruncatedError,
  MissingFieldError,
  InvalidValueError,
  FileAccessError,
  UsageError,
};

/** Rebuilds a worker's error as the same typed error (same message and location). */
export function deserializeError(e: SerializedError): Error {
  const Cls = ERROR_CLASSES[e.name];
  if (Cls === undefined) return new Error(e.message);
  const where: ErrorLocation = {};
  if (e.file !== undefined) where.file = e.file;
  if (e.frame !== undefined) where.frame = e.frame;
  if (e.field !== undefined) where.field = e.field;
  const prefix = new DiffractError('probe', '', where).message; // "file, frame k: " or ''
  const bare = prefix !== '' && e.message.startsWith(prefix) ? e.message.slice(prefix.length) : e.message;
  return new Cls(bare, where);
}
