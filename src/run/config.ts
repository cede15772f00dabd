/**
 * Loads the configuration of `diffract run CONFIG`: a YAML or JSON file
 * (snake_case keys, described by `RUN_CONFIG_SCHEMA` in `config-schema.ts`
 * and the commented template of `diffract init`) becomes a `RunConfig`
 * (`config-types.ts`): validated, every default filled, every path absolute.
 *
 * Steps: parse (YAML syntax errors name the line) → validate against the
 * schema with ajv (all errors, each naming its key as a dotted path such as
 * `sweeps[1].images.first`) → checks the schema cannot express (unique sweep
 * names, composition xor sequence, wedge_deg xor wedge_frames, …) → defaults
 * and path resolution. Every problem is a `UsageError` whose location names
 * the file and the key; when there are several, the first line of the message
 * is the first problem and the others follow one per line.
 *
 * Relative paths resolve against the config file's folder. The loader does not
 * check that the files exist: the runner opens them when it needs them.
 */
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, extname, isAbsolute, resolve } from 'node:path';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { parseDocument } from 'yaml';
import { FileAccessError, UsageError } from '../errors.ts';
import { nearestName } from '../util/edit-distance.ts';
import type { ScaleStage } from '../scaling/index.ts';
import { ABSOLUTE_DEFAULTS } from '../stages/absolute.ts';
import { CORRECT_DEFAULTS } from '../stages/correct.ts';
import { EXPORT_DEFAULTS } from '../stages/export.ts';
import { INTEGRATE_DEFAULTS } from '../stages/integrate.ts';
import { MERGE_DEFAULTS } from '../stages/merge.ts';
import { SCALE_DEFAULTS } from '../stages/scale.ts';
import { chainComposition, parseComposition, sequenceChains } from '../scattering/composition.ts';
import { spaceGroup } from '../symmetry/index.ts';
import { P_ORDER_TITLE, PATTERN_PHRASES, RUN_CONFIG_SCHEMA, type SchemaNode, type SchemaType } from './config-schema.ts';
import { P_ORDER_KINDS, STILLS_RUN_DEFAULTS } from './stills-settings.ts';
import { STILLS_MASK_DEFAULTS } from '../stills/mask.ts';
import { STILLS_SCALE_DEFAULTS } from '../stills/scale.ts';
import type { PartialityModel } from '../stills/partiality.ts';
import type {
  AbsoluteConfig,
  BeamstopConfig,
  CompositionConfig,
  ExportConfig,
  GridConfig,
  ImageSource,
  MaskConfig,
  POrderConfig,
  RunConfig,
  ScalingConfig,
  StillsConfig,
  SweepConfig,
} from './config-types.ts';

/** The name `diffract init` writes by default. */
export const DEFAULT_CONFIG_FILE = 'diffract.yaml';

/** How many problems one error message lists at most. */
const MAX_LISTED = 10;

/** One problem found in the file: the key (dotted path) and what is wrong. */
export interface ConfigIssue {
  /** dotted path of the key, e.g. `sweeps[1].images.first`; '' for the whole document */
  key: string;
  /** the reason, without the key (e.g. "required", "must be an integer ≥ 0, got -1") */
  reason: string;
  /** a self-contained line: the key and the reason */
  line: string;
}

/** Reads and validates a run configuration file. A missing or unreadable file is a `FileAccessError`. */
export async function loadRunConfig(path: string): Promise<RunConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such config file' : code === 'EISDIR' ? 'is a folder, not a config file' : `cannot read the config file (${code ?? String(err)})`;
    throw new FileAccessError(why, { file: path }, { cause: err });
  }
  return parseRunConfig(text, path);
}

/**
 * Parses the text of a run configuration; `path` names the file in messages,
 * picks the syntax (.json: JSON, anything else: YAML, which also reads JSON)
 * and anchors relative paths (its folder).
 */
export function parseRunConfig(text: string, path: string): RunConfig {
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  const data = extname(path).toLowerCase() === '.json' ? parseJson(body, path) : parseYaml(body, path);
  return validateRunConfig(data, path);
}

/** Validates an already parsed document (plain JSON-like data), as `parseRunConfig` does after parsing. */
export function validateRunConfig(data: unknown, path: string): RunConfig {
  if (data === null || data === undefined) {
    throw new UsageError("the config is empty: it needs at least 'sweeps' or 'stills' (run 'diffract init' or 'diffract init --stills' for a commented template)", { file: path });
  }
  if (typeof data !== 'object' || Array.isArray(data)) {
    throw new UsageError(`the config must be a mapping of keys (output, sweeps, …), got ${show(data)}`, { file: path });
  }
  const validate = validator();
  const valid = validate(data);
  const issues0 = [...kindIssues(data as Record<string, unknown>), ...(valid ? [] : schemaIssues(validate.errors ?? [], data))];
  if (issues0.length > 0) throwIssues(issues0, path);
  const doc = data as RawConfig;
  const issues = semanticIssues(doc);
  if (issues.length > 0) throwIssues(issues, path);
  return build(doc, path);
}

/** A config is a rotation run (`sweeps`) or a stills run (`stills`): exactly one of the two. */
function kindIssues(doc: Record<string, unknown>): ConfigIssue[] {
  const hasSweeps = doc.sweeps !== undefined;
  const hasStills = doc.stills !== undefined;
  if (hasSweeps && hasStills) return [issue(['stills'], "give either 'sweeps' (rotation) or 'stills' (serial stills), not both")];
  if (!hasSweeps && !hasStills) return [issue(['sweeps'], "required (or 'stills' for a serial-stills run)")];
  return [];
}

// ---------------------------------------------------------------- parsing

function parseJson(text: string, path: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    let where = '';
    const lc = /line (\d+) column (\d+)/.exec(msg);
    const pos = /position (\d+)/.exec(msg);
    if (lc !== null) where = ` at line ${lc[1]}, column ${lc[2]}`;
    else if (pos !== null) {
      const before = text.slice(0, Number(pos[1]));
      const line = before.split('\n').length;
      where = ` at line ${line}, column ${before.length - before.lastIndexOf('\n')}`;
    }
    const reason = msg.replace(/\s*\(line \d+ column \d+\)/, '').replace(/ in JSON at position \d+/, '');
    throw new UsageError(`JSON syntax error${where}: ${reason}`, { file: path }, { cause: err });
  }
}

function parseYaml(text: string, path: string): unknown {
  const doc = parseDocument(text, { prettyErrors: true });
  const first = doc.errors[0];
  if (first !== undefined) {
    const [head = '', ...context] = first.message.split('\n');
    const pos = first.linePos?.[0];
    const reason = head.replace(/ at line \d+, column \d+:?$/, '');
    const where = pos !== undefined ? ` at line ${pos.line}, column ${pos.col}` : '';
    const snippet = context.filter((l) => l.trim() !== '').map((l) => `    ${l}`);
    const more = doc.errors.length > 1 ? [`  (${doc.errors.length - 1} more YAML error${doc.errors.length > 2 ? 's' : ''})`] : [];
    throw new UsageError([`YAML syntax error${where}: ${reason}`, ...snippet, ...more].join('\n'), { file: path }, { cause: first });
  }
  try {
    // aliases expand: a few hundred nested ones (an "alias bomb") would take all memory
    return doc.toJS({ maxAliasCount: 100 }) as unknown;
  } catch (err) {
    if (!(err instanceof ReferenceError)) throw err;
    throw new UsageError(`YAML refused: ${err.message} (at most 100 alias expansions)`, { file: path }, { cause: err });
  }
}

// ---------------------------------------------------------------- schema validation

let compiled: ValidateFunction | undefined;

function validator(): ValidateFunction {
  compiled ??= new Ajv({ allErrors: true, verbose: true, allowUnionTypes: true, strict: true, strictTypes: false, strictRequired: false }).compile(RUN_CONFIG_SCHEMA);
  return compiled;
}

type Segment = string | number;

/** `sweeps[1].images.first` from path segments. */
export function formatKey(segments: readonly Segment[]): string {
  let out = '';
  for (const s of segments) out += typeof s === 'number' ? `[${s}]` : out === '' ? s : `.${s}`;
  return out;
}

/** The segments of a JSON Pointer (ajv's instancePath), numbers where the data holds an array. */
function pointerSegments(pointer: string, data: unknown): Segment[] {
  if (pointer === '') return [];
  const out: Segment[] = [];
  let node: unknown = data;
  for (const raw of pointer.slice(1).split('/')) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (Array.isArray(node)) {
      out.push(Number(key));
      node = node[Number(key)];
    } else {
      out.push(key);
      node = node !== null && typeof node === 'object' ? (node as Record<string, unknown>)[key] : undefined;
    }
  }
  return out;
}

function valueAt(data: unknown, segments: readonly Segment[]): unknown {
  let node = data;
  for (const s of segments) node = node !== null && typeof node === 'object' ? (node as Record<string | number, unknown>)[s] : undefined;
  return node;
}

/** The schema of the value at `segments`, following properties and items only (undefined past an if/then). */
function schemaAt(segments: readonly Segment[]): SchemaNode | undefined {
  let node: SchemaNode | undefined = RUN_CONFIG_SCHEMA;
  for (const s of segments) {
    if (node === undefined) return undefined;
    node = typeof s === 'number' ? node.items : node.properties?.[s];
  }
  return node;
}

function typesOf(s: SchemaNode): SchemaType[] {
  return s.type === undefined ? [] : Array.isArray(s.type) ? s.type : [s.type];
}

function isScalarSchema(s: SchemaNode | undefined): boolean {
  return s !== undefined && typesOf(s).every((t) => t === 'number' || t === 'integer' || t === 'string' || t === 'boolean' || t === 'null');
}

function range(s: SchemaNode): string {
  const lo = s.minimum ?? s.exclusiveMinimum;
  const hi = s.maximum ?? s.exclusiveMaximum;
  if (lo !== undefined && hi !== undefined) {
    if (s.minimum !== undefined && s.maximum !== undefined) return ` ${lo}…${hi}`;
    return ` in ${s.minimum !== undefined ? '[' : '('}${lo}, ${hi}${s.maximum !== undefined ? ']' : ')'}`;
  }
  if (s.minimum !== undefined) return ` ≥ ${s.minimum}`;
  if (s.exclusiveMinimum !== undefined) return ` > ${s.exclusiveMinimum}`;
  if (s.maximum !== undefined) return ` ≤ ${s.maximum}`;
  if (s.exclusiveMaximum !== undefined) return ` < ${s.exclusiveMaximum}`;
  return '';
}

function enumText(values: readonly unknown[]): string {
  return values.map((v) => String(v)).join(', ');
}

/** What the items of an array are, in the plural ("integers 1…255", "sweeps"). */
function plural(items: SchemaNode | undefined): string {
  if (items === undefined) return 'values';
  if (items.enum !== undefined) return `values from ${enumText(items.enum)}`;
  if (items.title !== undefined) return `${items.title}s`;
  const t = typesOf(items)[0];
  if (t === 'integer') return `integers${range(items)}`;
  if (t === 'number') return `numbers${range(items)}`;
  if (t === 'string') return items.minLength !== undefined && items.minLength > 0 ? 'non-empty strings' : 'strings';
  if (t === 'boolean') return 'booleans';
  if (t === 'array') return items.minItems !== undefined && items.minItems === items.maxItems ? `lists of ${items.minItems} ${plural(items.items)}` : `lists of ${plural(items.items)}`;
  return 'mappings';
}

/** What a value matching the schema looks like, in words ("3 integers 1…255", "one of width, volume"). */
export function describeSchema(s: SchemaNode): string {
  if (s.if !== undefined && s.title === P_ORDER_TITLE) return `one of ${enumText(P_ORDER_KINDS)} or a mapping {csv, column, key}`;
  if (s.if !== undefined) return 'a list of image files, a mapping {template, first, last} or a mapping {hdf5, dataset, first, last}';
  const types = typesOf(s);
  const parts: string[] = [];
  if (s.enum !== undefined) parts.push(`one of ${enumText(s.enum)}`);
  else {
    for (const t of types) {
      switch (t) {
        case 'string':
          parts.push(s.pattern !== undefined ? (PATTERN_PHRASES[s.pattern] ?? `a string matching /${s.pattern}/`) : s.minLength !== undefined && s.minLength > 0 ? 'a non-empty string' : 'a string');
          break;
        case 'integer':
          parts.push(`an integer${range(s)}`);
          break;
        case 'number':
          parts.push(`a number${range(s)}`);
          break;
        case 'boolean':
          parts.push('true or false');
          break;
        case 'object': {
          const keys = Object.keys(s.properties ?? {});
          parts.push(s.minProperties === 1 && s.maxProperties === 1 ? `a mapping with exactly one of ${keys.join(', ')}` : 'a mapping (key: value)');
          break;
        }
        case 'array': {
          const n = s.minItems;
          let text: string;
          if (n !== undefined && n === s.maxItems) text = `${n} ${plural(s.items)}`;
          else if (n === 1) text = `a non-empty list of ${plural(s.items)}`;
          else if (n !== undefined && n > 1) text = `a list of at least ${n} ${plural(s.items)}`;
          else text = `a list of ${plural(s.items)}`;
          parts.push(s.uniqueItems === true ? `${text}, each at most once` : text);
          break;
        }
        case 'null':
          break;
      }
    }
  }
  if (types.includes('null')) parts.push('null');
  if (parts.length === 0) return 'a valid value';
  return parts.length === 1 ? (parts[0] as string) : `${parts.slice(0, -1).join(', ')} or ${parts[parts.length - 1] as string}`;
}

/** A value as the user would write it, shortened. */
export function show(v: unknown): string {
  let out: string;
  if (typeof v === 'string') out = `'${v}'`;
  else if (Array.isArray(v)) out = `[${v.map(show).join(', ')}]`;
  else if (v !== null && typeof v === 'object') {
    out = `{${Object.entries(v as Record<string, unknown>)
      .map(([k, x]) => `${k}: ${show(x)}`)
      .join(', ')}}`;
  } else out = String(v);
  return out.length > 80 ? `${out.slice(0, 77)}…` : out;
}

/** The allowed key nearest to `key` (camelCase spelled in snake_case first, then edit distance), or undefined when none is close. */
export function nearestKey(key: string, allowed: readonly string[]): string | undefined {
  const snake = key.replace(/([a-z0-9])([A-Z])/g, '$1_$2').replace(/-/g, '_').toLowerCase();
  if (allowed.includes(snake)) return snake;
  const best = nearestName(snake, allowed);
  const limit = Math.max(2, Math.ceil(Math.max(key.length, 3) / 3));
  return best !== undefined && best.distance <= limit ? best.name : undefined;
}

function issue(segments: readonly Segment[], reason: string): ConfigIssue {
  const key = formatKey(segments);
  return { key, reason, line: key === '' ? reason : `${key}: ${reason}` };
}

/** Keys a mistyped key in an image source may have meant (the other form's keys too). */
const IMAGE_SOURCE_KEYS = ['template', 'first', 'last', 'hdf5', 'dataset'];

/** Turns ajv's errors into one issue per problem, each naming its key. */
function schemaIssues(errors: readonly ErrorObject[], data: unknown): ConfigIssue[] {
  const unknown: ConfigIssue[] = [];
  const missing: ConfigIssue[] = [];
  const values: ConfigIssue[] = [];
  const seen = new Set<string>();
  for (const e of errors) {
    const segs = pointerSegments(e.instancePath, data);
    const parent = e.parentSchema as SchemaNode | undefined;
    switch (e.keyword) {
      case 'if':
        continue;
      case 'additionalProperties': {
        const extra = String((e.params as { additionalProperty: string }).additionalProperty);
        const title = parent?.title;
        const allowed = title === 'template source' || title === 'HDF5 source' ? IMAGE_SOURCE_KEYS : Object.keys(parent?.properties ?? {});
        const key = formatKey([...segs, extra]);
        if (seen.has(`unknown:${key}`)) continue;
        seen.add(`unknown:${key}`);
        const near = nearestKey(extra, allowed);
        const hint = near !== undefined ? `did you mean '${near}'?` : `allowed: ${allowed.join(', ')}`;
        const reason = `unknown key '${key}' (${hint})`;
        unknown.push({ key, reason, line: reason });
        continue;
      }
      case 'required': {
        const name = String((e.params as { missingProperty: string }).missingProperty);
        const it = issue([...segs, name], 'required');
        if (!seen.has(`required:${it.key}`)) missing.push(it);
        seen.add(`required:${it.key}`);
        continue;
      }
      default: {
        // a bad item of a list of scalars (ndiv, a pair, a rectangle): name the list
        let at = segs;
        let schema = parent;
        const last = segs[segs.length - 1];
        if (typeof last === 'number') {
          const listSchema = schemaAt(segs.slice(0, -1));
          if (listSchema !== undefined && isScalarSchema(listSchema.items)) {
            at = segs.slice(0, -1);
            schema = listSchema;
          }
        }
        const key = formatKey(at);
        if (seen.has(`value:${key}`)) continue;
        seen.add(`value:${key}`);
        const value = valueAt(data, at);
        const reason = schema !== undefined ? `must be ${describeSchema(schema)}, got ${show(value)}` : `${e.message ?? 'invalid'}, got ${show(value)}`;
        values.push(issue(at, reason));
      }
    }
  }
  // a value error on a key also reported as unknown or missing adds nothing
  return [...unknown, ...missing, ...values];
}

function throwIssues(issues: readonly ConfigIssue[], path: string): never {
  const [first, ...rest] = issues;
  if (first === undefined) throw new UsageError('invalid configuration', { file: path });
  const lines = [first.key === '' || first.line === first.reason ? first.line : first.reason];
  for (const i of rest.slice(0, MAX_LISTED - 1)) lines.push(`  ${i.line}`);
  if (rest.length > MAX_LISTED - 1) lines.push(`  (${rest.length - (MAX_LISTED - 1)} more)`);
  const err = new UsageError(lines.join('\n'), first.key === '' ? { file: path } : { file: path, field: first.key });
  throw Object.assign(err, { [ISSUES]: [...issues] });
}

const ISSUES = Symbol('config issues');

/** Every problem behind a validation error of `parseRunConfig` (all of them, not only the ones in the message); undefined for other errors. */
export function configIssuesOf(err: unknown): ConfigIssue[] | undefined {
  if (!(err instanceof UsageError)) return undefined;
  const issues = (err as UsageError & { [ISSUES]?: ConfigIssue[] })[ISSUES];
  return issues === undefined ? undefined : [...issues];
}

// ---------------------------------------------------------------- the validated document

/** The document after schema validation (snake_case, optional keys absent or null). */
type RawSource = string[] | { template: string; first: number; last: number } | { hdf5: string; dataset?: string; first?: number; last?: number | null };

interface RawSweep {
  name?: string;
  expt: string;
  experiment?: number;
  images?: RawSource;
  background?: RawSource;
  exposure?: number | null;
  background_exposure?: number | null;
}

interface RawConfig {
  output?: string;
  space_group?: string | number | null;
  report?: boolean;
  threads?: number | null;
  memory_mb?: number | null;
  sweeps?: RawSweep[];
  stills?: RawStills;
  mask?: {
    edge?: number;
    panel_masks?: boolean;
    beamstop?: { rect?: [number, number, number, number]; circle?: [number, number, number]; polygon?: [number, number][] }[];
    file?: string | null;
    hot_pixels?: [number, number][];
    trusted_range?: 'exclusive' | 'inclusive';
  };
  detector?: { kind?: 'auto' | 'photon-counting' | 'integrating'; gain?: number | null; pedestal?: number | null };
  grid?: { ndiv?: [number, number, number]; wedge_deg?: number | null; wedge_frames?: number | null; batch_frames?: number | null };
  filter?: { enabled?: boolean; max_count?: number; window?: number };
  corrections?: { enabled?: boolean; efficiency?: boolean; polarization?: boolean; air_path?: number | null };
  scaling?: {
    table?: 'diffuse' | 'bragg';
    stages?: string[];
    b_step_deg?: number;
    a_grid?: [number, number, number] | null;
    c_grid?: [number, number] | null;
    d_mode?: 'panel' | 'map';
    d_grid?: [number, number] | null;
    outlier?: number[];
    max_iterations?: number;
    tolerance?: number;
  };
  merge?: { outlier_sigma?: number; rounds?: number; half_seed?: number; half_split?: 'observation' | 'batch'; shells?: number; inflate_sigma?: boolean };
  absolute?: {
    composition?: string | null;
    sequence?: string | null;
    copies?: number | null;
    solvent?: number | null;
    disulfides?: number | null;
    ions?: string | null;
    cutoff?: number | null;
    shells?: number;
    spacing?: 'width' | 'volume';
    min_completeness?: number;
  };
  export?: { formats?: ('nexus' | 'ccp4' | 'png')[]; fill?: number; colormap?: 'viridis' | 'diverging' };
}

interface RawStills {
  expt?: string;
  refl?: string | null;
  stream?: string;
  image_root?: string | null;
  hdf5_dataset?: string | null;
  exposure?: number | null;
  unit_cell?: [number, number, number, number, number, number] | null;
  trusted_range?: [number, number] | null;
  polarization_fraction?: number | null;
  p_order?: string | { csv: string; column: string; key?: string };
  bragg_mask?: {
    fallback_radius?: number;
    radius_scale?: number;
    ellipsoid_sigmas?: number;
    margin?: number;
    margin_px?: number;
    divergence?: number;
    bandwidth?: number;
    bbox?: boolean;
    outliers?: boolean;
    block?: number;
    z?: number;
    read_noise?: number;
    outlier_dilate_px?: number;
  };
  partiality?: { model?: PartialityModel; threshold?: number };
  bragg_intensity?: 'prf' | 'sum';
  scaling?: {
    b_mode?: 'per-shot' | 'smooth';
    b_lambda?: number;
    b_nodes?: number;
    a_grid?: [number, number, number];
    c_grid?: [number, number];
    d_mode?: 'panel' | 'map';
    stages?: string[];
    outlier?: number[];
    max_iterations?: number;
    tolerance?: number;
    min_shot_rows?: number;
    reject_mad?: number;
    reject_rounds?: number;
    row_budget?: number;
    subset_seed?: number;
    bragg_weight?: number;
  };
  background?: { images: string[]; exposure?: number | null };
  on_bad_shot?: 'stop' | 'skip';
  chunk_shots?: number;
}

const given = <T>(v: T | null | undefined): v is T => v !== null && v !== undefined;

/** Default sweep name by position (0-based). */
const defaultSweepName = (i: number): string => `sweep${i + 1}`;

/** Whether the `sequence` value names a file rather than holding the sequence itself. */
export function sequenceIsPath(value: string): boolean {
  const t = value.trim();
  if (t.includes('\n') || t.startsWith('>')) return false;
  return /[/\\]/.test(t) || /\.(fasta|fa|faa|seq|txt|pir)$/i.test(t);
}

function composedMessage(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  return msg.replace(/^field '[^']*': /, '');
}

function sourceIssues(src: RawSource | undefined, at: Segment[]): ConfigIssue[] {
  if (src === undefined || Array.isArray(src)) return [];
  if ('hdf5' in src) {
    if (given(src.last) && src.last < (src.first ?? 0)) return [issue([...at, 'last'], `must be ≥ first (${src.first ?? 0}), got ${src.last}`)];
    return [];
  }
  if (src.last < src.first) return [issue([...at, 'last'], `must be ≥ first (${src.first}), got ${src.last}`)];
  return [];
}

/** The `stills:` checks beyond the schema: expt xor stream, refl with expt only, an odd grid, a sensible trusted range. */
function stillsIssues(st: RawStills, ndiv: readonly number[] | undefined): ConfigIssue[] {
  const out: ConfigIssue[] = [];
  if (given(st.expt) && given(st.stream)) out.push(issue(['stills', 'stream'], 'give expt (DIALS) or stream (CrystFEL), not both'));
  else if (!given(st.expt) && !given(st.stream)) out.push(issue(['stills', 'expt'], 'required (a DIALS stills .expt, or stream: a CrystFEL .stream)'));
  if (given(st.stream) && given(st.refl)) out.push(issue(['stills', 'refl'], 'goes with expt, not stream (the stream holds its reflections)'));
  if (ndiv !== undefined && !ndiv.every((v) => v % 2 === 1)) out.push(issue(['grid', 'ndiv'], `stills need odd subdivisions (the central subvoxel on the lattice point), got ${show(ndiv)}`));
  const tr = st.trusted_range;
  if (given(tr) && !(tr[1] > tr[0])) out.push(issue(['stills', 'trusted_range'], `must be [lo, hi] with hi > lo, got ${show(tr)}`));
  return out;
}

/** Checks that need more than one key, or more than the schema can say. */
function semanticIssues(doc: RawConfig): ConfigIssue[] {
  const out: ConfigIssue[] = [];
  const names = new Map<string, number>();
  if (doc.stills !== undefined) out.push(...stillsIssues(doc.stills, doc.grid?.ndiv));
  (doc.sweeps ?? []).forEach((s, i) => {
    const name = s.name ?? defaultSweepName(i);
    const prev = names.get(name);
    if (prev !== undefined) {
      const how = s.name === undefined ? ` (the default name of the sweep at position ${i + 1})` : '';
      out.push(issue(['sweeps', i, 'name'], `duplicate sweep name '${name}'${how}: sweeps[${prev}] has it too; names must be unique`));
    } else names.set(name, i);
    out.push(...sourceIssues(s.images, ['sweeps', i, 'images']), ...sourceIssues(s.background, ['sweeps', i, 'background']));
  });
  (doc.mask?.beamstop ?? []).forEach((b, i) => {
    if (b.rect !== undefined) {
      const [x0, y0, x1, y1] = b.rect;
      if (!(x1 > x0 && y1 > y0)) out.push(issue(['mask', 'beamstop', i, 'rect'], `must be [x0, y0, x1, y1] with x1 > x0 and y1 > y0, got ${show(b.rect)}`));
    }
    if (b.circle !== undefined && !(b.circle[2] > 0)) out.push(issue(['mask', 'beamstop', i, 'circle'], `the radius must be > 0, got ${show(b.circle)}`));
  });
  if (given(doc.space_group)) {
    try {
      spaceGroup(String(doc.space_group).trim());
    } catch (err) {
      out.push(issue(['space_group'], composedMessage(err)));
    }
  }
  const g = doc.grid ?? {};
  if (given(g.wedge_deg) && given(g.wedge_frames)) {
    out.push(issue(['grid', 'wedge_frames'], 'give wedge_deg or wedge_frames, not both (set wedge_deg: null to cut the wedges by frames)'));
  }
  const a = doc.absolute ?? {};
  if (given(a.composition) && given(a.sequence)) {
    out.push(issue(['absolute', 'sequence'], 'give composition or sequence, not both'));
  } else if (given(a.composition)) {
    for (const k of ['copies', 'solvent', 'disulfides', 'ions'] as const) {
      if (given(a[k])) out.push(issue(['absolute', k], `goes with sequence, not composition${k === 'ions' ? ' (add the atoms to the composition formula)' : ''}`));
    }
    try {
      parseComposition(a.composition);
    } catch (err) {
      out.push(issue(['absolute', 'composition'], composedMessage(err)));
    }
  } else if (given(a.sequence)) {
    if (!sequenceIsPath(a.sequence)) {
      try {
        const chains = sequenceChains(a.sequence);
        if (chains.length === 0) out.push(issue(['absolute', 'sequence'], 'empty sequence'));
        for (const c of chains) chainComposition(c);
      } catch (err) {
        out.push(issue(['absolute', 'sequence'], composedMessage(err)));
      }
    }
    if (given(a.ions)) {
      try {
        parseComposition(a.ions);
      } catch (err) {
        out.push(issue(['absolute', 'ions'], composedMessage(err)));
      }
    }
  } else {
    for (const k of ['copies', 'solvent', 'disulfides', 'ions'] as const) {
      if (given(a[k])) out.push(issue(['absolute', k], 'needs a sequence (set absolute.sequence, or remove this key)'));
    }
  }
  return out;
}

// ---------------------------------------------------------------- defaults and paths

/** The `stills:` section with every default filled and every path absolute. */
function stillsConfigOf(st: RawStills, abs: (p: string) => string): StillsConfig {
  const po = st.p_order ?? STILLS_RUN_DEFAULTS.pOrder.kind;
  const pOrder: POrderConfig =
    typeof po === 'string' ? { kind: po as (typeof P_ORDER_KINDS)[number] } : { kind: 'csv', file: abs(po.csv), column: po.column, key: po.key ?? 'shot' };
  const m = st.bragg_mask ?? {};
  const D = STILLS_MASK_DEFAULTS;
  const DR = STILLS_RUN_DEFAULTS;
  const DS = STILLS_SCALE_DEFAULTS;
  const sc = st.scaling ?? {};
  return {
    input: given(st.stream) ? { kind: 'crystfel', stream: abs(st.stream) } : { kind: 'dials', expt: abs(st.expt as string), refl: given(st.refl) ? abs(st.refl) : null },
    imageRoot: given(st.image_root) ? abs(st.image_root) : null,
    hdf5Dataset: st.hdf5_dataset ?? null,
    exposure: st.exposure ?? null,
    unitCell: given(st.unit_cell) ? [st.unit_cell[0], st.unit_cell[1], st.unit_cell[2], st.unit_cell[3], st.unit_cell[4], st.unit_cell[5]] : null,
    trustedRange: given(st.trusted_range) ? [st.trusted_range[0], st.trusted_range[1]] : null,
    polarizationFraction: st.polarization_fraction ?? null,
    pOrder,
    braggMask: {
      fallbackRadius: m.fallback_radius ?? D.fallbackRadius,
      radiusScale: m.radius_scale ?? D.radiusScale,
      ellipsoidSigmas: m.ellipsoid_sigmas ?? D.ellipsoidSigmas,
      margin: m.margin ?? D.margin,
      marginPx: m.margin_px ?? D.marginPx,
      divergence: m.divergence ?? D.divergence,
      bandwidth: m.bandwidth ?? D.bandwidth,
      bbox: m.bbox ?? D.bbox,
      outliers: m.outliers ?? D.outliers,
      block: m.block ?? D.block,
      z: m.z ?? D.z,
      readNoise: m.read_noise ?? D.readNoise,
      outlierDilatePx: m.outlier_dilate_px ?? D.outlierDilatePx,
    },
    bragg: { model: st.partiality?.model ?? DR.bragg.model, threshold: st.partiality?.threshold ?? DR.bragg.threshold, intensity: st.bragg_intensity ?? DR.bragg.intensity },
    scaling: {
      bMode: sc.b_mode ?? DS.bMode,
      bLambda: sc.b_lambda ?? DS.bLambda,
      bNodes: sc.b_nodes ?? DS.bNodes,
      aGrid: sc.a_grid !== undefined ? [sc.a_grid[0], sc.a_grid[1], sc.a_grid[2]] : [...DS.aGrid],
      cGrid: sc.c_grid !== undefined ? [sc.c_grid[0], sc.c_grid[1]] : [...DS.cGrid],
      dMode: sc.d_mode ?? DS.dMode,
      // the schema allows only SCALE_STAGES
      stages: [...((sc.stages as ScaleStage[] | undefined) ?? DS.stages)],
      outlier: [...(sc.outlier ?? DS.outlier)],
      maxIterations: sc.max_iterations ?? DS.maxIterations,
      tolerance: sc.tolerance ?? DS.tolerance,
      minShotRows: sc.min_shot_rows ?? DS.minShotRows,
      rejectMad: sc.reject_mad ?? DS.rejectMad,
      rejectRounds: sc.reject_rounds ?? DS.rejectRounds,
      rowBudget: sc.row_budget ?? DS.rowBudget,
      subsetSeed: sc.subset_seed ?? DS.subsetSeed,
      braggWeight: sc.bragg_weight ?? DS.braggWeight ?? 1,
    },
    background: st.background === undefined ? null : { images: st.background.images.map(abs), exposure: st.background.exposure ?? null },
    onBadShot: st.on_bad_shot ?? DR.onBadShot,
    chunkShots: st.chunk_shots ?? DR.chunkShots,
  };
}

function build(doc: RawConfig, path: string): RunConfig {
  const source = resolve(path);
  const base = dirname(source);
  const abs = (p: string): string => {
    if (p === '~') return homedir();
    if (p.startsWith('~/')) return resolve(homedir(), p.slice(2));
    return isAbsolute(p) ? resolve(p) : resolve(base, p);
  };
  const imageSource = (src: RawSource): ImageSource => {
    if (Array.isArray(src)) return { kind: 'files', files: src.map(abs) };
    if ('hdf5' in src) return { kind: 'hdf5', file: abs(src.hdf5), dataset: src.dataset ?? '/entry/data/data', first: src.first ?? 0, last: src.last ?? null };
    return { kind: 'template', template: abs(src.template), first: src.first, last: src.last };
  };

  const sweeps: SweepConfig[] = (doc.sweeps ?? []).map((s, i) => ({
    name: s.name ?? defaultSweepName(i),
    expt: abs(s.expt),
    experiment: s.experiment ?? 0,
    images: s.images === undefined ? { kind: 'expt' } : imageSource(s.images),
    background: s.background === undefined ? null : imageSource(s.background),
    exposure: s.exposure ?? CORRECT_DEFAULTS.exposure,
    backgroundExposure: s.background_exposure ?? CORRECT_DEFAULTS.backgroundExposure,
  }));

  const m = doc.mask ?? {};
  const beamstop: BeamstopConfig[] = (m.beamstop ?? []).map((b): BeamstopConfig => {
    if (b.rect !== undefined) return { kind: 'rect', x0: b.rect[0], y0: b.rect[1], x1: b.rect[2], y1: b.rect[3] };
    if (b.circle !== undefined) return { kind: 'circle', cx: b.circle[0], cy: b.circle[1], r: b.circle[2] };
    return { kind: 'polygon', points: (b.polygon ?? []).map(([x, y]): [number, number] => [x, y]) };
  });
  const DM = INTEGRATE_DEFAULTS.mask;
  const mask: MaskConfig = {
    edge: m.edge ?? DM.edge,
    panelMasks: m.panel_masks ?? DM.panelMasks,
    beamstop,
    file: given(m.file) ? abs(m.file) : DM.file,
    hotPixels: (m.hot_pixels ?? DM.hotPixels).map(([x, y]): [number, number] => [x, y]),
    trustedRange: m.trusted_range ?? DM.trustedRange,
  };

  const g = doc.grid ?? {};
  const wedgeFrames = g.wedge_frames ?? null;
  const DG = INTEGRATE_DEFAULTS.grid;
  const ndiv = g.ndiv ?? DG.ndiv;
  const grid: GridConfig = {
    ndiv: [ndiv[0], ndiv[1], ndiv[2]],
    // an explicit null keeps "no degrees" (with wedge_frames) ; omitted without wedge_frames: the default
    wedgeDeg: wedgeFrames !== null ? null : (g.wedge_deg ?? DG.wedgeDeg),
    wedgeFrames,
    batchFrames: g.batch_frames ?? DG.batchFrames,
  };

  const sc = doc.scaling ?? {};
  const DS = SCALE_DEFAULTS;
  const scaling: ScalingConfig = {
    table: sc.table ?? DS.table,
    // the schema allows only SCALE_STAGES
    stages: [...((sc.stages as ScaleStage[] | undefined) ?? DS.stages)],
    bStepDeg: sc.b_step_deg ?? DS.bStepDeg,
    aGrid: given(sc.a_grid) ? [sc.a_grid[0], sc.a_grid[1], sc.a_grid[2]] : DS.aGrid,
    cGrid: given(sc.c_grid) ? [sc.c_grid[0], sc.c_grid[1]] : DS.cGrid,
    dMode: sc.d_mode ?? DS.dMode,
    dGrid: given(sc.d_grid) ? [sc.d_grid[0], sc.d_grid[1]] : DS.dGrid,
    outlier: [...(sc.outlier ?? DS.outlier)],
    maxIterations: sc.max_iterations ?? DS.maxIterations,
    tolerance: sc.tolerance ?? DS.tolerance,
  };

  const a = doc.absolute ?? {};
  const DA = ABSOLUTE_DEFAULTS;
  let composition: CompositionConfig | null = null;
  if (given(a.composition)) composition = { kind: 'formula', formula: a.composition.trim() };
  else if (given(a.sequence)) {
    composition = {
      kind: 'sequence',
      sequence: sequenceIsPath(a.sequence) ? abs(a.sequence.trim()) : a.sequence,
      copies: a.copies ?? DA.sequence.copies,
      solvent: a.solvent ?? DA.sequence.solvent,
      disulfides: a.disulfides ?? DA.sequence.disulfides,
      ions: a.ions ?? DA.sequence.ions,
    };
  }
  const absolute: AbsoluteConfig = {
    composition,
    cutoff: a.cutoff ?? DA.cutoff,
    shells: a.shells ?? DA.shells,
    spacing: a.spacing ?? DA.spacing,
    minCompleteness: a.min_completeness ?? DA.minCompleteness,
  };

  const e = doc.export ?? {};
  const DE = EXPORT_DEFAULTS;
  const exp: ExportConfig = { formats: [...(e.formats ?? DE.formats)], fill: e.fill ?? DE.fill, colormap: e.colormap ?? DE.colormap };

  const d = doc.detector ?? {};
  const f = doc.filter ?? {};
  const c = doc.corrections ?? {};
  const mg = doc.merge ?? {};
  const { detector: DD, filter: DF, corrections: DC } = INTEGRATE_DEFAULTS;
  return {
    source,
    output: abs(doc.output ?? 'diffract-out'),
    spaceGroup: given(doc.space_group) ? String(doc.space_group).trim() : null,
    sweeps,
    stills: doc.stills === undefined ? null : stillsConfigOf(doc.stills, abs),
    mask,
    detector: { kind: d.kind ?? DD.kind, gain: d.gain ?? DD.gain, pedestal: d.pedestal ?? DD.pedestal },
    grid,
    filter: { enabled: f.enabled ?? DF.enabled, maxCount: f.max_count ?? DF.maxCount, window: f.window ?? DF.window },
    corrections: { enabled: c.enabled ?? DC.enabled, efficiency: c.efficiency ?? DC.efficiency, polarization: c.polarization ?? DC.polarization, airPath: c.air_path ?? DC.airPath },
    scaling,
    merge: {
      outlierSigma: mg.outlier_sigma ?? MERGE_DEFAULTS.outlierSigma,
      rounds: mg.rounds ?? MERGE_DEFAULTS.rounds,
      halfSeed: mg.half_seed ?? MERGE_DEFAULTS.halfSeed,
      halfSplit: mg.half_split ?? MERGE_DEFAULTS.halfSplit,
      shells: mg.shells ?? MERGE_DEFAULTS.shells,
      inflateSigma: mg.inflate_sigma ?? MERGE_DEFAULTS.inflateSigma,
    },
    absolute,
    export: exp,
    report: doc.report ?? true,
    threads: doc.threads ?? null,
    memoryMb: doc.memory_mb ?? null,
  };
}
