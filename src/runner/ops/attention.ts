/**
 * Paged attention dispatch (kernels/paged_attention.wgsl, one dispatch per window of the
 * context, then attention_merge.wgsl), and the plan that splits a step's contexts so that no
 * invocation of a software adapter runs into its loop bound.
 * @module
 */
import type { Gpu } from "../../gpu/device.ts";
import { createBuffer } from "../../gpu/buffers.ts";
import { dispatch, UNIFORM_SLOT_BYTES } from "../../gpu/dispatch.ts";
import { KV_DTYPES } from "../../kv/dtype.ts";
import type { AttentionShape } from "./elementwise.ts";
import type { Op } from "./op.ts";

/** Most parallel splits of one row's context. */
export const MAX_SPLITS = 16;
/** Per-lane private capacities of the kernel (MAX_LANE_VALUES, MAX_DPL, MAX_GROUP). */
const MAX_LANE_VALUES = 128;
const MAX_DPL = 32;
const MAX_GROUP = 16;
/** Blocks closed early (phase changes) a split may meet beyond its full ones. */
const PARTIAL_BLOCKS = 16;
/** Share of the loop bound the plan may use (the rest is slack for the model's error). */
const LOOP_BUDGET = 0.85;
/** Workgroups per window that keep the adapter busy: a few per CPU core, or a GPU's SMs. */
const BUSY_WORKGROUPS = { software: 16, gpu: 512 } as const;

/** Attention options. */
export interface AttentionOptions {
  blockSize: number;
  /** Library file decoding quantized blocks (kernels/kv_decode.wgsl: "kv_decode"). */
  kvDecode: string;
  /** Fewest context tokens a parallel split covers (tests lower it to reach the merge). */
  minSplitTokens?: number;
  /** Caps the tokens one invocation covers (tests lower it to reach several windows). */
  maxSplitTokens?: number;
  /** Threads per workgroup (default: the adapter profile's, adjusted to the shape). */
  lanes?: number;
}

/** Buffers attention reads and writes. */
export interface AttentionBuffers {
  qkv: GPUBuffer;
  rows: GPUBuffer;
  seqs: GPUBuffer;
  table: GPUBuffer;
  pool: GPUBuffer;
  out: GPUBuffer;
}

/** How a step's attention is cut: S parallel splits of T tokens, in W sequential windows. */
export interface AttentionPlan {
  rows: number;
  splits: number;
  splitTokens: number;
  windows: number;
}

/** The kernel's shape for a model: lanes per workgroup and channels per lane. */
export interface AttentionKernelShape {
  lanes: number;
  channelsPerLane: number;
  group: number;
}

/** Causal attention of each row over its sequence's paged cache. */
export class AttentionOp implements Op<AttentionBuffers, AttentionPlan> {
  readonly #gpu: Gpu;
  readonly #shape: AttentionShape;
  readonly #kernel: AttentionKernelShape;
  readonly #blockSize: number;
  readonly #main: GPUComputePipeline;
  readonly #merge: GPUComputePipeline;
  readonly #minSplitTokens: number;
  readonly #maxSplitTokens: number;
  #state: GPUBuffer | null = null;
  #params: GPUBuffer | null = null;

  private constructor(
    gpu: Gpu,
    shape: AttentionShape,
    kernel: AttentionKernelShape,
    opts: AttentionOptions,
    pipelines: [GPUComputePipeline, GPUComputePipeline],
  ) {
    this.#gpu = gpu;
    this.#shape = shape;
    this.#kernel = kernel;
    this.#blockSize = opts.blockSize;
    [this.#main, this.#merge] = pipelines;
    this.#minSplitTokens = opts.minSplitTokens ?? 256;
    this.#maxSplitTokens = opts.maxSplitTokens ?? Infinity;
  }

  /** Compiles the attention and merge kernels for a model's shape. */
  static async create(
    gpu: Gpu,
    shape: AttentionShape,
    opts: AttentionOptions,
  ): Promise<AttentionOp> {
    const kernel = attentionKernelShape(
      shape,
      opts.blockSize,
      opts.lanes ?? gpu.profile.attention,
      gpu.device.limits.maxComputeWorkgroupStorageSize,
    );
    const ids = KV_DTYPES.filter((d) => d.kind !== "f16").map((d) => d.id);
    const lanesQuant = `kv_lanes_quant_${ids.join("_") || "none"}`;
    gpu.kernels.define(lanesQuant, lanesQuantWgsl(ids));
    const pipelines = await Promise.all([
      gpu.kernels.pipeline([opts.kvDecode, "kv_load", lanesQuant, "paged_attention"], "main", {
        LANES: kernel.lanes,
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
    return new AttentionOp(
      gpu,
      shape,
      kernel,
      opts,
      pipelines as [
        GPUComputePipeline,
        GPUComputePipeline,
      ],
    );
  }

  /** The workgroup shape the kernel was compiled with. */
  get kernelShape(): AttentionKernelShape {
    return this.#kernel;
  }

  /** The plan for a step of `numRows` rows whose longest context is `maxContext` tokens. */
  plan(numRows: number, maxContext: number): AttentionPlan {
    const { lanes, channelsPerLane, group } = this.#kernel;
    const bound = this.#gpu.profile.maxLoopIterations;
    const perWindowSplit = bound === null ? Infinity : maxSplitTokens({
      bound,
      lanes,
      channelsPerLane,
      group,
      blockSize: this.#blockSize,
    });
    return attentionPlan({
      numRows,
      maxContext,
      numKvHeads: this.#shape.numKvHeads,
      stateBytesPerSplit: this.#shape.numHeads * (this.#shape.headDim + 2) * 4,
      maxStateBytes: Math.min(this.#gpu.maxBindingBytes, 128 << 20),
      minSplitTokens: this.#minSplitTokens,
      maxSplitTokens: Math.min(perWindowSplit, this.#maxSplitTokens),
      busyWorkgroups: BUSY_WORKGROUPS[this.#gpu.profile.name],
    });
  }

  /**
   * Plans a step and writes its per-window parameters (queue-ordered, so they land before the
   * next submit); the plan is what `encode` takes.
   */
  prepare(numRows: number, maxContext: number): AttentionPlan {
    const plan = this.plan(numRows, maxContext);
    const device = this.#gpu.device;
    const stateBytes = Math.max(1, plan.rows) * plan.splits * this.#shape.numHeads *
      (this.#shape.headDim + 2) * 4;
    if (!this.#state || this.#state.size < stateBytes) {
      this.#state?.destroy();
      this.#state = createBuffer(device, "attention.state", stateBytes);
    }
    const paramBytes = plan.windows * UNIFORM_SLOT_BYTES;
    if (!this.#params || this.#params.size < paramBytes) {
      this.#params?.destroy();
      this.#params = device.createBuffer({
        label: "attention.params",
        size: Math.max(paramBytes, 4 * UNIFORM_SLOT_BYTES),
        usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
      });
    }
    const words = new Uint32Array(paramBytes / 4);
    for (let w = 0; w < plan.windows; w++) {
      words.set([plan.rows, plan.splits, plan.splitTokens, w], w * UNIFORM_SLOT_BYTES / 4);
    }
    device.queue.writeBuffer(this.#params, 0, words);
    return plan;
  }

  /** Encodes attention for the plan `prepare` returned (its windows, then the merge). */
  encode(pass: GPUComputePassEncoder, b: AttentionBuffers, plan: AttentionPlan): void {
    if (plan.rows === 0) return;
    const state = this.#state, params = this.#params;
    if (!state || !params) throw new Error("AttentionOp.encode before prepare");
    const kernels = this.#gpu.kernels;
    const slot = (w: number) => ({ buffer: params, offset: w * UNIFORM_SLOT_BYTES, size: 16 });
    for (let w = 0; w < plan.windows; w++) {
      const group = kernels.bindGroup(this.#main, [
        b.qkv,
        b.rows,
        b.seqs,
        b.table,
        b.pool,
        state,
        slot(w),
      ]);
      dispatch(pass, this.#main, group, this.#shape.numKvHeads * plan.splits, plan.rows);
    }
    const merge = kernels.bindGroup(this.#merge, [state, b.out, slot(0)]);
    const width = this.#shape.numHeads * this.#shape.headDim;
    dispatch(pass, this.#merge, merge, Math.ceil(width / this.#gpu.profile.elementwise), plan.rows);
  }

  /** Frees the scratch buffers. */
  destroy(): void {
    this.#state?.destroy();
    this.#params?.destroy();
    this.#state = this.#params = null;
  }
}

/**
 * WGSL of kv_lanes_quant: a lane's channels of one token's K or V in a quantized block, one
 * branch per dtype id, each calling kv_k_quant / kv_v_quant with its id as a constant (measured
 * on lavapipe: with the id a variable, int4 attention ran 3-6x slower than f16).
 */
export function lanesQuantWgsl(ids: readonly number[]): string {
  const loop = (fn: string, id: number) =>
    `for (var i = 0u; i < DPL; i++) { kv[i] = ${fn}(word, ${id}u, kvh, t, d0 + i); }`;
  const cases = ids.map((id) =>
    `    case ${id}u: {\n` +
    `      if (is_v) { ${loop("kv_v_quant", id)} } else { ${loop("kv_k_quant", id)} }\n` +
    `    }\n`
  ).join("");
  return `fn kv_lanes_quant(word: u32, dtype: u32, is_v: bool, kvh: u32, t: u32, d0: u32) {\n` +
    `  switch dtype {\n${cases}    default: {}\n  }\n}\n`;
}

/**
 * Lanes per workgroup for a shape: the profile's, halved until each lane holds an even number
 * of channels (f16 channels come in whole words), doubled while a lane's q and accumulators
 * overflow the kernel's private arrays, and halved again while the partial dot products
 * overflow workgroup memory.
 */
export function attentionKernelShape(
  shape: AttentionShape,
  blockSize: number,
  profileLanes: number,
  maxWorkgroupBytes: number,
): AttentionKernelShape {
  const { numHeads, numKvHeads, headDim } = shape;
  if (headDim % 2 !== 0) {
    throw new RangeError(`head_dim ${headDim} must be even`);
  }
  if (numHeads % numKvHeads !== 0) {
    throw new RangeError(`${numHeads} heads do not divide into ${numKvHeads} groups`);
  }
  const group = numHeads / numKvHeads;
  if (group > MAX_GROUP) {
    throw new RangeError(`${group} q heads per KV head; attention handles at most ${MAX_GROUP}`);
  }
  const fits = (lanes: number) => headDim % (2 * lanes) === 0;
  let lanes = Math.max(1, profileLanes);
  while (lanes > 1 && !fits(lanes)) lanes /= 2;
  const overflows = (l: number) => headDim / l > MAX_DPL || group * headDim / l > MAX_LANE_VALUES;
  while (overflows(lanes) && fits(lanes * 2)) lanes *= 2;
  const wgBytes = (l: number) => (group * blockSize * (l + 1)) * 4;
  while (wgBytes(lanes) > maxWorkgroupBytes && lanes > 1 && !overflows(lanes / 2)) lanes /= 2;
  if (overflows(lanes) || wgBytes(lanes) > maxWorkgroupBytes) {
    throw new RangeError(
      `No attention workgroup fits head_dim ${headDim}, ${group} q heads per KV head and ` +
        `blocks of ${blockSize} (${maxWorkgroupBytes} bytes of workgroup memory)`,
    );
  }
  return { lanes, channelsPerLane: headDim / lanes, group };
}

/** What bounds the tokens one invocation may loop over. */
export interface LoopModel {
  /** Loop iterations an invocation may run in all. */
  bound: number;
  lanes: number;
  channelsPerLane: number;
  group: number;
  blockSize: number;
}

/**
 * Loop iterations an invocation of paged_attention.wgsl runs for `tokens` tokens met in
 * `blocks` blocks, counting every loop of the kernel as written (an upper bound: the compiler
 * may unroll some).
 */
export function loopIterations(m: LoopModel, tokens: number, blocks: number): number {
  const { lanes: n, channelsPerLane: c, group: g } = m;
  const fixed = 2 * g * (c + 1) + 24; // state in and out, binary search
  const perToken = 2 * (c + 1) + // K and V loads
    g * (c + 1) + // dot products
    g * (c + 2) + 1 + // V accumulation
    g; // block maximum
  const perBlock = 2 + g * (c + 1) + // softmax rescale
    (Math.ceil(g * m.blockSize / n) + 1) * (n + 1); // score reduction
  return fixed + perToken * tokens + perBlock * blocks;
}

/** The most tokens one invocation may cover while staying within the loop budget. */
export function maxSplitTokens(m: LoopModel): number {
  const budget = LOOP_BUDGET * m.bound;
  const blocks = (t: number) => Math.ceil(t / m.blockSize) + 1 + PARTIAL_BLOCKS;
  let lo = 0, hi = 1 << 20;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (loopIterations(m, mid, blocks(mid)) <= budget) lo = mid;
    else hi = mid;
  }
  if (lo < m.blockSize) {
    throw new RangeError(`Attention of this shape cannot cover one block within the loop bound`);
  }
  return lo;
}

/** What a step's plan depends on. */
export interface PlanQuery {
  numRows: number;
  maxContext: number;
  numKvHeads: number;
  /** State bytes of one row's split (every q head). */
  stateBytesPerSplit: number;
  maxStateBytes: number;
  minSplitTokens: number;
  /** Most tokens one invocation may cover (Infinity without a loop bound). */
  maxSplitTokens: number;
  /** Workgroups per window that keep the adapter busy. */
  busyWorkgroups: number;
}

/**
 * Parallel splits where rows are too few to keep the adapter busy (each covering at least
 * minSplitTokens), as many as the state scratch holds; then split tokens and windows so that
 * no invocation covers more than maxSplitTokens.
 */
export function attentionPlan(q: PlanQuery): AttentionPlan {
  const rows = q.numRows;
  const context = Math.max(1, q.maxContext);
  const groups = Math.max(1, rows * q.numKvHeads);
  const byScratch = Math.floor(q.maxStateBytes / (Math.max(1, rows) * q.stateBytesPerSplit));
  const splits = Math.max(
    1,
    Math.min(
      MAX_SPLITS,
      byScratch,
      Math.ceil(q.busyWorkgroups / groups),
      Math.ceil(context / q.minSplitTokens),
    ),
  );
  const splitTokens = Math.min(q.maxSplitTokens, Math.ceil(context / splits));
  const windows = Math.ceil(context / (splits * splitTokens));
  return { rows, splits, splitTokens, windows };
}
