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
  /** Blocks of each dtype. */
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

/** A chat message as the chat template sees it. */
export interface ChatMessage {
  role: string;
  content: string;
}

/** Live counters the server's /metrics and /v1/kv read. */
export interface EngineStats {
  numRunning: number;
  numWaiting: number;
  /** Fraction of the KV byte budget in use, 0..1. */
  kvUsage: number;
  kvBudgetBytes: number;
  /** Bytes of KV in use, by phase then dtype. */
  kvBytes: Record<string, Record<string, number>>;
  /** Tokens generated or prefilled so far, by phase. */
  tokensByPhase: Record<string, number>;
  numPreemptions: number;
}

/** One running request's blocks, for GET /v1/kv. */
export interface BlockMapEntry {
  requestId: string;
  blocks: { phase: string; dtype: string; tokens: number }[];
}

/** What the server needs from an engine (the real one, or a fake in tests). */
export interface EngineApi {
  /** The served model's id (its folder name). */
  readonly modelId: string;
  /** Longest prompt + completion the engine accepts, in tokens. */
  readonly maxModelLen: number;
  /** Token ids of a text (no special tokens added beyond what the text holds). */
  encode(text: string): number[];
  /** Text of token ids. */
  decode(ids: readonly number[]): string;
  /** Renders the model's chat template; `kwargs` reach the template (e.g. enable_thinking). */
  applyChatTemplate(messages: readonly ChatMessage[], kwargs?: Record<string, unknown>): string;
  /** Canonical registry name of a KV dtype name or alias; throws RangeError listing the valid names. */
  resolveKvDtype(name: string): string;
  /** Streams a request's output; aborting `signal` cancels it and frees its blocks. */
  generate(
    request: GenerateRequest,
    options?: { signal?: AbortSignal },
  ): AsyncIterable<GenerateOutput>;
  stats(): EngineStats;
  blockMap(): BlockMapEntry[];
  /** Stops the engine and releases the GPU. */
  close(): Promise<void>;
}
