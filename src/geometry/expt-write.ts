/**
 * DIALS ExperimentList (`.expt`) writer: the inverse of `expt.ts`.
 *
 * The layout is the one dxtbx `ExperimentList.to_dict()` writes: a root object
 * `{"__id__": "ExperimentList", "experiment": [...], "imageset": [...],
 * "beam": [...], "detector": [...], "goniometer": [...], "scan": [...],
 * "crystal": [...], "profile": [], "scaling_model": []}`, each experiment
 * naming its models by index into those lists. Models shared between
 * experiments (the same object) are written once and referenced by index, as
 * DIALS does.
 *
 * Models, field by field (names as in dxtbx `to_dict`):
 *
 * - beam: `__id__` "MonochromaticBeam", `direction` (sample → source),
 *   `wavelength` (Å), `divergence` and `sigma_divergence` (degrees; the model
 *   has none, so 0), `polarization_normal`, `polarization_fraction`, `flux` 0,
 *   `transmission` 1.
 * - detector: `panels` (name, type, fast_axis, slow_axis, origin,
 *   raw_image_offset, image_size, pixel_size, trusted_range, thickness,
 *   material, mu, identifier, mask as `[f0, s0, f1, s1]`, gain, pedestal,
 *   px_mm_strategy `{type}`), and `hierarchy`: a root group with the identity
 *   frame whose children are the panels, so the panel frames written are the
 *   absolute ones (dxtbx's flat detectors look the same).
 * - goniometer: single axis: `rotation_axis`, `fixed_rotation`,
 *   `setting_rotation` (row-major 3×3), `setting_rotation_at_scan_points` when
 *   present; multi-axis (when the model kept `axes`): `axes`, `angles`,
 *   `names`, `scan_axis`.
 * - scan: `image_range`, `batch_offset`, `properties` {`epochs`,
 *   `exposure_time`, `oscillation` (per-image start angles, degrees), and
 *   `oscillation_width` for a single-image scan}, `valid_image_ranges` {}.
 *   This is the current dxtbx layout; the legacy `oscillation: [start, width]`
 *   layout is not written.
 * - crystal: `__id__` "crystal", `real_space_a/b/c` (the rows of A⁻¹, Å),
 *   `space_group_hall_symbol`, `A_at_scan_points` when present, and a stills
 *   crystal's `ML_domain_size_ang` / `ML_half_mosaicity_deg` when it has them.
 * - imageset: `ImageSequence` with `template` (and the empty `mask`, `gain`,
 *   `pedestal`, `dx`, `dy` strings and `params` that dials.import writes) when
 *   the experiment has a template and a scan, else `ImageSet` with `images`.
 *
 * Number typing: dxtbx's scan `properties` table types each column by the
 * Python type of its first value, so a float field must not be written as
 * `0` (an int). Every float field is written with a decimal point or an
 * exponent (`0.0`, `1.5`, `1e-7`); integer fields (image_size, image_range,
 * batch_offset, mask, indices) are written as integers. Numbers use the
 * shortest text that reads back to the same f64, so the round trip through
 * `parseExperimentList` is exact up to the A ↔ real-space inversion.
 */
import { InvalidValueError } from '../errors.ts';
import { inverse } from './linalg.ts';
import type { Beam, Crystal, Detector, Experiment, ExperimentList, Goniometer, ImageSetRef, Mat3, Panel, Scan, Vec3 } from './model.ts';

/** An integer field (written without a decimal point). */
class IntValue {
  constructor(readonly value: number) {}
}

type Json = string | boolean | null | number | IntValue | readonly Json[] | { readonly [key: string]: Json };

const int = (v: number): IntValue => {
  if (!Number.isSafeInteger(v)) throw new InvalidValueError(`expected an integer, found ${v}`);
  return new IntValue(v);
};
const vec = (v: Vec3): Json => [v[0], v[1], v[2]];
const mat = (m: Mat3): Json => [...m];

function formatFloat(v: number, path: string): string {
  if (!Number.isFinite(v)) throw new InvalidValueError(`cannot write the non-finite number ${v} to an ExperimentList`, { field: path });
  if (Object.is(v, -0)) return '-0.0';
  const text = JSON.stringify(v);
  return /[.eE]/.test(text) ? text : `${text}.0`;
}

function isScalarArray(a: readonly Json[]): boolean {
  return a.every((v) => typeof v === 'number' || v instanceof IntValue || typeof v === 'string' || typeof v === 'boolean' || v === null);
}

/** JSON text with 2-space indent; arrays of scalars stay on one line. */
function emit(value: Json, indent: string, path: string): string {
  if (value === null) return 'null';
  if (typeof value === 'string' || typeof value === 'boolean') return JSON.stringify(value);
  if (typeof value === 'number') return formatFloat(value, path);
  if (value instanceof IntValue) return String(value.value);
  const inner = `${indent}  `;
  if (Array.isArray(value)) {
    const arr = value as readonly Json[];
    if (arr.length === 0) return '[]';
    if (isScalarArray(arr)) return `[${arr.map((v, i) => emit(v, inner, `${path}[${i}]`)).join(', ')}]`;
    return `[\n${arr.map((v, i) => `${inner}${emit(v, inner, `${path}[${i}]`)}`).join(',\n')}\n${indent}]`;
  }
  const entries = Object.entries(value as { readonly [key: string]: Json });
  if (entries.length === 0) return '{}';
  return `{\n${entries.map(([k, v]) => `${inner}${JSON.stringify(k)}: ${emit(v, inner, path === '' ? k : `${path}.${k}`)}`).join(',\n')}\n${indent}}`;
}

function beamDict(b: Beam): Json {
  return {
    __id__: 'MonochromaticBeam',
    direction: vec(b.direction),
    wavelength: b.wavelength,
    divergence: 0,
    sigma_divergence: 0,
    polarization_normal: vec(b.polarizationNormal),
    polarization_fraction: b.polarizationFraction,
    flux: 0,
    transmission: 1,
  };
}

const IDENTITY_GROUP = {
  name: '',
  type: '',
  fast_axis: [1, 0, 0],
  slow_axis: [0, 1, 0],
  origin: [0, 0, 0],
  raw_image_offset: [int(0), int(0)],
  image_size: [int(0), int(0)],
  pixel_size: [0, 0],
  trusted_range: [0, 0],
  thickness: 0,
  material: '',
  mu: 0,
  identifier: '',
  mask: [],
  gain: 1,
  pedestal: 0,
  px_mm_strategy: { type: 'SimplePxMmStrategy' },
} as const satisfies { readonly [key: string]: Json };

function panelDict(p: Panel): Json {
  return {
    name: p.name,
    type: p.type,
    fast_axis: vec(p.fastAxis),
    slow_axis: vec(p.slowAxis),
    origin: vec(p.origin),
    raw_image_offset: [int(0), int(0)],
    image_size: [int(p.imageSize[0]), int(p.imageSize[1])],
    pixel_size: [p.pixelSize[0], p.pixelSize[1]],
    trusted_range: [p.trustedRange[0], p.trustedRange[1]],
    thickness: p.thickness,
    material: p.material,
    mu: p.mu,
    identifier: p.identifier,
    mask: p.mask.map((r) => [int(r.x0), int(r.y0), int(r.x1), int(r.y1)]),
    gain: p.gain,
    pedestal: p.pedestal,
    px_mm_strategy: { type: p.pxMmStrategy === 'parallax' ? 'ParallaxCorrectedPxMmStrategy' : 'SimplePxMmStrategy' },
  };
}

function detectorDict(d: Detector): Json {
  return {
    panels: d.panels.map(panelDict),
    hierarchy: { ...IDENTITY_GROUP, children: d.panels.map((_p, i) => ({ panel: int(i) })) },
  };
}

function goniometerDict(g: Goniometer): Json {
  let out: { [key: string]: Json };
  if (g.axes !== undefined && g.axes.length > 0 && g.scanAxisIndex !== undefined) {
    out = {
      axes: g.axes.map((a) => vec(a.axis)),
      angles: g.axes.map((a) => a.angleDeg),
      names: g.axes.map((a) => a.name),
      scan_axis: int(g.scanAxisIndex),
    };
  } else {
    out = { rotation_axis: vec(g.rotationAxis), fixed_rotation: mat(g.fixedRotation), setting_rotation: mat(g.settingRotation) };
  }
  if (g.settingRotationAtScanPoints !== undefined && g.settingRotationAtScanPoints.length > 0) {
    out.setting_rotation_at_scan_points = g.settingRotationAtScanPoints.map(mat);
  }
  return out;
}

function perImage(values: readonly number[], n: number, fill: number): number[] {
  if (values.length === n) return [...values];
  if (values.length === 1) return new Array<number>(n).fill(values[0] as number);
  return new Array<number>(n).fill(fill);
}

function scanDict(s: Scan): Json {
  const [first, last] = s.imageRange;
  const n = last - first + 1;
  if (!(n >= 1)) throw new InvalidValueError(`scan image range [${first}, ${last}] is empty`, { field: 'scan.image_range' });
  const [start, width] = s.oscillation;
  const properties: { [key: string]: Json } = {
    epochs: perImage(s.epochs, n, 0),
    exposure_time: perImage(s.exposureTimes, n, 0),
    oscillation: Array.from({ length: n }, (_v, i) => start + i * width),
  };
  if (n === 1) properties.oscillation_width = [width];
  return {
    image_range: [int(first), int(last)],
    batch_offset: int(s.batchOffset),
    properties,
    valid_image_ranges: {},
  };
}

function crystalDict(c: Crystal): Json {
  const r = inverse(c.A); // rows: real-space a, b, c
  const out: { [key: string]: Json } = {
    __id__: 'crystal',
    real_space_a: [r[0], r[1], r[2]],
    real_space_b: [r[3], r[4], r[5]],
    real_space_c: [r[6], r[7], r[8]],
    space_group_hall_symbol: c.spaceGroupHall,
  };
  if (c.AAtScanPoints !== undefined && c.AAtScanPoints.length > 0) out.A_at_scan_points = c.AAtScanPoints.map(mat);
  if (c.mosaicity !== undefined) {
    out.ML_domain_size_ang = c.mosaicity.domainSizeA;
    out.ML_half_mosaicity_deg = c.mosaicity.halfMosaicityDeg;
  }
  return out;
}

function imagesetDict(ref: ImageSetRef, hasScan: boolean): Json {
  const common = { mask: ref.mask ?? '', gain: '', pedestal: '', dx: '', dy: '', params: { dynamic_shadowing: 'Auto', multi_panel: false } };
  if (ref.template !== undefined && hasScan) return { __id__: 'ImageSequence', template: ref.template, ...common };
  return { __id__: 'ImageSet', images: [...(ref.images ?? [])], ...common };
}

/** Collects distinct model objects (by identity) and hands out their indices. */
class ModelIndex<T extends object> {
  readonly items: T[] = [];
  private readonly seen = new Map<T, number>();
  add(model: T): IntValue {
    let i = this.seen.get(model);
    if (i === undefined) {
      i = this.items.length;
      this.items.push(model);
      this.seen.set(model, i);
    }
    return int(i);
  }
}

/** The DIALS ExperimentList JSON text for `list` (ends with a newline). */
export function formatExperimentList(list: ExperimentList): string {
  const beams = new ModelIndex<Beam>();
  const detectors = new ModelIndex<Detector>();
  const goniometers = new ModelIndex<Goniometer>();
  const scans = new ModelIndex<Scan>();
  const crystals = new ModelIndex<Crystal>();
  const imagesets = new ModelIndex<ImageSetRef>();
  const imagesetHasScan = new Map<ImageSetRef, boolean>();

  const experiments = list.experiments.map((e: Experiment) => {
    const out: { [key: string]: Json } = { __id__: 'Experiment', identifier: e.identifier, beam: beams.add(e.beam), detector: detectors.add(e.detector) };
    if (e.goniometer !== undefined) out.goniometer = goniometers.add(e.goniometer);
    if (e.scan !== undefined) out.scan = scans.add(e.scan);
    if (e.crystal !== undefined) out.crystal = crystals.add(e.crystal);
    if (e.imageset !== undefined) {
      out.imageset = imagesets.add(e.imageset);
      imagesetHasScan.set(e.imageset, (imagesetHasScan.get(e.imageset) ?? false) || e.scan !== undefined);
    }
    return out;
  });

  const root: Json = {
    __id__: 'ExperimentList',
    experiment: experiments,
    imageset: imagesets.items.map((r) => imagesetDict(r, imagesetHasScan.get(r) ?? false)),
    beam: beams.items.map(beamDict),
    detector: detectors.items.map(detectorDict),
    goniometer: goniometers.items.map(goniometerDict),
    scan: scans.items.map(scanDict),
    crystal: crystals.items.map(crystalDict),
    profile: [],
    scaling_model: [],
  };
  return `${emit(root, '', '')}\n`;
}
