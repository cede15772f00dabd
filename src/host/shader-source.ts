/**
 * The WGSL of kernel `<name>` (`shaders/<name>.wgsl`), specialized.
 *
 * The text comes from src/kernels/shaders.generated.ts, built from the .wgsl
 * files by scripts/build-shaders.ts, never from the file system: the same code
 * serves Node and a browser bundle.
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
import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';
import { invariant } from '../errors.ts';
import { SHADER_SOURCES } from '../kernels/shaders.generated.ts';

export type ShaderDefines = Readonly<Record<string, number | boolean | string>>;

function readRaw(relPath: string): string {
  const text = Object.hasOwn(SHADER_SOURCES, relPath) ? SHADER_SOURCES[relPath] : undefined;
  invariant(text !== undefined, `no shader '${relPath}' in src/kernels/shaders.generated.ts (run node bin/run-ts.js scripts/build-shaders.ts)`);
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
