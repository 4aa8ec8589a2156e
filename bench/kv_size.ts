/**
 * Size rows of `bench:kv`: each dtype's stored bits per element (every scale byte and pad
 * counted), bytes per token over all layers and the ratio to f16, for real models' KV shapes,
 * and the same for phase mixes (think/answer dtypes with the prompt f16 or quantized); beside
 * them, a 4096-token trace as the engine holds it (the recent window and the open block f16, at
 * the window and block size the model's profile sets, else the engine's defaults),
 * counted as `deno task calibrate` counts it (src/taqg/served_bytes.ts).
 * @module
 */
import { DEFAULT_RECENT_TOKENS } from "../src/kv/block_table.ts";
import { blockSize, loadProfile, recentTokens } from "../src/kv/profile.ts";
import { bitsPerElement, KV_DTYPES, kvDtype } from "../src/kv/dtype.ts";
import type { KvLayout } from "../src/kv/layout.ts";
import type { Phase } from "../src/kv/types.ts";
import { heldBytes, longTrace } from "../src/taqg/served_bytes.ts";

/** One size row. */
export interface SizeRow {
  kind: "size";
  shape: string;
  /** A dtype name, or a phase mix such as `prompt=f16,think=int4,answer=int3`. */
  config: string;
  /** Code bits per element, scales excluded (token-weighted over phases for a mix). */
  nominal_bits: number;
  /** Stored bits per K or V element, every scale byte and pad included. */
  bits_per_element: number;
  /** KV bytes of one token, all layers. */
  bytes_per_token: number;
  ratio_to_f16: number;
  /**
   * KV bytes per token a 4096-token trace holds at its end (64 prompt tokens, 3/4 of the rest
   * think, then answer; the newest TRACE_RECENT_TOKENS and the open block f16), all layers.
   */
  trace_bytes_per_token: number;
  /** trace_bytes_per_token over f16's. */
  trace_ratio_to_f16: number;
  /** The window and block size of the trace columns when the model's profile sets them. */
  trace_served: string | null;
}

/** Tokens of the long trace of the size rows' trace columns. */
export const TRACE_TOKENS = 4096;

/** The recent window of the trace columns: the engine's default, unless the shape's profile sets one. */
export const TRACE_RECENT_TOKENS: number = DEFAULT_RECENT_TOKENS;

/** The KV shape of a model. */
export interface KvShape {
  name: string;
  numLayers: number;
  numKvHeads: number;
  headDim: number;
  /**
   * The window and block size the engine serves this model with (its profile's), for the trace
   * columns; unset: the engine's defaults.
   */
  served?: { recentTokens: number; blockSize: number };
}

/** KV shapes of the reasoning models the issue targets (their config.json values). */
export const TARGET_SHAPES: readonly KvShape[] = [
  { name: "r1-distill-qwen-1.5b", numLayers: 28, numKvHeads: 2, headDim: 128 },
  { name: "qwen3-8b", numLayers: 36, numKvHeads: 8, headDim: 128 },
];

/** The shape of a model folder, from its config.json, served as its profile says. */
export async function shapeOf(name: string, modelDir: string): Promise<KvShape> {
  const c = JSON.parse(await Deno.readTextFile(`${modelDir}/config.json`));
  const numKvHeads = c.num_key_value_heads ?? c.num_attention_heads;
  const profile = await loadProfile(modelDir);
  return {
    name,
    numLayers: c.num_hidden_layers,
    numKvHeads,
    headDim: c.head_dim ?? c.hidden_size / c.num_attention_heads,
    served: profile
      ? { recentTokens: recentTokens(undefined, profile), blockSize: blockSize(undefined, profile) }
      : undefined,
  };
}

/**
 * Share of a sequence's tokens in each phase for the mixes: think is 75% (the figure,
 * and the default model's), the rest split between a short prompt and the answer.
 */
export const PHASE_MIX: Readonly<Record<Phase, number>> = {
  prompt: 0.1,
  think: 0.75,
  answer: 0.15,
};

/** Think/answer pairs the mixes are built from. */
export const MIX_PAIRS: readonly (readonly [string, string])[] = [
  ["int8", "int4"],
  ["int4", "int3"],
  ["int4", "int2"],
  ["int3", "int2"],
  ["fp8", "int4"],
  ["k4v3", "k4v3"],
  ["k4v3", "k3v2"],
  ["zp4", "zp4"],
  ["zp4", "zp3"],
];

/** (prompt, think, answer) mixes beside the pairs: keys at 4 bits everywhere, V narrower after the prompt. */
export const MIX_TRIPLES: readonly (readonly [string, string, string])[] = [
  ["int4", "k4v3", "k4v3"],
];

function dtypeRow(shape: KvShape, layout: KvLayout, name: string) {
  const d = kvDtype(name);
  return {
    bits: d.meanBits,
    bpe: bitsPerElement(d, layout),
    bytes: (shape.numLayers * d.blockBytes(layout)) / layout.blockSize,
  };
}

/** Size rows of every dtype and every mix for `shapes` at `blockSize` tokens per block. */
export function sizeRows(shapes: readonly KvShape[], blockSize: number): SizeRow[] {
  const rows: SizeRow[] = [];
  for (const shape of shapes) {
    const layout = { numKvHeads: shape.numKvHeads, blockSize, headDim: shape.headDim };
    const f16 = dtypeRow(shape, layout, "f16").bytes;
    const trace = longTrace(TRACE_TOKENS);
    // the trace as the engine holds it: at the window and block size it serves the model with
    const served = shape.served ?? { recentTokens: TRACE_RECENT_TOKENS, blockSize };
    const dims = {
      layout: { ...layout, blockSize: served.blockSize },
      numLayers: shape.numLayers,
    };
    const traceBytes = (mix: Partial<Record<Phase, string>>) =>
      heldBytes(trace, (p) => mix[p]!, served.recentTokens, dims) / trace.length;
    const traceF16 = traceBytes({ prompt: "f16", think: "f16", answer: "f16" });
    const push = (config: string, mix: Partial<Record<Phase, string>>) => {
      let bits = 0, bpe = 0, bytes = 0;
      for (const [phase, share] of Object.entries(PHASE_MIX) as [Phase, number][]) {
        const r = dtypeRow(shape, layout, mix[phase]!);
        bits += share * r.bits;
        bpe += share * r.bpe;
        bytes += share * r.bytes;
      }
      rows.push({
        kind: "size",
        shape: shape.name,
        config,
        nominal_bits: bits,
        bits_per_element: bpe,
        bytes_per_token: bytes,
        ratio_to_f16: bytes / f16,
        trace_bytes_per_token: traceBytes(mix),
        trace_ratio_to_f16: traceBytes(mix) / traceF16,
        trace_served: shape.served
          ? `window ${served.recentTokens}, block ${served.blockSize}`
          : null,
      });
    };
    for (const d of KV_DTYPES) push(d.name, { prompt: d.name, think: d.name, answer: d.name });
    for (const [think, answer] of MIX_PAIRS) {
      for (const prompt of ["f16", think]) {
        push(`prompt=${prompt},think=${think},answer=${answer}`, { prompt, think, answer });
      }
    }
    for (const [prompt, think, answer] of MIX_TRIPLES) {
      push(`prompt=${prompt},think=${think},answer=${answer}`, { prompt, think, answer });
    }
  }
  return rows;
}
