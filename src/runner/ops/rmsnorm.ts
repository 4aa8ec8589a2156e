/**
 * RMSNorm dispatch (kernels/rmsnorm.wgsl and, for qwen3's per-head q/k norm,
 * kernels/rmsnorm_inplace.wgsl).
 * @module
 */
import type { Gpu } from "../../gpu/device.ts";
import { dispatch } from "../../gpu/dispatch.ts";
import type { Binding } from "../../gpu/kernel_cache.ts";

/** out[r] = rmsnorm(x[src(r)]) * w with src(r) = gather[r] when gathering. */
export class RmsNormOp {
  readonly #gpu: Gpu;
  readonly #pipeline: GPUComputePipeline;

  private constructor(gpu: Gpu, pipeline: GPUComputePipeline) {
    this.#gpu = gpu;
    this.#pipeline = pipeline;
  }

  /** Compiles the kernel for vectors of `dim` floats. */
  static async create(gpu: Gpu, dim: number, eps: number, gather = false): Promise<RmsNormOp> {
    const pipeline = await gpu.kernels.pipeline(["rmsnorm"], "main", {
      WG: gpu.profile.reduce,
      DIM: dim,
      EPS: eps,
      GATHER: gather ? 1 : 0,
    });
    return new RmsNormOp(gpu, pipeline);
  }

  /** Encodes the norm of `numRows` rows (`gather` is bound but unread when not gathering). */
  encode(
    pass: GPUComputePassEncoder,
    x: GPUBuffer,
    w: GPUBuffer,
    out: GPUBuffer,
    gather: GPUBuffer,
    count: Binding,
    numRows: number,
  ): void {
    const group = this.#gpu.kernels.bindGroup(this.#pipeline, [x, w, out, gather, count]);
    dispatch(pass, this.#pipeline, group, numRows);
  }
}

/** Where the vectors of an in-place norm sit inside each row. */
export interface HeadNormShape {
  /** Floats per vector (head_dim). */
  dim: number;
  /** Vectors per row (heads). */
  groups: number;
  /** Floats per row of the buffer. */
  stride: number;
  /** Float offset of the first vector in a row. */
  base: number;
  eps: number;
}

/** RMSNorm in place over `groups` vectors per row (qwen3's q_norm / k_norm). */
export class HeadNormOp {
  readonly #gpu: Gpu;
  readonly #pipeline: GPUComputePipeline;
  readonly #groups: number;

  private constructor(gpu: Gpu, pipeline: GPUComputePipeline, groups: number) {
    this.#gpu = gpu;
    this.#pipeline = pipeline;
    this.#groups = groups;
  }

  /** Compiles the kernel for one layout. */
  static async create(gpu: Gpu, shape: HeadNormShape): Promise<HeadNormOp> {
    const pipeline = await gpu.kernels.pipeline(["rmsnorm_inplace"], "main", {
      WG: gpu.profile.reduce,
      DIM: shape.dim,
      EPS: shape.eps,
      GROUPS: shape.groups,
      STRIDE: shape.stride,
      BASE: shape.base,
    });
    return new HeadNormOp(gpu, pipeline, shape.groups);
  }

  /** Encodes the norm; `count` must hold rows * groups. */
  encode(
    pass: GPUComputePassEncoder,
    x: GPUBuffer,
    w: GPUBuffer,
    count: Binding,
    numRows: number,
  ): void {
    const group = this.#gpu.kernels.bindGroup(this.#pipeline, [x, w, count]);
    dispatch(pass, this.#pipeline, group, numRows * this.#groups);
  }
}
