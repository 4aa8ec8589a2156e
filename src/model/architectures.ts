/**
 * The one registry of model architectures. An entry says which config.json names select it and
 * how its checkpoints differ from plain Llama; from it come the ModelSpec and the list of
 * tensors (Hugging Face names and shapes) a checkpoint must hold. Adding an architecture that
 * fits the Llama skeleton is one entry.
 * @module
 */
import type { ArchName, ModelSpec } from "./spec.ts";
import type { HfConfig } from "./config.ts";
import { eosIds } from "./config.ts";
import { ConfigFieldError, UnsupportedArchitectureError } from "./errors.ts";
import { parseRopeScaling } from "./rope_scaling.ts";

/** How one architecture is recognised and how it departs from Llama. */
export interface ArchitectureEntry {
  /** The name ModelSpec.arch carries. */
  readonly name: ArchName;
  /** `architectures[]` values of config.json that select this entry. */
  readonly hfArchitectures: readonly string[];
  /** `model_type` values that select this entry when `architectures` is absent. */
  readonly modelTypes: readonly string[];
  /** q/k/v projections always carry biases. */
  readonly qkvBias: boolean;
  /** Per-head RMSNorm on q and k before RoPE. */
  readonly qkNorm: boolean;
}

/** Every architecture the runtime can load. */
export const ARCHITECTURES: readonly ArchitectureEntry[] = [
  {
    name: "llama",
    hfArchitectures: ["LlamaForCausalLM"],
    modelTypes: ["llama"],
    qkvBias: false,
    qkNorm: false,
  },
  {
    name: "qwen2",
    hfArchitectures: ["Qwen2ForCausalLM"],
    modelTypes: ["qwen2"],
    qkvBias: true,
    qkNorm: false,
  },
  {
    name: "qwen3",
    hfArchitectures: ["Qwen3ForCausalLM"],
    modelTypes: ["qwen3"],
    qkvBias: false,
    qkNorm: true,
  },
];

/** A tensor a checkpoint must hold, with the shape config.json implies. */
export interface ExpectedTensor {
  /** Hugging Face tensor name, e.g. `model.layers.0.mlp.up_proj.weight`. */
  readonly name: string;
  /** Shape config.json implies. */
  readonly shape: readonly number[];
}

/** The registry entry config.json selects: by `architectures[]` first, then `model_type`. */
export function findArchitecture(config: HfConfig, path: string): ArchitectureEntry {
  const byArch = ARCHITECTURES.find((a) =>
    config.architectures?.some((name) => a.hfArchitectures.includes(name))
  );
  const entry = byArch ??
    ARCHITECTURES.find((a) => config.model_type && a.modelTypes.includes(config.model_type));
  if (entry) return entry;
  const known = ARCHITECTURES.flatMap((a) => a.hfArchitectures).join(", ");
  throw new UnsupportedArchitectureError(
    path,
    `architectures ${JSON.stringify(config.architectures ?? [])} / model_type ` +
      `${JSON.stringify(config.model_type ?? null)} is not supported; supported: ${known}`,
  );
}

/** The ModelSpec of a validated config.json, checking the values the kernels rely on. */
export function specFromConfig(config: HfConfig, path: string): ModelSpec {
  const entry = findArchitecture(config, path);
  const numHeads = config.num_attention_heads;
  const numKvHeads = config.num_key_value_heads ?? numHeads;
  const headDim = config.head_dim ?? config.hidden_size / numHeads;
  const fail = (field: string, message: string) => new ConfigFieldError(path, field, message);
  if (!Number.isInteger(headDim) || headDim % 2 !== 0) {
    throw fail("head_dim", `resolves to ${headDim}; it must be an even integer for RoPE`);
  }
  if (numHeads % numKvHeads !== 0) {
    throw fail(
      "num_key_value_heads",
      `is ${numKvHeads}, which does not divide num_attention_heads ${numHeads}`,
    );
  }
  if (config.hidden_act !== "silu") {
    throw fail("hidden_act", `is ${config.hidden_act}; only silu (SwiGLU) is supported`);
  }
  let ropeScaling;
  try {
    ropeScaling = parseRopeScaling(config.rope_scaling);
  } catch (error) {
    if (!(error instanceof RangeError)) throw error;
    throw fail("rope_scaling", error.message);
  }
  if (config.use_sliding_window) {
    throw fail("use_sliding_window", "is true; only full causal attention is supported");
  }
  if (config.attention_bias && !entry.qkvBias) {
    throw fail("attention_bias", `is true, which ${entry.name} checkpoints are not read with`);
  }
  return {
    arch: entry.name,
    hiddenSize: config.hidden_size,
    intermediateSize: config.intermediate_size,
    numLayers: config.num_hidden_layers,
    numHeads,
    numKvHeads,
    headDim,
    vocabSize: config.vocab_size,
    maxPositionEmbeddings: config.max_position_embeddings,
    rmsNormEps: config.rms_norm_eps,
    ropeTheta: config.rope_theta,
    ropeScaling,
    tieWordEmbeddings: config.tie_word_embeddings,
    qkvBias: entry.qkvBias,
    qkNorm: entry.qkNorm,
    bosTokenId: config.bos_token_id ?? null,
    eosTokenIds: eosIds(config.eos_token_id),
  };
}

/** Every tensor a checkpoint of `spec` must hold, with its shape (torch Linear: [out, in]). */
export function expectedTensors(spec: ModelSpec): ExpectedTensor[] {
  const { hiddenSize: h, intermediateSize: ff, headDim, vocabSize } = spec;
  const q = spec.numHeads * headDim;
  const kv = spec.numKvHeads * headDim;
  const out: ExpectedTensor[] = [{ name: "model.embed_tokens.weight", shape: [vocabSize, h] }];
  for (let i = 0; i < spec.numLayers; i++) {
    const p = `model.layers.${i}`;
    out.push(
      { name: `${p}.input_layernorm.weight`, shape: [h] },
      { name: `${p}.self_attn.q_proj.weight`, shape: [q, h] },
      { name: `${p}.self_attn.k_proj.weight`, shape: [kv, h] },
      { name: `${p}.self_attn.v_proj.weight`, shape: [kv, h] },
      { name: `${p}.self_attn.o_proj.weight`, shape: [h, q] },
      { name: `${p}.post_attention_layernorm.weight`, shape: [h] },
      { name: `${p}.mlp.gate_proj.weight`, shape: [ff, h] },
      { name: `${p}.mlp.up_proj.weight`, shape: [ff, h] },
      { name: `${p}.mlp.down_proj.weight`, shape: [h, ff] },
    );
    if (spec.qkvBias) {
      out.push(
        { name: `${p}.self_attn.q_proj.bias`, shape: [q] },
        { name: `${p}.self_attn.k_proj.bias`, shape: [kv] },
        { name: `${p}.self_attn.v_proj.bias`, shape: [kv] },
      );
    }
    if (spec.qkNorm) {
      out.push(
        { name: `${p}.self_attn.q_norm.weight`, shape: [headDim] },
        { name: `${p}.self_attn.k_norm.weight`, shape: [headDim] },
      );
    }
  }
  out.push({ name: "model.norm.weight", shape: [h] });
  if (!spec.tieWordEmbeddings) out.push({ name: "lm_head.weight", shape: [vocabSize, h] });
  return out;
}
