/**
 * The f16-weight matmul (kernels/matmul.wgsl) over a possibly row-split weight: one pipeline
 * and one dispatch per part, each writing its slice of the output columns.
 * @module
 */
import type { Gpu } from "../../gpu/device.ts";
import { dispatchLinear } from "../../gpu/dispatch.ts";
import type { Binding } from "../../gpu/kernel_cache.ts";
import type { GpuMatrix } from "../../gpu/row_split.ts";

/** Activation rows each thread or workgroup computes at once (RPT in the kernel). */
export const MATMUL_ROWS_PER_THREAD = 4;

/** How the matmul output is combined. */
export interface MatmulOptions {
  /** Floats per output row (>= the weight's rows). */
  outStride: number;
  /** Column of the output where the weight's row 0 lands. */
  outOffset?: number;
  /** Adds a bias read from the buffer passed to encode(). */
  bias?: boolean;
  /** Adds the result to the output (a fused residual add). */
  accumulate?: boolean;
}

/** y (+)= x Wᵀ (+ bias) for the rows of a step. */
export class MatmulOp {
  readonly #gpu: Gpu;
  readonly #matrix: GpuMatrix;
  readonly #pipelines: GPUComputePipeline[];

  private constructor(gpu: Gpu, matrix: GpuMatrix, pipelines: GPUComputePipeline[]) {
    this.#gpu = gpu;
    this.#matrix = matrix;
    this.#pipelines = pipelines;
  }

  /** Compiles the pipelines of every part of `matrix`. */
  static async create(gpu: Gpu, matrix: GpuMatrix, opts: MatmulOptions): Promise<MatmulOp> {
    if (matrix.cols % 4 !== 0) {
      throw new RangeError(`Matmul needs K divisible by 4, got ${matrix.cols}`);
    }
    const p = gpu.profile;
    const entry = p.matmul === "rows" ? "main_rows" : "main_lanes";
    const pipelines = await Promise.all(
      matrix.parts.map((part) =>
        gpu.kernels.pipeline(["matmul"], entry, {
          WG: p.matmulWorkgroup,
          K: matrix.cols,
          N: part.numRows,
          OUT_STRIDE: opts.outStride,
          OUT_OFFSET: (opts.outOffset ?? 0) + part.rowStart,
          HAS_BIAS: opts.bias ? 1 : 0,
          ACCUMULATE: opts.accumulate ? 1 : 0,
        })
      ),
    );
    return new MatmulOp(gpu, matrix, pipelines);
  }

  /** Encodes y (+)= x Wᵀ for `numRows` rows (the kernel reads the exact count from `count`). */
  encode(
    pass: GPUComputePassEncoder,
    x: GPUBuffer,
    y: GPUBuffer,
    bias: GPUBuffer | null,
    count: Binding,
    numRows: number,
  ): void {
    const z = Math.ceil(numRows / MATMUL_ROWS_PER_THREAD);
    const perGroup = this.#gpu.profile.matmul === "rows" ? this.#gpu.profile.matmulWorkgroup : 1;
    this.#matrix.parts.forEach((part, i) => {
      const pipeline = this.#pipelines[i];
      // Without a bias the slot is bound to x (read-only, never read by the kernel).
      const group = this.#gpu.kernels.bindGroup(pipeline, [part.buffer, x, y, bias ?? x, count]);
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, group);
      dispatchLinear(pass, Math.ceil(part.numRows / perGroup), z);
    });
  }
}
