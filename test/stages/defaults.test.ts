/**
 * One defaults object per stage: the CLI's option defaults (as commander
 * holds them, mapped to settings by the command's own flag → setting code)
 * and the run-config schema's `default`s (and the config loader's filled
 * values) equal the stage's defaults object. A default changed in one place
 * only fails here.
 */
import type { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { absoluteSettings, type AbsoluteCliOptions } from '../../src/cli/commands/absolute.ts';
import { correctSettings, type CorrectCliOptions } from '../../src/cli/commands/correct.ts';
import { exportSettings, type ExportCliOptions } from '../../src/cli/commands/export.ts';
import { voxelSettings, type VoxelCliOptions } from '../../src/cli/commands/integrate.ts';
import { mergeSettings, type MergeCliOptions } from '../../src/cli/commands/merge.ts';
import { photonSettings, type PhotonOptions } from '../../src/cli/commands/photon.ts';
import { scaleSettings, type ScaleCliOptions } from '../../src/cli/commands/scale.ts';
import { buildProgram } from '../../src/cli/main.ts';
import { UsageError } from '../../src/errors.ts';
import { parseRunConfig } from '../../src/run/config.ts';
import { RUN_CONFIG_SCHEMA, type SchemaNode } from '../../src/run/config-schema.ts';
import { correctSettingsOf, exportSettingsOf, integrateSettingsOf } from '../../src/run/runner.ts';
import {
  ABSOLUTE_DEFAULTS,
  absoluteStage,
  COMBINE_DEFAULTS,
  combineStage,
  CORRECT_DEFAULTS,
  correctStage,
  EXPORT_DEFAULTS,
  exportStage,
  INTEGRATE_DEFAULTS,
  integrateStage,
  MERGE_DEFAULTS,
  mergeStage,
  PHOTON_DEFAULTS,
  photonStage,
  SCALE_DEFAULTS,
  scaleStage,
  SettingError,
  validateIntegrateSettings,
  validateMergeSettings,
} from '../../src/stages/index.ts';

/** The subcommand `name` with its option values as commander holds them before any flag is given (the defaults). */
function commandDefaults<T>(name: string): { cmd: Command; opts: T } {
  const cmd = buildProgram().commands.find((c) => c.name() === name);
  if (cmd === undefined) throw new Error(`no subcommand ${name}`);
  return { cmd, opts: cmd.opts() as T };
}

const camel = (k: string): string => k.replace(/_([a-z])/g, (_m, ch: string) => ch.toUpperCase());

/** The schema node at a path of property names ('sweeps' descends into the items). */
function schemaNode(...path: string[]): SchemaNode {
  let node: SchemaNode = RUN_CONFIG_SCHEMA;
  for (const p of path) {
    const next: SchemaNode | undefined = node.properties?.[p] ?? (p === '[]' ? node.items : undefined);
    if (next === undefined) throw new Error(`schema has no ${path.join('.')}`);
    node = next;
  }
  return node;
}

/** The `default`s of an object node's properties, keys in camelCase. */
function schemaDefaults(node: SchemaNode, keys?: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(node.properties ?? {})) if (keys === undefined || keys.includes(k)) out[camel(k)] = v.default;
  return out;
}

const pick = <T extends object>(o: T, keys: readonly (keyof T)[]): Partial<T> => Object.fromEntries(keys.map((k) => [k, o[k]])) as Partial<T>;

describe('every stage exports one defaults object', () => {
  it('the Stage objects carry them', () => {
    expect(integrateStage.defaults).toBe(INTEGRATE_DEFAULTS);
    expect(correctStage.defaults).toBe(CORRECT_DEFAULTS);
    expect(combineStage.defaults).toBe(COMBINE_DEFAULTS);
    expect(scaleStage.defaults).toBe(SCALE_DEFAULTS);
    expect(mergeStage.defaults).toBe(MERGE_DEFAULTS);
    expect(absoluteStage.defaults).toBe(ABSOLUTE_DEFAULTS);
    expect(exportStage.defaults).toBe(EXPORT_DEFAULTS);
    expect(photonStage.defaults).toBe(PHOTON_DEFAULTS);
    expect([integrateStage, correctStage, combineStage, scaleStage, mergeStage, absoluteStage, exportStage, photonStage].map((s) => s.name)).toEqual([
      'integrate',
      'correct',
      'combine',
      'scale',
      'merge',
      'absolute',
      'export',
      'photon',
    ]);
  });
});

describe('CLI option defaults equal the stage defaults', () => {
  it('integrate and filter', () => {
    for (const name of ['integrate', 'filter']) {
      const { cmd, opts } = commandDefaults<VoxelCliOptions>(name);
      expect(voxelSettings(opts, cmd), name).toEqual(INTEGRATE_DEFAULTS);
    }
  });

  it('correct', () => {
    expect(correctSettings(commandDefaults<CorrectCliOptions>('correct').opts)).toEqual(CORRECT_DEFAULTS);
  });

  it('scale', () => {
    expect(scaleSettings(commandDefaults<ScaleCliOptions>('scale').opts)).toEqual(SCALE_DEFAULTS);
  });

  it('merge', () => {
    expect(mergeSettings(commandDefaults<MergeCliOptions>('merge').opts)).toEqual(MERGE_DEFAULTS);
  });

  it('absolute (a formula, and a sequence with the sequence defaults)', () => {
    const { opts } = commandDefaults<AbsoluteCliOptions>('absolute');
    const { sequence, ...rest } = ABSOLUTE_DEFAULTS;
    expect(absoluteSettings({ ...opts, composition: 'C2 H6 O' })).toEqual({ ...rest, composition: { kind: 'formula', formula: 'C2 H6 O' } });
    expect(absoluteSettings({ ...opts, sequence: 'GXG' })).toEqual({ ...rest, composition: { kind: 'sequence', sequence: 'GXG', ...sequence } });
  });

  it('export', () => {
    expect(exportSettings(commandDefaults<ExportCliOptions>('export').opts)).toEqual(EXPORT_DEFAULTS);
  });

  it('photon', () => {
    expect(photonSettings(commandDefaults<PhotonOptions>('photon').opts)).toEqual(PHOTON_DEFAULTS);
  });
});

describe('config schema defaults equal the stage defaults', () => {
  it('integrate: grid, filter, mask, detector, corrections', () => {
    const D = INTEGRATE_DEFAULTS;
    expect(schemaDefaults(schemaNode('grid'))).toEqual(D.grid);
    expect(schemaDefaults(schemaNode('filter'))).toEqual(D.filter);
    expect(schemaDefaults(schemaNode('mask'))).toEqual(D.mask);
    expect(schemaDefaults(schemaNode('detector'))).toEqual(D.detector);
    expect(schemaDefaults(schemaNode('corrections'))).toEqual(D.corrections);
  });

  it('correct: exposure, background exposure (per sweep), space group', () => {
    const sweep = schemaDefaults(schemaNode('sweeps', '[]'), ['exposure', 'background_exposure']);
    expect({ ...sweep, spaceGroup: schemaNode('space_group').default }).toEqual(pick(CORRECT_DEFAULTS, ['exposure', 'backgroundExposure', 'spaceGroup']));
  });

  it('scale, merge, export', () => {
    expect(schemaDefaults(schemaNode('scaling'))).toEqual(SCALE_DEFAULTS);
    expect(schemaDefaults(schemaNode('merge'))).toEqual(MERGE_DEFAULTS);
    expect(schemaDefaults(schemaNode('export'))).toEqual(pick(EXPORT_DEFAULTS, ['formats', 'fill', 'colormap']));
  });

  it('absolute, with the sequence defaults', () => {
    const D = ABSOLUTE_DEFAULTS;
    expect(schemaDefaults(schemaNode('absolute'), ['composition', 'cutoff', 'shells', 'spacing', 'min_completeness'])).toEqual(pick(D, ['composition', 'cutoff', 'shells', 'spacing', 'minCompleteness']));
    expect(schemaDefaults(schemaNode('absolute'), ['copies', 'solvent', 'disulfides', 'ions'])).toEqual(D.sequence);
  });

  it('a minimal config gives the runner exactly the stage defaults', () => {
    const cfg = parseRunConfig('sweeps:\n  - expt: indexed.expt\n', '/tmp/diffract-defaults/diffract.yaml');
    expect(integrateSettingsOf(cfg)).toEqual(INTEGRATE_DEFAULTS);
    expect(correctSettingsOf(cfg, 0)).toEqual(CORRECT_DEFAULTS);
    expect(cfg.scaling).toEqual(SCALE_DEFAULTS);
    expect(cfg.merge).toEqual(MERGE_DEFAULTS);
    expect(exportSettingsOf(cfg)).toEqual(EXPORT_DEFAULTS);
    const { sequence: _s, ...absolute } = ABSOLUTE_DEFAULTS;
    expect(cfg.absolute).toEqual(absolute);
  });
});

describe('settings errors name the setting; CLI errors name the flag', () => {
  it('a stage check names the setting', () => {
    const bad = structuredClone(INTEGRATE_DEFAULTS);
    bad.filter.maxCount = 0;
    expect(() => validateIntegrateSettings(bad)).toThrow(SettingError);
    expect(() => validateIntegrateSettings(bad)).toThrow(/filter\.maxCount must be an integer ≥ 1/);
    expect(() => validateMergeSettings({ ...MERGE_DEFAULTS, shells: 0 })).toThrow(/field 'shells': shells must be an integer 1…1000/);
  });

  it('the same check from the command line names the flag', () => {
    const { cmd, opts } = commandDefaults<VoxelCliOptions>('integrate');
    const run = (): unknown => voxelSettings({ ...opts, maxCount: '0' }, cmd);
    expect(run).toThrow(UsageError);
    expect(run).toThrow(/field '--max-count': --max-count must be an integer ≥ 1, got '0'/);
    expect(() => mergeSettings({ ...commandDefaults<MergeCliOptions>('merge').opts, shells: '0' })).toThrow(/--shells must be an integer 1…1000/);
  });
});
