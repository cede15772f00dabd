#!/usr/bin/env node
// `npm run build`: the published library in dist/ — ESM JavaScript and .d.ts
// compiled from src/ by tsc (tsconfig.build.json), plus the files src/ reads
// at run time beside its modules (the viewer's static page).
import { execFileSync } from 'node:child_process';
import { cpSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
rmSync(join(root, 'dist'), { recursive: true, force: true });
// progress and errors on stderr: stdout stays for the callers' output (npm pack --json)
execFileSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json')], { cwd: root, stdio: ['ignore', 2, 2] });
cpSync(join(root, 'src', 'viewer', 'static'), join(root, 'dist', 'viewer', 'static'), { recursive: true });
console.error('built dist/');
