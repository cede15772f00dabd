/** `diffract run` with a `stills:` config (being built: the extraction, scaling and merge it calls come from the stills-extract and stills-scale branches). */
import { UsageError } from '../errors.ts';
import type { RunConfig } from './config-types.ts';
import type { RunnerOptions, RunSummary } from './run-types.ts';

export async function runStills(cfg: RunConfig, _opts: RunnerOptions): Promise<RunSummary> {
  throw new UsageError('stills runs are not built yet', { file: cfg.source, field: 'stills' });
}
