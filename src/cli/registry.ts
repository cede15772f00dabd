/**
 * The subcommands of `diffract`. Each module exports a `CommandSpec`; add new
 * ones here (one line each, alphabetical).
 */
import type { CommandSpec } from './command-spec.ts';
import { absoluteCommand } from './commands/absolute.ts';
import { correctCommand } from './commands/correct.ts';
import { demoCommand } from './commands/demo.ts';
import { exportCommand } from './commands/export.ts';
import { filterCommand } from './commands/filter.ts';
import { hklCommand } from './commands/hkl.ts';
import { infoCommand } from './commands/info.ts';
import { initCommand } from './commands/init.ts';
import { integrateCommand } from './commands/integrate.ts';
import { mapCommand } from './commands/map.ts';
import { mergeCommand } from './commands/merge.ts';
import { photonCommand } from './commands/photon.ts';
import { photonCalibCommand } from './commands/photon-calib.ts';
import { runCommand } from './commands/run.ts';
import { scaleCommand } from './commands/scale.ts';
import { simulateCommand } from './commands/simulate.ts';
import { spotsCommand } from './commands/spots.ts';
import { stillsImportCommand } from './commands/stills-import.ts';
import { submitCommand } from './commands/submit.ts';
import { viewCommand } from './commands/view.ts';

export type { CommandSpec } from './command-spec.ts';

export const COMMANDS: readonly CommandSpec[] = [
  absoluteCommand,
  correctCommand,
  demoCommand,
  exportCommand,
  filterCommand,
  hklCommand,
  infoCommand,
  initCommand,
  integrateCommand,
  mapCommand,
  mergeCommand,
  photonCommand,
  photonCalibCommand,
  runCommand,
  scaleCommand,
  simulateCommand,
  spotsCommand,
  stillsImportCommand,
  submitCommand,
  viewCommand,
];
