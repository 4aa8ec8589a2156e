/**
 * The matmul (kernels/matmul.wgsl) over a possibly row-split and possibly quantized weight: one
 * pipeline and one dispatch per part, each writing its slice of the output columns. The shape
 * follows the adapter's profile: "rows" (one thread per output) on software adapters, "tile"
 * (a workgroup per tile of outputs, lanes splitting K) on GPUs, summed with subgroupAdd where the
 * device has `subgroups`.
 * @module
 */
import type { Gpu } from "../../gpu/device.ts";
import { dispatchLinear } from "../../gpu/dispatch.ts";
import type { Binding } from "../../gpu/kernel_cache.ts";
import type { GpuMatrix } from "../../gpu/row_split.ts";
import type { Op } from "./op.ts";

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

/** The buffers one matmul reads and writes. */
export interface MatmulBuffers {
  x: GPUBuffer;
  y: GPUBuffer;
  bias?: GPUBuffer | null;
  count: Binding;
}

/** The kernel entry a device runs: the profile's shape, and subgroup sums where available. */
export type MatmulVariant = "rows" | "tile" | "subgroup";

/** The matmul variant of `gpu`. */
export function matmulVariant(gpu: Gpu): MatmulVariant {
  if (gpu.profile.matmul === "rows") return "rows";
  return gpu.hasSubgroups ? "subgroup" : "tile";
}

/** Scale words per row of a quantized matrix with `cols` inputs in groups of `group`. */
export function scaleWords(cols: number, group: number): number {
  return Math.ceil(Math.ceil(cols / group) / 2);
}

/** y (+)= x Wᵀ (+ bias) for the rows of a step. */
export class MatmulOp implements Op<MatmulBuffers> {
  readonly #gpu: Gpu;
  readonly #matrix: GpuMatrix;
  readonly #variant: MatmulVariant;
  readonly #pipelines: GPUComputePipeline[];

  private constructor(
    gpu: Gpu,
    matrix: GpuMatrix,
    variant: MatmulVariant,
    pipelines: GPUComputePipeline[],
  ) {
    this.#gpu = gpu;
    this.#matrix = matrix;
    this.#variant = variant;
    this.#pipelines = pipelines;
  }

  /** Compiles the pipelines of every part of `matrix` (`variant` defaults to the device's). */
  static async create(
    gpu: Gpu,
    matrix: GpuMatrix,
    opts: MatmulOptions,
    variant: MatmulVariant = matmulVariant(gpu),
  ): Promise<MatmulOp> {
    if (matrix.cols % 4 !== 0) {
      throw new RangeError(`Matmul needs K divisible by 4, got ${matrix.cols}`);
    }
    if (variant === "subgroup" && !gpu.hasSubgroups) {
      throw new RangeError("The subgroup matmul needs a device with the subgroups feature");
    }
    const p = gpu.profile;
    const q = matrix.quant;
    const files = [q ? `matmul_w_int${q.bits}` : "matmul_w_f16", "matmul"];
    if (variant === "subgroup") files.unshift("matmul_subgroup");
    const entry = { rows: "main_rows", tile: "main_tile", subgroup: "main_subgroup" }[variant];
    const quantOverrides: Record<string, number> = q
      ? { GROUP: q.group, SCALE_WORDS: scaleWords(matrix.cols, q.group) }
      : {};
    const pipelines = await Promise.all(
      matrix.parts.map((part) =>
        gpu.kernels.pipeline(files, entry, {
          WG: p.matmulWorkgroup,
          LANES: variant === "tile" ? p.matmulLanes : 1,
          K: matrix.cols,
          N: part.numRows,
          OUT_STRIDE: opts.outStride,
          OUT_OFFSET: (opts.outOffset ?? 0) + part.rowStart,
          HAS_BIAS: opts.bias ? 1 : 0,
          ACCUMULATE: opts.accumulate ? 1 : 0,
          ...quantOverrides,
        })
      ),
    );
    return new MatmulOp(gpu, matrix, variant, pipelines);
  }

  /** Encodes y (+)= x Wᵀ for `numRows` rows (the kernel reads the exact count from `count`). */
  encode(pass: GPUComputePassEncoder, b: MatmulBuffers, numRows: number): void {
    const z = Math.ceil(numRows / MATMUL_ROWS_PER_THREAD);
    const p = this.#gpu.profile;
    const perGroup = this.#variant === "rows"
      ? p.matmulWorkgroup
      : this.#variant === "tile"
      ? p.matmulWorkgroup / p.matmulLanes
      : 1;
    this.#matrix.parts.forEach((part, i) => {
      const pipeline = this.#pipelines[i];
      // Without a bias the slot is bound to x (read-only, never read by the kernel).
      const bindings: Binding[] = [part.buffer, b.x, b.y, b.bias ?? b.x, b.count];
      if (part.scales) bindings.push(part.scales);
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, this.#gpu.kernels.bindGroup(pipeline, bindings));
      dispatchLinear(pass, Math.ceil(part.numRows / perGroup), z);
    });
  }
}
