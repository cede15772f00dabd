#!/usr/bin/env node
// The `diffract` command. In a checkout it runs the TypeScript sources through
// tsx's loader, so that a fresh clone needs no build step before
// `npx diffract demo`; the published package (no src/) runs the compiled dist/.
import { existsSync } from 'node:fs';

const sources = new URL('../src/cli/main.ts', import.meta.url);
let main;
if (existsSync(sources)) {
  // h5wasm (4 MB of JavaScript) is loaded before tsx's loader is registered:
  // through the loader it costs seconds and some 500 MiB of resident memory
  // (its source-map handling); the sources' later imports get this instance.
  await import('h5wasm/node');
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import(sources.href));
} else {
  ({ main } = await import('../dist/cli/main.js'));
}
process.exitCode = await main(process.argv.slice(2));
