/**
 * The WebGPU backend: the checkpoint, tokenizer, chat template, think markers and calibration
 * profile from a model folder, and a ModelRunner whose per-layer KV pools hold the byte budget.
 * @module
 */
import { openGpu } from "../gpu/device.ts";
import { demoterScratchBytes } from "../kv/demoter.ts";
import { blockSize, loadProfileSetting } from "../kv/profile.ts";
import { findThinkMarkers, loadChatTemplate } from "../model/chat_template.ts";
import { loadCheckpoint } from "../model/checkpoint.ts";
import type { LoadedCheckpoint } from "../model/spec.ts";
import { WEIGHT_GROUP_SIZE, weightBits, type WeightsDtype } from "../model/weights_dtype.ts";
import { defaultKvBudget } from "./kv_budget.ts";
import { ChatTemplateError } from "../model/errors.ts";
import { loadTokenizer, type Tokenizer } from "../model/tokenizer.ts";
import { ModelRunner } from "../runner/model_runner.ts";
import type { Runner } from "../runner/types.ts";
import type { EngineParts, TextSide } from "./backend.ts";
import type { EngineConfig } from "./create_core.ts";

const ALIGN = 16;
/** Demotions one step may carry: f16 scratch blocks per layer pool (16 KiB each at R1-1.5B's shape). */
const DEMOTIONS_PER_STEP = 16;

/** Tokenizer and chat template of the model in `model` (a folder). */
export async function loadTextSide(model: string): Promise<TextSide> {
  return textSideOf(model, await loadTokenizer(model));
}

async function textSideOf(model: string, tokenizer: Tokenizer): Promise<TextSide> {
  let renderChat: TextSide["renderChat"];
  try {
    const template = await loadChatTemplate(model, tokenizer);
    renderChat = (messages, kwargs) => template.render(messages.map((m) => ({ ...m })), { kwargs });
  } catch (error) {
    // a base model without a template still serves plain completions
    if (!(error instanceof ChatTemplateError)) throw error;
  }
  const markers = findThinkMarkers(tokenizer);
  return {
    tokenizer,
    renderChat,
    markers: { openId: markers?.open ?? null, closeId: markers?.close ?? null },
  };
}

/** Loads the model in `model` onto the GPU. */
export async function loadEngineParts(
  model: string,
  config: EngineConfig,
  onProgress: (message: string) => void,
): Promise<EngineParts> {
  // a bad --kv-profile PATH fails before any weights are read
  const profile = await loadProfileSetting(model, config.kvProfile);
  const tokenizer = await loadTokenizer(model);
  const text = await textSideOf(model, tokenizer);
  const ckpt = await loadCheckpoint(model, {
    onProgress: (done, total) => onProgress(`reading weights ${percent(done, total)}`),
  });
  const markers = findThinkMarkers(tokenizer);
  const gpu = await openGpu();
  const { numLayers } = ckpt.spec;
  const budget = config.kvCacheMemory ?? defaultKvBudget({
    weightBytes: weightBytesOnGpu(ckpt, config.weightsDtype ?? "f16"),
    numLayers,
    maxBindingBytes: gpu.maxBindingBytes,
  });
  // one pool per layer, each within one storage binding
  // f16 scratch blocks past the arena's part of each pool, where demotions decode their sources
  const { numKvHeads, headDim } = ckpt.spec;
  const tokensPerBlock = blockSize(config.blockSize, profile);
  const scratchBytes = demoterScratchBytes(
    { numKvHeads, blockSize: tokensPerBlock, headDim },
    DEMOTIONS_PER_STEP,
  );
  const perLayer = Math.min(budget / numLayers, gpu.maxBindingBytes - scratchBytes);
  const kvPoolBytes = Math.floor(perLayer / ALIGN) * ALIGN;
  const modelRunner = await ModelRunner.create(gpu, ckpt, {
    blockSize: tokensPerBlock,
    kvPoolBytes,
    demotionScratchBlocks: DEMOTIONS_PER_STEP,
    maxNumSeqs: config.maxNumSeqs,
    maxRowsPerStep: config.maxNumBatchedTokens,
    weightsDtype: config.weightsDtype,
    onProgress: (done, total) => onProgress(`uploading weights ${percent(done, total)}`),
  });
  const runner: Runner = {
    blockSize: modelRunner.blockSize,
    blockBytes: (dtype) => modelRunner.blockBytes(dtype),
    maxDemotionsPerStep: modelRunner.maxDemotionsPerStep,
    step: (input) => modelRunner.step(input),
    destroy: () => {
      modelRunner.destroy();
      gpu.destroy();
    },
  };
  return {
    modelId: model.replace(/\/+$/, "").split("/").at(-1) ?? model,
    spec: ckpt.spec,
    ...text,
    markers: { openId: markers?.open ?? null, closeId: markers?.close ?? null },
    profile,
    runner,
    kvCacheMemory: kvPoolBytes * numLayers,
    about: {
      architecture: ckpt.spec.arch,
      numParameters: [...ckpt.tensors.values()].reduce((n, t) => n + elements(t.shape), 0),
      weightBytes: [...ckpt.tensors.values()].reduce((n, t) => n + t.bytes.byteLength, 0),
      adapter: adapterName(gpu.info),
    },
  };
}

function elements(shape: readonly number[]): number {
  return shape.reduce((n, d) => n * d, 1);
}

function adapterName(info: GPUAdapterInfo): string {
  const name = info.description || info.device || info.vendor || "unknown adapter";
  return info.architecture ? `${name} (${info.architecture})` : name;
}

/** Bytes the checkpoint's tensors take on the GPU at `dtype` (matrices; vectors stay f16-sized). */
export function weightBytesOnGpu(ckpt: LoadedCheckpoint, dtype: WeightsDtype): number {
  // quantized matrices: the codes plus one f16 scale per group
  const quantized = (numel: number) =>
    dtype === "f16" ? numel * 2 : numel * weightBits(dtype) / 8 + (numel / WEIGHT_GROUP_SIZE) * 2;
  let n = 0;
  for (const t of ckpt.tensors.values()) {
    const numel = t.shape.reduce((a, b) => a * b, 1);
    if (t.name === "model.embed_tokens.weight") {
      // lookups read the f16 table; a tied lm_head is a quantized copy of it
      n += numel * 2 + (ckpt.spec.tieWordEmbeddings && dtype !== "f16" ? quantized(numel) : 0);
    } else n += t.shape.length === 2 ? quantized(numel) : numel * 2;
  }
  return n;
}

function percent(done: number, total: number): string {
  return `${Math.round((100 * done) / Math.max(1, total))}%`;
}
