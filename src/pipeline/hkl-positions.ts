/**
 * Fractional hkl at detector positions: the stage behind `diffract hkl` and the
 * checks against DIALS `xyzcal.px`. Each position carries its own scan-frame
 * coordinate z, so each gets its own matrix (hkl-map points mode).
 */
import { InvalidValueError } from '../errors.ts';
import type { Experiment } from '../geometry/model.ts';
import { pointVectors } from '../geometry/pixel-vectors.ts';
import { hklMatrixAt } from '../geometry/setting.ts';
import type { Engine } from '../host/engine.ts';
import { hklMapKernel } from '../kernels/hkl-map.ts';

export interface DetectorPosition {
  /** pixel coordinates, pixel corners at integers */
  x: number;
  y: number;
  /** scan-frame coordinate (DIALS xyzcal.px z); ignored for stills */
  z: number;
  panel: number;
}

/** Columnar result: h, k, l per position. */
export interface HklTable {
  h: Float32Array;
  k: Float32Array;
  l: Float32Array;
}

export async function hklAtPositions(engine: Engine, exp: Experiment, positions: readonly DetectorPosition[]): Promise<HklTable> {
  if (exp.crystal === undefined) throw new InvalidValueError('the experiment has no crystal model (not indexed)', { field: 'crystal' });
  const vectors = pointVectors(exp.detector.panels, exp.beam, positions);
  const matrices = new Float64Array(9 * positions.length);
  positions.forEach((p, i) => matrices.set(hklMatrixAt(exp, p.z), 9 * i));
  const matrixIndex = Uint32Array.from(positions, (_p, i) => i);
  const { hkl } = await engine.run(hklMapKernel, { vectors, matrices, matrixIndex });
  const n = positions.length;
  const table: HklTable = { h: new Float32Array(n), k: new Float32Array(n), l: new Float32Array(n) };
  for (let i = 0; i < n; i++) {
    table.h[i] = hkl[3 * i] as number;
    table.k[i] = hkl[3 * i + 1] as number;
    table.l[i] = hkl[3 * i + 2] as number;
  }
  return table;
}
