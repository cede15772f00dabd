/** Paths used by the tests: the repository root and the real data in ../shared/data. */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The shared real-data folder (../shared/data beside the checkout). Tests that need it fail, not skip, when it is absent. */
export function sharedData(...parts: string[]): string {
  const base = process.env.DIFFRACT_SHARED_DATA ?? resolve(REPO_ROOT, '..', 'shared', 'data');
  const p = join(base, ...parts);
  if (!existsSync(p)) {
    throw new Error(`test data missing: ${p} (expected ../shared/data beside the checkout, or DIFFRACT_SHARED_DATA)`);
  }
  return p;
}
