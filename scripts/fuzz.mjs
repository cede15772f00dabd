#!/usr/bin/env node
// Runs the reader fuzz tests (test/fuzz) longer than CI does (issue 13).
//
//   npm run fuzz                          # 2000 runs per property, a fresh random seed (many minutes: HDF5 is the slowest)
//   FUZZ_RUNS=5000 FUZZ_SEED=42 npm run fuzz -- test/fuzz/cbf.fuzz.test.ts
//
// FUZZ_RUNS: runs per property (default 2000; CI uses each test's own, 40 to 1500).
// FUZZ_SEED: the seed (default: random, printed first). A failure prints the seed and
// fast-check's path; rerun with the same FUZZ_SEED and FUZZ_RUNS to replay it.
import { spawnSync } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const runs = process.env.FUZZ_RUNS ?? '2000';
const seed = process.env.FUZZ_SEED ?? String(randomInt(0, 2 ** 31 - 1));
const files = process.argv.slice(2);
console.log(`fuzz: FUZZ_SEED=${seed} FUZZ_RUNS=${runs} ${files.length > 0 ? files.join(' ') : 'test/fuzz'}`);
const vitest = join(root, 'node_modules', 'vitest', 'vitest.mjs');
const result = spawnSync(process.execPath, [vitest, 'run', '--testTimeout=0', ...(files.length > 0 ? files : ['test/fuzz'])], {
  cwd: root,
  stdio: 'inherit',
  env: { ...process.env, FUZZ_RUNS: runs, FUZZ_SEED: seed },
});
if (result.status !== 0) console.log(`fuzz: failed with FUZZ_SEED=${seed} FUZZ_RUNS=${runs} (rerun with both to replay)`);
process.exit(result.status ?? 1);
