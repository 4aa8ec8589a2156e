/**
 * Spread of a sample: every figure calibration reports carries its mean, std and p95, so a
 * difference can be read against the noise.
 * @module
 */

/** Mean, population std, 95th percentile and count of a sample. */
export interface Spread {
  mean: number;
  std: number;
  p95: number;
  count: number;
}

/** Summarises `samples`; an empty sample gives NaN figures and a count of 0. */
export function spreadOf(samples: ArrayLike<number>): Spread {
  const count = samples.length;
  if (count === 0) return { mean: NaN, std: NaN, p95: NaN, count };
  let sum = 0;
  for (let i = 0; i < count; i++) sum += samples[i];
  const mean = sum / count;
  let sq = 0;
  for (let i = 0; i < count; i++) sq += (samples[i] - mean) ** 2;
  const sorted = Float64Array.from(samples).sort();
  // nearest-rank percentile: the smallest value with at least 95% of the sample at or below it
  const p95 = sorted[Math.max(0, Math.ceil(0.95 * count) - 1)];
  return { mean, std: Math.sqrt(sq / count), p95, count };
}
