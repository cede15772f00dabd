/**
 * Loads WGSL kernels from `shaders/<name>.wgsl` and specializes them.
 *
 * A shader file may hold `${NAME}` placeholders for compile-time parameters
 * (workgroup sizes, modes) and `#if ${NAME}` … `#elif ${NAME}` … `#else` …
 * `#endif` blocks; the file text is split at the placeholders and handed to
 * wgsl-preprocessor's template tag, so the same rules apply as in its docs.
 * Image sizes and other run-time values never go here: they are uniforms, so
 * one compiled pipeline serves every detector.
 *
 * `//!include lib/<file>.wgsl` on a line of its own pastes a shared function
 * library from `shaders/lib/` (function definitions only, no entry points).
 */
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';
import { invariant } from '../errors.ts';

export type ShaderDefines = Readonly<Record<string, number | boolean | string>>;

export const SHADER_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'shaders');

const rawCache = new Map<string, string>();

function readRaw(relPath: string): string {
  let text = rawCache.get(relPath);
  if (text === undefined) {
    text = readFileSync(join(SHADER_DIR, relPath), 'utf8');
    rawCache.set(relPath, text);
  }
  return text;
}

function expandIncludes(text: string, depth = 0): string {
  invariant(depth < 8, 'shader includes nested too deeply');
  return text.replace(/^\/\/!include\s+(\S+)\s*$/gm, (_m, file: string) => expandIncludes(readRaw(file), depth + 1));
}

/** The WGSL source of kernel `name`, with includes pasted and `defines` applied. */
export function loadShader(name: string, defines: ShaderDefines = {}): string {
  const text = expandIncludes(readRaw(`${name}.wgsl`));
  const strings: string[] = [];
  const values: Array<number | boolean | string> = [];
  let last = 0;
  for (const m of text.matchAll(/\$\{([A-Z0-9_]+)\}/g)) {
    const key = m[1] as string;
    invariant(Object.hasOwn(defines, key), `shader ${name}.wgsl needs define ${key}`);
    strings.push(text.slice(last, m.index));
    values.push(defines[key] as number | boolean | string);
    last = (m.index ?? 0) + m[0].length;
  }
  strings.push(text.slice(last));
  const tsa = Object.assign([...strings], { raw: [...strings] }) as unknown as TemplateStringsArray;
  return wgsl(tsa, ...values);
}
