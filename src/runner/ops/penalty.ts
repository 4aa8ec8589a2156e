/**
 * Presence and frequency penalties on the GPU (kernels/penalize.wgsl) and the host side of the
 * per-slot token counts they read.
 *
 * The counts are dense, [maxNumSeqs][vocab] u32: 151936 × 64 slots is 39 MB, one binding on
 * every adapter, and it lets the kernel penalise with one coalesced pass over the row and the
 * sampler count its token with one store, with no bound on the output length. A sparse list of
 * generated tokens would be smaller but needs a length bound and a dedup for the presence term.
 * @module
 */
import type { Gpu } from "../../gpu/device.ts";
import { dispatch } from "../../gpu/dispatch.ts";
import type { Binding } from "../../gpu/kernel_cache.ts";
import type { Op } from "./op.ts";

/** The buffers one penalty dispatch reads and writes. */
export interface PenaltyBindings {
  /** [samples][vocab] f32 logits, penalised in place. */
  logits: GPUBuffer;
  /** [samples][SAMPLE_WORDS] u32 from packSample. */
  params: GPUBuffer;
  /** [slots][vocab] u32 generated-token counts. */
  tokenCounts: GPUBuffer;
  /** Uniform holding the number of samples. */
  count: Binding;
}

/** Bytes of the token-count buffer of `slots` slots over `vocab` tokens. */
export function tokenCountBytes(slots: number, vocab: number): number {
  return slots * vocab * 4;
}

/** One slot's count row for `tokens` (what a reset writes). */
export function countRow(tokens: readonly number[], vocab: number): Uint32Array<ArrayBuffer> {
  const row = new Uint32Array(vocab);
  for (const t of tokens) row[t]++;
  return row;
}

/** Applies each penalised sample's penalties to its logits row, in place. */
export class PenaltyOp implements Op<PenaltyBindings> {
  readonly #gpu: Gpu;
  readonly #pipeline: GPUComputePipeline;

  private constructor(gpu: Gpu, pipeline: GPUComputePipeline) {
    this.#gpu = gpu;
    this.#pipeline = pipeline;
  }

  /** Compiles the penalty kernel for a vocabulary size. */
  static async create(gpu: Gpu, vocab: number): Promise<PenaltyOp> {
    const pipeline = await gpu.kernels.pipeline(["penalize"], "main", {
      WG: gpu.profile.reduce,
      VOCAB: vocab,
    });
    return new PenaltyOp(gpu, pipeline);
  }

  /** Encodes the penalties of `numSamples` logits rows (params as packSample writes them). */
  encode(pass: GPUComputePassEncoder, b: PenaltyBindings, numSamples: number): void {
    const group = this.#gpu.kernels.bindGroup(this.#pipeline, [
      b.logits,
      b.params,
      b.tokenCounts,
      b.count,
    ]);
    dispatch(pass, this.#pipeline, group, numSamples);
  }
}
