/**
 * Measures one configuration over the calibration traces: stored bits and bytes per token,
 * and every distortion metric with its spread.
 * @module
 */
import type { KvAllocation } from "./allocation.ts";
import { bytesPerToken } from "./allocation.ts";
import type { ConfigContext, ConfigKind, KvCodec, KvConfig } from "./configs.ts";
import { attentionDistortion, nextTokenKl } from "./distortion.ts";
import { type Spread, spreadOf } from "./stats.ts";

/** Next-token logits of one trace re-run teacher-forced with the f16 and the quantized cache. */
export interface LogitPair {
  /** (positions, vocabSize) with the f16 cache. */
  reference: Float32Array;
  /** (positions, vocabSize) with the configuration's cache. */
  quantized: Float32Array;
  vocabSize: number;
}

/**
 * Produces a `LogitPair` for a trace under a configuration; the runner supplies it. Null when
 * the served model cannot run the configuration (the paper's quantizer): its KL is then n/a.
 */
export type LogitSource = (ctx: ConfigContext, config: KvConfig) => Promise<LogitPair | null>;

/** One row of the comparison: a configuration, its size and its distortion. */
export interface ConfigRow {
  name: string;
  kind: ConfigKind;
  allocation: KvAllocation | null;
  /** Stored bits per K/V element, scales included, token-weighted over traces. */
  bitsPerElement: number;
  bytesPerToken: number;
  attentionKl: Spread;
  outputError: Spread;
  /** Null when no logit source was given. */
  nextTokenKl: Spread | null;
  /** Mean attention KL per layer, for the per-layer search and plot. */
  perLayerKl: number[];
}

/** Options of `evaluateConfig`. */
export interface EvaluateOptions {
  /** Query positions sampled per layer. */
  maxQueries?: number;
  logits?: LogitSource;
}

/** Mean attention KL per layer of `config` over the traces: what the search minimises. */
export function perLayerAttentionKl(
  config: KvConfig,
  contexts: readonly ConfigContext[],
  codec: KvCodec,
  maxQueries?: number,
): number[] {
  const sums = new Array<number>(contexts[0].trace.numLayers).fill(0);
  for (const ctx of contexts) {
    const { cache } = config.apply(ctx, codec);
    attentionDistortion(ctx.trace, cache, ctx.blocks, maxQueries).kl.forEach((layer, i) => {
      sums[i] += mean(layer) / contexts.length;
    });
  }
  return sums;
}

/** Applies `config` to every trace and measures it. */
export async function evaluateConfig(
  config: KvConfig,
  contexts: readonly ConfigContext[],
  codec: KvCodec,
  opts: EvaluateOptions = {},
): Promise<ConfigRow> {
  const kl: number[] = [];
  const err: number[] = [];
  const tokenKl: number[] = [];
  let served = opts.logits !== undefined;
  let bits = 0;
  let tokens = 0;
  const dims = contexts[0].trace;
  const layerSums = new Float64Array(dims.numLayers);
  for (const ctx of contexts) {
    const applied = config.apply(ctx, codec);
    bits += applied.bits * ctx.trace.tokens;
    tokens += ctx.trace.tokens;
    const samples = attentionDistortion(ctx.trace, applied.cache, ctx.blocks, opts.maxQueries);
    samples.kl.forEach((layer, i) => {
      kl.push(...layer);
      layerSums[i] += mean(layer) / contexts.length;
    });
    samples.outputError.forEach((layer) => err.push(...layer));
    if (opts.logits && served) {
      const pair = await opts.logits(ctx, config);
      if (pair === null) served = false;
      else tokenKl.push(...nextTokenKl(pair.reference, pair.quantized, pair.vocabSize));
    }
  }
  const bitsPerElement = bits / tokens;
  return {
    name: config.name,
    kind: config.kind,
    allocation: config.allocation,
    bitsPerElement,
    bytesPerToken: bytesPerToken(bitsPerElement, dims),
    attentionKl: spreadOf(kl),
    outputError: spreadOf(err),
    nextTokenKl: served ? spreadOf(tokenKl) : null,
    perLayerKl: [...layerSums],
  };
}

function mean(xs: readonly number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}
