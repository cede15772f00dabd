/**
 * The `stills:` section of a run config: a valid stills config loads with
 * every default filled and every path absolute; `sweeps` and `stills`
 * together, neither, a bad `p_order`, an unknown key each give one line
 * naming the key; `diffract init --stills` writes a template that loads as a
 * valid stills config equal to the minimal one, and shows every key.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { UsageError } from '../../src/errors.ts';
import { loadRunConfig, parseRunConfig } from '../../src/run/config.ts';
import { RUN_CONFIG_SCHEMA, type SchemaNode } from '../../src/run/config-schema.ts';
import { STILLS_CONFIG_TEMPLATE } from '../../src/run/config-template.ts';
import type { RunConfig } from '../../src/run/config-types.ts';
import { STILLS_RUN_DEFAULTS } from '../../src/run/stills-settings.ts';
import { BRAGG_TABLE_DEFAULTS } from '../../src/stills/bragg-table.ts';
import { STILLS_MASK_DEFAULTS } from '../../src/stills/mask.ts';
import { STILLS_SCALE_DEFAULTS } from '../../src/stills/scale.ts';
import { runInProcess } from '../helpers/cli.ts';
import { REPO_ROOT } from '../helpers/paths.ts';

const root = mkdtempSync(join(tmpdir(), 'diffract-stills-config-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const proj = join(root, 'proj');
const cfgPath = join(proj, 'stills.yaml');

const MINIMAL = 'stills:\n  expt: indexed.expt\n';

function parse(text: string): RunConfig {
  return parseRunConfig(text, cfgPath);
}

function usageError(text: string): UsageError {
  try {
    parse(text);
  } catch (err) {
    expect(err).toBeInstanceOf(UsageError);
    return err as UsageError;
  }
  throw new Error('expected a UsageError');
}

describe('a stills config', () => {
  it('loads with every default filled and the paths resolved', () => {
    const c = parse(MINIMAL);
    expect(c.sweeps).toEqual([]);
    const { gain: _gain, ...mask } = STILLS_MASK_DEFAULTS;
    expect(c.stills).toEqual({
      input: { kind: 'dials', expt: join(proj, 'indexed.expt'), refl: null },
      imageRoot: null,
      hdf5Dataset: null,
      exposure: null,
      unitCell: null,
      trustedRange: null,
      polarizationFraction: null,
      pOrder: { kind: 'index' },
      braggMask: mask,
      bragg: { model: BRAGG_TABLE_DEFAULTS.partialityModel, threshold: BRAGG_TABLE_DEFAULTS.partialityThreshold, intensity: BRAGG_TABLE_DEFAULTS.intensity },
      scaling: STILLS_SCALE_DEFAULTS,
      background: null,
      onBadShot: 'stop',
      chunkShots: 100,
    });
    // the shared sections keep their defaults
    expect(c.grid.ndiv).toEqual([3, 3, 3]);
    expect(c.merge.outlierSigma).toBe(5);
  });

  it('the schema defaults of the stills section are the defaults objects', () => {
    const st = RUN_CONFIG_SCHEMA.properties?.stills as SchemaNode;
    const bm = st.properties?.bragg_mask?.properties ?? {};
    const camel = (k: string): string => k.replace(/_([a-z])/g, (_m, ch: string) => ch.toUpperCase());
    const fromSchema = Object.fromEntries(Object.entries(bm).map(([k, v]) => [camel(k), v.default]));
    const { gain: _gain, ...mask } = STILLS_MASK_DEFAULTS;
    expect(fromSchema).toEqual(mask);
    expect(st.properties?.on_bad_shot?.default).toBe(STILLS_RUN_DEFAULTS.onBadShot);
    expect(st.properties?.chunk_shots?.default).toBe(STILLS_RUN_DEFAULTS.chunkShots);
    expect(st.properties?.p_order?.default).toBe(STILLS_RUN_DEFAULTS.pOrder.kind);
    expect(st.properties?.partiality?.properties?.model?.default).toBe(STILLS_RUN_DEFAULTS.bragg.model);
    expect(st.properties?.partiality?.properties?.threshold?.default).toBe(STILLS_RUN_DEFAULTS.bragg.threshold);
    expect(st.properties?.bragg_intensity?.default).toBe(BRAGG_TABLE_DEFAULTS.intensity);
    expect(STILLS_RUN_DEFAULTS.bragg).toEqual({ model: BRAGG_TABLE_DEFAULTS.partialityModel, threshold: BRAGG_TABLE_DEFAULTS.partialityThreshold, intensity: BRAGG_TABLE_DEFAULTS.intensity });
    const scaling = Object.fromEntries(Object.entries(st.properties?.scaling?.properties ?? {}).map(([k, v]) => [camel(k), v.default]));
    expect(scaling).toEqual(STILLS_SCALE_DEFAULTS);
  });

  it('reads every key: a stream, p_order from a CSV, masks, background, bad shots', () => {
    const c = parse(`
output: out
stills:
  stream: data/run.stream
  image_root: images
  hdf5_dataset: /entry/data/data
  exposure: 0.01
  unit_cell: [79.1, 79.1, 38.2, 90, 90, 90]
  trusted_range: [1, 10000]
  polarization_fraction: 0.93
  p_order: {csv: shots.csv, column: energy}
  bragg_mask: {margin_px: 2, outliers: false, z: 5}
  partiality: {model: xsphere, threshold: 0.5}
  bragg_intensity: sum
  scaling: {b_mode: smooth, b_nodes: 6, a_grid: [4, 4, 2], min_shot_rows: 10}
  background: {images: [blank1.img, /abs/blank2.img], exposure: 0.02}
  on_bad_shot: skip
  chunk_shots: 7
grid:
  ndiv: [1, 1, 1]
`);
    const s = c.stills!;
    expect(c.output).toBe(join(proj, 'out'));
    expect(s.input).toEqual({ kind: 'crystfel', stream: join(proj, 'data', 'run.stream') });
    expect(s.imageRoot).toBe(join(proj, 'images'));
    expect(s.unitCell).toEqual([79.1, 79.1, 38.2, 90, 90, 90]);
    expect(s.trustedRange).toEqual([1, 10000]);
    expect(s.polarizationFraction).toBe(0.93);
    expect(s.pOrder).toEqual({ kind: 'csv', file: join(proj, 'shots.csv'), column: 'energy', key: 'shot' });
    expect(s.braggMask).toMatchObject({ marginPx: 2, outliers: false, z: 5, block: STILLS_MASK_DEFAULTS.block });
    expect(s.bragg).toEqual({ model: 'xsphere', threshold: 0.5, intensity: 'sum' });
    expect(s.scaling).toEqual({ ...STILLS_SCALE_DEFAULTS, bMode: 'smooth', bNodes: 6, aGrid: [4, 4, 2], minShotRows: 10 });
    expect(s.background).toEqual({ images: [join(proj, 'blank1.img'), '/abs/blank2.img'], exposure: 0.02 });
    expect(s.onBadShot).toBe('skip');
    expect(s.chunkShots).toBe(7);
    expect(c.grid.ndiv).toEqual([1, 1, 1]);
    for (const k of ['index', 'timestamp', 'diffuse', 'pulse_energy']) expect(parse(`${MINIMAL}  p_order: ${k}\n`).stills?.pOrder).toEqual({ kind: k });
  });
});

describe('stills config errors: one line naming the key', () => {
  it('sweeps and stills together', () => {
    const e = usageError(`sweeps:\n  - expt: a.expt\n${MINIMAL}`);
    expect(e.field).toBe('stills');
    expect(e.message).toBe(`${cfgPath}, field 'stills': give either 'sweeps' (rotation) or 'stills' (serial stills), not both`);
  });

  it('neither sweeps nor stills', () => {
    const e = usageError('output: out\n');
    expect(e.field).toBe('sweeps');
    expect(e.message).toBe(`${cfgPath}, field 'sweeps': required (or 'stills' for a serial-stills run)`);
  });

  it('a bad p_order', () => {
    const e = usageError(`${MINIMAL}  p_order: energy\n`);
    expect(e.field).toBe('stills.p_order');
    expect(e.message).toBe(`${cfgPath}, field 'stills.p_order': must be one of index, timestamp, diffuse, pulse_energy, got 'energy'`);
    const m = usageError(`${MINIMAL}  p_order: {csv: a.csv}\n`);
    expect(m.field).toBe('stills.p_order.column');
    expect(m.message.split('\n')).toHaveLength(1);
    const k = usageError(`${MINIMAL}  p_order: {csv: a.csv, column: e, kee: shot}\n`);
    expect(k.message).toBe(`${cfgPath}, field 'stills.p_order.kee': unknown key 'stills.p_order.kee' (did you mean 'key'?)`);
    expect(usageError(`${MINIMAL}  p_order: 3\n`).message).toContain('must be one of index, timestamp, diffuse, pulse_energy or a mapping {csv, column, key}, got 3');
  });

  it('an unknown key names it and the nearest allowed one', () => {
    const e = usageError(`${MINIMAL}  on_bad_shots: skip\n`);
    expect(e.field).toBe('stills.on_bad_shots');
    expect(e.message).toBe(`${cfgPath}, field 'stills.on_bad_shots': unknown key 'stills.on_bad_shots' (did you mean 'on_bad_shot'?)`);
    const m = usageError(`${MINIMAL}  bragg_mask:\n    marginPx: 2\n`);
    expect(m.message).toContain("unknown key 'stills.bragg_mask.marginPx' (did you mean 'margin_px'?)");
  });

  it('checks beyond the schema', () => {
    expect(usageError('stills:\n  refl: a.refl\n').field).toBe('stills.expt');
    expect(usageError('stills:\n  expt: a.expt\n  stream: b.stream\n').field).toBe('stills.stream');
    expect(usageError('stills:\n  stream: b.stream\n  refl: a.refl\n').field).toBe('stills.refl');
    expect(usageError(`${MINIMAL}grid:\n  ndiv: [2, 3, 3]\n`).message).toContain("field 'grid.ndiv': stills need odd subdivisions");
    expect(usageError(`${MINIMAL}  trusted_range: [10, 1]\n`).field).toBe('stills.trusted_range');
    expect(usageError(`${MINIMAL}  on_bad_shot: ignore\n`).message).toBe(`${cfgPath}, field 'stills.on_bad_shot': must be one of stop, skip, got 'ignore'`);
    expect(usageError(`${MINIMAL}  chunk_shots: 0\n`).field).toBe('stills.chunk_shots');
    expect(usageError(`${MINIMAL}  scaling: {b_mode: linear}\n`).message).toBe(`${cfgPath}, field 'stills.scaling.b_mode': must be one of per-shot, smooth, got 'linear'`);
    expect(usageError(`${MINIMAL}  scaling: {a_grid: [5, 5, 1000]}\n`).field).toBe('stills.scaling.a_grid');
  });
});

describe('diffract run with a stills config: errors before any work', () => {
  it('a missing expt names the file and the key; --shard is refused with one line', async () => {
    mkdirSync(proj, { recursive: true });
    const file = join(proj, 'missing.yaml');
    writeFileSync(file, 'output: out-missing\nstills:\n  expt: nowhere.expt\n');
    const r = await runInProcess(['--backend', 'cpu', 'run', file]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toEqual([`diffract: error: ${join(proj, 'nowhere.expt')}, field 'stills.expt': no such file`]);
    const s = await runInProcess(['--backend', 'cpu', 'run', file, '--shard', '0/2']);
    expect(s.code).toBe(1);
    expect(s.stderr.trim().split('\n')).toEqual([`diffract: error: ${file}, field '--shard': --shard splits the wedges of rotation sweeps; a stills config runs in one process (its chunks resume after a kill)`]);
  });
});

describe('docs/run-config.md', () => {
  it('the stills example parses to the defaults but for the keys marked as examples', () => {
    const doc = readFileSync(join(REPO_ROOT, 'docs', 'run-config.md'), 'utf8');
    const blocks = [...doc.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1] as string);
    const example = blocks.find((b) => b.startsWith('stills:'));
    expect(example).toBeDefined();
    const c = parse(`${example as string}`.replace('expt: stills.expt', 'expt: indexed.expt'));
    const minimal = parse(MINIMAL);
    expect(c.stills).toEqual({ ...minimal.stills, trustedRange: [1, 10000], polarizationFraction: 0.93 });
  });
});

describe('diffract init --stills', () => {
  it('writes the stills template, which loads as the minimal stills config', async () => {
    mkdirSync(proj, { recursive: true });
    const file = join(proj, 'init-stills.yaml');
    const r = await runInProcess(['init', '--stills', file]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`wrote ${file}`);
    expect(readFileSync(file, 'utf8')).toBe(STILLS_CONFIG_TEMPLATE);
    const c = await loadRunConfig(file);
    expect(c.stills?.input).toEqual({ kind: 'dials', expt: join(proj, 'indexed.expt'), refl: null });
    expect({ ...c, source: '' }).toEqual({ ...parseRunConfig(MINIMAL, file), source: '' });
  });

  it('shows every key of the stills section and of the shared sections', () => {
    const keys: string[] = [];
    const walk = (node: SchemaNode, at: string): void => {
      for (const [k, child] of Object.entries(node.properties ?? {})) {
        const path = at === '' ? k : `${at}.${k}`;
        keys.push(path);
        walk(child, path);
      }
      if (node.items !== undefined) walk(node.items, `${at}[]`);
      for (const sub of [node.then, node.else]) if (sub !== undefined) walk(sub, at);
    };
    walk(RUN_CONFIG_SCHEMA, '');
    const rotationOnly = /^(sweeps|filter|scaling)(\.|\[|$)|^grid\.(wedge_deg|wedge_frames|batch_frames)$/;
    const shown = keys.filter((k) => !rotationOnly.test(k));
    expect(shown.length).toBeGreaterThan(50);
    for (const path of shown) {
      const key = path.split('.').pop() as string;
      expect(STILLS_CONFIG_TEMPLATE, path).toMatch(new RegExp(`(^|[\\s{#-])${key}:`, 'm'));
    }
  });
});
