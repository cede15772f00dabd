/**
 * CrystFEL stream → stills shots in diffract's (DIALS) conventions.
 *
 * CrystFEL's lab frame has +z along the beam (away from the source) and +y up;
 * DIALS has the beam travelling along −z (`direction`, sample → source, is +z) and
 * +y up. Both are right-handed, so the map is the half-turn about y:
 *
 *     M = diag(−1, 1, −1):   (x, y, z)_DIALS = (−x, y, −z)_CrystFEL
 *
 * applied to every lab vector, and the units change from m / nm⁻¹ / pixels to
 * mm / Å⁻¹:
 *
 * - beam: λ (Å) = hc / E = 12398.419843 / photon_energy_eV (the chunk's value,
 *   else the geometry's), direction (0, 0, 1);
 * - panel p (pixel size 1/res m): a point (fs, ss) of the panel (0 at the corner
 *   of its first pixel) is at, in CrystFEL pixels,
 *       (corner_x + fs·fs_x + ss·ss_x,  corner_y + fs·fs_y + ss·ss_y,
 *        (clen + coffset)·res + fs·fs_z + ss·ss_z)
 *   so origin_mm = M·(corner_x/res, corner_y/res, clen + coffset)·1000,
 *   fast = M·unit(fs), slow = M·unit(ss), pixel size = |fs|·1000/res, |ss|·1000/res
 *   mm, image size (max_fs − min_fs + 1, max_ss − min_ss + 1). A crystal's
 *   `predict_refine/det_shift x, y` (mm) moves the detector by (x, y) in the CrystFEL
 *   frame for that crystal's shot (CrystFEL predicts the listed positions with the
 *   shifted detector);
 * - crystal: A = [a* b* c*] with a*_DIALS = M·astar / 10 (nm⁻¹ → Å⁻¹);
 * - positions: a listed `fs/px ss/px` in data-array coordinates becomes the panel
 *   pixel coordinate (fs − min_fs, ss − min_ss), pixel corners at integers in both
 *   programs;
 * - spot model: `profile_radius` / 10 Å⁻¹.
 *
 * CrystFEL's excitation error (`exerr` = 1/λ − |r + s0|) is −ε of predict.ts.
 * The space group is not in the stream (only lattice type and centering), so every
 * crystal gets P 1; the cell comes from A.
 */
import { InvalidValueError, MissingFieldError } from '../errors.ts';
import { inverse, norm } from '../geometry/linalg.ts';
import type { Beam, Crystal, Detector, Experiment, Mat3, Panel, Vec3 } from '../geometry/model.ts';
import { unitCellFromRealSpace } from '../geometry/setting.ts';
import { readCrystfelStream, type CrystfelGeometry, type CrystfelStream, type StreamChunk, type StreamCrystal, type Xyz } from '../io/crystfel-stream.ts';
import { allocateStillReflections, type StillShot, type StillsDataset } from './model.ts';

/** hc in eV·Å. */
export const HC_EV_A = 12398.419843320026;

/** CrystFEL lab vector → DIALS lab vector (half-turn about y). */
export function crystfelToDials(v: Xyz): Vec3 {
  return [-v[0], v[1], -v[2]];
}

function chunkWhere(stream: CrystfelStream, chunk: StreamChunk, field: string): { file: string; field: string } {
  return { file: stream.source, field: `chunk ${chunk.index} (line ${chunk.line}) ${field}` };
}

/** The beam of one chunk. */
export function crystfelBeam(stream: CrystfelStream, chunk: StreamChunk): Beam {
  const e = chunk.photonEnergyEv ?? (typeof stream.geometry?.photonEnergy === 'number' ? stream.geometry.photonEnergy : undefined);
  if (e === undefined) throw new MissingFieldError('no photon energy (neither photon_energy_eV in the chunk nor a number in the geometry)', chunkWhere(stream, chunk, 'photon_energy_eV'));
  if (!(e > 0)) throw new InvalidValueError(`photon energy ${e} eV is not positive`, chunkWhere(stream, chunk, 'photon_energy_eV'));
  return { wavelength: HC_EV_A / e, direction: [0, 0, 1], polarizationNormal: [0, 1, 0], polarizationFraction: 0.999 };
}

/** The detector for one chunk (camera length from the chunk where the geometry names an HDF5 field), shifted by `shiftMm` (CrystFEL x, y). */
export function crystfelDetector(stream: CrystfelStream, chunk: StreamChunk, shiftMm: readonly [number, number] = [0, 0]): Detector {
  const geometry: CrystfelGeometry | undefined = stream.geometry;
  if (geometry === undefined || geometry.panels.length === 0) throw new MissingFieldError('the stream has no geometry section with panels', { file: stream.source, field: 'geometry' });
  const panels = geometry.panels.map((p): Panel => {
    let clen: number;
    if (typeof p.clen === 'number') clen = p.clen;
    else if (chunk.averageCameraLength !== undefined) clen = chunk.averageCameraLength;
    else throw new MissingFieldError(`panel '${p.name}' takes clen from '${p.clen}', and the chunk has no average_camera_length`, chunkWhere(stream, chunk, 'average_camera_length'));
    const fsLen = norm(p.fs);
    const ssLen = norm(p.ss);
    if (!(fsLen > 0 && ssLen > 0)) throw new InvalidValueError(`panel '${p.name}' has a zero fs or ss vector`, { file: stream.source, field: `${p.name}/fs` });
    const mmPerPx = 1000 / p.res;
    const originCf: Xyz = [p.cornerX * mmPerPx + shiftMm[0], p.cornerY * mmPerPx + shiftMm[1], (clen + p.coffset) * 1000];
    const unit = (v: Xyz, n: number): Xyz => [v[0] / n, v[1] / n, v[2] / n];
    return {
      name: p.name,
      type: '',
      origin: crystfelToDials(originCf),
      fastAxis: crystfelToDials(unit(p.fs, fsLen)),
      slowAxis: crystfelToDials(unit(p.ss, ssLen)),
      pixelSize: [fsLen * mmPerPx, ssLen * mmPerPx],
      imageSize: [p.maxFs - p.minFs + 1, p.maxSs - p.minSs + 1],
      trustedRange: [-1, Number(geometry.globals.get('max_adu') ?? 'NaN') || 1e9],
      thickness: 0,
      material: '',
      mu: 0,
      pxMmStrategy: 'simple',
      mask: [],
      gain: 1,
      pedestal: 0,
      identifier: '',
    };
  });
  return { panels };
}

/** The crystal (A in DIALS frame, Å⁻¹); the space group is unknown to the stream, so P 1. */
export function crystfelCrystal(crystal: StreamCrystal): Crystal {
  const a = crystfelToDials(crystal.astar);
  const b = crystfelToDials(crystal.bstar);
  const c = crystfelToDials(crystal.cstar);
  const A: Mat3 = [a[0] / 10, b[0] / 10, c[0] / 10, a[1] / 10, b[1] / 10, c[1] / 10, a[2] / 10, b[2] / 10, c[2] / 10];
  const real = inverse(A); // rows are the real-space axes
  return {
    A,
    unitCell: unitCellFromRealSpace([real[0], real[1], real[2]], [real[3], real[4], real[5]], [real[6], real[7], real[8]]),
    spaceGroupHall: ' P 1',
  };
}

/** Parsed stream → shots (one per crystal) and their reflections. */
export function stillsFromStream(stream: CrystfelStream): StillsDataset {
  const shots: StillShot[] = [];
  let nrows = 0;
  for (const chunk of stream.chunks) for (const cr of chunk.crystals) nrows += cr.reflections.h.length;
  const out = allocateStillReflections(nrows);
  const panels = stream.geometry?.panels ?? [];
  let row = 0;
  for (const chunk of stream.chunks) {
    if (chunk.crystals.length === 0) continue;
    const beam = crystfelBeam(stream, chunk);
    const eventMatch = /\/\/(\d+)\s*$/.exec(chunk.event);
    chunk.crystals.forEach((cr, j) => {
      const experiment: Experiment = { identifier: `chunk ${chunk.index} crystal ${j}`, beam, detector: crystfelDetector(stream, chunk, cr.detShift), crystal: crystfelCrystal(cr) };
      const index = shots.length;
      shots.push({
        index,
        identifier: experiment.identifier,
        experiment,
        image: chunk.filename === '' ? undefined : { path: chunk.filename, index: eventMatch === null ? 0 : Number(eventMatch[1]), event: chunk.event },
        rayMethod: 'direct',
        spotModel: cr.profileRadius > 0 ? { kind: 'radius', radius: cr.profileRadius / 10 } : { kind: 'none' },
        chunk: chunk.index,
        beamSpread: { divergence: chunk.beamDivergence, bandwidth: chunk.beamBandwidth },
      });
      const R = cr.reflections;
      for (let r = 0; r < R.h.length; r++, row++) {
        const p = R.panel[r] as number;
        const panel = panels[p];
        out.shot[row] = index;
        out.h[row] = R.h[r] as number;
        out.k[row] = R.k[r] as number;
        out.l[row] = R.l[r] as number;
        out.panel[row] = p;
        out.xyzCal[2 * row] = (R.fs[r] as number) - (panel?.minFs ?? 0);
        out.xyzCal[2 * row + 1] = (R.ss[r] as number) - (panel?.minSs ?? 0);
        out.intensitySum[row] = R.intensity[r] as number;
        out.intensitySumVariance[row] = (R.sigma[r] as number) ** 2;
      }
    });
  }
  return { source: stream.source, format: 'crystfel', shots, reflections: out };
}

/** Reads a CrystFEL stream into shots and reflections. */
export async function readCrystfelStills(path: string): Promise<StillsDataset> {
  return stillsFromStream(await readCrystfelStream(path));
}
