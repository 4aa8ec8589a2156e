/**
 * Dispatch of kernels/kv_rotate.wgsl: the engine's KV rotation (src/kv/rotation.ts) on the q, k
 * and v heads of the qkv rows before kv_write and attention, and its inverse on the attention
 * output, so attention itself never knows the cache is rotated.
 * @module
 */
import type { Gpu } from "../../gpu/device.ts";
import { createStorage } from "../../gpu/buffers.ts";
import { dispatchLinear } from "../../gpu/dispatch.ts";
import type { Binding } from "../../gpu/kernel_cache.ts";
import { rotationSigns } from "../../kv/rotation.ts";
import type { Op } from "./op.ts";

/** The buffers one rotation reads and writes. */
export interface RotateBindings {
  /** Rows rotated in place. */
  data: GPUBuffer;
  /** Uniform holding the number of rows. */
  count: Binding;
}

/** Where the head vectors of one buffer sit: `heads` vectors from float 0 of each row. */
export interface RotateShape {
  headDim: number;
  /** Floats per row. */
  stride: number;
  /** Head vectors rotated per row. */
  heads: number;
}

/** The rotation (or its inverse) of head vectors, in place. */
export class RotateOp implements Op<RotateBindings> {
  readonly #gpu: Gpu;
  readonly #pipeline: GPUComputePipeline;
  readonly #signs: GPUBuffer;
  readonly #heads: number;

  private constructor(gpu: Gpu, pipeline: GPUComputePipeline, signs: GPUBuffer, heads: number) {
    this.#gpu = gpu;
    this.#pipeline = pipeline;
    this.#signs = signs;
    this.#heads = heads;
  }

  /** Compiles the kernel for `shape`; `inverse` undoes the rotation. */
  static async create(gpu: Gpu, shape: RotateShape, inverse: boolean): Promise<RotateOp> {
    const pipeline = await gpu.kernels.pipeline(["kv_rotate"], "main", {
      WG: gpu.profile.elementwise,
      HEAD_DIM: shape.headDim,
      STRIDE: shape.stride,
      HEADS: shape.heads,
      INVERSE: inverse ? 1 : 0,
    });
    const signs = createStorage(gpu.device, "kv_rotate.signs", rotationSigns(shape.headDim));
    return new RotateOp(gpu, pipeline, signs, shape.heads);
  }

  /** Encodes the rotation of `numRows` rows of `data`. */
  encode(pass: GPUComputePassEncoder, b: RotateBindings, numRows: number): void {
    const group = this.#gpu.kernels.bindGroup(this.#pipeline, [b.data, this.#signs, b.count]);
    // one invocation per head vector of every row: a decode step's few rows still fill lanes
    pass.setPipeline(this.#pipeline);
    pass.setBindGroup(0, group);
    dispatchLinear(pass, Math.ceil((numRows * this.#heads) / this.#gpu.profile.elementwise));
  }

  /** Releases the signs buffer. */
  destroy(): void {
    this.#signs.destroy();
  }
}
