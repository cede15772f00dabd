/**
 * Absolute scale by the Krogh-Moe / Norman method, as in mdx-lib (Meisburger,
 * Case & Ando 2020): the total scattering the data hold — diffuse plus Bragg,
 * both merged on the same relative scale — integrated over reciprocal space
 * from |s| = 0 up to a cut-off S is set equal to the theory for the unit-cell
 * contents,
 *     T(S) = ∫_{|s|<S} [Σ_j n_j f_j(s)² + Σ_j n_j S_j(s)] d³s − N_e²/V_cell,
 * where the last term is the F(000) Bragg peak that is never measured (see
 * src/scattering/model.ts). The scale K = T(S)/O(S) turns the data into
 * electron units per unit cell; the Compton part Σ n S(s) is then subtracted.
 * Formulas, options and the file layout: docs/absolute.md.
 *
 * Observed integral. Each merged row stands for `multiplicity` symmetry-
 * equivalent subvoxels of reciprocal volume v = V* / (n1 n2 n3), V* = 1/V_cell,
 * centred at |s| = row.s. Per radial shell k (edges from 0 to the data's
 * largest |s|):
 *     V_meas,k = Σ_rows mult·v,    O_k = Σ_rows mult·v·I      (diffuse + Bragg rows)
 *     c_k = V_meas,k / V_shell,k   (completeness: measured volume fraction)
 * The observed integral over the whole shell is estimated as the shell's mean
 * measured intensity times its full volume, (O_k/V_meas,k)·V_shell,k — i.e.
 * the measured part of each shell is taken as representative of the rest,
 * which is exact for an isotropic average and what the theory (isotropic by
 * construction) assumes. Shells with c_k below `minCompleteness` (typically
 * behind the beam stop) take their mean intensity by linear interpolation
 * between the nearest measured shells (held constant beyond the first/last).
 * The theory integral T_k is over the full shell. Cumulative curves O(S),
 * T(S) are sums over shells up to the edge S.
 */
import { InvalidValueError } from '../errors.ts';
import { electronCount, formatComposition, incoherentSum, resolveComposition, coherentSum, type Composition } from '../scattering/composition.ts';
import { S_MAX } from '../scattering/factors.ts';
import { cellVolume, shellIntegral, shellVolume } from '../scattering/model.ts';
import type { MergedTable, ObservationMeta } from './observations.ts';

export type ShellSpacing = 'width' | 'volume';

export interface AbsoluteScaleOptions {
  /** number of radial shells from 0 to the data's largest |s| (default 50) */
  shells?: number;
  /** 'width': equal widths in |s| (default); 'volume': equal volumes (edges ∝ k^(1/3)) */
  spacing?: ShellSpacing;
  /** |s| (Å⁻¹) at which K = T/O is taken; snapped to the nearest shell edge. Default: the data's largest |s| */
  cutoff?: number;
  /** shells whose measured volume fraction is below this are filled by interpolation (default 0.02) */
  minCompleteness?: number;
  /** subtract Compton from the Bragg table too (default true: both tables then hold coherent scattering only) */
  comptonFromBragg?: boolean;
  /**
   * serial stills: the Bragg rows are densities of lattice-point subvoxels that
   * the diffuse table also holds, so K is found on `foldBragg(diffuse, bragg)`
   * (default false: the Bragg rows are subvoxels of their own, as the rotation
   * path's filter makes them)
   */
  foldBragg?: boolean;
}

export interface AbsoluteCurves {
  /** shell edges (Å⁻¹): lower and upper */
  sLow: Float64Array;
  s: Float64Array;
  /** measured volume fraction of the shell */
  completeness: Float64Array;
  /** O(s): cumulative observed integral from 0 to the upper edge, input units·Å⁻³ */
  observed: Float64Array;
  /** T(s): cumulative theory from 0 to the upper edge, e.u.·Å⁻³ per cell (forward term included) */
  theory: Float64Array;
  /** T/O: what K would be with this edge as cut-off */
  ratio: Float64Array;
  /** the shell's mean observed intensity (input units; interpolated where not measured) */
  shellObserved: Float64Array;
  /** the shell's mean theory Σ n f² + Σ n S (e.u. per cell) */
  shellTheory: Float64Array;
}

export interface AbsoluteScaleResult {
  /** K: multiply the input intensities by it to get e.u. per cell */
  scale: number;
  /** the cut-off used (a shell edge, Å⁻¹) */
  cutoff: number;
  /** index of the cut-off shell in the curves */
  cutoffShell: number;
  electrons: number;
  /** Å³ */
  cellVolume: number;
  /** N_e²/V_cell (e.u.·Å⁻³ per cell) */
  forward: number;
  composition: string;
  curves: AbsoluteCurves;
  /** K·I − Σ n S(s), σ·K */
  diffuse: MergedTable;
  /** K·I (− Σ n S(s) unless comptonFromBragg is false), σ·K */
  bragg?: MergedTable;
}

function shellEdges(top: number, n: number, spacing: ShellSpacing): Float64Array {
  const edges = new Float64Array(n + 1);
  for (let k = 0; k <= n; k++) edges[k] = spacing === 'volume' ? top * Math.cbrt(k / n) : (top * k) / n;
  edges[n] = top;
  return edges;
}

function shellIndex(edges: Float64Array, s: number, spacing: ShellSpacing): number {
  const n = edges.length - 1;
  const top = edges[n] as number;
  let k = spacing === 'volume' ? Math.floor(n * (s / top) ** 3) : Math.floor((n * s) / top);
  k = Math.min(Math.max(k, 0), n - 1);
  // guard the rounding at edges
  while (k > 0 && s < (edges[k] as number)) k--;
  while (k < n - 1 && s >= (edges[k + 1] as number)) k++;
  return k;
}

/** A copy of a merged table with I → K·I − subtract(s), σ → K·σ. */
function rescaled(t: MergedTable, K: number, subtract: ((s: number) => number) | undefined): MergedTable {
  const I = new Float64Array(t.I.length);
  const sigma = new Float64Array(t.sigma.length);
  for (let i = 0; i < I.length; i++) {
    const v = t.I[i] as number;
    I[i] = subtract === undefined || !Number.isFinite(v) ? K * v : K * v - subtract(t.s[i] as number);
    sigma[i] = K * (t.sigma[i] as number);
  }
  return {
    H: t.H.slice(),
    K: t.K.slice(),
    L: t.L.slice(),
    dh: t.dh.slice(),
    dk: t.dk.slice(),
    dl: t.dl.slice(),
    I,
    sigma,
    n: t.n.slice(),
    rejected: t.rejected.slice(),
    s: t.s.slice(),
    multiplicity: t.multiplicity.slice(),
    fraction: t.fraction.slice(),
  };
}

/**
 * Puts merged diffuse (and Bragg) tables on an absolute scale: electron units
 * per unit cell, Compton subtracted. See the file comment and docs/absolute.md.
 */
export function absoluteScale(diffuse: MergedTable, bragg: MergedTable | undefined, meta: ObservationMeta, comp: Composition, options: AbsoluteScaleOptions = {}): AbsoluteScaleResult {
  const nShells = options.shells ?? 50;
  const spacing = options.spacing ?? 'width';
  const minCompleteness = options.minCompleteness ?? 0.02;
  if (!(Number.isInteger(nShells) && nShells >= 2)) throw new InvalidValueError(`shells must be an integer ≥ 2, got ${nShells}`, { field: 'shells' });
  if (spacing !== 'width' && spacing !== 'volume') throw new InvalidValueError(`shell spacing must be 'width' or 'volume', got '${String(spacing)}'`, { field: 'spacing' });
  if (!(minCompleteness >= 0 && minCompleteness < 1)) throw new InvalidValueError(`minimum completeness must be in [0, 1), got ${minCompleteness}`, { field: 'minCompleteness' });
  const [n1, n2, n3] = meta.ndiv;
  const V = cellVolume(meta.cell);
  const vSub = 1 / (V * n1 * n2 * n3);
  const tables = bragg === undefined ? [diffuse] : options.foldBragg === true ? [foldBragg(diffuse, bragg)] : [diffuse, bragg];

  let top = 0;
  let rows = 0;
  for (const t of tables) {
    for (let i = 0; i < t.I.length; i++) {
      if (!Number.isFinite(t.I[i] as number)) continue;
      const s = t.s[i] as number;
      if (!(s >= 0 && Number.isFinite(s))) throw new InvalidValueError(`row ${i} has |s| = ${s}`, { field: 's' });
      if (s > top) top = s;
      rows++;
    }
  }
  if (rows === 0) throw new InvalidValueError('no rows with a finite intensity', { field: 'I' });
  if (top > S_MAX) throw new InvalidValueError(`data reach |s| = ${top.toFixed(3)} Å⁻¹, beyond the scattering factors' ${S_MAX} Å⁻¹`, { field: 's' });
  top *= 1 + 1e-9;

  const edges = shellEdges(top, nShells, spacing);
  const measVol = new Float64Array(nShells);
  const obs = new Float64Array(nShells);
  for (const t of tables) {
    for (let i = 0; i < t.I.length; i++) {
      const I = t.I[i] as number;
      if (!Number.isFinite(I)) continue;
      const k = shellIndex(edges, t.s[i] as number, spacing);
      const vol = (t.multiplicity[i] as number) * vSub;
      measVol[k] = (measVol[k] as number) + vol;
      obs[k] = (obs[k] as number) + vol * I;
    }
  }

  const rc = resolveComposition(comp);
  const electrons = electronCount(comp);
  const forward = (electrons * electrons) / V;
  const theoryDensity = (s: number): number => coherentSum(rc, s) + incoherentSum(rc, s);

  const completeness = new Float64Array(nShells);
  const shellObserved = new Float64Array(nShells).fill(Number.NaN);
  const shellTheory = new Float64Array(nShells);
  const measured: number[] = [];
  const centre = (k: number): number => 0.5 * ((edges[k] as number) + (edges[k + 1] as number));
  for (let k = 0; k < nShells; k++) {
    const vol = shellVolume(edges[k] as number, edges[k + 1] as number);
    completeness[k] = (measVol[k] as number) / vol;
    if ((completeness[k] as number) >= minCompleteness && (measVol[k] as number) > 0) {
      shellObserved[k] = (obs[k] as number) / (measVol[k] as number);
      measured.push(k);
    }
    shellTheory[k] = shellIntegral(theoryDensity, edges[k] as number, edges[k + 1] as number) / vol;
  }
  if (measured.length === 0) throw new InvalidValueError(`no shell is measured to ${minCompleteness} of its volume`, { field: 'completeness' });
  // fill unmeasured shells
  let m = 0;
  for (let k = 0; k < nShells; k++) {
    if (Number.isFinite(shellObserved[k] as number)) continue;
    while (m + 1 < measured.length && (measured[m + 1] as number) < k) m++;
    const left = measured[m] as number;
    const right = measured[m + 1];
    if (k < left || right === undefined) shellObserved[k] = shellObserved[k < left ? left : (measured[measured.length - 1] as number)] as number;
    else {
      const t = (centre(k) - centre(left)) / (centre(right) - centre(left));
      shellObserved[k] = (1 - t) * (shellObserved[left] as number) + t * (shellObserved[right] as number);
    }
  }

  const observed = new Float64Array(nShells);
  const theory = new Float64Array(nShells);
  const ratio = new Float64Array(nShells);
  let oc = 0;
  let tc = -forward;
  for (let k = 0; k < nShells; k++) {
    const vol = shellVolume(edges[k] as number, edges[k + 1] as number);
    oc += (shellObserved[k] as number) * vol;
    tc += (shellTheory[k] as number) * vol;
    observed[k] = oc;
    theory[k] = tc;
    ratio[k] = tc / oc;
  }

  let cut = nShells - 1;
  if (options.cutoff !== undefined) {
    const c = options.cutoff;
    if (!(c > 0 && c <= top * (1 + 1e-6))) throw new InvalidValueError(`cut-off ${c} Å⁻¹ must be in (0, ${top.toFixed(4)}] (the data's largest |s|)`, { field: 'cutoff' });
    let best = Infinity;
    for (let k = 0; k < nShells; k++) {
      const d = Math.abs((edges[k + 1] as number) - c);
      if (d < best) {
        best = d;
        cut = k;
      }
    }
  }
  const O = observed[cut] as number;
  const T = theory[cut] as number;
  if (!(O > 0)) throw new InvalidValueError(`the observed integral up to ${(edges[cut + 1] as number).toFixed(4)} Å⁻¹ is ${O.toPrecision(4)}, not positive`, { field: 'I' });
  if (!(T > 0)) {
    throw new InvalidValueError(
      `the theory up to ${(edges[cut + 1] as number).toFixed(4)} Å⁻¹ is not positive (the unmeasured F(000) term N_e²/V = ${forward.toPrecision(4)} dominates): raise the cut-off or check the composition`,
      { field: 'cutoff' },
    );
  }
  const K = T / O;
  const compton = (s: number): number => incoherentSum(rc, s);
  const out: AbsoluteScaleResult = {
    scale: K,
    cutoff: edges[cut + 1] as number,
    cutoffShell: cut,
    electrons,
    cellVolume: V,
    forward,
    composition: formatComposition(comp),
    curves: { sLow: edges.slice(0, nShells), s: edges.slice(1), completeness, observed, theory, ratio, shellObserved, shellTheory },
    diffuse: rescaled(diffuse, K, compton),
  };
  // folded stills Bragg rows are background-subtracted spot intensities: no Compton under them
  if (bragg !== undefined) out.bragg = rescaled(bragg, K, options.comptonFromBragg === false || options.foldBragg === true ? undefined : compton);
  return out;
}

/**
 * The table the sum rule of a stills run integrates: the diffuse table with
 * each merged Bragg density added to the row of the same subvoxel (σ in
 * quadrature), and the lattice-point subvoxels (dh = dk = dl = 0) that no Bragg
 * row measured left out (I = NaN: the absolute scale skips them), since their
 * diffuse value alone would stand for a shell's lattice points without their
 * Bragg scattering. Bragg rows without a diffuse row are appended (they bring
 * their own volume). Rows are matched on (H, K, L, dh, dk, dl). The absolute
 * scale factor found on it applies to the diffuse and Bragg tables as they are.
 */
export function foldBragg(diffuse: MergedTable, bragg: MergedTable): MergedTable {
  const key = (t: MergedTable, i: number): string => `${t.H[i]},${t.K[i]},${t.L[i]},${t.dh[i]},${t.dk[i]},${t.dl[i]}`;
  const index = new Map<string, number>();
  for (let i = 0; i < diffuse.I.length; i++) index.set(key(diffuse, i), i);
  const I = diffuse.I.slice();
  const sigma = diffuse.sigma.slice();
  for (let i = 0; i < I.length; i++) if (diffuse.dh[i] === 0 && diffuse.dk[i] === 0 && diffuse.dl[i] === 0) I[i] = Number.NaN;
  const extra: number[] = [];
  for (let j = 0; j < bragg.I.length; j++) {
    const b = bragg.I[j] as number;
    if (!Number.isFinite(b)) continue;
    const i = index.get(key(bragg, j));
    if (i === undefined) {
      extra.push(j);
      continue;
    }
    I[i] = (diffuse.I[i] as number) + b;
    sigma[i] = Math.hypot(sigma[i] as number, bragg.sigma[j] as number);
  }
  const cat = <T extends Int32Array | Int8Array | Float64Array | Uint32Array | Float32Array | Uint16Array>(d: T, b: T): T => {
    const out = new (d.constructor as new (n: number) => T)(d.length + extra.length);
    out.set(d);
    extra.forEach((j, k) => {
      out[d.length + k] = b[j] as number;
    });
    return out;
  };
  return {
    H: cat(diffuse.H, bragg.H),
    K: cat(diffuse.K, bragg.K),
    L: cat(diffuse.L, bragg.L),
    dh: cat(diffuse.dh, bragg.dh),
    dk: cat(diffuse.dk, bragg.dk),
    dl: cat(diffuse.dl, bragg.dl),
    I: cat(I, bragg.I),
    sigma: cat(sigma, bragg.sigma),
    n: cat(diffuse.n, bragg.n),
    rejected: cat(diffuse.rejected, bragg.rejected),
    s: cat(diffuse.s, bragg.s),
    multiplicity: cat(diffuse.multiplicity, bragg.multiplicity),
    fraction: cat(diffuse.fraction, bragg.fraction),
  };
}
