/**
 * CrystFEL stream import (issue 15) on ../shared/data/stills/crystfel/crystfel.stream
 * (CrystFEL 0.9, PAL-XFEL lysozyme, 3 indexed chunks):
 * - geometry, chunks, crystals, cells and reflection lists are read;
 * - the frame conversion (docs/stills.md) is proved: every listed reflection's
 *   position predicted from the converted A, beam and detector lands within 1 px of
 *   its `fs/px ss/px`;
 * - several crystals per chunk; a crystal without a cell is one line naming the
 *   file and the chunk.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DiffractError, MissingFieldError } from '../../src/errors.ts';
import { parseCrystfelStream } from '../../src/io/crystfel-stream.ts';
import { crystfelToDials, stillsFromStream } from '../../src/stills/crystfel.ts';
import type { StillsDataset } from '../../src/stills/model.ts';
import { StillPredictor, type StillsRayMethod } from '../../src/stills/predict.ts';
import { sharedData } from '../helpers/paths.ts';

const STREAM = (): string => sharedData('stills', 'crystfel', 'crystfel.stream');
const text = (): string => readFileSync(STREAM(), 'utf8');

/** Worst and per-shot mean distance between predicted and listed positions (px). */
function residuals(d: StillsDataset, method: StillsRayMethod): { worst: number; perShot: number[] } {
  const R = d.reflections;
  const preds = d.shots.map((s) => new StillPredictor(s.experiment, method));
  let worst = 0;
  const sum = d.shots.map(() => 0);
  const cnt = d.shots.map(() => 0);
  for (let r = 0; r < R.n; r++) {
    const shot = R.shot[r] as number;
    const P = preds[shot] as StillPredictor;
    const ray = P.ray(R.h[r] as number, R.k[r] as number, R.l[r] as number);
    const at = ray === undefined ? undefined : P.onPanel(ray, R.panel[r] as number);
    if (at === undefined) return { worst: Number.POSITIVE_INFINITY, perShot: [] };
    const dist = Math.hypot(at.x - (R.xyzCal[2 * r] as number), at.y - (R.xyzCal[2 * r + 1] as number));
    worst = Math.max(worst, dist);
    sum[shot] = (sum[shot] as number) + dist;
    cnt[shot] = (cnt[shot] as number) + 1;
  }
  return { worst, perShot: sum.map((s, i) => s / (cnt[i] as number)) };
}

describe('CrystFEL stream reader', () => {
  it('reads the geometry, the target cell, 3 chunks with one crystal each and their reflections', () => {
    const s = parseCrystfelStream(text(), STREAM());
    expect(s.formatVersion).toBe('2.3');
    expect(s.geometry?.panels).toHaveLength(1);
    const p = s.geometry?.panels[0];
    expect(p).toMatchObject({ name: 'p0', minFs: 0, maxFs: 1439, minSs: 0, maxSs: 1439, res: 6400, clen: 0.149, coffset: 0, cornerX: 719.4050194998815, cornerY: 719.6603455939023 });
    expect(p?.fs).toEqual([-0.000009, -0.999996, -0.00252]);
    expect(p?.ss).toEqual([-0.999999, 0.000005, 0.001402]);
    expect(s.geometry?.photonEnergy).toBe(9700);
    expect(s.targetCell).toEqual({ a: 79.2, b: 79.2, c: 38, alpha: 90, beta: 90, gamma: 90 });
    expect(s.chunks).toHaveLength(3);
    expect(s.chunks.map((c) => c.crystals.length)).toEqual([1, 1, 1]);
    expect(s.chunks.map((c) => c.serial)).toEqual([1, 2, 3]);
    expect(s.chunks.map((c) => c.numPeaks)).toEqual([25, 29, 53]);
    expect(s.chunks[0]?.filename).toMatch(/PAL_2019_Apr01_r0000_062014_e88\.h5$/);
    expect(s.chunks[0]?.photonEnergyEv).toBe(9700);
    expect(s.chunks[0]?.beamBandwidth).toBe(1e-8);
    const c0 = s.chunks[0]?.crystals[0];
    expect(c0?.astar).toEqual([0.0279588, -0.1224762, -0.0092915]);
    expect(c0?.cstar).toEqual([0.2234144, 0.0408826, 0.1252721]);
    expect(c0?.profileRadius).toBe(0.00355);
    expect(c0?.detShift).toEqual([0.01, -0.032]);
    expect(c0?.cell?.a).toBeCloseTo(79.385, 10);
    expect(s.chunks.map((c) => c.crystals[0]?.reflections.h.length)).toEqual([263, 102, 253]);
    const R = c0?.reflections;
    expect([R?.h[0], R?.k[0], R?.l[0], R?.intensity[0], R?.sigma[0], R?.peak[0], R?.background[0], R?.fs[0], R?.ss[0], R?.panel[0]]).toEqual([-37, 11, -7, -15.11, 20.15, 14, 7.51, 17.5, 1025.9, 0]);
  });

  it('converts to shots whose cells match the stream and whose predictions land within 1 px of fs/ss', () => {
    const s = parseCrystfelStream(text(), STREAM());
    const d = stillsFromStream(s);
    expect(d.shots).toHaveLength(3);
    expect(d.reflections.n).toBe(618);
    d.shots.forEach((shot, i) => {
      const cell = s.chunks[i]?.crystals[0]?.cell;
      const uc = shot.experiment.crystal?.unitCell;
      // the cell recomputed from the converted A is the stream's (printed to 5 decimals in nm)
      expect(Math.abs((uc?.a ?? 0) - (cell?.a ?? 0))).toBeLessThan(0.01);
      expect(Math.abs((uc?.c ?? 0) - (cell?.c ?? 0))).toBeLessThan(0.01);
      expect(Math.abs((uc?.gamma ?? 0) - (cell?.gamma ?? 0))).toBeLessThan(0.01);
      expect(shot.experiment.beam.wavelength).toBeCloseTo(12398.419843320026 / 9700, 12);
      expect(shot.spotModel).toEqual({ kind: 'radius', radius: (s.chunks[i]?.crystals[0]?.profileRadius ?? 0) / 10 });
      expect(shot.rayMethod).toBe('direct');
      // the chunk's beam spread, for the Bragg mask's extent
      expect(shot.beamSpread).toEqual({ divergence: 0, bandwidth: 1e-8 });
    });
    const direct = residuals(d, 'direct');
    const ewald = residuals(d, 'ewald');
    console.log(`[crystfel] ${d.reflections.n} reflections: worst |pred − fs/ss| ${direct.worst.toFixed(3)} px (CrystFEL rays), ${ewald.worst.toFixed(3)} px (Ewald rotation); mean per crystal ${direct.perShot.map((v) => v.toFixed(3)).join(', ')} px`);
    expect(direct.worst).toBeLessThan(1);
    expect(ewald.worst).toBeLessThan(1);
    // the first two crystals agree to the stream's 0.1 px print precision
    expect(direct.perShot[0]).toBeLessThan(0.06);
    expect(direct.perShot[1]).toBeLessThan(0.06);
  });

  it('is not a tautology: a wrong frame map (no half-turn) or ignoring det_shift misses', () => {
    const s = parseCrystfelStream(text(), STREAM());
    expect(crystfelToDials([1, 2, 3])).toEqual([-1, 2, -3]);
    // astar taken as if CrystFEL's frame were DIALS's: x and z flipped
    for (const c of s.chunks) for (const cr of c.crystals) cr.astar = [-cr.astar[0], cr.astar[1], -cr.astar[2]];
    expect(residuals(stillsFromStream(s), 'direct').worst).toBeGreaterThan(20);
    const t = parseCrystfelStream(text(), STREAM());
    for (const c of t.chunks) for (const cr of c.crystals) cr.detShift = [0, 0];
    const noShift = residuals(stillsFromStream(t), 'direct');
    expect(noShift.perShot[0]).toBeGreaterThan(0.15);
  });

  it('reads several crystals in one chunk as separate shots sharing the image', () => {
    const lines = text().split('\n');
    const begin = lines.indexOf('--- Begin crystal');
    const end = lines.indexOf('--- End crystal');
    const twice = [...lines.slice(0, end + 1), ...lines.slice(begin, end + 1), ...lines.slice(end + 1)].join('\n');
    const s = parseCrystfelStream(twice, 'two-crystals.stream');
    expect(s.chunks.map((c) => c.crystals.length)).toEqual([2, 1, 1]);
    const d = stillsFromStream(s);
    expect(d.shots.map((x) => x.chunk)).toEqual([0, 0, 1, 2]);
    expect(d.shots[0]?.image).toEqual(d.shots[1]?.image);
    expect(d.shots.map((x) => x.identifier)).toEqual(['chunk 0 crystal 0', 'chunk 0 crystal 1', 'chunk 1 crystal 0', 'chunk 2 crystal 0']);
    expect(d.reflections.n).toBe(618 + 263);
    expect(residuals(d, 'direct').worst).toBeLessThan(1);
  });

  it('refuses a crystal without a cell, in one line naming the file and the chunk', () => {
    const lines = text().split('\n');
    // drop the astar line of the second chunk's crystal
    const second = lines.findIndex((l, i) => l.startsWith('astar =') && i > lines.indexOf('Image serial number: 2'));
    const broken = [...lines.slice(0, second), ...lines.slice(second + 1)].join('\n');
    let err: unknown;
    try {
      parseCrystfelStream(broken, 'cut.stream');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(MissingFieldError);
    const msg = (err as DiffractError).message;
    expect(msg).not.toContain('\n');
    expect(msg).toMatch(/^cut\.stream, field 'chunk 1 \(line \d+\) crystal': crystal has no cell \(astar missing\)$/);
  });

  it('reads multi-panel geometry with global defaults, panel offsets and events', () => {
    const stream = [
      'CrystFEL stream format 2.3',
      '----- Begin geometry file -----',
      'clen = /LCLS/detector_1/EncoderValue',
      'res = 10000',
      'coffset = 0.001',
      'photon_energy = /LCLS/photon_energy_eV',
      'q0/min_fs = 0',
      'q0/max_fs = 9',
      'q0/min_ss = 0',
      'q0/max_ss = 4',
      'q0/fs = +x',
      'q0/ss = -y',
      'q0/corner_x = -5',
      'q0/corner_y = 5',
      'q1/min_fs = 0',
      'q1/max_fs = 9',
      'q1/min_ss = 5',
      'q1/max_ss = 9',
      'q1/fs = -1.0x +0.0y',
      'q1/ss = +1.0y',
      'q1/corner_x = 5',
      'q1/corner_y = -5',
      'q1/res = 5000 ; its own',
      'bad_beamstop/min_x = -1',
      '----- End geometry file -----',
      '----- Begin chunk -----',
      'Image filename: run7.h5',
      'Event: //17',
      'photon_energy_eV = 12398.419843320026',
      'average_camera_length = 0.100000 m',
      '--- Begin crystal',
      'astar = +0.1 +0.0 +0.0 nm^-1',
      'bstar = +0.0 +0.1 +0.0 nm^-1',
      'cstar = +0.0 +0.0 +0.1 nm^-1',
      'profile_radius = 0.002 nm^-1',
      'Reflections measured after indexing',
      '   h    k    l          I   sigma(I)       peak background  fs/px  ss/px panel',
      '   1    0    0      10.00       2.00      5.00       1.00    3.0    7.0 q1',
      'End of reflections',
      '--- End crystal',
      '----- End chunk -----',
      '',
    ].join('\n');
    const s = parseCrystfelStream(stream, 'multi.stream');
    expect(s.geometry?.panels.map((p) => p.name)).toEqual(['q0', 'q1']);
    expect(s.geometry?.panels[0]).toMatchObject({ res: 10000, coffset: 0.001, clen: '/LCLS/detector_1/EncoderValue', fs: [1, 0, 0], ss: [0, -1, 0] });
    expect(s.geometry?.panels[1]).toMatchObject({ res: 5000, fs: [-1, 0, 0], ss: [0, 1, 0], minSs: 5 });
    expect(s.geometry?.photonEnergy).toBe('/LCLS/photon_energy_eV');
    const d = stillsFromStream(s);
    expect(d.shots[0]?.image).toEqual({ path: 'run7.h5', index: 17, event: '//17' });
    expect(d.shots[0]?.experiment.beam.wavelength).toBeCloseTo(1, 12);
    const q1 = d.shots[0]?.experiment.detector.panels[1];
    // clen from the chunk (0.1 m) + coffset 1 mm; corner (5, −5) px at 0.2 mm/px; x and z flipped
    expect(q1?.origin[0]).toBeCloseTo(-1, 12);
    expect(q1?.origin[1]).toBeCloseTo(-1, 12);
    expect(q1?.origin[2]).toBeCloseTo(-101, 12);
    expect(q1?.fastAxis).toEqual([1, 0, -0]);
    expect(q1?.pixelSize).toEqual([0.2, 0.2]);
    expect(q1?.imageSize).toEqual([10, 5]);
    // data-array ss 7 on a panel starting at ss 5 is panel row 2
    expect(d.reflections.panel[0]).toBe(1);
    expect([d.reflections.xyzCal[0], d.reflections.xyzCal[1]]).toEqual([3, 2]);
    expect(d.reflections.intensitySumVariance[0]).toBe(4);
  });
});
