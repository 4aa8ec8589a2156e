/**
 * What calibration reads from the model: per layer, the keys, values and real queries of
 * every token of one generated sequence, with each token's phase. Plain typed arrays, so the
 * runner, a file or a test can produce it.
 * @module
 */
import type { Phase } from "../kv/types.ts";

/** One sequence's KV cache and queries, as the model produced them with an f16 cache. */
export interface KvTrace {
  numLayers: number;
  numKvHeads: number;
  /** Query heads; a multiple of `numKvHeads` (grouped-query attention). */
  numHeads: number;
  headDim: number;
  tokens: number;
  /** The phase of each token, length `tokens`. */
  phases: Phase[];
  /** Per layer, (tokens, numKvHeads, headDim) row-major. */
  keys: Float32Array[];
  /** Per layer, (tokens, numKvHeads, headDim) row-major. */
  values: Float32Array[];
  /** Per layer, (tokens, numHeads, headDim) row-major: the model's own queries after RoPE. */
  queries: Float32Array[];
}

/** A dequantized cache, laid out like `KvTrace.keys` / `KvTrace.values`. */
export interface QuantizedCache {
  keys: Float32Array[];
  values: Float32Array[];
}

/** A run of consecutive tokens of one phase that the runtime seals as one KV block. */
export interface KvBlock {
  index: number;
  /** First token (inclusive). */
  start: number;
  /** Last token (exclusive). */
  end: number;
  phase: Phase;
}

/** Throws a RangeError naming the first field of `trace` whose shape is inconsistent. */
export function validateTrace(trace: KvTrace): void {
  const { numLayers, numKvHeads, numHeads, headDim, tokens } = trace;
  for (const [name, n] of Object.entries({ numLayers, numKvHeads, numHeads, headDim, tokens })) {
    if (!Number.isInteger(n) || n < 1) {
      throw new RangeError(`Trace ${name} must be a positive integer`);
    }
  }
  if (numHeads % numKvHeads !== 0) {
    throw new RangeError(
      `Trace numHeads ${numHeads} is not a multiple of numKvHeads ${numKvHeads}`,
    );
  }
  if (trace.phases.length !== tokens) {
    throw new RangeError(`Trace phases has ${trace.phases.length} entries for ${tokens} tokens`);
  }
  const kvLen = tokens * numKvHeads * headDim;
  const qLen = tokens * numHeads * headDim;
  const fields = [["keys", kvLen], ["values", kvLen], ["queries", qLen]] as const;
  for (const [name, len] of fields) {
    const perLayer = trace[name];
    if (perLayer.length !== numLayers) {
      throw new RangeError(`Trace ${name} has ${perLayer.length} layers, expected ${numLayers}`);
    }
    perLayer.forEach((a, layer) => {
      if (a.length !== len) {
        throw new RangeError(`Trace ${name}[${layer}] has ${a.length} floats, expected ${len}`);
      }
    });
  }
}

/**
 * Splits a sequence into the blocks the runtime would seal: at most `blockSize` tokens, and a
 * phase change always starts a new block.
 */
export function splitBlocks(phases: readonly Phase[], blockSize: number): KvBlock[] {
  const blocks: KvBlock[] = [];
  let start = 0;
  for (let t = 1; t <= phases.length; t++) {
    if (t === phases.length || t - start === blockSize || phases[t] !== phases[start]) {
      blocks.push({ index: blocks.length, start, end: t, phase: phases[start] });
      start = t;
    }
  }
  return blocks;
}

/** Number of tokens of each phase over all of `traces`. */
export function countPhases(traces: readonly Pick<KvTrace, "phases">[]): Record<Phase, number> {
  const counts: Record<Phase, number> = { prompt: 0, think: 0, answer: 0 };
  for (const t of traces) for (const p of t.phases) counts[p]++;
  return counts;
}
