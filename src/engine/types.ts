/**
 * The engine's public request and output shapes (no HTTP here: the server maps its zod
 * schemas onto these).
 * @module
 */
import type { Phase } from "../kv/types.ts";
import type { SamplingParams } from "../runner/types.ts";

/** Why a sequence stopped. */
export type FinishReason = "stop" | "length" | "abort" | "error";

/** One generation request. */
export interface GenerateRequest {
  promptIds: readonly number[];
  maxTokens: number;
  sampling?: Partial<SamplingParams>;
  /** Strings that end generation; never emitted, found even across token boundaries. */
  stop?: readonly string[];
  stopTokenIds?: readonly number[];
  ignoreEos?: boolean;
  presencePenalty?: number;
  frequencyPenalty?: number;
  /** Per-request KV dtype overrides (registry names or aliases). */
  kvCacheDtypeThink?: string;
  kvCacheDtypeAnswer?: string;
  /** After this many think tokens the engine emits the close marker itself. */
  maxThinkTokens?: number;
}

/** A piece of streamed output. */
export interface GenerateOutput {
  /** New token ids since the previous output. */
  tokenIds: number[];
  /** New text since the previous output (markers and stop strings excluded). */
  text: string;
  /** The phase of these tokens. */
  phase: Phase;
  /** Set on the last output. */
  finishReason?: FinishReason;
  /** Set on the last output. */
  usage?: GenerateUsage;
}

/** KV memory one phase of a request used. */
export interface PhaseKvUsage {
  tokens: number;
  blocks: number;
  bytes: number;
  dtypes: Record<string, number>;
}

/** Counts reported when a request finishes. */
export interface GenerateUsage {
  promptTokens: number;
  completionTokens: number;
  reasoningTokens: number;
  kv: {
    bytesPerToken: number;
    bitsPerElement: number;
    phases: Record<Phase, PhaseKvUsage>;
  };
}
