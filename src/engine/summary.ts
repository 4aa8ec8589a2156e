/**
 * What an engine is running, for the server's startup summary: the model, the adapter, the KV
 * budget in tokens at each phase's dtype (and at f16), where each phase's dtype came from, and
 * how many sequences of the full context fit at once.
 * @module
 */
import { dtypesOf, type KvPolicy } from "../kv/policy.ts";
import type { KvProfile } from "../kv/profile.ts";
import { DEFAULT_RECENT_TOKENS } from "../kv/block_table.ts";
import { type Phase, PHASES } from "../kv/types.ts";

/** The model and the device, as the backend loaded them. */
export interface ModelAbout {
  /** Architecture registry name (`qwen2`). */
  architecture: string;
  /** Elements of every weight tensor. */
  numParameters: number;
  /** Bytes of the weights as stored in the checkpoint. */
  weightBytes: number;
  /** The GPU adapter, in words. */
  adapter: string;
}

/** One phase's KV dtype, the source that set it, and the tokens the budget holds at it. */
export interface PhaseSummary {
  /** Canonical dtype name of the phase's sealed blocks. */
  dtype: string;
  /** `profile`, a flag (`--kv-cache-dtype-think`), or `default`. */
  source: string;
  /** Tokens the whole budget holds when every block is sealed at this dtype. */
  tokensFit: number;
}

/** What the server prints when the engine is ready. */
export interface EngineSummary {
  /** The model folder's name. */
  modelId: string;
  /** Size and adapter, where the backend reports them. */
  about: ModelAbout | null;
  /** Longest prompt + completion, in tokens. */
  maxModelLen: number;
  /** Token ids run 0..vocabSize-1. */
  vocabSize: number;
  /** Tokens per KV block. */
  blockSize: number;
  /** Most sequences running at once. */
  maxNumSeqs: number;
  /** The KV byte budget, all layers. */
  kvBudgetBytes: number;
  /** Each phase's dtype, its source, and the tokens the budget holds at it. */
  phases: Record<Phase, PhaseSummary>;
  /** Tokens the budget holds at f16, for comparison. */
  f16TokensFit: number;
  /** The full-precision recent window in tokens, and where it came from. */
  recentTokens: number;
  /** `--kv-recent-tokens`, `profile` or `default`. */
  recentSource: string;
  /**
   * Sequences of maxModelLen tokens that fit at once: each holds its window and open block at
   * f16 and every other block at its costliest phase dtype.
   */
  maxConcurrency: number;
}

/** What buildSummary reads. */
export interface SummaryInput {
  modelId: string;
  about: ModelAbout | null;
  maxModelLen: number;
  vocabSize: number;
  blockSize: number;
  maxNumSeqs: number;
  kvBudgetBytes: number;
  numLayers: number;
  /** Bytes of one block of a dtype, one layer. */
  blockBytes: (dtype: string) => number;
  /** Each phase's dtype and its source (src/kv/policy.ts). */
  policy: KvPolicy;
  /** The profile beside the model (its window, when it records one). */
  profile: KvProfile | null;
  /** The window the user set (`--kv-recent-tokens`), if any. */
  kvRecentTokens?: number;
}

/** The summary of an engine built from `input`. */
export function buildSummary(input: SummaryInput): EngineSummary {
  const resolved = dtypesOf(input.policy);
  const blockAll = (dtype: string) => input.blockBytes(dtype) * input.numLayers;
  const fit = (dtype: string) =>
    Math.floor(input.kvBudgetBytes / blockAll(dtype)) * input.blockSize;
  const phases = {} as Record<Phase, PhaseSummary>;
  for (const phase of PHASES) {
    const dtype = resolved[phase];
    phases[phase] = { dtype, source: input.policy[phase].source, tokensFit: fit(dtype) };
  }
  const costliest = Math.max(...PHASES.map((p) => blockAll(resolved[p])));
  const blocksPerSeq = Math.ceil(input.maxModelLen / input.blockSize);
  // as create_core.ts's recentTokens(), which this module cannot import without a cycle
  const recent = input.kvRecentTokens ?? input.profile?.recent_tokens ?? DEFAULT_RECENT_TOKENS;
  // the window's blocks and the open one stay f16
  const f16Blocks = Math.min(blocksPerSeq, Math.ceil(recent / input.blockSize) + 1);
  const perSeq = f16Blocks * blockAll("f16") + (blocksPerSeq - f16Blocks) * costliest;
  return {
    modelId: input.modelId,
    about: input.about,
    maxModelLen: input.maxModelLen,
    vocabSize: input.vocabSize,
    blockSize: input.blockSize,
    maxNumSeqs: input.maxNumSeqs,
    kvBudgetBytes: input.kvBudgetBytes,
    phases,
    f16TokensFit: fit("f16"),
    recentTokens: recent,
    recentSource: input.kvRecentTokens !== undefined
      ? "--kv-recent-tokens"
      : input.profile?.recent_tokens !== undefined
      ? "profile"
      : "default",
    maxConcurrency: Math.floor(input.kvBudgetBytes / perSeq),
  };
}
