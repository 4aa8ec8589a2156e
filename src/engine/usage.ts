/**
 * The usage block of a request's last output: token counts and what its KV cache cost, per
 * phase, in bytes per token and in bits per cached element (every scale byte included).
 * @module
 */
import type { Phase } from "../kv/types.ts";
import type { GenerateUsage, PhaseKvUsage } from "./types.ts";

/** Elements one token puts in the KV cache: every layer, K and V. */
export interface KvShape {
  numLayers: number;
  numKvHeads: number;
  headDim: number;
}

/** What a finished sequence reports. */
export interface UsageCounts {
  promptTokens: number;
  completionTokens: number;
  reasoningTokens: number;
  phases: Record<Phase, PhaseKvUsage>;
}

/** GenerateUsage with KV totals derived from the per-phase figures. */
export function buildUsage(counts: UsageCounts, shape: KvShape): GenerateUsage {
  let bytes = 0;
  let tokens = 0;
  for (const usage of Object.values(counts.phases)) {
    bytes += usage.bytes;
    tokens += usage.tokens;
  }
  const elementsPerToken = shape.numLayers * 2 * shape.numKvHeads * shape.headDim;
  return {
    promptTokens: counts.promptTokens,
    completionTokens: counts.completionTokens,
    reasoningTokens: counts.reasoningTokens,
    kv: {
      bytesPerToken: tokens > 0 ? bytes / tokens : 0,
      bitsPerElement: tokens > 0 ? (bytes * 8) / (tokens * elementsPerToken) : 0,
      phases: counts.phases,
    },
  };
}
