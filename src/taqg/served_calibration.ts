/**
 * Calibration of a model folder on the served model: generate the model's own sequences,
 * capture their q/k/v and GPU-sealed caches, and run `calibrate` with the served codec and
 * teacher-forced next-token logits from the served KV path.
 * @module
 */
import type { Gpu } from "../gpu/device.ts";
import { findThinkMarkers, loadChatTemplate } from "../model/chat_template.ts";
import type { ChatTemplate } from "../model/chat_template.ts";
import { loadCheckpoint } from "../model/checkpoint.ts";
import { ChatTemplateError } from "../model/errors.ts";
import { loadTokenizer } from "../model/tokenizer.ts";
import { GREEDY } from "../runner/types.ts";
import { bytesPerToken, DEFAULT_LADDER } from "./allocation.ts";
import { calibrate, type CalibrateProgress, type CalibrateResult } from "./calibrate.ts";
import { captureSequence, type TokenSequence } from "./capture.ts";
import type { CalibrationPrompt } from "./prompts.ts";
import { SealedBlockTable, servedCodec } from "./served_codec.ts";
import { servedLogitSource } from "./served_logits.ts";
import { openServedModel } from "./served_model.ts";
import { encodePrompt, generateSequence } from "./sequences.ts";
import { REFERENCE_DTYPE } from "./quantize_cache.ts";
import type { KvTrace } from "./trace.ts";
import type { Phase } from "../kv/types.ts";
import { DEFAULT_THINK_FRACTION } from "../kv/phase.ts";

/** Options of `calibrateServed`. */
export interface ServedCalibrationOptions {
  /** The model folder (checkpoint, tokenizer, template). */
  modelDir: string;
  /** Name written into the profile and report; default the folder's name. */
  modelName?: string;
  prompts: readonly CalibrationPrompt[];
  /** Tokens generated per prompt at most. */
  maxTokens: number;
  /** Search budget in stored bits per element; default the TAQG-aligned split's. */
  budgetBits?: number;
  /** Seed of the random-block control. */
  seed?: number;
  /** Progress lines for a terminal. */
  onProgress?: (line: string) => void;
  /** An already open GPU (tests); default opens one. */
  gpu?: Gpu;
}

/** Calibration's result with the sequences it was measured on. */
export interface ServedCalibration extends CalibrateResult {
  modelName: string;
  /** How tokens got their phase: the think markers, or the think-fraction rule. */
  phaseRule: string;
  sequences: TokenSequence[];
}

/** Calibrates the model in `opts.modelDir` on its own generations. */
export async function calibrateServed(opts: ServedCalibrationOptions): Promise<ServedCalibration> {
  const log = opts.onProgress ?? (() => {});
  const modelName = opts.modelName ?? opts.modelDir.replace(/\/+$/, "").split("/").at(-1)!;
  const tokenizer = await loadTokenizer(opts.modelDir);
  const template = await loadChatTemplate(opts.modelDir, tokenizer).catch((e) => {
    // a base model has no template and calibrates on plain-text prompts
    if (e instanceof ChatTemplateError) return null as ChatTemplate | null;
    throw e;
  });
  const encoded = opts.prompts.map((p) => encodePrompt(p, tokenizer, template));
  const ckpt = await loadCheckpoint(opts.modelDir);
  const longest = Math.max(...encoded.map((p) => p.ids.length)) + opts.maxTokens;
  const dtypes = DEFAULT_LADDER.map((s) => s.dtype).filter((d) => d !== REFERENCE_DTYPE);
  const model = await openServedModel(ckpt, {
    maxSequenceTokens: longest,
    sealedRegions: dtypes.length,
    gpu: opts.gpu,
  });
  try {
    const markers = findThinkMarkers(tokenizer);
    const sequences: TokenSequence[] = [];
    const table = new SealedBlockTable();
    const traces: KvTrace[] = [];
    for (const [i, prompt] of encoded.entries()) {
      const seq = await generateSequence(model, prompt, {
        maxTokens: opts.maxTokens,
        sampling: GREEDY,
        stopIds: ckpt.spec.eosTokenIds,
        markers,
      });
      const captured = await captureSequence(model, seq, dtypes);
      table.add(captured);
      sequences.push(seq);
      traces.push(captured.trace);
      log(
        `sequence ${i + 1}/${encoded.length}: ${seq.promptLength} prompt + ` +
          `${seq.ids.length - seq.promptLength} generated tokens (${
            countOf(seq, "think")
          } think, ` +
          `${countOf(seq, "answer")} answer)`,
      );
    }
    const budgetBytesPerToken = opts.budgetBits === undefined
      ? undefined
      : bytesPerToken(opts.budgetBits, traces[0]);
    const result = await calibrate(traces, {
      model: modelName,
      codec: servedCodec(table, model.layout),
      blockSize: model.layout.blockSize,
      budgetBytesPerToken,
      seed: opts.seed,
      logits: servedLogitSource(model, sequences),
      onProgress: (p: CalibrateProgress) => log(`${p.stage} ${p.done + 1}/${p.total}: ${p.label}`),
    });
    const phaseRule = markers === null
      ? `no think markers, so think = the first ${DEFAULT_THINK_FRACTION} of --max-tokens ` +
        "(PhaseTracker's fraction rule)"
      : `think markers by token id (${markers.open} opens, ${markers.close} closes)`;
    return { ...result, modelName, phaseRule, sequences };
  } finally {
    model.destroy();
  }
}

function countOf(seq: TokenSequence, phase: Phase): number {
  return seq.phases.filter((p) => p === phase).length;
}
