/**
 * An EngineApi whose EngineCore runs on the calling thread: what tests use with the fake runner,
 * and what the engine Worker wraps. The text side (tokenizer, chat template) is the model's.
 * @module
 */
import { type KvPolicy, resolveKvPolicy } from "../kv/policy.ts";
import type { KvProfile } from "../kv/profile.ts";
import type { ModelSpec } from "../model/spec.ts";
import type { Runner } from "../runner/types.ts";
import { createEngineCore, DEFAULT_ENGINE_CONFIG, type EngineConfig } from "./create_core.ts";
import type { EngineCore } from "./engine_core.ts";
import { buildSummary, type EngineSummary, type ModelAbout } from "./summary.ts";
import { TextEngine } from "./text_engine.ts";
import type {
  BlockMapEntry,
  ChatMessage,
  EncodeTextOptions,
  EngineApi,
  EngineStats,
  GenerateOutput,
  GenerateRequest,
} from "./types.ts";

/** Text ↔ ids, as the engine needs it. */
export interface EngineTokenizer {
  encode(text: string, options?: EncodeTextOptions): number[];
  decode(ids: readonly number[]): string;
}

/** The CPU side of a served model: what both the main thread and the engine Worker load. */
export interface ModelText {
  modelId: string;
  spec: Pick<
    ModelSpec,
    "numLayers" | "numKvHeads" | "headDim" | "eosTokenIds" | "maxPositionEmbeddings" | "vocabSize"
  >;
  tokenizer: EngineTokenizer;
  /** Think marker ids (null where the tokenizer has none). */
  markers: { openId: number | null; closeId: number | null };
  /** Renders the chat template; absent for a model without one. */
  renderChat?: (messages: readonly ChatMessage[], kwargs?: Record<string, unknown>) => string;
  profile?: KvProfile | null;
}

/** A model with the runner that computes it. */
export interface EngineParts extends ModelText {
  runner: Runner;
  /** The KV budget the runner's pools hold, when it is less than the config asked. */
  kvCacheMemory?: number;
  /** The model's size and the adapter, for the startup summary. */
  about?: ModelAbout;
}

/** Each phase's dtype and source under `config`'s dtype settings and the model's profile. */
export function engineKvPolicy(config: EngineConfig, profile?: KvProfile | null): KvPolicy {
  return resolveKvPolicy({
    base: config.kvCacheDtype,
    think: config.kvCacheDtypeThink,
    answer: config.kvCacheDtypeAnswer,
  }, profile);
}

/** Fills in the defaults of a partial config. */
export function engineConfig(partial: Partial<EngineConfig> = {}): EngineConfig {
  const defined = Object.entries(partial).filter(([, v]) => v !== undefined);
  return { ...DEFAULT_ENGINE_CONFIG, ...Object.fromEntries(defined) };
}

/** An engine running on this thread. */
export class LocalEngine extends TextEngine implements EngineApi {
  readonly modelId: string;
  readonly maxModelLen: number;
  readonly kvPolicy: KvPolicy;
  /** The step loop (tests read its arena and scheduler). */
  readonly core: EngineCore;
  readonly #summary: EngineSummary;

  /** Assembles the engine from a model and its runner. */
  constructor(parts: EngineParts, config: EngineConfig) {
    const kvPolicy = engineKvPolicy(config, parts.profile);
    super(parts, kvPolicy.prompt.dtype);
    this.kvPolicy = kvPolicy;
    config = { ...config, kvCacheMemory: parts.kvCacheMemory ?? config.kvCacheMemory };
    this.modelId = parts.modelId;
    this.maxModelLen = parts.spec.maxPositionEmbeddings;
    this.core = createEngineCore(parts.runner, {
      ...parts.spec,
      ...parts.markers,
      decode: (ids) => parts.tokenizer.decode(ids),
      maxModelLen: this.maxModelLen,
      profile: parts.profile,
    }, config);
    this.#summary = buildSummary({
      modelId: parts.modelId,
      about: parts.about ?? null,
      maxModelLen: this.maxModelLen,
      blockSize: parts.runner.blockSize,
      maxNumSeqs: config.maxNumSeqs,
      kvBudgetBytes: this.core.arena.budgetBytes,
      numLayers: parts.spec.numLayers,
      blockBytes: (dtype) => parts.runner.blockBytes(dtype),
      policy: kvPolicy,
    });
  }

  /** What the engine runs: model, adapter, KV budget and dtypes. */
  describe(): EngineSummary {
    return this.#summary;
  }

  /** Streams a request's outputs; aborting `signal` cancels it. */
  generate(
    request: GenerateRequest,
    options: { signal?: AbortSignal } = {},
  ): AsyncIterable<GenerateOutput> {
    return streamRequest(this.core, request, options.signal);
  }

  /** Live counters. */
  stats(): EngineStats {
    return this.core.stats();
  }

  /** Running requests' blocks. */
  blockMap(): BlockMapEntry[] {
    return this.core.blockMap();
  }

  /** Cancels everything and releases the runner. */
  close(): Promise<void> {
    return this.core.close();
  }
}

/** An in-process engine over given parts (tests pass the fake runner here). */
export function createEngineWith(parts: EngineParts, config?: Partial<EngineConfig>): LocalEngine {
  return new LocalEngine(parts, engineConfig(config));
}

async function* streamRequest(
  core: EngineCore,
  request: GenerateRequest,
  signal: AbortSignal | undefined,
): AsyncGenerator<GenerateOutput> {
  signal?.throwIfAborted();
  const { id, stream } = core.add(request);
  const onAbort = () => core.abort(id);
  signal?.addEventListener("abort", onAbort, { once: true });
  try {
    yield* stream;
  } finally {
    signal?.removeEventListener("abort", onAbort);
  }
}
