/**
 * GPU sampling dispatch (kernels/sample.wgsl) and the host packing of per-sequence sampling
 * parameters (penalties included: kernels/penalize.wgsl reads the same words).
 * @module
 */
import type { Gpu } from "../../gpu/device.ts";
import { dispatch } from "../../gpu/dispatch.ts";
import type { Binding } from "../../gpu/kernel_cache.ts";
import type { Penalties, SamplingParams } from "../types.ts";
import type { Op } from "./op.ts";

/** u32 words per sampling sequence in the params buffer. */
export const SAMPLE_WORDS = 12;

/** Whether `penalties` change any logit (absent or all zero: the counts are not even kept). */
export function penaltiesActive(penalties: Penalties | undefined): penalties is Penalties {
  return penalties !== undefined && (penalties.presence !== 0 || penalties.frequency !== 0);
}

/** Packs the parameters of sample `i` (its slot, seed, index, sampling settings, penalties). */
export function packSample(
  out: Uint32Array,
  i: number,
  slot: number,
  sampling: SamplingParams,
  sampleIndex: number,
  penalties?: Penalties,
): void {
  const f = new Float32Array(out.buffer, out.byteOffset, out.length);
  const at = i * SAMPLE_WORDS;
  out[at] = slot;
  out[at + 1] = sampling.seed >>> 0;
  out[at + 2] = Math.floor(sampling.seed / 2 ** 32) >>> 0;
  out[at + 3] = sampleIndex >>> 0;
  f[at + 4] = sampling.temperature;
  out[at + 5] = Math.max(0, Math.floor(sampling.topK));
  f[at + 6] = sampling.topP;
  f[at + 7] = sampling.minP;
  const active = penaltiesActive(penalties);
  f[at + 8] = active ? penalties.presence : 0;
  f[at + 9] = active ? penalties.frequency : 0;
  out[at + 10] = active ? 1 : 0;
  out[at + 11] = 0;
}

/** The buffers one sampling dispatch reads and writes. */
export interface SampleBindings {
  /** [samples][vocab] f32 (already penalised). */
  logits: GPUBuffer;
  /** [samples][SAMPLE_WORDS] u32 from packSample. */
  params: GPUBuffer;
  /** [slots] u32: the token each slot sampled last (the next step's embedding reads it). */
  lastToken: GPUBuffer;
  /** [samples] u32: the tokens read back. */
  outTokens: GPUBuffer;
  /** [slots][vocab] u32: generated-token counts, bumped for penalised samples. */
  tokenCounts: GPUBuffer;
  /** Uniform holding the number of samples. */
  count: Binding;
}

/**
 * Passes over a lane's share of the vocabulary in the worst case (top-k and top-p each bisect
 * 32 bits; argmax, kept mass, the lane's mass and the walk are one each), plus slack for the
 * reduction loops.
 */
const SAMPLE_PASSES = 68;
const SAMPLE_SLACK = 2048;

/**
 * Lanes of the sampler: the profile's, or more where the adapter bounds loop iterations (lavapipe:
 * 65535 per invocation) and a large vocabulary (Qwen's 151,936) would run past the bound.
 */
export function sampleWorkgroup(lanes: number, vocab: number, maxLoop: number | null): number {
  if (maxLoop === null) return lanes;
  let wg = lanes;
  while (wg < 256 && SAMPLE_PASSES * Math.ceil(vocab / wg) + SAMPLE_SLACK > maxLoop) wg *= 2;
  if (SAMPLE_PASSES * Math.ceil(vocab / wg) + SAMPLE_SLACK > maxLoop) {
    throw new RangeError(
      `A vocabulary of ${vocab} tokens exceeds this adapter's loop bound (${maxLoop} ` +
        `iterations per invocation) even with ${wg} sampling lanes`,
    );
  }
  return wg;
}

/** Samples one token per logits row and writes it to its slot and to the output tokens. */
export class SampleOp implements Op<SampleBindings> {
  readonly #gpu: Gpu;
  readonly #pipeline: GPUComputePipeline;

  private constructor(gpu: Gpu, pipeline: GPUComputePipeline) {
    this.#gpu = gpu;
    this.#pipeline = pipeline;
  }

  /** Compiles the sampler for a vocabulary size. */
  static async create(gpu: Gpu, vocab: number): Promise<SampleOp> {
    const pipeline = await gpu.kernels.pipeline(["sample"], "main", {
      WG: sampleWorkgroup(gpu.profile.reduce, vocab, gpu.profile.maxLoopIterations),
      VOCAB: vocab,
    });
    return new SampleOp(gpu, pipeline);
  }

  /** Encodes sampling of `numSamples` logits rows. */
  encode(pass: GPUComputePassEncoder, b: SampleBindings, numSamples: number): void {
    const group = this.#gpu.kernels.bindGroup(this.#pipeline, [
      b.logits,
      b.params,
      b.lastToken,
      b.outTokens,
      b.count,
      b.tokenCounts,
    ]);
    dispatch(pass, this.#pipeline, group, numSamples);
  }
}
