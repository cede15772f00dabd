/**
 * Unit-cell contents: element symbol → number of atoms per unit cell (counts
 * may be fractional, e.g. partially occupied solvent), and the sums over them
 * that absolute scaling needs:
 *
 *   electronCount(comp)     N_e = Σ_j n_j Z_j (neutral atoms)
 *   coherentSum(comp, s)    Σ_j n_j f_j(s)²   (electrons² per cell: the
 *                           "independent atom" coherent scattering)
 *   incoherentSum(comp, s)  Σ_j n_j S_j(s)    (electron units per cell: Compton)
 *
 * with s = |s| = 1/d = 2 sinθ/λ (Å⁻¹).
 */
import { InvalidValueError } from '../errors.ts';
import { element, formFactorX2, incoherentX2, isElementSymbol, x2Of, type ElementFactors } from './factors.ts';

/** Element symbol → atoms per unit cell. */
export type Composition = Readonly<Record<string, number>>;

/** Bulk water: molecules per Å³ (1.0 g/cm³ at 18.015 g/mol). */
export const WATER_NUMBER_DENSITY = 0.0334;

function addTo(out: Record<string, number>, symbol: string, n: number, source: string): void {
  if (!isElementSymbol(symbol)) throw new InvalidValueError(`unknown element '${symbol}' in '${source}'`, { field: 'composition' });
  out[symbol] = (out[symbol] ?? 0) + n;
}

/** Parses one formula (no whitespace): elements with optional counts and parenthesized groups with multipliers, e.g. "H2O", "C613H959N193O185S10", "(H2O)2.5". */
function parseFormula(text: string, source: string): Record<string, number> {
  let pos = 0;
  const bad = (why: string): never => {
    throw new InvalidValueError(`cannot read composition '${source}': ${why} at '${text.slice(pos)}'`, { field: 'composition' });
  };
  const readNumber = (): number | undefined => {
    const m = /^(\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?/.exec(text.slice(pos));
    if (m === null) return undefined;
    pos += m[0].length;
    return Number(m[0]);
  };
  const group = (depth: number): Record<string, number> => {
    const out: Record<string, number> = {};
    while (pos < text.length) {
      const ch = text[pos] as string;
      if (ch === '(') {
        pos++;
        const inner = group(depth + 1);
        if (text[pos] !== ')') bad("missing ')'");
        pos++;
        const mult = readNumber() ?? 1;
        for (const [el, n] of Object.entries(inner)) out[el] = (out[el] ?? 0) + n * mult;
      } else if (ch === ')') {
        if (depth === 0) bad("unmatched ')'");
        return out;
      } else {
        const m = /^[A-Z][a-z]?/.exec(text.slice(pos));
        if (m === null) return bad('expected an element symbol');
        // symbols are case-sensitive: "CO" is carbon + oxygen, "Co" cobalt
        let sym = m[0];
        if (!isElementSymbol(sym) && sym.length === 2 && isElementSymbol(sym.slice(0, 1))) sym = sym.slice(0, 1);
        pos += sym.length;
        const n = readNumber() ?? 1;
        addTo(out, sym, n, source);
      }
    }
    if (depth > 0) bad("missing ')'");
    return out;
  };
  return group(0);
}

/**
 * Parses a composition: whitespace- or '+'-separated terms, each a formula
 * with an optional multiplier written "N*formula", "Nxformula" or as a bare
 * number before the term. Repeated elements add up.
 *
 *   "C2000 H3100 N540 O610 S12"
 *   "8*C613H959N193O185S10 + 5000 H2O + 8 Cl"
 *   "(H2O)120 Na2"
 */
export function parseComposition(text: string): Composition {
  const out: Record<string, number> = {};
  const tokens = text
    .trim()
    .split(/[\s+,;]+/)
    .filter((t) => t.length > 0);
  if (tokens.length === 0) throw new InvalidValueError('empty composition', { field: 'composition' });
  let pending: number | undefined;
  for (const token of tokens) {
    if (/^(\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/.test(token)) {
      if (pending !== undefined) throw new InvalidValueError(`two multipliers in a row in '${text}'`, { field: 'composition' });
      pending = Number(token);
      continue;
    }
    let mult = pending ?? 1;
    pending = undefined;
    let formula = token;
    const m = /^(\d+(?:\.\d*)?|\.\d+)\s*[*x×]/.exec(token);
    if (m !== null) {
      mult *= Number(m[1]);
      formula = token.slice(m[0].length);
    }
    if (formula.length === 0) throw new InvalidValueError(`multiplier without a formula in '${text}'`, { field: 'composition' });
    for (const [el, n] of Object.entries(parseFormula(formula, text))) out[el] = (out[el] ?? 0) + n * mult;
  }
  if (pending !== undefined) throw new InvalidValueError(`multiplier ${pending} at the end of '${text}' applies to nothing`, { field: 'composition' });
  return checkComposition(out);
}

/** Validates counts (finite, ≥ 0) and symbols; drops zero counts. */
export function checkComposition(comp: Composition): Composition {
  const out: Record<string, number> = {};
  for (const [el, n] of Object.entries(comp)) {
    if (!isElementSymbol(el)) throw new InvalidValueError(`unknown element '${el}'`, { field: 'composition' });
    if (!(Number.isFinite(n) && n >= 0)) throw new InvalidValueError(`count of ${el} must be a finite number ≥ 0, got ${n}`, { field: 'composition' });
    if (n > 0) out[el] = n;
  }
  if (Object.keys(out).length === 0) throw new InvalidValueError('composition holds no atoms', { field: 'composition' });
  return out;
}

/** Adds compositions (optionally scaled). */
export function addCompositions(...parts: readonly (Composition | readonly [number, Composition])[]): Composition {
  const out: Record<string, number> = {};
  for (const p of parts) {
    const [mult, comp] = Array.isArray(p) ? (p as readonly [number, Composition]) : [1, p as Composition];
    for (const [el, n] of Object.entries(comp)) out[el] = (out[el] ?? 0) + mult * n;
  }
  return out;
}

/** "C2000 H3100 N540 …" in Hill order (C, H, then alphabetical); non-integers with up to 3 decimals. */
export function formatComposition(comp: Composition): string {
  const keys = Object.keys(comp).filter((k) => (comp[k] ?? 0) > 0);
  const hasC = keys.includes('C');
  keys.sort((a, b) => {
    const rank = (k: string): number => (hasC && k === 'C' ? 0 : hasC && k === 'H' ? 1 : 2);
    return rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0);
  });
  return keys
    .map((k) => {
      const n = comp[k] as number;
      const t = Number.isInteger(n) ? String(n) : String(Number(n.toFixed(3)));
      return `${k}${t}`;
    })
    .join(' ');
}

/**
 * Atoms of the free (neutral, un-ionized) amino acids, as [C, H, N, O, S, Se].
 * A chain of n residues is the sum of its amino acids minus (n − 1) H2O.
 */
const AMINO_ACIDS: Readonly<Record<string, readonly [number, number, number, number, number, number]>> = {
  A: [3, 7, 1, 2, 0, 0],
  R: [6, 14, 4, 2, 0, 0],
  N: [4, 8, 2, 3, 0, 0],
  D: [4, 7, 1, 4, 0, 0],
  C: [3, 7, 1, 2, 1, 0],
  E: [5, 9, 1, 4, 0, 0],
  Q: [5, 10, 2, 3, 0, 0],
  G: [2, 5, 1, 2, 0, 0],
  H: [6, 9, 3, 2, 0, 0],
  I: [6, 13, 1, 2, 0, 0],
  L: [6, 13, 1, 2, 0, 0],
  K: [6, 14, 2, 2, 0, 0],
  M: [5, 11, 1, 2, 1, 0],
  F: [9, 11, 1, 2, 0, 0],
  P: [5, 9, 1, 2, 0, 0],
  S: [3, 7, 1, 3, 0, 0],
  T: [4, 9, 1, 3, 0, 0],
  W: [11, 12, 2, 2, 0, 0],
  Y: [9, 11, 1, 3, 0, 0],
  V: [5, 11, 1, 2, 0, 0],
  U: [3, 7, 1, 2, 0, 1], // selenocysteine
  O: [12, 21, 3, 3, 0, 0], // pyrrolysine
};
const AA_ELEMENTS = ['C', 'H', 'N', 'O', 'S', 'Se'] as const;

/**
 * Cleans a sequence: FASTA header lines ('>' or ';') end a chain, whitespace,
 * digits and '*' or '-' are dropped, letters are upper-cased. Returns one
 * string per chain (FASTA record).
 */
export function sequenceChains(text: string): string[] {
  const chains: string[] = [];
  let cur = '';
  for (const line of text.split(/\r?\n/)) {
    const t = line.trim();
    if (t.startsWith('>') || t.startsWith(';')) {
      if (cur.length > 0) chains.push(cur);
      cur = '';
      continue;
    }
    cur += t.replace(/[\s\d*\-.]/g, '').toUpperCase();
  }
  if (cur.length > 0) chains.push(cur);
  return chains;
}

/** Atoms of one polypeptide chain (neutral, all H, no disulfides formed). */
export function chainComposition(sequence: string): Composition {
  const counts = [0, 0, 0, 0, 0, 0];
  let n = 0;
  for (let i = 0; i < sequence.length; i++) {
    const letter = sequence[i] as string;
    const aa = AMINO_ACIDS[letter];
    if (aa === undefined) {
      throw new InvalidValueError(`residue '${letter}' at position ${i + 1} is not a standard one-letter amino-acid code (ambiguous B, Z, X are not accepted)`, { field: 'sequence' });
    }
    for (let k = 0; k < 6; k++) counts[k] = (counts[k] as number) + (aa[k] as number);
    n++;
  }
  if (n === 0) throw new InvalidValueError('empty sequence', { field: 'sequence' });
  // one water lost per peptide bond
  counts[1] = (counts[1] as number) - 2 * (n - 1);
  counts[3] = (counts[3] as number) - (n - 1);
  const out: Record<string, number> = {};
  AA_ELEMENTS.forEach((el, k) => {
    if ((counts[k] as number) > 0) out[el] = counts[k] as number;
  });
  return out;
}

export interface SequenceCellOptions {
  /** protein molecules (each = all chains given) per unit cell */
  copiesPerCell: number;
  /** fraction of the cell volume filled by bulk solvent (0…1); 0 = no water */
  solventFraction?: number;
  /** Å³; needed when solventFraction > 0 */
  cellVolume?: number;
  /** disulfide bonds per molecule (each removes 2 H); default 0 */
  disulfides?: number;
  /** extra atoms per unit cell (ions, ligands, ordered water beyond the bulk) */
  ions?: Composition;
  /** bulk water molecules per Å³ (default 0.0334) */
  waterDensity?: number;
}

/**
 * Unit-cell composition from a protein sequence: copiesPerCell molecules
 * (each the sum of `sequence`'s chains, water lost per peptide bond, all H
 * included), bulk water filling solventFraction·cellVolume at 0.0334
 * molecules/Å³, plus `ions`.
 */
export function compositionFromSequence(sequence: string | readonly string[], options: SequenceCellOptions): Composition {
  const chains = typeof sequence === 'string' ? sequenceChains(sequence) : sequence.flatMap((s) => sequenceChains(s));
  if (chains.length === 0) throw new InvalidValueError('empty sequence', { field: 'sequence' });
  const { copiesPerCell, solventFraction = 0, cellVolume, disulfides = 0, waterDensity = WATER_NUMBER_DENSITY } = options;
  if (!(Number.isFinite(copiesPerCell) && copiesPerCell > 0)) throw new InvalidValueError(`copies per cell must be > 0, got ${copiesPerCell}`, { field: 'copiesPerCell' });
  if (!(solventFraction >= 0 && solventFraction < 1)) throw new InvalidValueError(`solvent fraction must be in [0, 1), got ${solventFraction}`, { field: 'solventFraction' });
  if (!(Number.isInteger(disulfides) && disulfides >= 0)) throw new InvalidValueError(`disulfides must be an integer ≥ 0, got ${disulfides}`, { field: 'disulfides' });
  const molecule = addCompositions(...chains.map(chainComposition), { H: -2 * disulfides });
  const parts: (Composition | readonly [number, Composition])[] = [[copiesPerCell, molecule]];
  if (solventFraction > 0) {
    if (!(cellVolume !== undefined && cellVolume > 0)) throw new InvalidValueError('a solvent fraction needs the cell volume', { field: 'cellVolume' });
    const waters = solventFraction * cellVolume * waterDensity;
    parts.push([waters, { H: 2, O: 1 }]);
  }
  if (options.ions !== undefined) parts.push(options.ions);
  return checkComposition(addCompositions(...parts));
}

/** N_e = Σ n_j Z_j. */
export function electronCount(comp: Composition): number {
  let n = 0;
  for (const [el, count] of Object.entries(comp)) n += count * element(el).Z;
  return n;
}

/** A composition resolved to its elements once, for evaluating the sums at many s. */
export interface ResolvedComposition {
  counts: Float64Array;
  elements: readonly ElementFactors[];
}

export function resolveComposition(comp: Composition): ResolvedComposition {
  const entries = Object.entries(comp).filter(([, n]) => n !== 0);
  return { counts: Float64Array.from(entries, ([, n]) => n), elements: entries.map(([el]) => element(el)) };
}

function resolved(comp: Composition | ResolvedComposition): ResolvedComposition {
  return 'counts' in comp && comp.counts instanceof Float64Array ? (comp as ResolvedComposition) : resolveComposition(comp as Composition);
}

/** Σ_j n_j f_j(s)² (electrons² per cell) at |s| (Å⁻¹). */
export function coherentSum(comp: Composition | ResolvedComposition, s: number): number {
  const r = resolved(comp);
  const x2 = x2Of(s);
  let v = 0;
  for (let j = 0; j < r.elements.length; j++) {
    const f = formFactorX2(r.elements[j] as ElementFactors, x2);
    v += (r.counts[j] as number) * f * f;
  }
  return v;
}

/** Σ_j n_j S_j(s) (electron units per cell) at |s| (Å⁻¹). */
export function incoherentSum(comp: Composition | ResolvedComposition, s: number): number {
  const r = resolved(comp);
  const x2 = x2Of(s);
  let v = 0;
  for (let j = 0; j < r.elements.length; j++) v += (r.counts[j] as number) * incoherentX2(r.elements[j] as ElementFactors, x2);
  return v;
}
