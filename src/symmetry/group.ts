/**
 * Space groups from a number, a Hermann–Mauguin symbol or a Hall symbol, with
 * their point group, Laue class and crystal system.
 */
import { InvalidValueError } from '../errors.ts';
import { closeGroup, det3, opKey, parseHall, type Op12 } from './hall.ts';
import { defaultSettings, settingsTable, type SettingEntry } from './settings.ts';
import type { CrystalSystem, LaueClass, SpaceGroup, SymOp } from './types.ts';

/** Internal data kept beside each SpaceGroup (ops with twelfths). */
const OPS12 = new WeakMap<SpaceGroup, readonly Op12[]>();

export function ops12(g: SpaceGroup): readonly Op12[] {
  const o = OPS12.get(g);
  if (o !== undefined) return o;
  // a SpaceGroup built elsewhere: derive twelfths from t
  const derived = g.ops.map((op) => ({ r: op.R, t: op.t.map((x) => Math.round(x * 12) % 12) as unknown as [number, number, number] }));
  OPS12.set(g, derived);
  return derived;
}

/** Point-group type (geometric class) from the rotation parts. */
export function classifyPointGroup(rots: readonly Op12['r'][]): string {
  const n = rots.length;
  let inv = false;
  const count: Record<string, number> = {};
  for (const r of rots) {
    const d = det3(r);
    const tr = r[0] + r[4] + r[8];
    if (d === -1 && tr === -3) inv = true;
    const type = d === 1 ? ({ 3: '1', [-1]: '2', 0: '3', 1: '4', 2: '6' } as Record<number, string>)[tr] : ({ [-3]: '-1', 1: 'm', 0: '-3', [-1]: '-4', [-2]: '-6' } as Record<number, string>)[tr];
    if (type === undefined) throw new Error(`internal invariant failed: rotation with det ${d} trace ${tr}`);
    count[type] = (count[type] ?? 0) + 1;
  }
  const c = (t: string): number => count[t] ?? 0;
  switch (n) {
    case 1: return '1';
    case 2: return inv ? '-1' : c('2') === 1 ? '2' : 'm';
    case 3: return '3';
    case 4: return c('4') > 0 ? '4' : c('-4') > 0 ? '-4' : inv ? '2/m' : c('m') === 2 ? 'mm2' : '222';
    case 6: return c('6') > 0 ? '6' : c('-6') > 0 ? '-6' : inv ? '-3' : c('2') === 3 ? '32' : '3m';
    case 8:
      if (c('4') > 0) return inv ? '4/m' : c('2') === 5 ? '422' : '4mm';
      return c('-4') > 0 ? '-42m' : 'mmm';
    case 12:
      if (c('3') === 8) return '23';
      if (c('6') > 0) return inv ? '6/m' : c('2') === 7 ? '622' : '6mm';
      return c('-6') > 0 ? '-6m2' : '-3m';
    case 16: return '4/mmm';
    case 24:
      if (c('3') === 8) return inv ? 'm-3' : c('4') > 0 ? '432' : '-43m';
      return '6/mmm';
    case 48: return 'm-3m';
  }
  throw new InvalidValueError(`a point group of order ${n} is not crystallographic`);
}

const LAUE_OF: Record<string, LaueClass> = {
  '1': '-1', '-1': '-1',
  '2': '2/m', m: '2/m', '2/m': '2/m',
  '222': 'mmm', mm2: 'mmm', mmm: 'mmm',
  '4': '4/m', '-4': '4/m', '4/m': '4/m',
  '422': '4/mmm', '4mm': '4/mmm', '-42m': '4/mmm', '4/mmm': '4/mmm',
  '3': '-3', '-3': '-3',
  '32': '-3m', '3m': '-3m', '-3m': '-3m',
  '6': '6/m', '-6': '6/m', '6/m': '6/m',
  '622': '6/mmm', '6mm': '6/mmm', '-6m2': '6/mmm', '6/mmm': '6/mmm',
  '23': 'm-3', 'm-3': 'm-3',
  '432': 'm-3m', '-43m': 'm-3m', 'm-3m': 'm-3m',
};

const SYSTEM_OF: Record<LaueClass, CrystalSystem> = {
  '-1': 'triclinic', '2/m': 'monoclinic', mmm: 'orthorhombic', '4/m': 'tetragonal', '4/mmm': 'tetragonal',
  '-3': 'trigonal', '-3m': 'trigonal', '6/m': 'hexagonal', '6/mmm': 'hexagonal', 'm-3': 'cubic', 'm-3m': 'cubic',
};

function normaliseHall(s: string): string {
  return s.replace(/^\s*hall\s*:\s*/i, '').trim().replace(/\s+/g, ' ');
}

function hallDisplay(s: string): string {
  const n = normaliseHall(s);
  return n.startsWith('-') ? n : ` ${n}`;
}

/** Key of an operation set, independent of order. */
function setKey(ops: readonly Op12[]): string {
  return ops.map(opKey).sort().join(';');
}

let hmIndex: Map<string, SettingEntry> | null = null;
let hallIndex: Map<string, SettingEntry> | null = null;
let opsIndex: Map<string, SettingEntry> | null = null;
const tableOps = new Map<SettingEntry, Op12[]>();

function hmKey(s: string): string {
  return s.replace(/[\s_]+/g, '');
}

function indexes(): { hm: Map<string, SettingEntry>; hall: Map<string, SettingEntry> } {
  if (hmIndex !== null && hallIndex !== null) return { hm: hmIndex, hall: hallIndex };
  const hm = new Map<string, SettingEntry>();
  const hall = new Map<string, SettingEntry>();
  const add = (key: string, e: SettingEntry): void => {
    if (!hm.has(key)) hm.set(key, e);
  };
  for (const e of settingsTable()) {
    const k = hmKey(e.hm);
    add(`${k}:${e.qualifier}`, e);
    add(k, e);
    // monoclinic short symbols: 'P 1 21/c 1' -> 'P 21/c'
    const parts = e.hm.split(' ');
    if (parts.length === 4 && parts.filter((x) => x === '1').length === 2) {
      add(parts[0]! + parts.slice(1).filter((x) => x !== '1').join(''), e);
    }
    if (e.qualifier === 'H') add(`H${k.slice(1)}`, e);
    const h = normaliseHall(e.hall);
    if (!hall.has(h)) hall.set(h, e);
  }
  hmIndex = hm;
  hallIndex = hall;
  return { hm, hall };
}

function opsOf(e: SettingEntry): Op12[] {
  let o = tableOps.get(e);
  if (o === undefined) {
    o = closeGroup(parseHall(e.hall).generators, e.hall);
    tableOps.set(e, o);
  }
  return o;
}

function opsLookup(): Map<string, SettingEntry> {
  if (opsIndex !== null) return opsIndex;
  const m = new Map<string, SettingEntry>();
  for (const e of settingsTable()) {
    const k = setKey(opsOf(e));
    if (!m.has(k)) m.set(k, e);
  }
  opsIndex = m;
  return m;
}

/**
 * Finds the tabulated setting with exactly these operations, trying also every
 * origin shift on the 1/12 grid (x → x + s changes t into t + (I − R)·s).
 */
function identify(ops: readonly Op12[]): SettingEntry | undefined {
  const lookup = opsLookup();
  const direct = lookup.get(setKey(ops));
  if (direct !== undefined) return direct;
  const rotKey = (o: readonly Op12[]): string => [...new Set(o.map((x) => x.r.join(',')))].sort().join(';');
  const target = rotKey(ops);
  const candidates = settingsTable().filter((e) => opsOf(e).length === ops.length && rotKey(opsOf(e)) === target);
  if (candidates.length === 0) return undefined;
  const keys = new Map<string, SettingEntry>();
  for (const e of candidates) keys.set(setKey(opsOf(e)), e);
  for (let sx = 0; sx < 12; sx++) {
    for (let sy = 0; sy < 12; sy++) {
      for (let sz = 0; sz < 12; sz++) {
        const shifted = ops.map((o) => {
          const r = o.r;
          const d0 = sx - (r[0] * sx + r[1] * sy + r[2] * sz);
          const d1 = sy - (r[3] * sx + r[4] * sy + r[5] * sz);
          const d2 = sz - (r[6] * sx + r[7] * sy + r[8] * sz);
          return { r, t: [(((o.t[0] + d0) % 12) + 12) % 12, (((o.t[1] + d1) % 12) + 12) % 12, (((o.t[2] + d2) % 12) + 12) % 12] as [number, number, number] };
        });
        const hit = keys.get(setKey(shifted));
        if (hit !== undefined) return hit;
      }
    }
  }
  return undefined;
}

function build(hall: string, ops: Op12[], entry: SettingEntry | undefined): SpaceGroup {
  const rots = [...new Map(ops.map((o) => [o.r.join(','), o.r])).values()];
  const pointGroup = classifyPointGroup(rots);
  const laueClass = LAUE_OF[pointGroup]!;
  const g: SpaceGroup = {
    number: entry?.number ?? 0,
    hm: entry?.hm ?? '',
    qualifier: entry?.qualifier ?? '',
    hall: hallDisplay(hall),
    ops: ops.map((o): SymOp => ({ R: o.r, t: [o.t[0] / 12, o.t[1] / 12, o.t[2] / 12] })),
    order: ops.length,
    pointGroup,
    laueClass,
    crystalSystem: SYSTEM_OF[laueClass],
    centrosymmetric: rots.some((r) => det3(r) === -1 && r[0] + r[4] + r[8] === -3),
  };
  OPS12.set(g, ops);
  return g;
}

const cache = new Map<string, SpaceGroup>();

function fromHall(symbol: string): SpaceGroup {
  const key = `hall:${normaliseHall(symbol)}`;
  const hit = cache.get(key);
  if (hit !== undefined) return hit;
  const parsed = parseHall(symbol);
  const ops = closeGroup(parsed.generators, parsed.symbol);
  const { hall } = indexes();
  let entry = hall.get(normaliseHall(parsed.symbol));
  if (entry !== undefined && setKey(opsOf(entry)) !== setKey(ops)) entry = undefined;
  entry ??= identify(ops);
  // a change of basis keeps the space-group type of the base symbol
  if (entry === undefined && parsed.changeOfBasis !== '') {
    const base = hall.get(parsed.base) ?? identify(closeGroup(parseHall(parsed.base).generators, parsed.base));
    if (base !== undefined) entry = { ...base, hm: `${base.hm} (${parsed.changeOfBasis})` };
  }
  const g = build(parsed.symbol, ops, entry);
  cache.set(key, g);
  return g;
}

function fromEntry(e: SettingEntry): SpaceGroup {
  const key = `entry:${e.number}:${e.hm}:${e.qualifier}:${e.hall}`;
  const hit = cache.get(key);
  if (hit !== undefined) return hit;
  const g = build(e.hall, opsOf(e), e);
  cache.set(key, g);
  return g;
}

/**
 * A space group from a number (1..230, default setting), a Hermann–Mauguin
 * symbol ('P 21 21 21', 'P212121', 'P 21/c', 'R 3 :H', 'F d -3 m :2') or a
 * Hall symbol (' P 2ac 2ab', '-P 1', 'Hall: C 2y', ' P 61 2 (0 0 -1)').
 * H-M symbols are tried before Hall symbols unless the text starts with a
 * space, '-' or 'Hall:'. Throws InvalidValueError naming the symbol otherwise.
 */
export function spaceGroup(symbol: string | number): SpaceGroup {
  if (typeof symbol === 'number') {
    if (!Number.isInteger(symbol) || symbol < 1 || symbol > 230) {
      throw new InvalidValueError(`space-group number ${symbol} is not an integer from 1 to 230`);
    }
    return fromEntry(defaultSettings()[symbol - 1]!);
  }
  const text = symbol;
  const trimmed = text.trim();
  if (trimmed === '') throw new InvalidValueError(`empty space-group symbol '${text}'`);
  if (/^\d+$/.test(trimmed)) return spaceGroup(Number(trimmed));
  const explicitHall = /^\s*hall\s*:/i.test(text) || /^\s/.test(text) || trimmed.startsWith('-');
  if (!explicitHall) {
    const { hm } = indexes();
    const m = /^(.*?)(?:\s*:\s*([12HRhr]))?$/.exec(trimmed)!;
    const base = hmKey(m[1]!);
    const q = (m[2] ?? '').toUpperCase();
    const tryKey = (k: string): SettingEntry | undefined => (q === '' ? hm.get(k) : hm.get(`${k}:${q}`));
    let e = tryKey(base);
    if (e === undefined) {
      // case-insensitive: lattice letter upper case, the rest lower case
      const fixed = base.charAt(0).toUpperCase() + base.slice(1).toLowerCase();
      e = tryKey(fixed);
    }
    if (e !== undefined) return fromEntry(e);
  }
  try {
    return fromHall(text);
  } catch (err) {
    if (err instanceof InvalidValueError && !explicitHall) {
      throw new InvalidValueError(`unknown space-group symbol '${trimmed}' (neither a Hermann–Mauguin nor a Hall symbol: ${err.message})`);
    }
    throw err;
  }
}

/** Every tabulated setting (number, H-M symbol, qualifier, Hall symbol). */
export function spaceGroupSettings(): readonly SettingEntry[] {
  return settingsTable();
}
