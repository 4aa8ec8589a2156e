/**
 * Calibration sequences are the model's own generations: each prompt is encoded (chat prompts
 * through the model's template), generated on the served model with an f16 cache, and every
 * token given the phase the server would give it (PhaseTracker: think markers by id, or the
 * think-fraction rule for models without markers).
 * @module
 */
import { PhaseTracker } from "../kv/phase.ts";
import type { Phase } from "../kv/types.ts";
import {
  type ChatTemplate,
  generationOpensThink,
  type ThinkMarkers,
} from "../model/chat_template.ts";
import type { Tokenizer } from "../model/tokenizer.ts";
import { generateOne } from "../runner/single_sequence.ts";
import type { SamplingParams } from "../runner/types.ts";
import type { TokenSequence } from "./capture.ts";
import type { CalibrationPrompt } from "./prompts.ts";
import type { ServedModel } from "./served_model.ts";

/** A prompt as token ids, and whether generation starts inside a think block. */
export interface EncodedPrompt {
  ids: number[];
  startsInThink: boolean;
}

/** Raised for a chat prompt when the model has no chat template. */
export class NoChatTemplateError extends Error {
  /** Explains that chat prompts need a template. */
  constructor() {
    super("Chat prompts need a model with a chat template; give plain-text prompts instead");
    this.name = "NoChatTemplateError";
  }
}

/** Encodes `prompt` as the server would for /v1/chat/completions or /v1/completions. */
export function encodePrompt(
  prompt: CalibrationPrompt,
  tokenizer: Tokenizer,
  template: ChatTemplate | null,
): EncodedPrompt {
  if (prompt.kind === "text") return { ids: tokenizer.encode(prompt.text), startsInThink: false };
  if (template === null) throw new NoChatTemplateError();
  const text = template.render(prompt.messages);
  return {
    ids: tokenizer.encode(text, { addSpecialTokens: false }),
    startsInThink: generationOpensThink(template.generationPrompt(prompt.messages)),
  };
}

/** Options of `generateSequence`. */
export interface GenerateSequenceOptions {
  maxTokens: number;
  sampling: SamplingParams;
  stopIds: readonly number[];
  /** The model's think marker ids; null applies the think-fraction rule. */
  markers: ThinkMarkers | null;
}

/** Generates after `prompt` on the served model and labels every token with its phase. */
export async function generateSequence(
  model: ServedModel,
  prompt: EncodedPrompt,
  opts: GenerateSequenceOptions,
): Promise<TokenSequence> {
  const result = await generateOne(model.runner, prompt.ids, {
    maxTokens: opts.maxTokens,
    sampling: opts.sampling,
    stopIds: opts.stopIds,
    maxRowsPerStep: model.maxRows,
  });
  const tracker = new PhaseTracker({
    openId: opts.markers?.open ?? null,
    closeId: opts.markers?.close ?? null,
    startsInThink: prompt.startsInThink,
    maxTokens: opts.maxTokens,
  });
  const phases: Phase[] = prompt.ids.map(() => "prompt");
  for (const id of result.ids) phases.push(tracker.observe(id));
  return { ids: [...prompt.ids, ...result.ids], promptLength: prompt.ids.length, phases };
}
