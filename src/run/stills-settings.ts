/**
 * The defaults of the `stills:` section of a run config that belong to the run
 * itself (p_order, how shots are chunked, what a bad shot does); the Bragg
 * reference's come from BRAGG_TABLE_DEFAULTS (src/stills/bragg-table.ts). The
 * extraction, mask and scaling settings take theirs from their modules'
 * defaults objects (src/stills/).
 */
import { BRAGG_TABLE_DEFAULTS } from '../stills/bragg-table.ts';
import type { BadShotPolicy, POrderConfig, StillsBraggConfig } from './config-types.ts';

export interface StillsRunDefaults {
  pOrder: POrderConfig;
  bragg: StillsBraggConfig;
  onBadShot: BadShotPolicy;
  chunkShots: number;
}

const DEFAULTS: StillsRunDefaults = {
  pOrder: { kind: 'index' },
  bragg: { model: BRAGG_TABLE_DEFAULTS.partialityModel, threshold: BRAGG_TABLE_DEFAULTS.partialityThreshold, intensity: BRAGG_TABLE_DEFAULTS.intensity },
  onBadShot: 'stop',
  chunkShots: 100,
};
export const STILLS_RUN_DEFAULTS: Readonly<StillsRunDefaults> = Object.freeze(DEFAULTS);

/** The p_order sources named by a word (the CSV form is a mapping). */
export const P_ORDER_KINDS = ['index', 'timestamp', 'diffuse', 'pulse_energy'] as const;

/** Most shots one checkpoint chunk may hold (its rows are held in memory while it is written). */
export const MAX_CHUNK_SHOTS = 100_000;
