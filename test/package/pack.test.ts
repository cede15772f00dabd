/**
 * The published library, as a user gets it: `npm pack` (which builds dist/),
 * the tarball unpacked into a temporary project that cannot see src/ (its
 * dependencies are this checkout's installed packages, linked one by one), and
 * then, from that project:
 * - examples/integrate-voxels.mjs, which uses only the public entry points,
 *   integrates the real l-cysteine frames: its voxel tables must be identical
 *   to those of `diffract integrate` on the same frames;
 * - the packaged CLI runs (from dist/, without tsx);
 * - a TypeScript consumer of every entry point typechecks against the shipped
 *   .d.ts files.
 * The package's dependencies are this checkout's installed packages (no
 * registry access needed); tsx, a dev dependency, is not among them.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readTableGroups } from '../../src/io/voxel-tables.ts';
import { runCli } from '../helpers/cli.ts';
import { REPO_ROOT, sharedData } from '../helpers/paths.ts';

const TIMEOUT = 600_000;
let dir: string;
let app: string;
let pkg: string;

function sh(cmd: string, args: readonly string[], cwd: string): string {
  return execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 * 2 ** 20 });
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'diffract-pack-'));
  const packed = JSON.parse(sh('npm', ['pack', '--json', '--pack-destination', dir], REPO_ROOT)) as { filename: string }[];
  const tarball = join(dir, packed[0]!.filename);
  app = join(dir, 'app');
  const modules = join(app, 'node_modules');
  mkdirSync(modules, { recursive: true });
  // the package's declared dependencies (not the dev ones: no tsx), linked from this checkout's
  // node_modules; their own dependencies resolve from where they really lie. For the TypeScript
  // consumer: the type packages its tsconfig names.
  const manifest = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
  for (const name of [...Object.keys(manifest.dependencies), '@types/node', '@webgpu/types']) {
    mkdirSync(dirname(join(modules, name)), { recursive: true });
    symlinkSync(join(REPO_ROOT, 'node_modules', name), join(modules, name));
  }
  sh('tar', ['xzf', tarball, '-C', modules], dir);
  pkg = join(modules, 'diffract');
  sh('mv', [join(modules, 'package'), pkg], dir);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
}, TIMEOUT);

afterAll(() => {
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

describe('the packed library', () => {
  it('ships dist/ and no TypeScript sources', () => {
    expect(existsSync(join(pkg, 'dist', 'index.js'))).toBe(true);
    expect(existsSync(join(pkg, 'dist', 'index.d.ts'))).toBe(true);
    expect(existsSync(join(pkg, 'dist', 'browser.js'))).toBe(true);
    expect(existsSync(join(pkg, 'src'))).toBe(false);
  });

  it(
    'examples/integrate-voxels.mjs gives the voxel tables of `diffract integrate`',
    async () => {
      const expt = sharedData('l-cysteine', '11_integrated.expt');
      const images = sharedData('l-cysteine', 'images');
      const frames = readdirSync(images).filter((f) => f.endsWith('.cbf')).sort().map((f) => join(images, f));
      copyFileSync(join(REPO_ROOT, 'examples', 'integrate-voxels.mjs'), join(app, 'integrate-voxels.mjs'));
      const fromLibrary = join(dir, 'library.h5');
      const out = sh(process.execPath, ['integrate-voxels.mjs', expt, fromLibrary, ...frames], app);
      expect(out).toMatch(/included/);
      const fromCli = join(dir, 'cli.h5');
      const r = await runCli(['integrate', expt, '--out', fromCli, '--backend', 'cpu', '--wedge-frames', '3', '--images', ...frames]);
      expect(r.code, r.stderr).toBe(0);
      const a = await readTableGroups(fromLibrary);
      const b = await readTableGroups(fromCli);
      for (const [table, rows] of [['included', 10_000], ['excluded', 50]] as const) {
        const ca = a.tables.get(table);
        const cb = b.tables.get(table);
        expect(ca, table).toBeDefined();
        expect([...ca!.keys()].sort()).toEqual([...cb!.keys()].sort());
        expect(ca!.get('counts')!.length, table).toBeGreaterThan(rows);
        for (const [col, values] of cb!) expect(Buffer.from(ca!.get(col)!.buffer).equals(Buffer.from(values.buffer)), `${table}/${col}`).toBe(true);
      }
    },
    TIMEOUT,
  );

  it(
    'examples/photon-push.mjs finds every photon its camera planted',
    () => {
      copyFileSync(join(REPO_ROOT, 'examples', 'photon-push.mjs'), join(app, 'photon-push.mjs'));
      const out = sh(process.execPath, ['photon-push.mjs'], app);
      const planted = Number(/planted (\d+) photons/.exec(out)?.[1]);
      const found = Number(/(\d+) photons found/.exec(out)?.[1]);
      expect(planted).toBeGreaterThan(40);
      expect(found).toBe(planted);
    },
    TIMEOUT,
  );

  it('the packaged CLI runs from dist/', () => {
    const out = sh(process.execPath, [join(pkg, 'bin', 'diffract.js'), 'info', '--json', '--backend', 'cpu'], app);
    expect(JSON.parse(out)).toMatchObject({ backendChoice: 'cpu', backend: 'cpu' });
  });

  it(
    'a TypeScript program typechecks against every entry point',
    () => {
      writeFileSync(
        join(app, 'consumer.ts'),
        [
          "import { Engine, stages } from 'diffract';",
          "import { hklMapKernel } from 'diffract/kernels';",
          "import { GpuContext } from 'diffract/browser';",
          "import { openFrameSource } from 'diffract/io';",
          'export const engine: Promise<Engine> = Engine.create({ backend: "cpu" });',
          'export const names: string[] = [stages.integrate.name, hklMapKernel.name];',
          'export type Wrap = typeof GpuContext.wrap;',
          'export const open: typeof openFrameSource = openFrameSource;',
          '',
        ].join('\n'),
      );
      writeFileSync(
        join(app, 'tsconfig.json'),
        JSON.stringify({ compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, types: ['node', '@webgpu/types'], skipLibCheck: false }, files: ['consumer.ts'] }),
      );
      const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
      expect(() => sh(process.execPath, [tsc, '-p', 'tsconfig.json'], app)).not.toThrow();
    },
    TIMEOUT,
  );
});
