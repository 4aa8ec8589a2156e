/**
 * GPU log-probabilities next to sampling (kernels/logprobs.wgsl): the sampled token's logprob
 * and the TOP most likely tokens of each sampled row, from the logits the sampler read.
 * @module
 */
import type { Gpu } from "../../gpu/device.ts";
import { dispatch } from "../../gpu/dispatch.ts";
import type { Binding } from "../../gpu/kernel_cache.ts";

/** Most top tokens a sample reports (OpenAI's top_logprobs limit). */
export const TOP_LOGPROBS = 20;

/** u32 words each sample writes: its token's logprob, then TOP (id, logprob) pairs. */
export const LOGPROB_WORDS = 1 + 2 * TOP_LOGPROBS;

import type { SampleLogprobs, TokenLogprob } from "../types.ts";
import type { Op } from "./op.ts";

/** The buffers one logprobs dispatch reads and writes. */
export interface LogprobsBindings {
  /** [samples][vocab] f32, as the sampler read them. */
  logits: GPUBuffer;
  /** [samples] u32 sampled tokens. */
  outTokens: GPUBuffer;
  /** [samples][LOGPROB_WORDS] u32 results. */
  out: GPUBuffer;
  /** Uniform holding the number of samples. */
  count: Binding;
}

/** Computes each sampled row's logprobs. */
export class LogprobsOp implements Op<LogprobsBindings> {
  readonly #gpu: Gpu;
  readonly #pipeline: GPUComputePipeline;

  private constructor(gpu: Gpu, pipeline: GPUComputePipeline) {
    this.#gpu = gpu;
    this.#pipeline = pipeline;
  }

  /** Compiles the kernel for a vocabulary size. */
  static async create(gpu: Gpu, vocab: number): Promise<LogprobsOp> {
    const pipeline = await gpu.kernels.pipeline(["logprobs"], "main", {
      WG: gpu.profile.reduce,
      VOCAB: vocab,
      TOP: TOP_LOGPROBS,
    });
    return new LogprobsOp(gpu, pipeline);
  }

  /** Encodes the logprobs of `numSamples` sampled rows. */
  encode(pass: GPUComputePassEncoder, b: LogprobsBindings, numSamples: number): void {
    const group = this.#gpu.kernels.bindGroup(this.#pipeline, [
      b.logits,
      b.outTokens,
      b.out,
      b.count,
    ]);
    dispatch(pass, this.#pipeline, group, numSamples);
  }
}

/** Decodes the words of `numSamples` samples read back from the output buffer. */
export function readLogprobs(words: ArrayBuffer, numSamples: number): SampleLogprobs[] {
  const u = new Uint32Array(words);
  const f = new Float32Array(words);
  const out: SampleLogprobs[] = [];
  for (let s = 0; s < numSamples; s++) {
    const at = s * LOGPROB_WORDS;
    const top: TokenLogprob[] = [];
    for (let k = 0; k < TOP_LOGPROBS; k++) {
      const token = u[at + 1 + 2 * k];
      if (token !== 0xffffffff) top.push({ token, logprob: f[at + 2 + 2 * k] });
    }
    out.push({ logprob: f[at], top });
  }
  return out;
}

/** The logprobs op with its output buffer, encoded into a step and read back after it. */
export class LogprobsReadout implements Op<Omit<LogprobsBindings, "out">> {
  readonly #gpu: Gpu;
  readonly #op: LogprobsOp;
  readonly #out: GPUBuffer;

  private constructor(gpu: Gpu, op: LogprobsOp, out: GPUBuffer) {
    this.#gpu = gpu;
    this.#op = op;
    this.#out = out;
  }

  /** Compiles the op and makes room for `maxSamples` samples. */
  static async create(gpu: Gpu, vocab: number, maxSamples: number): Promise<LogprobsReadout> {
    const out = gpu.device.createBuffer({
      label: "logprobs",
      size: Math.max(16, maxSamples * LOGPROB_WORDS * 4),
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC,
    });
    return new LogprobsReadout(gpu, await LogprobsOp.create(gpu, vocab), out);
  }

  /** Encodes the op over the step's sampled logits (after the sampler). */
  encode(
    pass: GPUComputePassEncoder,
    b: Omit<LogprobsBindings, "out">,
    numSamples: number,
  ): void {
    this.#op.encode(pass, { ...b, out: this.#out }, numSamples);
  }

  /** Copies the results into a fresh staging buffer (after the pass, before submit). */
  stage(encoder: GPUCommandEncoder, numSamples: number): GPUBuffer {
    const bytes = Math.max(4, numSamples * LOGPROB_WORDS * 4);
    const staging = this.#gpu.device.createBuffer({
      label: "logprobs staging",
      size: bytes,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
    encoder.copyBufferToBuffer(this.#out, 0, staging, 0, bytes);
    return staging;
  }

  /** Reads a staged copy back and decodes it. */
  async read(staging: GPUBuffer, numSamples: number): Promise<SampleLogprobs[]> {
    await staging.mapAsync(GPUMapMode.READ);
    const words = staging.getMappedRange().slice(0);
    staging.destroy();
    return readLogprobs(words, numSamples);
  }

  /** Releases the output buffer. */
  destroy(): void {
    this.#out.destroy();
  }
}
