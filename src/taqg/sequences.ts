/**
 * Calibration prompts encoded as the server encodes them: chat prompts through the model's
 * template (noting whether generation starts inside a think block), text prompts as they are.
 * @module
 */
import { type ChatTemplate, generationOpensThink } from "../model/chat_template.ts";
import type { Tokenizer } from "../model/tokenizer.ts";
import type { CalibrationPrompt } from "./prompts.ts";

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
