/**
 * Engine settings with their defaults, and the assembly of an EngineCore from a runner and a
 * model: the fenced KV arena sized by the byte budget, the scheduler and the sequence factory.
 * @module
 */
import { DEFAULT_RECENT_TOKENS } from "../kv/block_table.ts";
import type { KvProfile } from "../kv/profile.ts";
import type { WeightsDtype } from "../model/weights_dtype.ts";
import { DEFAULT_MIN_KV_BYTES } from "./kv_budget.ts";
import type { Runner } from "../runner/types.ts";
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
  /** Tokens per KV block. */
  blockSize: number;
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
  /** Steps submitted to the GPU before the oldest one's tokens are read back. */
  pipelineDepth: number;
}

/** Defaults: 16-token blocks, 16 sequences, two steps in flight (KV budget: see above). */
export const DEFAULT_ENGINE_CONFIG: EngineConfig = {
  blockSize: 16,
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
  const arena = new FencedKvArena({
    budgetBytes: config.kvCacheMemory ?? DEFAULT_MIN_KV_BYTES,
    numLayers: model.numLayers,
    blockBytes: (dtype) => runner.blockBytes(dtype),
    slabBytes: config.kvSlabBytes,
  });
  const scheduler = new Scheduler(config, arena);
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
    recentTokens: recentTokens(config, model.profile),
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

/** The recent window in force: the user's setting, else the profile's, else the default. */
export function recentTokens(
  config: Pick<EngineConfig, "kvRecentTokens">,
  profile?: KvProfile | null,
): number {
  return config.kvRecentTokens ?? profile?.recent_tokens ?? DEFAULT_RECENT_TOKENS;
}
