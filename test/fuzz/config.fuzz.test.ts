/** Fuzz: the run-config reader (YAML and JSON) takes mutants of the `diffract init` template and gives a checked config or a UsageError (issue 13). */
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { UsageError } from '../../src/errors.ts';
import { parseRunConfig } from '../../src/run/config.ts';
import { RUN_CONFIG_TEMPLATE } from '../../src/run/config-template.ts';
import type { RunConfig } from '../../src/run/config-types.ts';
import { errorOf } from '../io/helpers.ts';
import { expectAllFinite, expectTypedOrValid, fuzz, jsonMutantArb, textMutantArb } from './mutate.ts';

const YAML_FILE = '/fuzz/proj/diffract.yaml';
const JSON_FILE = '/fuzz/proj/diffract.json';
/** config errors list every problem, one per line: the first line names the file */
const EXPECT_YAML = { file: YAML_FILE, multiLine: true };
const EXPECT_JSON = { file: JSON_FILE, multiLine: true };

function validConfig(c: RunConfig): void {
  expectAllFinite(c);
  expect(c.sweeps.length).toBeGreaterThan(0);
}

describe('run config reader fuzz', () => {
  const tree = parseYaml(RUN_CONFIG_TEMPLATE) as unknown;

  it('the seeds read', () => {
    validConfig(parseRunConfig(RUN_CONFIG_TEMPLATE, YAML_FILE));
    validConfig(parseRunConfig(JSON.stringify(tree), JSON_FILE));
  });

  it('YAML text mutants give a config or a UsageError naming the file', () => {
    fuzz([textMutantArb([RUN_CONFIG_TEMPLATE])], (text) => expectTypedOrValid(() => parseRunConfig(text, YAML_FILE), EXPECT_YAML, validConfig), 250);
  });

  it('JSON tree mutants (hostile values at any key) give a config or a UsageError', () => {
    fuzz([jsonMutantArb(tree)], (text) => expectTypedOrValid(() => parseRunConfig(text, JSON_FILE), EXPECT_JSON, validConfig), 300);
  });

  it('the same trees as YAML (flow style) give a config or a UsageError', () => {
    fuzz([jsonMutantArb(tree)], (text) => expectTypedOrValid(() => parseRunConfig(text, YAML_FILE), EXPECT_YAML, validConfig), 150);
  });

  it('an alias bomb is a UsageError, not a ReferenceError', () => {
    const bomb = ['a: &a ["x","x","x","x","x","x","x","x","x"]', ...Array.from({ length: 8 }, (_, i) => `${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)}]`), 'sweeps: [{expt: x.expt}]'].join('\n');
    const err = errorOf(() => parseRunConfig(bomb, YAML_FILE));
    expect(err).toBeInstanceOf(UsageError);
    expect(err.message).toContain(YAML_FILE);
    expect(err.message).toMatch(/alias/);
  });

  it('huge scaling grids and a tiny b step are refused by the schema', () => {
    for (const extra of ['scaling: {a_grid: [100000, 100000, 100000]}', 'scaling: {b_step_deg: 1.0e-9}']) {
      const err = errorOf(() => parseRunConfig(`sweeps: [{expt: x.expt}]\n${extra}\n`, YAML_FILE));
      expect(err).toBeInstanceOf(UsageError);
      expect(err.field).toMatch(/^scaling\./);
    }
  });
});
