/**
 * Paired comparison of two configurations scored on the same problems: the difference in
 * accuracy with its 95% interval (normal approximation on per-problem differences) and the
 * exact McNemar p-value on the discordant problems.
 * @module
 */

/** One configuration against another on the same problems. */
export interface PairedDifference {
  n: number;
  /** Accuracy of a minus accuracy of b, as a fraction. */
  diff: number;
  /** 95% interval of `diff`. */
  lo: number;
  hi: number;
  /** Problems a solves and b does not, and the reverse. */
  onlyA: number;
  onlyB: number;
  /** Exact two-sided McNemar p-value. */
  p: number;
}

/** Compares outcomes `a` and `b` of the same problems in the same order. */
export function pairedDifference(a: readonly boolean[], b: readonly boolean[]): PairedDifference {
  if (a.length !== b.length || a.length === 0) {
    throw new RangeError(`Paired outcomes need equal, non-zero lengths: ${a.length}, ${b.length}`);
  }
  const n = a.length;
  let onlyA = 0, onlyB = 0;
  for (let i = 0; i < n; i++) {
    if (a[i] && !b[i]) onlyA++;
    if (b[i] && !a[i]) onlyB++;
  }
  const diff = (onlyA - onlyB) / n;
  // per-problem differences are -1, 0 or 1: their variance from the discordant counts
  const variance = ((onlyA + onlyB) / n - diff * diff) / Math.max(1, n - 1);
  const half = 1.96 * Math.sqrt(Math.max(0, variance));
  return { n, diff, lo: diff - half, hi: diff + half, onlyA, onlyB, p: mcnemar(onlyA, onlyB) };
}

/** Exact two-sided McNemar p: twice the binomial tail of the rarer discordant count. */
export function mcnemar(b: number, c: number): number {
  const n = b + c;
  if (n === 0) return 1;
  const k = Math.min(b, c);
  let tail = 0;
  let term = 0.5 ** n; // C(n, 0) / 2^n
  for (let i = 0; i <= k; i++) {
    tail += term;
    term *= (n - i) / (i + 1);
  }
  return Math.min(1, 2 * tail);
}
