/**
 * Request fields shared by chat and text completions: OpenAI's sampling fields, vLLM's
 * extras and phasekv's per-phase KV fields. Every known field is typed strictly; `null` means
 * absent, as OpenAI's and vLLM's own schemas read it; unknown fields are dropped.
 * @module
 */
import { z } from "zod";

/**
 * A feature phasekv does not implement (tools, structured output, logit bias): refused with a
 * 400 naming the field, unless the value asks for nothing (`tools: []`, `tool_choice: "none"`,
 * `response_format: {"type": "text"}`, `logit_bias: {}`), which clients send by default.
 */
const refused = (field: string, isNeutral: (value: unknown) => boolean = () => false) =>
  z.unknown().superRefine((value, ctx) => {
    if (value === null || value === undefined || isNeutral(value)) return;
    ctx.addIssue({ code: "custom", message: `${field} is not supported by phasekv` });
  }).optional();

const isEmptyArray = (v: unknown) => Array.isArray(v) && v.length === 0;
const isEmptyObject = (v: unknown) =>
  typeof v === "object" && v !== null && !Array.isArray(v) && Object.keys(v).length === 0;

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
  // a dtype name is short; a long one is refused without being echoed back
  kv_cache_dtype_think: z.string().max(32).nullish(),
  kv_cache_dtype_answer: z.string().max(32).nullish(),
  max_think_tokens: z.int().min(0).nullish(),
  include_reasoning: z.boolean().nullish(),
  best_of: z.literal(1, { error: "Only best_of=1 is supported" }).nullish(),
  tools: refused("tools", isEmptyArray),
  tool_choice: refused("tool_choice", (v) => v === "none"),
  functions: refused("functions", isEmptyArray),
  function_call: refused("function_call", (v) => v === "none"),
  parallel_tool_calls: z.unknown().optional(),
  response_format: refused(
    "response_format",
    (v) => isEmptyObject(v) || (v as { type?: unknown })?.type === "text",
  ),
  logit_bias: refused("logit_bias", isEmptyObject),
  guided_json: refused("guided_json"),
  guided_regex: refused("guided_regex"),
  guided_choice: refused("guided_choice"),
  guided_grammar: refused("guided_grammar"),
  structured_outputs: refused("structured_outputs"),
});

/** The shared fields, parsed. */
export type SamplingFields = z.infer<typeof samplingSchema>;
