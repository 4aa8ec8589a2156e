/**
 * The engine's live counters and block map, read from the scheduler's queues and the arena
 * (for /metrics and GET /v1/kv).
 * @module
 */
import type { KvArena } from "../kv/arena.ts";
import type { PrefixCache } from "../kv/prefix_cache.ts";
import { KV_DTYPES } from "../kv/dtype.ts";
import type { Scheduler } from "./scheduler.ts";
import type { Sequence } from "./sequence.ts";
import type { BlockMapEntry, EngineStats } from "./types.ts";

/** Counters as of now; `tokensByPhase` is the core's running tally. */
export function engineStats(
  scheduler: Scheduler,
  arena: KvArena,
  tokensByPhase: Readonly<Record<string, number>>,
  blockSize: number,
): EngineStats {
  const kvBytes: Record<string, Record<string, number>> = {};
  for (const seq of scheduler.running) {
    for (const [phase, usage] of Object.entries(seq.kv.usage())) {
      const byDtype = kvBytes[phase] ??= {};
      // usage.dtypes counts blocks; a block of a dtype holds the same bytes in every layer
      for (const [dtype, blocks] of Object.entries(usage.dtypes)) {
        const bytes = blocks * arena.blockBytes(dtype) * arena.numLayers;
        byDtype[dtype] = (byDtype[dtype] ?? 0) + bytes;
      }
    }
  }
  return {
    numRunning: scheduler.running.length,
    numWaiting: scheduler.waiting.length,
    // unreferenced prefix-cache blocks are evicted on demand: in use by nothing (as vLLM counts)
    kvUsage: (arena.bytesUsed() - (scheduler.prefixCache?.evictableBytes() ?? 0)) /
      arena.budgetBytes,
    kvBudgetBytes: arena.budgetBytes,
    kvBytes,
    tokensByPhase: { ...tokensByPhase },
    numPreemptions: scheduler.numPreemptions,
    kvDemotions: scheduler.demotionCounts(),
    kvFloorSeals: scheduler.floorSealCounts(),
    recomputedTokens: scheduler.recomputedTokens,
    running: {
      steps: scheduler.numScheduledSteps,
      seqSteps: scheduler.runningSeqSteps,
      max: scheduler.maxRunning,
      saturatedSteps: scheduler.saturatedSteps,
      saturatedSeqSteps: scheduler.saturatedSeqSteps,
    },
    prefixCacheQueries: scheduler.prefixCacheQueries,
    prefixCacheHits: scheduler.prefixCacheHits,
    kvTokenCapacity: kvTokenCapacity(arena, blockSize),
  };
}

/** Tokens the empty arena holds at each registered KV dtype its runner stores. */
export function kvTokenCapacity(arena: KvArena, blockSize: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const d of KV_DTYPES) {
    try {
      out[d.name] = arena.capacityBlocks(d.name) * blockSize;
    } catch (error) {
      // a runner that stores fewer dtypes (f16 only) has no block size for the others
      if (!(error instanceof RangeError)) throw error;
    }
  }
  return out;
}

/** The blocks of each running sequence, in table order, with their bytes (all layers). */
export function blockMap(
  running: readonly Sequence[],
  arena: KvArena,
  cache?: PrefixCache | null,
): BlockMapEntry[] {
  const bytesOf = (dtype: string) => arena.blockBytes(dtype) * arena.numLayers;
  // what a block would hold at f16: the playground's "bytes per token against f16"
  const f16Bytes = bytesOf("f16");
  return running.map((seq) => ({
    requestId: seq.id,
    blocks: seq.kv.blocks.map((b, i) => ({
      phase: b.phase,
      dtype: b.dtype,
      tokens: b.tokens,
      bytes: bytesOf(b.dtype),
      f16Bytes,
      open: i >= seq.kv.numSealed,
      demoted: b.demoted === true,
      shared: seq.kv.isShared(b.offset) && (cache?.refs(b.offset) ?? 0) > 1,
    })),
  }));
}
