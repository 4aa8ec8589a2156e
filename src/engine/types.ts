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
  /** Token ids of the prompt (chat template already applied). */
  promptIds: readonly number[];
  /** Most tokens to generate, think and answer together. */
  maxTokens: number;
  /** Sampling settings; unset fields are greedy. */
  sampling?: Partial<SamplingParams>;
  /** Strings that end generation; never emitted, found even across token boundaries. */
  stop?: readonly string[];
  /** Token ids that end generation, besides the model's end-of-sequence ids. */
  stopTokenIds?: readonly number[];
  /** Keep generating past the end-of-sequence token (benchmarks). */
  ignoreEos?: boolean;
  /** Subtracted from the logit of every token already generated (OpenAI's presence_penalty). */
  presencePenalty?: number;
  /** Subtracted from a token's logit once per time it was generated (OpenAI's frequency_penalty). */
  frequencyPenalty?: number;
  /** KV dtype of this request's think phase (a name or alias; overrides the engine's). */
  kvCacheDtypeThink?: string;
  /** KV dtype of this request's answer phase (a name or alias; overrides the engine's). */
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
  /** Tokens of the phase held in the KV cache. */
  tokens: number;
  /** Blocks they occupy. */
  blocks: number;
  /** Bytes of those blocks, all layers, scales included. */
  bytes: number;
  /** Blocks of each dtype. */
  dtypes: Record<string, number>;
}

/** Counts reported when a request finishes. */
export interface GenerateUsage {
  /** Tokens of the prompt. */
  promptTokens: number;
  /** Tokens generated, think and answer together. */
  completionTokens: number;
  /** Generated tokens of the think phase. */
  reasoningTokens: number;
  /** KV memory the request used, overall and per phase. */
  kv: {
    bytesPerToken: number;
    bitsPerElement: number;
    phases: Record<Phase, PhaseKvUsage>;
  };
}

/** A chat message as the chat template sees it. */
export interface ChatMessage {
  /** `system`, `user` or `assistant`. */
  role: string;
  /** The message's text. */
  content: string;
}

/** Live counters the server's /metrics and /v1/kv read. */
export interface EngineStats {
  /** Sequences in the running batch. */
  numRunning: number;
  /** Requests queued, not yet admitted. */
  numWaiting: number;
  /** Fraction of the KV byte budget in use, 0..1. */
  kvUsage: number;
  /** The KV byte budget, all layers. */
  kvBudgetBytes: number;
  /** Bytes of KV in use, by phase then dtype. */
  kvBytes: Record<string, Record<string, number>>;
  /** Tokens generated or prefilled so far, by phase. */
  tokensByPhase: Record<string, number>;
  /** Sequences preempted (to be recomputed) since the engine started. */
  numPreemptions: number;
  /**
   * Tokens the whole KV budget holds at each KV dtype the runner stores (every block of that
   * dtype, empty cache): what a startup summary reports as "how many tokens fit".
   */
  kvTokenCapacity: Record<string, number>;
}

/** One running request's blocks, for GET /v1/kv. */
export interface BlockMapEntry {
  /** The engine's id of the request. */
  requestId: string;
  /** The request's blocks in table order, with the phase, dtype and token count of each. */
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
  /** Live counters for /metrics and /v1/kv. */
  stats(): EngineStats;
  /** Each running request's blocks, for GET /v1/kv. */
  blockMap(): BlockMapEntry[];
  /** Stops the engine and releases the GPU. */
  close(): Promise<void>;
}
