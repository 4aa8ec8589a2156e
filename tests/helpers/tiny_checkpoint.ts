/**
 * Writes a tiny checkpoint folder in the Hugging Face layout (config.json, safetensors weights,
 * tokenizer files) with deterministic random weights, for the loader, the reference forward pass
 * and the GPU runner to be tested on without downloading a model.
 * @module
 */
import type { ArchName, HostTensor, TensorDtype } from "../../src/model/spec.ts";
import { fromFloat32 } from "../../src/model/tensor_convert.ts";
import { writeSafetensors, writeShardedSafetensors } from "./safetensors_writer.ts";
import { TINY_VOCAB_SIZE, tinyTokenId, writeTinyTokenizer } from "./tiny_tokenizer.ts";

/** Shape and format choices for a tiny checkpoint; every field has a small default. */
export interface TinyCheckpointOptions {
  arch?: ArchName;
  dtype?: TensorDtype;
  tieWordEmbeddings?: boolean;
  /** 1 writes model.safetensors; more writes shards plus model.safetensors.index.json. */
  numShards?: number;
  hiddenSize?: number;
  intermediateSize?: number;
  numLayers?: number;
  numHeads?: number;
  numKvHeads?: number;
  headDim?: number;
  /** At least the tokenizer's size when the tokenizer is written (checkpoints pad vocabularies). */
  vocabSize?: number;
  ropeTheta?: number;
  /** config.json's rope_scaling (default none). */
  ropeScaling?: Record<string, unknown> | null;
  rmsNormEps?: number;
  maxPositionEmbeddings?: number;
  seed?: number;
  /** Std of the projection weights (default 0.2); embeddings use 0.1 and norms 1 ± 0.1. */
  weightStd?: number;
  /** Write tokenizer.json and tokenizer_config.json (default true). */
  withTokenizer?: boolean;
}

/** Every option resolved to its value. */
export type ResolvedTinyOptions = Required<TinyCheckpointOptions>;

const HF_NAMES: Readonly<Record<ArchName, { architecture: string; modelType: string }>> = {
  llama: { architecture: "LlamaForCausalLM", modelType: "llama" },
  qwen2: { architecture: "Qwen2ForCausalLM", modelType: "qwen2" },
  qwen3: { architecture: "Qwen3ForCausalLM", modelType: "qwen3" },
};

/** Fills in the defaults: hidden 64, 2 layers, 4 heads, 2 kv heads, head_dim 16, vocab = tokenizer. */
export function resolveTinyOptions(opts: TinyCheckpointOptions = {}): ResolvedTinyOptions {
  const hiddenSize = opts.hiddenSize ?? 64;
  const numHeads = opts.numHeads ?? 4;
  const resolved: ResolvedTinyOptions = {
    arch: opts.arch ?? "llama",
    dtype: opts.dtype ?? "F32",
    tieWordEmbeddings: opts.tieWordEmbeddings ?? false,
    numShards: opts.numShards ?? 1,
    hiddenSize,
    intermediateSize: opts.intermediateSize ?? 128,
    numLayers: opts.numLayers ?? 2,
    numHeads,
    numKvHeads: opts.numKvHeads ?? 2,
    headDim: opts.headDim ?? hiddenSize / numHeads,
    vocabSize: opts.vocabSize ?? TINY_VOCAB_SIZE,
    ropeTheta: opts.ropeTheta ?? 10000,
    ropeScaling: opts.ropeScaling ?? null,
    rmsNormEps: opts.rmsNormEps ?? 1e-6,
    maxPositionEmbeddings: opts.maxPositionEmbeddings ?? 512,
    seed: opts.seed ?? 1,
    weightStd: opts.weightStd ?? 0.2,
    withTokenizer: opts.withTokenizer ?? true,
  };
  if (resolved.arch === "qwen2" && resolved.headDim * numHeads !== hiddenSize) {
    throw new RangeError("qwen2 configs have no head_dim: headDim must be hiddenSize / numHeads");
  }
  if (resolved.withTokenizer && resolved.vocabSize < TINY_VOCAB_SIZE) {
    throw new RangeError(`vocabSize must be at least the tokenizer's ${TINY_VOCAB_SIZE}`);
  }
  return resolved;
}

/** The config.json object Hugging Face's `save_pretrained` would write for these options. */
export function tinyConfigJson(opts: TinyCheckpointOptions = {}): Record<string, unknown> {
  const o = resolveTinyOptions(opts);
  const bos = tinyTokenId("<|begin|>");
  const eos = tinyTokenId("<|end|>");
  const config: Record<string, unknown> = {
    architectures: [HF_NAMES[o.arch].architecture],
    model_type: HF_NAMES[o.arch].modelType,
    hidden_size: o.hiddenSize,
    intermediate_size: o.intermediateSize,
    num_hidden_layers: o.numLayers,
    num_attention_heads: o.numHeads,
    num_key_value_heads: o.numKvHeads,
    vocab_size: o.vocabSize,
    max_position_embeddings: o.maxPositionEmbeddings,
    rms_norm_eps: o.rmsNormEps,
    rope_theta: o.ropeTheta,
    rope_scaling: o.ropeScaling,
    hidden_act: "silu",
    attention_dropout: 0.0,
    tie_word_embeddings: o.tieWordEmbeddings,
    bos_token_id: bos,
    // Qwen-family configs may list stop ids in an array; llama's is a number.
    eos_token_id: o.arch === "llama" ? eos : [eos],
    initializer_range: 0.02,
    use_cache: true,
    torch_dtype: { F32: "float32", F16: "float16", BF16: "bfloat16" }[o.dtype],
    transformers_version: "4.51.0",
  };
  if (o.arch !== "qwen2") config.head_dim = o.headDim;
  if (o.arch === "qwen2") {
    config.use_sliding_window = false;
    config.sliding_window = o.maxPositionEmbeddings;
    config.max_window_layers = o.numLayers;
  } else {
    config.attention_bias = false;
  }
  if (o.arch === "llama") config.mlp_bias = false;
  return config;
}

/** Deterministic f32 weights, in the order `save_pretrained` writes them, for these options. */
export function tinyCheckpointTensors(opts: TinyCheckpointOptions = {}): HostTensor[] {
  const o = resolveTinyOptions(opts);
  const rng = gaussian(o.seed);
  const tensors: HostTensor[] = [];
  const add = (name: string, shape: number[], mean: number, std: number) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const values = new Float32Array(n);
    for (let i = 0; i < n; i++) values[i] = mean + std * rng();
    tensors.push(fromFloat32(name, shape, values, o.dtype));
  };
  const q = o.numHeads * o.headDim;
  const kv = o.numKvHeads * o.headDim;
  // A small embedding keeps tied logits from echoing one token: the layers must dominate.
  add("model.embed_tokens.weight", [o.vocabSize, o.hiddenSize], 0, 0.1);
  for (let i = 0; i < o.numLayers; i++) {
    const p = `model.layers.${i}`;
    add(`${p}.input_layernorm.weight`, [o.hiddenSize], 1, 0.1);
    add(`${p}.self_attn.q_proj.weight`, [q, o.hiddenSize], 0, o.weightStd);
    add(`${p}.self_attn.k_proj.weight`, [kv, o.hiddenSize], 0, o.weightStd);
    add(`${p}.self_attn.v_proj.weight`, [kv, o.hiddenSize], 0, o.weightStd);
    if (o.arch === "qwen2") {
      add(`${p}.self_attn.q_proj.bias`, [q], 0, 0.1);
      add(`${p}.self_attn.k_proj.bias`, [kv], 0, 0.1);
      add(`${p}.self_attn.v_proj.bias`, [kv], 0, 0.1);
    }
    if (o.arch === "qwen3") {
      add(`${p}.self_attn.q_norm.weight`, [o.headDim], 1, 0.1);
      add(`${p}.self_attn.k_norm.weight`, [o.headDim], 1, 0.1);
    }
    add(`${p}.self_attn.o_proj.weight`, [o.hiddenSize, q], 0, o.weightStd);
    add(`${p}.post_attention_layernorm.weight`, [o.hiddenSize], 1, 0.1);
    add(`${p}.mlp.gate_proj.weight`, [o.intermediateSize, o.hiddenSize], 0, o.weightStd);
    add(`${p}.mlp.up_proj.weight`, [o.intermediateSize, o.hiddenSize], 0, o.weightStd);
    add(`${p}.mlp.down_proj.weight`, [o.hiddenSize, o.intermediateSize], 0, o.weightStd);
  }
  add("model.norm.weight", [o.hiddenSize], 1, 0.1);
  if (!o.tieWordEmbeddings) add("lm_head.weight", [o.vocabSize, o.hiddenSize], 0, o.weightStd);
  return tensors;
}

/** Writes a complete tiny checkpoint folder into `dir` (which must exist). */
export async function writeTinyCheckpoint(
  dir: string,
  opts: TinyCheckpointOptions = {},
): Promise<void> {
  const o = resolveTinyOptions(opts);
  await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify(tinyConfigJson(o), null, 2));
  const tensors = tinyCheckpointTensors(o);
  if (o.numShards === 1) await writeSafetensors(`${dir}/model.safetensors`, tensors);
  else await writeShardedSafetensors(dir, tensors, o.numShards);
  if (o.withTokenizer) await writeTinyTokenizer(dir);
}

/** Creates a temporary folder holding a tiny checkpoint and returns its path. */
export async function makeTinyCheckpoint(opts: TinyCheckpointOptions = {}): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "phasekv_tiny_" });
  await writeTinyCheckpoint(dir, opts);
  return dir;
}

// mulberry32 feeding Box-Muller: standard normal samples, the same on every run and platform.
function gaussian(seed: number): () => number {
  let state = seed >>> 0;
  const uniform = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) + 0.5) / 4294967296;
  };
  return () => Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
}
