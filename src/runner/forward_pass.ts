/**
 * The forward pass of one step as a sequence of dispatches in one compute pass:
 * embed → per layer (rmsnorm → qkv → [q/k norm] → rope → [rotate q/k/v] → kv_write → attention →
 * [rotate the output back] → o_proj+residual → rmsnorm → gate_up → swiglu → down+residual) →
 * final norm of the sampling rows → lm_head → penalties → sample. With `rotateKv` every block of
 * the cache holds K and V in the rotated space of src/kv/rotation.ts, f16 blocks included.
 * @module
 */
import type { Gpu } from "../gpu/device.ts";
import { countSlot } from "../gpu/dispatch.ts";
import type { ModelSpec } from "../model/spec.ts";
import { AttentionOp, type AttentionPlan } from "./ops/attention.ts";
import { EmbeddingOp } from "./ops/embedding.ts";
import { type AttentionShape, qkvStride, RowKernel } from "./ops/elementwise.ts";
import { MatmulOp } from "./ops/matmul.ts";
import { HeadNormOp, RmsNormOp } from "./ops/rmsnorm.ts";
import { PenaltyOp } from "./ops/penalty.ts";
import { RotateOp } from "./ops/rotate.ts";
import { SampleOp } from "./ops/sample.ts";
import { ropeParameters } from "./rope_freq.ts";
import type { LayerWeights, ModelWeights } from "./weights.ts";

/** Uniform slots of the counts buffer. */
export const COUNT_SLOTS = { rows: 0, qHeads: 1, kHeads: 2, samples: 3 } as const;

/** Every buffer a step reads or writes (activations sized for the runner's largest step). */
export interface StepBuffers {
  hidden: GPUBuffer;
  normed: GPUBuffer;
  qkv: GPUBuffer;
  attn: GPUBuffer;
  gateUp: GPUBuffer;
  act: GPUBuffer;
  sampleNormed: GPUBuffer;
  logits: GPUBuffer;
  rows: GPUBuffer;
  seqs: GPUBuffer;
  table: GPUBuffer;
  samples: GPUBuffer;
  sampleRows: GPUBuffer;
  lastToken: GPUBuffer;
  outTokens: GPUBuffer;
  /** [slots][vocab] u32 generated-token counts of penalised sequences. */
  tokenCounts: GPUBuffer;
  invFreq: GPUBuffer;
  counts: GPUBuffer;
  pools: readonly GPUBuffer[];
}

/** Options of the forward pass. */
export interface ForwardOptions {
  blockSize: number;
  kvDecode: string;
  minSplitTokens?: number;
  /** Rotate q, k and v before the cache and attention, and the attention output back. */
  rotateKv: boolean;
}

/** Encodes extra work into a layer's pass once its qkv rows are final (after RoPE). */
export type LayerHook = (pass: GPUComputePassEncoder, qkv: GPUBuffer, layer: number) => void;

interface LayerOps {
  qkv: MatmulOp;
  o: MatmulOp;
  gateUp: MatmulOp;
  down: MatmulOp;
}

/** The compiled kernels of one model, and the encoding of a step with them. */
export class ForwardPass {
  readonly attention: AttentionOp;
  readonly #weights: ModelWeights;
  readonly #embed: EmbeddingOp;
  readonly #norm: RmsNormOp;
  readonly #finalNorm: RmsNormOp;
  readonly #qNorm: HeadNormOp | null;
  readonly #kNorm: HeadNormOp | null;
  readonly #rope: RowKernel;
  readonly #kvWrite: RowKernel;
  readonly #swiglu: RowKernel;
  readonly #layers: LayerOps[];
  readonly #lmHead: MatmulOp;
  readonly #penalty: PenaltyOp;
  readonly #sample: SampleOp;
  readonly #rotate: { qkv: RotateOp; out: RotateOp } | null;

  private constructor(weights: ModelWeights, ops: {
    attention: AttentionOp;
    embed: EmbeddingOp;
    norm: RmsNormOp;
    finalNorm: RmsNormOp;
    qNorm: HeadNormOp | null;
    kNorm: HeadNormOp | null;
    rope: RowKernel;
    kvWrite: RowKernel;
    swiglu: RowKernel;
    layers: LayerOps[];
    lmHead: MatmulOp;
    penalty: PenaltyOp;
    sample: SampleOp;
    rotate: { qkv: RotateOp; out: RotateOp } | null;
  }) {
    this.#weights = weights;
    this.attention = ops.attention;
    this.#embed = ops.embed;
    this.#norm = ops.norm;
    this.#finalNorm = ops.finalNorm;
    this.#qNorm = ops.qNorm;
    this.#kNorm = ops.kNorm;
    this.#rope = ops.rope;
    this.#kvWrite = ops.kvWrite;
    this.#swiglu = ops.swiglu;
    this.#layers = ops.layers;
    this.#lmHead = ops.lmHead;
    this.#penalty = ops.penalty;
    this.#sample = ops.sample;
    this.#rotate = ops.rotate;
  }

  /** Compiles every kernel the model needs (pipelines are shared between equal-shaped layers). */
  static async create(
    gpu: Gpu,
    spec: ModelSpec,
    weights: ModelWeights,
    opts: ForwardOptions,
  ): Promise<ForwardPass> {
    const shape: AttentionShape = {
      numHeads: spec.numHeads,
      numKvHeads: spec.numKvHeads,
      headDim: spec.headDim,
      qkvStride: qkvStride(spec.numHeads, spec.numKvHeads, spec.headDim),
    };
    const h = spec.hiddenSize;
    const headNorm = (groups: number, base: number) =>
      HeadNormOp.create(gpu, {
        dim: spec.headDim,
        groups,
        stride: shape.qkvStride,
        base,
        eps: spec.rmsNormEps,
      });
    const layerOps = (l: LayerWeights) =>
      Promise.all([
        MatmulOp.create(gpu, l.qkv, { outStride: shape.qkvStride, bias: l.qkvBias !== null }),
        MatmulOp.create(gpu, l.o, { outStride: h, accumulate: true }),
        MatmulOp.create(gpu, l.gateUp, { outStride: 2 * spec.intermediateSize }),
        MatmulOp.create(gpu, l.down, { outStride: h, accumulate: true }),
      ]).then(([qkv, o, gateUp, down]) => ({ qkv, o, gateUp, down }));
    const qDim = spec.numHeads * spec.headDim;
    const [
      attention,
      embed,
      norm,
      finalNorm,
      qNorm,
      kNorm,
      rope,
      kvWrite,
      swiglu,
      lmHead,
      penalty,
      sample,
    ] = await Promise.all([
      AttentionOp.create(gpu, shape, opts),
      EmbeddingOp.create(gpu, weights.embed),
      RmsNormOp.create(gpu, h, spec.rmsNormEps),
      RmsNormOp.create(gpu, h, spec.rmsNormEps, true),
      spec.qkNorm ? headNorm(spec.numHeads, 0) : null,
      spec.qkNorm ? headNorm(spec.numKvHeads, qDim) : null,
      RowKernel.rope(gpu, shape, ropeParameters(spec).attentionFactor),
      RowKernel.kvWrite(gpu, shape, opts.blockSize),
      RowKernel.swiglu(gpu, spec.intermediateSize),
      MatmulOp.create(gpu, weights.lmHead, { outStride: spec.vocabSize }),
      PenaltyOp.create(gpu, spec.vocabSize),
      SampleOp.create(gpu, spec.vocabSize),
    ]);
    const layers = await Promise.all(weights.layers.map(layerOps));
    const d = spec.headDim;
    const rotate = opts.rotateKv
      ? {
        qkv: await RotateOp.create(gpu, {
          headDim: d,
          stride: shape.qkvStride,
          heads: spec.numHeads + 2 * spec.numKvHeads,
        }, false),
        out: await RotateOp.create(gpu, { headDim: d, stride: qDim, heads: spec.numHeads }, true),
      }
      : null;
    return new ForwardPass(weights, {
      attention,
      embed,
      norm,
      finalNorm,
      qNorm,
      kNorm,
      rope,
      kvWrite,
      swiglu,
      layers,
      lmHead,
      penalty,
      sample,
      rotate,
    });
  }

  /** Whether the cache holds K and V rotated. */
  get rotatesKv(): boolean {
    return this.#rotate !== null;
  }

  /** Releases the attention scratch and the rotation signs. */
  destroy(): void {
    this.attention.destroy();
    this.#rotate?.qkv.destroy();
    this.#rotate?.out.destroy();
  }

  /**
   * Encodes the layers for `numRows` rows and the sampling of `numSamples` rows; `afterRope`
   * is encoded in each layer once q/k/v are final (calibration's capture).
   */
  encode(
    pass: GPUComputePassEncoder,
    b: StepBuffers,
    numRows: number,
    numSamples: number,
    attention: AttentionPlan,
    afterRope?: LayerHook,
  ): void {
    const count = (slot: number) => countSlot(b.counts, slot);
    const rows = count(COUNT_SLOTS.rows);
    const n = numRows;
    this.#embed.encode(pass, b.rows, b.lastToken, b.hidden, rows, n);
    this.#layers.forEach((ops, l) => {
      const w = this.#weights.layers[l];
      this.#norm.encode(pass, b.hidden, w.inputNorm, b.normed, b.rows, rows, n);
      ops.qkv.encode(pass, { x: b.normed, y: b.qkv, bias: w.qkvBias, count: rows }, n);
      if (this.#qNorm && this.#kNorm && w.qNorm && w.kNorm) {
        this.#qNorm.encode(pass, b.qkv, w.qNorm, count(COUNT_SLOTS.qHeads), n);
        this.#kNorm.encode(pass, b.qkv, w.kNorm, count(COUNT_SLOTS.kHeads), n);
      }
      this.#rope.encode(pass, [b.qkv, b.invFreq, b.rows, rows], n);
      // before the capture hook: calibration reads q in the space the cache holds K in
      this.#rotate?.qkv.encode(pass, b.qkv, rows, n);
      afterRope?.(pass, b.qkv, l);
      // Every row's K/V is in the cache before attention, so prefill rows see earlier rows.
      this.#kvWrite.encode(pass, [b.qkv, b.rows, b.pools[l], rows], n);
      this.attention.encode(
        pass,
        {
          qkv: b.qkv,
          rows: b.rows,
          seqs: b.seqs,
          table: b.table,
          pool: b.pools[l],
          out: b.attn,
        },
        attention,
      );
      this.#rotate?.out.encode(pass, b.attn, rows, n);
      ops.o.encode(pass, { x: b.attn, y: b.hidden, count: rows }, n);
      this.#norm.encode(pass, b.hidden, w.postNorm, b.normed, b.rows, rows, n);
      ops.gateUp.encode(pass, { x: b.normed, y: b.gateUp, count: rows }, n);
      this.#swiglu.encode(pass, [b.gateUp, b.act, rows], n);
      ops.down.encode(pass, { x: b.act, y: b.hidden, count: rows }, n);
    });
    if (numSamples === 0) return;
    const samples = count(COUNT_SLOTS.samples);
    this.#finalNorm.encode(
      pass,
      b.hidden,
      this.#weights.finalNorm,
      b.sampleNormed,
      b.sampleRows,
      samples,
      numSamples,
    );
    this.#lmHead.encode(pass, { x: b.sampleNormed, y: b.logits, count: samples }, numSamples);
    this.#penalty.encode(pass, b.logits, b.samples, b.tokenCounts, samples, numSamples);
    this.#sample.encode(pass, {
      logits: b.logits,
      params: b.samples,
      lastToken: b.lastToken,
      outTokens: b.outTokens,
      tokenCounts: b.tokenCounts,
      count: samples,
    }, numSamples);
  }
}
