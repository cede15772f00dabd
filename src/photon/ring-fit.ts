/**
 * A small calibrant ring fit: finds the PONI geometry (distance, poni1, poni2,
 * rot1, rot2; rot3 stays 0 — it does not move rings) from an image of powder
 * rings of known d-spacings, as pyFAI-calib does with control points.
 *
 * 1. Bright pixels: the per-frame mean image (sum / valid frames), pixels in
 *    the top `brightFraction` of valid values; their value is their weight.
 * 2. Coarse search without tilt: for centres on a grid over (and around) the
 *    detector, histogram the bright pixels' radii and find the distance whose
 *    ring radii D·tan 2θ_k collect the most weight; refine the grid around the
 *    best centre at finer steps.
 * 3. Least squares (Levenberg–Marquardt, numeric Jacobian): control points
 *    are the bright pixels whose 2θ lies within ±δ of a ring's; minimize
 *    Σ w (q(pixel)/q_ring − 1)² over the five parameters (six with
 *    `fitWavelength`); δ shrinks from 1° to 0.15° as the geometry improves,
 *    starting with the first three rings and adding the others one by one.
 */
import { InvalidValueError } from '../errors.ts';
import type { PoniGeometry } from '../io/poni.ts';
import { tthAt } from './geometry.ts';

export interface RingFitInput {
  /** summed image, rows × cols */
  image: Float64Array | Float32Array;
  /** per pixel: frames in which it was valid (0 = masked) */
  valid: Uint32Array | Uint8Array;
  rows: number;
  cols: number;
  pixel1: number;
  pixel2: number;
  /** m: the wavelength, or the starting value when `fitWavelength` */
  wavelength: number;
  /** refine the wavelength too (default false) */
  fitWavelength?: boolean;
  /** Å, the rings to fit */
  dSpacings: readonly number[];
  /** start from here instead of the coarse search */
  initial?: Pick<PoniGeometry, 'dist' | 'poni1' | 'poni2' | 'rot1' | 'rot2'>;
  /** default 0.01 */
  brightFraction?: number;
  detector?: string;
}

export interface RingFitResult {
  poni: PoniGeometry;
  /** weighted rms of the relative q residuals, q(pixel)/q(ring) − 1 */
  rmsRelQ: number;
  points: number;
  rings: Array<{ d: number; tthDeg: number; points: number; meanResidualDeg: number }>;
}

interface Bright {
  row: Float64Array;
  col: Float64Array;
  w: Float64Array;
}

/**
 * Control-point candidates: the per-frame mean image minus its local mean over
 * a (2·half+1)² box of valid pixels (a high-pass that removes smooth diffuse
 * scattering), keeping the top `brightFraction` of valid pixels.
 */

function brightPixels(inp: RingFitInput, half = 4): Bright {
  const { rows, cols } = inp;
  const n = rows * cols;
  const mean = new Float64Array(n);
  const ok = new Uint8Array(n);
  for (let k = 0; k < n; k++) {
    const v = inp.valid[k] as number;
    if (v > 0) {
      mean[k] = (inp.image[k] as number) / v;
      ok[k] = 1;
    }
  }
  // summed-area tables of values and valid counts
  const W1 = cols + 1;
  const S = new Float64Array((rows + 1) * W1);
  const C = new Float64Array((rows + 1) * W1);
  for (let i = 0; i < rows; i++) {
    let rs = 0;
    let rc = 0;
    for (let j = 0; j < cols; j++) {
      rs += mean[i * cols + j] as number;
      rc += ok[i * cols + j] as number;
      S[(i + 1) * W1 + j + 1] = (S[i * W1 + j + 1] as number) + rs;
      C[(i + 1) * W1 + j + 1] = (C[i * W1 + j + 1] as number) + rc;
    }
  }
  const box = (T: Float64Array, i0: number, i1: number, j0: number, j1: number): number => (T[i1 * W1 + j1] as number) - (T[i0 * W1 + j1] as number) - (T[i1 * W1 + j0] as number) + (T[i0 * W1 + j0] as number);
  const hp = new Float64Array(n);
  const vals: number[] = [];
  for (let i = 0; i < rows; i++) {
    const i0 = Math.max(0, i - half);
    const i1 = Math.min(rows, i + half + 1);
    for (let j = 0; j < cols; j++) {
      const k = i * cols + j;
      if (ok[k] !== 1) continue;
      const j0 = Math.max(0, j - half);
      const j1 = Math.min(cols, j + half + 1);
      const c = box(C, i0, i1, j0, j1);
      hp[k] = (mean[k] as number) - box(S, i0, i1, j0, j1) / c;
      vals.push(hp[k] as number);
    }
  }
  if (vals.length === 0) throw new InvalidValueError('ring fit: no valid pixels', { field: 'image' });
  vals.sort((a, b) => a - b);
  const cut = Math.max(0, vals[Math.min(vals.length - 1, Math.floor(vals.length * (1 - (inp.brightFraction ?? 0.01))))] as number);
  const rr: number[] = [];
  const cc: number[] = [];
  const ws: number[] = [];
  for (let k = 0; k < n; k++) {
    if (ok[k] === 1 && (hp[k] as number) > cut) {
      rr.push(Math.floor(k / cols) + 0.5);
      cc.push((k % cols) + 0.5);
      ws.push(hp[k] as number);
    }
  }
  return { row: Float64Array.from(rr), col: Float64Array.from(cc), w: Float64Array.from(ws) };
}

function ringTth(inp: RingFitInput): number[] {
  const lam = inp.wavelength * 1e10;
  return inp.dSpacings.map((d) => {
    const s = lam / (2 * d);
    if (!(s < 1)) throw new InvalidValueError(`ring fit: d = ${d} Å is not reachable at λ = ${lam} Å`, { field: 'dSpacings' });
    return 2 * Math.asin(s);
  });
}

/** Best (score, distance, tan set) for one centre: radii histogram against D·tan 2θ_k for each candidate set of ring angles. */
function scoreCentre(b: Bright, cy: number, cx: number, p: number, binPx: number, tanSets: number[][], rRange: [number, number]): [number, number, number] {
  const nb = 4096;
  const hist = new Float64Array(nb);
  for (let k = 0; k < b.w.length; k++) {
    const i = Math.floor(Math.hypot((b.row[k] as number) - cy, (b.col[k] as number) - cx) / binPx);
    if (i < nb) hist[i] = (hist[i] as number) + (b.w[k] as number);
  }
  let best = -Infinity;
  let bestD = 0;
  let bestSet = 0;
  tanSets.forEach((tans, set) => {
    const t0 = tans[0] as number;
    // D steps move the first ring by half a bin
    const step = (0.5 * binPx * p) / t0;
    for (let D = (rRange[0] * p) / t0; D <= (rRange[1] * p) / t0; D += step) {
      let s = 0;
      for (const t of tans) {
        const i = Math.round((D * t) / p / binPx);
        if (i < 4 || i >= nb - 4) continue;
        // ring weight against the background just outside the ring
        s += (hist[i - 1] as number) + (hist[i] as number) + (hist[i + 1] as number) - 1.5 * ((hist[i - 3] as number) + (hist[i + 3] as number));
      }
      if (s > best) {
        best = s;
        bestD = D;
        bestSet = set;
      }
    }
  });
  return [best, bestD, bestSet];
}

/**
 * Centre and distance without tilt, on a coarse-to-fine grid of centres, at
 * the given wavelength. (Scanning the wavelength as well does not work from
 * the first rings alone: at small angles only D·λ is defined.)
 */
function coarse(inp: RingFitInput, all: Bright, d: readonly number[]): { dist: number; poni1: number; poni2: number } {
  const p = Math.sqrt(inp.pixel1 * inp.pixel2);
  const span = Math.max(inp.rows, inp.cols);
  const sets = [tthRings(d, inp.wavelength).map((t) => Math.tan(t))];
  // the brightest quarter of the bright pixels is enough to place the centre
  const order = Array.from(all.w.keys()).sort((a, b) => (all.w[b] as number) - (all.w[a] as number)).slice(0, Math.max(200, Math.floor(all.w.length / 4)));
  const b: Bright = { row: Float64Array.from(order, (k) => all.row[k] as number), col: Float64Array.from(order, (k) => all.col[k] as number), w: Float64Array.from(order, (k) => all.w[k] as number) };
  let box = { r0: -span / 2, r1: inp.rows + span / 2, c0: -span / 2, c1: inp.cols + span / 2 };
  let step = Math.max(4, Math.round(span / 75));
  let best = { score: -Infinity, cy: 0, cx: 0, D: 0 };
  while (step >= 1) {
    const binPx = Math.max(0.5, step / 2);
    // scores with different bin widths do not compare: each level starts afresh
    best = { ...best, score: -Infinity };
    for (let cy = box.r0; cy <= box.r1; cy += step) {
      for (let cx = box.c0; cx <= box.c1; cx += step) {
        const [s, D] = scoreCentre(b, cy, cx, p, binPx, sets, [Math.max(20, 0.05 * span), 3 * span]);
        if (s > best.score) best = { score: s, cy, cx, D };
      }
    }
    box = { r0: best.cy - 2 * step, r1: best.cy + 2 * step, c0: best.cx - 2 * step, c1: best.cx + 2 * step };
    step = step === 1 ? 0 : Math.max(1, Math.floor(step / 3));
  }
  return { dist: best.D, poni1: best.cy * inp.pixel1, poni2: best.cx * inp.pixel2 };
}

/** dist, poni1, poni2, rot1, rot2, wavelength */
type Params = number[];

function geom(inp: RingFitInput, x: Params): PoniGeometry {
  return {
    dist: x[0] as number,
    poni1: x[1] as number,
    poni2: x[2] as number,
    rot1: x[3] as number,
    rot2: x[4] as number,
    rot3: 0,
    wavelength: x[5] as number,
    pixel1: inp.pixel1,
    pixel2: inp.pixel2,
    detector: inp.detector ?? 'Detector',
    maxShape: [inp.rows, inp.cols],
  };
}

/** Solves A x = y (Gaussian elimination with partial pivoting); null when singular. */
function solve(A: number[][], y: number[]): number[] | null {
  const n = y.length;
  const M = A.map((row, i) => [...row, y[i] as number]);
  for (let c = 0; c < n; c++) {
    let piv = c;
    for (let r = c + 1; r < n; r++) if (Math.abs((M[r] as number[])[c] as number) > Math.abs((M[piv] as number[])[c] as number)) piv = r;
    if (Math.abs((M[piv] as number[])[c] as number) < 1e-300) return null;
    [M[c], M[piv]] = [M[piv] as number[], M[c] as number[]];
    const mc = M[c] as number[];
    for (let r = 0; r < n; r++) {
      if (r === c) continue;
      const mr = M[r] as number[];
      const f = (mr[c] as number) / (mc[c] as number);
      for (let k = c; k <= n; k++) mr[k] = (mr[k] as number) - f * (mc[k] as number);
    }
  }
  return M.map((row, i) => (row[n] as number) / (row[i] as number));
}

function tthRings(d: readonly number[], wavelength: number): number[] {
  const lam = wavelength * 1e10;
  return d.map((x) => 2 * Math.asin(Math.min(1, lam / (2 * x))));
}

export function fitRings(inp: RingFitInput): RingFitResult {
  if (inp.image.length !== inp.rows * inp.cols || inp.valid.length !== inp.rows * inp.cols) throw new InvalidValueError('ring fit: image and valid must be rows × cols', { field: 'image' });
  const tth0 = ringTth(inp);
  const b = brightPixels(inp);
  const first = Math.min(3, tth0.length);
  const start = inp.initial ?? { ...coarse(inp, b, inp.dSpacings.slice(0, first)), rot1: 0, rot2: 0 };
  let x: Params = [start.dist, start.poni1, start.poni2, start.rot1, start.rot2, inp.wavelength];
  const scales = [1e-4, 1e-5, 1e-5, 1e-4, 1e-4, 1e-14];
  let nRings = first;
  let sel: { idx: number[]; ring: number[] } = { idx: [], ring: [] };
  const select = (p: Params, delta: number): void => {
    const g = geom(inp, p);
    const tths = tthRings(inp.dSpacings, p[5] as number);
    sel = { idx: [], ring: [] };
    for (let k = 0; k < b.w.length; k++) {
      const t = tthAt(g, b.row[k] as number, b.col[k] as number);
      let bestR = -1;
      let bestDiff = delta;
      for (let r = 0; r < nRings; r++) {
        const d = Math.abs(t - (tths[r] as number));
        if (d < bestDiff) {
          bestDiff = d;
          bestR = r;
        }
      }
      if (bestR >= 0) {
        sel.idx.push(k);
        sel.ring.push(bestR);
      }
    }
  };
  // relative q error, q(pixel)/q(ring) − 1 = 2d·sin(θ)/λ − 1: scale-free, so a
  // free wavelength cannot shrink the residuals by shrinking every angle
  const residuals = (p: Params): Float64Array => {
    const g = geom(inp, p);
    const lam = (p[5] as number) * 1e10;
    const out = new Float64Array(sel.idx.length);
    sel.idx.forEach((k, j) => {
      const d = inp.dSpacings[sel.ring[j] as number] as number;
      const t = tthAt(g, b.row[k] as number, b.col[k] as number);
      out[j] = Math.sqrt(b.w[k] as number) * ((2 * d * Math.sin(t / 2)) / lam - 1);
    });
    return out;
  };
  const cost = (r: Float64Array): number => r.reduce((s, v) => s + v * v, 0);
  const stages: Array<[number, number]> = [];
  for (const d of [1, 0.6, 0.3, 0.15]) stages.push([first, d]);
  for (let nr = first + 1; nr <= tth0.length; nr++) for (const d of [0.5, 0.3, 0.15]) stages.push([nr, d]);
  for (const [nr, deltaDeg] of stages) {
    nRings = nr;
    select(x, (deltaDeg * Math.PI) / 180);
    if (sel.idx.length < 10) throw new InvalidValueError(`ring fit: only ${sel.idx.length} control points within ${deltaDeg}° of the rings; give an initial geometry`, { field: 'initial' });
    // tilts and wavelength are freed once enough rings pin them: with few rings
    // a tilt can mimic a wrong wavelength, and D·λ is all the first rings define
    const many = Math.min(6, tth0.length);
    const free = [0, 1, 2];
    if (nr >= (inp.fitWavelength === true ? many : Math.min(4, tth0.length))) free.push(3, 4);
    if (inp.fitWavelength === true && nr >= many) free.push(5);
    const nPar = free.length;
    let lambda = 1e-3;
    let r = residuals(x);
    let c = cost(r);
    for (let it = 0; it < 50; it++) {
      const J: Float64Array[] = [];
      for (const q of free) {
        const xp = [...x];
        xp[q] = (xp[q] as number) + (scales[q] as number);
        const rp = residuals(xp);
        J.push(rp.map((v, j) => (v - (r[j] as number)) / (scales[q] as number)));
      }
      const A: number[][] = Array.from({ length: nPar }, (_v, i) => Array.from({ length: nPar }, (_w, j) => (J[i] as Float64Array).reduce((s, v, k) => s + v * ((J[j] as Float64Array)[k] as number), 0)));
      const g = Array.from({ length: nPar }, (_v, i) => -(J[i] as Float64Array).reduce((s, v, k) => s + v * (r[k] as number), 0));
      let improved = false;
      let converged = false;
      for (let tries = 0; tries < 10 && !improved; tries++) {
        const Ad = A.map((row, i) => row.map((v, j) => (i === j ? v * (1 + lambda) : v)));
        const dx = solve(Ad, g);
        if (dx === null) break;
        const xn = [...x];
        free.forEach((q, i) => (xn[q] = (xn[q] as number) + (dx[i] as number)));
        if (!((xn[0] as number) > 0 && (xn[5] as number) > 0)) {
          lambda *= 10;
          continue;
        }
        const rn = residuals(xn);
        const cn = cost(rn);
        if (cn < c) {
          converged = (c - cn) / c < 1e-10;
          x = xn;
          r = rn;
          c = cn;
          lambda = Math.max(1e-9, lambda / 10);
          improved = true;
        } else lambda *= 10;
      }
      if (!improved || converged) break;
    }
  }
  const g = geom(inp, x);
  select(x, (0.15 * Math.PI) / 180);
  const r = residuals(x);
  const tths = tthRings(inp.dSpacings, g.wavelength);
  const wsum = sel.idx.reduce((s, k) => s + (b.w[k] as number), 0);
  const rings = tths.map((t, ri) => {
    let n = 0;
    let s = 0;
    sel.idx.forEach((k, j) => {
      if (sel.ring[j] !== ri) return;
      n++;
      s += tthAt(g, b.row[k] as number, b.col[k] as number) - t;
    });
    return { d: inp.dSpacings[ri] as number, tthDeg: (t * 180) / Math.PI, points: n, meanResidualDeg: n > 0 ? ((s / n) * 180) / Math.PI : NaN };
  });
  return { poni: g, rmsRelQ: Math.sqrt(cost(r) / Math.max(wsum, 1e-300)), points: sel.idx.length, rings };
}

/** LaB6 (cubic, a = 4.15692 Å): d of the first reflections, (100) to (222) ((300) stands for (300)/(221)). */
export function lab6DSpacings(a = 4.15692): Array<{ hkl: string; d: number }> {
  return [
    ['100', 1],
    ['110', 2],
    ['111', 3],
    ['200', 4],
    ['210', 5],
    ['211', 6],
    ['220', 8],
    ['300', 9],
    ['310', 10],
    ['311', 11],
    ['222', 12],
  ].map(([hkl, s]) => ({ hkl: hkl as string, d: a / Math.sqrt(s as number) }));
}
