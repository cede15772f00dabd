/**
 * src/kernels/shaders.generated.ts carries the WGSL text to the host (and to a
 * browser bundle); the .wgsl files are the source of truth. This fails when the
 * module is out of date with them.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadShader } from '../../src/host/shader-source.ts';
import { BUILD_SHADERS_COMMAND, GENERATED_SHADERS_FILE, listShaderFiles, readShaderFiles, renderShaderModule, SHADER_DIR } from '../../src/host/node-shaders.ts';
import { SHADER_SOURCES } from '../../src/kernels/shaders.generated.ts';

describe('generated shader module', () => {
  it('holds exactly the .wgsl files under shaders/, with their current text', () => {
    const onDisk = readShaderFiles();
    expect(Object.keys(onDisk).length).toBeGreaterThan(8);
    expect(Object.keys(onDisk)).toContain('lib/exact-f32.wgsl');
    const stale = Object.keys(onDisk).filter((rel) => SHADER_SOURCES[rel] !== onDisk[rel]);
    const extra = Object.keys(SHADER_SOURCES).filter((rel) => !Object.hasOwn(onDisk, rel));
    expect({ stale, extra }, `src/kernels/shaders.generated.ts is out of date with shaders/: run ${BUILD_SHADERS_COMMAND}`).toEqual({ stale: [], extra: [] });
    expect(readFileSync(GENERATED_SHADERS_FILE, 'utf8'), `run ${BUILD_SHADERS_COMMAND}`).toBe(renderShaderModule());
  });

  it('feeds loadShader: includes are pasted from the map and defines applied', () => {
    const src = loadShader('hkl-map', { WG: 64, POINTS: true });
    expect(src).toContain('@workgroup_size(64, 1, 1)');
    expect(src).toContain('matrix_index[i]');
    expect(src).not.toContain('${');
    // a kernel with an include: the library text replaces the //!include line
    const includer = listShaderFiles(SHADER_DIR).find((rel) => !rel.startsWith('lib/') && /^\/\/!include /m.test(SHADER_SOURCES[rel] ?? ''));
    expect(includer, 'some kernel includes a lib/ file').toBeDefined();
    const text = SHADER_SOURCES[includer as string] as string;
    const lib = /^\/\/!include\s+(\S+)\s*$/m.exec(text)?.[1] as string;
    const libText = SHADER_SOURCES[lib] as string;
    const firstFn = /^fn \w+/m.exec(libText)?.[0] as string;
    expect(firstFn).toBeTruthy();
    const defines: Record<string, number | boolean> = {};
    for (const m of text.matchAll(/\$\{([A-Z0-9_]+)\}/g)) defines[m[1] as string] = /WG|SIZE/.test(m[1] as string) ? 64 : 1;
    expect(loadShader(includer!.replace(/\.wgsl$/, ''), defines)).toContain(firstFn);
    expect(() => loadShader('no-such-kernel')).toThrow(/no shader 'no-such-kernel.wgsl'.*build-shaders/);
  });
});
