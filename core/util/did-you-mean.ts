/**
 * The edit distance between two words (optimal string alignment: insertions, deletions, substitutions and
 * transpositions of neighbours each cost 1), compared without regard to case.
 */
export function editDistance(a: string, b: string): number {
  const s = a.toLowerCase();
  const t = b.toLowerCase();
  // Three rows: the one before the previous (for transpositions), the previous and the current.
  let before: number[] = [];
  let previous = Array.from({ length: t.length + 1 }, (_, j) => j);
  for (let i = 1; i <= s.length; i++) {
    const current = [i];
    for (let j = 1; j <= t.length; j++) {
      const cost = s[i - 1] === t[j - 1] ? 0 : 1;
      let d = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + cost);
      if (i > 1 && j > 1 && s[i - 1] === t[j - 2] && s[i - 2] === t[j - 1]) d = Math.min(d, before[j - 2]! + 1);
      current.push(d);
    }
    before = previous;
    previous = current;
  }
  return previous[t.length]!;
}

/**
 * The candidate a mistyped word most likely meant, or undefined when none is close: within about a third of the
 * word's length in edits (at least 1), or the only candidate the word begins (`--conf` for `--config`).
 */
export function didYouMean(word: string, candidates: Iterable<string>): string | undefined {
  const list = [...new Set(candidates)].filter((c) => c !== word);
  const limit = Math.max(1, Math.floor(word.length / 3));
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const candidate of list) {
    const distance = editDistance(word, candidate);
    if (distance <= limit && distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  if (best !== undefined) return best;
  const lower = word.toLowerCase();
  const prefixed = list.filter((c) => c.toLowerCase().startsWith(lower));
  return lower.length >= 3 && prefixed.length === 1 ? prefixed[0] : undefined;
}
