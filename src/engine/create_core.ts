/**
 * Engine settings with their defaults, and the assembly of an EngineCore from a runner and a
 * model: the fenced KV arena sized by the byte budget, the scheduler and the sequence factory.
 * @module
 */
import { kvDtype } from "../kv/dtype.ts";
import { PrefixCache } from "../kv/prefix_cache.ts";
import { type DemotionStep, parseDemotionPolicy } from "../kv/demotion_policy.ts";
import { resolvePhasePolicy } from "../kv/policy.ts";
import { demotionSetting, type KvProfile, recentTokens } from "../kv/profile.ts";
import type { WeightsDtype } from "../model/weights_dtype.ts";
import { DEFAULT_MIN_KV_BYTES } from "./kv_budget.ts";
import type { Runner } from "../runner/types.ts";
import { DemotionPlanner } from "./demotion.ts";
import { type CoreModel, EngineCore } from "./engine_core.ts";
import { FencedKvArena } from "./fenced_arena.ts";
import { Scheduler } from "./scheduler.ts";
import { SequenceFactory } from "./sequence_factory.ts";

/** Engine settings (the server's flags). */
export interface EngineConfig {
  /**
   * KV cache budget in bytes, all layers; unset, the GPU backend derives it from the weights'
   * size and the adapter's limits (kv_budget.ts).
   */
  kvCacheMemory?: number;
  /**
   * Base KV dtype: every phase the per-phase settings leave unset. Unset (or `auto`) leaves each
   * phase to the profile, then f16.
   */
  kvCacheDtype?: string;
  /** KV dtype of the think phase (default: the base). */
  kvCacheDtypeThink?: string;
  /** KV dtype of the answer phase (default: the base). */
  kvCacheDtypeAnswer?: string;
  /**
   * "auto" (default): the model's phasekv.profile.json, if any, sets the phases the dtypes above
   * leave unset; "none" ignores it; any other value is the path of a profile file.
   */
  kvProfile?: string;
  /** Share of max_tokens counted as think for models without markers. */
  thinkFraction?: number;
  /**
   * Full-precision recent window in tokens: a closed block is sealed once this many newer tokens
   * stand behind it (default: the profile's `recent_tokens`, else DEFAULT_RECENT_TOKENS).
   */
  kvRecentTokens?: number;
  /**
   * Demotion order and floors under memory pressure (`--kv-demotion`, e.g.
   * "answer:int2,think:int3"; "none" preempts at once). Default: the profile's `demotion`, else
   * DEFAULT_KV_DEMOTION.
   */
  kvDemotion?: string;
  /**
   * Dtype a sequence's think blocks are demoted to when its answer begins
   * (`--kv-cache-dtype-think-after-answer`); unset or "none" keeps them.
   */
  kvCacheDtypeThinkAfterAnswer?: string;
  /**
   * Share full prompt blocks across requests by content and dtype (`--enable-prefix-caching`,
   * the default; false: `--no-enable-prefix-caching`).
   */
  enablePrefixCaching?: boolean;
  /** Tokens per KV block (`--block-size`); default: the profile's `block_size`, else 16. */
  blockSize?: number;
  /** How the model's matrices are stored on the GPU (default f16). */
  weightsDtype?: WeightsDtype;
  /** Bytes of one arena slab per layer (default: the arena's, 1 MiB). */
  kvSlabBytes?: number;
  /** Most sequences in the running batch. */
  maxNumSeqs: number;
  /** Most tokens (prefill chunks plus decode rows) in one step. */
  maxNumBatchedTokens: number;
  /** Requests that may wait for admission; more are refused with QueueFullError. */
  maxWaiting: number;
  /**
   * Share (0–1) of each running request's KV growth to max_tokens that admission keeps free
   * (`--admission-headroom`): 0 (default) admits while the first chunk fits and preempts on
   * shortage, as vLLM; 1 reserves every request's max_tokens, as TGI, and never preempts.
   */
  admissionHeadroom?: number;
  /** Steps submitted to the GPU before the oldest one's tokens are read back. */
  pipelineDepth: number;
}

/** Defaults: 16 sequences, two steps in flight (KV budget and block size: see above). */
export const DEFAULT_ENGINE_CONFIG: EngineConfig = {
  maxNumSeqs: 16,
  maxNumBatchedTokens: 512,
  maxWaiting: 256,
  pipelineDepth: 2,
};

/** A model as the core sees it, with its context length and optional calibration profile. */
export interface CoreModelInfo extends CoreModel {
  maxModelLen: number;
  /** Size of the vocabulary: prompt ids at or above it are refused at submit. */
  vocabSize: number;
  profile?: KvProfile | null;
}

/** Builds a core on `runner` (whose blockSize wins over the config's). */
export function createEngineCore(
  runner: Runner,
  model: CoreModelInfo,
  config: EngineConfig,
): EngineCore {
  const policy = parseDemotionPolicy(demotionSetting(config.kvDemotion, model.profile));
  const thinkAfter = config.kvCacheDtypeThinkAfterAnswer;
  const anyDemotion = policy.length > 0 || (thinkAfter !== undefined && thinkAfter !== "none");
  const maxDemotionsPerStep = anyDemotion ? runner.maxDemotionsPerStep ?? 0 : 0;
  if (thinkAfter !== undefined && thinkAfter !== "none") {
    kvDtype(thinkAfter); // an unknown name is a startup error
    if (maxDemotionsPerStep === 0) {
      throw new RangeError("--kv-cache-dtype-think-after-answer needs a runner that can demote");
    }
  }
  const arena = new FencedKvArena({
    budgetBytes: config.kvCacheMemory ?? DEFAULT_MIN_KV_BYTES,
    numLayers: model.numLayers,
    blockBytes: (dtype) => runner.blockBytes(dtype),
    slabBytes: config.kvSlabBytes,
    // a demotion needs room for its smaller block even when every slab is taken
    reserveSlabs: maxDemotionsPerStep > 0 && demotable(policy, config, model.profile) ? 1 : 0,
  });
  const prefixCache = config.enablePrefixCaching === false ? null : new PrefixCache(arena);
  const planner = new DemotionPlanner(policy, arena);
  const scheduler = new Scheduler(
    { ...config, maxDemotionsPerStep },
    arena,
    planner,
    prefixCache,
  );
  const factory = new SequenceFactory({
    arena,
    blockSize: runner.blockSize,
    maxModelLen: model.maxModelLen,
    vocabSize: model.vocabSize,
    dtypes: {
      base: config.kvCacheDtype,
      think: config.kvCacheDtypeThink,
      answer: config.kvCacheDtypeAnswer,
    },
    profile: model.profile,
    thinkFraction: config.thinkFraction,
    recentTokens: recentTokens(config.kvRecentTokens, model.profile),
    thinkAfterAnswer: maxDemotionsPerStep > 0 ? thinkAfter : undefined,
    // under memory pressure, blocks are sealed straight at their phase's demotion floor
    floor: maxDemotionsPerStep > 0 ? planner : undefined,
    prefixCache,
    openId: model.openId,
    closeId: model.closeId,
  });
  return new EngineCore({
    runner,
    arena,
    scheduler,
    factory,
    model,
    pipelineDepth: config.pipelineDepth,
  });
}

/** Whether the policy can demote some phase at the engine's own dtypes (f16 is never demoted). */
function demotable(
  policy: readonly DemotionStep[],
  config: EngineConfig,
  profile?: KvProfile | null,
): boolean {
  const phases = resolvePhasePolicy({
    base: config.kvCacheDtype,
    think: config.kvCacheDtypeThink,
    answer: config.kvCacheDtypeAnswer,
  }, profile);
  return policy.some((s) =>
    phases[s.phase] !== "f16" && kvDtype(phases[s.phase]).meanBits > kvDtype(s.dtype).meanBits
  );
}
