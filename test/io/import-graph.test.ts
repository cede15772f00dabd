/**
 * The readers in src/io import each other without a circle (issue 12: the
 * eiger-h5 ↔ nexus-geometry circle is gone; the HDF5 layout is in a module of
 * its own). The graph is read from the `import … from './x.ts'` lines.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../helpers/paths.ts';

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? tsFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
}

/** Module → the modules under `root` it imports (static imports and re-exports, types included). */
function importGraph(root: string): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of tsFiles(root)) {
    const text = readFileSync(file, 'utf8');
    const deps = [...text.matchAll(/^(?:import|export)\s[^;]*?from\s+'(\.{1,2}\/[^']+\.ts)'/gms)].map((m) => resolve(dirname(file), m[1]!)).filter((d) => d.startsWith(root));
    graph.set(file, deps);
  }
  return graph;
}

/** One import circle as a list of modules, or null. */
function findCycle(graph: Map<string, string[]>): string[] | null {
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (n: string): string[] | null => {
    if (state.get(n) === 'done') return null;
    if (state.get(n) === 'open') return [...stack.slice(stack.indexOf(n)), n];
    state.set(n, 'open');
    stack.push(n);
    for (const d of graph.get(n) ?? []) {
      const c = visit(d);
      if (c !== null) return c;
    }
    stack.pop();
    state.set(n, 'done');
    return null;
  };
  for (const n of graph.keys()) {
    const c = visit(n);
    if (c !== null) return c;
  }
  return null;
}

describe('src/io import graph', () => {
  it('has no import circle', () => {
    const root = join(REPO_ROOT, 'src', 'io');
    const graph = importGraph(root);
    expect(graph.get(join(root, 'nexus-geometry.ts'))).toContain(join(root, 'hdf5-layout.ts'));
    const cycle = findCycle(graph);
    expect(cycle?.map((f) => relative(root, f)) ?? null).toBeNull();
  });

  it('finds a circle when there is one (the check can fail)', () => {
    expect(findCycle(new Map([['a', ['b']], ['b', ['c']], ['c', ['a']]]))).toEqual(['a', 'b', 'c', 'a']);
  });
});
