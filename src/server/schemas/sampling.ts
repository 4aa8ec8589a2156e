/**
 * Request fields shared by chat and text completions: OpenAI's sampling fields, vLLM's
 * extras and phasekv's per-phase KV fields. Every known field is typed strictly; `null` means
 * absent, as OpenAI's and vLLM's own schemas read it; unknown fields are dropped.
 * @module
 */
import { z } from "zod";

// fields asking for features phasekv lacks: refusing beats answering without them
const unsupported = (field: string) =>
  z.literal([false, 0], { error: `${field} is not supported by phasekv` }).nullish();

/** Zod schema of the fields both completion routes take. */
export const samplingSchema = z.object({
  model: z.string().nullish(),
  max_tokens: z.int().min(1).nullish(),
  temperature: z.number().min(0).max(2).nullish(),
  top_p: z.number().gt(0).max(1).nullish(),
  // -1 and 0 both mean disabled (vLLM spells it -1, the runner 0)
  top_k: z.int().min(-1).nullish(),
  min_p: z.number().min(0).max(1).nullish(),
  seed: z.int().nullish(),
  stop: z.union([z.string(), z.array(z.string()).max(4)]).nullish(),
  stop_token_ids: z.array(z.int().min(0)).nullish(),
  ignore_eos: z.boolean().nullish(),
  n: z.literal(1, { error: "Only n=1 is supported" }).nullish(),
  stream: z.boolean().nullish(),
  stream_options: z.object({ include_usage: z.boolean().nullish() }).nullish(),
  presence_penalty: z.number().min(-2).max(2).nullish(),
  frequency_penalty: z.number().min(-2).max(2).nullish(),
  kv_cache_dtype_think: z.string().nullish(),
  kv_cache_dtype_answer: z.string().nullish(),
  max_think_tokens: z.int().min(0).nullish(),
  include_reasoning: z.boolean().nullish(),
  logprobs: unsupported("logprobs"),
  best_of: z.literal(1, { error: "Only best_of=1 is supported" }).nullish(),
});

/** The shared fields, parsed. */
export type SamplingFields = z.infer<typeof samplingSchema>;
