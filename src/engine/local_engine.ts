/**
 * An EngineApi whose EngineCore runs on the calling thread: what tests use with the fake runner,
 * and what the engine Worker wraps. The text side (tokenizer, chat template) is the model's.
 * @module
 */
import { type KvPolicy, resolveKvPolicy } from "../kv/policy.ts";
import type { KvProfile } from "../kv/profile.ts";
import type { EngineParts } from "./backend.ts";
import { createEngineCore, DEFAULT_ENGINE_CONFIG, type EngineConfig } from "./create_core.ts";
import type { EngineCore } from "./engine_core.ts";
import { buildSummary, type EngineSummary } from "./summary.ts";
import { TextEngine } from "./text_engine.ts";
// the model's parts are declared beside the backend contract; kept importable from here
export type { EngineParts, EngineTokenizer, ModelText } from "./backend.ts";
import type {
  BlockMapEntry,
  EngineApi,
  EngineStats,
  GenerateOutput,
  GenerateRequest,
} from "./types.ts";

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
      vocabSize: parts.spec.vocabSize,
      blockSize: parts.runner.blockSize,
      maxNumSeqs: config.maxNumSeqs,
      kvBudgetBytes: this.core.arena.budgetBytes,
      numLayers: parts.spec.numLayers,
      blockBytes: (dtype) => parts.runner.blockBytes(dtype),
      policy: this.kvPolicy,
      profile: parts.profile ?? null,
      kvRecentTokens: config.kvRecentTokens,
      kvBlockSize: config.blockSize,
      kvDemotion: config.kvDemotion,
      admissionHeadroom: config.admissionHeadroom,
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
