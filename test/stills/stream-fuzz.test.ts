/**
 * The CrystFEL stream reader on damaged input (issue 13's rule for every reader):
 * lines of the real stream dropped, duplicated or garbled give either a parsed
 * stream (whose conversion to shots also ends in a result or a user error) or one
 * DiffractError of one line, never another exception.
 */
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DiffractError } from '../../src/errors.ts';
import { parseCrystfelStream } from '../../src/io/crystfel-stream.ts';
import { stillsFromStream } from '../../src/stills/crystfel.ts';
import { sharedData } from '../helpers/paths.ts';

const lines = readFileSync(sharedData('stills', 'crystfel', 'crystfel.stream'), 'utf8').split('\n');

type Edit = { kind: 'drop' | 'dup'; at: number } | { kind: 'garble'; at: number; text: string } | { kind: 'cut'; at: number };

const edit: fc.Arbitrary<Edit> = fc.oneof(
  fc.record({ kind: fc.constant('drop' as const), at: fc.nat(lines.length - 1) }),
  fc.record({ kind: fc.constant('dup' as const), at: fc.nat(lines.length - 1) }),
  fc.record({ kind: fc.constant('cut' as const), at: fc.nat(lines.length - 1) }),
  fc.record({ kind: fc.constant('garble' as const), at: fc.nat(lines.length - 1), text: fc.oneof(fc.string({ maxLength: 40 }), fc.constantFrom('astar = 1 2 nm^-1', 'profile_radius = x', '   1 2 3 4 5 6 7 8 9 nopanel', 'p0/res = -3', 'p0/fs = 2q', '--- Begin crystal', '----- End chunk -----')) }),
);

function apply(src: readonly string[], edits: readonly Edit[]): string {
  let out = [...src];
  for (const e of edits) {
    const at = Math.min(e.at, out.length - 1);
    if (e.kind === 'drop') out.splice(at, 1);
    else if (e.kind === 'dup') out.splice(at, 0, out[at] ?? '');
    else if (e.kind === 'cut') out = out.slice(0, Math.max(1, at));
    else if (e.kind === 'garble') out[at] = e.text;
  }
  return out.join('\n');
}

describe('CrystFEL stream reader on damaged input', () => {
  it('returns a stream or throws one single-line DiffractError', () => {
    fc.assert(
      fc.property(fc.array(edit, { minLength: 1, maxLength: 4 }), (edits) => {
        const text = apply(lines, edits);
        try {
          stillsFromStream(parseCrystfelStream(text, 'fuzz.stream'));
        } catch (e) {
          if (!(e instanceof DiffractError)) throw e;
          expect(e.message.includes('\n')).toBe(false);
          expect(e.message.startsWith('fuzz.stream')).toBe(true);
        }
      }),
      { numRuns: 300, seed: 15 },
    );
  });
});
