/** DIALS ExperimentList writer: round trips through parseExperimentList, and the DIALS field layout. */
import { describe, expect, it } from 'vitest';
import { formatExperimentList } from '../../src/geometry/expt-write.ts';
import { parseExperimentList, readExperimentList } from '../../src/geometry/expt.ts';
import type { Experiment, ExperimentList, Mat3 } from '../../src/geometry/model.ts';
import { hklMatrixAt } from '../../src/geometry/setting.ts';
import { buildExperiment, smallSpec } from '../../src/sim/spec.ts';
import { sharedData } from '../helpers/paths.ts';

function expectClose(actual: readonly number[], expected: readonly number[], tol: number): void {
  expect(actual).toHaveLength(expected.length);
  actual.forEach((v, i) => expect(Math.abs(v - (expected[i] as number))).toBeLessThanOrEqual(tol));
}

/** Deep equality with numbers compared to `tol` (absolute). */
function expectDeepClose(actual: unknown, expected: unknown, tol: number, path = ''): void {
  if (typeof expected === 'number') {
    expect(typeof actual, path).toBe('number');
    expect(Math.abs((actual as number) - expected), path).toBeLessThanOrEqual(tol);
    return;
  }
  if (expected !== null && typeof expected === 'object') {
    expect(actual !== null && typeof actual === 'object', path).toBe(true);
    const keys = Object.keys(expected as object);
    expect(Object.keys(actual as object).sort(), path).toEqual([...keys].sort());
    for (const k of keys) expectDeepClose((actual as Record<string, unknown>)[k], (expected as Record<string, unknown>)[k], tol, `${path}.${k}`);
    return;
  }
  expect(actual, path).toEqual(expected);
}

/** Every model field of `b` equals `a` (exactly, except A and oscillation width: rounding of an inversion / a difference). */
function expectSameExperiment(a: Experiment, b: Experiment): void {
  expect(b.identifier).toBe(a.identifier);
  // unit vectors are normalised again by the reader: equal to the last bits
  expectDeepClose(b.beam, a.beam, 1e-15, 'beam');
  expectDeepClose(b.detector, a.detector, 1e-12, 'detector');
  expectDeepClose(b.goniometer, a.goniometer, 1e-15, 'goniometer');
  expect(b.imageset).toEqual(a.imageset);
  const sa = a.scan;
  const sb = b.scan;
  expect(sb === undefined).toBe(sa === undefined);
  if (sa !== undefined && sb !== undefined) {
    expect(sb.imageRange).toEqual(sa.imageRange);
    expect(sb.batchOffset).toBe(sa.batchOffset);
    expect(sb.exposureTimes).toEqual(sa.exposureTimes);
    expect(sb.epochs).toEqual(sa.epochs);
    expect(sb.oscillation[0]).toBe(sa.oscillation[0]);
    expect(sb.oscillation[1]).toBeCloseTo(sa.oscillation[1], 12);
  }
  const ca = a.crystal;
  const cb = b.crystal;
  expect(cb === undefined).toBe(ca === undefined);
  if (ca !== undefined && cb !== undefined) {
    expect(cb.spaceGroupHall).toBe(ca.spaceGroupHall);
    const scale = Math.max(...ca.A.map(Math.abs));
    expectClose(cb.A, ca.A, 1e-13 * scale);
    for (const k of ['a', 'b', 'c', 'alpha', 'beta', 'gamma'] as const) expect(cb.unitCell[k]).toBeCloseTo(ca.unitCell[k], 9);
    expect(cb.AAtScanPoints?.length).toBe(ca.AAtScanPoints?.length);
  }
}

describe('formatExperimentList', () => {
  it('round-trips the simulated experiment through parseExperimentList', () => {
    const exp = buildExperiment(smallSpec(11));
    const text = formatExperimentList({ source: 'sim.expt', experiments: [exp] });
    const back = parseExperimentList(JSON.parse(text), 'sim.expt');
    expect(back.experiments).toHaveLength(1);
    expectSameExperiment(exp, back.experiments[0]!);
    // the hkl mapping from the file equals the one from the model
    const m0 = hklMatrixAt(exp, 17.5);
    const m1 = hklMatrixAt(back.experiments[0]!, 17.5);
    expectClose(m1, m0, 1e-9);
  });

  it('writes the dxtbx layout: model lists, index references, typed numbers', () => {
    const exp = buildExperiment(smallSpec(2));
    const text = formatExperimentList({ source: 'x', experiments: [exp] });
    const d = JSON.parse(text) as Record<string, unknown>;
    expect(d.__id__).toBe('ExperimentList');
    for (const k of ['experiment', 'imageset', 'beam', 'detector', 'goniometer', 'scan', 'crystal', 'profile', 'scaling_model']) {
      expect(Array.isArray(d[k])).toBe(true);
    }
    const e = (d.experiment as Record<string, unknown>[])[0]!;
    expect(e).toMatchObject({ __id__: 'Experiment', beam: 0, detector: 0, goniometer: 0, scan: 0, crystal: 0, imageset: 0 });
    expect((d.imageset as Record<string, unknown>[])[0]).toMatchObject({ __id__: 'ImageSequence', template: 'sim_#####.cbf' });
    const crystal = (d.crystal as Record<string, unknown>[])[0]!;
    expect(Object.keys(crystal)).toEqual(['__id__', 'real_space_a', 'real_space_b', 'real_space_c', 'space_group_hall_symbol']);
    expect(crystal.space_group_hall_symbol).toBe(' P 2 2');
    const panel = ((d.detector as Record<string, unknown>[])[0]!.panels as Record<string, unknown>[])[0]!;
    for (const k of ['name', 'type', 'fast_axis', 'slow_axis', 'origin', 'raw_image_offset', 'image_size', 'pixel_size', 'trusted_range', 'thickness', 'material', 'mu', 'identifier', 'mask', 'gain', 'pedestal', 'px_mm_strategy']) {
      expect(panel).toHaveProperty(k);
    }
    expect(panel.mask).toEqual([
      [195, 0, 202, 397],
      [0, 121, 397, 138],
      [0, 259, 397, 276],
    ]);
    expect(Object.keys((d.goniometer as Record<string, unknown>[])[0]!)).toEqual(['rotation_axis', 'fixed_rotation', 'setting_rotation']);
    // dxtbx types the scan properties by the first value: floats must be written as floats
    expect(text).toMatch(/"oscillation": \[0\.0, 0\.5, /);
    expect(text).toMatch(/"epochs": \[0\.0, /);
    expect(text).toMatch(/"image_range": \[1, 40\]/);
    expect(text).toMatch(/"image_size": \[397, 397\]/);
    expect(text).toMatch(/"direction": \[0\.0, 0\.0, 1\.0\]/);
  });

  it('round-trips a real DIALS file (multi-axis goniometer, parallax, mask)', async () => {
    const original = await readExperimentList(sharedData('l-cysteine', '11_integrated.expt'));
    const text = formatExperimentList(original);
    const back = parseExperimentList(JSON.parse(text), 'rewritten.expt');
    expect(back.experiments).toHaveLength(original.experiments.length);
    original.experiments.forEach((e, i) => expectSameExperiment(e, back.experiments[i]!));
  });

  it('writes shared models once and scan-varying models', () => {
    const exp = buildExperiment(smallSpec(3));
    const A = exp.crystal!.A;
    const n = exp.scan!.imageRange[1] + 1;
    const crystal = { ...exp.crystal!, AAtScanPoints: Array.from({ length: n }, () => A) as Mat3[] };
    const second: Experiment = { ...exp, identifier: 'second', crystal };
    const list: ExperimentList = { source: 'two', experiments: [exp, second] };
    const d = JSON.parse(formatExperimentList(list)) as Record<string, unknown[]>;
    expect(d.beam).toHaveLength(1);
    expect(d.detector).toHaveLength(1);
    expect(d.crystal).toHaveLength(2);
    const back = parseExperimentList(d, 'two');
    expect(back.experiments[1]!.crystal!.AAtScanPoints).toHaveLength(n);
    expect(back.experiments[0]!.beam).toBe(back.experiments[1]!.beam);
  });

  it('refuses non-finite numbers', () => {
    const exp = buildExperiment(smallSpec(4));
    const bad: Experiment = { ...exp, beam: { ...exp.beam, wavelength: Number.NaN } };
    expect(() => formatExperimentList({ source: 'bad', experiments: [bad] })).toThrow(/non-finite/);
  });
});
