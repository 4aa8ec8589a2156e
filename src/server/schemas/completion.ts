/**
 * Body of POST /v1/completions: the prompt is text or token ids, and a batch of one of either.
 * @module
 */
import { z } from "zod";
import { samplingSchema } from "./sampling.ts";

const tokenIds = z.array(z.int().min(0)).min(1);
const oneOf = <T extends z.ZodType>(item: T) =>
  z.array(item).length(1, { error: "Only one prompt per request is supported" });

/** Zod schema of a text completion request. */
export const completionRequestSchema = samplingSchema.extend({
  prompt: z.union([z.string(), tokenIds, oneOf(z.string()), oneOf(tokenIds)]),
  echo: z.literal(false, { error: "echo is not supported by phasekv" }).nullish(),
  suffix: z.null({ error: "suffix is not supported by phasekv" }).optional(),
  // the number of most likely alternatives per token (vLLM allows up to 20)
  logprobs: z.int().min(0).max(20).nullish(),
});

/** A text completion request, parsed. */
export type CompletionRequest = z.infer<typeof completionRequestSchema>;
