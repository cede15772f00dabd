/**
 * The run configuration loader: defaults equal to the per-stage CLI defaults,
 * paths resolved against the config folder, YAML and JSON alike, and every
 * error a UsageError naming the file and the key.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Command, Option } from 'commander';
import { parse as parseYaml, stringify } from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';
import { buildProgram } from '../../src/cli/main.ts';
import { REPO_ROOT } from '../helpers/paths.ts';
import { FileAccessError, UsageError } from '../../src/errors.ts';
import { configIssuesOf, loadRunConfig, parseRunConfig } from '../../src/run/config.ts';
import { RUN_CONFIG_SCHEMA, type SchemaNode } from '../../src/run/config-schema.ts';
import { RUN_CONFIG_TEMPLATE } from '../../src/run/config-template.ts';
import type { RunConfig } from '../../src/run/config-types.ts';

const root = mkdtempSync(join(tmpdir(), 'diffract-config-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** A config file path under the temporary folder (not written). */
const cfgPath = join(root, 'proj', 'diffract.yaml');
const proj = join(root, 'proj');

const MINIMAL = 'sweeps:\n  - expt: indexed.expt\n';

function parse(text: string, path = cfgPath): RunConfig {
  return parseRunConfig(text, path);
}

/** The UsageError thrown by parsing `text`. */
function usageError(text: string, path = cfgPath): UsageError {
  try {
    parseRunConfig(text, path);
  } catch (err) {
    expect(err).toBeInstanceOf(UsageError);
    return err as UsageError;
  }
  throw new Error('expected a UsageError');
}

function firstLine(err: Error): string {
  return err.message.split('\n')[0] as string;
}

/** The default value of a subcommand's option, as commander holds it (as text). */
function cliDefault(command: string, flag: string): string {
  const program = buildProgram();
  const cmd = program.commands.find((c: Command) => c.name() === command);
  expect(cmd, command).toBeDefined();
  const opt = (cmd as Command).options.find((o: Option) => o.long === flag);
  expect(opt, `${command} ${flag}`).toBeDefined();
  const o = opt as Option;
  // a --no-x flag defaults x to true
  return String(o.negate ? (o.defaultValue ?? true) : o.defaultValue);
}

const nums = (text: string): number[] => text.split(',').map(Number);

describe('defaults', () => {
  it('fills every field of a minimal config exactly', () => {
    const c = parse(MINIMAL);
    expect(c).toEqual({
      source: cfgPath,
      output: join(proj, 'diffract-out'),
      spaceGroup: null,
      sweeps: [
        { name: 'sweep1', expt: join(proj, 'indexed.expt'), experiment: 0, images: { kind: 'expt' }, background: null, exposure: null, backgroundExposure: null },
      ],
      stills: null,
      mask: { edge: 0, panelMasks: true, beamstop: [], file: null, hotPixels: [], trustedRange: 'exclusive' },
      detector: { kind: 'auto', gain: null, pedestal: null },
      grid: { ndiv: [3, 3, 3], wedgeDeg: 3, wedgeFrames: null, batchFrames: null },
      filter: { enabled: true, maxCount: 20, window: 2 },
      corrections: { enabled: true, efficiency: true, polarization: true, airPath: 1 },
      scaling: { table: 'diffuse', stages: ['b', 'bc', 'c', 'd', 'a'], bStepDeg: 1, aGrid: null, cGrid: null, dMode: 'panel', dGrid: null, outlier: [10, 5], maxIterations: 10, tolerance: 1e-4 },
      merge: { outlierSigma: 5, rounds: 3, halfSeed: 0, halfSplit: 'observation', shells: 10, inflateSigma: false },
      absolute: { composition: null, cutoff: null, shells: 50, spacing: 'width', minCompleteness: 0.02 },
      export: { formats: ['nexus', 'ccp4', 'png'], fill: 0, colormap: 'viridis' },
      report: true,
      threads: null,
      memoryMb: null,
    } satisfies RunConfig);
  });

  it('matches the defaults of the per-stage commands', () => {
    const c = parse(MINIMAL);
    // integrate / filter (addVoxelOptions)
    expect(c.sweeps[0]?.experiment).toBe(Number(cliDefault('integrate', '--experiment')));
    expect(c.grid.ndiv).toEqual(nums(cliDefault('integrate', '--ndiv')));
    expect(c.filter.maxCount).toBe(Number(cliDefault('integrate', '--max-count')));
    expect(c.filter.window).toBe(Number(cliDefault('integrate', '--window')));
    expect(c.filter.enabled).toBe(cliDefault('integrate', '--no-filter') === 'true');
    expect(c.detector.kind).toBe(cliDefault('integrate', '--detector'));
    expect(c.mask.trustedRange).toBe(cliDefault('integrate', '--trusted-range'));
    expect(c.mask.edge).toBe(Number(cliDefault('integrate', '--edge')));
    expect(c.mask.panelMasks).toBe(cliDefault('integrate', '--no-panel-masks') === 'true');
    expect(c.corrections.enabled).toBe(cliDefault('integrate', '--no-corrections') === 'true');
    expect(c.corrections.efficiency).toBe(cliDefault('integrate', '--no-efficiency') === 'true');
    expect(c.corrections.polarization).toBe(cliDefault('integrate', '--no-polarization') === 'true');
    // scale
    expect(c.scaling.table).toBe(cliDefault('scale', '--table'));
    expect(c.scaling.bStepDeg).toBe(Number(cliDefault('scale', '--b-step-deg')));
    expect(c.scaling.dMode).toBe(cliDefault('scale', '--d-mode'));
    expect(c.scaling.stages).toEqual(cliDefault('scale', '--stages').split(','));
    expect(c.scaling.outlier).toEqual(nums(cliDefault('scale', '--outlier')));
    expect(c.scaling.maxIterations).toBe(Number(cliDefault('scale', '--max-iterations')));
    expect(c.scaling.tolerance).toBe(Number(cliDefault('scale', '--tolerance')));
    // merge
    expect(c.merge.outlierSigma).toBe(Number(cliDefault('merge', '--outlier')));
    expect(c.merge.rounds).toBe(Number(cliDefault('merge', '--rounds')));
    expect(c.merge.halfSeed).toBe(Number(cliDefault('merge', '--half-seed')));
    expect(c.merge.halfSplit).toBe(cliDefault('merge', '--half-split'));
    expect(c.merge.shells).toBe(Number(cliDefault('merge', '--shells')));
    // absolute
    expect(c.absolute.shells).toBe(Number(cliDefault('absolute', '--shells')));
    expect(c.absolute.spacing).toBe(cliDefault('absolute', '--spacing'));
    expect(c.absolute.minCompleteness).toBe(Number(cliDefault('absolute', '--min-completeness')));
    // export
    expect(c.export.formats).toEqual(cliDefault('export', '--format').split(','));
    expect(c.export.fill).toBe(Number(cliDefault('export', '--fill')));
    expect(c.export.colormap).toBe(cliDefault('export', '--colormap'));
  });

  it('sequence defaults: copies 1, solvent 0.5, disulfides 0, no ions', () => {
    const c = parse(`${MINIMAL}absolute:\n  sequence: KVFGRCELAAAMKRHGLDNYRGYSLGNWVCAAKFESNFNTQATNRNTDGSTDYGILQINSRWWCNDGRTPGSRNLCNIPCSALLSSDITASVNCAKKIVSDGNGMNAWVAWRNRCKGTDVQAWIRGCRL\n`);
    expect(c.absolute.composition).toEqual({
      kind: 'sequence',
      sequence: 'KVFGRCELAAAMKRHGLDNYRGYSLGNWVCAAKFESNFNTQATNRNTDGSTDYGILQINSRWWCNDGRTPGSRNLCNIPCSALLSSDITASVNCAKKIVSDGNGMNAWVAWRNRCKGTDVQAWIRGCRL',
      copies: 1,
      solvent: 0.5,
      disulfides: 0,
      ions: null,
    });
  });

  it('agrees with every `default` in the schema', () => {
    const c = parse(MINIMAL) as unknown as Record<string, Record<string, unknown>>;
    const camel = (k: string): string => k.replace(/_([a-z])/g, (_, ch: string) => ch.toUpperCase());
    const skip = new Set(['output', 'absolute.composition', 'absolute.sequence', 'absolute.copies', 'absolute.solvent', 'absolute.disulfides', 'absolute.ions']);
    let checked = 0;
    for (const [section, node] of Object.entries(RUN_CONFIG_SCHEMA.properties ?? {})) {
      // the stills section is null in a rotation config (its defaults: test/run/stills-config.test.ts)
      if (section === 'stills') continue;
      if (node.default !== undefined && !skip.has(section)) {
        expect(c[camel(section)], section).toEqual(node.default);
        checked++;
      }
      for (const [key, leaf] of Object.entries(node.properties ?? {})) {
        const name = `${section}.${key}`;
        if (leaf.default === undefined || skip.has(name)) continue;
        expect((c[camel(section)] as Record<string, unknown>)[camel(key)], name).toEqual(leaf.default);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(40);
  });

  it('space_group as a number becomes a string; wedge_frames clears the 3° default', () => {
    const c = parse(`${MINIMAL}space_group: 19\ngrid:\n  wedge_frames: 10\n`);
    expect(c.spaceGroup).toBe('19');
    expect(c.grid).toEqual({ ndiv: [3, 3, 3], wedgeDeg: null, wedgeFrames: 10, batchFrames: null });
    expect(parse(`${MINIMAL}space_group: P 21 21 21\n`).spaceGroup).toBe('P 21 21 21');
  });

  it('names sweeps sweep1, sweep2, … by position when not given', () => {
    const c = parse('sweeps:\n  - expt: a.expt\n  - expt: b.expt\n    name: second\n  - expt: c.expt\n');
    expect(c.sweeps.map((s) => s.name)).toEqual(['sweep1', 'second', 'sweep3']);
  });
});

describe('paths and image sources', () => {
  const text = `
output: ../results
sweeps:
  - name: a
    expt: data/indexed.expt
    images: [img/x_0001.cbf, /abs/x_0002.cbf]
    background: {template: bg/bg_####.cbf, first: 1, last: 90}
    exposure: 0.1
    background_exposure: 0.5
  - name: b
    expt: /abs/other.expt
    experiment: 2
    images: {hdf5: eiger/master.h5}
    background: {hdf5: ~/bg.h5, dataset: /entry/data/bg, first: 5, last: 9}
  - expt: ./c.expt
    images: {template: "frames/c_#####.cbf", first: 0, last: 0}
mask:
  file: masks/mask.npy
  beamstop:
    - {rect: [0, 10, 5, 20]}
    - {circle: [100, 101.5, 7]}
    - {polygon: [[0, 0], [10, 0], [5, 8]]}
  hot_pixels: [[1, 2], [3, 4]]
absolute:
  sequence: seq/lysozyme.fasta
  copies: 8
  solvent: 0.35
  disulfides: 4
  ions: Na8 Cl8
`;

  it('resolves every path against the config folder', () => {
    const c = parse(text);
    expect(c.source).toBe(cfgPath);
    expect(c.output).toBe(join(root, 'results'));
    const [a, b, s3] = c.sweeps;
    expect(a).toEqual({
      name: 'a',
      expt: join(proj, 'data', 'indexed.expt'),
      experiment: 0,
      images: { kind: 'files', files: [join(proj, 'img', 'x_0001.cbf'), '/abs/x_0002.cbf'] },
      background: { kind: 'template', template: join(proj, 'bg', 'bg_####.cbf'), first: 1, last: 90 },
      exposure: 0.1,
      backgroundExposure: 0.5,
    });
    expect(b).toEqual({
      name: 'b',
      expt: '/abs/other.expt',
      experiment: 2,
      images: { kind: 'hdf5', file: join(proj, 'eiger', 'master.h5'), dataset: '/entry/data/data', first: 0, last: null },
      background: { kind: 'hdf5', file: join(homedir(), 'bg.h5'), dataset: '/entry/data/bg', first: 5, last: 9 },
      exposure: null,
      backgroundExposure: null,
    });
    expect(s3?.name).toBe('sweep3');
    expect(s3?.expt).toBe(join(proj, 'c.expt'));
    expect(s3?.images).toEqual({ kind: 'template', template: join(proj, 'frames', 'c_#####.cbf'), first: 0, last: 0 });
    expect(c.mask.file).toBe(join(proj, 'masks', 'mask.npy'));
    expect(c.mask.beamstop).toEqual([
      { kind: 'rect', x0: 0, y0: 10, x1: 5, y1: 20 },
      { kind: 'circle', cx: 100, cy: 101.5, r: 7 },
      { kind: 'polygon', points: [[0, 0], [10, 0], [5, 8]] },
    ]);
    expect(c.mask.hotPixels).toEqual([[1, 2], [3, 4]]);
    expect(c.absolute.composition).toEqual({ kind: 'sequence', sequence: join(proj, 'seq', 'lysozyme.fasta'), copies: 8, solvent: 0.35, disulfides: 4, ions: 'Na8 Cl8' });
  });

  it('a relative config path is made absolute against the working folder', () => {
    const c = parseRunConfig(MINIMAL, 'some/where/run.yaml');
    expect(c.source).toBe(join(process.cwd(), 'some', 'where', 'run.yaml'));
    expect(c.sweeps[0]?.expt).toBe(join(process.cwd(), 'some', 'where', 'indexed.expt'));
  });

  it('a composition formula is kept as written', () => {
    const c = parse(`${MINIMAL}absolute:\n  composition: "8*C613H959N193O185S10 + 9000 H2O"\n  cutoff: 0.5\n`);
    expect(c.absolute.composition).toEqual({ kind: 'formula', formula: '8*C613H959N193O185S10 + 9000 H2O' });
    expect(c.absolute.cutoff).toBe(0.5);
  });

  it('JSON and YAML give the same RunConfig', () => {
    const fromYaml = parse(text);
    const data: unknown = parseYaml(text);
    const jsonPath = join(proj, 'diffract.json');
    const fromJson = parseRunConfig(JSON.stringify(data, null, 2), jsonPath);
    expect({ ...fromJson, source: '' }).toEqual({ ...fromYaml, source: '' });
    expect(fromJson.source).toBe(jsonPath);
    // and YAML written from the same data
    expect({ ...parse(stringify(data)), source: '' }).toEqual({ ...fromYaml, source: '' });
  });

  it('does not check that files exist', () => {
    expect(() => parse('sweeps:\n  - expt: /no/such/file.expt\n    images: [/no/such.cbf]\n')).not.toThrow();
  });
});


describe('errors name the key', () => {
  it('unknown top-level key, with a suggestion', () => {
    const e = usageError(`${MINIMAL}outptu: out\n`);
    expect(e.field).toBe('outptu');
    expect(e.file).toBe(cfgPath);
    expect(e.message).toBe(`${cfgPath}, field 'outptu': unknown key 'outptu' (did you mean 'output'?)`);
  });

  it('unknown nested key, with a suggestion (and camelCase → snake_case)', () => {
    const e = usageError(`${MINIMAL}scaling:\n  b_stepdeg: 2\n`);
    expect(e.field).toBe('scaling.b_stepdeg');
    expect(firstLine(e)).toContain("unknown key 'scaling.b_stepdeg' (did you mean 'b_step_deg'?)");
    expect(usageError(`${MINIMAL}merge:\n  outlierSigma: 3\n`).message).toContain("unknown key 'merge.outlierSigma' (did you mean 'outlier_sigma'?)");
    const far = usageError(`${MINIMAL}export:\n  zzzzzzzz: 1\n`);
    expect(far.message).toContain("unknown key 'export.zzzzzzzz' (allowed: formats, fill, colormap)");
  });

  it('unknown key inside a sweep and an image source', () => {
    expect(usageError('sweeps:\n  - expt: a.expt\n    exposre: 1\n').field).toBe('sweeps[0].exposre');
    const e = usageError('sweeps:\n  - expt: a.expt\n  - expt: b.expt\n    images: {templat: "x_###.cbf", first: 1, last: 2}\n');
    expect(e.field).toBe('sweeps[1].images.templat');
    expect(firstLine(e)).toContain("(did you mean 'template'?)");
  });

  it('missing required keys', () => {
    const e = usageError('sweeps:\n  - images: [a.cbf]\n');
    expect(e.field).toBe('sweeps[0].expt');
    expect(e.message).toBe(`${cfgPath}, field 'sweeps[0].expt': required`);
    expect(usageError('output: out\n').field).toBe('sweeps');
    const t = usageError('sweeps:\n  - expt: a.expt\n    images: {template: "x_###.cbf", first: 1}\n');
    expect(t.field).toBe('sweeps[0].images.last');
  });

  it('wrong types', () => {
    const e = usageError(`${MINIMAL}filter:\n  max_count: many\n`);
    expect(e.field).toBe('filter.max_count');
    expect(firstLine(e)).toContain("must be an integer 1…10000, got 'many'");
    expect(usageError(`${MINIMAL}report: yes\n`).message).toContain("must be true or false, got 'yes'");
    expect(usageError(`${MINIMAL}mask: 3\n`).field).toBe('mask');
    const img = usageError('sweeps:\n  - expt: a.expt\n    images: a_0001.cbf\n');
    expect(img.field).toBe('sweeps[0].images');
    expect(img.message).toContain('must be a list of image files');
    expect(usageError('sweeps: indexed.expt\n').field).toBe('sweeps');
  });

  it('out of range values, naming the list for a bad element', () => {
    const e = usageError(`${MINIMAL}grid:\n  ndiv: [3, 0, 3]\n`);
    expect(e.field).toBe('grid.ndiv');
    expect(firstLine(e)).toContain('must be 3 integers 1…255, got [3, 0, 3]');
    expect(usageError(`${MINIMAL}grid:\n  ndiv: [3, 3]\n`).field).toBe('grid.ndiv');
    expect(usageError(`${MINIMAL}corrections:\n  air_path: 1.5\n`).message).toContain('must be a number 0…1 or null, got 1.5');
    expect(usageError(`${MINIMAL}absolute:\n  min_completeness: 1\n`).field).toBe('absolute.min_completeness');
    expect(usageError(`${MINIMAL}merge:\n  shells: 0\n`).field).toBe('merge.shells');
    expect(usageError(`${MINIMAL}space_group: 231\n`).field).toBe('space_group');
    expect(usageError('sweeps:\n  - expt: a.expt\n    exposure: 0\n').field).toBe('sweeps[0].exposure');
    expect(usageError('sweeps: []\n').message).toContain('must be a non-empty list of sweeps');
    const st = usageError(`${MINIMAL}scaling:\n  stages: [b, q]\n`);
    expect(st.field).toBe('scaling.stages');
    expect(st.message).toContain('values from b, bc, c, d, a');
  });

  it('sizes that allocate are bounded before any work (issue 13: a_grid 100000³ and b_step_deg 1e-9 crashed after 20 s)', () => {
    const a = usageError(`${MINIMAL}scaling:\n  a_grid: [100000, 100000, 100000]\n`);
    expect(a.field).toBe('scaling.a_grid');
    expect(firstLine(a)).toContain('2…100');
    const b = usageError(`${MINIMAL}scaling:\n  b_step_deg: 1.0e-9\n`);
    expect(b.field).toBe('scaling.b_step_deg');
    expect(firstLine(b)).toContain('0.01');
    expect(usageError(`${MINIMAL}scaling:\n  c_grid: [12, 101]\n`).field).toBe('scaling.c_grid');
    expect(usageError(`${MINIMAL}scaling:\n  d_grid: [1000, 9]\n`).field).toBe('scaling.d_grid');
    expect(usageError(`${MINIMAL}filter:\n  max_count: 100000000\n`).field).toBe('filter.max_count');
    expect(usageError(`${MINIMAL}filter:\n  window: 1000\n`).field).toBe('filter.window');
    expect(usageError(`${MINIMAL}absolute:\n  shells: 100000000\n`).field).toBe('absolute.shells');
    expect(usageError(`${MINIMAL}merge:\n  shells: 1001\n`).field).toBe('merge.shells');
    expect(usageError(`${MINIMAL}grid:\n  ndiv: [256, 3, 3]\n`).field).toBe('grid.ndiv');
    // the limits themselves are accepted
    const ok = parse(`${MINIMAL}scaling:\n  a_grid: [100, 100, 100]\n  b_step_deg: 0.01\n`);
    expect(ok.scaling.aGrid).toEqual([100, 100, 100]);
    expect(ok.scaling.bStepDeg).toBe(0.01);
  });

  it('export formats: a non-empty subset of nexus, ccp4, png', () => {
    expect(usageError(`${MINIMAL}export:\n  formats: [png, tiff]\n`).field).toBe('export.formats');
    expect(usageError(`${MINIMAL}export:\n  formats: []\n`).field).toBe('export.formats');
    expect(usageError(`${MINIMAL}export:\n  formats: [png, png]\n`).field).toBe('export.formats');
    expect(parse(`${MINIMAL}export:\n  formats: [png]\n`).export.formats).toEqual(['png']);
  });

  it('beamstop shapes', () => {
    const poly = usageError(`${MINIMAL}mask:\n  beamstop:\n    - {polygon: [[0, 0], [1, 1]]}\n`);
    expect(poly.field).toBe('mask.beamstop[0].polygon');
    expect(poly.message).toContain('at least 3');
    expect(usageError(`${MINIMAL}mask:\n  beamstop:\n    - {rect: [0, 0, 1, 1]}\n    - {rect: [1, 2, 3]}\n`).field).toBe('mask.beamstop[1].rect');
    expect(usageError(`${MINIMAL}mask:\n  beamstop:\n    - {rect: [5, 0, 1, 1]}\n`).field).toBe('mask.beamstop[0].rect');
    const two = usageError(`${MINIMAL}mask:\n  beamstop:\n    - {rect: [0, 0, 1, 1], circle: [1, 1, 1]}\n`);
    expect(two.field).toBe('mask.beamstop[0]');
    expect(two.message).toContain('exactly one of rect, circle, polygon');
    expect(usageError(`${MINIMAL}mask:\n  beamstop:\n    - {circle: [1, 1, 0]}\n`).field).toBe('mask.beamstop[0].circle');
  });

  it('composition and sequence together, or sequence options with a composition', () => {
    const e = usageError(`${MINIMAL}absolute:\n  composition: C100 H200\n  sequence: MKV\n`);
    expect(e.field).toBe('absolute.sequence');
    expect(firstLine(e)).toContain('give composition or sequence, not both');
    expect(usageError(`${MINIMAL}absolute:\n  composition: C100 H200\n  copies: 4\n`).field).toBe('absolute.copies');
    expect(usageError(`${MINIMAL}absolute:\n  solvent: 0.4\n`).field).toBe('absolute.solvent');
    expect(usageError(`${MINIMAL}absolute:\n  composition: C100 Xx3\n`).field).toBe('absolute.composition');
    expect(usageError(`${MINIMAL}absolute:\n  sequence: MKVBZ\n`).field).toBe('absolute.sequence');
    expect(usageError(`${MINIMAL}absolute:\n  sequence: MKV\n  ions: Na8 Qq\n`).field).toBe('absolute.ions');
  });

  it('wedge_deg and wedge_frames together', () => {
    const e = usageError(`${MINIMAL}grid:\n  wedge_deg: 2\n  wedge_frames: 20\n`);
    expect(e.field).toBe('grid.wedge_frames');
    expect(e.message).toContain('not both');
  });

  it('duplicate sweep names, given or defaulted', () => {
    const e = usageError('sweeps:\n  - expt: a.expt\n    name: same\n  - expt: b.expt\n    name: same\n');
    expect(e.field).toBe('sweeps[1].name');
    expect(firstLine(e)).toContain("duplicate sweep name 'same'");
    const d = usageError('sweeps:\n  - expt: a.expt\n    name: sweep2\n  - expt: b.expt\n');
    expect(d.field).toBe('sweeps[1].name');
    expect(d.message).toContain("'sweep2'");
    expect(usageError('sweeps:\n  - expt: a.expt\n    name: "bad name/x"\n').field).toBe('sweeps[0].name');
  });

  it('image ranges: last before first', () => {
    expect(usageError('sweeps:\n  - expt: a.expt\n    images: {template: "x_###.cbf", first: 10, last: 2}\n').field).toBe('sweeps[0].images.last');
    expect(usageError('sweeps:\n  - expt: a.expt\n    background: {hdf5: b.h5, first: 10, last: 2}\n').field).toBe('sweeps[0].background.last');
    expect(usageError('sweeps:\n  - expt: a.expt\n    images: {template: "x.cbf", first: 1, last: 2}\n').message).toContain("'#'");
  });

  it('several problems: the first line stands alone, the others follow one per line', () => {
    const e = usageError('sweeps:\n  - exposure: -1\ngrid:\n  ndiv: 3\noutptu: x\n');
    const lines = e.message.split('\n');
    expect(lines[0]).toBe(`${cfgPath}, field 'outptu': unknown key 'outptu' (did you mean 'output'?)`);
    expect(lines.slice(1).map((l) => l.trim())).toEqual([
      'sweeps[0].expt: required',
      'sweeps[0].exposure: must be a number > 0 or null, got -1',
      'grid.ndiv: must be 3 integers 1…255, got 3',
    ]);
    expect(configIssuesOf(e)?.map((i) => i.key)).toEqual(['outptu', 'sweeps[0].expt', 'sweeps[0].exposure', 'grid.ndiv']);
    expect(configIssuesOf(new UsageError('x'))).toBeUndefined();
    const many = usageError(`${MINIMAL}${Array.from({ length: 12 }, (_, i) => `extra${i}: 1`).join('\n')}\n`);
    expect(many.message.split('\n')).toHaveLength(11);
    expect(many.message.split('\n')[10]).toBe('  (2 more)');
    expect(configIssuesOf(many)).toHaveLength(12);
  });

  it('YAML syntax errors name the file and the line', () => {
    const e = usageError('sweeps:\n  - expt: a.expt\noutput: [a, b\nreport: true\n');
    expect(e.file).toBe(cfgPath);
    expect(firstLine(e)).toMatch(new RegExp(`^${cfgPath}: YAML syntax error at line 4, column \\d+: `));
    const dup = usageError('sweeps:\n  - expt: a.expt\nreport: true\nreport: false\n');
    expect(firstLine(dup)).toMatch(/YAML syntax error at line 4, column 1: Map keys must be unique/);
  });

  it('a YAML alias bomb is one refusal naming the file, not a crash', () => {
    const levels = ['a: &a [x, x, x, x, x, x, x, x, x]'];
    for (let i = 1; i < 9; i++) levels.push(`${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(9).fill(`*${String.fromCharCode(96 + i)}`).join(', ')}]`);
    const e = usageError(`${levels.join('\n')}\nsweeps:\n  - expt: a.expt\n`);
    expect(e.file).toBe(cfgPath);
    expect(firstLine(e)).toMatch(/YAML refused: .*alias/i);
  });

  it('JSON syntax errors name the line', () => {
    const p = join(proj, 'c.json');
    const e = usageError('{\n  "sweeps": [{"expt": "a.expt"}],\n}\n', p);
    expect(e.file).toBe(p);
    expect(firstLine(e)).toMatch(/JSON syntax error at line 3, column 1/);
  });

  it('an empty file, or one that is not a mapping', () => {
    expect(usageError('').message).toContain('empty');
    expect(usageError('# only a comment\n').message).toContain('empty');
    expect(usageError('- a\n- b\n').message).toContain('must be a mapping');
  });
});

describe('loadRunConfig', () => {
  it('reads a file', async () => {
    const dir = join(root, 'load');
    mkdirSync(dir, { recursive: true });
    const path = join(dir, 'run.yml');
    writeFileSync(path, MINIMAL);
    const c = await loadRunConfig(path);
    expect(c.source).toBe(path);
    expect(c.sweeps[0]?.expt).toBe(join(dir, 'indexed.expt'));
  });

  it('a missing file is a FileAccessError naming it', async () => {
    const path = join(root, 'nope', 'missing.yaml');
    const err = await loadRunConfig(path).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FileAccessError);
    expect((err as FileAccessError).file).toBe(path);
    expect((err as Error).message).toContain(path);
  });
});

describe('template and schema', () => {
  it('the template parses to the same RunConfig as a minimal file', () => {
    expect(parse(RUN_CONFIG_TEMPLATE)).toEqual(parse('sweeps:\n  - name: sweep1\n    expt: indexed.expt\n'));
  });

  /** Every property of the schema with its dotted path. */
  function walk(node: SchemaNode, at: string, out: [string, SchemaNode][]): void {
    for (const [k, child] of Object.entries(node.properties ?? {})) {
      out.push([at === '' ? k : `${at}.${k}`, child]);
      walk(child, at === '' ? k : `${at}.${k}`, out);
    }
    if (node.items !== undefined) walk(node.items, `${at}[]`, out);
    for (const sub of [node.then, node.else]) if (sub !== undefined) walk(sub, at, out);
  }

  it('the template shows every key of the schema', () => {
    const props: [string, SchemaNode][] = [];
    walk(RUN_CONFIG_SCHEMA, '', props);
    expect(props.length).toBeGreaterThan(60);
    for (const [path] of props) {
      // the keys of the stills section are in the stills template (test/run/stills-config.test.ts)
      if (path.startsWith('stills.')) continue;
      const key = path.split('.').pop() as string;
      expect(RUN_CONFIG_TEMPLATE, path).toMatch(new RegExp(`(^|[\\s{#-])${key}:`, 'm'));
    }
  });

  it('every object is closed and every property described', () => {
    const props: [string, SchemaNode][] = [['', RUN_CONFIG_SCHEMA]];
    walk(RUN_CONFIG_SCHEMA, '', props);
    for (const [path, node] of props) {
      expect(node.description, path).toBeTruthy();
      if (node.properties !== undefined) expect(node.additionalProperties, path).toBe(false);
    }
  });

  it('the full example of docs/run-config.md parses, and its error example is what the loader says', () => {
    const doc = readFileSync(join(REPO_ROOT, 'docs', 'run-config.md'), 'utf8');
    const example = /```yaml\n([\s\S]*?)```/.exec(doc)?.[1];
    expect(example).toBeDefined();
    const c = parse(example as string);
    expect(c.sweeps.map((s) => s.name)).toEqual(['sweep1', 'sweep2']);
    expect(c.sweeps[1]?.images).toEqual({ kind: 'hdf5', file: join(root, 'sweep2', 'master.h5'), dataset: '/entry/data/data', first: 0, last: null });
    expect({ ...c, sweeps: [] }).toEqual({ ...parse(MINIMAL), sweeps: [] });
    const shown = /```\n(diffract: error: [\s\S]*?)```/.exec(doc)?.[1];
    const e = usageError('sweeps:\n  - {}\nscaling:\n  b_stepdeg: 2\ngrid:\n  ndiv: [3, 0, 3]\n', 'run.yaml');
    expect(`diffract: error: ${e.message}\n`).toBe(shown);
  });
});
