/**
 * Kernel programs: the interface of one WGSL entry point, declared once.
 *
 * A program holds, for `shaders/<shader>.wgsl`:
 * - its bindings in @binding order, each with its kind: `uniform` (the Params
 *   struct), `read` or `read_write` storage; a binding may exist only under a
 *   boolean define (`when`), or be declared by the shader for an included
 *   library function the entry point never calls (`unbound`: in the WGSL, not
 *   in the layout, never bound);
 * - the fields of its uniform struct `Params` in order, with their WGSL types;
 *   names starting with `_` are padding (zero, never given);
 * - the compile-time defines it takes, and those fixed by the program (one
 *   shader file can hold several programs, e.g. the two passes of a kernel).
 *
 * From that it packs uniforms by field name with the WGSL layout rules
 * (`uniformLayout`), builds an explicit bind-group layout and pipeline layout
 * (no `layout: 'auto'`), and binds buffers by name, refusing a missing or an
 * extra one with an error that names it. test/host/wgsl-interface.test.ts
 * checks every definition against its shader file.
 */
import { GpuError, invariant } from '../errors.ts';
import { loadShader, type ShaderDefines } from './shader-source.ts';

export type ScalarType = 'u32' | 'i32' | 'f32';
export type VectorType = `vec${2 | 3 | 4}${'u' | 'i' | 'f'}`;
export type UniformType = ScalarType | VectorType;

export type BindingKind = 'uniform' | 'read' | 'read_write';
export interface BindingSpec {
  kind: BindingKind;
  /** present only when this boolean define is true */
  when?: string;
  /** declared by the shader for an included library, never used by the entry point: not in the layout */
  unbound?: boolean;
}
export type BindingDecl = BindingKind | BindingSpec;

export type DefineKind = 'number' | 'boolean';

export interface ProgramSpec<B extends Record<string, BindingDecl>, U extends Record<string, UniformType>> {
  /** label of pipelines and dispatches; the shader file name unless `shader` says otherwise */
  name: string;
  /** shaders/<shader>.wgsl (default: name) */
  shader?: string;
  /** the defines each call gives (besides `fixed`) */
  defines?: Readonly<Record<string, DefineKind>>;
  /** defines this program always compiles with */
  fixed?: ShaderDefines;
  /** in @binding order, 0, 1, … */
  bindings: B;
  /** the fields of struct Params, in order */
  uniforms: U;
}

/** Padding field names: `_pad`, `_pad1`, … */
type PadName = `_${string}`;
type UniformValue<T extends UniformType> = T extends ScalarType ? number : readonly number[];
export type UniformValues<U extends Record<string, UniformType>> = {
  [K in keyof U as K extends PadName ? never : K]: UniformValue<U[K]>;
};

/** Bindings a call gives: the non-uniform, bound ones (conditional ones optional in the type, checked at run time). */
export type BindingBuffers<B extends Record<string, BindingDecl>> = {
  [K in keyof B as B[K] extends 'uniform' ? never : B[K] extends { unbound: true } ? never : B[K] extends { when: string } ? never : K]: BufferLike;
} & {
  [K in keyof B as B[K] extends { when: string } ? K : never]?: BufferLike;
};

/** Anything with a GPU buffer (a GPUBuffer, or a DeviceArray's `.buffer`). */
export type BufferLike = GPUBuffer | { readonly buffer: GPUBuffer };

export interface UniformField {
  name: string;
  type: UniformType;
  /** byte offset */
  offset: number;
  /** components (1 for scalars) */
  components: number;
  scalar: ScalarType;
}

export interface UniformLayout {
  fields: UniformField[];
  /** struct size in bytes (a multiple of its alignment, and of 16) */
  size: number;
}

export interface ResolvedBinding {
  name: string;
  index: number;
  kind: BindingKind;
  when: string | undefined;
  unbound: boolean;
}

function scalarOf(t: UniformType): ScalarType {
  if (t === 'u32' || t === 'i32' || t === 'f32') return t;
  const c = t[4];
  return c === 'u' ? 'u32' : c === 'i' ? 'i32' : 'f32';
}

function componentsOf(t: UniformType): number {
  return t.startsWith('vec') ? Number(t[3]) : 1;
}

/** WGSL alignment and size (uniform address space) of a scalar or vector. */
export function wgslAlignSize(t: UniformType): { align: number; size: number } {
  const n = componentsOf(t);
  if (n === 1) return { align: 4, size: 4 };
  if (n === 2) return { align: 8, size: 8 };
  return { align: 16, size: 4 * n };
}

function roundUp(x: number, a: number): number {
  return Math.ceil(x / a) * a;
}

/** Offsets of struct fields by the WGSL layout rules (vec3 aligned to 16 with size 12, …). */
export function uniformLayout(uniforms: Readonly<Record<string, UniformType>>): UniformLayout {
  const fields: UniformField[] = [];
  let offset = 0;
  let maxAlign = 4;
  for (const [name, type] of Object.entries(uniforms)) {
    const { align, size } = wgslAlignSize(type);
    offset = roundUp(offset, align);
    fields.push({ name, type, offset, components: componentsOf(type), scalar: scalarOf(type) });
    offset += size;
    maxAlign = Math.max(maxAlign, align);
  }
  return { fields, size: Math.max(16, roundUp(roundUp(offset, maxAlign), 16)) };
}

function checkScalar(program: string, field: string, scalar: ScalarType, v: number): void {
  const ok =
    scalar === 'u32'
      ? Number.isInteger(v) && v >= 0 && v <= 0xffffffff
      : scalar === 'i32'
        ? Number.isInteger(v) && v >= -2147483648 && v <= 2147483647
        : Number.isFinite(v);
  invariant(ok, `program ${program}: uniform ${field} = ${v} is not a ${scalar === 'f32' ? 'finite f32' : scalar}`);
}

export class Program<B extends Record<string, BindingDecl> = Record<string, BindingDecl>, U extends Record<string, UniformType> = Record<string, UniformType>> {
  readonly name: string;
  readonly shader: string;
  readonly defineKinds: Readonly<Record<string, DefineKind>>;
  readonly fixed: ShaderDefines;
  readonly bindings: readonly ResolvedBinding[];
  readonly uniforms: UniformLayout;
  readonly spec: ProgramSpec<B, U>;

  constructor(spec: ProgramSpec<B, U>) {
    this.spec = spec;
    this.name = spec.name;
    this.shader = spec.shader ?? spec.name;
    this.defineKinds = spec.defines ?? {};
    this.fixed = spec.fixed ?? {};
    this.bindings = Object.entries(spec.bindings).map(([name, d], index) => {
      const s: BindingSpec = typeof d === 'string' ? { kind: d } : d;
      return { name, index, kind: s.kind, when: s.when, unbound: s.unbound === true };
    });
    const uniformBindings = this.bindings.filter((b) => b.kind === 'uniform');
    invariant(uniformBindings.length <= 1, `program ${this.name}: at most one uniform binding`);
    invariant(uniformBindings.length === 1 || Object.keys(spec.uniforms).length === 0, `program ${this.name}: uniforms without a uniform binding`);
    for (const b of this.bindings) {
      if (b.when !== undefined) invariant(this.defineKinds[b.when] === 'boolean' || typeof this.fixed[b.when] === 'boolean', `program ${this.name}: binding ${b.name} depends on ${b.when}, which is not a boolean define`);
    }
    this.uniforms = uniformLayout(spec.uniforms);
  }

  /** The uniform binding's name (null when the program has none). */
  get uniformBinding(): string | null {
    return this.bindings.find((b) => b.kind === 'uniform')?.name ?? null;
  }

  /** Every define the shader gets: the fixed ones and the call's, checked against the declared kinds. */
  resolveDefines(defines: ShaderDefines = {}): ShaderDefines {
    for (const [k, v] of Object.entries(defines)) {
      const kind = this.defineKinds[k];
      if (kind === undefined) throw new GpuError(`program ${this.name}: unknown define ${k}${Object.hasOwn(this.fixed, k) ? ' (fixed by the program)' : ''}`, { field: k });
      if (typeof v !== kind) throw new GpuError(`program ${this.name}: define ${k} must be a ${kind}, got ${String(v)}`, { field: k });
    }
    for (const k of Object.keys(this.defineKinds)) {
      if (!Object.hasOwn(defines, k)) throw new GpuError(`program ${this.name}: missing define ${k}`, { field: k });
    }
    return { ...this.fixed, ...defines };
  }

  /** The bindings present with these (resolved) defines, in index order. */
  activeBindings(defines: ShaderDefines): ResolvedBinding[] {
    return this.bindings.filter((b) => !b.unbound && (b.when === undefined || defines[b.when] === true));
  }

  /** The WGSL source with these (resolved) defines. */
  source(defines: ShaderDefines): string {
    return loadShader(this.shader, defines);
  }

  /** Packs the uniform struct by field name (padding zero); a missing or unknown field is an error naming it. */
  pack(values: UniformValues<U>): Uint32Array {
    const given = values as Readonly<Record<string, number | readonly number[]>>;
    const out = new ArrayBuffer(this.uniforms.size);
    const u = new Uint32Array(out);
    const i = new Int32Array(out);
    const f = new Float32Array(out);
    const names = new Set<string>();
    for (const field of this.uniforms.fields) {
      names.add(field.name);
      if (field.name.startsWith('_')) {
        if (Object.hasOwn(given, field.name)) throw new GpuError(`program ${this.name}: uniform ${field.name} is padding and takes no value`, { field: field.name });
        continue;
      }
      if (!Object.hasOwn(given, field.name)) throw new GpuError(`program ${this.name}: uniform ${field.name} missing`, { field: field.name });
      const v = given[field.name] as number | readonly number[];
      const comps = typeof v === 'number' ? [v] : v;
      if (typeof v === 'number' ? field.components !== 1 : comps.length !== field.components || field.components === 1) {
        throw new GpuError(`program ${this.name}: uniform ${field.name} is a ${field.type}, got ${typeof v === 'number' ? 'a number' : `${comps.length} values`}`, { field: field.name });
      }
      const w = field.offset / 4;
      comps.forEach((x, k) => {
        checkScalar(this.name, field.name, field.scalar, x);
        if (field.scalar === 'u32') u[w + k] = x;
        else if (field.scalar === 'i32') i[w + k] = x;
        else f[w + k] = x;
      });
    }
    for (const k of Object.keys(given)) {
      if (!names.has(k)) throw new GpuError(`program ${this.name}: unknown uniform ${k}`, { field: k });
    }
    return u;
  }

  /** The bind-group layout entries for these (resolved) defines. */
  layoutEntries(defines: ShaderDefines): GPUBindGroupLayoutEntry[] {
    return this.activeBindings(defines).map((b) => ({
      binding: b.index,
      visibility: GPUShaderStage.COMPUTE,
      buffer: { type: b.kind === 'uniform' ? 'uniform' : b.kind === 'read' ? 'read-only-storage' : 'storage' },
    }));
  }

  /**
   * Bind-group entries from buffers given by name: every active binding but
   * the uniform must be given, and nothing else.
   */
  bindEntries(defines: ShaderDefines, buffers: Readonly<Record<string, BufferLike | undefined>>, uniform: GPUBuffer | null): GPUBindGroupEntry[] {
    const active = this.activeBindings(defines);
    const entries: GPUBindGroupEntry[] = [];
    for (const b of active) {
      if (b.kind === 'uniform') {
        invariant(uniform !== null, `program ${this.name}: no uniform buffer for ${b.name}`);
        entries.push({ binding: b.index, resource: { buffer: uniform } });
        continue;
      }
      const given = buffers[b.name];
      if (given === undefined) throw new GpuError(`program ${this.name}: binding ${b.name} (@binding(${b.index})) not given`, { field: b.name });
      entries.push({ binding: b.index, resource: { buffer: 'buffer' in given ? given.buffer : given } });
    }
    for (const [k, v] of Object.entries(buffers)) {
      if (v === undefined) continue;
      const b = active.find((x) => x.name === k);
      if (b === undefined || b.kind === 'uniform') {
        const why = this.bindings.some((x) => x.name === k) ? ' (not in the layout with these defines)' : '';
        throw new GpuError(`program ${this.name}: extra binding ${k}${why}`, { field: k });
      }
    }
    return entries;
  }

  /** The compute pipeline with an explicit bind-group and pipeline layout. */
  build(device: GPUDevice, defines: ShaderDefines): GPUComputePipeline {
    const label = this.name;
    const module = device.createShaderModule({ label: `${this.shader}.wgsl (${label})`, code: this.source(defines) });
    const bindGroupLayout = device.createBindGroupLayout({ label: `${label} bind-group layout`, entries: this.layoutEntries(defines) });
    const layout = device.createPipelineLayout({ label: `${label} pipeline layout`, bindGroupLayouts: [bindGroupLayout] });
    return device.createComputePipeline({ label: `${label} pipeline`, layout, compute: { module, entryPoint: 'main' } });
  }
}

/** The spec of every program defined so far, by name (pipelines are cached by program name). */
const defined = new Map<string, object>();

/** Declares a kernel program once; its name must be unique. */
export function defineProgram<B extends Record<string, BindingDecl>, U extends Record<string, UniformType>>(spec: ProgramSpec<B, U>): Program<B, U> {
  const p = new Program(spec);
  invariant(!defined.has(p.name) || defined.get(p.name) === spec, `program ${p.name} defined twice`);
  defined.set(p.name, spec);
  return p;
}
