/**
 * DIALS stills import (issue 15) on real data:
 * - ssx-cunir (5 stills integrated by dials.ssx_integrate, ellipsoid profile, with
 *   partialities): every reflection's position predicted from the shot's own A,
 *   beam, detector and profile lies within 1.5 px of DIALS's `xyzcal.px`, and the
 *   partialities are read;
 * - snase/stills.expt: 10 SMV shots, one crystal and one image each, no scan;
 * - a .refl whose ids do not match the experiments is refused in one line naming
 *   the file and the id.
 */
import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { DiffractError, InvalidValueError } from '../../src/errors.ts';
import { parseExperimentList } from '../../src/geometry/expt.ts';
import { readReflectionTable } from '../../src/io/dials-refl.ts';
import { readDialsStills, stillReflectionsFromTable, stillsFromExperimentList } from '../../src/stills/dials.ts';
import { StillPredictor } from '../../src/stills/predict.ts';
import { sharedData } from '../helpers/paths.ts';

const CUNIR_EXPT = (): string => sharedData('stills', 'ssx-cunir', 'integrated.expt');
const CUNIR_REFL = (): string => sharedData('stills', 'ssx-cunir', 'integrated.refl');

describe('ssx-cunir DIALS stills', () => {
  it('reads 5 shots with their own crystals, spot models and images, and 5203 reflections with partialities', async () => {
    const d = await readDialsStills(CUNIR_EXPT(), CUNIR_REFL());
    expect(d.shots).toHaveLength(5);
    const crystals = new Set(d.shots.map((s) => s.experiment.crystal));
    expect(crystals.size).toBe(5);
    for (const s of d.shots) {
      expect(s.experiment.scan).toBeUndefined();
      expect(s.experiment.goniometer).toBeUndefined();
      expect(s.spotModel.kind).toBe('sauter');
      expect(s.rayMethod).toBe('ellipsoid');
      expect(s.image?.path).toMatch(/cunir_serial\/merlin0047_1700\d\.cbf$/);
      expect(s.experiment.profile?.parameterisation).toBe('angular4');
      // cubic CuNiR, a ≈ 97 Å
      expect(s.experiment.crystal?.unitCell.a).toBeGreaterThan(95);
      expect(s.experiment.crystal?.unitCell.a).toBeLessThan(99);
    }
    expect(d.shots[0]?.spotModel).toEqual({ kind: 'sauter', domainSizeA: 10228.023127344168, halfMosaicityDeg: 0.04057373200215286 });
    const R = d.reflections;
    expect(R.n).toBe(5203);
    expect(R.hasPartiality).toBe(true);
    // first row as written by DIALS
    expect([R.h[0], R.k[0], R.l[0]]).toEqual([-45, -37, 16]);
    expect(R.partiality[0]).toBeCloseTo(0.9804494413727118, 14);
    expect(Array.from(R.bbox.subarray(0, 4))).toEqual([33, 56, -5, 17]);
    expect(R.intensitySum[0]).toBeCloseTo(-1.1484184265136719, 12);
    expect(R.xyzObs[0]).toBeCloseTo(44.174253454763445, 12);
    let below = 0;
    for (let r = 0; r < R.n; r++) {
      const p = R.partiality[r] as number;
      expect(p).toBeGreaterThan(0);
      expect(p).toBeLessThanOrEqual(1);
      if (p < 0.3) below++;
    }
    // a real spread, not a constant
    expect(below).toBeGreaterThan(500);
    expect(below).toBeLessThan(R.n - 500);
    // the shot column covers every experiment
    expect(new Set(R.shot)).toEqual(new Set([0, 1, 2, 3, 4]));
  });

  it('predicts every reflection within 1.5 px of xyzcal.px (ellipsoid rays); the Ewald-rotation rays alone do not', async () => {
    const d = await readDialsStills(CUNIR_EXPT(), CUNIR_REFL());
    const R = d.reflections;
    const own = d.shots.map((s) => new StillPredictor(s.experiment, s.rayMethod));
    const ewald = d.shots.map((s) => new StillPredictor(s.experiment, 'ewald'));
    let worst = 0;
    let worstEwald = 0;
    let onPanels = 0;
    for (let r = 0; r < R.n; r++) {
      const [h, k, l, shot, panel] = [R.h[r] as number, R.k[r] as number, R.l[r] as number, R.shot[r] as number, R.panel[r] as number];
      const P = own[shot] as StillPredictor;
      const ray = P.ray(h, k, l);
      expect(ray).toBeDefined();
      const at = P.onPanel(ray as [number, number, number], panel);
      expect(at).toBeDefined();
      if (at === undefined) continue;
      worst = Math.max(worst, Math.hypot(at.x - (R.xyzCal[2 * r] as number), at.y - (R.xyzCal[2 * r + 1] as number)));
      if (P.predict(h, k, l) !== undefined) onPanels++;
      const E = ewald[shot] as StillPredictor;
      const e = E.onPanel(E.ray(h, k, l) as [number, number, number], panel);
      if (e !== undefined) worstEwald = Math.max(worstEwald, Math.hypot(e.x - (R.xyzCal[2 * r] as number), e.y - (R.xyzCal[2 * r + 1] as number)));
    }
    console.log(`[ssx-cunir] ${R.n} reflections: worst |pred − xyzcal.px| = ${worst.toExponential(2)} px (ellipsoid), ${worstEwald.toFixed(2)} px (Ewald rotation); ${R.n - onPanels} predicted just off the panel edge`);
    expect(worst).toBeLessThan(1.5);
    // this agreement is not a tautology: the plain stills rotation misses by more
    expect(worstEwald).toBeGreaterThan(1.5);
    // DIALS keeps predictions that fall just off the panel; a handful of them
    expect(R.n - onPanels).toBeLessThan(100);
  });

  it('refuses a .refl whose ids do not belong to the experiments, in one line naming the file and the id', async () => {
    const list = parseExperimentList(JSON.parse(await readFile(CUNIR_EXPT(), 'utf8')), CUNIR_EXPT());
    const shots = stillsFromExperimentList(list, '/');
    const table = await readReflectionTable(CUNIR_REFL());
    // too few experiments for the ids in the table
    const fewer = shots.slice(0, 3);
    const a = (() => {
      try {
        stillReflectionsFromTable(table, fewer);
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(a).toBeInstanceOf(InvalidValueError);
    const msg = (a as DiffractError).message;
    expect(msg).not.toContain('\n');
    expect(msg).toContain('integrated.refl');
    expect(msg).toMatch(/id 3 but the experiment list has 3 experiments/);
    // identifiers that name other experiments
    const swapped = { ...table, identifiers: new Map([...table.identifiers].map(([k, v]) => [k, `${v}-other`])) };
    expect(() => stillReflectionsFromTable(swapped, shots)).toThrow(/integrated\.refl, field 'id': id 0 is experiment '2c2f20d9-7012-4f15-8065-c7f1dadeacec-other' here/);
  });
});

describe('snase stills.expt', () => {
  it('reads 10 shots, one crystal and one SMV image each, images relative to the .expt', async () => {
    const d = await readDialsStills(sharedData('snase', 'stills.expt'));
    expect(d.shots).toHaveLength(10);
    expect(d.reflections.n).toBe(0);
    d.shots.forEach((s, i) => {
      expect(s.identifier).toBe(`snase-still-${String(i + 1).padStart(2, '0')}`);
      expect(s.image?.path).toBe(sharedData('snase', 'images', `snc_newhead_${String(i + 1).padStart(5, '0')}.img`));
      expect(s.image?.index).toBe(0);
      expect(s.spotModel.kind).toBe('none');
      expect(s.rayMethod).toBe('ewald');
    });
    // each shot's crystal is the same cell in another orientation
    const A0 = d.shots[0]?.experiment.crystal?.A;
    const A1 = d.shots[1]?.experiment.crystal?.A;
    expect(A0).toBeDefined();
    expect(A1).not.toEqual(A0);
    expect(d.shots[1]?.experiment.crystal?.unitCell.a).toBeCloseTo(d.shots[0]?.experiment.crystal?.unitCell.a ?? 0, 6);
  });

  it('takes the image index of a multi-image file from single_file_indices, and refuses a rotation scan', () => {
    const base = {
      beam: [{ direction: [0, 0, 1], wavelength: 1 }],
      detector: [{ panels: [{ fast_axis: [1, 0, 0], slow_axis: [0, -1, 0], origin: [-10, 10, -100], pixel_size: [0.1, 0.1], image_size: [200, 200], trusted_range: [0, 1e6] }] }],
      crystal: [{ real_space_a: [50, 0, 0], real_space_b: [0, 60, 0], real_space_c: [0, 0, 70], space_group_hall_symbol: ' P 1' }],
    };
    const list = parseExperimentList(
      {
        ...base,
        imageset: [{ __id__: 'ImageSet', images: ['run.h5'], single_file_indices: [41] }],
        experiment: [{ beam: 0, detector: 0, crystal: 0, imageset: 0, identifier: 'x' }],
      },
      'mem.expt',
    );
    expect(stillsFromExperimentList(list, '/data')[0]?.image).toEqual({ path: '/data/run.h5', index: 41, event: '' });
    const rotation = parseExperimentList(
      {
        ...base,
        scan: [{ image_range: [1, 10], oscillation: [0, 0.1] }],
        goniometer: [{ rotation_axis: [1, 0, 0] }],
        experiment: [{ beam: 0, detector: 0, crystal: 0, scan: 0, goniometer: 0 }],
      },
      'rot.expt',
    );
    expect(() => stillsFromExperimentList(rotation, '/')).toThrow(/rot\.expt, field 'experiment\[0\]\.scan': has a scan of 10 images/);
  });
});
