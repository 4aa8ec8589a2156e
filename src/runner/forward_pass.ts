/**
 * The forward pass of one step as a sequence of dispatches in one compute pass:
 * embed → per layer (rmsnorm → qkv → [q/k norm] → rope → kv_write → attention → o_proj+residual
 * → rmsnorm → gate_up → swiglu → down+residual) → final norm of the sampling rows → lm_head →
 * penalties → sample.
 *
 * Every op is compiled and bound to its buffers in one place (`create`), as a StepOp; encoding a
 * step is calling each StepOp the same way, with the step's size.
 * @module
 */
import type { Gpu } from "../gpu/device.ts";
import type { ModelSpec } from "../model/spec.ts";
import { AttentionOp } from "./ops/attention.ts";
import { EmbeddingOp } from "./ops/embedding.ts";
import { type AttentionShape, qkvStride, RowKernel } from "./ops/elementwise.ts";
import { MatmulOp } from "./ops/matmul.ts";
import { HeadNormOp, RmsNormOp } from "./ops/rmsnorm.ts";
import { PenaltyOp } from "./ops/penalty.ts";
import { SampleOp } from "./ops/sample.ts";
import { ropeParameters } from "./rope_freq.ts";
import { stepCount, type StepSize } from "./step_counts.ts";
import type { LayerWeights, ModelWeights } from "./weights.ts";

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
  /** The step's uniform counts (step_counts.ts). */
  counts: GPUBuffer;
  pools: readonly GPUBuffer[];
}

/** Options of the forward pass. */
export interface ForwardOptions {
  blockSize: number;
  kvDecode: string;
  minSplitTokens?: number;
}

/** Encodes extra work into a layer's pass once its qkv rows are final (after RoPE). */
export type LayerHook = (pass: GPUComputePassEncoder, qkv: GPUBuffer, layer: number) => void;

/** One op of the step, compiled and bound to its buffers: encodes itself for a step's size. */
export type StepOp = (pass: GPUComputePassEncoder, size: StepSize) => void;

/** The bound ops of one step: the embedding, each layer's (split where the hook goes), the head. */
interface BoundOps {
  embed: StepOp;
  /** Per layer: the ops up to RoPE, then the rest. */
  layers: { beforeHook: StepOp[]; afterHook: StepOp[] }[];
  /** Final norm, lm_head, penalties, sampling (only for steps that sample). */
  head: StepOp[];
}

/** The compiled kernels of one model, bound to the runner's buffers, and the encoding of a step. */
export class ForwardPass {
  readonly attention: AttentionOp;
  readonly #ops: BoundOps;
  readonly #qkv: GPUBuffer;

  private constructor(attention: AttentionOp, ops: BoundOps, qkv: GPUBuffer) {
    this.attention = attention;
    this.#ops = ops;
    this.#qkv = qkv;
  }

  /** Compiles every kernel the model needs and binds each to its buffers. */
  static async create(
    gpu: Gpu,
    spec: ModelSpec,
    weights: ModelWeights,
    b: StepBuffers,
    opts: ForwardOptions,
  ): Promise<ForwardPass> {
    const shape: AttentionShape = {
      numHeads: spec.numHeads,
      numKvHeads: spec.numKvHeads,
      headDim: spec.headDim,
      qkvStride: qkvStride(spec.numHeads, spec.numKvHeads, spec.headDim),
    };
    const h = spec.hiddenSize;
    const rows = stepCount(b.counts, "rows");
    const samples = stepCount(b.counts, "samples");
    const headNorm = (groups: number, base: number) =>
      HeadNormOp.create(gpu, {
        dim: spec.headDim,
        groups,
        stride: shape.qkvStride,
        base,
        eps: spec.rmsNormEps,
      });
    const [attention, embed, norm, finalNorm, qNorm, kNorm, rope, kvWrite, swiglu] = await Promise
      .all([
        AttentionOp.create(gpu, shape, opts),
        EmbeddingOp.create(gpu, weights.embed),
        RmsNormOp.create(gpu, h, spec.rmsNormEps),
        RmsNormOp.create(gpu, h, spec.rmsNormEps, true),
        spec.qkNorm ? headNorm(spec.numHeads, 0) : null,
        spec.qkNorm ? headNorm(spec.numKvHeads, spec.numHeads * spec.headDim) : null,
        RowKernel.rope(gpu, shape, ropeParameters(spec).attentionFactor),
        RowKernel.kvWrite(gpu, shape, opts.blockSize),
        RowKernel.swiglu(gpu, spec.intermediateSize),
      ]);
    const [lmHead, penalty, sample] = await Promise.all([
      MatmulOp.create(gpu, weights.lmHead, { outStride: spec.vocabSize }),
      PenaltyOp.create(gpu, spec.vocabSize),
      SampleOp.create(gpu, spec.vocabSize),
    ]);

    const layer = async (w: LayerWeights, l: number) => {
      const [qkv, o, gateUp, down] = await Promise.all([
        MatmulOp.create(gpu, w.qkv, { outStride: shape.qkvStride, bias: w.qkvBias !== null }),
        MatmulOp.create(gpu, w.o, { outStride: h, accumulate: true }),
        MatmulOp.create(gpu, w.gateUp, { outStride: 2 * spec.intermediateSize }),
        MatmulOp.create(gpu, w.down, { outStride: h, accumulate: true }),
      ]);
      const beforeHook: StepOp[] = [
        (p, s) =>
          norm.encode(p, {
            x: b.hidden,
            w: w.inputNorm,
            out: b.normed,
            gather: b.rows,
            count: rows,
          }, s.rows),
        (p, s) => qkv.encode(p, { x: b.normed, y: b.qkv, bias: w.qkvBias, count: rows }, s.rows),
      ];
      if (qNorm && kNorm && w.qNorm && w.kNorm) {
        const [wq, wk] = [w.qNorm, w.kNorm];
        beforeHook.push(
          (p, s) =>
            qNorm.encode(p, { x: b.qkv, w: wq, count: stepCount(b.counts, "qHeads") }, s.rows),
          (p, s) =>
            kNorm.encode(p, { x: b.qkv, w: wk, count: stepCount(b.counts, "kHeads") }, s.rows),
        );
      }
      beforeHook.push((p, s) => rope.encode(p, [b.qkv, b.invFreq, b.rows, rows], s.rows));
      const attend = {
        qkv: b.qkv,
        rows: b.rows,
        seqs: b.seqs,
        table: b.table,
        pool: b.pools[l],
        out: b.attn,
        params: stepCount(b.counts, "attention"),
      };
      const afterHook: StepOp[] = [
        // Every row's K/V is in the cache before attention, so prefill rows see earlier rows.
        (p, s) => kvWrite.encode(p, [b.qkv, b.rows, b.pools[l], rows], s.rows),
        (p, s) => attention.encode(p, attend, s.rows, s.splits),
        (p, s) => o.encode(p, { x: b.attn, y: b.hidden, count: rows }, s.rows),
        (p, s) =>
          norm.encode(
            p,
            { x: b.hidden, w: w.postNorm, out: b.normed, gather: b.rows, count: rows },
            s.rows,
          ),
        (p, s) => gateUp.encode(p, { x: b.normed, y: b.gateUp, count: rows }, s.rows),
        (p, s) => swiglu.encode(p, [b.gateUp, b.act, rows], s.rows),
        (p, s) => down.encode(p, { x: b.act, y: b.hidden, count: rows }, s.rows),
      ];
      return { beforeHook, afterHook };
    };
    const head: StepOp[] = [
      (p, s) =>
        finalNorm.encode(p, {
          x: b.hidden,
          w: weights.finalNorm,
          out: b.sampleNormed,
          gather: b.sampleRows,
          count: samples,
        }, s.samples),
      (p, s) => lmHead.encode(p, { x: b.sampleNormed, y: b.logits, count: samples }, s.samples),
      (p, s) =>
        penalty.encode(p, {
          logits: b.logits,
          params: b.samples,
          tokenCounts: b.tokenCounts,
          count: samples,
        }, s.samples),
      (p, s) =>
        sample.encode(p, {
          logits: b.logits,
          params: b.samples,
          lastToken: b.lastToken,
          outTokens: b.outTokens,
          tokenCounts: b.tokenCounts,
          count: samples,
        }, s.samples),
    ];
    const ops: BoundOps = {
      embed: (p, s) =>
        embed.encode(
          p,
          { rows: b.rows, lastToken: b.lastToken, out: b.hidden, count: rows },
          s.rows,
        ),
      layers: await Promise.all(weights.layers.map(layer)),
      head,
    };
    return new ForwardPass(attention, ops, b.qkv);
  }

  /**
   * Encodes the layers for `size.rows` rows and the sampling of `size.samples` rows;
   * `afterRope` is encoded in each layer once q/k/v are final (calibration's capture).
   */
  encode(pass: GPUComputePassEncoder, size: StepSize, afterRope?: LayerHook): void {
    this.#ops.embed(pass, size);
    this.#ops.layers.forEach((layer, l) => {
      for (const op of layer.beforeHook) op(pass, size);
      afterRope?.(pass, this.#qkv, l);
      for (const op of layer.afterHook) op(pass, size);
    });
    if (size.samples === 0) return;
    for (const op of this.#ops.head) op(pass, size);
  }
}
