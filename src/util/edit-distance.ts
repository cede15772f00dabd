/** Levenshtein distance between two strings, and the nearest of a list of names by it. */

/** Levenshtein distance (insertions, deletions and substitutions each cost 1). */
export function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min((prev[j] as number) + 1, (cur[j - 1] as number) + 1, (prev[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length] as number;
}

/** The name of `names` nearest to `name` by edit distance (the first on a tie) and that distance; undefined for an empty list. */
export function nearestName(name: string, names: readonly string[]): { name: string; distance: number } | undefined {
  let best: { name: string; distance: number } | undefined;
  for (const n of names) {
    const d = editDistance(name, n);
    if (best === undefined || d < best.distance) best = { name: n, distance: d };
  }
  return best;
}
