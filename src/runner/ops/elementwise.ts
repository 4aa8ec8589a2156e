/**
 * Dispatch of the per-row element-wise kernels: RoPE, kv_write and SwiGLU.
 * @module
 */
import type { Gpu } from "../../gpu/device.ts";
import { dispatch } from "../../gpu/dispatch.ts";
import type { Binding } from "../../gpu/kernel_cache.ts";
import type { Op } from "./op.ts";

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

/** The buffers RoPE reads and writes. */
export interface RopeBindings {
  /** qkv rows, rotated in place on their q and k heads. */
  qkv: GPUBuffer;
  /** [headDim / 2] f32 inverse frequencies. */
  invFreq: GPUBuffer;
  /** The step's rows (their positions). */
  rows: GPUBuffer;
  /** Uniform holding the number of rows. */
  count: Binding;
}

/** The buffers kv_write reads and writes. */
export interface KvWriteBindings {
  /** qkv rows whose K and V are written. */
  qkv: GPUBuffer;
  /** The step's rows (their blocks and slots). */
  rows: GPUBuffer;
  /** The layer's KV pool. */
  pool: GPUBuffer;
  /** Uniform holding the number of rows. */
  count: Binding;
}

/** The buffers SwiGLU reads and writes. */
export interface SwigluBindings {
  /** [rows][2 intermediate] fused gate and up. */
  gateUp: GPUBuffer;
  /** [rows][intermediate] output. */
  out: GPUBuffer;
  /** Uniform holding the number of rows. */
  count: Binding;
}

/** A kernel over rows whose threads cover `perRow` items per row, its buffers `B`. */
export class RowKernel<B> implements Op<B> {
  readonly #gpu: Gpu;
  readonly #pipeline: GPUComputePipeline;
  readonly #perRow: number;
  /** The kernel's bindings in binding order. */
  readonly #order: (b: B) => Binding[];

  private constructor(
    gpu: Gpu,
    pipeline: GPUComputePipeline,
    perRow: number,
    order: (b: B) => Binding[],
  ) {
    this.#gpu = gpu;
    this.#pipeline = pipeline;
    this.#perRow = perRow;
    this.#order = order;
  }

  /** RoPE in place on the q and k heads of the qkv buffer. */
  static async rope(
    gpu: Gpu,
    shape: AttentionShape,
    attentionFactor = 1,
  ): Promise<RowKernel<RopeBindings>> {
    const wg = gpu.profile.elementwise;
    const pipeline = await gpu.kernels.pipeline(["rope"], "main", {
      WG: wg,
      NUM_HEADS: shape.numHeads,
      NUM_KV_HEADS: shape.numKvHeads,
      HEAD_DIM: shape.headDim,
      STRIDE: shape.qkvStride,
      ATTN_FACTOR: attentionFactor,
    });
    const perRow = (shape.numHeads + shape.numKvHeads) * shape.headDim / 2;
    return new RowKernel(gpu, pipeline, perRow, (b) => [b.qkv, b.invFreq, b.rows, b.count]);
  }

  /** Writes K and V of each row into its open f16 block. */
  static async kvWrite(
    gpu: Gpu,
    shape: AttentionShape,
    blockSize: number,
  ): Promise<RowKernel<KvWriteBindings>> {
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
    const perRow = shape.numKvHeads * shape.headDim / 2;
    return new RowKernel(gpu, pipeline, perRow, (b) => [b.qkv, b.rows, b.pool, b.count]);
  }

  /** silu(gate) * up from the fused gate_up rows. */
  static async swiglu(gpu: Gpu, intermediate: number): Promise<RowKernel<SwigluBindings>> {
    const pipeline = await gpu.kernels.pipeline(["swiglu"], "main", {
      WG: gpu.profile.elementwise,
      INTER: intermediate,
    });
    return new RowKernel(gpu, pipeline, intermediate, (b) => [b.gateUp, b.out, b.count]);
  }

  /** Encodes the kernel for `numRows` rows. */
  encode(pass: GPUComputePassEncoder, b: B, numRows: number): void {
    const group = this.#gpu.kernels.bindGroup(this.#pipeline, this.#order(b));
    const x = Math.ceil(this.#perRow / this.#gpu.profile.elementwise);
    dispatch(pass, this.#pipeline, group, x, numRows);
  }
}
