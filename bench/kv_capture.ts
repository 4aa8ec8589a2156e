/**
 * Real q/k/v for the codec measurements: a model generates after fresh prompts (never its
 * held-out problems: calibrationPrompts redraws their numbers) on the served GPU runner, and
 * each sequence's q after RoPE and its f16 K and V as the cache stores them are captured.
 * @module
 */
import type { Gpu } from "../src/gpu/device.ts";
import {
  type ChatTemplate,
  findThinkMarkers,
  loadChatTemplate,
} from "../src/model/chat_template.ts";
import { loadCheckpoint } from "../src/model/checkpoint.ts";
import { ChatTemplateError } from "../src/model/errors.ts";
import { loadTokenizer } from "../src/model/tokenizer.ts";
import { GREEDY } from "../src/runner/types.ts";
import { captureSequence, generateSequence } from "../src/taqg/capture.ts";
import { calibrationPrompts } from "../src/taqg/prompts.ts";
import { openServedModel } from "../src/taqg/served_model.ts";
import { encodePrompt } from "../src/taqg/prompts.ts";
import type { KvTrace } from "../src/taqg/trace.ts";

/** Options of `captureTraces`. */
export interface CaptureOptions {
  /** Sequences to generate. */
  samples: number;
  /** Tokens generated per sequence at most. */
  maxTokens: number;
  /** Seed of the fresh prompts. */
  seed: number;
  gpu?: Gpu;
}

/** Traces of `samples` greedy generations of the model in `modelDir`, in its own f16 cache. */
export async function captureTraces(modelDir: string, opts: CaptureOptions): Promise<KvTrace[]> {
  const tokenizer = await loadTokenizer(modelDir);
  const template = await loadChatTemplate(modelDir, tokenizer).catch((e) => {
    if (e instanceof ChatTemplateError) return null as ChatTemplate | null;
    throw e;
  });
  const { prompts } = await calibrationPrompts(modelDir, {
    samples: opts.samples,
    seed: opts.seed,
  });
  const encoded = prompts.map((p) => encodePrompt(p, tokenizer, template));
  const ckpt = await loadCheckpoint(modelDir);
  const longest = Math.max(...encoded.map((p) => p.ids.length)) + opts.maxTokens;
  const model = await openServedModel(ckpt, {
    maxSequenceTokens: longest,
    sealedRegions: 0,
    gpu: opts.gpu,
    rotateKv: false,
  });
  try {
    const markers = findThinkMarkers(tokenizer);
    const traces: KvTrace[] = [];
    for (const prompt of encoded) {
      const seq = await generateSequence(model, prompt, {
        maxTokens: opts.maxTokens,
        sampling: GREEDY,
        stopIds: ckpt.spec.eosTokenIds,
        markers,
      });
      traces.push((await captureSequence(model, seq, [])).trace);
    }
    return traces;
  } finally {
    model.destroy();
  }
}
