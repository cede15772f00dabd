/**
 * Shared pieces of the filter/integration tests: in-memory simulated series
 * (src/sim) with the Bragg photons drawn apart from the rest, sources over
 * in-memory frames, and small statistics.
 */
import type { Experiment } from '../../src/geometry/model.ts';
import type { DetectorImage } from '../../src/io/image.ts';
import type { FrameSource, WedgeFrame } from '../../src/pipeline/voxel-integrate.ts';
import { FrameRenderer, PIXEL_BAD, PIXEL_GAP } from '../../src/sim/render.ts';
import { smallSpec, type SimulationSpec } from '../../src/sim/spec.ts';
import { mixSeed, mulberry32, poisson } from '../../src/util/random.ts';

export interface SyntheticSeries {
  spec: SimulationSpec;
  exp: Experiment;
  width: number;
  height: number;
  /** raw frames: Bragg + rest photons, −1 gaps, −2 bad pixels */
  frames: Int32Array[];
  /** the Bragg photons of each frame alone (0 on gap/bad pixels) */
  bragg: Int32Array[];
  /** the expected Bragg photons of each frame */
  braggExpected: Float64Array[];
  vectors: Float32Array;
}

/**
 * The test spec: the small simulated detector with only the diffuse and
 * Bragg terms (no ring, no geometry factors, no frame-scale drift), diffuse
 * rates of about one photon per pixel·frame, sharp strong Bragg peaks.
 */
export function syntheticSpec(frames: number, seed = 3): SimulationSpec {
  const spec = smallSpec(seed);
  spec.scan.frames = frames;
  spec.scan.subSteps = 3;
  spec.model.ring.scale = 0;
  spec.model.geometryFactors = false;
  spec.model.frameScale.amplitude = 0;
  spec.model.diffuse.scale = 60;
  spec.crystal.mosaicityDeg = 0.1;
  spec.crystal.domainSize = 1500;
  return spec;
}

/**
 * Renders a series in memory: per frame the expected Bragg and non-Bragg
 * parts are drawn as independent Poisson variables (their sum is distributed
 * as the simulator's single draw), so every Bragg photon is known.
 */
export function renderSynthetic(spec: SimulationSpec): SyntheticSeries {
  const R = new FrameRenderer(spec);
  const n = R.pixels;
  const E = new Float64Array(n);
  const B = new Float64Array(n);
  const frames: Int32Array[] = [];
  const bragg: Int32Array[] = [];
  const braggExpected: Float64Array[] = [];
  for (let f = 0; f < spec.scan.frames; f++) {
    R.expected(f, E, { bragg: B });
    const u = mulberry32(mixSeed(spec.seed, 0x3f11, f));
    const tot = new Int32Array(n);
    const bc = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      const k = R.kind[i];
      if (k === PIXEL_GAP) tot[i] = -1;
      else if (k === PIXEL_BAD) tot[i] = -2;
      else {
        const b = poisson(u, B[i] as number);
        bc[i] = b;
        tot[i] = b + poisson(u, Math.max(0, (E[i] as number) - (B[i] as number)));
      }
    }
    frames.push(tot);
    bragg.push(bc);
    braggExpected.push(Float64Array.from(B));
  }
  return { spec, exp: R.experiment, width: R.width, height: R.height, frames, bragg, braggExpected, vectors: R.vectors };
}

export function image(width: number, height: number, pixels: Int32Array, frame: number): DetectorImage {
  return { width, height, pixels, header: { format: 'cbf', raw: new Map(), lines: [] }, source: { file: 'memory', frame } };
}

/** A FrameSource over in-memory frames (random access too). */
export function memorySource(width: number, height: number, frames: readonly Int32Array[]): FrameSource {
  return {
    length: frames.length,
    async *[Symbol.asyncIterator]() {
      for (let f = 0; f < frames.length; f++) yield image(width, height, frames[f] as Int32Array, f);
    },
    async read(index: number) {
      return image(width, height, frames[index] as Int32Array, index);
    },
  };
}

/** The frames of a wedge in the given order. */
export async function* wedgeFrames(width: number, height: number, frames: readonly Int32Array[], offsets: readonly number[]): AsyncGenerator<WedgeFrame> {
  for (const o of offsets) yield { offset: o, image: image(width, height, frames[o] as Int32Array, o) };
}

export { pearson } from '../../src/util/stats.ts';

/** Deterministic shuffle. */
export function shuffled<T>(items: readonly T[], seed: number): T[] {
  const u = mulberry32(seed);
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(u() * (i + 1));
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

/** Element-wise identity of two typed arrays (bits for floats), with the first difference. */
export function firstDifference(a: ArrayLike<number>, b: ArrayLike<number>): string | null {
  if (a.length !== b.length) return `lengths ${a.length} vs ${b.length}`;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return `index ${i}: ${a[i]} vs ${b[i]}`;
  return null;
}
