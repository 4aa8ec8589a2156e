/**
 * The architecture-independent description of a decoder-only transformer, derived from a
 * checkpoint's config.json by the architecture registry (`architectures.ts`).
 * @module
 */

import type { RopeScaling } from "./rope_scaling.ts";

/** Architecture names the registry knows. */
export type ArchName = "llama" | "qwen2" | "qwen3";

/** Shapes and hyper-parameters every part below the model loader works from. */
export interface ModelSpec {
  /** Registry entry that produced this spec. */
  readonly arch: ArchName;
  /** Width of the residual stream. */
  readonly hiddenSize: number;
  /** Width of the MLP's hidden layer. */
  readonly intermediateSize: number;
  /** Decoder layers. */
  readonly numLayers: number;
  /** Query heads per layer. */
  readonly numHeads: number;
  /** Key/value heads per layer (fewer than numHeads under grouped-query attention). */
  readonly numKvHeads: number;
  /** Channels per attention head. */
  readonly headDim: number;
  /** Rows of the embedding and lm_head (may exceed the tokenizer's size). */
  readonly vocabSize: number;
  /** Longest sequence the model was trained for: the engine's context length. */
  readonly maxPositionEmbeddings: number;
  /** Epsilon of every RMSNorm. */
  readonly rmsNormEps: number;
  /** Base of the rotary position embedding's frequencies. */
  readonly ropeTheta: number;
  /** The config's rope_scaling (absent or null: unscaled RoPE). */
  readonly ropeScaling?: RopeScaling | null;
  /** lm_head shares the embedding matrix. */
  readonly tieWordEmbeddings: boolean;
  /** q/k/v projections carry biases (qwen2). */
  readonly qkvBias: boolean;
  /** Per-head RMSNorm on q and k before RoPE (qwen3). */
  readonly qkNorm: boolean;
  /** Id of the beginning-of-sequence token, if the config names one. */
  readonly bosTokenId: number | null;
  /** Every id that ends generation (config may list several). */
  readonly eosTokenIds: readonly number[];
}

/** Element type of a tensor as stored in a checkpoint. */
export type TensorDtype = "F32" | "F16" | "BF16";

/** A tensor read from a checkpoint, still in its stored dtype (little-endian bytes). */
export interface HostTensor {
  /** Hugging Face tensor name, e.g. `model.layers.0.self_attn.q_proj.weight`. */
  readonly name: string;
  /** Element type of `bytes`. */
  readonly dtype: TensorDtype;
  /** Dimensions, outermost first. */
  readonly shape: readonly number[];
  /** Raw little-endian elements. */
  readonly bytes: Uint8Array;
}

/** A checkpoint folder after loading: its spec and every tensor by Hugging Face name. */
export interface LoadedCheckpoint {
  /** The folder the checkpoint was read from. */
  readonly dir: string;
  /** Shapes and hyper-parameters from config.json. */
  readonly spec: ModelSpec;
  /** Every tensor, by Hugging Face name. */
  readonly tensors: ReadonlyMap<string, HostTensor>;
}
