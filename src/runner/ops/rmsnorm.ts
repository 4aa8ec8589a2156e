/**
 * RMSNorm dispatch (kernels/rmsnorm.wgsl and, for qwen3's per-head q/k norm,
 * kernels/rmsnorm_inplace.wgsl).
 * @module
 */
import type { Gpu } from "../../gpu/device.ts";
import { dispatch } from "../../gpu/dispatch.ts";
import type { Binding } from "../../gpu/kernel_cache.ts";
import type { Op } from "./op.ts";

/** The buffers one RMSNorm reads and writes. */
export interface RmsNormBindings {
  /** [rows][dim] f32 input. */
  x: GPUBuffer;
  /** [dim] f32 weight. */
  w: GPUBuffer;
  /** [rows][dim] f32 output. */
  out: GPUBuffer;
  /** [rows] u32 input row of each output row (bound but unread when not gathering). */
  gather: GPUBuffer;
  /** Uniform holding the number of rows. */
  count: Binding;
}

/** The buffers one in-place head norm reads and writes. */
export interface HeadNormBindings {
  /** Rows normed in place. */
  x: GPUBuffer;
  /** [dim] f32 weight. */
  w: GPUBuffer;
  /** Uniform holding rows * groups. */
  count: Binding;
}

/** out[r] = rmsnorm(x[src(r)]) * w with src(r) = gather[r] when gathering. */
export class RmsNormOp implements Op<RmsNormBindings> {
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
  encode(pass: GPUComputePassEncoder, b: RmsNormBindings, numRows: number): void {
    const group = this.#gpu.kernels.bindGroup(this.#pipeline, [b.x, b.w, b.out, b.gather, b.count]);
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
export class HeadNormOp implements Op<HeadNormBindings> {
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

  /** Encodes the norm of `numRows` rows; `count` must hold rows * groups. */
  encode(pass: GPUComputePassEncoder, b: HeadNormBindings, numRows: number): void {
    const group = this.#gpu.kernels.bindGroup(this.#pipeline, [b.x, b.w, b.count]);
    dispatch(pass, this.#pipeline, group, numRows * this.#groups);
  }
}
