/**
 * `simulateStills(spec, outDir)`: writes a serial (stills) dataset with known
 * truth (layout in docs/simulate.md, "Stills"):
 *
 * - `still_NNNNNN.cbf`: one CBF per shot (PILATUS header, byte-offset), read
 *   through the frame-source layer like any CBF;
 * - `stills.expt`: a DIALS stills ExperimentList, one experiment per shot with
 *   its own crystal (A, `ML_domain_size_ang`, `ML_half_mosaicity_deg`) and an
 *   ImageSet of its one image; one shared beam and detector; no goniometer or scan;
 * - `stills.refl`: a msgpack DIALS reflection table of the spots with
 *   |ε| ≤ R = 2.6σ (partiality ≥ e^−3.38 ≈ 0.034) whose 3 × 3 bbox lies on
 *   the panel, clear of gaps: `id`, `miller_index`, `panel`, `xyzcal.px` (the ray through the
 *   lattice point), `xyzobs.px.value` (centroid of the expected Bragg counts),
 *   `bbox` (3 × 3 pixels around the centre), `intensity.sum.value`/`.variance`
 *   (Σ over the bbox of counts − expected non-Bragg counts; Σ counts), `partiality`
 *   (the true P), and the experiment identifiers;
 * - `pulse_energy.csv`: `shot,pulse_energy` (mJ; the p_order truth);
 * - `truth_reflections.json`: per `.refl` row, the true |F_H|², σ_H and the
 *   expected Bragg counts of the spot;
 * - `truth.json` (last): the spec, per shot its p_order, scale, identifier,
 *   image, Bragg photons and sha256 of the pixels, and the formulas.
 *
 * Shots are rendered, written and dropped one at a time (memory: one shot plus
 * the reflection rows).
 */
import { mkdir, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { FileAccessError } from '../../errors.ts';
import { formatExperimentList } from '../../geometry/expt-write.ts';
import type { Experiment } from '../../geometry/model.ts';
import { writeFileAtomic } from '../../io/atomic-file.ts';
import { encodeCbf } from '../../io/cbf.ts';
import { encodeReflectionTable } from '../../io/dials-refl-write.ts';
import { float64Column, int32Column } from '../../util/growable-column.ts';
import { mixSeed } from '../../util/random.ts';
import { hashPixels, frameHeaderLines } from '../simulate.ts';
import { experimentIdentifier } from '../spec.ts';
import { PIXEL_NORMAL } from '../render.ts';
import { StillsRenderer, type RenderedShot } from './render.ts';
import { shotFileName, stillsB, validateStillsSpec, type StillsSimSpec } from './spec.ts';

export const STILLS_TRUTH_FORMAT = 'diffract-stills-simulation-truth';
export const STILLS_TRUTH_VERSION = 1;
export const STILLS_FILES = { expt: 'stills.expt', refl: 'stills.refl', pulse: 'pulse_energy.csv', truth: 'truth.json', reflections: 'truth_reflections.json' } as const;

/** Spots listed in the `.refl`: |ε| ≤ this many σ (R = 2.6σ of the Gaussian model). */
export const LISTED_SIGMAS = 2.6;

/** The truth of one shot (as in truth.json `shots`). */
export interface StillShotTruth {
  shot: number;
  identifier: string;
  image: string;
  /** pulse energy, mJ: the p_order */
  pOrder: number;
  /** the true scale b */
  scale: number;
  /** Bragg photons drawn on the shot */
  braggPhotons: number;
  /** rows of the shot in the .refl */
  reflections: number;
  /** sha256 of the pixels (int32 little-endian) */
  sha256: string;
}

export interface StillsSimulationResult {
  outDir: string;
  expt: string;
  refl: string;
  pulseCsv: string;
  truth: string;
  shots: number;
  width: number;
  height: number;
  reflections: number;
  truthShots: StillShotTruth[];
  seconds: number;
}

export interface StillsSimulateOptions {
  /** after each shot is written; `shot`'s arrays are reused for the next shot */
  onShot?: (shot: RenderedShot, truth: StillShotTruth) => void | Promise<void>;
}

/** The experiment identifier of shot `i`. */
export function shotIdentifier(spec: StillsSimSpec, i: number): string {
  return experimentIdentifier(mixSeed(spec.base.seed, 0x57, i));
}

/** Reflection rows of all shots, as growing typed columns (144 bytes a row, up to twice that with the doubling slack; a shot lists some 50). */
class ReflectionRows {
  id = int32Column();
  hkl = int32Column();
  panel = float64Column();
  cal = float64Column();
  obs = float64Column();
  bbox = int32Column();
  sum = float64Column();
  variance = float64Column();
  partiality = float64Column();
  f2 = float64Column();
  sigma = float64Column();
  expected = float64Column();

  get count(): number {
    return this.id.length;
  }

  /** Adds the listed spots of `shot`; returns how many. */
  add(shot: RenderedShot, width: number, height: number, kind: Uint8Array): number {
    let n = 0;
    for (const s of shot.spots) {
      if (Math.abs(s.epsilon) > LISTED_SIGMAS * s.sigma) continue;
      const cx = Math.floor(s.x);
      const cy = Math.floor(s.y);
      // the bbox must lie on the panel (a spot at the very edge is not integrated)
      if (cx < 1 || cy < 1 || cx > width - 2 || cy > height - 2) continue;
      const x0 = Math.max(0, cx - 1);
      const x1 = Math.min(width, cx + 2);
      const y0 = Math.max(0, cy - 1);
      const y1 = Math.min(height, cy + 2);
      // nor touch a gap or bad pixel
      let clear = true;
      for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) if (kind[y * width + x] !== PIXEL_NORMAL) clear = false;
      if (!clear) continue;
      let sum = 0;
      let counts = 0;
      for (let y = y0; y < y1; y++) {
        for (let x = x0; x < x1; x++) {
          const p = y * width + x;
          const c = shot.counts[p] as number;
          sum += c - (shot.background[p] as number);
          counts += c;
        }
      }
      this.id.push(shot.index);
      for (const v of [s.h, s.k, s.l]) this.hkl.push(v);
      this.panel.push(0);
      for (const v of [s.x, s.y, 0]) this.cal.push(v);
      for (const v of [s.xObs, s.yObs, 0]) this.obs.push(v);
      for (const v of [x0, x1, y0, y1, 0, 1]) this.bbox.push(v);
      this.sum.push(sum);
      this.variance.push(Math.max(1, counts));
      this.partiality.push(s.partiality);
      this.f2.push(s.f2);
      this.sigma.push(s.sigma);
      this.expected.push(s.expected);
      n++;
    }
    return n;
  }

  /** The truth of the listed rows (truth_reflections.json), row for row with the .refl. */
  truthColumns(): Record<string, number[]> {
    return {
      shot: this.id.component(0, 1),
      h: this.hkl.component(0, 3),
      k: this.hkl.component(1, 3),
      l: this.hkl.component(2, 3),
      f2: this.f2.component(0, 1),
      sigma: this.sigma.component(0, 1),
      expected: this.expected.component(0, 1),
    };
  }

  encode(identifiers: ReadonlyMap<number, string>): Uint8Array {
    return encodeReflectionTable(
      this.count,
      {
        id: { type: 'int', data: this.id.view() },
        miller_index: { type: 'cctbx::miller::index<>', data: this.hkl.view() },
        panel: { type: 'std::size_t', data: this.panel.view() },
        'xyzcal.px': { type: 'vec3<double>', data: this.cal.view() },
        'xyzobs.px.value': { type: 'vec3<double>', data: this.obs.view() },
        bbox: { type: 'int6', data: this.bbox.view() },
        'intensity.sum.value': { type: 'double', data: this.sum.view() },
        'intensity.sum.variance': { type: 'double', data: this.variance.view() },
        partiality: { type: 'double', data: this.partiality.view() },
      },
      identifiers,
    );
  }
}

export async function simulateStills(spec: StillsSimSpec, outDir: string, options: StillsSimulateOptions = {}): Promise<StillsSimulationResult> {
  const t0 = performance.now();
  validateStillsSpec(spec);
  const dir = resolve(outDir);
  try {
    await mkdir(dir, { recursive: true });
  } catch (err) {
    throw new FileAccessError(`cannot create the output folder: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { file: outDir }, { cause: err });
  }
  const paths = { expt: join(dir, STILLS_FILES.expt), refl: join(dir, STILLS_FILES.refl), pulse: join(dir, STILLS_FILES.pulse), truth: join(dir, STILLS_FILES.truth) };
  // a complete earlier run in this folder must not make a partial new one look complete
  for (const p of [paths.truth, paths.expt, paths.refl, paths.pulse, join(dir, STILLS_FILES.reflections)]) await rm(p, { force: true });

  const renderer = new StillsRenderer(spec);
  const { width, height } = renderer;
  // the rotation simulator's PILATUS header, with no oscillation (a still)
  const headerBase = frameHeaderLines(spec.base, renderer.frame.experiment, 0).map((line) => line.replace(/^(Angle_increment|Phi_increment) .*$/, '$1 0.0000 deg.'));
  const experiments: Experiment[] = [];
  const identifiers = new Map<number, string>();
  const rows = new ReflectionRows();
  const truthShots: StillShotTruth[] = [];
  const csv: string[] = ['shot,pulse_energy'];
  for (let i = 0; i < spec.shots; i++) {
    const identifier = shotIdentifier(spec, i);
    const shot = renderer.render(i);
    const name = shotFileName(spec, i);
    const bytes = encodeCbf({ width, height, pixels: shot.counts, headerLines: headerBase, name: name.replace(/\.cbf$/, '') });
    await writeFileAtomic(join(dir, name), bytes);
    experiments.push(renderer.experiment(i, identifier));
    identifiers.set(i, identifier);
    const listed = rows.add(shot, width, height, renderer.frame.kind);
    const truth: StillShotTruth = { shot: i, identifier, image: name, pOrder: shot.pOrder, scale: shot.scale, braggPhotons: shot.braggPhotons, reflections: listed, sha256: hashPixels(shot.counts) };
    truthShots.push(truth);
    csv.push(`${i},${shot.pOrder.toPrecision(10)}`);
    if (options.onShot) await options.onShot(shot, truth);
  }
  await writeFileAtomic(paths.refl, rows.encode(identifiers));
  await writeFileAtomic(join(dir, STILLS_FILES.reflections), `${JSON.stringify(rows.truthColumns())}\n`);
  await writeFileAtomic(paths.pulse, `${csv.join('\n')}\n`);
  await writeFileAtomic(paths.expt, formatExperimentList({ source: paths.expt, experiments }));
  const doc = stillsTruthDocument(spec, truthShots, { width, height }, rows.count);
  await writeFileAtomic(paths.truth, `${JSON.stringify(doc, null, 2)}\n`);
  return {
    outDir: dir,
    expt: paths.expt,
    refl: paths.refl,
    pulseCsv: paths.pulse,
    truth: paths.truth,
    shots: spec.shots,
    width,
    height,
    reflections: rows.count,
    truthShots,
    seconds: (performance.now() - t0) / 1000,
  };
}

/** truth.json of a stills simulation (docs/simulate.md, "Stills"). */
export function stillsTruthDocument(spec: StillsSimSpec, shots: readonly StillShotTruth[], panel: { width: number; height: number }, reflections: number): Record<string, unknown> {
  const eu = spec.base.model.electronUnits;
  return {
    format: STILLS_TRUTH_FORMAT,
    version: STILLS_TRUTH_VERSION,
    files: { expt: STILLS_FILES.expt, refl: STILLS_FILES.refl, pulseEnergy: STILLS_FILES.pulse, reflections: STILLS_FILES.reflections, images: shots.map((s) => s.image) },
    reflectionTruth: {
      file: STILLS_FILES.reflections,
      columns: 'shot, h, k, l (row for row with the .refl), f2 = |F_H|² (e.u.), sigma = σ_H (Å⁻¹), expected = expected Bragg counts of the spot (T·b·a·g·t·K included)',
      note: 'a still records a slice of the lattice point: Σ_spot counts ≈ T·b·a·g·t·K · (|F_H|²/V_c) · P / (√(2π) σ_H · A_pix), A_pix the pixel’s area in reciprocal space (Å⁻²)',
    },
    panel,
    shots: shots.length,
    reflections,
    crystal: { unitCell: spec.base.crystal.unitCell, spaceGroup: spec.base.crystal.spaceGroup, B: stillsB(spec), orientation: 'U_i uniform on SO(3) from (seed, shot); A_i = U_i·B is the crystal of experiment i' },
    spotModel: {
      kind: 'sauter',
      ...spec.spot,
      formula: 'lattice point: isotropic 3D Gaussian, σ = R/2.6, R = 1/domainSizeA + |q|·halfMosaicity (rad)',
      partiality: 'gaussian: P = exp(−ε²/(2σ²)), ε = |s0 + A·H| − |s0| (src/stills/partiality.ts)',
      listed: `spots with |ε| ≤ ${LISTED_SIGMAS}σ whose 3 × 3 bbox lies on the panel, clear of gaps`,
    },
    pOrder: { column: 'pulse_energy', unit: 'mJ', formula: 'p_i = mean · (1 + amplitude · sin(2π (i + ½)/periodShots + phase) + spread · (u_i − ½))', ...spec.pulse },
    scale: { formula: 'b_i = (p_i/mean)^exponent · (1 + jitter · z_i), z_i ~ N(0, 1)', ...spec.scale },
    diffuse: {
      formula: 'C(s)(1 − β(s)) · M(h) electron units per cell, M = 1 + m_h cos πh + m_k cos πk + m_l cos πl (src/sim/physics.ts, electron-units.ts)',
      modulation: spec.base.model.diffuse.modulation,
      wilsonB: spec.base.model.bragg.wilsonB,
    },
    counts: 'E = T · b_i · a·g·t · K · [diffuse + Compton + Bragg density], Poisson; gaps −1',
    electronUnits: eu === undefined ? null : { photonsPerEu: eu.photonsPerEu, composition: eu.composition, sensorMu: eu.sensorMu },
    exposure: spec.base.scan.exposure,
    shotTruth: shots,
    spec,
  };
}
