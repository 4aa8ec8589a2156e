/**
 * `rope_scaling` of a Hugging Face config: the types phasekv reads (`llama3`, as Llama-3.1 and
 * DeepSeek-R1-Distill-Llama ship; `yarn`, as Qwen3's long-context configs do), validated with zod
 * at the file boundary. The inverse frequencies they give are computed in src/runner/rope_freq.ts.
 * @module
 */
import { z } from "zod";

/** Llama 3.1's frequency-band rescaling (transformers' `_compute_llama3_parameters`). */
export interface Llama3RopeScaling {
  /** The rope_type. */
  readonly type: "llama3";
  /** Divisor of the low frequencies. */
  readonly factor: number;
  /** Wavelengths above original / lowFreqFactor are divided by factor. */
  readonly lowFreqFactor: number;
  /** Wavelengths below original / highFreqFactor are kept. */
  readonly highFreqFactor: number;
  /** The pre-scaling context length. */
  readonly originalMaxPositionEmbeddings: number;
}

/** YaRN (transformers' `_compute_yarn_parameters`), defaults applied except the context length. */
export interface YarnRopeScaling {
  /** The rope_type. */
  readonly type: "yarn";
  /** Divisor of the interpolated (low) frequencies. */
  readonly factor: number;
  /** Pre-YaRN context length; null means the config's max_position_embeddings. */
  readonly originalMaxPositionEmbeddings: number | null;
  /** Rotations over the original context above which a dimension extrapolates (default 32). */
  readonly betaFast: number;
  /** Rotations below which a dimension interpolates (default 1). */
  readonly betaSlow: number;
  /** Explicit attention factor; null derives it from factor and mscale. */
  readonly attentionFactor: number | null;
  /** DeepSeek's mscale (with mscaleAllDim, the attention factor is their ratio). */
  readonly mscale: number | null;
  /** DeepSeek's mscale_all_dim. */
  readonly mscaleAllDim: number | null;
  /** Whether the correction range is rounded outward to whole dimensions (default true). */
  readonly truncate: boolean;
}

/** A RoPE scaling phasekv applies. */
export type RopeScaling = Llama3RopeScaling | YarnRopeScaling;

const positive = z.number().positive();

const llama3Schema = z.object({
  factor: positive,
  low_freq_factor: positive,
  high_freq_factor: positive,
  original_max_position_embeddings: z.number().int().positive(),
}).refine((s) => s.high_freq_factor > s.low_freq_factor, {
  message: "high_freq_factor must exceed low_freq_factor",
  path: ["high_freq_factor"],
});

const yarnSchema = z.object({
  factor: positive,
  original_max_position_embeddings: z.number().int().positive().nullish(),
  beta_fast: positive.nullish(),
  beta_slow: positive.nullish(),
  attention_factor: positive.nullish(),
  mscale: z.number().nullish(),
  mscale_all_dim: z.number().nullish(),
  truncate: z.boolean().nullish(),
});

/** The RoPE types the loader accepts. */
export const ROPE_TYPES: readonly string[] = ["default", "llama3", "yarn"];

/**
 * The scaling of a config's `rope_scaling` (null for none or `default`); throws a RangeError
 * naming the field for an unknown type or a bad field (the loader wraps it in ConfigFieldError).
 */
export function parseRopeScaling(
  raw: Record<string, unknown> | null | undefined,
): RopeScaling | null {
  if (!raw) return null;
  const type = raw.rope_type ?? raw.type ?? "default";
  if (type === "default") return null;
  const check = <T>(schema: z.ZodType<T>): T => {
    const r = schema.safeParse(raw);
    if (r.success) return r.data;
    const issue = r.error.issues[0];
    throw new RangeError(`${issue.path.join(".") || "(root)"} ${issue.message}`);
  };
  if (type === "llama3") {
    const s = check(llama3Schema);
    return {
      type,
      factor: s.factor,
      lowFreqFactor: s.low_freq_factor,
      highFreqFactor: s.high_freq_factor,
      originalMaxPositionEmbeddings: s.original_max_position_embeddings,
    };
  }
  if (type === "yarn") {
    const s = check(yarnSchema);
    return {
      type,
      factor: s.factor,
      originalMaxPositionEmbeddings: s.original_max_position_embeddings ?? null,
      betaFast: s.beta_fast ?? 32,
      betaSlow: s.beta_slow ?? 1,
      attentionFactor: s.attention_factor ?? null,
      mscale: s.mscale ?? null,
      mscaleAllDim: s.mscale_all_dim ?? null,
      truncate: s.truncate ?? true,
    };
  }
  throw new RangeError(`has type ${String(type)}; supported: ${ROPE_TYPES.join(", ")}`);
}
