/**
 * Embedding gather dispatch (kernels/embedding.wgsl), one dispatch per part of a row-split table.
 * @module
 */
import type { Gpu } from "../../gpu/device.ts";
import { dispatch } from "../../gpu/dispatch.ts";
import type { Binding } from "../../gpu/kernel_cache.ts";
import type { GpuMatrix } from "../../gpu/row_split.ts";
import type { Op } from "./op.ts";

/** The buffers one embedding gather reads and writes. */
export interface EmbeddingBindings {
  /** The step's rows (token, or none to read the slot's last sample). */
  rows: GPUBuffer;
  /** [slots] u32: each slot's last sampled token. */
  lastToken: GPUBuffer;
  /** [rows][hidden] f32 output. */
  out: GPUBuffer;
  /** Uniform holding the number of rows. */
  count: Binding;
}

/** out[r] = embed[token of row r], the token coming from the row or from its slot's last sample. */
export class EmbeddingOp implements Op<EmbeddingBindings> {
  readonly #gpu: Gpu;
  readonly #table: GpuMatrix;
  readonly #pipelines: GPUComputePipeline[];

  private constructor(gpu: Gpu, table: GpuMatrix, pipelines: GPUComputePipeline[]) {
    this.#gpu = gpu;
    this.#table = table;
    this.#pipelines = pipelines;
  }

  /** Compiles one pipeline per part of the [vocab][hidden] f16 table. */
  static async create(gpu: Gpu, table: GpuMatrix): Promise<EmbeddingOp> {
    const pipelines = await Promise.all(
      table.parts.map((part) =>
        gpu.kernels.pipeline(["embedding"], "main", {
          WG: gpu.profile.elementwise,
          HIDDEN: table.cols,
          ROW_START: part.rowStart,
          NUM_ROWS: part.numRows,
        })
      ),
    );
    return new EmbeddingOp(gpu, table, pipelines);
  }

  /** Encodes the gather for `numRows` step rows. */
  encode(pass: GPUComputePassEncoder, b: EmbeddingBindings, numRows: number): void {
    const x = Math.ceil(this.#table.cols / 2 / this.#gpu.profile.elementwise);
    this.#table.parts.forEach((part, i) => {
      const p = this.#pipelines[i];
      const group = this.#gpu.kernels.bindGroup(p, [
        part.buffer,
        b.rows,
        b.lastToken,
        b.out,
        b.count,
      ]);
      dispatch(pass, p, group, x, numRows);
    });
  }
}
