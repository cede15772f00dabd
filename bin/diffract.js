#!/usr/bin/env node
// The `diffract` command. In a checkout it runs the TypeScript sources through
// tsx's loader, so that a fresh clone needs no build step before
// `npx diffract demo`; the published package (no src/) runs the compiled dist/.
import { existsSync } from 'node:fs';

const sources = new URL('../src/cli/main.ts', import.meta.url);
let main;
if (existsSync(sources)) {
  // h5wasm's 4 MB emscripten module is plain JS: load it before tsx's hooks
  // exist, so tsx does not rewrite it (and build a source map of it) on every
  // start: that took 2–4 s and 600 MB of RSS per command (issue 14)
  await import('h5wasm/node');
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import(sources.href));
} else {
  ({ main } = await import('../dist/cli/main.js'));
}
process.exitCode = await main(process.argv.slice(2));
