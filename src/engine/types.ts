/**
 * The engine's public request and output shapes (no HTTP here: the server maps its zod
 * schemas onto these).
 * @module
 */
import type { KvPolicy } from "../kv/policy.ts";
import type { Phase, PhaseKvUsage } from "../kv/types.ts";
import type { SamplingParams } from "../runner/types.ts";

/** Why a sequence stopped. */
export type FinishReason = "stop" | "length" | "abort" | "error";

/** One generation request. */
export interface GenerateRequest {
  /** The id /v1/kv and the logs show (the server passes its response id); default `seq-N`. */
  requestId?: string;
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
  /**
   * Report each generated token's logprob and this many most likely alternatives (0..20),
   * computed on the GPU next to sampling; absent reports none.
   */
  logprobs?: number;
}

/** A generated token's log-probability and the most likely tokens at its position. */
export interface OutputLogprob {
  /** The token id. */
  token: number;
  /** Natural log of its probability under the logits the sampler read (before temperature). */
  logprob: number;
  /** The most likely tokens, most likely first (as many as the request asked). */
  top: { token: number; logprob: number }[];
}

/** A piece of streamed output. */
export interface GenerateOutput {
  /** New token ids since the previous output. */
  tokenIds: number[];
  /** New text since the previous output (markers and stop strings excluded). */
  text: string;
  /** The phase of these tokens. */
  phase: Phase;
  /** With the request's `logprobs`: one entry per token id, null for a token the engine forced. */
  logprobs?: (OutputLogprob | null)[];
  /** Set on the last output. */
  finishReason?: FinishReason;
  /** Set on the last output. */
  usage?: GenerateUsage;
}

export type { PhaseKvUsage } from "../kv/types.ts";

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
  /** Fraction of the KV byte budget held by requests, 0..1 (evictable cached blocks excluded). */
  kvUsage: number;
  /** The KV byte budget, all layers. */
  kvBudgetBytes: number;
  /** Bytes of KV in use, by phase then dtype. */
  kvBytes: Record<string, Record<string, number>>;
  /** Tokens generated or prefilled so far, by phase. */
  tokensByPhase: Record<string, number>;
  /** Sequences preempted (to be recomputed) since the engine started. */
  numPreemptions: number;
  /** Tokens whose KV preemptions threw away (computed again later). */
  recomputedTokens?: number;
  /**
   * Steps scheduled, the sum over them of sequences running, and the most in one step; the same
   * two sums over saturated steps (a sequence still waited after scheduling).
   */
  running?: {
    steps: number;
    seqSteps: number;
    max: number;
    saturatedSteps: number;
    saturatedSeqSteps: number;
  };
  /** Prompt tokens looked up in the prefix cache (vLLM's prefix_cache_queries). */
  prefixCacheQueries?: number;
  /** Prompt tokens served from the prefix cache (vLLM's prefix_cache_hits). */
  prefixCacheHits?: number;
  /** Blocks demoted since the engine started, and the bytes that gave back, by phase and dtype. */
  kvDemotions?: { phase: string; dtype: string; blocks: number; bytesFreed: number }[];
  /**
   * Blocks sealed straight at their phase's demotion floor while memory was short, by phase and
   * dtype; `bytesFreed` is what their phase's own dtype would have held more.
   */
  kvFloorSeals?: { phase: string; dtype: string; blocks: number; bytesFreed: number }[];
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
  /**
   * The request's blocks in table order, with the phase, dtype and token count of each, and
   * (when the engine knows them) its bytes and the bytes it would take at f16, all layers;
   * `open` while f16 in the recent window or taking tokens, `demoted` once re-sealed smaller,
   * `shared` when the prefix cache shares it with other requests.
   */
  blocks: {
    phase: string;
    dtype: string;
    tokens: number;
    bytes?: number;
    f16Bytes?: number;
    open?: boolean;
    demoted?: boolean;
    shared?: boolean;
  }[];
}

/** How encode() reads a text. */
export interface EncodeTextOptions {
  /** Let the tokenizer's post-processor add the model's special tokens, e.g. BOS (default true). */
  addSpecialTokens?: boolean;
  /** Read control tokens written in the text (`</think>`) as those tokens (default true). */
  parseSpecial?: boolean;
}

/** Text of a model's think markers. */
export interface ThinkMarkerText {
  /** Opens the think block (`<think>`). */
  open: string;
  /** Closes it (`</think>`). */
  close: string;
}

/** What the server needs from an engine (the real one, or a fake in tests). */
export interface EngineApi {
  /** The served model's id (its folder name). */
  readonly modelId: string;
  /** Longest prompt + completion the engine accepts, in tokens. */
  readonly maxModelLen: number;
  /** Each phase's KV dtype and where it came from (default, profile, flag). */
  readonly kvPolicy: KvPolicy;
  /** The model's think markers as text, or null for a model without them. */
  readonly thinkMarkers?: ThinkMarkerText | null;
  /** Token ids of a text; `parseSpecial: false` spells control tokens in it as plain text. */
  encode(text: string, options?: EncodeTextOptions): number[];
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
  /** Live counters for /metrics and /v1/kv (call refresh() first where it exists). */
  stats(): EngineStats;
  /**
   * Brings stats() and blockMap() up to date; an engine in a Worker answers them from snapshots,
   * and this waits for a fresh one. Absent where they are always current.
   */
  refresh?(): Promise<void>;
  /** Each running request's blocks, for GET /v1/kv. */
  blockMap(): BlockMapEntry[];
  /** What the engine runs (model, adapter, KV budget, phase dtypes), for the startup summary. */
  describe?(): EngineSummary;
  /** Stops the engine and releases the GPU. */
  close(): Promise<void>;
}

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
  /** Where the block size came from: `--block-size`, `profile` or `default`. */
  blockSource: string;
  /** The demotion order and floors in force (`--kv-demotion`'s syntax), and their source. */
  demotion: string;
  /** `--kv-demotion`, `profile` or `default`. */
  demotionSource: string;
  /** Share of each running request's KV growth to max_tokens admission keeps free (0–1). */
  admissionHeadroom: number;
  /**
   * Sequences of maxModelLen tokens that fit at once: each holds its window and open block at
   * f16 and every other block at its costliest phase dtype.
   */
  maxConcurrency: number;
}
