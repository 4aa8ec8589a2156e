/**
 * The buffers every step reads and writes, sized once for the runner's largest step.
 * @module
 */
import type { Gpu } from "../gpu/device.ts";
import { createBuffer, createStorage } from "../gpu/buffers.ts";
import type { ModelSpec } from "../model/spec.ts";
import { countRow, tokenCountBytes } from "./ops/penalty.ts";
import { SAMPLE_WORDS } from "./ops/sample.ts";
import { ropeParameters } from "./rope_freq.ts";
import { createStepCounts } from "./step_counts.ts";
import { ROW_WORDS, SEQ_WORDS, TABLE_WORDS } from "./step_layout.ts";
import type { PackedStep, StepLimits } from "./step_pack.ts";

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
  /** The step's counts (src/runner/step_counts.ts). */
  counts: GPUBuffer;
  pools: readonly GPUBuffer[];
}

/** Allocates the step buffers and one KV pool of `limits.poolBytes` per layer. */
export function allocateStepBuffers(gpu: Gpu, spec: ModelSpec, limits: StepLimits): StepBuffers {
  const d = gpu.device;
  const f32 = (label: string, n: number) => createBuffer(d, label, n * 4);
  const rows = limits.maxRows;
  const seqs = limits.maxSeqs;
  const qkv = (spec.numHeads + 2 * spec.numKvHeads) * spec.headDim;
  return {
    hidden: f32("hidden", rows * spec.hiddenSize),
    normed: f32("normed", rows * spec.hiddenSize),
    qkv: f32("qkv", rows * qkv),
    attn: f32("attn", rows * spec.numHeads * spec.headDim),
    gateUp: f32("gate_up", rows * 2 * spec.intermediateSize),
    act: f32("act", rows * spec.intermediateSize),
    sampleNormed: f32("sample_normed", seqs * spec.hiddenSize),
    logits: f32("logits", seqs * spec.vocabSize),
    rows: f32("rows", rows * ROW_WORDS),
    seqs: f32("seqs", seqs * SEQ_WORDS),
    table: f32("table", limits.maxTableEntries * TABLE_WORDS),
    samples: f32("samples", seqs * SAMPLE_WORDS),
    sampleRows: f32("sample_rows", seqs),
    lastToken: f32("last_token", seqs),
    outTokens: f32("out_tokens", seqs),
    tokenCounts: createBuffer(d, "token_counts", tokenCountBytes(seqs, spec.vocabSize)),
    invFreq: createStorage(d, "inv_freq", ropeParameters(spec).invFreq),
    counts: createStepCounts(d),
    pools: Array.from(
      { length: spec.numLayers },
      (_, l) => f32(`kv_pool.${l}`, limits.poolBytes / 4),
    ),
  };
}

/** Writes a packed step's rows, sequences, tables, samples and count resets (queue-ordered). */
export function writeStepInputs(
  queue: GPUQueue,
  b: StepBuffers,
  packed: PackedStep,
  vocab: number,
): void {
  queue.writeBuffer(b.rows, 0, packed.rows);
  queue.writeBuffer(b.seqs, 0, packed.seqs);
  queue.writeBuffer(b.table, 0, packed.table);
  queue.writeBuffer(b.samples, 0, packed.samples);
  queue.writeBuffer(b.sampleRows, 0, packed.sampleRows);
  // queue-ordered: lands after the steps already submitted, whose samples it overwrites
  for (const { slot, tokens } of packed.countResets) {
    queue.writeBuffer(b.tokenCounts, slot * vocab * 4, countRow(tokens, vocab));
  }
}

/** Releases every step buffer and pool. */
export function destroyStepBuffers(b: StepBuffers): void {
  for (const buf of Object.values(b)) {
    if (buf instanceof GPUBuffer) buf.destroy();
  }
  for (const pool of b.pools) pool.destroy();
}
