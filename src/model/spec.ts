/**
 * The architecture-independent description of a decoder-only transformer, derived from a
 * checkpoint's config.json by the architecture registry (`architectures.ts`).
 * @module
 */

/** Architecture names the registry knows. */
export type ArchName = "llama" | "qwen2" | "qwen3";

/** Shapes and hyper-parameters every part below the model loader works from. */
export interface ModelSpec {
  /** Registry entry that produced this spec. */
  readonly arch: ArchName;
  readonly hiddenSize: number;
  readonly intermediateSize: number;
  readonly numLayers: number;
  readonly numHeads: number;
  readonly numKvHeads: number;
  readonly headDim: number;
  readonly vocabSize: number;
  readonly maxPositionEmbeddings: number;
  readonly rmsNormEps: number;
  readonly ropeTheta: number;
  /** lm_head shares the embedding matrix. */
  readonly tieWordEmbeddings: boolean;
  /** q/k/v projections carry biases (qwen2). */
  readonly qkvBias: boolean;
  /** Per-head RMSNorm on q and k before RoPE (qwen3). */
  readonly qkNorm: boolean;
  readonly bosTokenId: number | null;
  /** Every id that ends generation (config may list several). */
  readonly eosTokenIds: readonly number[];
}

/** Element type of a tensor as stored in a checkpoint. */
export type TensorDtype = "F32" | "F16" | "BF16";

/** A tensor read from a checkpoint, still in its stored dtype (little-endian bytes). */
export interface HostTensor {
  readonly name: string;
  readonly dtype: TensorDtype;
  readonly shape: readonly number[];
  readonly bytes: Uint8Array;
}

/** A checkpoint folder after loading: its spec and every tensor by Hugging Face name. */
export interface LoadedCheckpoint {
  readonly dir: string;
  readonly spec: ModelSpec;
  readonly tensors: ReadonlyMap<string, HostTensor>;
}
