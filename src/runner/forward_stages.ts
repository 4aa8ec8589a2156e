/**
 * The dispatches of a step, one entry each, in the order they run: how each op is compiled and
 * which step buffers it reads and writes. With `rotateKv` every block of the cache holds K and
 * V in the rotated space of src/kv/rotation.ts, f16 blocks included.
 * @module
 */
import type { Gpu } from "../gpu/device.ts";
import type { ModelSpec } from "../model/spec.ts";
import type { AttentionOp, AttentionPlan } from "./ops/attention.ts";
import { type AttentionShape, RowKernel } from "./ops/elementwise.ts";
import { EmbeddingOp } from "./ops/embedding.ts";
import { MatmulOp } from "./ops/matmul.ts";
import type { Op } from "./ops/op.ts";
import { PenaltyOp } from "./ops/penalty.ts";
import type { QkvCaptureBindings } from "./ops/qkv_capture.ts";
import { HeadNormOp, RmsNormOp } from "./ops/rmsnorm.ts";
import { RotateOp } from "./ops/rotate.ts";
import { SampleOp } from "./ops/sample.ts";
import { ropeParameters } from "./rope_freq.ts";
import { type Stage, stagesOf } from "./stage.ts";
import type { StepBuffers } from "./step_buffers.ts";
import type { StepCounts } from "./step_counts.ts";
import type { LayerWeights, ModelWeights } from "./weights.ts";

/** Options of the forward pass. */
export interface ForwardOptions {
  blockSize: number;
  kvDecode: string;
  minSplitTokens?: number;
  /** Rotate q, k and v before the cache and attention, and the attention output back. */
  rotateKv: boolean;
}

/** Copies a layer's final q/k/v rows out of the step (calibration's capture; size: the layer). */
export type LayerCapture = Op<QkvCaptureBindings>;

/** One step as the forward pass encodes it. */
export interface ForwardStep {
  buffers: StepBuffers;
  numRows: number;
  numSamples: number;
  /** The plan ForwardPass.prepare returned for this step. */
  plan: AttentionPlan;
  /** Encoded in each layer once q/k/v are final (after RoPE and the rotation). */
  capture?: LayerCapture | null;
}

/** What the ops of a model are compiled from (attention is made first: its plan is per step). */
export interface ForwardModel {
  gpu: Gpu;
  spec: ModelSpec;
  weights: ModelWeights;
  opts: ForwardOptions;
  shape: AttentionShape;
  attention: AttentionOp;
}

/** Where a dispatch of a step reads its buffers and size from. */
export interface StepContext {
  step: ForwardStep;
  b: StepBuffers;
  c: StepCounts;
  weights: ModelWeights;
}

/** A step context inside layer `l`. */
export interface LayerContext extends StepContext {
  l: number;
  w: LayerWeights;
}

const stepStage = stagesOf<ForwardModel, StepContext>();
const layerStage = stagesOf<ForwardModel, LayerContext>();

function rows(s: StepContext): number {
  return s.step.numRows;
}

function samples(s: StepContext): number {
  return s.step.numSamples;
}

function rmsNorm(m: ForwardModel, gather = false): Promise<RmsNormOp> {
  return RmsNormOp.create(m.gpu, m.spec.hiddenSize, m.spec.rmsNormEps, gather);
}

function headNorm(m: ForwardModel, groups: number, base: number): Promise<HeadNormOp> {
  const { headDim: dim, rmsNormEps: eps } = m.spec;
  return HeadNormOp.create(m.gpu, { dim, groups, stride: m.shape.qkvStride, base, eps });
}

function qDim(m: ForwardModel): number {
  return m.spec.numHeads * m.spec.headDim;
}

/** The step's capture as a dispatch of the pass: its kernel comes with the step. */
const stepCapture: Op<QkvCaptureBindings & { capture: LayerCapture }> = {
  encode: (pass, { capture, qkv }, layer) => capture.encode(pass, { qkv }, layer),
};

/** Before the layers: each row's token embedding. */
export const EMBED_STAGES: Readonly<Record<string, Stage<ForwardModel, StepContext>>> = {
  embed: stepStage({
    create: (m) => EmbeddingOp.create(m.gpu, m.weights.embed),
    bind: ({ b, c }) => ({ rows: b.rows, lastToken: b.lastToken, out: b.hidden, count: c.rows }),
    size: rows,
  }),
};

/** One decoder layer. */
export const LAYER_STAGES: Readonly<Record<string, Stage<ForwardModel, LayerContext>>> = {
  inputNorm: layerStage({
    create: (m) => rmsNorm(m),
    bind: ({ b, c, w }) => ({
      x: b.hidden,
      w: w.inputNorm,
      out: b.normed,
      gather: b.rows,
      count: c.rows,
    }),
    size: rows,
  }),
  qkv: layerStage({
    perLayer: true,
    create: (m, l) => {
      const w = m.weights.layers[l];
      const opts = { outStride: m.shape.qkvStride, bias: w.qkvBias !== null };
      return MatmulOp.create(m.gpu, w.qkv, opts);
    },
    bind: ({ b, c, w }) => ({ x: b.normed, y: b.qkv, bias: w.qkvBias, count: c.rows }),
    size: rows,
  }),
  qNorm: layerStage({
    create: (m) => m.spec.qkNorm ? headNorm(m, m.spec.numHeads, 0) : null,
    bind: ({ b, c, w }) => w.qNorm && { x: b.qkv, w: w.qNorm, count: c.qHeads },
    size: rows,
  }),
  kNorm: layerStage({
    create: (m) => m.spec.qkNorm ? headNorm(m, m.spec.numKvHeads, qDim(m)) : null,
    bind: ({ b, c, w }) => w.kNorm && { x: b.qkv, w: w.kNorm, count: c.kHeads },
    size: rows,
  }),
  rope: layerStage({
    create: (m) => RowKernel.rope(m.gpu, m.shape, ropeParameters(m.spec).attentionFactor),
    bind: ({ b, c }) => ({ qkv: b.qkv, invFreq: b.invFreq, rows: b.rows, count: c.rows }),
    size: rows,
  }),
  // before the capture: calibration reads q in the space the cache holds K in
  rotateQkv: layerStage({
    create: (m) => {
      if (!m.opts.rotateKv) return null;
      const { numHeads, numKvHeads, headDim } = m.spec;
      const heads = numHeads + 2 * numKvHeads;
      return RotateOp.create(m.gpu, { headDim, stride: m.shape.qkvStride, heads }, false);
    },
    bind: ({ b, c }) => ({ data: b.qkv, count: c.rows }),
    size: rows,
  }),
  capture: layerStage({
    create: () => stepCapture,
    bind: ({ b, step }) => step.capture ? { capture: step.capture, qkv: b.qkv } : null,
    size: ({ l }) => l,
  }),
  // Every row's K/V is in the cache before attention, so prefill rows see earlier rows.
  kvWrite: layerStage({
    create: (m) => RowKernel.kvWrite(m.gpu, m.shape, m.opts.blockSize),
    bind: ({ b, c, l }) => ({ qkv: b.qkv, rows: b.rows, pool: b.pools[l], count: c.rows }),
    size: rows,
  }),
  attention: layerStage({
    create: (m) => m.attention,
    bind: ({ b, l }) => ({
      qkv: b.qkv,
      rows: b.rows,
      seqs: b.seqs,
      table: b.table,
      pool: b.pools[l],
      out: b.attn,
    }),
    size: ({ step }) => step.plan,
  }),
  rotateOut: layerStage({
    create: (m) => {
      if (!m.opts.rotateKv) return null;
      const shape = { headDim: m.spec.headDim, stride: qDim(m), heads: m.spec.numHeads };
      return RotateOp.create(m.gpu, shape, true);
    },
    bind: ({ b, c }) => ({ data: b.attn, count: c.rows }),
    size: rows,
  }),
  o: layerStage({
    perLayer: true,
    create: (m, l) =>
      MatmulOp.create(m.gpu, m.weights.layers[l].o, {
        outStride: m.spec.hiddenSize,
        accumulate: true,
      }),
    bind: ({ b, c }) => ({ x: b.attn, y: b.hidden, count: c.rows }),
    size: rows,
  }),
  postNorm: layerStage({
    create: (m) => rmsNorm(m),
    bind: ({ b, c, w }) => ({
      x: b.hidden,
      w: w.postNorm,
      out: b.normed,
      gather: b.rows,
      count: c.rows,
    }),
    size: rows,
  }),
  gateUp: layerStage({
    perLayer: true,
    create: (m, l) =>
      MatmulOp.create(m.gpu, m.weights.layers[l].gateUp, {
        outStride: 2 * m.spec.intermediateSize,
      }),
    bind: ({ b, c }) => ({ x: b.normed, y: b.gateUp, count: c.rows }),
    size: rows,
  }),
  swiglu: layerStage({
    create: (m) => RowKernel.swiglu(m.gpu, m.spec.intermediateSize),
    bind: ({ b, c }) => ({ gateUp: b.gateUp, out: b.act, count: c.rows }),
    size: rows,
  }),
  down: layerStage({
    perLayer: true,
    create: (m, l) =>
      MatmulOp.create(m.gpu, m.weights.layers[l].down, {
        outStride: m.spec.hiddenSize,
        accumulate: true,
      }),
    bind: ({ b, c }) => ({ x: b.act, y: b.hidden, count: c.rows }),
    size: rows,
  }),
};

/** After the layers, for steps that sample: the sampled rows' logits, penalties, the token. */
export const SAMPLE_STAGES: Readonly<Record<string, Stage<ForwardModel, StepContext>>> = {
  finalNorm: stepStage({
    create: (m) => rmsNorm(m, true),
    bind: ({ b, c, weights }) => ({
      x: b.hidden,
      w: weights.finalNorm,
      out: b.sampleNormed,
      gather: b.sampleRows,
      count: c.samples,
    }),
    size: samples,
  }),
  lmHead: stepStage({
    create: (m) => MatmulOp.create(m.gpu, m.weights.lmHead, { outStride: m.spec.vocabSize }),
    bind: ({ b, c }) => ({ x: b.sampleNormed, y: b.logits, count: c.samples }),
    size: samples,
  }),
  penalty: stepStage({
    create: (m) => PenaltyOp.create(m.gpu, m.spec.vocabSize),
    bind: ({ b, c }) => ({
      logits: b.logits,
      params: b.samples,
      tokenCounts: b.tokenCounts,
      count: c.samples,
    }),
    size: samples,
  }),
  sample: stepStage({
    create: (m) => SampleOp.create(m.gpu, m.spec.vocabSize),
    bind: ({ b, c }) => ({
      logits: b.logits,
      params: b.samples,
      lastToken: b.lastToken,
      outTokens: b.outTokens,
      tokenCounts: b.tokenCounts,
      count: c.samples,
    }),
    size: samples,
  }),
};
