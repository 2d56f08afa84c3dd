/**
 * The edit distance between two strings, for "did you mean" suggestions: the config file's
 * unknown keys and `saker run`'s unknown flags are each answered with the closest known name.
 * A leaf module (no imports), so that the command-line entry point can use it without loading
 * the config's modules.
 *
 * @example
 * ```ts
 * editDistance("outptus", "outputs"); // 2
 * ```
 * @module
 */

/**
 * Levenshtein distance between `a` and `b`: the fewest insertions, deletions and substitutions
 * of one character that turn one into the other.
 */
export function editDistance(a: string, b: string): number {
  const dp = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = dp[0];
    dp[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = dp[j];
      dp[j] = Math.min(dp[j] + 1, dp[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return dp[b.length];
}
