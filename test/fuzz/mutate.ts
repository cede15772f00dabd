/**
 * Shared machinery of the reader fuzz tests (issue 13): mutations of a valid
 * seed input (truncation, byte flips, inserted/deleted/duplicated ranges,
 * hostile numbers spliced into text at number positions and into binary data,
 * hostile values put into JSON trees) and the property every reader must keep:
 * it returns a result or throws one of diffract's typed user errors, one line
 * long, naming the file. Never a RangeError, TypeError, invariant or anything else.
 *
 * CI runs a fixed seed and a small number of runs; `npm run fuzz` (scripts/fuzz.mjs)
 * sets FUZZ_RUNS / FUZZ_SEED for longer runs. A failure prints the seed and the
 * fast-check path, so `FUZZ_SEED=<seed> npx vitest run test/fuzz/<reader>.fuzz.test.ts`
 * replays it.
 */
import * as fc from 'fast-check';
import { DeviceLostError, DiffractError, GpuError } from '../../src/errors.ts';

/** The seed of every property (fixed in CI). */
export const FUZZ_SEED = envInt('FUZZ_SEED') ?? 0x13f022;

/** How many runs: FUZZ_RUNS when set, else the CI default given by the test. */
export function fuzzRuns(ciDefault: number): number {
  return envInt('FUZZ_RUNS') ?? ciDefault;
}

function envInt(name: string): number | undefined {
  const v = process.env[name];
  if (v === undefined || v.trim() === '') return undefined;
  const n = Number(v);
  if (!Number.isSafeInteger(n)) throw new Error(`${name}=${v} is not an integer`);
  return n;
}

// ---------------------------------------------------------------------------
// hostile values

/** Text put in place of a number in text formats (headers, XDS, PONI, YAML). */
export const HOSTILE_NUMBER_TEXT: readonly string[] = [
  'NaN', 'nan', 'inf', 'Infinity', '-Infinity', '.inf', '1e308', '1e309', '-1e308', '1e300', '1e-300', '-1e-300',
  '0', '-0', '-1', '-7', '2147483647', '2147483648', '4294967296', '9007199254740993', '99999999999999999999',
  '100000', '1e5', '0x10', '', '.', '-', '1e', '+', '3.5', '1,5', '١٢',
];

/** Little-endian binary numbers spliced into binary formats. */
const HOSTILE_BINARY: readonly Uint8Array[] = (() => {
  const out: Uint8Array[] = [];
  for (const v of [0x7fffffff, -1, -0x80000000, 0, 0x40000000]) {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setInt32(0, v, true);
    out.push(b);
  }
  for (const v of [Number.NaN, Infinity, -Infinity, 1e308, -1e300, 5e-324]) {
    const b8 = new Uint8Array(8);
    new DataView(b8.buffer).setFloat64(0, v, true);
    out.push(b8);
    const b4 = new Uint8Array(4);
    new DataView(b4.buffer).setFloat32(0, v, true);
    out.push(b4);
  }
  out.push(new Uint8Array(8).fill(0xff), new Uint8Array([0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0]));
  return out;
})();

/** A sentinel written in JSON in place of a value that JSON cannot spell; replaced by the number text after stringify. */
const JSON_RAW = '\u0000raw:';

/** Hostile JSON values for structured mutation (strings starting with JSON_RAW become raw number text). */
export const HOSTILE_JSON: readonly unknown[] = [
  1e300, -1e300, 1e-300, 0, -1, -7, 0.5, 2 ** 31, 2 ** 53 + 2, 100000, 1e9,
  `${JSON_RAW}1e999`, `${JSON_RAW}-1e999`,
  'NaN', 'x', '', null, true, [], {}, [100000, 100000], [1e300, 1e300, 1e300], [-1, 0], [[]], { a: 1 },
];

// ---------------------------------------------------------------------------
// byte mutations

/** One edit of a byte string; positions are taken modulo the length. */
export type Mutation =
  | { kind: 'truncate'; at: number }
  | { kind: 'flip'; at: number; bit: number }
  | { kind: 'byte'; at: number; value: number }
  | { kind: 'delete'; at: number; length: number }
  | { kind: 'insert'; at: number; bytes: Uint8Array }
  | { kind: 'duplicate'; at: number; length: number }
  | { kind: 'number'; nth: number; text: string }
  | { kind: 'binary'; at: number; which: number };

/** The number tokens of latin1 text (start, end), for 'number' mutations. */
const NUMBER_RE = /[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?/g;

function numberPositions(bytes: Uint8Array): Array<[number, number]> {
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
  const out: Array<[number, number]> = [];
  for (const m of text.matchAll(NUMBER_RE)) out.push([m.index, m.index + m[0].length]);
  return out;
}

/**
 * Applies one mutation. `focus` (when given) is the byte count at the start that
 * position-based edits favour (a header): positions in [0, focus) for even `at`.
 */
export function applyMutation(bytes: Uint8Array, m: Mutation, focus?: number): Uint8Array {
  const n = bytes.length;
  const pos = (at: number, span = n): number => {
    if (span <= 0) return 0;
    if (focus !== undefined && focus > 0 && at % 2 === 0) return (at >>> 1) % Math.min(focus, span);
    return at % span;
  };
  const cat = (...parts: Uint8Array[]): Uint8Array => new Uint8Array(Buffer.concat(parts));
  switch (m.kind) {
    case 'truncate':
      return bytes.slice(0, pos(m.at, n + 1));
    case 'flip': {
      if (n === 0) return bytes;
      const out = bytes.slice();
      const i = pos(m.at);
      out[i] = out[i]! ^ (1 << (m.bit & 7));
      return out;
    }
    case 'byte': {
      if (n === 0) return bytes;
      const out = bytes.slice();
      out[pos(m.at)] = m.value & 0xff;
      return out;
    }
    case 'delete': {
      const i = pos(m.at, n + 1);
      return cat(bytes.subarray(0, i), bytes.subarray(Math.min(n, i + m.length)));
    }
    case 'insert': {
      const i = pos(m.at, n + 1);
      return cat(bytes.subarray(0, i), m.bytes, bytes.subarray(i));
    }
    case 'duplicate': {
      const i = pos(m.at, n + 1);
      const piece = bytes.subarray(i, Math.min(n, i + m.length));
      return cat(bytes.subarray(0, i), piece, bytes.subarray(i));
    }
    case 'number': {
      const spots = numberPositions(bytes);
      if (spots.length === 0) return bytes;
      const [s, e] = spots[m.nth % spots.length]!;
      return cat(bytes.subarray(0, s), Buffer.from(m.text, 'latin1'), bytes.subarray(e));
    }
    case 'binary': {
      const value = HOSTILE_BINARY[m.which % HOSTILE_BINARY.length]!;
      if (n < value.length) return bytes;
      const out = bytes.slice();
      out.set(value, pos(m.at, n - value.length + 1));
      return out;
    }
  }
}

/** An arbitrary single mutation. */
export function mutationArb(): fc.Arbitrary<Mutation> {
  const at = fc.nat();
  return fc.oneof(
    fc.record({ kind: fc.constant('truncate' as const), at }),
    fc.record({ kind: fc.constant('flip' as const), at, bit: fc.nat(7) }),
    fc.record({ kind: fc.constant('byte' as const), at, value: fc.constantFrom(0, 0x0a, 0x0d, 0x20, 0x22, 0x2d, 0x30, 0x39, 0x7f, 0x80, 0xff) }),
    fc.record({ kind: fc.constant('delete' as const), at, length: fc.integer({ min: 1, max: 64 }) }),
    fc.record({ kind: fc.constant('insert' as const), at, bytes: fc.uint8Array({ minLength: 1, maxLength: 32 }) }),
    fc.record({ kind: fc.constant('duplicate' as const), at, length: fc.integer({ min: 1, max: 64 }) }),
    // number splices weigh more: they reach the header checks
    { arbitrary: fc.record({ kind: fc.constant('number' as const), nth: fc.nat(), text: fc.constantFrom(...HOSTILE_NUMBER_TEXT) }), weight: 4 },
    { arbitrary: fc.record({ kind: fc.constant('binary' as const), at, which: fc.nat() }), weight: 2 },
  );
}

/** Arbitrary mutants of one of `seeds`: 1–3 mutations in a row. */
export function mutantArb(seeds: readonly Uint8Array[], opts: { focus?: number; maxMutations?: number } = {}): fc.Arbitrary<Uint8Array> {
  if (seeds.length === 0) throw new Error('mutantArb: no seed');
  return fc
    .tuple(fc.nat(seeds.length - 1), fc.array(mutationArb(), { minLength: 1, maxLength: opts.maxMutations ?? 3 }))
    .map(([k, ms]) => ms.reduce((b, m) => applyMutation(b, m, opts.focus), seeds[k]!));
}

/** Mutants of text seeds, as text (latin1 round trip for byte edits, UTF-8 seeds stay valid where untouched). */
export function textMutantArb(seeds: readonly string[], opts: { maxMutations?: number } = {}): fc.Arbitrary<string> {
  return mutantArb(seeds.map((s) => new Uint8Array(Buffer.from(s, 'utf8'))), opts).map((b) => Buffer.from(b).toString('utf8'));
}

// ---------------------------------------------------------------------------
// structured (JSON tree) mutations

type JsonPath = ReadonlyArray<string | number>;

function pathsOf(v: unknown, here: JsonPath = [], out: JsonPath[] = []): JsonPath[] {
  out.push(here);
  if (Array.isArray(v)) v.forEach((x, i) => pathsOf(x, [...here, i], out));
  else if (v !== null && typeof v === 'object') for (const [k, x] of Object.entries(v)) pathsOf(x, [...here, k], out);
  return out;
}

function setAt(root: unknown, path: JsonPath, value: unknown, remove: boolean): unknown {
  if (path.length === 0) return value;
  const copy: unknown = structuredClone(root);
  let node = copy as Record<string | number, unknown>;
  for (const key of path.slice(0, -1)) node = node[key] as Record<string | number, unknown>;
  const last = path[path.length - 1]!;
  if (remove) {
    if (Array.isArray(node)) node.splice(Number(last), 1);
    else delete node[last];
  } else node[last] = value;
  return copy;
}

/** JSON text of `value`, with JSON_RAW sentinels turned into raw number text (e.g. 1e999 → Infinity on parse). */
export function jsonText(value: unknown): string {
  return JSON.stringify(value, null, 1).replace(/"\\u0000raw:([^"]*)"/g, '$1');
}

/** Arbitrary JSON texts: `seed` with 1–3 nodes replaced by hostile values or removed. */
export function jsonMutantArb(seed: unknown, opts: { maxMutations?: number } = {}): fc.Arbitrary<string> {
  const paths = pathsOf(seed);
  const edit = fc.record({ path: fc.nat(paths.length - 1), value: fc.constantFrom(...HOSTILE_JSON), remove: fc.boolean() });
  return fc.array(edit, { minLength: 1, maxLength: opts.maxMutations ?? 3 }).map((edits) => {
    let v = seed;
    for (const e of edits) {
      const all = pathsOf(v);
      const p = all[e.path % all.length]!;
      v = setAt(v, p, e.value, e.remove && p.length > 0);
    }
    return jsonText(v);
  });
}

// ---------------------------------------------------------------------------
// the property

/** True for diffract's typed user errors (not GPU errors: no reader touches the GPU). */
export function isUserError(err: unknown): err is DiffractError {
  return err instanceof DiffractError && !(err instanceof GpuError) && !(err instanceof DeviceLostError);
}

/** What a typed error must show: the file it names, and whether it may list several problems on further lines (run configs do). */
export type ErrorExpectation = string | undefined | { file?: string; multiLine?: boolean };

/**
 * Checks what a reader call ended with: a value (then `check` may assert on it)
 * or a typed user error whose message is one line (unless `multiLine`) and whose first line names `file`. Anything
 * else is rethrown wrapped, with the original stack kept as the cause.
 */
export function judge<T>(outcome: { ok: true; value: T } | { ok: false; error: unknown }, expectation: ErrorExpectation, check?: (value: T) => void): void {
  const { file, multiLine = false } = typeof expectation === 'object' ? expectation : { file: expectation };
  if (outcome.ok) {
    check?.(outcome.value);
    return;
  }
  const err = outcome.error;
  if (!isUserError(err)) {
    const what = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
    throw new Error(`not a typed user error: ${what}\n${err instanceof Error ? (err.stack ?? '') : ''}`, { cause: err });
  }
  if (!multiLine && err.message.includes('\n')) throw new Error(`a user error must be one line, got:\n${err.message}`);
  if (file !== undefined && !(err.message.split('\n')[0] ?? '').includes(file)) throw new Error(`the error does not name the file '${file}': ${err.message}`);
}

/** Runs a synchronous reader call and judges it (see `judge`). */
export function expectTypedOrValid<T>(fn: () => T, file: ErrorExpectation, check?: (value: T) => void): void {
  let outcome: { ok: true; value: T } | { ok: false; error: unknown };
  try {
    outcome = { ok: true, value: fn() };
  } catch (error) {
    outcome = { ok: false, error };
  }
  judge(outcome, file, check);
}

/** Runs an asynchronous reader call and judges it (see `judge`). */
export async function expectTypedOrValidAsync<T>(fn: () => Promise<T>, file: ErrorExpectation, check?: (value: T) => void): Promise<void> {
  let outcome: { ok: true; value: T } | { ok: false; error: unknown };
  try {
    outcome = { ok: true, value: await fn() };
  } catch (error) {
    outcome = { ok: false, error };
  }
  judge(outcome, file, check);
}

/** fast-check parameters: the fixed (or FUZZ_SEED) seed, FUZZ_RUNS or `ciRuns` runs. */
export function fuzzParams(ciRuns: number): fc.Parameters<unknown> {
  return { seed: FUZZ_SEED, numRuns: fuzzRuns(ciRuns), endOnFailure: true };
}

/** fc.assert with the fuzz parameters; a failure names the seed to replay it with. */
export function fuzz<Ts extends [unknown, ...unknown[]]>(arbs: { [K in keyof Ts]: fc.Arbitrary<Ts[K]> }, predicate: (...args: Ts) => void, ciRuns: number): void {
  try {
    fc.assert(fc.property<Ts>(...arbs, predicate), fuzzParams(ciRuns));
  } catch (err) {
    throw replayHint(err, fuzzRuns(ciRuns));
  }
}

/** The async twin of `fuzz`. */
export async function fuzzAsync<Ts extends [unknown, ...unknown[]]>(arbs: { [K in keyof Ts]: fc.Arbitrary<Ts[K]> }, predicate: (...args: Ts) => Promise<void>, ciRuns: number): Promise<void> {
  try {
    await fc.assert(fc.asyncProperty<Ts>(...arbs, predicate), fuzzParams(ciRuns));
  } catch (err) {
    throw replayHint(err, fuzzRuns(ciRuns));
  }
}

function replayHint(err: unknown, runs: number): Error {
  const full = err instanceof Error ? err.message : String(err);
  // a counterexample of a few kB of bytes drowns the reason: keep its start and end
  const msg = full.replace(/Counterexample: (.{600})(.+?)(.{200})\n/s, (_m, a: string, b: string, c: string) => `Counterexample: ${a} …(${b.length} chars)… ${c}\n`);
  return new Error(`fuzz failure (FUZZ_SEED=${FUZZ_SEED}; replay: FUZZ_SEED=${FUZZ_SEED} FUZZ_RUNS=${runs} npx vitest run test/fuzz)\n${msg}`, { cause: err });
}

/** Every number reachable in `value` (objects, arrays, maps, typed arrays), with its path. */
export function numbersIn(value: unknown, path = '', out: Array<[string, number]> = [], seen = new Set<unknown>()): Array<[string, number]> {
  if (typeof value === 'number') out.push([path, value]);
  else if (value !== null && typeof value === 'object' && !seen.has(value)) {
    seen.add(value);
    if (ArrayBuffer.isView(value) && !(value instanceof DataView)) {
      const arr = value as unknown as ArrayLike<number | bigint>;
      for (let i = 0; i < arr.length; i++) if (typeof arr[i] === 'number') out.push([`${path}[${i}]`, arr[i] as number]);
    } else if (value instanceof Map) for (const [k, v] of value) numbersIn(v, `${path}.${String(k)}`, out, seen);
    else for (const [k, v] of Object.entries(value)) numbersIn(v, `${path}.${k}`, out, seen);
  }
  return out;
}

/** Throws naming the first non-finite number in `value` (a reader's result must hold none unless said otherwise). */
export function expectAllFinite(value: unknown, allow: (path: string) => boolean = () => false): void {
  for (const [p, v] of numbersIn(value)) {
    if (!Number.isFinite(v) && !allow(p)) throw new Error(`the result holds ${v} at ${p}`);
  }
}
