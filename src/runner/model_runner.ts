/**
 * The GPU model runner: owns the weights, the per-layer KV pools and the step buffers, and runs
 * each step as one command encoder with one compute pass. Steps are never awaited inside step():
 * the sampled tokens come back through a ring of staging buffers, in order, while later steps
 * are already queued (rows with a null token read the slot's sampled token on the GPU).
 * @module
 */
import type { Gpu } from "../gpu/device.ts";
import { withErrorScope } from "../gpu/errors.ts";
import type { LoadedCheckpoint, ModelSpec } from "../model/spec.ts";
import { ForwardPass } from "./forward_pass.ts";
import { ReadbackRing } from "./readback_ring.ts";
import { kvDtype } from "../kv/dtype.ts";
import type { KvLayout } from "../kv/layout.ts";
import { canRotate, rotatesByDefault } from "../kv/rotation.ts";
import { demoterScratchBytes, KvDemoter } from "../kv/demoter.ts";
import { KvSealer } from "../kv/sealer.ts";
import { packStep, type StepLimits } from "./step_pack.ts";
import {
  allocateStepBuffers,
  destroyStepBuffers,
  type StepBuffers,
  writeStepInputs,
} from "./step_buffers.ts";
import { stepCounts } from "./step_counts.ts";
import type { AttentionPlan } from "./ops/attention.ts";
import { QkvCapture } from "./ops/qkv_capture.ts";
import { LogprobsReadout } from "./ops/logprobs.ts";
import { tokenCountBytes } from "./ops/penalty.ts";
import type { Runner, SealOp, StepInput, StepResult } from "./types.ts";
import type { WeightsDtype } from "../model/weights_dtype.ts";
import {
  destroyWeights,
  type ModelWeights,
  type ProgressFn,
  uploadWeights,
  weightsBytes,
} from "./weights.ts";

/** How to build a runner. */
export interface ModelRunnerOptions {
  /** Tokens per KV block (default 16). */
  blockSize?: number;
  /** Bytes of each layer's KV pool (at most one storage binding). */
  kvPoolBytes: number;
  maxNumSeqs: number;
  maxRowsPerStep: number;
  /** Weight upload progress (tensors done of total). */
  onProgress?: ProgressFn;
  /**
   * Keep K and V rotated (src/kv/rotation.ts) in every block; default rotatesByDefault(head_dim).
   * Block tables may name any registry dtype either way.
   */
  rotateKv?: boolean;
  /** How matrices are stored on the GPU (default f16). */
  weightsDtype?: WeightsDtype;
  /** Inputs per scale of a quantized weight dtype (default WEIGHT_GROUP_SIZE). */
  weightsGroupSize?: number;
  /** Block-table entries per sequence (default: enough for max_position_embeddings). */
  maxBlocksPerSeq?: number;
  /** Fewest context tokens per attention split (tests lower it to reach split-K). */
  minSplitTokens?: number;
  /** Staging buffers made up front for token readback (default 4). */
  readbackDepth?: number;
  /**
   * f16 scratch blocks added past `kvPoolBytes` in each pool, where demotions (seals whose
   * source is already quantized) decode their sources; the most demotions one step may carry.
   * Default 0: no demotion.
   */
  demotionScratchBlocks?: number;
}

/** Runs steps of one model on the GPU. */
export class ModelRunner implements Runner {
  /** Tokens per KV block. */
  readonly blockSize: number;
  /** Bytes the weights hold on the GPU. */
  readonly weightBytes: number;
  readonly #gpu: Gpu;
  readonly #sealer: KvSealer;
  readonly #demoter: KvDemoter | null;
  readonly #spec: ModelSpec;
  readonly #weights: ModelWeights;
  readonly #forward: ForwardPass;
  readonly #buffers: StepBuffers;
  readonly #limits: StepLimits;
  readonly #ring: ReadbackRing;
  /** Made on the first step that asks for a capture (calibration only). */
  #capture: QkvCapture | null = null;
  #logprobs: LogprobsReadout | null = null;

  private constructor(
    gpu: Gpu,
    spec: ModelSpec,
    weights: ModelWeights,
    forward: ForwardPass,
    buffers: StepBuffers,
    limits: StepLimits,
    readbackDepth: number,
    sealer: KvSealer,
    demoter: KvDemoter | null,
  ) {
    this.#gpu = gpu;
    this.#sealer = sealer;
    this.#demoter = demoter;
    this.#spec = spec;
    this.#weights = weights;
    this.#forward = forward;
    this.#buffers = buffers;
    this.#limits = limits;
    this.blockSize = limits.kv.blockSize;
    this.weightBytes = weightsBytes(weights);
    this.#ring = new ReadbackRing(gpu.device, Math.max(16, limits.maxSeqs * 4), readbackDepth);
  }

  /** Uploads the checkpoint, allocates the KV pools and step buffers, and compiles the kernels. */
  static async create(
    gpu: Gpu,
    ckpt: LoadedCheckpoint,
    opts: ModelRunnerOptions,
  ): Promise<ModelRunner> {
    const spec = ckpt.spec;
    const blockSize = opts.blockSize ?? 16;
    const { demotionScratchBlocks = 0, ...sizes } = opts;
    if (!(Number.isInteger(demotionScratchBlocks) && demotionScratchBlocks >= 0)) {
      throw new RangeError(
        `ModelRunner option demotionScratchBlocks must be a non-negative integer, got ${demotionScratchBlocks}`,
      );
    }
    for (const [name, v] of Object.entries({ ...sizes, blockSize })) {
      if (typeof v === "number" && !(Number.isInteger(v) && v > 0)) {
        throw new RangeError(`ModelRunner option ${name} must be a positive integer, got ${v}`);
      }
    }
    const countBytes = tokenCountBytes(opts.maxNumSeqs, spec.vocabSize);
    if (countBytes > gpu.maxBindingBytes) {
      throw new RangeError(
        `maxNumSeqs ${opts.maxNumSeqs} × vocab ${spec.vocabSize} token counts (${countBytes} B) ` +
          `exceed the adapter's binding limit ${gpu.maxBindingBytes}`,
      );
    }
    const kv: KvLayout = { numKvHeads: spec.numKvHeads, blockSize, headDim: spec.headDim };
    const poolBytes = opts.kvPoolBytes + demoterScratchBytes(kv, demotionScratchBlocks);
    if (poolBytes > gpu.maxBindingBytes) {
      throw new RangeError(
        `kvPoolBytes ${poolBytes} exceeds the adapter's binding limit ${gpu.maxBindingBytes}`,
      );
    }
    const rotateKv = opts.rotateKv ?? rotatesByDefault(spec.headDim);
    if (rotateKv && !canRotate(spec.headDim)) {
      throw new RangeError(`KV rotation needs a power-of-two head_dim, got ${spec.headDim}`);
    }
    const maxBlocksPerSeq = opts.maxBlocksPerSeq ??
      Math.ceil(spec.maxPositionEmbeddings / blockSize);
    const limits: StepLimits = {
      maxRows: opts.maxRowsPerStep,
      maxSeqs: opts.maxNumSeqs,
      maxTableEntries: opts.maxNumSeqs * maxBlocksPerSeq,
      vocabSize: spec.vocabSize,
      poolBytes,
      kv,
    };
    const device = gpu.device;
    const weights = await withErrorScope(
      device,
      "uploading weights",
      () =>
        uploadWeights(gpu, ckpt, {
          dtype: opts.weightsDtype,
          groupSize: opts.weightsGroupSize,
          onProgress: opts.onProgress,
        }),
    );
    const buffers = await withErrorScope(
      device,
      "allocating step buffers",
      () => allocateStepBuffers(gpu, spec, limits),
    );
    const forward = await withErrorScope(
      device,
      "compiling kernels",
      () =>
        ForwardPass.create(gpu, spec, weights, {
          blockSize,
          kvDecode: "kv_decode",
          minSplitTokens: opts.minSplitTokens,
          rotateKv,
        }),
    );
    const sealer = await withErrorScope(
      device,
      "compiling the KV seal kernels",
      () => KvSealer.create(device, kv),
    );
    const demoter = demotionScratchBlocks === 0 ? null : await withErrorScope(
      device,
      "compiling the KV demotion kernel",
      () =>
        KvDemoter.create(device, sealer, kv, {
          offset: opts.kvPoolBytes,
          blocks: demotionScratchBlocks,
        }),
    );
    return new ModelRunner(
      gpu,
      spec,
      weights,
      forward,
      buffers,
      limits,
      opts.readbackDepth ?? 4,
      sealer,
      demoter,
    );
  }

  /** Demotions one step may carry (the pools' f16 scratch blocks); 0 without demotion. */
  get maxDemotionsPerStep(): number {
    return this.#demoter?.maxDemotions ?? 0;
  }

  /** Each layer's KV pool (the KV module's seal kernels write into these). */
  get pools(): readonly GPUBuffer[] {
    return this.#buffers.pools;
  }

  /** Bytes of one block of `dtype` in one layer's pool. */
  blockBytes(dtype: string): number {
    return kvDtype(dtype).blockBytes(this.#limits.kv);
  }

  /** Whether the cache holds K and V rotated (src/kv/rotation.ts), f16 blocks included. */
  get rotatesKv(): boolean {
    return this.#forward.rotatesKv;
  }

  /** Encodes and submits one step; resolves with its sampled tokens (and logits when asked). */
  async step(input: StepInput): Promise<StepResult> {
    const seals = input.seals ?? [];
    const packed = packStep(input, this.#limits);
    const { device } = this.#gpu;
    const b = this.#buffers;
    const n = packed.numRows;
    const ns = packed.numSamples;
    writeStepInputs(device.queue, b, packed, this.#spec.vocabSize);
    const plan = this.#forward.prepare(b.counts, packed);

    const capture = input.captureQkv === true ? await this.#prepareCapture(n) : null;
    const logprobs = input.returnLogprobs === true && ns > 0
      ? this.#logprobs ??= await LogprobsReadout.create(
        this.#gpu,
        this.#spec.vocabSize,
        this.#limits.maxSeqs,
      )
      : null;
    // A validation error would otherwise poison the step silently; it rejects the step instead.
    device.pushErrorScope("validation");
    let copies: Copies;
    try {
      copies = this.#encode({
        numRows: n,
        numSamples: ns,
        plan,
        seals,
        returnLogits: input.returnLogits === true,
        capture,
        logprobs,
      });
    } catch (e) {
      await device.popErrorScope();
      throw e;
    }
    const scope = device.popErrorScope().then((e) => {
      if (e) throw new Error(`GPU validation error in step: ${e.message}`);
    });
    const tokens = new Int32Array(await this.#ring.read(copies.staging, ns * 4, scope));
    const qkv = copies.qkv && capture ? await capture.read(copies.qkv) : undefined;
    const lp = copies.logprobs && logprobs ? await logprobs.read(copies.logprobs, ns) : undefined;
    if (!copies.logits) return { tokens, qkv, logprobs: lp };
    await copies.logits.mapAsync(GPUMapMode.READ);
    const logits = new Float32Array(copies.logits.getMappedRange().slice(0));
    copies.logits.destroy();
    return { tokens, logits, qkv, logprobs: lp };
  }

  async #prepareCapture(numRows: number): Promise<QkvCapture> {
    const s = this.#spec;
    this.#capture ??= new QkvCapture(
      this.#gpu,
      s.numLayers,
      this.#limits.maxRows,
      (s.numHeads + 2 * s.numKvHeads) * s.headDim,
    );
    await this.#capture.prepare(numRows);
    return this.#capture;
  }

  #encode(e: EncodeStep): Copies {
    const { device } = this.#gpu;
    const b = this.#buffers;
    const encoder = device.createCommandEncoder({ label: "step" });
    const pass = encoder.beginComputePass({ label: "step" });
    const { numRows: n, numSamples: ns, capture, logprobs } = e;
    if (e.seals.length > 0) (this.#demoter ?? this.#sealer).encode(pass, b.pools, e.seals);
    if (n > 0) {
      this.#forward.encode(pass, { buffers: b, numRows: n, numSamples: ns, plan: e.plan, capture });
    }
    // next to the sampler: the same logits, the tokens it just wrote
    const count = stepCounts(b.counts).samples;
    if (logprobs) logprobs.encode(pass, { logits: b.logits, outTokens: b.outTokens, count }, ns);
    pass.end();
    const logprobsCopy = logprobs ? logprobs.stage(encoder, ns) : null;
    const qkv = capture ? capture.stage(encoder) : null;
    const staging = this.#ring.acquire();
    encoder.copyBufferToBuffer(b.outTokens, 0, staging, 0, Math.max(4, ns * 4));
    let logits: GPUBuffer | null = null;
    if (e.returnLogits && ns > 0) {
      const bytes = ns * this.#spec.vocabSize * 4;
      logits = device.createBuffer({
        size: bytes,
        usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
      });
      encoder.copyBufferToBuffer(b.logits, 0, logits, 0, bytes);
    }
    device.queue.submit([encoder.finish()]);
    return { staging, logits, qkv, logprobs: logprobsCopy };
  }

  /** Releases the weights, pools and step buffers. */
  destroy(): void {
    this.#ring.destroy();
    this.#capture?.destroy();
    this.#forward.destroy();
    this.#demoter?.destroy();
    this.#sealer.destroy();
    this.#logprobs?.destroy();
    destroyWeights(this.#weights);
    destroyStepBuffers(this.#buffers);
    this.#gpu.kernels.clearBindGroups();
  }
}

/** What one step encodes: its sizes, attention plan, seals, and what it reads back. */
interface EncodeStep {
  numRows: number;
  numSamples: number;
  plan: AttentionPlan;
  seals: readonly SealOp[];
  returnLogits: boolean;
  capture: QkvCapture | null;
  logprobs: LogprobsReadout | null;
}

/** Staging copies one step reads back. */
interface Copies {
  staging: GPUBuffer;
  logits: GPUBuffer | null;
  qkv: GPUBuffer | null;
  logprobs: GPUBuffer | null;
}
