#!/usr/bin/env node
// Runs a TypeScript entry point of this package (bench scripts, tools) through tsx.
import 'h5wasm/node'; // before tsx's loader: see bin/diffract.js
import { register } from 'tsx/esm/api';
import { pathToFileURL } from 'node:url';
import { resolve } from 'node:path';

register();
const entry = process.argv[2];
if (!entry) {
  console.error('usage: run-ts.js FILE.ts [args...]');
  process.exit(2);
}
process.argv.splice(2, 1);
await import(pathToFileURL(resolve(entry)).href);
