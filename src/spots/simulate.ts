/**
 * Seeded synthetic reflection tables for tests and benchmarks.
 *
 * `simulateUniverse`: images draw their reflections at random from a fixed set
 * of unique reflections ("universe"), so two unrelated images share about
 * spots²/universe indices by chance. On top of that it plants what the analysis
 * must find: image pairs that share most of their reflections (and have nearly
 * the same orientation), datasets whose intensities do not belong to their
 * indices (scrambled: shared indices, uncorrelated intensities), a noise level
 * f(I) (the actual error is f times the reported σ), and outliers.
 *
 * `simulateRotationSweeps`: rotation sweeps of one crystal form with real
 * Ewald-sphere geometry (rotation about +x, beam along −z), for timing the
 * matcher on realistically overlapping data.
 */
import type { UnitCell, Vec3 } from '../geometry/model.ts';
import type { LaueGroup } from './laue.ts';
import { reciprocalMetric } from './orientation.ts';
import { Rng } from './stats.ts';
import type { MatchInput, SpotDataset } from './types.ts';

const DEG = Math.PI / 180;

export interface UniverseOptions {
  seed: number;
  datasets: number;
  frames: number;
  spotsPerFrame: number;
  /** number of unique reflections to draw from */
  uniqueReflections: number;
  /** largest |h|,|k|,|l| of the universe (default 30) */
  maxIndex?: number;
  /** when given, each observation carries a random symmetry mate of its reflection */
  fold?: LaueGroup | null;
  /** mean true intensity (exponential, Wilson-like; default 1000) */
  meanIntensity?: number;
  /** reported variance = max(I_true, 0) + background (default 50) */
  background?: number;
  /** actual error = f(I_true) × reported σ (default f = 1) */
  noiseFactor?: (trueIntensity: number) => number;
  /** number of planted image pairs across datasets (default 0) */
  plantedPairs?: number;
  /** share of image a's reflections that planted image b repeats (default 0.8) */
  plantedOverlap?: number;
  /** datasets whose intensities are unrelated to their indices */
  scrambled?: readonly number[];
  /** share of observations with an extra error of outlierScale × σ (default 0) */
  outlierFraction?: number;
  outlierScale?: number;
  /** cell for d-spacings (default 50, 60, 70, 90, 90, 90) */
  cell?: UnitCell;
  /** orientations per frame and a beam direction (default true) */
  geometry?: boolean;
}

export interface PlantedPair {
  /** global image indices, a < b */
  a: number;
  b: number;
  datasetA: number;
  frameA: number;
  datasetB: number;
  frameB: number;
}

export interface UniverseSimulation {
  datasets: SpotDataset[];
  planted: PlantedPair[];
  /** true intensity of each universe reflection (index = universe id) */
  trueIntensity: Float64Array;
}

/** Random rotation matrix (uniform on SO(3), from a random unit quaternion). */
export function randomRotation(rng: Rng): Float64Array {
  let q0 = 0;
  let q1 = 0;
  let q2 = 0;
  let q3 = 0;
  let s = 0;
  do {
    q0 = rng.normal();
    q1 = rng.normal();
    q2 = rng.normal();
    q3 = rng.normal();
    s = Math.hypot(q0, q1, q2, q3);
  } while (s < 1e-9);
  q0 /= s;
  q1 /= s;
  q2 /= s;
  q3 /= s;
  return Float64Array.of(
    1 - 2 * (q2 * q2 + q3 * q3), 2 * (q1 * q2 - q0 * q3), 2 * (q1 * q3 + q0 * q2),
    2 * (q1 * q2 + q0 * q3), 1 - 2 * (q1 * q1 + q3 * q3), 2 * (q2 * q3 - q0 * q1),
    2 * (q1 * q3 - q0 * q2), 2 * (q2 * q3 + q0 * q1), 1 - 2 * (q1 * q1 + q2 * q2),
  );
}

function rotationAbout(axis: Vec3, angleRad: number): Float64Array {
  const n = Math.hypot(axis[0], axis[1], axis[2]);
  const x = axis[0] / n;
  const y = axis[1] / n;
  const z = axis[2] / n;
  const c = Math.cos(angleRad);
  const s = Math.sin(angleRad);
  const t = 1 - c;
  return Float64Array.of(
    t * x * x + c, t * x * y - s * z, t * x * z + s * y,
    t * x * y + s * z, t * y * y + c, t * y * z - s * x,
    t * x * z - s * y, t * y * z + s * x, t * z * z + c,
  );
}

function mul(a: ArrayLike<number>, b: ArrayLike<number>): Float64Array {
  const r = new Float64Array(9);
  for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) r[3 * i + j] = a[3 * i]! * b[j]! + a[3 * i + 1]! * b[3 + j]! + a[3 * i + 2]! * b[6 + j]!;
  return r;
}

/** B for a unit cell (columns a*, b*, c* in a Cartesian frame; Busing–Levy, a* along x). */
export function bMatrix(cell: UnitCell): Float64Array {
  const gs = reciprocalMetric(cell);
  // Cholesky-like construction from the reciprocal metric: B = upper-triangular with BᵀB = G*
  const as = Math.sqrt(gs[0]!);
  const bs = Math.sqrt(gs[4]!);
  const cs = Math.sqrt(gs[8]!);
  const cosGs = gs[1]! / (as * bs);
  const cosBs = gs[2]! / (as * cs);
  const cosAs = gs[5]! / (bs * cs);
  const sinGs = Math.sqrt(1 - cosGs * cosGs);
  const b23 = (cs * (cosAs - cosBs * cosGs)) / sinGs;
  const b33 = Math.sqrt(Math.max(0, cs * cs - (cs * cosBs) ** 2 - b23 * b23));
  return Float64Array.of(as, bs * cosGs, cs * cosBs, 0, bs * sinGs, b23, 0, 0, b33);
}

const BEAM_DIRECTION: Vec3 = [0, 0, -1]; // incident beam along −z (s0 = (0, 0, −1/λ))
const AXIS: Vec3 = [1, 0, 0];

export function simulateUniverse(o: UniverseOptions): UniverseSimulation {
  const rng = new Rng(o.seed);
  const maxIndex = o.maxIndex ?? 30;
  const meanI = o.meanIntensity ?? 1000;
  const background = o.background ?? 50;
  const noise = o.noiseFactor ?? (() => 1);
  const overlap = o.plantedOverlap ?? 0.8;
  const cell = o.cell ?? { a: 50, b: 60, c: 70, alpha: 90, beta: 90, gamma: 90 };
  const geometry = o.geometry ?? true;
  const fold = o.fold ?? null;
  const outlierFraction = o.outlierFraction ?? 0;
  const outlierScale = o.outlierScale ?? 10;

  // the universe: distinct orbit representatives (or distinct raw indices)
  const U = o.uniqueReflections;
  const uh = new Int32Array(U);
  const uk = new Int32Array(U);
  const ul = new Int32Array(U);
  const trueI = new Float64Array(U);
  const seen = new Set<string>();
  const canon = (h: number, k: number, l: number): string => {
    if (fold === null) return `${h},${k},${l}`;
    let best = '';
    let bestKey = -Infinity;
    for (const m of fold.ops) {
      const hh = h * m[0] + k * m[3] + l * m[6];
      const kk = h * m[1] + k * m[4] + l * m[7];
      const ll = h * m[2] + k * m[5] + l * m[8];
      const key = (hh * 4096 + kk) * 4096 + ll;
      if (key > bestKey) {
        bestKey = key;
        best = `${hh},${kk},${ll}`;
      }
    }
    return best;
  };
  for (let u = 0; u < U; ) {
    const h = rng.int(2 * maxIndex + 1) - maxIndex;
    const k = rng.int(2 * maxIndex + 1) - maxIndex;
    const l = rng.int(2 * maxIndex + 1) - maxIndex;
    if (h === 0 && k === 0 && l === 0) continue;
    const c = canon(h, k, l);
    if (seen.has(c)) continue;
    seen.add(c);
    uh[u] = h;
    uk[u] = k;
    ul[u] = l;
    trueI[u] = meanI * rng.exponential();
    u++;
  }

  // which universe reflections each image sees
  const D = o.datasets;
  const F = o.frames;
  const S = o.spotsPerFrame;
  const imageSpots: Int32Array[] = [];
  for (let g = 0; g < D * F; g++) {
    const s = new Int32Array(S);
    const used = new Set<number>();
    for (let i = 0; i < S; ) {
      const u = rng.int(U);
      if (used.has(u)) continue;
      used.add(u);
      s[i++] = u;
    }
    imageSpots.push(s);
  }
  const planted: PlantedPair[] = [];
  const usedImages = new Set<number>();
  for (let p = 0; p < (o.plantedPairs ?? 0) && D >= 2; p++) {
    let ga = 0;
    let gb = 0;
    do {
      ga = rng.int(D * F);
      gb = rng.int(D * F);
    } while (Math.floor(ga / F) === Math.floor(gb / F) || usedImages.has(ga) || usedImages.has(gb));
    usedImages.add(ga);
    usedImages.add(gb);
    const [a, b] = ga < gb ? [ga, gb] : [gb, ga];
    const sa = imageSpots[a]!;
    const sb = imageSpots[b]!;
    const nCopy = Math.round(overlap * S);
    const inB = new Set<number>();
    for (let i = 0; i < nCopy; i++) {
      sb[i] = sa[i]!;
      inB.add(sa[i]!);
    }
    for (let i = nCopy; i < S; ) {
      const u = rng.int(U);
      if (inB.has(u)) continue;
      inB.add(u);
      sb[i++] = u;
    }
    planted.push({ a, b, datasetA: Math.floor(a / F), frameA: a % F, datasetB: Math.floor(b / F), frameB: b % F });
  }

  const scrambled = new Set(o.scrambled ?? []);
  const metric = reciprocalMetric(cell);
  const B = bMatrix(cell);
  const datasets: SpotDataset[] = [];
  for (let d = 0; d < D; d++) {
    const n = F * S;
    const ds: SpotDataset = {
      name: `sim${d}`,
      source: `simulated dataset ${d}`,
      identifier: `sim-${d}`,
      intensitySource: 'scale',
      n,
      h: new Int32Array(n),
      k: new Int32Array(n),
      l: new Int32Array(n),
      frame: new Int32Array(n),
      intensity: new Float64Array(n),
      variance: new Float64Array(n),
      nFrames: F,
      firstImage: 1,
      reciprocalMetric: metric,
    };
    // a scrambled dataset's intensities follow another reflection than the index says
    const perm = scrambled.has(d) ? shuffledIdentity(U, rng) : null;
    let r = 0;
    for (let f = 0; f < F; f++) {
      for (const u of imageSpots[d * F + f]!) {
        let h = uh[u]!;
        let k = uk[u]!;
        let l = ul[u]!;
        if (fold !== null) {
          const m = fold.ops[rng.int(fold.ops.length)]!;
          const hh = h * m[0] + k * m[3] + l * m[6];
          const kk = h * m[1] + k * m[4] + l * m[7];
          const ll = h * m[2] + k * m[5] + l * m[8];
          h = hh;
          k = kk;
          l = ll;
        }
        const It = trueI[perm !== null ? perm[u]! : u]!;
        const V = Math.max(It, 0) + background;
        const sigma = Math.sqrt(V);
        let I = It + noise(It) * sigma * rng.normal();
        if (outlierFraction > 0 && rng.next() < outlierFraction) I += outlierScale * sigma * rng.normal();
        ds.h[r] = h;
        ds.k[r] = k;
        ds.l[r] = l;
        ds.frame[r] = f;
        ds.intensity[r] = I;
        ds.variance[r] = V;
        r++;
      }
    }
    if (geometry) {
      const Ud = randomRotation(rng);
      const phi0 = rng.next() * 360;
      const m = new Float64Array(9 * F);
      for (let f = 0; f < F; f++) m.set(mul(rotationAbout(AXIS, (phi0 + (f + 0.5) * 0.1) * DEG), mul(Ud, B)), 9 * f);
      ds.settingAtFrame = m;
      ds.beamDirection = BEAM_DIRECTION;
    }
    datasets.push(ds);
  }
  if (geometry) {
    // planted pairs: image b has nearly image a's orientation (0.2° apart)
    for (const p of planted) {
      const ma = datasets[p.datasetA]!.settingAtFrame!.slice(9 * p.frameA, 9 * p.frameA + 9);
      const tweak = rotationAbout([0.3, 0.5, 0.8], 0.2 * DEG);
      datasets[p.datasetB]!.settingAtFrame!.set(mul(tweak, ma), 9 * p.frameB);
    }
  }
  return { datasets, planted, trueIntensity: trueI };
}

function shuffledIdentity(n: number, rng: Rng): Int32Array {
  const p = new Int32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  rng.shuffle(p);
  return p;
}

export interface SweepOptions {
  seed: number;
  datasets: number;
  /** images per sweep (default 1000) */
  frames?: number;
  /** degrees per image (default 0.1) */
  oscillation?: number;
  cell?: UnitCell;
  /** Å (default 2.0) */
  dMin?: number;
  /** Å (default 1.0) */
  wavelength?: number;
  /** number of distinct mounting orientations; each dataset is one of them turned by ~`mountSpreadDeg` (default 4, 1°) */
  mounts?: number;
  mountSpreadDeg?: number;
}

export interface SweepSimulation {
  datasets: MatchInput[];
  observations: number;
  /** per dataset: the setting matrix U·B at φ = 0 and the start angle (degrees) */
  UB: Float64Array[];
  phi0: number[];
}

/**
 * Rotation sweeps with Ewald geometry: every reciprocal-lattice point within
 * 1/dMin is recorded on the image where it crosses the Ewald sphere. With the
 * defaults (cell 80 × 90 × 95 Å, 2 Å, 0.1° images) that is about 200 spots per
 * image. Only indices and frames are produced (what the matcher needs).
 */
export function simulateRotationSweeps(o: SweepOptions): SweepSimulation {
  const rng = new Rng(o.seed);
  const F = o.frames ?? 1000;
  const osc = o.oscillation ?? 0.1;
  const cell = o.cell ?? { a: 80, b: 90, c: 95, alpha: 90, beta: 90, gamma: 90 };
  const dMin = o.dMin ?? 2.0;
  const lambda = o.wavelength ?? 1.0;
  const mounts = Array.from({ length: o.mounts ?? 4 }, () => randomRotation(rng));
  const spread = (o.mountSpreadDeg ?? 1) * DEG;
  const B = bMatrix(cell);
  const qMax2 = 1 / (dMin * dMin);
  const H = Math.floor(cell.a / dMin);
  const K = Math.floor(cell.b / dMin);
  const L = Math.floor(cell.c / dMin);
  const range = F * osc;
  const datasets: MatchInput[] = [];
  const UBs: Float64Array[] = [];
  const phi0s: number[] = [];
  let total = 0;
  for (let d = 0; d < o.datasets; d++) {
    const tweakAxis: Vec3 = [rng.normal(), rng.normal(), rng.normal()];
    const U = mul(rotationAbout(tweakAxis, spread * rng.normal()), mounts[d % mounts.length]!);
    const UB = mul(U, B);
    const phi0 = rng.next() * 360;
    UBs.push(UB);
    phi0s.push(phi0);
    let cap = 1 << 18;
    let h: Int32Array = new Int32Array(cap);
    let k: Int32Array = new Int32Array(cap);
    let l: Int32Array = new Int32Array(cap);
    let fr: Int32Array = new Int32Array(cap);
    let n = 0;
    const push = (hh: number, kk: number, ll: number, f: number): void => {
      if (n === cap) {
        cap *= 2;
        const grow = (a: Int32Array): Int32Array => {
          const b = new Int32Array(cap);
          b.set(a);
          return b;
        };
        h = grow(h);
        k = grow(k);
        l = grow(l);
        fr = grow(fr);
      }
      h[n] = hh;
      k[n] = kk;
      l[n] = ll;
      fr[n] = f;
      n++;
    };
    for (let hh = -H; hh <= H; hh++) {
      for (let kk = -K; kk <= K; kk++) {
        const px0 = UB[0]! * hh + UB[1]! * kk;
        const py0 = UB[3]! * hh + UB[4]! * kk;
        const pz0 = UB[6]! * hh + UB[7]! * kk;
        for (let ll = -L; ll <= L; ll++) {
          const px = px0 + UB[2]! * ll;
          const py = py0 + UB[5]! * ll;
          const pz = pz0 + UB[8]! * ll;
          const q2 = px * px + py * py + pz * pz;
          if (q2 > qMax2 || q2 === 0) continue;
          // rotation about x turns p into (px, py cosφ − pz sinφ, py sinφ + pz cosφ); with
          // s0 = (0, 0, −1/λ) the Ewald condition |s0 + p'|² = 1/λ² reads
          // py sinφ + pz cosφ = λq²/2, i.e. ρ cos(φ − β) = λq²/2 with β = atan2(py, pz)
          const rho = Math.hypot(py, pz);
          const c = (lambda * q2) / (2 * rho);
          if (!(c <= 1)) continue;
          const beta = Math.atan2(py, pz);
          const delta = Math.acos(c);
          for (const phi of [beta + delta, beta - delta]) {
            let off = phi / DEG - phi0;
            off -= 360 * Math.floor(off / 360);
            if (off < range) push(hh, kk, ll, Math.min(F - 1, Math.floor(off / osc)));
          }
        }
      }
    }
    total += n;
    datasets.push({ n, h: h.slice(0, n), k: k.slice(0, n), l: l.slice(0, n), frame: fr.slice(0, n), nFrames: F });
  }
  return { datasets, observations: total, UB: UBs, phi0: phi0s };
}
