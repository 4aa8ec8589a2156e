/**
 * What an engine is running, for the server's startup summary: the model, the adapter, the KV
 * budget in tokens at each phase's dtype (and at f16), where each phase's dtype came from, and
 * how many sequences of the full context fit at once.
 * @module
 */
import { dtypesOf, type KvPolicy } from "../kv/policy.ts";
import { demotionSetting, type KvProfile, recentTokens } from "../kv/profile.ts";
import { type Phase, PHASES } from "../kv/types.ts";
import type { EngineSummary, ModelAbout, PhaseSummary } from "./types.ts";

// the shapes live in types.ts (EngineApi.describe returns them), so types.ts imports nothing here
export type { EngineSummary, ModelAbout, PhaseSummary } from "./types.ts";

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
  /** The block size the user set (`--block-size`), if any. */
  kvBlockSize?: number;
  /** The demotion policy the user set (`--kv-demotion`), if any. */
  kvDemotion?: string;
  /** `--admission-headroom` (default 0). */
  admissionHeadroom?: number;
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
  const recent = recentTokens(input.kvRecentTokens, input.profile);
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
    recentSource: sourceOf(
      "--kv-recent-tokens",
      input.kvRecentTokens,
      input.profile?.recent_tokens,
    ),
    blockSource: sourceOf("--block-size", input.kvBlockSize, input.profile?.block_size),
    demotion: demotionSetting(input.kvDemotion, input.profile),
    demotionSource: sourceOf("--kv-demotion", input.kvDemotion, input.profile?.demotion),
    maxConcurrency: Math.floor(input.kvBudgetBytes / perSeq),
    admissionHeadroom: input.admissionHeadroom ?? 0,
  };
}

/** Where a setting came from: the user's flag, else the profile, else the built-in default. */
function sourceOf(flag: string, setting: unknown, fromProfile: unknown): string {
  return setting !== undefined ? flag : fromProfile !== undefined ? "profile" : "default";
}
