/**
 * A KV configuration under comparison and how one is applied to a trace: the cache it leaves
 * and the bits it stores. The set compared is built in config_set.ts.
 * @module
 */
import type { BitsPerElement, KvAllocation } from "./allocation.ts";
import {
  allocationPlan,
  type BlockPlan,
  type CacheBank,
  type KvQuantizer,
  type QuantizedCache,
} from "./quantize_cache.ts";
import type { KvBlock, KvTrace } from "./trace.ts";

/** The KV codec hooks calibration needs: the round trip and the stored size. */
export interface KvCodec {
  quantize: KvQuantizer;
  bitsPerElement: BitsPerElement;
}

/** What a configuration is applied to: one trace, its blocks and its per-dtype caches. */
export interface ConfigContext {
  trace: KvTrace;
  blocks: readonly KvBlock[];
  /** Position of the trace in the calibration set; seeds the random control. */
  traceIndex: number;
  bank: CacheBank;
}

/** What a configuration stores for one trace. */
export interface AppliedConfig {
  cache: QuantizedCache;
  /** Stored bits per K/V element, scales included. */
  bits: number;
}

/** The family a configuration belongs to. */
export type ConfigKind =
  | "uniform"
  | "aligned"
  | "anti-aligned"
  | "searched"
  | "random-blocks"
  | "paper";

/** A KV configuration under comparison. */
export interface KvConfig {
  name: string;
  kind: ConfigKind;
  /** The phase policy the server could serve; null for the controls. */
  allocation: KvAllocation | null;
  /** Quantizes one trace under this configuration. */
  apply(ctx: ConfigContext, codec: KvCodec): AppliedConfig;
  /**
   * The dtypes each block of a trace is sealed to, for re-running the trace on the served
   * model; absent for a quantizer the server does not run (the paper's).
   */
  plan?(ctx: ConfigContext): BlockPlan;
}

/** A configuration that serves `allocation` phase by phase. */
export function allocationConfig(
  name: string,
  kind: ConfigKind,
  allocation: KvAllocation,
): KvConfig {
  return {
    name,
    kind,
    allocation,
    apply: (ctx, codec) => applyPlan(ctx, codec, allocationPlan(allocation)),
    plan: () => allocationPlan(allocation),
  };
}

/** Applies a block plan: the cache assembled from the bank and its stored bits per element. */
export function applyPlan(ctx: ConfigContext, codec: KvCodec, plan: BlockPlan): AppliedConfig {
  let bits = 0;
  let elements = 0;
  for (let layer = 0; layer < ctx.trace.numLayers; layer++) {
    for (const block of ctx.blocks) {
      const { key, value } = plan(layer, block);
      const n = block.end - block.start;
      bits += n * (codec.bitsPerElement(key, "key") + codec.bitsPerElement(value, "value"));
      elements += 2 * n;
    }
  }
  return { cache: ctx.bank.assemble(plan), bits: bits / elements };
}
