/**
 * Applies a block-by-block dtype plan to a trace's KV cache through the KV codec, giving the
 * dequantized cache the runtime's attention would read.
 * @module
 */
import type { KvAllocation, KvDtypes, KvKind } from "./allocation.ts";
import { dtypesAt } from "./allocation.ts";
import type { KvBlock, KvTrace } from "./trace.ts";

/**
 * Round-trips one block of one KV head, (numTokens, headDim) row-major, through `dtype`'s
 * encode and decode; the codec's own grouping applies (keys per channel, values per token).
 */
export type KvQuantizer = (
  block: Float32Array,
  numTokens: number,
  headDim: number,
  kind: KvKind,
  dtype: string,
) => Float32Array;

/** The dtypes one block is sealed to in one layer. */
export type BlockPlan = (layer: number, block: KvBlock) => KvDtypes;

/** A dequantized cache, laid out like `KvTrace.keys` / `KvTrace.values`. */
export interface QuantizedCache {
  keys: Float32Array[];
  values: Float32Array[];
}

/** The dtype the trace was captured in: the reference, which needs no round trip. */
export const REFERENCE_DTYPE = "f16";

/** The plan of a phase policy: each block gets its phase's dtypes in its layer. */
export function allocationPlan(allocation: KvAllocation): BlockPlan {
  return (layer, block) => dtypesAt(allocation, layer, block.phase);
}

/**
 * The whole cache round-tripped through each dtype, computed once per dtype on first use, so
 * that every plan a search tries is assembled by copying blocks instead of re-quantizing.
 */
export class CacheBank {
  readonly #trace: KvTrace;
  readonly #blocks: readonly KvBlock[];
  readonly #quantize: KvQuantizer;
  readonly #byDtype = new Map<string, QuantizedCache>();

  /** Binds the bank to one trace, its blocks and the codec. */
  constructor(trace: KvTrace, blocks: readonly KvBlock[], quantize: KvQuantizer) {
    this.#trace = trace;
    this.#blocks = blocks;
    this.#quantize = quantize;
  }

  /** The cache with every block in `dtype`. */
  get(dtype: string): QuantizedCache {
    let cache = this.#byDtype.get(dtype);
    if (cache === undefined) {
      cache = quantizeCache(
        this.#trace,
        this.#blocks,
        () => ({ key: dtype, value: dtype }),
        this.#quantize,
      );
      this.#byDtype.set(dtype, cache);
    }
    return cache;
  }

  /** The cache under `plan`, assembled from the per-dtype caches. */
  assemble(plan: BlockPlan): QuantizedCache {
    const { numLayers, numKvHeads, headDim } = this.#trace;
    const stride = numKvHeads * headDim;
    const keys: Float32Array[] = [];
    const values: Float32Array[] = [];
    for (let layer = 0; layer < numLayers; layer++) {
      const k = new Float32Array(this.#trace.keys[layer].length);
      const v = new Float32Array(k.length);
      for (const block of this.#blocks) {
        const dtypes = plan(layer, block);
        const [from, to] = [block.start * stride, block.end * stride];
        k.set(this.get(dtypes.key).keys[layer].subarray(from, to), from);
        v.set(this.get(dtypes.value).values[layer].subarray(from, to), from);
      }
      keys.push(k);
      values.push(v);
    }
    return { keys, values };
  }
}

/** Quantizes every block of `trace` as `plan` says and returns the dequantized cache. */
export function quantizeCache(
  trace: KvTrace,
  blocks: readonly KvBlock[],
  plan: BlockPlan,
  quantize: KvQuantizer,
): QuantizedCache {
  const keys: Float32Array[] = [];
  const values: Float32Array[] = [];
  for (let layer = 0; layer < trace.numLayers; layer++) {
    const k = trace.keys[layer].slice();
    const v = trace.values[layer].slice();
    for (const block of blocks) {
      const dtypes = plan(layer, block);
      roundTripBlock(trace, k, block, "key", dtypes.key, quantize);
      roundTripBlock(trace, v, block, "value", dtypes.value, quantize);
    }
    keys.push(k);
    values.push(v);
  }
  return { keys, values };
}

function roundTripBlock(
  trace: KvTrace,
  data: Float32Array,
  block: KvBlock,
  kind: KvKind,
  dtype: string,
  quantize: KvQuantizer,
): void {
  if (dtype === REFERENCE_DTYPE) return;
  const { numKvHeads, headDim } = trace;
  const numTokens = block.end - block.start;
  const stride = numKvHeads * headDim;
  const head = new Float32Array(numTokens * headDim);
  for (let h = 0; h < numKvHeads; h++) {
    for (let t = 0; t < numTokens; t++) {
      const at = (block.start + t) * stride + h * headDim;
      head.set(data.subarray(at, at + headDim), t * headDim);
    }
    const out = quantize(head, numTokens, headDim, kind, dtype);
    for (let t = 0; t < numTokens; t++) {
      data.set(
        out.subarray(t * headDim, (t + 1) * headDim),
        (block.start + t) * stride + h * headDim,
      );
    }
  }
}
