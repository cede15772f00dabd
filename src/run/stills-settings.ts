/**
 * The defaults of the `stills:` section of a run config that belong to the run
 * itself (which shots, how they are chunked, what a bad shot does, the Bragg
 * reference's partiality cut). The extraction, mask and scaling settings take
 * theirs from their modules' defaults objects (src/stills/).
 */
import type { BadShotPolicy, POrderConfig, StillsBraggConfig } from './config-types.ts';

export interface StillsRunDefaults {
  pOrder: POrderConfig;
  bragg: StillsBraggConfig;
  onBadShot: BadShotPolicy;
  chunkShots: number;
}

const DEFAULTS: StillsRunDefaults = {
  pOrder: { kind: 'index' },
  bragg: { model: 'xsphere', threshold: 0.3, intensity: 'prf' },
  onBadShot: 'stop',
  chunkShots: 100,
};
export const STILLS_RUN_DEFAULTS: Readonly<StillsRunDefaults> = Object.freeze(DEFAULTS);

/** The p_order sources named by a word (the CSV form is a mapping). */
export const P_ORDER_KINDS = ['index', 'timestamp', 'diffuse', 'pulse_energy'] as const;

/** Most shots one checkpoint chunk may hold (its rows are held in memory while it is written). */
export const MAX_CHUNK_SHOTS = 100_000;
