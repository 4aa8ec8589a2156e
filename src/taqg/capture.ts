/**
 * Capturing a calibration trace from the served model: the sequence is teacher-forced through
 * the GPU runner in one prefill step that copies each layer's q/k/v out after RoPE; K and V are
 * read back from the f16 blocks the step wrote (exactly as the cache stores them), and each
 * block is sealed on the GPU to every dtype calibration compares and read back decoded.
 * @module
 */
import { decodeKvBlock } from "../kv/block_decode.ts";
import { kvDtype } from "../kv/dtype.ts";
import type { BlockEntry, Phase } from "../kv/types.ts";
import { GREEDY, type SamplingParams, type SealOp } from "../runner/types.ts";
import { blockOffset, readPoolBlocks, type ServedModel } from "./served_model.ts";
import { type KvBlock, type KvTrace, type QuantizedCache, splitBlocks } from "./trace.ts";
import { PhaseTracker } from "../kv/phase.ts";
import type { ThinkMarkers } from "../model/chat_template.ts";
import { generateOne } from "../runner/single_sequence.ts";
import type { EncodedPrompt } from "./prompts.ts";

/** One generated sequence: the prompt's and the generated token ids, and each token's phase. */
export interface TokenSequence {
  ids: number[];
  /** Tokens of `ids` that are the prompt. */
  promptLength: number;
  /** The phase of each of `ids`. */
  phases: Phase[];
}

/** A captured sequence: its trace, its blocks and its cache sealed to each dtype on the GPU. */
export interface CapturedSequence {
  trace: KvTrace;
  blocks: KvBlock[];
  /** Dequantized cache per dtype, laid out like `trace.keys` / `trace.values`. */
  sealed: Map<string, QuantizedCache>;
}

/** Raised when a sequence needs more blocks or rows than the served model was opened for. */
export class SequenceTooLongError extends RangeError {
  /** Names the sequence length and the limit. */
  constructor(tokens: number, blocks: number, maxBlocks: number) {
    super(`A sequence of ${tokens} tokens needs ${blocks} KV blocks; the pool holds ${maxBlocks}`);
    this.name = "SequenceTooLongError";
  }
}

/** The blocks the runtime would split `phases` into, checked against the pool's room. */
export function sequenceBlocks(model: ServedModel, phases: readonly Phase[]): KvBlock[] {
  const blocks = splitBlocks(phases, model.layout.blockSize);
  if (blocks.length > model.maxBlocks) {
    throw new SequenceTooLongError(phases.length, blocks.length, model.maxBlocks);
  }
  return blocks;
}

/** Captures `seq` and seals its blocks to each of `dtypes` (quantized registry names). */
export async function captureSequence(
  model: ServedModel,
  seq: TokenSequence,
  dtypes: readonly string[],
): Promise<CapturedSequence> {
  const { spec } = model;
  const tokens = seq.ids.length;
  const blocks = sequenceBlocks(model, seq.phases);
  const entries: BlockEntry[] = blocks.map((b) => ({
    offset: blockOffset(model, 0, b.index),
    dtype: "f16",
    phase: b.phase,
    tokens: b.end - b.start,
  }));
  const result = await model.runner.step({
    seqs: [{ slot: 0, blocks: entries, sample: false, sampling: GREEDY, sampleIndex: 0 }],
    rows: seq.ids.map((token, position) => ({ seq: 0, position, token })),
    captureQkv: true,
  });
  const qDim = spec.numHeads * spec.headDim;
  const stride = (spec.numHeads + 2 * spec.numKvHeads) * spec.headDim;
  const queries = Array.from({ length: spec.numLayers }, (_, l) => {
    const q = new Float32Array(tokens * qDim);
    for (let t = 0; t < tokens; t++) {
      const at = (l * tokens + t) * stride;
      q.set(result.qkv!.subarray(at, at + qDim), t * qDim);
    }
    return q;
  });
  const f16 = await readCache(model, blocks, "f16", entries.map((e) => e.offset), tokens);
  const trace: KvTrace = {
    numLayers: spec.numLayers,
    numKvHeads: spec.numKvHeads,
    numHeads: spec.numHeads,
    headDim: spec.headDim,
    tokens,
    phases: [...seq.phases],
    keys: f16.keys,
    values: f16.values,
    queries,
  };
  const sealed = new Map<string, QuantizedCache>();
  for (const [slot, dtype] of dtypes.entries()) {
    const offsets = blocks.map((b) => blockOffset(model, slot + 1, b.index));
    const seals: SealOp[] = blocks.map((b, i) => ({
      src: entries[i].offset,
      dst: offsets[i],
      dtype,
      tokens: b.end - b.start,
    }));
    await model.runner.step({ seqs: [], rows: [], seals });
    sealed.set(dtype, await readCache(model, blocks, dtype, offsets, tokens));
  }
  return { trace, blocks, sealed };
}

/** Reads the blocks at `offsets` back and decodes them into a (tokens, heads, headDim) cache. */
async function readCache(
  model: ServedModel,
  blocks: readonly KvBlock[],
  dtype: string,
  offsets: readonly number[],
  tokens: number,
): Promise<QuantizedCache> {
  const d = kvDtype(dtype);
  const { numKvHeads: h, blockSize: b, headDim } = model.layout;
  const words = await readPoolBlocks(model, offsets, d.blockBytes(model.layout));
  const keys: Float32Array[] = [];
  const values: Float32Array[] = [];
  for (const layerWords of words) {
    const k = new Float32Array(tokens * h * headDim);
    const v = new Float32Array(k.length);
    blocks.forEach((block, i) => {
      const decoded = decodeKvBlock(d, model.layout, layerWords[i]);
      for (let t = block.start; t < block.end; t++) {
        for (let head = 0; head < h; head++) {
          const from = (head * b + (t - block.start)) * headDim;
          const to = (t * h + head) * headDim;
          k.set(decoded.k.subarray(from, from + headDim), to);
          v.set(decoded.v.subarray(from, from + headDim), to);
        }
      }
    });
    keys.push(k);
    values.push(v);
  }
  return { keys, values };
}

/** Options of `generateSequence`. */
export interface GenerateSequenceOptions {
  maxTokens: number;
  sampling: SamplingParams;
  stopIds: readonly number[];
  /** The model's think marker ids; null applies the think-fraction rule. */
  markers: ThinkMarkers | null;
}

/** Generates after `prompt` on the served model and labels every token with its phase. */
export async function generateSequence(
  model: ServedModel,
  prompt: EncodedPrompt,
  opts: GenerateSequenceOptions,
): Promise<TokenSequence> {
  const result = await generateOne(model.runner, prompt.ids, {
    maxTokens: opts.maxTokens,
    sampling: opts.sampling,
    stopIds: opts.stopIds,
    maxRowsPerStep: model.maxRows,
  });
  const tracker = new PhaseTracker({
    openId: opts.markers?.open ?? null,
    closeId: opts.markers?.close ?? null,
    startsInThink: prompt.startsInThink,
    maxTokens: opts.maxTokens,
  });
  const phases: Phase[] = prompt.ids.map(() => "prompt");
  for (const id of result.ids) phases.push(tracker.observe(id));
  return { ids: [...prompt.ids, ...result.ids], promptLength: prompt.ids.length, phases };
}
