/**
 * Distortion of a quantized KV cache, measured against the f16 cache it came from: attention
 * KL with the model's real queries, attention-output relative error (values quantized too),
 * and the KL of the next-token distribution from two teacher-forced runs' logits.
 * @module
 */
import type { KvBlock, KvTrace, QuantizedCache } from "./trace.ts";

/** Per-layer samples (one per sampled query position and head) of the attention metrics. */
export interface AttentionSamples {
  /** KL(p_f16 ‖ p_quant) of the attention weights, [layer][sample]. */
  kl: number[][];
  /** ‖o_f16 − o_quant‖ / ‖o_f16‖ of the attention output, [layer][sample]. */
  outputError: number[][];
}

/** Query positions per layer that the attention metrics sample, evenly spaced; default 32. */
export const DEFAULT_MAX_QUERIES = 32;

/**
 * Attention KL and output error of `cache` against `trace`, causally: the query at position t
 * sees tokens 0..t, and the tokens of t's own block stay f16, as the open block does at run time.
 * Queries are sampled from generated tokens, which read the sealed cache at every decode step;
 * prompt tokens attend during prefill, before their blocks are sealed.
 */
export function attentionDistortion(
  trace: KvTrace,
  cache: QuantizedCache,
  blocks: readonly KvBlock[],
  maxQueries: number = DEFAULT_MAX_QUERIES,
): AttentionSamples {
  const { numHeads, numKvHeads, headDim, tokens } = trace;
  const group = numHeads / numKvHeads;
  const generated = trace.phases.flatMap((p, t) => (p === "prompt" ? [] : [t]));
  const positions = samplePositions(
    generated.length > 0 ? generated : trace.phases.map((_, t) => t),
    maxQueries,
  );
  const blockStart = new Int32Array(tokens);
  for (const b of blocks) blockStart.fill(b.start, b.start, b.end);
  const scratch = { ref: new Float64Array(tokens), quant: new Float64Array(tokens) };
  const kl: number[][] = [];
  const outputError: number[][] = [];
  for (let layer = 0; layer < trace.numLayers; layer++) {
    const klLayer: number[] = [];
    const errLayer: number[] = [];
    for (const t of positions) {
      for (let h = 0; h < numHeads; h++) {
        const head: HeadView = {
          q: trace.queries[layer].subarray(
            (t * numHeads + h) * headDim,
            (t * numHeads + h + 1) * headDim,
          ),
          kvHead: Math.floor(h / group),
          t,
          openFrom: blockStart[t],
        };
        const r = headDistortion(trace, cache, layer, head, scratch);
        klLayer.push(r.kl);
        errLayer.push(r.outputError);
      }
    }
    kl.push(klLayer);
    outputError.push(errLayer);
  }
  return { kl, outputError };
}

interface HeadView {
  q: Float32Array;
  kvHead: number;
  /** Query position. */
  t: number;
  /** First token of the open (f16) block that holds t. */
  openFrom: number;
}

function headDistortion(
  trace: KvTrace,
  cache: QuantizedCache,
  layer: number,
  head: HeadView,
  scratch: { ref: Float64Array; quant: Float64Array },
): { kl: number; outputError: number } {
  const { numKvHeads, headDim } = trace;
  const { q, kvHead, t, openFrom } = head;
  const n = t + 1;
  const scale = 1 / Math.sqrt(headDim);
  const kRef = trace.keys[layer];
  const kQuant = cache.keys[layer];
  for (let j = 0; j < n; j++) {
    const at = (j * numKvHeads + kvHead) * headDim;
    const kq = j >= openFrom ? kRef : kQuant;
    let sr = 0;
    let sq = 0;
    for (let i = 0; i < headDim; i++) {
      sr += q[i] * kRef[at + i];
      sq += q[i] * kq[at + i];
    }
    scratch.ref[j] = sr * scale;
    scratch.quant[j] = sq * scale;
  }
  const ref = scratch.ref.subarray(0, n);
  const quant = scratch.quant.subarray(0, n);
  logSoftmaxInPlace(ref);
  logSoftmaxInPlace(quant);
  let kl = 0;
  for (let j = 0; j < n; j++) kl += Math.exp(ref[j]) * (ref[j] - quant[j]);
  const vRef = trace.values[layer];
  const vQuant = cache.values[layer];
  const oRef = new Float64Array(headDim);
  const oQuant = new Float64Array(headDim);
  for (let j = 0; j < n; j++) {
    const pRef = Math.exp(ref[j]);
    const pQuant = Math.exp(quant[j]);
    const at = (j * numKvHeads + kvHead) * headDim;
    const vq = j >= openFrom ? vRef : vQuant;
    for (let i = 0; i < headDim; i++) {
      oRef[i] += pRef * vRef[at + i];
      oQuant[i] += pQuant * vq[at + i];
    }
  }
  let diff = 0;
  let norm = 0;
  for (let i = 0; i < headDim; i++) {
    diff += (oRef[i] - oQuant[i]) ** 2;
    norm += oRef[i] ** 2;
  }
  return { kl: Math.max(0, kl), outputError: norm === 0 ? 0 : Math.sqrt(diff / norm) };
}

/** Up to `max` of `candidates`, spread evenly, always including the last. */
export function samplePositions(candidates: readonly number[], max: number): number[] {
  const n = Math.min(candidates.length, Math.max(1, max));
  const picked = new Set<number>();
  for (let i = 0; i < n; i++) {
    picked.add(candidates[Math.round(((i + 1) * candidates.length) / n) - 1]);
  }
  return [...picked];
}

/** Replaces `x` with log softmax(x), shifting by the maximum so no exp overflows. */
export function logSoftmaxInPlace(x: Float64Array): void {
  let max = -Infinity;
  for (const v of x) if (v > max) max = v;
  let sum = 0;
  for (const v of x) sum += Math.exp(v - max);
  const lse = max + Math.log(sum);
  for (let i = 0; i < x.length; i++) x[i] -= lse;
}

/**
 * KL(softmax(ref) ‖ softmax(quant)) of the next-token distribution at each position; both
 * arrays are (positions, vocabSize) logits from teacher-forced runs on the same tokens.
 */
export function nextTokenKl(ref: Float32Array, quant: Float32Array, vocabSize: number): number[] {
  if (ref.length !== quant.length || ref.length % vocabSize !== 0) {
    throw new RangeError(
      `Logits of ${ref.length} and ${quant.length} floats do not match vocab ${vocabSize}`,
    );
  }
  const out: number[] = [];
  for (let at = 0; at < ref.length; at += vocabSize) {
    const p = Float64Array.from(ref.subarray(at, at + vocabSize));
    const q = Float64Array.from(quant.subarray(at, at + vocabSize));
    logSoftmaxInPlace(p);
    logSoftmaxInPlace(q);
    let kl = 0;
    for (let i = 0; i < vocabSize; i++) kl += Math.exp(p[i]) * (p[i] - q[i]);
    out.push(Math.max(0, kl));
  }
  return out;
}
