/**
 * Kernel programs against their shaders: every `shaders/*.wgsl`, as loaded
 * (includes pasted, defines applied, for every combination of the boolean
 * defines), declares exactly the bindings of its program definition (index,
 * name, address space, access) and a `Params` struct with the program's
 * uniform fields (names, types, order); every kernel module defines its
 * programs and every shader has one. Then the uniform packer against
 * hand-computed WGSL layouts, and the by-name binding errors. On a device, every
 * program variant compiles against its explicit layout.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GpuError } from '../../src/errors.ts';
import type { GpuContext } from '../../src/host/context.ts';
import { defineProgram, Program, uniformLayout, type BufferLike } from '../../src/host/program.ts';
import { SHADER_DIR } from '../../src/host/node-shaders.ts';
import type { ShaderDefines } from '../../src/host/shader-source.ts';
import { gpuTestsDisabled, openTestGpu } from '../helpers/gpu.ts';

const KERNEL_DIR = join(SHADER_DIR, '..', 'src', 'kernels');

/** Every kernel module (not the contract, the entry point or the generated shader strings) with the programs it exports. */
async function kernelModules(): Promise<Map<string, Program[]>> {
  const out = new Map<string, Program[]>();
  const notKernels = new Set(['kernel.ts', 'index.ts', 'shaders.generated.ts']);
  for (const file of readdirSync(KERNEL_DIR).filter((f) => f.endsWith('.ts') && !notKernels.has(f)).sort()) {
    const mod = (await import(join(KERNEL_DIR, file))) as Record<string, unknown>;
    out.set(file.replace(/\.ts$/, ''), Object.values(mod).filter((v): v is Program => v instanceof Program));
  }
  return out;
}

/** Every define combination worth checking: numbers at a sample value, booleans both ways. */
function defineCombos(p: Program): ShaderDefines[] {
  const bools = Object.entries(p.defineKinds).filter(([, k]) => k === 'boolean').map(([n]) => n);
  const base: Record<string, number | boolean> = {};
  for (const [n, k] of Object.entries(p.defineKinds)) if (k === 'number') base[n] = n === 'CHANNELS' ? 3 : 16;
  const combos: ShaderDefines[] = [];
  for (let m = 0; m < 2 ** bools.length; m++) {
    const d = { ...base };
    bools.forEach((b, i) => (d[b] = ((m >> i) & 1) === 1));
    combos.push(d);
  }
  return combos;
}

interface DeclaredBinding {
  index: number;
  name: string;
  space: string;
  access: string;
  type: string;
}

function declaredBindings(src: string): DeclaredBinding[] {
  const out: DeclaredBinding[] = [];
  for (const m of src.matchAll(/@group\((\d+)\)\s*@binding\((\d+)\)\s*var<\s*(\w+)\s*(?:,\s*(\w+)\s*)?>\s*(\w+)\s*:\s*([^;]+);/g)) {
    expect(m[1], `group of ${m[5]}`).toBe('0');
    const space = m[3] as string;
    out.push({ index: Number(m[2]), name: m[5] as string, space, access: space === 'storage' ? (m[4] ?? 'read') : '', type: (m[6] as string).trim() });
  }
  return out.sort((a, b) => a.index - b.index);
}

/** WGSL type spellings to the program's: vec3<i32> → vec3i. */
function normalType(t: string): string {
  const m = /^vec([234])<(u32|i32|f32)>$/.exec(t.replace(/\s+/g, ''));
  return m !== null ? `vec${m[1]}${(m[2] as string)[0]}` : t.trim();
}

function paramsFields(src: string): Array<[string, string]> | null {
  const m = /struct\s+Params\s*\{([^}]*)\}/.exec(src);
  if (m === null) return null;
  return (m[1] as string)
    .split(/[,\n]/)
    .map((l) => l.replace(/\/\/.*$/, '').trim())
    .filter((l) => l.length > 0)
    .map((l) => {
      const [name, type] = l.split(':').map((x) => x.trim());
      return [name as string, normalType(type as string)];
    });
}

let modules: Map<string, Program[]>;
beforeAll(async () => {
  modules = await kernelModules();
});

describe('WGSL interface = program definitions', () => {
  it('every kernel module defines programs for its own shader, and every shader has a kernel module', () => {
    const shaders = readdirSync(SHADER_DIR).filter((f) => f.endsWith('.wgsl')).map((f) => f.replace(/\.wgsl$/, '')).sort();
    expect([...modules.keys()].sort()).toEqual(shaders);
    for (const [name, programs] of modules) {
      expect(programs.length, `${name}.ts defines no program`).toBeGreaterThan(0);
      for (const p of programs) expect(p.shader, `program ${p.name} in ${name}.ts`).toBe(name);
    }
  });

  it('bindings (index, name, address space, access) and Params (names, types, order) match, for every define combination', () => {
    let checked = 0;
    for (const programs of modules.values()) {
      for (const p of programs) {
        for (const d of defineCombos(p)) {
          const all = p.resolveDefines(d);
          const src = p.source(all);
          const where = `${p.name} with ${JSON.stringify(all)}`;
          const declared = declaredBindings(src);
          const expected = p.bindings
            .filter((b) => b.when === undefined || all[b.when] === true)
            .map((b) => ({ index: b.index, name: b.name, space: b.kind === 'uniform' ? 'uniform' : 'storage', access: b.kind === 'uniform' ? '' : b.kind }));
          expect(declared.map(({ type: _t, ...rest }) => rest), where).toEqual(expected);
          const uni = declared.find((b) => b.space === 'uniform');
          if (uni !== undefined) {
            expect(uni.type, where).toBe('Params');
            expect(paramsFields(src), where).toEqual(p.uniforms.fields.map((f) => [f.name, f.type]));
          } else {
            expect(p.uniforms.fields, where).toEqual([]);
          }
          checked++;
        }
      }
    }
    expect(checked).toBeGreaterThanOrEqual(20);
  });

  it('a reordered binding or a renamed field is caught', () => {
    const p = modules.get('hkl-map')?.[0] as Program;
    const src = p.source(p.resolveDefines({ WG: 64, POINTS: false }));
    const swapped = src.replace('@binding(1) var<storage, read> vectors', '@binding(9) var<storage, read> vectors');
    expect(declaredBindings(swapped).map((b) => b.name)).not.toEqual(declaredBindings(src).map((b) => b.name));
    expect(paramsFields(src.replace('n_vectors: u32', 'n_vecs: u32'))?.[0]).toEqual(['n_vecs', 'u32']);
  });
});

describe('uniform packer: WGSL layout rules', () => {
  it('aligns vec3 to 16 and vec2 to 8, and rounds the struct to 16 bytes', () => {
    const l = uniformLayout({ a: 'u32', b: 'vec3i', c: 'f32', d: 'vec2f', e: 'u32' });
    // a@0; b: align 16 → 16, size 12; c fills the vec3's last word @28; d: align 8 → 32; e @40; size 44 → 48
    expect(l.fields.map((f) => [f.name, f.offset])).toEqual([['a', 0], ['b', 16], ['c', 28], ['d', 32], ['e', 40]]);
    expect(l.size).toBe(48);
    expect(uniformLayout({ a: 'u32', b: 'vec2u' }).fields.map((f) => f.offset)).toEqual([0, 8]);
    expect(uniformLayout({ a: 'u32', b: 'u32', c: 'vec4f' }).fields.map((f) => f.offset)).toEqual([0, 4, 16]);
    expect(uniformLayout({ a: 'f32' }).size).toBe(16);
    expect(uniformLayout({ a: 'vec3u', b: 'vec3u' }).fields.map((f) => f.offset)).toEqual([0, 16]);
  });

  it("packs voxel-accumulate's Params word for word as the hand layout did (vec3i after four u32s)", () => {
    const p = modules.get('voxel-accumulate')?.[0] as Program;
    const words = p.pack({
      n_pixels: 1000, n_frames: 3, row_threads: 1024, zero: 0, lo: [-4, 5, -6], max_count: 20, dim: [7, 8, 9], stride: 26,
      ndiv: [3, 2, 1], nsub: 6, trusted_lo: -2147483648, trusted_hi: 65534, markers: 1, integrating: 1, inv_gain: 0.125, pedestal: 40.5, chan_base: 12345,
      pixel_base: -2,
    });
    const hand = new Uint32Array(24);
    const i = new Int32Array(hand.buffer);
    const f = new Float32Array(hand.buffer);
    [hand[0], hand[1], hand[2], hand[3]] = [1000, 3, 1024, 0];
    [i[4], i[5], i[6], hand[7]] = [-4, 5, -6, 20];
    [hand[8], hand[9], hand[10], hand[11]] = [7, 8, 9, 26];
    [i[12], i[13], i[14], hand[15]] = [3, 2, 1, 6];
    [i[16], i[17], hand[18], hand[19]] = [-2147483648, 65534, 1, 1];
    [f[20], f[21], hand[22], i[23]] = [0.125, 40.5, 12345, -2];
    expect(Array.from(words)).toEqual(Array.from(hand));
  });

  const toy = defineProgram({
    name: 'test toy',
    shader: 'hkl-map',
    defines: { FLAG: 'boolean' },
    bindings: { params: 'uniform', input: 'read', output: 'read_write', extra: { kind: 'read', when: 'FLAG' }, lib: { kind: 'read', unbound: true } },
    uniforms: { n: 'u32', shift: 'i32', scale: 'f32', _pad: 'u32', box: 'vec3i' },
  });

  it('refuses a missing, unknown or padding field, a wrong vector length and out-of-range values', () => {
    const ok = { n: 1, shift: -1, scale: 0.5, box: [1, 2, 3] };
    expect(Array.from(toy.pack(ok))).toEqual([1, 0xffffffff, 0x3f000000, 0, 1, 2, 3, 0]);
    const loose = (v: Record<string, unknown>): Uint32Array => toy.pack(v as unknown as typeof ok);
    expect(() => loose({ shift: -1, scale: 0.5, box: [1, 2, 3] })).toThrow(/uniform n missing/);
    expect(() => loose({ ...ok, count: 3 })).toThrow(/unknown uniform count/);
    expect(() => loose({ ...ok, _pad: 0 })).toThrow(/_pad is padding/);
    expect(() => loose({ ...ok, box: [1, 2] })).toThrow(/box is a vec3i, got 2 values/);
    expect(() => loose({ ...ok, n: [1] })).toThrow(/n is a u32/);
    expect(() => loose({ ...ok, n: -1 })).toThrow(/n = -1 is not a u32/);
    expect(() => loose({ ...ok, shift: 1.5 })).toThrow(/shift = 1.5 is not a i32/);
    expect(() => loose({ ...ok, scale: NaN })).toThrow(/scale = NaN is not a finite f32/);
  });

  it('binds by name: a missing or an extra binding is an error naming it', () => {
    const buf = (label: string): BufferLike => ({ label }) as unknown as GPUBuffer;
    const uniform = buf('params') as GPUBuffer;
    const on = toy.resolveDefines({ FLAG: true });
    const off = toy.resolveDefines({ FLAG: false });
    const entries = toy.bindEntries(on, { input: buf('i'), output: buf('o'), extra: buf('e') }, uniform);
    expect(entries.map((e) => e.binding)).toEqual([0, 1, 2, 3]);
    expect(toy.bindEntries(off, { input: buf('i'), output: buf('o') }, uniform).map((e) => e.binding)).toEqual([0, 1, 2]);
    expect(() => toy.bindEntries(on, { input: buf('i'), output: buf('o') }, uniform)).toThrow(GpuError);
    expect(() => toy.bindEntries(on, { input: buf('i'), output: buf('o') }, uniform)).toThrow(/binding extra \(@binding\(3\)\) not given/);
    expect(() => toy.bindEntries(off, { input: buf('i'), output: buf('o'), extra: buf('e') }, uniform)).toThrow(/extra binding extra \(not in the layout with these defines\)/);
    expect(() => toy.bindEntries(off, { input: buf('i'), output: buf('o'), outptu: buf('typo') }, uniform)).toThrow(/extra binding outptu$/);
    expect(() => toy.bindEntries(off, { input: buf('i'), output: buf('o'), lib: buf('l') }, uniform)).toThrow(/extra binding lib/);
    expect(() => toy.bindEntries(off, { input: buf('i'), output: buf('o'), params: buf('p') }, uniform)).toThrow(/extra binding params/);
  });

  it('checks the defines: unknown, missing, of the wrong kind', () => {
    expect(() => toy.resolveDefines({})).toThrow(/missing define FLAG/);
    expect(() => toy.resolveDefines({ FLAG: 1 })).toThrow(/define FLAG must be a boolean/);
    expect(() => toy.resolveDefines({ FLAG: true, WG: 64 })).toThrow(/unknown define WG/);
  });
});

describe.skipIf(gpuTestsDisabled())('programs compile against their explicit layouts', () => {
  let ctx: GpuContext;
  beforeAll(async () => {
    ctx = await openTestGpu(true);
  });
  afterAll(() => ctx?.destroy());

  it('every program variant builds a pipeline without validation errors', async () => {
    const names: string[] = [];
    for (const programs of modules.values()) {
      for (const p of programs) {
        for (const d of defineCombos(p)) {
          ctx.device.pushErrorScope('validation');
          ctx.pipeline(p, d);
          const err = await ctx.device.popErrorScope();
          expect(err?.message, `${p.name} ${JSON.stringify(d)}`).toBeUndefined();
          names.push(p.name);
        }
      }
    }
    expect(new Set(names).size).toBeGreaterThanOrEqual(9);
  });
});
