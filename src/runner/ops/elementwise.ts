/**
 * Dispatch of the per-row element-wise kernels: RoPE, kv_write and SwiGLU.
 * @module
 */
import type { Gpu } from "../../gpu/device.ts";
import { dispatch } from "../../gpu/dispatch.ts";
import type { Binding } from "../../gpu/kernel_cache.ts";

/** Attention shapes of a model (q heads, kv heads, head_dim) and the fused qkv row stride. */
export interface AttentionShape {
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  /** Floats per row of the qkv buffer: (numHeads + 2 numKvHeads) headDim. */
  qkvStride: number;
}

/** The floats per qkv row for a shape's heads. */
export function qkvStride(numHeads: number, numKvHeads: number, headDim: number): number {
  return (numHeads + 2 * numKvHeads) * headDim;
}

/** A kernel over rows whose threads cover `perRow` items per row, bound to fixed buffers per call. */
export class RowKernel {
  readonly #gpu: Gpu;
  readonly #pipeline: GPUComputePipeline;
  readonly #perRow: number;

  private constructor(gpu: Gpu, pipeline: GPUComputePipeline, perRow: number) {
    this.#gpu = gpu;
    this.#pipeline = pipeline;
    this.#perRow = perRow;
  }

  /** RoPE in place on the q and k heads of the qkv buffer (bindings: qkv, inv_freq, rows, count). */
  static async rope(gpu: Gpu, shape: AttentionShape, attentionFactor = 1): Promise<RowKernel> {
    const wg = gpu.profile.elementwise;
    const pipeline = await gpu.kernels.pipeline(["rope"], "main", {
      WG: wg,
      NUM_HEADS: shape.numHeads,
      NUM_KV_HEADS: shape.numKvHeads,
      HEAD_DIM: shape.headDim,
      STRIDE: shape.qkvStride,
      ATTN_FACTOR: attentionFactor,
    });
    return new RowKernel(gpu, pipeline, (shape.numHeads + shape.numKvHeads) * shape.headDim / 2);
  }

  /** Writes K and V of each row into its open f16 block (bindings: qkv, rows, kv_pool, count). */
  static async kvWrite(gpu: Gpu, shape: AttentionShape, blockSize: number): Promise<RowKernel> {
    const kBase = shape.numHeads * shape.headDim;
    const pipeline = await gpu.kernels.pipeline(["kv_write"], "main", {
      WG: gpu.profile.elementwise,
      NUM_KV_HEADS: shape.numKvHeads,
      BLOCK_SIZE: blockSize,
      HEAD_DIM: shape.headDim,
      STRIDE: shape.qkvStride,
      K_BASE: kBase,
      V_BASE: kBase + shape.numKvHeads * shape.headDim,
    });
    return new RowKernel(gpu, pipeline, shape.numKvHeads * shape.headDim / 2);
  }

  /** silu(gate) * up from the fused gate_up rows (bindings: gate_up, out, count). */
  static async swiglu(gpu: Gpu, intermediate: number): Promise<RowKernel> {
    const pipeline = await gpu.kernels.pipeline(["swiglu"], "main", {
      WG: gpu.profile.elementwise,
      INTER: intermediate,
    });
    return new RowKernel(gpu, pipeline, intermediate);
  }

  /** Encodes the kernel for `numRows` rows with `bindings` in binding order. */
  encode(pass: GPUComputePassEncoder, bindings: readonly Binding[], numRows: number): void {
    const group = this.#gpu.kernels.bindGroup(this.#pipeline, bindings);
    const x = Math.ceil(this.#perRow / this.#gpu.profile.elementwise);
    dispatch(pass, this.#pipeline, group, x, numRows);
  }
}
