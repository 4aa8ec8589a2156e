/**
 * Paired comparison of two configurations on the same problems: problems lost and gained against
 * the baseline, the paired difference in accuracy with its 95% interval, and McNemar's exact
 * p-value. Pairing removes the between-problem variance that two separate accuracies carry.
 * @module
 */

/** A configuration's accuracy against the baseline's on the same problems. */
export interface PairedDifference {
  /** Problems compared. */
  n: number;
  /** Problems the baseline solves and the configuration does not. */
  lost: number;
  /** Problems the configuration solves and the baseline does not. */
  gained: number;
  /** Accuracy minus the baseline's, as a fraction (negative: worse). */
  diff: number;
  /** 95% interval of `diff` (normal approximation to the paired differences). */
  ci95: [number, number];
  /** Two-sided exact McNemar p-value of lost against gained. */
  mcnemarP: number;
}

/** Compares `correct` with `baseline`, problem by problem; throws when their lengths differ. */
export function pairedDifference(
  correct: readonly boolean[],
  baseline: readonly boolean[],
): PairedDifference {
  if (correct.length !== baseline.length) {
    throw new RangeError(
      `Paired results differ in length: ${correct.length} vs ${baseline.length}`,
    );
  }
  const n = correct.length;
  let lost = 0, gained = 0;
  for (let i = 0; i < n; i++) {
    if (baseline[i] && !correct[i]) lost++;
    if (!baseline[i] && correct[i]) gained++;
  }
  const diff = n > 0 ? (gained - lost) / n : 0;
  // d_i is +1, -1 or 0; its sample variance gives the standard error of the mean difference
  const meanSq = n > 0 ? (gained + lost) / n : 0;
  const variance = n > 1 ? (meanSq - diff * diff) * n / (n - 1) : 0;
  const half = 1.96 * Math.sqrt(Math.max(0, variance) / Math.max(1, n));
  return {
    n,
    lost,
    gained,
    diff,
    ci95: [diff - half, diff + half],
    mcnemarP: mcnemar(lost, gained),
  };
}

/** Two-sided exact McNemar test: the discordant pairs as a fair binomial. */
export function mcnemar(b: number, c: number): number {
  const m = b + c;
  if (m === 0) return 1;
  const k = Math.min(b, c);
  // P(X <= k) for X ~ Binomial(m, 1/2), summed in log space to stay finite for large m
  let logC = 0;
  let tail = 0;
  for (let i = 0; i <= k; i++) {
    if (i > 0) logC += Math.log(m - i + 1) - Math.log(i);
    tail += Math.exp(logC - m * Math.LN2);
  }
  return Math.min(1, 2 * tail);
}

/** "-0.4 pt [-1.2, +0.4]": a difference and its interval in accuracy points. */
export function formatPoints(d: PairedDifference): string {
  const pt = (x: number) => `${x >= 0 ? "+" : ""}${(100 * x).toFixed(1)}`;
  return `${pt(d.diff)} [${pt(d.ci95[0])}, ${pt(d.ci95[1])}]`;
}
