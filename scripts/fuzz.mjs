#!/usr/bin/env node
// Runs the reader fuzz tests (test/fuzz) longer than CI does (issue 13).
//
//   npm run fuzz                          # 2000 runs per property, a fresh random seed (many minutes: HDF5 is the slowest)
//   FUZZ_RUNS=5000 FUZZ_SEED=42 npm run fuzz -- test/fuzz/cbf.fuzz.test.ts
//
// FUZZ_RUNS: runs per property (default 2000; CI uses each test's own, 40 to 1500).
// FUZZ_SEED: the seed (default: random, printed first). A failure prints the seed and
// fast-check's path; rerun with the same FUZZ_SEED and FUZZ_RUNS to replay it.
// FUZZ_FILE_TIMEOUT_S: wall-clock limit per test file (default 3600). A reader that
// hangs inside synchronous code (e.g. libhdf5 in WebAssembly) blocks every timer of its
// process, so the limit is kept here, outside: the file's process group is killed and
// the seed printed.
import { spawn } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const runs = process.env.FUZZ_RUNS ?? '2000';
const seed = process.env.FUZZ_SEED ?? String(randomInt(0, 2 ** 31 - 1));
const limitS = Number(process.env.FUZZ_FILE_TIMEOUT_S ?? '3600');
const files = process.argv.length > 2 ? process.argv.slice(2) : readdirSync(join(root, 'test', 'fuzz')).filter((f) => f.endsWith('.fuzz.test.ts')).sort().map((f) => join('test', 'fuzz', f));
const vitest = join(root, 'node_modules', 'vitest', 'vitest.mjs');
const replay = `FUZZ_SEED=${seed} FUZZ_RUNS=${runs}`;
console.log(`fuzz: ${replay}, ${files.length} file(s), at most ${limitS} s each`);

/** Runs one test file in its own process group; resolves to 'pass', 'fail' or 'hang'. */
function runFile(file) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [vitest, 'run', '--testTimeout=0', file], {
      cwd: root,
      stdio: 'inherit',
      detached: true,
      env: { ...process.env, FUZZ_RUNS: runs, FUZZ_SEED: seed },
    });
    let hung = false;
    const timer = setTimeout(() => {
      hung = true;
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }, limitS * 1000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve(hung ? 'hang' : code === 0 ? 'pass' : 'fail');
    });
  });
}

const failed = [];
for (const file of files) {
  const outcome = await runFile(file);
  if (outcome === 'hang') console.log(`fuzz: ${file} did not finish in ${limitS} s (a reader hangs?): replay with ${replay} npx vitest run ${file}`);
  if (outcome === 'fail') console.log(`fuzz: ${file} failed: replay with ${replay} npx vitest run ${file}`);
  if (outcome !== 'pass') failed.push(file);
}
console.log(failed.length === 0 ? `fuzz: all ${files.length} file(s) passed (${replay})` : `fuzz: ${failed.length} of ${files.length} file(s) failed (${replay})`);
process.exit(failed.length === 0 ? 0 : 1);
