/**
 * Paged attention dispatch (kernels/paged_attention.wgsl, plus attention_merge.wgsl when the
 * context is split across workgroups), and the choice of the number of splits.
 * @module
 */
import type { Gpu } from "../../gpu/device.ts";
import { createBuffer } from "../../gpu/buffers.ts";
import { dispatch } from "../../gpu/dispatch.ts";
import type { Binding } from "../../gpu/kernel_cache.ts";
import type { AttentionShape } from "./elementwise.ts";

/** Most splits of one row's context. */
export const MAX_SPLITS = 16;
/** Rows for which the partial-state scratch holds MAX_SPLITS splits of every head. */
const SPLIT_ROWS = 4;
/** Above this many (row, head) pairs the GPU is busy enough without splitting. */
const BUSY_PAIRS = 256;
/** The kernel's private q/acc arrays hold this many dims. */
const MAX_HEAD_DIM = 256;

/** Attention options. */
export interface AttentionOptions {
  blockSize: number;
  /** Library file decoding quantized blocks: "kv_decode", or "kv_decode_none" (f16 only). */
  kvDecode: string;
  /** Fewest context tokens a split covers (tests lower it to reach the split path). */
  minSplitTokens?: number;
}

/** Buffers attention reads and writes. */
export interface AttentionBuffers {
  qkv: GPUBuffer;
  rows: GPUBuffer;
  seqs: GPUBuffer;
  table: GPUBuffer;
  pool: GPUBuffer;
  out: GPUBuffer;
  /** Uniform (rows, splits) as written by the caller for this step. */
  params: Binding;
}

/** Causal attention of each row over its sequence's paged cache. */
export class AttentionOp {
  readonly #gpu: Gpu;
  readonly #shape: AttentionShape;
  readonly #main: GPUComputePipeline;
  readonly #merge: GPUComputePipeline;
  readonly #partial: GPUBuffer;
  readonly #minSplitTokens: number;

  private constructor(
    gpu: Gpu,
    shape: AttentionShape,
    pipelines: [GPUComputePipeline, GPUComputePipeline],
    minSplitTokens: number,
  ) {
    this.#gpu = gpu;
    this.#shape = shape;
    [this.#main, this.#merge] = pipelines;
    this.#minSplitTokens = minSplitTokens;
    const slots = SPLIT_ROWS * shape.numHeads * MAX_SPLITS;
    this.#partial = createBuffer(gpu.device, "attention.partial", slots * (shape.headDim + 2) * 4);
  }

  /** Compiles the attention and merge kernels for a model's shape. */
  static async create(
    gpu: Gpu,
    shape: AttentionShape,
    opts: AttentionOptions,
  ): Promise<AttentionOp> {
    if (shape.headDim > MAX_HEAD_DIM || shape.headDim % 2 !== 0) {
      throw new RangeError(`head_dim ${shape.headDim} must be even and at most ${MAX_HEAD_DIM}`);
    }
    if (shape.numHeads % shape.numKvHeads !== 0) {
      throw new RangeError(`${shape.numHeads} heads do not divide into ${shape.numKvHeads} groups`);
    }
    const pipelines = await Promise.all([
      gpu.kernels.pipeline([opts.kvDecode, "kv_load", "paged_attention"], "main", {
        WG: gpu.profile.attention,
        NUM_HEADS: shape.numHeads,
        NUM_KV_HEADS: shape.numKvHeads,
        BLOCK_SIZE: opts.blockSize,
        HEAD_DIM: shape.headDim,
        QKV_STRIDE: shape.qkvStride,
        SCALE: 1 / Math.sqrt(shape.headDim),
      }),
      gpu.kernels.pipeline(["attention_merge"], "main", {
        WG: gpu.profile.elementwise,
        NUM_HEADS: shape.numHeads,
        HEAD_DIM: shape.headDim,
      }),
    ]);
    return new AttentionOp(gpu, shape, pipelines, opts.minSplitTokens ?? 256);
  }

  /** Splits per row for a step of `numRows` rows whose longest context is `maxContext` tokens. */
  splitsFor(numRows: number, maxContext: number): number {
    return attentionSplits({
      numRows,
      maxContext,
      numHeads: this.#shape.numHeads,
      headDim: this.#shape.headDim,
      minSplitTokens: this.#minSplitTokens,
      maxLoopIterations: this.#gpu.profile.maxLoopIterations,
      lanes: this.#gpu.profile.attention,
    });
  }

  /** Encodes attention (and the merge when `splits` > 1) for `numRows` rows. */
  encode(
    pass: GPUComputePassEncoder,
    b: AttentionBuffers,
    numRows: number,
    splits: number,
  ): void {
    const kernels = this.#gpu.kernels;
    const { numHeads, headDim } = this.#shape;
    const main = kernels.bindGroup(this.#main, [
      b.qkv,
      b.rows,
      b.seqs,
      b.table,
      b.pool,
      b.out,
      this.#partial,
      b.params,
    ]);
    const x = Math.ceil((numHeads * splits) / this.#gpu.profile.attention);
    dispatch(pass, this.#main, main, x, numRows);
    if (splits === 1) return;
    const merge = kernels.bindGroup(this.#merge, [this.#partial, b.out, b.params]);
    dispatch(
      pass,
      this.#merge,
      merge,
      Math.ceil(numHeads * headDim / this.#gpu.profile.elementwise),
      numRows,
    );
  }

  /** Frees the scratch buffer. */
  destroy(): void {
    this.#partial.destroy();
  }
}

/** What the choice of splits depends on. */
export interface SplitQuery {
  numRows: number;
  maxContext: number;
  numHeads: number;
  headDim: number;
  minSplitTokens: number;
  /** The adapter's bound on loop iterations per SIMD group (null: none). */
  maxLoopIterations: number | null;
  /** Threads of an attention workgroup (a software adapter's SIMD group). */
  lanes: number;
}

/**
 * Splits per row: enough to keep a long context busy on a GPU, few enough for the scratch, and
 * on software adapters enough that no SIMD group exceeds the loop bound. Measured on lavapipe: a
 * group of lanes fails once the token range its lanes cover, times 2·headDim + 1 iterations per
 * token, nears the bound; lanes are consecutive splits of one head, so a group covers
 * `lanes / splits` of the context (all of it below `lanes` splits). A step that cannot meet the
 * bound is refused rather than computed wrong.
 */
export function attentionSplits(q: SplitQuery): number {
  const pairs = q.numRows * q.numHeads;
  const byScratch = Math.floor((SPLIT_ROWS * q.numHeads * MAX_SPLITS) / pairs);
  const cap = Math.max(1, Math.min(MAX_SPLITS, byScratch));
  let needed = 1;
  if (q.maxLoopIterations !== null) {
    // 10% slack for the kernel's other loops
    const perGroup = Math.floor((0.9 * q.maxLoopIterations) / (2 * q.headDim + 1));
    const groups = Math.ceil(q.maxContext / perGroup);
    if (groups > 1) needed = q.lanes * groups;
  }
  if (needed > cap) {
    throw new RangeError(
      `Attention over ${q.maxContext} tokens for ${q.numRows} rows exceeds this software ` +
        `adapter's loop bound (${q.maxLoopIterations} iterations per invocation); use fewer ` +
        `tokens per step (max_num_batched_tokens), a shorter context, or a GPU`,
    );
  }
  const wanted = pairs >= BUSY_PAIRS ? 1 : Math.ceil(q.maxContext / q.minSplitTokens);
  return Math.max(needed, Math.min(cap, wanted));
}
