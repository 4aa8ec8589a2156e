/**
 * Single-query attention over a flat KV sequence, and the distortion measures the KV codecs are
 * judged by: attention KL and attention-output relative error.
 * @module
 */

/** Softmax probabilities and the output of one query over [T][headDim] keys and values. */
export function attend(
  q: Float32Array,
  keys: Float32Array,
  values: Float32Array,
  headDim: number,
): { probs: Float64Array; out: Float64Array } {
  const t = keys.length / headDim;
  const scores = new Float64Array(t);
  let max = -Infinity;
  for (let j = 0; j < t; j++) {
    let s = 0;
    for (let d = 0; d < headDim; d++) s += q[d] * keys[j * headDim + d];
    scores[j] = s / Math.sqrt(headDim);
    max = Math.max(max, scores[j]);
  }
  let sum = 0;
  for (let j = 0; j < t; j++) sum += scores[j] = Math.exp(scores[j] - max);
  const out = new Float64Array(headDim);
  for (let j = 0; j < t; j++) {
    scores[j] /= sum;
    for (let d = 0; d < headDim; d++) out[d] += scores[j] * values[j * headDim + d];
  }
  return { probs: scores, out };
}

/** KL(p ‖ q) in nats. */
export function klDivergence(p: Float64Array, q: Float64Array): number {
  let kl = 0;
  for (let i = 0; i < p.length; i++) {
    if (p[i] > 0) kl += p[i] * Math.log(p[i] / Math.max(q[i], 1e-300));
  }
  return kl;
}

/** ‖a − b‖ / ‖a‖. */
export function relativeError(a: Float64Array, b: Float64Array): number {
  let num = 0, den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i] - b[i]) ** 2;
    den += a[i] ** 2;
  }
  return Math.sqrt(num / den);
}
