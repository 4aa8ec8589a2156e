/**
 * The engine prefills a long prompt and decodes past it, on a random-weight checkpoint with the
 * KV shape of DeepSeek-R1-Distill-Qwen-1.5B (12 q heads, 2 KV heads, head_dim 128) and few,
 * narrow layers, so that attention, not the matmuls, is what grows with the context. Before
 * the attention rebuild a head_dim-128 sequence stopped at about 460 tokens on lavapipe.
 *
 *   deno run -A bench/long_context.ts [--prompt 4096] [--decode 8] [--dtype f16] [--json]
 *
 * Prints one line per run (and with `--json` the result as the last stdout line).
 * @module
 */
import { parseArgs } from "node:util";
import { createEngine } from "../src/engine/engine.ts";
import type { FinishReason } from "../src/engine/types.ts";
import { makeTinyCheckpoint } from "../tests/helpers/tiny_checkpoint.ts";
import { TINY_VOCAB_SIZE } from "../tests/helpers/tiny_tokenizer.ts";

/** What one long-context run did. */
export interface LongContextResult {
  promptTokens: number;
  generated: number;
  finishReason: FinishReason | null;
  kvCacheDtype: string;
  prefillSeconds: number;
  decodeSecondsPerToken: number;
}

/** What to run. */
export interface LongContextOptions {
  promptTokens: number;
  decodeTokens: number;
  /** Base KV dtype: with a quantized one, sealed prompt blocks and the open f16 block mix. */
  kvCacheDtype?: string;
  numLayers?: number;
  maxNumBatchedTokens?: number;
}

/** Writes the checkpoint, prefills `promptTokens` tokens and decodes `decodeTokens` more. */
export async function runLongContext(o: LongContextOptions): Promise<LongContextResult> {
  const dir = await makeTinyCheckpoint({
    arch: "qwen3",
    hiddenSize: 64,
    intermediateSize: 64,
    numLayers: o.numLayers ?? 1,
    numHeads: 12,
    numKvHeads: 2,
    headDim: 128,
    maxPositionEmbeddings: o.promptTokens + o.decodeTokens + 64,
    seed: 11,
  });
  const kvCacheDtype = o.kvCacheDtype ?? "f16";
  try {
    const engine = await createEngine({
      model: dir,
      inProcess: true,
      maxNumSeqs: 1,
      maxNumBatchedTokens: o.maxNumBatchedTokens ?? 512,
      kvCacheDtype,
      kvProfile: "none",
      kvCacheMemory: 64 << 20,
      onProgress: () => {},
    });
    try {
      // token ids away from the tokenizer's special ones, in a pattern that never ends
      const promptIds = Array.from({ length: o.promptTokens }, (_, i) => 8 + (i * 7) % 200);
      let generated = 0, firstAt = 0;
      let finishReason: FinishReason | null = null;
      const start = performance.now();
      for await (const out of engine.generate({ promptIds, maxTokens: o.decodeTokens })) {
        if (generated === 0) firstAt = performance.now();
        generated += out.tokenIds.length;
        finishReason = out.finishReason ?? finishReason;
      }
      const end = performance.now();
      return {
        promptTokens: o.promptTokens,
        generated,
        finishReason,
        kvCacheDtype,
        prefillSeconds: (firstAt - start) / 1000,
        decodeSecondsPerToken: (end - firstAt) / 1000 / Math.max(1, generated - 1),
      };
    } finally {
      await engine.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

if (import.meta.main) {
  const { values: args } = parseArgs({
    options: {
      prompt: { type: "string", default: "4096" },
      decode: { type: "string", default: "8" },
      dtype: { type: "string", default: "f16" },
      json: { type: "boolean", default: false },
    },
  });
  if (TINY_VOCAB_SIZE < 208) throw new Error("the tiny tokenizer is too small for the prompt");
  const result = await runLongContext({
    promptTokens: Number(args.prompt),
    decodeTokens: Number(args.decode),
    kvCacheDtype: args.dtype,
  });
  console.log(
    `prompt ${result.promptTokens} tokens (${result.kvCacheDtype}): prefilled in ` +
      `${result.prefillSeconds.toFixed(1)} s, then ${result.generated} tokens at ` +
      `${result.decodeSecondsPerToken.toFixed(2)} s/token, finish ${result.finishReason}`,
  );
  if (args.json) console.log(JSON.stringify(result));
}
