/**
 * Bodies of POST /tokenize and POST /detokenize, in vLLM's shapes.
 * @module
 */
import { z } from "zod";

const message = z.object({
  role: z.enum(["system", "developer", "user", "assistant", "tool"]),
  content: z.union([
    z.string(),
    z.array(z.object({ type: z.literal("text"), text: z.string() })),
  ]),
});

/** Zod schema of a tokenize request: a raw prompt, or chat messages run through the template. */
export const tokenizeRequestSchema = z.union([
  z.object({
    model: z.string().nullish(),
    prompt: z.string(),
    add_special_tokens: z.boolean().nullish(),
    return_token_strs: z.boolean().nullish(),
  }),
  z.object({
    model: z.string().nullish(),
    messages: z.array(message).min(1),
    add_generation_prompt: z.literal(true, {
      error: "phasekv always adds the generation prompt",
    }).nullish(),
    chat_template_kwargs: z.record(z.string(), z.unknown()).nullish(),
    return_token_strs: z.boolean().nullish(),
  }),
], { error: "A tokenize request needs 'prompt' (a string) or 'messages'" });

/** A tokenize request, parsed. */
export type TokenizeRequest = z.infer<typeof tokenizeRequestSchema>;

/** Zod schema of a detokenize request. */
export const detokenizeRequestSchema = z.object({
  model: z.string().nullish(),
  tokens: z.array(z.int().min(0)),
});
