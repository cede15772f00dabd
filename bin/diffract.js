#!/usr/bin/env node
// The `diffract` command. The sources are TypeScript, run through tsx's loader so
// that a fresh clone needs no build step before `npx diffract demo`.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
