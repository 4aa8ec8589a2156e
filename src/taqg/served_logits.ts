/**
 * Next-token logits of a captured sequence re-run on the served model under a configuration:
 * the prompt is prefilled, then every generated token is fed back one step at a time
 * (teacher-forced), and each block is sealed to the configuration's dtype on the GPU as soon
 * as it closes, as the engine does. So the quantized run's later K/V are computed from
 * attention over the quantized cache, exactly as in serving, and the f16 run is the reference.
 * @module
 */
import { kvDtype } from "../kv/dtype.ts";
import type { BlockEntry } from "../kv/types.ts";
import { GREEDY, type SealOp, type StepResult } from "../runner/types.ts";
import type { TokenSequence } from "./capture.ts";
import type { ConfigContext, KvConfig } from "./configs.ts";
import type { LogitPair, LogitSource } from "./evaluate.ts";
import { type BlockPlan, REFERENCE_DTYPE } from "./quantize_cache.ts";
import { blockOffset, type ServedModel } from "./served_model.ts";
import type { KvBlock } from "./trace.ts";

/**
 * The dtype each block is sealed to under `plan`, or null when the server cannot run it: a
 * block holds one dtype for K and V, and a seal covers every layer.
 */
export function servedDtypes(
  plan: BlockPlan,
  blocks: readonly KvBlock[],
  numLayers: number,
): string[] | null {
  const dtypes: string[] = [];
  for (const block of blocks) {
    const first = plan(0, block);
    for (let layer = 0; layer < numLayers; layer++) {
      const { key, value } = plan(layer, block);
      if (key !== value || key !== first.key) return null;
    }
    dtypes.push(kvDtype(first.key).name);
  }
  return dtypes;
}

/**
 * Logits, (generated tokens, vocab), of `seq` teacher-forced with `blocks[i]` sealed to
 * `dtypes[i]` once it closes: row i predicts generated token i from everything before it.
 */
export async function teacherForcedLogits(
  model: ServedModel,
  seq: TokenSequence,
  blocks: readonly KvBlock[],
  dtypes: readonly string[],
): Promise<Float32Array> {
  const { ids, promptLength } = seq;
  if (promptLength < 1 || promptLength >= ids.length) {
    throw new RangeError(`Prompt of ${promptLength} tokens in a sequence of ${ids.length}`);
  }
  const entries: BlockEntry[] = blocks.map((b) => ({
    offset: blockOffset(model, 0, b.index),
    dtype: REFERENCE_DTYPE,
    phase: b.phase,
    tokens: 0,
  }));
  // the table after a step whose last row is `last`: blocks up to it, each with its tokens so far
  const tableThrough = (last: number) =>
    blocks.filter((b) => b.start <= last).map((b, i) => ({
      ...entries[i],
      tokens: Math.min(b.end, last + 1) - b.start,
    }));
  const sealsBefore = (position: number): SealOp[] => {
    const seals: SealOp[] = [];
    blocks.forEach((b, i) => {
      if (b.end > position || entries[i].dtype !== REFERENCE_DTYPE) return;
      if (dtypes[i] === REFERENCE_DTYPE) return;
      const dst = blockOffset(model, 1, b.index);
      seals.push({ src: entries[i].offset, dst, dtype: dtypes[i], tokens: b.end - b.start });
      entries[i] = { ...entries[i], offset: dst, dtype: dtypes[i] };
    });
    return seals;
  };
  const step = (rows: { position: number; token: number }[], seals: SealOp[]) =>
    model.runner.step({
      seqs: [{
        slot: 0,
        blocks: tableThrough(rows[rows.length - 1].position),
        sample: true,
        sampling: GREEDY,
        sampleIndex: 0,
      }],
      rows: rows.map((r) => ({ seq: 0, ...r })),
      seals,
      returnLogits: true,
    });
  // every token is known, so all steps are queued at once; the runner keeps them in order
  const pending: Promise<StepResult>[] = [
    step(ids.slice(0, promptLength).map((token, position) => ({ position, token })), []),
  ];
  for (let position = promptLength; position < ids.length - 1; position++) {
    pending.push(step([{ position, token: ids[position] }], sealsBefore(position)));
  }
  const results = await Promise.all(pending);
  const vocab = model.spec.vocabSize;
  const logits = new Float32Array(results.length * vocab);
  results.forEach((r, i) => logits.set(r.logits!, i * vocab));
  return logits;
}

/**
 * Calibration's logit source on the served model: `sequences[i]` is trace i's token ids. The
 * f16 reference of each trace is run once and kept.
 */
export function servedLogitSource(
  model: ServedModel,
  sequences: readonly TokenSequence[],
): LogitSource {
  const references = new Map<number, Promise<Float32Array>>();
  return async (ctx: ConfigContext, config: KvConfig): Promise<LogitPair | null> => {
    const seq = sequences[ctx.traceIndex];
    const dtypes = config.plan
      ? servedDtypes(config.plan(ctx), ctx.blocks, ctx.trace.numLayers)
      : null;
    if (dtypes === null) return null;
    let reference = references.get(ctx.traceIndex);
    if (reference === undefined) {
      const f16 = ctx.blocks.map(() => REFERENCE_DTYPE);
      reference = teacherForcedLogits(model, seq, ctx.blocks, f16);
      references.set(ctx.traceIndex, reference);
    }
    // the two runs share the pool's f16 region: one finishes before the other starts
    const f16Logits = await reference;
    const quantized = await teacherForcedLogits(model, seq, ctx.blocks, dtypes);
    return { reference: f16Logits, quantized, vocabSize: model.spec.vocabSize };
  };
}
