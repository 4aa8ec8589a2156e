/**
 * The forward pass of one step as a sequence of dispatches in one compute pass:
 * embed → per layer (rmsnorm → qkv → [q/k norm] → rope → [rotate q/k/v] → [capture] →
 * kv_write → attention → [rotate the output back] → o_proj+residual → rmsnorm → gate_up →
 * swiglu → down+residual) → final norm of the sampling rows → lm_head → penalties → sample.
 * Each dispatch is one entry of the tables in src/runner/forward_stages.ts.
 * @module
 */
import type { Gpu } from "../gpu/device.ts";
import type { ModelSpec } from "../model/spec.ts";
import {
  EMBED_STAGES,
  type ForwardModel,
  type ForwardOptions,
  type ForwardStep,
  LAYER_STAGES,
  type LayerContext,
  SAMPLE_STAGES,
  type StepContext,
} from "./forward_stages.ts";
import { AttentionOp, type AttentionPlan } from "./ops/attention.ts";
import { qkvStride } from "./ops/elementwise.ts";
import { compileStages, type Dispatch } from "./stage.ts";
import type { PackedStep } from "./step_pack.ts";
import { stepCounts, writeStepCounts } from "./step_counts.ts";
import type { ModelWeights } from "./weights.ts";

/** The compiled dispatches of a model: before, in each layer, and after the layers. */
interface Dispatches {
  embed: Dispatch<StepContext>[];
  layers: Dispatch<LayerContext>[][];
  sample: Dispatch<StepContext>[];
}

/** The compiled kernels of one model, and the encoding of a step with them. */
export class ForwardPass {
  readonly #gpu: Gpu;
  readonly #spec: ModelSpec;
  readonly #weights: ModelWeights;
  readonly #attention: AttentionOp;
  readonly #rotatesKv: boolean;
  readonly #d: Dispatches;

  private constructor(m: ForwardModel, d: Dispatches) {
    this.#gpu = m.gpu;
    this.#spec = m.spec;
    this.#weights = m.weights;
    this.#attention = m.attention;
    this.#rotatesKv = m.opts.rotateKv;
    this.#d = d;
  }

  /** Compiles every kernel the model needs (pipelines are shared between equal-shaped layers). */
  static async create(
    gpu: Gpu,
    spec: ModelSpec,
    weights: ModelWeights,
    opts: ForwardOptions,
  ): Promise<ForwardPass> {
    const shape = {
      numHeads: spec.numHeads,
      numKvHeads: spec.numKvHeads,
      headDim: spec.headDim,
      qkvStride: qkvStride(spec.numHeads, spec.numKvHeads, spec.headDim),
    };
    const attention = await AttentionOp.create(gpu, shape, opts);
    const m: ForwardModel = { gpu, spec, weights, opts, shape, attention };
    const [[embed], layers, [sample]] = await Promise.all([
      compileStages(EMBED_STAGES, m, 1),
      compileStages(LAYER_STAGES, m, weights.layers.length),
      compileStages(SAMPLE_STAGES, m, 1),
    ]);
    return new ForwardPass(m, { embed, layers, sample });
  }

  /** Whether the cache holds K and V rotated. */
  get rotatesKv(): boolean {
    return this.#rotatesKv;
  }

  /**
   * Writes a step's counts into `counts` and plans its attention (queue-ordered, so both land
   * before the next submit); the plan is what `encode` takes.
   */
  prepare(
    counts: GPUBuffer,
    { numRows, numSamples, maxContext }: Pick<PackedStep, "numRows" | "numSamples" | "maxContext">,
  ): AttentionPlan {
    const plan = this.#attention.prepare(numRows, maxContext);
    writeStepCounts(this.#gpu.device, counts, {
      rows: numRows,
      qHeads: numRows * this.#spec.numHeads,
      kHeads: numRows * this.#spec.numKvHeads,
      samples: numSamples,
    });
    return plan;
  }

  /** Encodes the layers over the step's rows, then the sampling of its sampled rows. */
  encode(pass: GPUComputePassEncoder, step: ForwardStep): void {
    const b = step.buffers;
    const s: StepContext = { step, b, c: stepCounts(b.counts), weights: this.#weights };
    for (const d of this.#d.embed) d.encode(pass, s);
    this.#d.layers.forEach((layer, l) => {
      const ls: LayerContext = { ...s, l, w: this.#weights.layers[l] };
      for (const d of layer) d.encode(pass, ls);
    });
    if (step.numSamples === 0) return;
    for (const d of this.#d.sample) d.encode(pass, s);
  }

  /** Releases what the ops own (the attention scratch, the rotation signs). */
  destroy(): void {
    const { embed, layers, sample } = this.#d;
    for (const d of new Set([...embed, ...layers.flat(), ...sample])) d.destroy();
  }
}
