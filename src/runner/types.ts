/**
 * The contract between the engine and the model runner: one step is a flat list of rows
 * (sequence, position, token) that share one command encoder.
 * @module
 */
import type { BlockEntry, SealOp } from "../kv/types.ts";

/** Sampling parameters applied on the GPU. */
export interface SamplingParams {
  /** 0 means greedy (argmax). */
  temperature: number;
  /** 0 or >= vocab disables. */
  topK: number;
  /** 1 disables. */
  topP: number;
  /** 0 disables. */
  minP: number;
  /** Seed of the per-sequence random stream; the same seed gives the same tokens. */
  seed: number;
}

/** Greedy decoding. */
export const GREEDY: SamplingParams = { temperature: 0, topK: 0, topP: 1, minP: 0, seed: 0 };

/**
 * OpenAI presence and frequency penalties over the tokens the sequence has generated:
 * logit[t] -= frequency * count[t] + presence * (count[t] > 0).
 */
export interface Penalties {
  presence: number;
  frequency: number;
}

/** One sequence taking part in a step. */
export interface StepSeq {
  /** GPU slot of the sequence (0..maxNumSeqs-1): where its last sampled token lives on the GPU. */
  slot: number;
  /**
   * The block table after this step's tokens are written. The block holding each new row's
   * position must be an f16 (open) block.
   */
  blocks: readonly BlockEntry[];
  /** Sample a token from this sequence's last row in the step. */
  sample: boolean;
  sampling: SamplingParams;
  /** Index of the token being sampled in the sequence's output (drives the seeded random stream). */
  sampleIndex: number;
  /**
   * Penalties applied to this sequence's logits before sampling; absent or all zero disables
   * them, and the slot's token counts are then neither read nor counted.
   */
  penalties?: Penalties;
  /**
   * Resets the slot's token counts to these generated tokens before the step runs (a new
   * sequence in the slot, or one re-fed after preemption or a rewind). Each sample with active
   * penalties then adds its token to the counts on the GPU.
   */
  countsFrom?: readonly number[];
}

/** One token row of a step. */
export interface StepRow {
  /** Index into `StepInput.seqs`. */
  seq: number;
  position: number;
  /** A token id, or null to use the token this sequence's slot sampled in an earlier step (on the GPU). */
  token: number | null;
}

export type { SealOp } from "../kv/types.ts";

/** Everything one step needs. */
export interface StepInput {
  seqs: readonly StepSeq[];
  rows: readonly StepRow[];
  /** Seals encoded before the layers run. */
  seals?: readonly SealOp[];
  /** Also read back the logits of each sampling row (tests and calibration only: it waits). */
  returnLogits?: boolean;
  /** Also compute, on the GPU, each sampled token's logprob and the top 20 (logprobs requests). */
  returnLogprobs?: boolean;
  /**
   * Also read back every row's q, k and v after RoPE in every layer (calibration only: it
   * waits, and it compiles a copy per row count).
   */
  captureQkv?: boolean;
}

/** One token and its log-probability. */
export interface TokenLogprob {
  token: number;
  logprob: number;
}

/** A sampled token's log-probability and the most likely tokens at its position. */
export interface SampleLogprobs {
  /** Logprob of the sampled token. */
  logprob: number;
  /** The 20 most likely tokens, most likely first. */
  top: TokenLogprob[];
}

/** What a step yields once its readback arrives. */
export interface StepResult {
  /** Sampled token per sequence with `sample: true`, in `seqs` order. */
  tokens: Int32Array;
  /** Logits per sampling row after penalties, [numSampled][vocab], when asked. */
  logits?: Float32Array;
  /** With `returnLogprobs`: per sampled sequence, its token's logprob and the top 20. */
  logprobs?: SampleLogprobs[];
  /**
   * With `captureQkv`: [numLayers][numRows][(numHeads + 2 numKvHeads) headDim] floats, each
   * row q heads, then k heads, then v heads, after q/k norm and RoPE.
   */
  qkv?: Float32Array;
}

/** What the engine needs from a model runner (the GPU one, or a scripted fake in tests). */
export interface Runner {
  /** Tokens per KV block. */
  readonly blockSize: number;
  /** Bytes of one block of `dtype` in one layer's pool (the KV arena sizes its slabs by this). */
  blockBytes(dtype: string): number;
  /** Demotions one step may carry (the runner's scratch blocks); absent or 0: no demotion. */
  readonly maxDemotionsPerStep?: number;
  /**
   * Encodes and submits one step. Calls may overlap: the next step may be submitted before this
   * promise resolves (rows with `token: null` read the slot's sampled token on the GPU).
   */
  step(input: StepInput): Promise<StepResult>;
  /** Releases GPU resources. */
  destroy(): void;
}
