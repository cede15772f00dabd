/**
 * Realistic frame sets for the `integrate-throughput` bench section, made
 * fast and cached on disk (`bench/.cache/`, git-ignored).
 *
 * The geometry is the simulator's (`src/sim/spec.ts`: a single-panel PAD with
 * Pilatus module gaps that read −1, the crystal, beam and scan of
 * `sizedSpec`), written as a DIALS `.expt` with the simulator's writer, and
 * the frames are miniCBF files with the simulator's PILATUS headers. The pixel
 * values are NOT the simulator's physics (5 rotation sub-steps per pixel, ≈ 1 µs
 * per pixel·frame: minutes for a 6M set on 2 cores) but a cheaper stand-in that
 * has what throughput depends on:
 *
 *   mean(x, y, i) = b(i) · [D · (f + (q/q0)²) · exp(−(q/q0)²) + R · exp(−½ ((q − q_r)/σ_r)²)]
 *                   + Σ spots(i),   counts = Poisson(mean)
 *
 * q the pixel centre's |s1 − s0| (Å⁻¹) from the panel geometry, b(i) the
 * simulator's frame scale, D = 6, f = 0.3, q0 = 0.35 Å⁻¹ (1–3 counts: the
 * diffuse background of a photon-counting frame), a solvent/ice ring of R = 40
 * counts at q_r = 1/3.2 Å⁻¹ (σ_r = 0.004 Å⁻¹), and Gaussian Bragg spots at the
 * simulator's predicted reflections (`predictReflections`: σ 1 px on the panel,
 * σ of the rocking curve in frames from the mosaicity, peak I_H · exposure). A
 * few % of the pixels read above 20 counts (the ring and the spots), as on a
 * real Pilatus frame with a ring. Frame i draws from its own seeded stream, so
 * frames are the same whatever the frame count, and every set of n frames is the
 * first n of a longer one. About 70 ns of CPU per pixel (the 200-frame 1024²
 * set: 15 s; the 20-frame 6M set: 8 s).
 */
import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { formatExperimentList } from '../src/geometry/expt-write.ts';
import type { Experiment } from '../src/geometry/model.ts';
import { encodeCbf } from '../src/io/cbf.ts';
import { writeFileAtomic } from '../src/io/atomic-file.ts';
import { frameScale } from '../src/sim/physics.ts';
import { predictReflections } from '../src/sim/predict.ts';
import { frameHeaderLines } from '../src/sim/simulate.ts';
import { buildExperiment, frameFileName, gapMask, panelSize, type SimDetector, type SimulationSpec, sizedSpec } from '../src/sim/spec.ts';
import { mixSeed, mulberry32, poisson } from '../src/util/random.ts';

/** Bump when the frames or the `.expt` change: cached sets of another version are regenerated. */
export const FRAME_GENERATOR_VERSION = 1;

/** A frame set: a module layout and a scan. */
export interface FrameSetLayout {
  /** cache folder name (the version is appended) */
  name: string;
  modules: SimDetector['modules'];
  /** frames to generate (expt files can name the first n of them) */
  frames: number;
  widthDeg: number;
}

/** Real Pilatus 6M: 5 × 12 modules of 487 × 195 pixels, 7-column and 17-row gaps (2463 × 2527). */
export const PILATUS_6M_MODULES: SimDetector['modules'] = { nx: 5, ny: 12, moduleWidth: 487, moduleHeight: 195, gapX: 7, gapY: 17 };

/** One gapless module of `side` × `side` pixels. */
export function squareModules(side: number): SimDetector['modules'] {
  return { nx: 1, ny: 1, moduleWidth: side, moduleHeight: side, gapX: 0, gapY: 0 };
}

/** Background model (counts per pixel and frame before b(i)); see the file comment. */
const BACKGROUND = { diffuse: 6, floor: 0.3, q0: 0.35, ring: 40, ringQ: 1 / 3.2, ringSigma: 0.004 };
/** Bragg spots: σ on the panel (pixels), and the window half-width (pixels) they are drawn in. */
const SPOT = { sigmaPx: 1.0, halfWidth: 3 };

/**
 * The simulation spec of a layout: `sizedSpec('small')`'s crystal, beam and
 * model, the layout's panel at the distance that puts 2.2 Å at the nearest
 * panel edge (as `sizedSpec` does), beam centre off the gaps, no bad pixels.
 */
export function frameSetSpec(layout: FrameSetLayout, seed = 14): SimulationSpec {
  const base = sizedSpec('small', seed);
  const modules = layout.modules;
  const [w, h] = panelSize({ ...base.detector, modules });
  const pixelSize = base.detector.pixelSize;
  const halfWidthMm = (Math.min(w, h) * pixelSize) / 2;
  const distance = Math.round((halfWidthMm / Math.tan(2 * Math.asin(1 / (2 * 2.2)))) * 10) / 10;
  return {
    ...base,
    prefix: 'frame',
    detector: { ...base.detector, modules, distance, beamCentre: [Math.round(0.47 * w) + 0.3, Math.round(0.56 * h) + 0.7], badPixels: [] },
    scan: { ...base.scan, frames: layout.frames, widthDeg: layout.widthDeg },
    model: { ...base.model, frameScale: { ...base.model.frameScale, periodFrames: Math.max(8, layout.frames) } },
  };
}

/** Spots of the scan: panel position, rocking-curve centre (frames) and integrated counts. */
interface Spot {
  x: number;
  y: number;
  z: number;
  counts: number;
}

/** Makes the frames of one spec (one reused buffer per frame; see the file comment). */
export class FrameSynth {
  readonly width: number;
  readonly height: number;
  readonly experiment: Experiment;
  /** background mean per pixel (counts, before b(i)); −1 in the gaps */
  private readonly background: Float32Array;
  private readonly mean: Float32Array;
  private readonly spots: Spot[];
  private readonly sigmaZ: number;

  constructor(readonly spec: SimulationSpec) {
    const d = spec.detector;
    [this.width, this.height] = panelSize(d);
    this.experiment = buildExperiment(spec);
    const gaps = gapMask(d);
    const n = this.width * this.height;
    this.background = new Float32Array(n);
    this.mean = new Float32Array(n);
    const { diffuse, floor, q0, ring, ringQ, ringSigma } = BACKGROUND;
    const [bx, by] = d.beamCentre;
    const lambda = spec.beam.wavelength;
    for (let y = 0; y < this.height; y++) {
      const dy = (y + 0.5 - by) * d.pixelSize;
      for (let x = 0; x < this.width; x++) {
        const i = y * this.width + x;
        if (gaps[i] === 1) {
          this.background[i] = -1;
          continue;
        }
        const dx = (x + 0.5 - bx) * d.pixelSize;
        const twoTheta = Math.atan(Math.hypot(dx, dy) / d.distance);
        const q = (2 * Math.sin(twoTheta / 2)) / lambda;
        const u = (q / q0) ** 2;
        const r = (q - ringQ) / ringSigma;
        this.background[i] = diffuse * (floor + u) * Math.exp(-u) + ring * Math.exp(-0.5 * r * r);
      }
    }
    // the rocking curve's σ in frames: mosaic spread and divergence over the frame width
    const eta = Math.hypot(spec.crystal.mosaicityDeg, spec.beam.divergenceDeg);
    this.sigmaZ = Math.max(0.5, eta / spec.scan.widthDeg);
    this.spots = predictReflections(spec, this.experiment).map((r) => ({ x: r.x, y: r.y, z: r.z, counts: r.intensity * spec.scan.exposure }));
  }

  /** Counts of frame `index` (0-based) into `out` (width·height, row-major); gaps −1. */
  frame(index: number, out: Int32Array): void {
    const { width, height, background, mean } = this;
    const b = frameScale(this.spec.model.frameScale, index);
    for (let i = 0; i < mean.length; i++) {
      const v = background[i] as number;
      mean[i] = v < 0 ? -1 : v * b;
    }
    this.addSpots(index);
    let state = mixSeed(this.spec.seed, 0xbe9c, index) >>> 0;
    const uniform = (): number => {
      state = (state + 0x6d2b79f5) >>> 0;
      let t = state;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
    const big = mulberry32(mixSeed(this.spec.seed, 0xb16, index));
    for (let i = 0; i < width * height; i++) {
      const m = mean[i] as number;
      if (m < 0) {
        out[i] = -1;
      } else if (m < 10) {
        // inversion of the CDF with one uniform (most pixels)
        const u = uniform();
        let k = 0;
        let p = Math.exp(-m);
        let c = p;
        while (u > c && k < 60) {
          k++;
          p *= m / k;
          c += p;
        }
        out[i] = k;
      } else {
        out[i] = poisson(big, m);
      }
    }
  }

  /** Adds the Bragg spots that reach frame `index` to `mean`. */
  private addSpots(index: number): void {
    const { width, height, mean, sigmaZ } = this;
    const zc = index + 0.5;
    const reach = 3 * sigmaZ;
    const s2 = 2 * SPOT.sigmaPx * SPOT.sigmaPx;
    const hw = SPOT.halfWidth;
    for (const s of this.spots) {
      const dz = s.z - zc;
      if (dz < -reach || dz > reach) continue;
      // the frame's share of the rocking curve (its centre value × 1 frame), spread over σ² 2π pixels
      const peak = (s.counts * Math.exp((-0.5 * dz * dz) / (sigmaZ * sigmaZ))) / (sigmaZ * Math.sqrt(2 * Math.PI)) / (Math.PI * s2);
      const x0 = Math.floor(s.x);
      const y0 = Math.floor(s.y);
      for (let y = Math.max(0, y0 - hw); y <= Math.min(height - 1, y0 + hw); y++) {
        const ey = y + 0.5 - s.y;
        for (let x = Math.max(0, x0 - hw); x <= Math.min(width - 1, x0 + hw); x++) {
          const i = y * width + x;
          const m = mean[i] as number;
          if (m < 0) continue;
          const ex = x + 0.5 - s.x;
          mean[i] = m + peak * Math.exp(-(ex * ex + ey * ey) / s2);
        }
      }
    }
  }
}

/** A cached frame set on disk. */
export interface CachedFrameSet {
  dir: string;
  width: number;
  height: number;
  /** frames on disk */
  frames: number;
  /** seconds spent generating in this call (0 when everything was cached) */
  generatedSeconds: number;
  /** the `.expt` naming the first `n` frames (written on first use) */
  expt(n: number): Promise<string>;
}

/**
 * The frames of `layout` under `root`/<name>-g<version>/, generated where
 * missing (each frame file is written atomically, so a present file is
 * complete); folders of other generator versions of the same set are removed.
 */
export async function ensureFrameSet(root: string, layout: FrameSetLayout, log: (line: string) => void = () => {}): Promise<CachedFrameSet> {
  const spec = frameSetSpec(layout);
  const dir = join(root, `${layout.name}-g${FRAME_GENERATOR_VERSION}`);
  mkdirSync(dir, { recursive: true });
  for (const entry of readdirSync(root)) {
    if (entry.startsWith(`${layout.name}-g`) && entry !== `${layout.name}-g${FRAME_GENERATOR_VERSION}`) rmSync(join(root, entry), { recursive: true, force: true });
  }
  const missing: number[] = [];
  for (let i = 0; i < layout.frames; i++) if (!existsSync(join(dir, frameFileName(spec, i)))) missing.push(i);
  const [width, height] = panelSize(spec.detector);
  const t0 = performance.now();
  if (missing.length > 0) {
    log(`generating ${missing.length} frames of ${width}×${height} (${layout.name}) in ${dir}`);
    const synth = new FrameSynth(spec);
    const pixels = new Int32Array(width * height);
    for (const i of missing) {
      synth.frame(i, pixels);
      const name = frameFileName(spec, i);
      const bytes = encodeCbf({ width, height, pixels, headerLines: frameHeaderLines(spec, synth.experiment, i), name: name.replace(/\.cbf$/, '') });
      await writeFileAtomic(join(dir, name), bytes);
    }
  }
  const generatedSeconds = (performance.now() - t0) / 1000;
  return {
    dir,
    width,
    height,
    frames: layout.frames,
    generatedSeconds,
    async expt(n: number): Promise<string> {
      if (!(Number.isInteger(n) && n >= 1 && n <= layout.frames)) throw new Error(`frame set ${layout.name} has ${layout.frames} frames, not ${n}`);
      const path = join(dir, `${spec.prefix}_n${n}.expt`);
      if (!existsSync(path)) {
        const exp = buildExperiment({ ...spec, scan: { ...spec.scan, frames: n } });
        await writeFileAtomic(path, formatExperimentList({ source: path, experiments: [exp] }));
      }
      return path;
    },
  };
}

/** Fraction of the non-gap pixels of `pixels` that read above `threshold`. */
export function fractionAbove(pixels: Int32Array, threshold: number): number {
  let above = 0;
  let valid = 0;
  for (const v of pixels) {
    if (v < 0) continue;
    valid++;
    if (v > threshold) above++;
  }
  return valid === 0 ? 0 : above / valid;
}
