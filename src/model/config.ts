/**
 * The fields of a Hugging Face `config.json` the loader uses, validated with zod at the file
 * boundary. Unknown fields are ignored, as transformers ignores them.
 * @module
 */
import { z } from "zod";
import { ConfigFieldError } from "./errors.ts";

const count = z.number().int().positive();
const tokenId = z.number().int().nonnegative();

/** The config.json fields the architecture registry reads, after defaults are applied. */
export interface HfConfig {
  architectures?: string[];
  model_type?: string;
  hidden_size: number;
  intermediate_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  num_key_value_heads?: number | null;
  head_dim?: number | null;
  vocab_size: number;
  max_position_embeddings: number;
  rms_norm_eps: number;
  rope_theta: number;
  rope_scaling?: Record<string, unknown> | null;
  hidden_act: string;
  attention_bias?: boolean;
  use_sliding_window?: boolean;
  tie_word_embeddings: boolean;
  bos_token_id?: number | null;
  eos_token_id?: number | number[] | null;
}

/** The generation_config.json fields the loader reads (its stop ids may add to config.json's). */
export interface GenerationConfig {
  bos_token_id?: number | null;
  eos_token_id?: number | number[] | null;
}

/** Schema of HfConfig. */
export const HfConfigSchema: z.ZodType<HfConfig> = z.object({
  architectures: z.array(z.string()).optional(),
  model_type: z.string().optional(),
  hidden_size: count,
  intermediate_size: count,
  num_hidden_layers: count,
  num_attention_heads: count,
  // transformers defaults it to num_attention_heads (no GQA) when absent.
  num_key_value_heads: count.nullish(),
  head_dim: count.nullish(),
  vocab_size: count,
  max_position_embeddings: count,
  rms_norm_eps: z.number().positive(),
  rope_theta: z.number().positive().default(10000),
  rope_scaling: z.record(z.string(), z.unknown()).nullish(),
  hidden_act: z.string().default("silu"),
  attention_bias: z.boolean().optional(),
  use_sliding_window: z.boolean().optional(),
  tie_word_embeddings: z.boolean().default(false),
  bos_token_id: tokenId.nullish(),
  eos_token_id: z.union([tokenId, z.array(tokenId)]).nullish(),
});

/** Schema of GenerationConfig. */
export const GenerationConfigSchema: z.ZodType<GenerationConfig> = z.object({
  bos_token_id: tokenId.nullish(),
  eos_token_id: z.union([tokenId, z.array(tokenId)]).nullish(),
});

/** Validates parsed JSON against `schema`, raising ConfigFieldError for the first bad field. */
export function parseConfigJson<T>(schema: z.ZodType<T>, json: unknown, path: string): T {
  const result = schema.safeParse(json);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const field = issue.path.length > 0 ? issue.path.join(".") : "(root)";
  throw new ConfigFieldError(path, field, `is invalid: ${issue.message}`);
}

/** Reads and validates a JSON config file, naming the file on unreadable JSON. */
export async function readConfigFile<T>(schema: z.ZodType<T>, path: string): Promise<T> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (cause) {
    throw new ConfigFieldError(path, "(file)", `cannot be read: ${(cause as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    throw new ConfigFieldError(path, "(root)", `is not valid JSON: ${(cause as Error).message}`);
  }
  return parseConfigJson(schema, json, path);
}

/** The stop ids a config lists (a number, an array, or nothing). */
export function eosIds(value: number | number[] | null | undefined): number[] {
  if (value === null || value === undefined) return [];
  return Array.isArray(value) ? [...value] : [value];
}
