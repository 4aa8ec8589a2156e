/**
 * GPU sampling dispatch (kernels/sample.wgsl) and the host packing of per-sequence sampling
 * parameters.
 * @module
 */
import type { Gpu } from "../../gpu/device.ts";
import { dispatch } from "../../gpu/dispatch.ts";
import type { Binding } from "../../gpu/kernel_cache.ts";
import type { SamplingParams } from "../types.ts";

/** u32 words per sampling sequence in the params buffer. */
export const SAMPLE_WORDS = 8;

/** Packs the parameters of sample `i` (its slot, seed, index and sampling settings). */
export function packSample(
  out: Uint32Array,
  i: number,
  slot: number,
  sampling: SamplingParams,
  sampleIndex: number,
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
}

/** Samples one token per logits row and writes it to its slot and to the output tokens. */
export class SampleOp {
  readonly #gpu: Gpu;
  readonly #pipeline: GPUComputePipeline;

  private constructor(gpu: Gpu, pipeline: GPUComputePipeline) {
    this.#gpu = gpu;
    this.#pipeline = pipeline;
  }

  /** Compiles the sampler for a vocabulary size. */
  static async create(gpu: Gpu, vocab: number): Promise<SampleOp> {
    const pipeline = await gpu.kernels.pipeline(["sample"], "main", {
      WG: gpu.profile.reduce,
      VOCAB: vocab,
    });
    return new SampleOp(gpu, pipeline);
  }

  /** Encodes sampling of `numSamples` logits rows. */
  encode(
    pass: GPUComputePassEncoder,
    logits: GPUBuffer,
    params: GPUBuffer,
    lastToken: GPUBuffer,
    outTokens: GPUBuffer,
    count: Binding,
    numSamples: number,
  ): void {
    const group = this.#gpu.kernels.bindGroup(this.#pipeline, [
      logits,
      params,
      lastToken,
      outTokens,
      count,
    ]);
    dispatch(pass, this.#pipeline, group, numSamples);
  }
}
