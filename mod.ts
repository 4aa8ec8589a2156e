/**
 * phasekv: an edge serving runtime for reasoning models (DeepSeek-R1 distills, QwQ, Qwen3) on
 * WebGPU. Its paged KV cache stores each phase of a sequence (prompt, think, answer) at its own
 * precision, and its Hono app serves the model over an OpenAI-compatible streaming API with
 * the reasoning in `reasoning` and `reasoning_content` and the KV memory of each phase in
 * `usage.kv`.
 *
 * - {@linkcode createEngine} loads a model folder (Hugging Face layout) and starts its
 *   continuous-batching engine, in a Worker by default.
 * - {@linkcode createApp} wraps an engine (or the promise of one) in the HTTP app.
 * - {@linkcode kvDtype} looks up a KV cache dtype (`f16`, `fp8`, `int8`, `int4`, `int3`,
 *   `int2`, or an alias) in the registry.
 *
 * @example Serve a model with per-phase KV precision
 * ```ts ignore
 * import { createApp, createEngine } from "jsr:@phasekv/runtime";
 *
 * const engine = createEngine({
 *   model: "./models/DeepSeek-R1-Distill-Qwen-1.5B",
 *   kvCacheDtype: "int8",
 *   kvCacheDtypeThink: "int4",
 * });
 * // /health answers 503 until the model is loaded
 * Deno.serve({ port: 8000 }, createApp(engine).fetch);
 * ```
 *
 * @example Generate without HTTP
 * ```ts ignore
 * import { createEngine } from "jsr:@phasekv/runtime";
 *
 * const engine = await createEngine({ model: "./models/phasekv-tiny-reasoner" });
 * const prompt = engine.applyChatTemplate([{ role: "user", content: "What is 6*7?" }]);
 * for await (const out of engine.generate({ promptIds: engine.encode(prompt), maxTokens: 256 })) {
 *   console.log(out.phase, out.text);
 * }
 * await engine.close();
 * ```
 * @module
 */
import type { EngineApi } from "./src/engine/types.ts";
import { type AppOptions, createApp as createHonoApp } from "./src/server/app.ts";

/**
 * The HTTP app: a fetch handler for `Deno.serve`, `deno serve`, or Hono's
 * `app.mount("/llm", phasekv.fetch)` under a prefix of your own app.
 */
export interface ServerApp {
  /** Answers one HTTP request. */
  fetch(request: Request): Response | Promise<Response>;
  /** Answers a request given as a path or URL, with no server (tests, in-process callers). */
  request(input: string | URL | Request, init?: RequestInit): Response | Promise<Response>;
}

/**
 * Creates the OpenAI-compatible app for an engine, or for the promise of one: until it
 * resolves, /health and the model routes answer 503.
 */
export function createApp(
  engine: EngineApi | Promise<EngineApi>,
  options?: AppOptions,
): ServerApp {
  return createHonoApp(engine, options);
}

export { createEngine, type EngineOptions } from "./src/engine/engine.ts";
export type { EngineConfig } from "./src/engine/create_core.ts";
export type {
  BlockMapEntry,
  ChatMessage,
  EncodeTextOptions,
  EngineApi,
  EngineStats,
  FinishReason,
  GenerateOutput,
  GenerateRequest,
  GenerateUsage,
  OutputLogprob,
  PhaseKvUsage,
  ThinkMarkerText,
} from "./src/engine/types.ts";
export type { EngineSummary, ModelAbout, PhaseSummary } from "./src/engine/summary.ts";
export { ContextLengthError, QueueFullError } from "./src/engine/errors.ts";
export { KvCapacityError } from "./src/engine/capacity_error.ts";
export type { AppOptions } from "./src/server/app.ts";
export type { ReasoningField } from "./src/server/chat_format.ts";
export type { Logger, LogLevel } from "./src/server/log.ts";
export { type BlockEntry, type Phase, PHASES } from "./src/kv/types.ts";
export type { DtypeSource, KvPolicy, PhaseSetting } from "./src/kv/policy.ts";
export type { SamplingParams } from "./src/runner/types.ts";
export {
  KV_DTYPES,
  type KvDtype,
  kvDtype,
  UnknownKvDtypeError,
  validKvDtypeNames,
} from "./src/kv/dtype.ts";
export type { KvCodecKind, KvLayout, KvSections } from "./src/kv/layout.ts";
export { loadCheckpoint, type LoadCheckpointOptions } from "./src/model/checkpoint.ts";
export type { Llama3RopeScaling, RopeScaling, YarnRopeScaling } from "./src/model/rope_scaling.ts";
export { WEIGHTS_DTYPE_NAMES, type WeightsDtype } from "./src/model/weights_dtype.ts";
export type {
  ArchName,
  HostTensor,
  LoadedCheckpoint,
  ModelSpec,
  TensorDtype,
} from "./src/model/spec.ts";
export {
  ChatTemplateError,
  CheckpointError,
  ConfigFieldError,
  MissingTensorError,
  SafetensorsFormatError,
  SafetensorsOffsetError,
  TensorShapeError,
  TokenizerError,
  UnsupportedArchitectureError,
  UnsupportedDtypeError,
} from "./src/model/errors.ts";
